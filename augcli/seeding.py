"""Explicit, order-independent random streams.

Every random number augcli draws comes from a ``numpy.random.Generator`` derived from
``(root seed, stable key of the source's relative path, copy index, op name)``. Nothing depends on
which worker handles a file, in which order files are processed, or which other files exist, and
adding one op does not shift the values drawn for another.
"""

from __future__ import annotations

import hashlib

import numpy as np


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


def rng_for(root_seed: int, item_key: int, copy_index: int, stream: str) -> np.random.Generator:
    """The generator for one (source, copy, stream); ``stream`` is usually an op name."""
    seq = np.random.SeedSequence(root_seed, spawn_key=(item_key, copy_index, stable_key(stream)))
    return np.random.Generator(np.random.PCG64(seq))
