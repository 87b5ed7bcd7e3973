"""Tone ops on the colour bands: Pillow's ImageOps (equalize, autocontrast, posterize, solarize,
invert) and ImageFilter.UnsharpMask (sharpen). Alpha passes through untouched. 8-bit images get the
256-entry tables ImageOps builds, applied in one lookup-table pass (posterize, solarize and invert:
the same bytes from a bit mask and a compare, ``kernels.bytemap``), so the bytes are Pillow's and
the same on every kernel path; 16-bit and float data follow the same rules over their own range.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image

from . import kernels
from .functional import (KERNEL_LAYOUTS, clip_limits, convolve_axis, gaussian_kernel, kernel_layout, map_colour,
                         map_values, max_value, run_kernel, value_scale)

UNSHARP_RADIUS = 2.0  # Pillow's ImageFilter.UnsharpMask defaults (radius, threshold in levels)
UNSHARP_THRESHOLD = 3
_IDENTITY = np.arange(256)


def _colour_histograms(image: Image.Image) -> list[np.ndarray]:
    """The 256-bin histogram of each colour band of an 8-bit image (alpha left out)."""
    nc = KERNEL_LAYOUTS[image.mode][1]
    h = np.asarray(image.histogram(), dtype=np.int64)
    return [h[256 * c:256 * (c + 1)] for c in range(nc)]


def _per_band(image: Image.Image, tables, fn) -> Image.Image:
    """8-bit: ``tables(histograms)`` -> one table per colour band, one lookup pass; else ``fn`` on
    each colour band of the float array (see map_colour)."""
    if kernel_layout(image) is not None:
        return map_values(image, per_band=[tables(h) for h in _colour_histograms(image)])
    return map_colour(image, lambda a: np.stack([fn(a[..., c]) for c in range(a.shape[-1])], axis=-1))


def equalize_table(h: np.ndarray) -> np.ndarray:
    """ImageOps.equalize's table for one band's 256-bin histogram ``h``: with step = (pixels - the
    pixels of the top value) // 255, value v becomes (step // 2 + the pixels below v) // step; the
    identity when the band holds one value or the step is 0 (values past 255 are clipped when used)."""
    nonzero = h[h > 0]
    if len(nonzero) <= 1:
        return _IDENTITY
    step = (int(nonzero.sum()) - int(nonzero[-1])) // 255
    if step == 0:
        return _IDENTITY
    below = np.cumsum(h) - h
    return (step // 2 + below) // step


def equalize(image: Image.Image) -> Image.Image:
    """Histogram equalisation of each colour band, exactly PIL.ImageOps.equalize on 8-bit images.
    16-bit and float data: v becomes white x (the band's values below v) / (its values that are not
    its top value), rounded for 16-bit (ImageOps' rule without its whole-number step)."""
    white = max_value(image.mode)

    def band(a: np.ndarray) -> np.ndarray:
        values, inverse, counts = np.unique(a.ravel(), return_inverse=True, return_counts=True)
        if len(values) <= 1:
            return a
        below = np.cumsum(counts) - counts
        return (white * below / (a.size - counts[-1]))[inverse.ravel()].reshape(a.shape)

    return _per_band(image, equalize_table, band)


def autocontrast_table(h: np.ndarray) -> np.ndarray:
    """ImageOps.autocontrast's table (cutoff 0) for one band's 256-bin histogram: the band's lowest
    value lo goes to 0, its highest hi to 255, v to int(v scale - lo scale) with scale = 255 / (hi -
    lo), clipped; the identity when the band holds one value."""
    nonzero = np.flatnonzero(h)
    if len(nonzero) == 0 or nonzero[-1] <= nonzero[0]:
        return _IDENTITY
    lo, hi = int(nonzero[0]), int(nonzero[-1])
    scale = 255.0 / (hi - lo)
    return np.clip(np.trunc(_IDENTITY * scale + -lo * scale), 0, 255)


def autocontrast(image: Image.Image) -> Image.Image:
    """Stretch each colour band so that its lowest value becomes black and its highest white:
    exactly PIL.ImageOps.autocontrast (cutoff 0) on 8-bit images; 16-bit data use the same
    formula with 65535 for 255 (truncated, as Pillow), float data unrounded on 0-255."""
    white = max_value(image.mode)
    whole = clip_limits(image.mode) is not None

    def band(a: np.ndarray) -> np.ndarray:
        lo, hi = float(a.min()), float(a.max())
        if not hi > lo:
            return a
        scale = white / (hi - lo)
        out = a * scale + -lo * scale
        return np.trunc(out) if whole else out

    return _per_band(image, autocontrast_table, band)


def _bit_map(image: Image.Image, fn, in_place: bool, **bits: int) -> Image.Image:
    """``kernels.bytemap`` with ``bits`` (keep, flip, threshold) on an 8-bit image (the bytes of
    ImageOps' table, without one), ``fn`` on the values of other modes."""
    if kernel_layout(image) is not None:
        return run_kernel(image, functools.partial(kernels.bytemap, **bits), in_place=in_place)
    return map_colour(image, fn)


def posterize(image: Image.Image, bits: int, *, in_place: bool = False) -> Image.Image:
    """Keep the top ``bits`` (1-8) bits of each colour value: PIL.ImageOps.posterize on 8-bit
    images. 16-bit data keep as many levels, the top ``bits`` of their 16, and float data (0-255
    units) are floored to multiples of 2^(8 - bits), as torchvision's posterize does for uint16 and
    float: 8 bits are unchanged only on 8-bit images. ``in_place``: as functional.run_kernel's."""
    bits = int(bits)
    if not 1 <= bits <= 8:
        raise ValueError(f"posterize: bits={bits} must be between 1 and 8")
    step = 2.0 ** ((16 if max_value(image.mode) > 255 else 8) - bits)
    return _bit_map(image, lambda a: np.floor(a / step) * step, in_place, keep=0xFF & ~(2 ** (8 - bits) - 1))


def solarize(image: Image.Image, threshold: float, *, in_place: bool = False) -> Image.Image:
    """Invert each colour value at or above ``threshold`` (0-255 units; 256 = unchanged):
    PIL.ImageOps.solarize on 8-bit images, ``threshold x 257`` against 16-bit data."""
    white = max_value(image.mode)
    t = float(threshold)
    # the whole levels at or above t: from ceil(t) on (ImageOps' table: v < t kept)
    first = min(max(math.ceil(t), 0), 256)
    return _bit_map(image, lambda a: np.where(a < t * value_scale(image.mode), a, white - a), in_place,
                    flip=255, threshold=first)


def invert(image: Image.Image, *, in_place: bool = False) -> Image.Image:
    """white - value in each colour band: PIL.ImageOps.invert on 8-bit images."""
    white = max_value(image.mode)
    return _bit_map(image, lambda a: white - a, in_place, flip=255)


def unsharp_percent(amount: float) -> int:
    """The whole percent Pillow's UnsharpMask takes for an amount (1.5 -> 150)."""
    return int(round(float(amount) * 100))


def sharpen(image: Image.Image, amount: float) -> Image.Image:
    """Unsharp mask: where a colour value differs from its blurred value by more than 3 levels, add
    ``amount`` times that difference. 8-bit images: exactly PIL.ImageFilter.UnsharpMask(radius=2,
    percent=round(100 amount), threshold=3) (Pillow's box-approximated Gaussian, difference times
    percent // 100 truncated); 16-bit and float data: a true Gaussian of sigma 2 (as --blur), the
    threshold 3 levels (x 257 for 16-bit), out = in + percent / 100 x difference, rounded."""
    percent = unsharp_percent(amount)
    if percent == 0:
        return image.copy()
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        # augcli.kernels.unsharp: Pillow's integers, alpha bytes kept as they are
        return run_kernel(image, kernels.unsharp, percent)
    kernel = gaussian_kernel(UNSHARP_RADIUS)
    limit = UNSHARP_THRESHOLD * value_scale(image.mode)

    def unsharp(a: np.ndarray) -> np.ndarray:
        diff = a - convolve_axis(convolve_axis(a, kernel, 0), kernel, 1)
        return np.where(np.abs(diff) > limit, a + (percent / 100.0) * diff, a)

    return map_colour(image, unsharp)
