"""Explicit, order-independent random streams.

Every random number augcli draws comes from a stream derived from ``(root seed, stable key of the
source's relative path, copy index, op name)``. Nothing depends on which worker handles a file, in
which order files are processed, or which other files exist, and adding one op does not shift the
values drawn for another.

Two plan schemes exist; a run's manifest records which one drew its plans (``plan_scheme`` in the
pipeline's description; none recorded means 1). Replay renders recorded parameters, so it never
draws, whichever scheme made a manifest.

- Scheme 1 (``rng_for``): a ``numpy.random.Generator(PCG64(SeedSequence(...)))`` per op per output.
- Scheme 2 (``Stream``, the default): a SplitMix64 sequence per op per output, in plain integer
  arithmetic. Making one costs two multiplications, not a generator's set-up, and every value is
  the same on every CPU, OS and numpy version (see ``Stream`` for how floats are formed). What an
  op makes of them may still call the platform's libm, as in scheme 1 (a rotation's cos and sin,
  erase's log-uniform aspect ratio); the geometric steps are composed in Python floats
  (``geometry.compose_rows``), not by numpy's BLAS, whose products may use FMA on one CPU and not
  on another.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from typing import Any

import numpy as np

from .kernels._seed import Stream as _CStream
from .kernels._seed import seed_state


@functools.lru_cache(maxsize=1024)  # each output's record asks for its source's key again
def stable_key(text: str | bytes) -> int:
    """A stable 64-bit key for a string (a relative path, an op name); the same on every machine.

    The key is a hash of the name's BYTES: a path given as text in augcli's canonical form (UTF-8,
    undecodable bytes as surrogate escapes, see augcli.fsnames) is hashed as its original bytes, so
    a valid UTF-8 name keeps the key of its UTF-8 text and any other name gets the same key on every
    machine and in every locale."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")


def new_root_seed() -> int:
    """A fresh root seed from OS entropy (used when no --seed is given; it is recorded)."""
    return int.from_bytes(os.urandom(8), "little") >> 1


def _words(n: int) -> list[int]:
    """A non-negative integer as numpy's SeedSequence reads it: 32-bit words, least significant first."""
    if n < 0:
        raise ValueError(f"seed values must be non-negative, got {n}")
    words = [n & 0xFFFFFFFF]
    n >>= 32
    while n:
        words.append(n & 0xFFFFFFFF)
        n >>= 32
    return words


class _State:
    """A seed sequence whose state is already known: what ``numpy.random.PCG64`` asks of one."""

    __slots__ = ("state",)

    def __init__(self, state: np.ndarray) -> None:
        self.state = state

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        if n_words != 4 or np.dtype(dtype) != np.uint64:  # PCG64 asks for exactly this
            raise ValueError("this seed sequence only gives PCG64's four 64-bit words")
        return self.state


@functools.lru_cache(maxsize=1)
def _random() -> Any:
    """numpy.random, loaded on first use (a plan of scheme 2 rarely needs it; importing it cost every
    run's start-up about 9 ms), with _State registered as the seed sequence PCG64 accepts."""
    np.random.bit_generator.ISeedSequence.register(_State)
    return np.random


def _generator(state: np.ndarray) -> np.random.Generator:
    """``Generator(PCG64)`` started from known state words."""
    random = _random()
    return random.Generator(random.PCG64(_State(state)))


_STREAM_WORDS: dict[str, list[int]] = {}


def rng_for(root_seed: int, item_key: int, copy_index: int, stream: str) -> np.random.Generator:
    """The generator for one (source, copy, stream); ``stream`` is usually an op name.

    It is ``Generator(PCG64(SeedSequence(root_seed, spawn_key=(item_key, copy_index,
    stable_key(stream)))))``, with the seed sequence's hash computed by augcli's C kernel (the same
    words, tests/test_seeding.py): numpy's own SeedSequence cost 25-50 us per generator, and augcli
    makes one per op per output."""
    run = _words(root_seed)
    if len(run) < 4:  # SeedSequence pads the run entropy to its pool size when there is a spawn key
        run += [0] * (4 - len(run))
    words = _STREAM_WORDS.get(stream)
    if words is None:
        words = _STREAM_WORDS.setdefault(stream, _words(stable_key(stream)))
    entropy = run + _words(item_key) + _words(copy_index) + words
    state = seed_state(struct.pack(f"<{len(entropy)}I", *entropy))
    return _generator(np.frombuffer(state, dtype="<u8").astype(np.uint64))


# ---------------------------------------------------------------------------------------------------
# plan scheme 2

PLAN_SCHEME = 2  # the scheme new runs draw their plans with

_M64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment (odd: k * _GAMMA is a bijection mod 2**64)


def _mix(z: int) -> int:
    """SplitMix64's output function (Stafford's Mix13): a bijection of 64-bit integers."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def source_key(root_seed: int, item_key: int) -> int:
    """The 64-bit key of one source's plans: a BLAKE2b hash of the root seed (any size: its length
    in bytes, then its bytes, little-endian) and the source's ``item_key`` (8 bytes), made once per
    source."""
    if root_seed < 0:
        raise ValueError(f"seed values must be non-negative, got {root_seed}")
    if not 0 <= item_key <= _M64:
        raise ValueError(f"an item key is a 64-bit value, got {item_key}")
    n = max(1, (root_seed.bit_length() + 7) // 8)
    data = n.to_bytes(4, "little") + root_seed.to_bytes(n, "little") + item_key.to_bytes(8, "little")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, person=b"augcli plan 2").digest(), "little")


def copy_key(key: int, copy_index: int) -> int:
    """The key of copy ``copy_index`` of the source whose ``source_key`` is ``key``: distinct for
    every copy of a source (``_mix`` and the step by ``_GAMMA`` are both bijections)."""
    if not 0 <= copy_index <= _M64:
        raise ValueError(f"a copy index is between 0 and 2**64 - 1, got {copy_index}")
    return _mix((key + (copy_index + 1) * _GAMMA) & _M64)


def try_key(key: int, attempt: int) -> int:
    """The key of try ``attempt`` of an output whose ``copy_key`` is ``key`` (``--require`` redraws
    a plan whose labels fail): try 0 is the output's own key, so a run without redraws draws what
    it always drew; later tries get keys as distinct as other copies' (``_mix`` is a bijection)."""
    if attempt == 0:
        return key
    if not 0 < attempt <= _M64:
        raise ValueError(f"a try index is between 0 and 2**64 - 1, got {attempt}")
    return _mix(((key ^ _TRY_SALT) + attempt * _GAMMA) & _M64)


_TRY_SALT = 0x7472792D696E6465  # "try-inde": keeps try keys off the copy keys' sequence

_STREAM_KEYS: dict[str, int] = {}


def stream_key(name: str) -> int:
    """``stable_key(name)``, kept: the op names of a run are few."""
    key = _STREAM_KEYS.get(name)
    if key is None:
        key = _STREAM_KEYS.setdefault(name, stable_key(name))
    return key


class Stream(_CStream):
    """The random values of one op for one output (plan scheme 2): SplitMix64 started at
    ``_mix(key XOR salt)``, where ``key`` is the output's ``copy_key`` and ``salt`` the op's
    ``stream_key``; word i (from 1) is ``_mix(start + i * _GAMMA)`` (in C: augcli/kernels/seed.c).

    It offers the part of ``numpy.random.Generator``'s interface that ops use, formed only from
    those 64-bit words by integer arithmetic and correctly rounded IEEE operations, so every value
    is the same on every machine:

    - ``random()``: the word's top 53 bits times 2**-53, a double in [0, 1) (exact);
    - ``uniform(lo, hi)``: ``lo + (hi - lo) * random()`` in doubles (numpy's formula);
    - ``integers(lo, hi)``: an integer in [lo, hi), by Lemire's multiply-and-reject on the words
      (exactly uniform; hi - lo at most 2**64); ``integers(n)`` is ``integers(0, n)``;
    - each with ``size=n``: a list of n such values, drawn in order.

    Any other Generator method (an op needing, say, ``normal``) is served by a numpy ``Generator``
    (PCG64) seeded with the stream's next four words, made on first use: deterministic too, with
    numpy's own algorithms.
    """

    __slots__ = ("_numpy",)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            gen = object.__getattribute__(self, "_numpy")
        except AttributeError:
            words = np.array([self.word() for _ in range(4)], dtype=np.uint64)
            gen = self._numpy = _generator(words)
        return getattr(gen, name)


def streams_for(root_seed: int, item_key: int, copy_index: int, attempt: int = 0):
    """``name -> Stream`` for one output: what ``Pipeline.plan`` takes (scheme 2); ``attempt``: the
    try index of a ``--require`` run (recorded as ``try``)."""
    key = try_key(copy_key(source_key(root_seed, item_key), copy_index), attempt)
    return lambda name: Stream(key, stream_key(name))
