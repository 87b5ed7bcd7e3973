"""The image code of CLAHE (``augcli.ops.tone.Clahe``): contrast-limited adaptive histogram
equalisation of the luma, OpenCV's createCLAHE algorithm in integers. 8-bit images go through the C
kernel (augcli/kernels/clahe.c, where the rules are written out); 16-bit and float data through
``clahe_levels`` here, the same integer rules over 65536 (16-bit) or 256 (float, 0-255 units,
rounded) levels. numpy and Pillow are imported inside the functions, since ``augcli --help`` loads
the ops."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import F

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

CLAHE_Q = 11  # the blend weights' fraction bits on 8-bit data (clahe.c)
CLAHE_Q16 = 20  # ... and on 16-bit data, so that a weight's rounding moves the result by < 0.1 level


def clip_count(clip: float, tile: tuple[int, int], levels: int = 256) -> int:
    """The most pixels a histogram bin keeps: OpenCV's max(int(clip x tile pixels / levels), 1)."""
    return max(int(float(clip) * tile[0] * tile[1] / levels), 1)


def half_even(num: np.ndarray, den: int) -> np.ndarray:
    """num / den (num >= 0) rounded half to even, as OpenCV's cvRound."""
    q, r = num // den, num % den
    return q + ((2 * r > den) | ((2 * r == den) & (q % 2 == 1)))


def _blend_axis(n: int, size: int, tiles: int, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For coordinates 0..n-1: the two tiles to blend and the second's weight (units of 2^-q)."""
    import numpy as np

    num = 2 * np.arange(n, dtype=np.int64) - size  # x / size - 1/2 = num / (2 size)
    first = num // (2 * size)
    weight = ((num - first * 2 * size) * (1 << q) + size) // (2 * size)
    return np.maximum(first, 0), np.minimum(first + 1, tiles - 1), weight


DENSE_MAX = 1 << 22  # tiles x levels up to which the tables are built whole (8x8 tiles of 65536 levels)


def clahe_levels(values: np.ndarray, levels: int, clip: float, tiles: tuple[int, int],
                 dense: bool | None = None) -> np.ndarray:
    """CLAHE of an (h, w) array of whole values in 0..levels-1, as clahe.c computes it for 256
    (for 65536 levels the blend weights have 20 fraction bits, not 11). The tiles' tables are built
    whole when tiles x levels <= DENSE_MAX (or ``dense``); past that, evaluated only where pixels
    need them, from each tile's occupied bins (memory in proportion to the pixels): a tile's final
    count up to v is its clipped counts up to v, plus the spread excess // levels on each of the
    v + 1 bins, plus the rest's bins up to v. Both give the same numbers."""
    import numpy as np

    from .. import kernels

    h, w = values.shape
    tx, ty = tiles
    tw, th = kernels.clahe_tile((w, h), tiles)
    # numpy's "reflect" is OpenCV's BORDER_REFLECT_101 (the edge not repeated)
    padded = np.pad(values, ((0, th * ty - h), (0, tw * tx - w)), mode="reflect") if (tw * tx, th * ty) != (w, h) \
        else values
    tile_of = (np.arange(th * ty)[:, None] // th) * tx + np.arange(tw * tx)[None, :] // tw
    keys = (tile_of * levels + padded).ravel()
    limit = clip_count(clip, (tw, th), levels)
    area = tw * th
    v = values.astype(np.int64)
    if dense if dense is not None else tx * ty * levels <= DENSE_MAX:
        hist = np.bincount(keys, minlength=tx * ty * levels).reshape(tx * ty, levels)
        excess = np.maximum(hist - limit, 0).sum(axis=1)
        hist = np.minimum(hist, limit) + (excess // levels)[:, None]
        for t, rest in enumerate((excess % levels).tolist()):
            if rest:
                hist[t, ::max(levels // rest, 1)][:rest] += 1
        luts = np.minimum(half_even(np.cumsum(hist, axis=1) * (levels - 1), area), levels - 1).ravel()

        def table(tile: np.ndarray) -> np.ndarray:
            return luts[tile * levels + v]
    else:
        occupied, counts = np.unique(keys, return_counts=True)  # (tile, value) pairs present
        kept = np.minimum(counts, limit)
        excess = np.bincount(occupied // levels, weights=counts - kept, minlength=tx * ty).astype(np.int64)
        batch, rest = excess // levels, excess % levels
        step = np.maximum(levels // np.maximum(rest, 1), 1)
        below = np.concatenate(([0], np.cumsum(kept)))  # kept counts before each occupied pair
        first = np.searchsorted(occupied, np.arange(tx * ty) * levels)  # each tile's first pair

        def table(tile: np.ndarray) -> np.ndarray:
            upto = np.searchsorted(occupied, tile * levels + v, side="right")
            total = below[upto] - below[first[tile]] + batch[tile] * (v + 1) + np.minimum(rest[tile], v // step[tile] + 1)
            return np.minimum(half_even(total * (levels - 1), area), levels - 1)

    q = CLAHE_Q if levels == 256 else CLAHE_Q16
    x1, x2, wx = _blend_axis(w, tw, tx, q)
    y1, y2, wy = _blend_axis(h, th, ty, q)
    one = 1 << q
    top = table(y1[:, None] * tx + x1[None, :]) * (one - wx) + table(y1[:, None] * tx + x2[None, :]) * wx
    bottom = table(y2[:, None] * tx + x1[None, :]) * (one - wx) + table(y2[:, None] * tx + x2[None, :]) * wx
    return half_even(top * (one - wy)[:, None] + bottom * wy[:, None], 1 << (2 * q))


def clahe(image: Image.Image, clip: float, tiles: tuple[int, int]) -> Image.Image:
    """CLAHE of the luma with clip limit ``clip`` on a grid of ``tiles`` (x, y): 8-bit images by the
    kernel (grey: the value; RGB: each band moved by the luma's change); 16-bit data (I;16, I) over
    65536 levels; float data rounded to 0..255 levels, the result the mapped level (NaN kept)."""
    import numpy as np

    from .. import kernels

    layout = F.kernel_layout(image)
    if layout is not None:
        tile = kernels.clahe_tile(image.size, tiles)
        return F.run_kernel(image, kernels.clahe, clip_count(clip, tile), tiles)
    levels = 256 if image.mode == "F" else 65536
    arr = np.asarray(image)
    # float data: NaN counts as 0 in the histograms and stays NaN; infinities are the range's ends
    values = np.clip(np.rint(np.nan_to_num(arr, nan=0.0)), 0, levels - 1).astype(np.int64)
    out = clahe_levels(values, levels, clip, tiles)
    if image.mode == "F":
        return F.from_array(np.where(np.isnan(arr), arr, out.astype(np.float32)), image.mode)
    return F.from_array(out.astype(arr.dtype), image.mode)
