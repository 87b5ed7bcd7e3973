"""Window filters, ISO noise, CLAHE, the unsharp mask, downscale and the JPEG round trip (filters.c, iso.c,
clahe.c, unsharp.c, resize.c, jpegsim.c, in module _pixel): their typed Python face."""

from __future__ import annotations

import functools
from array import array
from typing import Sequence

from . import median_networks
from ._pixel import (clahe as c_clahe, downscale as c_downscale, fill_noise as c_fill_noise, iso_noise as c_iso_noise,
                     jpeg as c_jpeg, line_mean as c_line_mean, median as c_median, unsharp as c_unsharp)
from .checks import Buffer, checked as _checked, output as _output


MEDIAN_MAX_K = 15  # filters.c MEDIAN_MAX_K


def median_network(k: int) -> tuple[tuple[tuple[int, int], ...], int]:
    """(pairs, slot): the comparator network that leaves the median of a k x k window in ``slot``
    (augcli.kernels.median_networks)."""
    return median_networks.network(k)


@functools.lru_cache(maxsize=None)
def _median_pairs(k: int) -> bytes:
    return array("H", [v for pair in median_network(k)[0] for v in pair]).tobytes()


def median(src: Buffer, size: tuple[int, int], bpp: int, nc: int, k: int, *, out: Buffer | None = None) -> Buffer:
    """The median of each k x k window (k odd), per byte, edges replicated: exactly
    scipy.ndimage.median_filter(size=k, mode="nearest") on each colour band."""
    w, h = _checked("median", src, size, bpp, nc)
    k = int(k)
    if k < 1 or k % 2 == 0 or k > MEDIAN_MAX_K:
        raise ValueError(f"median: the window must be an odd number of pixels up to {MEDIAN_MAX_K}, not {k}")
    out = _output("median", out, size, bpp)
    c_median(src, out, w, h, bpp, nc, k, _median_pairs(k), median_network(k)[1])
    return out


LINE_MAX_R = 256  # filters.c LINE_MAX_R, LINE_MAX_N
LINE_MAX_N = 63


@functools.lru_cache(maxsize=None)
def mean_divisor(n: int) -> tuple[int, int]:
    """(mult, shift) with ((2 s + n) mult) >> shift == (2 s + n) // (2 n), the mean of n bytes summing
    to s rounded half up, for every s in [0, 255 n] (n <= 63): the smallest shift for which the
    rounded-up reciprocal is exact on that whole range (checked here, value by value), mult < 2^16."""
    d = 2 * n
    xs = range(n, 2 * 255 * n + n + 1, 2)
    for shift in range(0, 32):
        mult = -(-(1 << shift) // d)
        if mult < 1 << 16 and all((x * mult) >> shift == x // d for x in xs):
            return mult, shift
    raise ValueError(f"line_mean: no exact reciprocal for {n} pixels")


def line_mean(src: Buffer, size: tuple[int, int], bpp: int, nc: int, offsets: Sequence[tuple[int, int]], *,
              out: Buffer | None = None) -> Buffer:
    """The mean of the pixels at ``offsets`` (dx, dy) from each pixel, rounded half up, edges
    replicated: ``(2 sum + n) // 2n`` exactly for n = len(offsets) <= 255 and |dx|, |dy| <= 256."""
    w, h = _checked("line_mean", src, size, bpp, nc)
    flat = [int(v) for pair in offsets for v in pair]
    n = len(offsets)
    if not 1 <= n <= LINE_MAX_N or len(flat) != 2 * n or max(abs(v) for v in flat) > LINE_MAX_R:
        raise ValueError(f"line_mean: 1 to {LINE_MAX_N} (dx, dy) offsets within +-{LINE_MAX_R}")
    mult, shift = mean_divisor(n)
    out = _output("line_mean", out, size, bpp)
    c_line_mean(src, out, w, h, bpp, nc, array("i", flat).tobytes(), mult, shift)
    return out


ISO_STREAM = 0x69736F  # "iso"
_MASK64 = (1 << 64) - 1


def _mix64(z: int) -> int:
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def iso_noise(src: Buffer, size: tuple[int, int], bpp: int, nc: int, lum: Sequence[int], chroma: Sequence[int],
              seed: int, *, out: Buffer | None = None) -> Buffer:
    """ISO noise (iso.c): band c of a pixel of luma Y becomes round(c + (lum[Y] z0 + chroma[Y] zc)
    / 2^32), clamped, z0 shared by the bands, zc one per band, both from the unit normal table (16.16)
    picked by one counter-based hash per pixel keyed by ``seed``; ``lum`` and ``chroma`` are 256
    standard deviations each, 16.16 fixed point (0-255 units), at most 256."""
    w, h = _checked("iso_noise", src, size, bpp, nc)
    if nc not in (1, 3):
        raise ValueError(f"iso_noise: {nc} colour bands are not supported (1 or 3)")
    try:
        table = array("q", [*lum, *chroma])
    except (TypeError, OverflowError):  # numbers other than int, or out of int64
        try:
            table = array("q", [int(v) for v in (*lum, *chroma)])
        except (TypeError, ValueError, OverflowError):
            table = array("q")
    if len(table) != 512 or min(table) < 0 or max(table) > 256 << 16:
        raise ValueError("iso_noise: 256 luminance and 256 chroma sigmas in [0, 2^24] (16.16)")
    out = _output("iso_noise", out, size, bpp)
    key = _mix64((int(seed) & _MASK64) * 0x9E3779B97F4A7C15 + ISO_STREAM)
    c_iso_noise(src, out, w, h, bpp, nc, table.tobytes(), key)
    return out


FILL_STREAM = 0x66696C6C  # "fill"


def fill_noise(pixels: Buffer, size: tuple[int, int], bpp: int, nc: int, box: Sequence[int], seed: int) -> None:
    """Fill the colour bands of ``box`` (x, y, w, h) of a writable image buffer, in place, with
    uniform bytes: pixel i = y width + x takes band c from byte c of mix64(key + (i + 1) golden),
    key = mix64(seed golden + "fill"), so a pixel's values depend only on the seed and its place."""
    w, h = (int(v) for v in size)
    x0, y0, bw, bh = (int(v) for v in box)
    if memoryview(pixels).nbytes != w * h * bpp or not 1 <= nc <= bpp <= 4:
        raise ValueError(f"fill_noise: the buffer is not a {w}x{h} image of {bpp} bytes a pixel")
    if x0 < 0 or y0 < 0 or bw < 0 or bh < 0 or x0 + bw > w or y0 + bh > h:
        raise ValueError(f"fill_noise: the box {list(box)} is not inside {w}x{h}")
    key = _mix64((int(seed) & _MASK64) * 0x9E3779B97F4A7C15 + FILL_STREAM)
    c_fill_noise(pixels, w, h, bpp, nc, x0, y0, bw, bh, key)


def clahe_tile(size: tuple[int, int], tiles: tuple[int, int]) -> tuple[int, int]:
    """OpenCV's CLAHE tile size: the image extended at the right and bottom, when either side does
    not divide by its tile count, by (count - side % count) on both sides (clahe.c)."""
    (w, h), (tx, ty) = (int(v) for v in size), (int(v) for v in tiles)
    extend = w % tx != 0 or h % ty != 0
    return (w + (tx - w % tx if extend else 0)) // tx, (h + (ty - h % ty if extend else 0)) // ty


def clahe(src: Buffer, size: tuple[int, int], bpp: int, nc: int, clip: int, tiles: tuple[int, int], *,
          out: Buffer | None = None) -> Buffer:
    """CLAHE of the luma with ``tiles`` (x, y) tiles, each histogram bin clipped to ``clip`` pixels;
    RGB bands each moved by the luma's change (the rules are in clahe.c)."""
    w, h = _checked("clahe", src, size, bpp, nc)
    tx, ty = (int(v) for v in tiles)
    if nc not in (1, 3) or not (1 <= tx <= 64 and 1 <= ty <= 64) or not 1 <= int(clip) < 2**32:
        raise ValueError("clahe: 1 or 3 colour bands, 1 to 64 tiles a side, a clip count >= 1")
    out = _output("clahe", out, size, bpp)
    c_clahe(src, out, w, h, bpp, nc, int(clip), tx, ty)
    return out


UNSHARP_PERCENT_MAX = 6400  # unsharp.c: from here on every difference past the threshold saturates


def unsharp(src: Buffer, size: tuple[int, int], bpp: int, nc: int, percent: int, *, out: Buffer | None = None) -> Buffer:
    """Exactly PIL.ImageFilter.UnsharpMask(radius=2, percent, threshold=3) on each colour band
    (unsharp.c), other bytes kept; any percent >= 0 (above 6400 the bytes are those of 6400)."""
    w, h = _checked("unsharp", src, size, bpp, nc)
    if int(percent) != percent or percent < 0:
        raise ValueError(f"unsharp: the percent must be a whole number >= 0, not {percent}")
    out = _output("unsharp", out, size, bpp)
    c_unsharp(src, out, w, h, bpp, nc, min(int(percent), UNSHARP_PERCENT_MAX))
    return out


def downscale(src: Buffer, size: tuple[int, int], bpp: int, nc: int, small: tuple[int, int], *,
              out: Buffer | None = None) -> Buffer:
    """Shrink to ``small`` (w, h) by exact area averaging (each low-res pixel the coverage-weighted
    mean of the source pixels under it, rounded half up), then enlarge back to ``size`` bilinearly
    with pixel centres aligned and edges replicated, 16-bit fractions (resize.c)."""
    w, h = _checked("downscale", src, size, bpp, nc)
    sw, sh = (int(v) for v in small)
    if not (1 <= sw <= w and 1 <= sh <= h):
        raise ValueError(f"downscale: cannot shrink {w}x{h} to {sw}x{sh}")
    out = _output("downscale", out, size, bpp)
    c_downscale(src, out, w, h, bpp, nc, sw, sh)
    return out


class JpegUndecided(ValueError):
    """The round trip met a value on which libjpeg-turbo's own builds (SIMD and C) differ, so the
    kernel cannot say which bytes Pillow gives here: the caller asks Pillow."""


def jpeg(src: Buffer, size: tuple[int, int], bpp: int, nc: int, quality: int, *, out: Buffer | None = None) -> Buffer:
    """The pixels of Pillow's baseline JPEG round trip at ``quality`` (1..100; its defaults: 4:2:0
    for RGB, islow DCTs, fancy upsampling), computed without the entropy coder (jpegsim.c): one band
    (``nc`` 1, greyscale) or three (RGB); other bytes kept. JpegUndecided where only Pillow knows."""
    w, h = _checked("jpeg", src, size, bpp, nc)
    if nc not in (1, 3) or int(quality) != quality or not 1 <= quality <= 100:
        raise ValueError(f"jpeg: 1 or 3 colour bands and a quality of 1 to 100, not {nc} and {quality!r}")
    out = _output("jpeg", out, size, bpp)
    if not c_jpeg(src, out, w, h, bpp, nc, int(quality)):
        raise JpegUndecided(f"jpeg: a {w}x{h} image at quality {quality} leaves the range the kernel reproduces")
    return out
