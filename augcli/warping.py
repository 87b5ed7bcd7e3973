"""The warp: one resampling of an image through a 3x3 matrix (output -> input pixel coordinates),
with the fill modes beyond the border. augcli's native kernel does L, LA, RGB, RGBA and I;16 with
nearest / bilinear; bicubic and 32-bit I / F images use Pillow's resampler on a fill-extended
source. Exact pixel copies (flips, quarter turns, integer moves) skip resampling altogether.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image

from . import geometry
from . import kernels
from .functional import value_scale

FILL_MODES = ("nearest", "reflect", "wrap", "constant")
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}
TILE_MIN_PIXELS = 1 << 24  # an extended source this large (64 MiB of RGB) is always made in one piece
TILE = 1024  # output tile side when the work is cut into tiles
SHARE_MAX_PIXELS = 1 << 24  # largest extended source kept for all the copies of a source
# RGB sources this large (32 MiB as Pillow keeps them) are packed to 3 bytes a pixel in place for the
# native warp when the caller gives the image up (``consume``): a worker then holds 3 bytes a pixel
# of source instead of 4 (smaller buffers stay in the C heap, where the pages would only be reused)
PACK_MIN_PIXELS = 1 << 23
_MARGIN = 3  # source pixels a resampling kernel may reach beyond a mapped point (bicubic: 2)


# ---------------------------------------------------------------------------------------------------
# geometry


def _fill_value(mode: str, cval: float) -> float | tuple[float, ...]:
    """``cval`` (0-255 units, every band alike) in a mode's own units; premultiplied modes get the
    premultiplied form of that colour with that alpha."""
    if mode in ("I;16", "I"):
        return int(round(cval * value_scale(mode)))
    if mode == "F":
        return float(cval)
    v = int(round(cval))
    if mode in ("RGBa", "La"):
        c = int(round(cval * cval / 255.0))
        return (c, c, c, v) if mode == "RGBa" else (c, v)
    bands = len(Image.new(mode, (1, 1)).getbands())
    return tuple([v] * bands) if bands > 1 else v


def _extend(image: Image.Image, x0: int, y0: int, x1: int, y1: int, fill_mode: str, cval: float) -> Image.Image:
    """The source region [x0, x1) x [y0, y1) (may reach outside the image), extended by the fill
    mode: exactly the values a reference resampler would see beyond the border. Built from
    Pillow's paste/crop/resize, which is an order of magnitude faster than numpy indexing here."""
    w, h = image.size
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return image.crop((x0, y0, x1, y1))
    if fill_mode == "constant":
        # a margin of the fill colour; beyond it Image.transform's fillcolor does the rest
        canvas = Image.new(image.mode, (x1 - x0, y1 - y0), _fill_value(image.mode, cval))
        canvas.paste(image, (-x0, -y0))
        return canvas
    canvas = Image.new(image.mode, (x1 - x0, y1 - y0))
    if fill_mode == "nearest":
        _extend_edges(image, canvas, x0, y0)
    elif fill_mode in ("wrap", "reflect"):
        # tile the plane: wrap repeats the image; reflect (half-sample symmetric, dcba|abcd|dcba)
        # mirrors every other tile
        variants: dict[tuple[bool, bool], Image.Image] = {}
        for j in range(math.floor(y0 / h), math.floor((y1 - 1) / h) + 1):
            for i in range(math.floor(x0 / w), math.floor((x1 - 1) / w) + 1):
                key = (fill_mode == "reflect" and i % 2 == 1, fill_mode == "reflect" and j % 2 == 1)
                if key not in variants:
                    tile = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if key[0] else image
                    variants[key] = tile.transpose(Image.Transpose.FLIP_TOP_BOTTOM) if key[1] else tile
                canvas.paste(variants[key], (i * w - x0, j * h - y0))
    else:
        raise ValueError(f"fill mode must be one of {', '.join(FILL_MODES)}, not {fill_mode!r}")
    return canvas


def _extend_edges(image: Image.Image, canvas: Image.Image, x0: int, y0: int) -> None:
    """Fill ``canvas`` (the box at (x0, y0)) with ``image`` and its edge pixels repeated outwards."""
    w, h = image.size
    cw, ch = canvas.size
    # the image columns / rows the box sees (at least the nearest one, if it lies wholly outside),
    # and where they go on the canvas
    sx0, sy0 = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
    sx1, sy1 = max(min(x0 + cw, w), sx0 + 1), max(min(y0 + ch, h), sy0 + 1)
    ix0 = min(max(sx0 - x0, 0), cw - (sx1 - sx0))
    iy0 = min(max(sy0 - y0, 0), ch - (sy1 - sy0))
    ix1, iy1 = ix0 + sx1 - sx0, iy0 + sy1 - sy0
    inner = image.crop((sx0, sy0, sx1, sy1))
    canvas.paste(inner, (ix0, iy0))
    near = Image.Resampling.NEAREST
    if iy0 > 0:
        canvas.paste(canvas.crop((ix0, iy0, ix1, iy0 + 1)).resize((ix1 - ix0, iy0), near), (ix0, 0))
    if iy1 < ch:
        canvas.paste(canvas.crop((ix0, iy1 - 1, ix1, iy1)).resize((ix1 - ix0, ch - iy1), near), (ix0, iy1))
    if ix0 > 0:
        canvas.paste(canvas.crop((ix0, 0, ix0 + 1, ch)).resize((ix0, ch), near), (0, 0))
    if ix1 < cw:
        canvas.paste(canvas.crop((ix1 - 1, 0, ix1, ch)).resize((cw - ix1, ch), near), (ix1, 0))


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
    return _permutes(geometry.flat(matrix), in_size, out_size)


def _permutes(m: Sequence[float], in_size: geometry.Size, out_size: geometry.Size) -> bool:
    """``_is_permutation`` of the flat entries ``m``."""
    a, b, tx, c, d, ty, g, h, i = m
    if g != 0.0 or h != 0.0 or i != 1.0:
        return False
    if not ((b == 0.0 and c == 0.0 and abs(a) == 1.0 and abs(d) == 1.0)
            or (a == 0.0 and d == 0.0 and abs(b) == 1.0 and abs(c) == 1.0)):
        return False
    if tx != round(tx) or ty != round(ty):
        return False
    # where the first and the last output pixel centres land (exact: integers and signs only)
    x, y = out_size[0] - 1, out_size[1] - 1
    u, v = a * x + b * y + tx, c * x + d * y + ty
    return min(tx, u) >= 0 and min(ty, v) >= 0 and max(tx, u) <= in_size[0] - 1 and max(ty, v) <= in_size[1] - 1



_TRANSPOSES = {  # linear part (a, b, c, d) of a signed permutation -> Pillow transpose
    (-1.0, 0.0, 0.0, 1.0): Image.Transpose.FLIP_LEFT_RIGHT,
    (1.0, 0.0, 0.0, -1.0): Image.Transpose.FLIP_TOP_BOTTOM,
    (-1.0, 0.0, 0.0, -1.0): Image.Transpose.ROTATE_180,
    (0.0, -1.0, 1.0, 0.0): Image.Transpose.ROTATE_90,
    (0.0, 1.0, -1.0, 0.0): Image.Transpose.ROTATE_270,
    (0.0, 1.0, 1.0, 0.0): Image.Transpose.TRANSPOSE,
    (0.0, -1.0, -1.0, 0.0): Image.Transpose.TRANSVERSE,
}


def _permute(image: Image.Image, matrix: np.ndarray, size: geometry.Size) -> Image.Image:
    """Exact pixel copy for a map whose linear part is a signed permutation (see _is_permutation):
    one Pillow transpose J of the whole image, then the output is a crop of J."""
    (a, b, tx), (c, d, ty) = matrix[:2]
    lin = np.array([[a, b], [c, d]])
    key = (float(a), float(b), float(c), float(d))
    full = image.transpose(_TRANSPOSES[key]) if key in _TRANSPOSES else image
    # J(x, y) = image(lin (x, y) + t_j): t_j puts J's corners onto the image's
    jw, jh = full.size
    corners = lin @ np.array([[0, jw - 1, 0, jw - 1], [0, 0, jh - 1, jh - 1]])
    t_j = -corners.min(axis=1)
    # out(x, y) = image(lin (x, y) + t) = J((x, y) + lin^-1 (t - t_j))
    dx, dy = (int(round(v)) for v in np.linalg.solve(lin, np.array([tx, ty]) - t_j))
    return full.crop((dx, dy, dx + size[0], dy + size[1]))


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
    return Warper(image, fill_mode=fill_mode, cval=cval, interpolation=interpolation).warp(matrix, size)


class Warper:
    """Warps of one source image, several times. ``reserve`` lets the copies of a source share one
    extended (padded) source instead of extending it once per copy."""

    # every ``warp`` returns a new image that nothing else holds, exact copies included (a crop of
    # the source or of its transpose, which Pillow copies; never the source itself, the shared
    # extension or an earlier result): its caller may write into it
    fresh = True

    def __init__(self, image: Image.Image, *, fill_mode: str = "nearest", cval: float = 0.0,
                 interpolation: str = "bilinear", consume: bool = False) -> None:
        """``consume``: the caller will not use ``image`` again, so a large RGB source may be packed
        in its own memory (its pixels are then no longer an RGB image's; see ``reserve``)."""
        if fill_mode not in FILL_MODES:
            raise ValueError(f"fill mode must be one of {', '.join(FILL_MODES)}, not {fill_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {interpolation!r}")
        self.image = image
        self.fill_mode, self.cval, self.interpolation = fill_mode, cval, interpolation
        self._src: Image.Image | None = None  # the image in the mode Pillow resamples in
        self._bytes: bytes | None = None  # the packed pixels the native kernel reads
        self._shared: tuple[Image.Image, tuple[int, int, int, int]] | None = None
        self._consume = consume
        self._packed = False  # self._bytes is packed RGB in the image's own memory
        self._kernel: kernels.WarpSource | None = None  # self._bytes, checked once for the kernel
        # augcli's kernel does the warp; bicubic and 32-bit I / F images stay on Pillow's resampler
        self._native_warp = interpolation in KERNEL_INTERPOLATIONS and image.mode in _NATIVE

    @property
    def src(self) -> Image.Image:
        if self._src is None:
            mode = self.image.mode
            # premultiplied alpha; Pillow resamples I;16 as if it were 8-bit, so go through 32-bit I
            work = {"RGBA": "RGBa", "LA": "La", "I;16": "I"}.get(mode)
            self._src = self.image.convert(work) if work else self.image
        return self._src

    def _budget(self, out_size: geometry.Size) -> int:
        """The most pixels an extended source may have before the work is cut into tiles: about
        one image, but never so little that ordinary photos are tiled."""
        w, h = self.image.size
        return max(w * h, out_size[0] * out_size[1], TILE_MIN_PIXELS)

    def reserve(self, warps: Sequence[tuple[np.ndarray, geometry.Size]]) -> None:
        """Extend the source once to cover every warp in ``warps`` (if that stays within budget).
        Only Pillow's path uses an extended source: the native kernel fills per tap. A large RGB
        source given up by the caller (``consume``) is packed to 3 bytes a pixel here instead, when
        every warp resamples (an exact copy of pixels reads the image itself)."""
        if self._native_warp:
            w, h = self.image.size
            if self._consume and self.image.mode == "RGB" and w * h >= PACK_MIN_PIXELS and warps and \
                    not any(self._exact(m, size) for m, size in warps):
                view = kernels.pixels(self.image, writable=True)
                if view is not None:
                    kernels.pack_rgb(view)
                    self._bytes, self._packed = view, True
            return
        boxes = [_source_box(m, self.image.size, size, self.fill_mode) for m, size in warps
                 if not self._exact(m, size)]
        if len(boxes) < 2:
            return
        box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        # sharing saves time on ordinary images; on very large ones, memory matters more
        if (box[2] - box[0]) * (box[3] - box[1]) <= min(self._budget(warps[0][1]), SHARE_MAX_PIXELS):
            self._shared = (_extend(self.src, *box, self.fill_mode, self.cval), box)

    def _exact(self, matrix: np.ndarray, size: geometry.Size) -> bool:
        return _is_permutation(matrix, self.image.size, size)

    def warp(self, matrix: np.ndarray, size: geometry.Size) -> Image.Image:
        """The source resampled onto ``size`` through ``matrix``."""
        flat = geometry.flat(matrix)
        if not self._packed and _permutes(flat, self.image.size, size):
            # identity, flips, quarter turns, integer moves: an exact copy of pixels, no resampling
            return _permute(self.image, np.asarray(matrix, dtype=float), size)
        if self._native_warp:
            return self._native(flat, size)
        return self._pillow(np.asarray(matrix, dtype=float), size)

    def _native(self, flat: list[float], size: geometry.Size) -> Image.Image:
        """The warp in augcli's own kernel: every fill mode per tap, nothing extended, rounded.
        L, RGB and I;16 are read from and written into Pillow's own memory (no copy)."""
        work, bpp, wide = _NATIVE[self.image.mode]
        if self._kernel is None:
            if self._bytes is None:
                self._bytes = _native_source(self.image, work)
            self._kernel = kernels.WarpSource(self._bytes, self.image.size, bpp, fill=self.fill_mode,
                                              interpolation=self.interpolation, cval=_native_cval(work, self.cval),
                                              wide=wide, src_bpp=3 if self._packed else None)
        if self.image.mode in ("L", "RGB", "I;16"):
            out = Image.new(self.image.mode, size, None)  # not cleared: the kernel writes every byte
            target = kernels.pixels(out, writable=True)
            if target is not None:
                self._kernel.into(target, size, flat)
                return out
        out = Image.frombytes(work, size, self._kernel.into(None, size, flat))
        return out.convert(self.image.mode) if out.mode != self.image.mode else out

    def _pillow(self, matrix: np.ndarray, size: geometry.Size) -> Image.Image:
        """Pillow's resampler (bicubic; 32-bit I and F images), on a fill-extended source."""
        out_w, out_h = size
        box = _source_box(matrix, self.image.size, size, self.fill_mode)
        if self._shared is not None and _covers(self._shared[1], box):
            # Crop this warp's own box out of the shared extension, so Pillow sees exactly the
            # region (and coordinates) it would see without sharing: the same bytes come out
            # whichever copies were made together (a re-run with --on-exists skip, a replay).
            sx, sy = self._shared[1][:2]
            region = self._shared[0].crop((box[0] - sx, box[1] - sy, box[2] - sx, box[3] - sy))
            out = self._transform(region, box, matrix, size)
        else:
            # Extending the source costs memory in proportion to the box it must cover: about 3x
            # the image for a 45 degree turn (the box is axis-aligned), many times it for a strong
            # zoom-out. Above a budget the output is made in tiles, each extending only the small
            # box its own pixels read, so memory stays near one image plus one output.
            x0, y0, x1, y1 = box
            if (x1 - x0) * (y1 - y0) <= self._budget(size):
                out = self._transform(_extend(self.src, *box, self.fill_mode, self.cval), box, matrix, size)
            else:
                out = Image.new(self.src.mode, size)
                for ty in range(0, out_h, TILE):
                    for tx in range(0, out_w, TILE):
                        tile = matrix @ geometry.translation(tx, ty)
                        tsize = (min(TILE, out_w - tx), min(TILE, out_h - ty))
                        tbox = _source_box(tile, self.image.size, tsize, self.fill_mode)
                        region = _extend(self.src, *tbox, self.fill_mode, self.cval)
                        out.paste(self._transform(region, tbox, tile, tsize), (tx, ty))
        return out.convert(self.image.mode) if out.mode != self.image.mode else out

    def _transform(self, region: Image.Image, box: tuple[int, int, int, int], matrix: np.ndarray,
                   size: geometry.Size) -> Image.Image:
        method = Image.Transform.AFFINE if geometry.is_affine(matrix) else Image.Transform.PERSPECTIVE
        fill = _fill_value(region.mode, self.cval) if self.fill_mode == "constant" else None
        return region.transform(size, method, _pil_data(matrix, box[0], box[1]),
                                INTERPOLATIONS[self.interpolation], fillcolor=fill)


# working mode -> (the layout the kernel reads and writes, bytes per pixel, 16-bit samples).
# Alpha is resampled premultiplied (La, RGBa); RGB travels as RGBX, Pillow's own 4-byte layout.
_NATIVE = {"L": ("L", 1, False), "LA": ("La", 2, False), "RGB": ("RGBX", 4, False),
           "RGBA": ("RGBa", 4, False), "I;16": ("I;16", 2, True)}


# interpolations the native warp does; bicubic stays Pillow's
KERNEL_INTERPOLATIONS = ("nearest", "bilinear")


def _native_source(image: Image.Image, work: str) -> bytes | memoryview:
    """The packed pixels the kernel reads: Pillow's own memory where it can be had without a copy."""
    view = kernels.pixels(image)
    if view is not None:
        return view
    if work == "RGBX":
        return image.tobytes("raw", "RGBX")
    if work in ("La", "RGBa"):
        return image.convert(work).tobytes("raw", work)
    return image.tobytes("raw", work)


def _native_cval(work: str, cval: float) -> bytes:
    """One pixel of the constant fill colour in the kernel's layout (premultiplied where alpha is)."""
    if work == "I;16":
        return int(min(max(round(cval * 257.0), 0), 65535)).to_bytes(2, "little")
    v = int(min(max(round(cval), 0), 255))
    c = int(round(v * v / 255.0))
    return bytes({"L": [v], "La": [c, v], "RGBX": [v, v, v, v], "RGBa": [c, c, c, v]}[work])


def _covers(outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def _source_box(matrix: np.ndarray, in_size: geometry.Size, out_size: geometry.Size,
                fill_mode: str) -> tuple[int, int, int, int]:
    """The source region [x0, x1) x [y0, y1) the output can read (kernel margin included)."""
    w, h = in_size
    out_w, out_h = out_size
    corners = geometry.apply_points(matrix, [(-0.5, -0.5), (out_w - 0.5, -0.5), (-0.5, out_h - 0.5),
                                             (out_w - 0.5, out_h - 0.5)])
    x0 = math.floor(corners[:, 0].min()) - _MARGIN
    y0 = math.floor(corners[:, 1].min()) - _MARGIN
    x1 = math.ceil(corners[:, 0].max()) + _MARGIN + 1
    y1 = math.ceil(corners[:, 1].max()) + _MARGIN + 1
    if fill_mode == "constant":  # beyond a small margin, Image.transform's fillcolor does the rest
        x0, y0 = max(x0, -_MARGIN), max(y0, -_MARGIN)
        x1, y1 = min(x1, w + _MARGIN), min(y1, h + _MARGIN)
        if x1 <= x0 or y1 <= y0:  # the output sees nothing of the source
            x0, y0, x1, y1 = 0, 0, 1, 1
    return x0, y0, x1, y1
