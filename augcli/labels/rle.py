"""COCO run-length encoding (RLE) in plain numpy, as pycocotools has it: column-major counts, and
the compressed string of its ``maskApi.c``. Counts from a file are checked (LabelError naming it)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .errors import LabelError


MAX_RLE_CHARS = 12  # characters of one count in a compressed RLE string (60 bits; pycocotools keeps 32)


def rle_decode_string(s: str) -> list[int]:
    """pycocotools' compressed RLE string -> counts (``rleFrString``), in linear time: each count
    is 5 bits a character, low first, a 0x20 bit meaning "more", sign from the last character's
    0x10 bit; from the fourth count on, each is a difference to the count two before."""
    data = np.frombuffer(s.encode("ascii"), np.uint8).astype(np.int64) - 48
    if not data.size:
        return []
    last = (data & 0x20) == 0  # the last character of a count
    if not last[-1]:
        raise ValueError("truncated RLE string")
    ends = np.flatnonzero(last)
    starts = np.concatenate([[0], ends[:-1] + 1])
    k = ends - starts + 1
    if int(k.max()) > MAX_RLE_CHARS:
        raise ValueError(f"a count longer than {MAX_RLE_CHARS} characters")
    shift = 5 * (np.arange(data.size) - np.repeat(starts, k))
    x = np.add.reduceat((data & 0x1F) << shift, starts)
    x -= np.where(data[ends] & 0x10, np.left_shift(1, 5 * k), 0)  # x | (-1 << 5k), x < 2**5k
    cnts = x.copy()
    if cnts.size > 3:  # cnts[m] = x[m] + cnts[m - 2] for m > 2: running sums of each parity
        cnts[3::2] = x[1] + np.cumsum(x[3::2])
    if cnts.size > 4:
        cnts[4::2] = x[2] + np.cumsum(x[4::2])
    return cnts.tolist()


def rle_encode_string(cnts: Sequence[int]) -> str:
    out = []
    for i, c in enumerate(cnts):
        x = int(c) - (int(cnts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def _counts(v: Any) -> list[int]:
    """An uncompressed RLE ``counts`` list: whole, finite, non-negative numbers only."""
    if not isinstance(v, list):
        raise ValueError("counts is neither a list nor a string")
    out = []
    for c in v:
        if isinstance(c, bool) or not isinstance(c, (int, float)) or isinstance(c, float) and (
                not math.isfinite(c) or c != int(c)):
            raise ValueError("counts must be whole numbers")
        out.append(int(c))
    return out


def rle_to_mask(rle: dict, shown: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """The (h, w) mask of an RLE dict; with ``size`` (the image's w, h) its ``size`` must match,
    checked before anything is decoded."""
    try:
        dims = rle["size"]
        if not (isinstance(dims, list) and len(dims) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in dims)):
            raise ValueError("size must be [height, width]")
        h, w = dims
        if size is not None and (w, h) != tuple(size):
            raise LabelError(f"{shown}: RLE size {w}x{h}, image is {size[0]}x{size[1]}")
        counts = rle["counts"]
        cnts = rle_decode_string(counts) if isinstance(counts, str) else _counts(counts)
    except (KeyError, TypeError, ValueError) as exc:
        raise LabelError(f"{shown}: bad RLE segmentation ({short(exc)})") from None
    if any(c < 0 for c in cnts):
        raise LabelError(f"{shown}: RLE counts must not be negative")
    total = sum(cnts)
    if total != h * w:
        raise LabelError(f"{shown}: RLE counts add up to {total}, not {h}x{w}")
    vals = np.zeros(len(cnts), np.uint8)
    vals[1::2] = 1
    flat = np.repeat(vals, cnts)
    return flat.reshape(w, h).T.copy()  # column-major


def short(v: Any, n: int = 60) -> str:
    """``str(v)`` for a message, cut to ``n`` characters (a value from a file may be huge)."""
    text = str(v)
    return text if len(text) <= n else text[:n] + "..."


def mask_to_rle(mask: np.ndarray, compressed: bool) -> dict:
    h, w = mask.shape
    flat = np.asarray(mask, bool).T.ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    cnts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        cnts = [0] + cnts
    return {"size": [h, w], "counts": rle_encode_string(cnts) if compressed else [int(c) for c in cnts]}
