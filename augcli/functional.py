"""Pure image functions: PIL image (plus plain parameters) in, new PIL image out.

No randomness here: every random choice arrives as an argument, so each function can be tested
with fixed values and any output can be recomputed from a manifest.

Working modes (see ``augcli.imageio.normalise_mode``): L, LA, RGB, RGBA (8 bits per band),
I;16 (16-bit grey), I (32-bit int grey, treated as 16-bit data) and F (32-bit float grey).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image

from . import geometry

FILL_MODES = ("nearest", "reflect", "wrap", "constant")
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}
_MARGIN = 3  # source pixels a resampling kernel may reach beyond a mapped point (bicubic: 2)

# ---------------------------------------------------------------------------------------------------
# value ranges


def max_value(mode: str) -> float:
    """The white level of a mode, in its own units (1.0 for 0-255 images: values are scaled by it)."""
    if mode in ("I;16", "I"):
        return 65535.0
    if mode == "F":
        return 255.0
    return 255.0


def _clip_limits(mode: str) -> tuple[float, float] | None:
    return None if mode == "F" else (0.0, max_value(mode))


def _premultiplied(mode: str) -> str | None:
    return {"RGBA": "RGBa", "LA": "La"}.get(mode)


# ---------------------------------------------------------------------------------------------------
# geometry


def _fold(idx: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Map integer source indices (possibly outside [0, n)) to valid ones for a fill mode."""
    if mode == "nearest":
        return np.clip(idx, 0, n - 1)
    if mode == "wrap":
        return np.mod(idx, n)
    if mode == "reflect":  # half-sample symmetric: d c b a | a b c d | d c b a (scipy 'reflect')
        period = 2 * n
        m = np.mod(idx, period)
        return np.where(m >= n, period - 1 - m, m)
    raise ValueError(f"fill mode must be one of {', '.join(FILL_MODES)}, not {mode!r}")


def _fill_value(mode: str, cval: float) -> float | tuple[float, ...]:
    scale = max_value(mode) / 255.0 if mode in ("I;16", "I") else 1.0
    value = cval * scale
    bands = len(Image.new(mode, (1, 1)).getbands())
    if mode in ("I;16", "I"):
        return int(round(value))
    if mode == "F":
        return float(value)
    return tuple([int(round(value))] * bands) if bands > 1 else int(round(value))


def _extend(image: Image.Image, x0: int, y0: int, x1: int, y1: int, fill_mode: str, cval: float) -> Image.Image:
    """The source region [x0, x1) x [y0, y1) (may reach outside the image), extended by the fill
    mode: exactly the values a reference resampler would see beyond the border."""
    w, h = image.size
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return image.crop((x0, y0, x1, y1))
    if fill_mode == "constant":
        # Pillow pads with the fill colour; the region is clamped to a small margin around the image
        # by the caller, and anything beyond comes from Image.transform's fillcolor.
        canvas = Image.new(image.mode, (x1 - x0, y1 - y0), _fill_value(image.mode, cval))
        canvas.paste(image, (-x0, -y0))
        return canvas
    arr = np.asarray(image)
    rows = _fold(np.arange(y0, y1), h, fill_mode)
    cols = _fold(np.arange(x0, x1), w, fill_mode)
    out = np.take(np.take(arr, rows, axis=0), cols, axis=1)
    return _from_array(out, image.mode)


def _pil_data(matrix: np.ndarray, ox: float, oy: float) -> tuple[float, ...]:
    """Pillow's transform data for ``matrix`` (centre convention) on a source cropped at (ox, oy).
    Pillow's coordinates put pixel centres at +0.5, on both the output and the input side."""
    # u_edge = M (x_edge - 0.5) + 0.5 - offset
    shift_in = geometry.translation(0.5 - ox, 0.5 - oy)
    shift_out = geometry.translation(-0.5, -0.5)
    m = shift_in @ matrix @ shift_out
    if geometry.is_affine(matrix):
        return tuple(float(v) for v in m[:2].ravel())
    m = m / m[2, 2]
    return tuple(float(v) for v in m.ravel()[:8])


def _is_permutation(matrix: np.ndarray, in_size: geometry.Size, out_size: geometry.Size) -> bool:
    """True if the map sends every output pixel centre exactly onto an input pixel centre."""
    lin = matrix[:2, :2]
    if not geometry.is_affine(matrix) or not np.all(np.isin(lin, (-1.0, 0.0, 1.0))):
        return False
    if not np.all(np.count_nonzero(lin, axis=1) == 1) or not np.all(np.count_nonzero(lin, axis=0) == 1):
        return False
    if not np.allclose(matrix[:2, 2], np.round(matrix[:2, 2])):
        return False
    corners = geometry.apply_points(matrix, [(0, 0), (out_size[0] - 1, out_size[1] - 1)])
    return bool(np.all(corners >= -1e-9) and np.all(corners[:, 0] <= in_size[0] - 1 + 1e-9)
                and np.all(corners[:, 1] <= in_size[1] - 1 + 1e-9))


def _from_array(arr: np.ndarray, mode: str) -> Image.Image:
    """An image of ``mode`` from an array laid out as ``np.asarray`` gives it (mode kept exactly)."""
    h, w = arr.shape[:2]
    return Image.frombytes(mode, (w, h), np.ascontiguousarray(arr).tobytes())


def _permute(image: Image.Image, matrix: np.ndarray, size: geometry.Size) -> Image.Image:
    """Exact pixel copy for a map whose linear part is a signed permutation (see _is_permutation)."""
    arr = np.asarray(image)
    out_w, out_h = size
    (a, b, tx), (c, d, ty) = matrix[:2]
    xs, ys = np.arange(out_w), np.arange(out_h)
    if b == 0:  # u depends on x only, v on y only
        u = np.rint(a * xs + tx).astype(np.intp)
        v = np.rint(d * ys + ty).astype(np.intp)
        out = np.take(np.take(arr, v, axis=0), u, axis=1)
    else:  # axes swapped: u depends on y, v on x
        u = np.rint(b * ys + tx).astype(np.intp)
        v = np.rint(c * xs + ty).astype(np.intp)
        out = np.take(np.take(arr, v, axis=0), u, axis=1).swapaxes(0, 1)
    return _from_array(out, image.mode)


def warp(
    image: Image.Image,
    matrix: np.ndarray,
    size: geometry.Size,
    *,
    fill_mode: str = "nearest",
    cval: float = 0.0,
    interpolation: str = "bilinear",
) -> Image.Image:
    """Resample ``image`` onto a canvas of ``size`` through ``matrix`` (output -> input pixel
    coordinates, centres at integers; 3x3, affine or projective) in ONE resampling.

    Points that fall outside the source take values by ``fill_mode`` (scipy.ndimage's meaning:
    nearest = edge replicated, reflect = half-sample symmetric, wrap = periodic, constant = ``cval``
    in 0-255 units in every band, alpha included). RGBA / LA images are resampled premultiplied, so
    transparent pixels do not bleed colour into their neighbours.
    """
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill mode must be one of {', '.join(FILL_MODES)}, not {fill_mode!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {interpolation!r}")
    matrix = np.asarray(matrix, dtype=float)
    if image.mode == "I;16" and not _is_permutation(matrix, image.size, size):
        # Pillow resamples I;16 as if it were 8-bit; go through 32-bit I (the way back clamps)
        return warp(image.convert("I"), matrix, size, fill_mode=fill_mode, cval=cval,
                    interpolation=interpolation).convert("I;16")
    w, h = image.size
    out_w, out_h = size
    if np.allclose(matrix, np.eye(3)) and (out_w, out_h) == (w, h):
        return image.copy()
    if _is_permutation(matrix, image.size, size):
        # flips, quarter turns and integer moves: an exact copy of pixels, no resampling at all
        return _permute(image, matrix, size)

    premult = _premultiplied(image.mode)
    src = image.convert(premult) if premult else image

    corners = geometry.apply_points(matrix, [(-0.5, -0.5), (out_w - 0.5, -0.5), (-0.5, out_h - 0.5), (out_w - 0.5, out_h - 0.5)])
    x0 = math.floor(corners[:, 0].min()) - _MARGIN
    y0 = math.floor(corners[:, 1].min()) - _MARGIN
    x1 = math.ceil(corners[:, 0].max()) + _MARGIN + 1
    y1 = math.ceil(corners[:, 1].max()) + _MARGIN + 1
    if fill_mode == "constant":
        x0, y0 = max(x0, -_MARGIN), max(y0, -_MARGIN)
        x1, y1 = min(x1, w + _MARGIN), min(y1, h + _MARGIN)
        if x1 <= x0 or y1 <= y0:  # the output sees nothing of the source
            x0, y0, x1, y1 = 0, 0, 1, 1
    region = _extend(src, x0, y0, x1, y1, fill_mode, cval)
    method = Image.Transform.AFFINE if geometry.is_affine(matrix) else Image.Transform.PERSPECTIVE
    out = region.transform(
        (out_w, out_h),
        method,
        _pil_data(matrix, x0, y0),
        INTERPOLATIONS[interpolation],
        fillcolor=_fill_value(src.mode if not premult else image.mode, cval) if fill_mode == "constant" else None,
    )
    return out.convert(image.mode) if premult else out


# ---------------------------------------------------------------------------------------------------
# photometric: these act on the colour bands only; alpha passes through untouched


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if image.mode in ("RGBA", "LA"):
        bands = image.split()
        colour = Image.merge("RGB", bands[:3]) if image.mode == "RGBA" else bands[0]
        return colour, bands[-1]
    return image, None


def merge_alpha(colour: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return colour
    if colour.mode == "L":
        return Image.merge("LA", (colour, alpha))
    return Image.merge("RGBA", (*colour.split(), alpha))


def map_values(image: Image.Image, per_band: Sequence[np.ndarray] | None = None, fn=None) -> Image.Image:
    """Apply a value map to the colour bands. 8-bit images use a lookup table (``per_band`` tables of
    256 entries, or ``fn`` evaluated on 0..255); other modes evaluate ``fn`` on the pixel values."""
    colour, alpha = split_alpha(image)
    if colour.mode in ("L", "RGB"):
        if per_band is None:
            table = np.asarray(fn(np.arange(256, dtype=np.float64)))
            per_band = [table] * len(colour.getbands())
        lut: list[int] = []
        for table in per_band:
            lut.extend(np.clip(np.rint(table), 0, 255).astype(int).tolist())
        colour = colour.point(lut)
    else:
        arr = np.asarray(colour).astype(np.float64)
        out = fn(arr)
        limits = _clip_limits(colour.mode)
        if limits is not None:
            out = np.clip(np.rint(out), *limits)
        colour = _from_array(out.astype(np.asarray(colour).dtype), colour.mode)
    return merge_alpha(colour, alpha)


def brightness(image: Image.Image, factor: float) -> Image.Image:
    """Multiply the colour values by ``factor`` (PIL ImageEnhance.Brightness: 0 black, 1 unchanged)."""
    return map_values(image, fn=lambda v: v * factor)


def channel_shift(image: Image.Image, offsets: Sequence[float]) -> Image.Image:
    """Add ``offsets[i]`` (0-255 units) to colour band i, clipped to the valid range.
    Greyscale images use the first offset only."""
    colour, _ = split_alpha(image)
    n = len(colour.getbands())
    scale = max_value(colour.mode) / 255.0
    if colour.mode in ("L", "RGB"):
        ramp = np.arange(256, dtype=np.float64)
        return map_values(image, per_band=[ramp + offsets[i] for i in range(n)])
    return map_values(image, fn=lambda v: v + offsets[0] * scale)
