"""Content and perceptual hashes of image files, for ``split`` and ``audit``.

- content hash: SHA-256 of the file's bytes (byte-identical copies, whatever their names);
- perceptual hash: a 64-bit difference hash (dHash, Krawetz): the image as displayed (EXIF
  orientation applied) in grey (Pillow's ``L``), resized to 9 x 8 with Lanczos; bit (r, c) is 1 when
  pixel (r, c + 1) is brighter than pixel (r, c), rows top to bottom, first bit the most significant.
  That is ``imagehash.dhash`` (hash_size 8) on the transposed image, except that a JPEG is decoded at
  a reduced DCT scale (both sides at least 128) first: many times faster, at most a bit or two apart.

Near duplicates are pairs within a Hamming distance D; a mirrored copy is found by comparing each
hash with the others' mirror hashes (the dHash of the thumbnail read right to left). They are found through D + 1 bands of the
64 bits (pigeonhole: two hashes within D agree on at least one whole band), not all pairs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

HASH_NAME = "dhash8"  # recorded in the cache: a cache of another hash is not read
THUMB = (9, 8)
DRAFT = 128  # a JPEG is decoded at the smallest DCT scale with both sides >= this
CACHE_KIND = "augcli-hash-cache"
MAX_DISTANCE = 24  # bands narrower than 3 bits match nearly everything


@dataclass(frozen=True)
class Hashed:
    """One file: its size, content hash (hex) and dHash (None when it could not be decoded)."""

    rel: str
    size: int
    sha256: str
    dhash: int | None
    error: str | None = None
    mirror: int | None = None  # the dHash of the image mirrored left-right


def _bits(px: np.ndarray) -> int:
    bits = (px[:, 1:] > px[:, :-1]).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def dhash_image(im) -> int:
    """The 64-bit difference hash of a Pillow image (any mode)."""
    return dhash_pair(im)[0]


def dhash_pair(im) -> tuple[int, int]:
    """The dHash of a Pillow image and that of its mirror image (left-right), both from one
    thumbnail: Lanczos resampling is symmetric, so the mirrored thumbnail is the mirror's thumbnail."""
    from PIL import Image

    px = np.asarray(im.convert("L").resize(THUMB, Image.Resampling.LANCZOS), dtype=np.int16)
    return _bits(px), _bits(px[:, ::-1])


def dhash_bytes(data: bytes, max_pixels: int = 100_000_000) -> int:
    """dHash of an encoded image (raises OSError/ValueError for one Pillow cannot read)."""
    return dhash_pair_bytes(data, max_pixels)[0]


def dhash_pair_bytes(data: bytes, max_pixels: int = 100_000_000) -> tuple[int, int]:
    """dHash of an encoded image and of its mirror image."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        if im.format == "JPEG":
            im.draft("RGB" if im.mode not in ("L", "CMYK") else im.mode, (DRAFT, DRAFT))
        if im.size[0] * im.size[1] > max_pixels:
            raise ValueError(f"{im.size[0]}x{im.size[1]} pixels, over the limit of {max_pixels}")
        shown = ImageOps.exif_transpose(im)
        return dhash_pair(shown)


def hex64(h: int | None) -> str | None:
    return None if h is None else f"{h:016x}"


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count() if hasattr(int, "bit_count") else bin(a ^ b).count("1")


def popcount64(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    b = x.view(np.uint8).reshape(*x.shape, 8)
    return np.unpackbits(b, axis=-1).sum(axis=(-1, -2)).astype(np.int64)


# ---------------------------------------------------------------------------------------------------
# one file (in a worker)


_KNOWN: dict[str, tuple[int, int] | None] = {}  # content hash -> hashes already known (set per worker)


def _know(known: dict[str, tuple[int, int] | None]) -> None:
    global _KNOWN
    _KNOWN = known


def _cached(rel: str, size: int, sha: str, pair: tuple[int, int] | None) -> Hashed:
    if pair is None:
        return Hashed(rel, size, sha, None, "cannot decode (cached)")
    return Hashed(rel, size, sha, pair[0], mirror=pair[1])


def hash_file(root: str, rel: str) -> Hashed:
    """Content hash and dHash of ``root/rel`` (not decoded when the content hash is in ``_KNOWN``);
    a file that cannot be read or decoded gets ``error``."""
    from .safefiles import FileRefused, open_regular

    try:
        with open_regular(os.path.join(root, rel)) as fh:
            data = fh.read()
    except (OSError, FileRefused) as exc:
        return Hashed(rel, 0, "", None, f"cannot read: {getattr(exc, 'strerror', None) or exc}")
    sha = hashlib.sha256(data).hexdigest()
    if sha in _KNOWN:
        return _cached(rel, len(data), sha, _KNOWN[sha])
    try:
        h, m = dhash_pair_bytes(data)
        return Hashed(rel, len(data), sha, h, mirror=m)
    except Exception as exc:  # any decoder failure is this file's problem, not the run's
        why = re.sub(r" <_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(exc).splitlines()[0] if str(exc) else "")
        return Hashed(rel, len(data), sha, None, f"cannot decode: {why or type(exc).__name__}")


def _hash_chunk(args: tuple[str, list[str]]) -> list[Hashed]:
    root, rels = args
    return [hash_file(root, rel) for rel in rels]


# ---------------------------------------------------------------------------------------------------
# the cache: content hash -> dHash, plus (path, size, mtime) -> content hash so unchanged files are
# not even read again


class HashCache:
    def __init__(self, path: Path | None, report: Callable[[str], None] = lambda msg: None) -> None:
        self.path = path
        self.by_sha: dict[str, tuple[int, int] | None] = {}  # content hash -> (dHash, mirror dHash)
        self.by_stat: dict[tuple[str, int, int], str] = {}
        self.changed = False
        if path is not None and path.is_file():
            self._read(report)

    def _read(self, report: Callable[[str], None]) -> None:
        from .errors import UsageError

        try:
            with open(self.path, "rb") as fh:  # type: ignore[arg-type]
                head = json.loads(fh.readline(4096).decode("utf-8") or "{}")
        except (OSError, ValueError):
            head = None
        if not isinstance(head, dict) or head.get("kind") != CACHE_KIND:
            # someone else's file: a cache is never written over it
            raise UsageError(f"{self.path}: exists and is not an augcli hash cache; not overwritten (give another "
                             "--cache path)")
        try:
            with open(self.path, encoding="utf-8") as fh:  # type: ignore[arg-type]
                fh.readline()
                if head.get("hash") != HASH_NAME:
                    report(f"augcli: note: {self.path}: a hash cache of {head.get('hash')}, not {HASH_NAME}; rebuilt")
                    return
                for line in fh:
                    e = json.loads(line)
                    dh = None if e["dhash"] is None else (int(e["dhash"], 16), int(e["mirror"], 16))
                    self.by_sha[e["sha256"]] = dh
                    self.by_stat[(e["path"], int(e["size"]), int(e["mtime_ns"]))] = e["sha256"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            report(f"augcli: note: {self.path}: hash cache unreadable ({exc}); rebuilt")
            self.by_sha.clear()
            self.by_stat.clear()

    def lookup(self, abspath: str) -> tuple[str, tuple[int, int] | None, int] | None:
        try:
            st = os.stat(abspath)
        except OSError:
            return None
        sha = self.by_stat.get((abspath, st.st_size, st.st_mtime_ns))
        if sha is None or sha not in self.by_sha:
            return None
        return sha, self.by_sha[sha], st.st_size

    def add(self, abspath: str, h: Hashed) -> None:
        if h.error and h.dhash is None and not h.sha256:
            return
        try:
            st = os.stat(abspath)
        except OSError:
            return
        self.by_sha[h.sha256] = None if h.dhash is None or h.mirror is None else (h.dhash, h.mirror)
        self.by_stat[(abspath, st.st_size, st.st_mtime_ns)] = h.sha256
        self.changed = True

    def save(self, only: set[str] | None = None) -> None:
        """Write the cache atomically (a temporary file renamed over it); with ``only``, just the
        entries of those paths (a dataset's own cache forgets the files that are gone)."""
        if self.path is None:
            return
        stale = only is not None and any(p not in only for p, _, _ in self.by_stat)
        if not (self.changed or stale):
            return
        from .tempfiles import write_atomic

        lines = [json.dumps({"kind": CACHE_KIND, "hash": HASH_NAME}) + "\n"]
        for (path, size, mtime), sha in sorted(self.by_stat.items()):
            if only is not None and path not in only:
                continue
            pair = self.by_sha.get(sha)
            lines.append(json.dumps({"path": path, "size": size, "mtime_ns": mtime, "sha256": sha,
                                     "dhash": hex64(pair[0]) if pair else None,
                                     "mirror": hex64(pair[1]) if pair else None}) + "\n")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, "".join(lines).encode("utf-8"), overwrite=True)


# ---------------------------------------------------------------------------------------------------
# many files


def hash_files(root: Path, rels: Sequence[str], workers: int, cache: HashCache | None = None,
               chunk: int = 32) -> list[Hashed]:
    """Hash ``rels`` under ``root`` (in ``rels`` order), each file once: from the cache when its path,
    size and modification time are known, else read (and decoded unless its content hash is cached),
    in ``workers`` processes (0: all CPUs; 1: in this process)."""
    root_s = str(root)
    out: dict[str, Hashed] = {}
    todo: list[str] = []
    for rel in rels:
        hit = cache.lookup(os.path.join(root_s, rel)) if cache is not None else None
        if hit is not None:
            out[rel] = _cached(rel, hit[2], hit[0], hit[1])
        else:
            todo.append(rel)
    n = workers or os.cpu_count() or 1
    chunks = [(root_s, todo[i:i + chunk]) for i in range(0, len(todo), chunk)]
    known = dict(cache.by_sha) if cache is not None else {}
    if n <= 1 or len(chunks) <= 1:
        _know(known)
        try:
            for part in map(_hash_chunk, chunks):
                for h in part:
                    out[h.rel] = h
        finally:
            _know({})
    else:
        from .run.pool import pool_context

        with pool_context().Pool(min(n, len(chunks)), initializer=_know, initargs=(known,)) as pool:
            for part in pool.imap_unordered(_hash_chunk, chunks):
                for h in part:
                    out[h.rel] = h
    if cache is not None:
        for rel in todo:
            cache.add(os.path.join(root_s, rel), out[rel])
    return [out[rel] for rel in rels]


def bands(distance_max: int) -> list[tuple[int, int]]:
    """(shift, mask) of D + 1 bands covering the 64 bits, as even as can be."""
    k = distance_max + 1
    widths = [64 // k + (1 if i < 64 % k else 0) for i in range(k)]
    out, shift = [], 0
    for w in widths:
        out.append((shift, (1 << w) - 1))
        shift += w
    return out


def near_links(hashes: Sequence[int | None], distance_max: int) -> tuple[list[list[int]], list[tuple[int, int, int]]]:
    """The indices of equal hashes (one list per value, in index order) and, between the lists, the
    pairs (list a, list b, distance) within ``distance_max``: compared inside the band buckets only."""
    if not 0 <= distance_max <= MAX_DISTANCE:
        raise ValueError(f"hash distance must be from 0 to {MAX_DISTANCE}, not {distance_max}")
    same: dict[int, list[int]] = {}
    for i, h in enumerate(hashes):
        if h is not None:
            same.setdefault(h, []).append(i)
    uniq = sorted(same)
    close: set[tuple[int, int]] = set()  # pairs of indices into uniq
    if distance_max > 0 and len(uniq) > 1:
        arr = np.array(uniq, dtype=np.uint64)
        for shift, mask in bands(distance_max):
            keys = (arr >> np.uint64(shift)) & np.uint64(mask)
            order = np.argsort(keys, kind="stable")
            cuts = np.flatnonzero(np.diff(keys[order])) + 1
            for grp in np.split(order, cuts):
                if len(grp) < 2:
                    continue
                vals = arr[grp]
                d = popcount64(vals[:, None] ^ vals[None, :])
                a, b = np.nonzero(np.triu(d <= distance_max, k=1))
                close.update((int(min(grp[x], grp[y])), int(max(grp[x], grp[y]))) for x, y in zip(a, b))
    return [same[h] for h in uniq], sorted((a, b, distance(uniq[a], uniq[b])) for a, b in close)


def near_pairs(hashes: Sequence[int | None], distance_max: int) -> list[tuple[int, int, int]]:
    """(i, j, distance) with i < j for every pair of hashes within ``distance_max`` (None never pairs)."""
    lists, links = near_links(hashes, distance_max)
    pairs: list[tuple[int, int, int]] = []
    for members in lists:
        pairs.extend((members[x], members[y], 0) for x in range(len(members)) for y in range(x + 1, len(members)))
    for a, b, d in links:
        pairs.extend((min(i, j), max(i, j), d) for i in lists[a] for j in lists[b])
    return sorted(pairs)


def _close_across(xs: Sequence[int], ys: Sequence[int], distance_max: int) -> set[tuple[int, int]]:
    """(index into xs, index into ys) of the value pairs within ``distance_max``, found through the
    bands: each band's buckets of xs are compared with the same buckets of ys only."""
    close: set[tuple[int, int]] = set()
    ax, ay = np.array(xs, dtype=np.uint64), np.array(ys, dtype=np.uint64)
    for shift, mask in bands(distance_max):
        kx = (ax >> np.uint64(shift)) & np.uint64(mask)
        ky = (ay >> np.uint64(shift)) & np.uint64(mask)
        ox, oy = np.argsort(kx, kind="stable"), np.argsort(ky, kind="stable")
        sx, sy = kx[ox], ky[oy]
        for key in np.intersect1d(sx, sy):
            gx = ox[np.searchsorted(sx, key, "left"):np.searchsorted(sx, key, "right")]
            gy = oy[np.searchsorted(sy, key, "left"):np.searchsorted(sy, key, "right")]
            d = popcount64(ax[gx][:, None] ^ ay[gy][None, :])
            a, b = np.nonzero(d <= distance_max)
            close.update(zip(gx[a].tolist(), gy[b].tolist()))
    return close


def mirror_links(hashes: Sequence[int | None], mirrors: Sequence[int | None],
                 distance_max: int) -> list[tuple[list[int], list[int], int]]:
    """(images A, images B, distance): the dHashes of A within ``distance_max`` of the mirrored
    dHashes of B (each list holds the images of one value; A and B may share an image that is its
    own mirror, which the caller skips)."""
    if not 0 <= distance_max <= MAX_DISTANCE:
        raise ValueError(f"hash distance must be from 0 to {MAX_DISTANCE}, not {distance_max}")
    by_h: dict[int, list[int]] = {}
    by_m: dict[int, list[int]] = {}
    for i, (h, m) in enumerate(zip(hashes, mirrors)):
        if h is not None and m is not None:
            by_h.setdefault(h, []).append(i)
            by_m.setdefault(m, []).append(i)
    if not by_h:
        return []
    uh, um = sorted(by_h), sorted(by_m)
    pairs = sorted(_close_across(uh, um, distance_max))
    return [(by_h[uh[x]], by_m[um[y]], distance(uh[x], um[y])) for x, y in pairs]
