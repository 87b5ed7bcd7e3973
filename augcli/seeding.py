"""Explicit, order-independent random streams.

Every random number augcli draws comes from a ``numpy.random.Generator`` derived from
``(root seed, stable key of the source's relative path, copy index, op name)``. Nothing depends on
which worker handles a file, in which order files are processed, or which other files exist, and
adding one op does not shift the values drawn for another.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

from .kernels._seed import seed_state


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
    return int(np.random.SeedSequence().entropy % (2**63))


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


np.random.bit_generator.ISeedSequence.register(_State)

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
    return np.random.Generator(np.random.PCG64(_State(np.frombuffer(state, dtype="<u8").astype(np.uint64))))
