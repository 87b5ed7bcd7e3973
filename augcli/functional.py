"""Pure image functions: PIL image (plus plain parameters) in, new PIL image out.

No randomness here: every random choice arrives as an argument, so each function can be tested
with fixed values and any output can be recomputed from a manifest.

Working modes (see ``augcli.imageio.normalise_mode``): L, LA, RGB, RGBA (8 bits per band),
I;16 (16-bit grey), I (32-bit int grey, treated as 16-bit data) and F (32-bit float grey).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from PIL import Image

from . import geometry
from . import kernels

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
# value ranges


def max_value(mode: str) -> float:
    """The white level of a mode, in its own units: 65535 for 16-bit data (I;16, and I, which holds
    16-bit data here), 255 otherwise (F is taken to be in 0-255 units)."""
    return 65535.0 if mode in ("I;16", "I") else 255.0


def value_scale(mode: str) -> float:
    """Mode units per 0-255 unit (257 for 16-bit data, 1 otherwise)."""
    return max_value(mode) / 255.0


def _clip_limits(mode: str) -> tuple[float, float] | None:
    return None if mode == "F" else (0.0, max_value(mode))


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
    m = matrix
    if m[2, 0] != 0.0 or m[2, 1] != 0.0 or m[2, 2] != 1.0:
        return False
    a, b, tx, c, d, ty = (float(v) for v in m[:2].ravel())
    if not ((b == 0.0 and c == 0.0 and abs(a) == 1.0 and abs(d) == 1.0)
            or (a == 0.0 and d == 0.0 and abs(b) == 1.0 and abs(c) == 1.0)):
        return False
    if tx != round(tx) or ty != round(ty):
        return False
    corners = geometry.apply_points(matrix, [(0, 0), (out_size[0] - 1, out_size[1] - 1)])
    return bool(np.all(corners >= 0) and np.all(corners[:, 0] <= in_size[0] - 1)
                and np.all(corners[:, 1] <= in_size[1] - 1))


def from_array(arr: np.ndarray, mode: str) -> Image.Image:
    """An image of ``mode`` from an array laid out as ``np.asarray`` gives it (mode kept exactly)."""
    h, w = arr.shape[:2]
    return Image.frombytes(mode, (w, h), np.ascontiguousarray(arr).tobytes())


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
        matrix = np.asarray(matrix, dtype=float)
        if self._exact(matrix, size) and not self._packed:
            # identity, flips, quarter turns, integer moves: an exact copy of pixels, no resampling
            return _permute(self.image, matrix, size)
        if self._native_warp:
            return self._native(matrix, size)
        return self._pillow(matrix, size)

    def _native(self, matrix: np.ndarray, size: geometry.Size) -> Image.Image:
        """The warp in augcli's own kernel: every fill mode per tap, nothing extended, rounded.
        L, RGB and I;16 are read from and written into Pillow's own memory (no copy)."""
        work, bpp, wide = _NATIVE[self.image.mode]
        if self._bytes is None:
            self._bytes = _native_source(self.image, work)
        cval = _native_cval(work, self.cval)
        if self.image.mode in ("L", "RGB", "I;16"):
            out = Image.new(self.image.mode, size, None)  # not cleared: the kernel writes every byte
            target = kernels.pixels(out, writable=True)
            if target is not None:
                kernels.warp(self._bytes, self.image.size, bpp, matrix, size, fill=self.fill_mode,
                             interpolation=self.interpolation, cval=cval, wide=wide, out=target,
                             src_bpp=3 if self._packed else None)
                return out
        buf = kernels.warp(self._bytes, self.image.size, bpp, matrix, size, fill=self.fill_mode,
                           interpolation=self.interpolation, cval=cval, wide=wide,
                           src_bpp=3 if self._packed else None)
        out = Image.frombytes(work, size, buf)
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


# 8-bit modes the pixel kernels take: (bytes per pixel, colour bands first); alpha bytes are kept
_KERNEL_LAYOUTS = {"L": (1, 1), "LA": (2, 1), "RGB": (3, 3), "RGBA": (4, 3), "RGBX": (4, 3)}


def kernel_layout(image: Image.Image) -> tuple[int, int] | None:
    return _KERNEL_LAYOUTS.get(image.mode)


# modes whose Pillow memory the kernels read and write without a copy: RGB is kept as 4 bytes a pixel
_VIEW_LAYOUTS = {"L": (1, 1), "RGB": (4, 3)}


def _source_pixels(image: Image.Image) -> tuple[Any, int, int]:
    """An 8-bit image's pixels as the kernels read them: (buffer, bytes per pixel, colour bands),
    Pillow's own memory where it can be viewed, else a packed copy."""
    view = kernels.pixels(image) if image.mode in _VIEW_LAYOUTS else None
    if view is not None:
        return (view, *_VIEW_LAYOUTS[image.mode])
    return (image.tobytes(), *_KERNEL_LAYOUTS[image.mode])


def run_kernel(image: Image.Image, kernel, *args) -> Image.Image:
    """``kernel(src, size, bpp, nc, *args, out=...)`` on an 8-bit image, as a new image: read from
    and written into Pillow's own memory (L, RGB), or through packed copies (LA, RGBA)."""
    src, bpp, nc = _source_pixels(image)
    if isinstance(src, memoryview):
        out = Image.new(image.mode, image.size, None)  # not cleared: the kernel writes every byte
        target = kernels.pixels(out, writable=True)
        if target is not None:
            kernel(src, image.size, bpp, nc, *args, out=target)
            return out
        src, (bpp, nc) = image.tobytes(), _KERNEL_LAYOUTS[image.mode]
    return Image.frombytes(image.mode, image.size, kernel(src, image.size, bpp, nc, *args))


def map_values(image: Image.Image, per_band: Sequence[np.ndarray] | None = None, fn=None) -> Image.Image:
    """Apply a value map to the colour bands. 8-bit images use one lookup-table pass over every band
    (``per_band`` tables of 256 entries, or ``fn`` evaluated on 0..255; alpha is kept); other modes
    evaluate ``fn`` on the pixel values."""
    layout = kernel_layout(image)
    if layout is None:
        return map_colour(image, fn)
    nc = layout[1]
    if per_band is None:
        table = np.asarray(fn(np.arange(256, dtype=np.float64)))
        per_band = [table] * nc
    lut = np.clip(np.rint(np.asarray(per_band[:nc], dtype=np.float64)), 0, 255).astype(np.uint8).tobytes()
    return run_kernel(image, kernels.lut, lut)


def brightness(image: Image.Image, factor: float) -> Image.Image:
    """Multiply the colour values by ``factor`` (PIL ImageEnhance.Brightness: 0 black, 1 unchanged)."""
    return map_values(image, fn=lambda v: v * factor)


def channel_shift(image: Image.Image, offsets: Sequence[float]) -> Image.Image:
    """Add ``offsets[i]`` (0-255 units) to colour band i, clipped to the valid range.
    Greyscale images use the first offset only."""
    colour, _ = split_alpha(image)
    if colour.mode in ("L", "RGB"):
        ramp = np.arange(256, dtype=np.float64)
        return map_values(image, per_band=[ramp + offsets[i] for i in range(len(colour.getbands()))])
    return map_values(image, fn=lambda v: v + offsets[0] * value_scale(colour.mode))


# ---------------------------------------------------------------------------------------------------
# more photometric ops, noise and compression (colour bands only; alpha passes through untouched)

_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, as Pillow's convert("L")


def map_colour(image: Image.Image, fn) -> Image.Image:
    """Apply ``fn`` to the colour bands as a float array of shape (h, w, bands) in the mode's own
    units; the result is rounded and clipped to the mode's range (F is neither) and alpha is kept."""
    colour, alpha = split_alpha(image)
    arr = np.asarray(colour)
    # float32 is exact for 8-bit values and halves the memory traffic; 16-bit and float keep float64
    work = np.float32 if arr.dtype == np.uint8 else np.float64
    out = fn(arr.astype(work).reshape(arr.shape[0], arr.shape[1], -1))
    limits = _clip_limits(colour.mode)
    if limits is not None:
        out = np.clip(np.rint(out), *limits)
    return merge_alpha(from_array(out.reshape(arr.shape).astype(arr.dtype), colour.mode), alpha)


def luma_of(arr: np.ndarray) -> np.ndarray:
    """Per-pixel luma (h, w, 1) of an (h, w, bands) array: 601-2 weights for RGB, the value for grey."""
    return arr @ _LUMA[:, None].astype(arr.dtype) if arr.shape[-1] == 3 else arr[..., :1]


def contrast(image: Image.Image, factor: float) -> Image.Image:
    """Scale the distance of every colour value from the image's mean luma by ``factor``
    (PIL ImageEnhance.Contrast, with an unrounded mean: 0 = flat mean grey, 1 = unchanged)."""
    layout = kernel_layout(image)
    if layout is not None:  # exact band sums
        src, bpp, nc = _source_pixels(image)
        sums = kernels.channel_sums(src, image.size, bpp, nc)
        n = image.size[0] * image.size[1]
        mean = (float(_LUMA @ np.asarray(sums, dtype=np.float64)) if len(sums) == 3 else float(sums[0])) / n
    else:
        colour, _ = split_alpha(image)
        values = np.asarray(colour).astype(np.float64)
        mean = float((values @ _LUMA).mean() if values.ndim == 3 else values.mean())
    return map_values(image, fn=lambda v: mean + factor * (v - mean))


def saturation(image: Image.Image, factor: float) -> Image.Image:
    """Blend each pixel with its own luma (PIL ImageEnhance.Color): 0 = grey, 1 = unchanged.
    Grey images have no saturation: returned unchanged. 8-bit images use the integer kernel (luma
    with Pillow's 601 weights 19595, 38470, 7471 / 2^16, unrounded; see augcli.kernels.saturation);
    16-bit and float data use numpy with the 0.299, 0.587, 0.114 weights."""
    layout = kernel_layout(image)
    if layout is not None:
        if layout[1] != 3:
            return image.copy()
        return run_kernel(image, lambda src, size, bpp, nc, out=None:
                           kernels.saturation(src, size, bpp, factor, out=out))
    if len(split_alpha(image)[0].getbands()) != 3:
        return image.copy()
    def blend(a: np.ndarray) -> np.ndarray:
        luma = luma_of(a)
        return luma + a.dtype.type(factor) * (a - luma)

    return map_colour(image, blend)


def _rgb_to_hsv(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """colorsys.rgb_to_hsv on every pixel of an (h, w, 3) array (hue and saturation in 0..1)."""
    r, g, b = (np.ascontiguousarray(a[..., i]) for i in range(3))
    v = np.maximum(np.maximum(r, g), b)
    delta = v - np.minimum(np.minimum(r, g), b)
    s = np.divide(delta, v, out=np.zeros_like(v), where=v > 0)
    d = np.where(delta > 0, delta, 1.0)
    h = np.where(v == r, (g - b) / d, np.where(v == g, 2.0 + (b - r) / d, 4.0 + (r - g) / d))
    h = np.where(delta > 0, np.mod(h / 6.0, 1.0), 0.0)
    return h, s, v


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The closed form of the HSV cone: band n is v - v s clip(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6."""
    vs = v * s
    bands = []
    for n in (5.0, 3.0, 1.0):
        k = np.mod(n + 6.0 * h, 6.0)
        bands.append(v - vs * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))
    return np.stack(bands, axis=-1)


def hue(image: Image.Image, degrees: float) -> Image.Image:
    """Turn the hue of every pixel by ``degrees`` (HSV hue, as colorsys; saturation and value kept).
    Grey images have no hue: returned unchanged. 8-bit images use the exact integer kernel
    (augcli.kernels.hue); 16-bit and float data use numpy."""
    layout = kernel_layout(image)
    if layout is not None:
        if layout[1] != 3:
            return image.copy()
        return run_kernel(image, lambda src, size, bpp, nc, out=None: kernels.hue(src, size, bpp, degrees, out=out))
    if len(split_alpha(image)[0].getbands()) != 3:
        return image.copy()

    def turn(a: np.ndarray) -> np.ndarray:
        h, s, v = _rgb_to_hsv(a)
        return _hsv_to_rgb((h + degrees / 360.0) % 1.0, s, v)

    return map_colour(image, turn)


def gamma(image: Image.Image, g: float) -> Image.Image:
    """Power curve on values normalised to 0..1: ``out = white * (in / white) ** g``
    (g > 1 darkens the mid-tones, g < 1 brightens them; black and white stay)."""
    white = max_value(image.mode)
    return map_values(image, fn=lambda v: white * (np.clip(v, 0, None) / white) ** g)


def lighting_field(size: geometry.Size, angle: float, strength: float) -> np.ndarray:
    """The (h, w) gain ``1 + strength * t``, where t runs linearly from -1 to +1 across the image
    towards direction ``angle`` (degrees; 0 = towards the right, 90 = towards the top)."""
    w, h = size
    cx, cy = geometry.centre(size)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    # an outer sum of a column term and a row term (no full-size coordinate grids)
    proj = ((np.arange(w) - cx) * c)[None, :] - ((np.arange(h) - cy) * s)[:, None]
    half = (abs(c) * (w - 1) + abs(s) * (h - 1)) / 2.0
    return 1.0 + strength * (proj / half if half > 0 else np.zeros_like(proj))


def _lighting_plane(size: geometry.Size, angle: float, strength: float) -> tuple[float, float, float]:
    """lighting_field as a plane: (gain at pixel (0, 0), gain step per column, per row)."""
    w, h = size
    cx, cy = geometry.centre(size)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    half = (abs(c) * (w - 1) + abs(s) * (h - 1)) / 2.0
    k = strength / half if half > 0 else 0.0
    return 1.0 + k * (-cx * c + cy * s), k * c, -k * s


def lighting(image: Image.Image, angle: float, strength: float) -> Image.Image:
    """Multiply the colour values by a smooth linear illumination gradient (see lighting_field).
    8-bit images use the fixed-point kernel (the same linear gain, 32.32, stepped exactly; see
    augcli.kernels.lighting); 16-bit and float data use numpy."""
    if kernel_layout(image) is not None:
        return run_kernel(image, kernels.lighting, *_lighting_plane(image.size, angle, strength))
    gain = lighting_field(image.size, angle, strength)[..., None]
    return map_colour(image, lambda a: a * gain.astype(a.dtype))


def grayscale(image: Image.Image) -> Image.Image:
    """Replace colour by its 601-2 luma in every colour band (Pillow's convert("L")), keeping the
    number of bands and the alpha. Grey images are returned unchanged."""
    colour, alpha = split_alpha(image)
    if len(colour.getbands()) != 3:
        return image.copy()
    grey = colour.convert("L")
    return merge_alpha(Image.merge("RGB", (grey, grey, grey)), alpha)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps, truncated at 4 sigma (scipy.ndimage's default)."""
    radius = max(1, int(4.0 * sigma + 0.5))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _convolve_axis(a: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Convolve along ``axis`` with a symmetric kernel and edge replication: the centre tap, then
    each pair of mirrored taps at once (a fixed order of operations, so results are reproducible)."""
    r = len(kernel) // 2
    n = a.shape[axis]
    first = np.take(a, [0], axis=axis)
    last = np.take(a, [n - 1], axis=axis)
    reps = [1] * a.ndim
    reps[axis] = r
    padded = np.concatenate((np.tile(first, reps), a, np.tile(last, reps)), axis=axis)

    def view(offset: int) -> np.ndarray:
        return padded[(slice(None),) * axis + (slice(r + offset, r + offset + n),)]

    out = a * a.dtype.type(kernel[r])
    pair = np.empty_like(a)
    for i in range(1, r + 1):
        np.add(view(-i), view(i), out=pair)
        pair *= a.dtype.type(kernel[r + i])
        out += pair
    return out


def blur(image: Image.Image, sigma: float) -> Image.Image:
    """True Gaussian blur of standard deviation ``sigma`` pixels (separable, truncated at 4 sigma,
    edges replicated: scipy.ndimage.gaussian_filter(mode="nearest")). Alpha is not blurred.
    8-bit images use the separable integer kernel (taps in units of 2^-16 summing exactly to 1; see
    augcli.kernels.blur); 16-bit and float data use numpy in float."""
    if sigma <= 0.0:
        return image.copy()
    if kernel_layout(image) is not None:
        return run_kernel(image, kernels.blur, sigma)
    kernel = gaussian_kernel(sigma)
    return map_colour(image, lambda a: _convolve_axis(_convolve_axis(a, kernel, 0), kernel, 1))


def gaussian_noise(image: Image.Image, sigma: float, noise_seed: int) -> Image.Image:
    """Add N(0, sigma) noise (0-255 units), drawn independently per pixel and colour band; clipped to
    the valid range. 8-bit images draw from augcli's own counter-based generator keyed by
    ``noise_seed`` (a fixed 4096-entry normal table, see augcli.kernels.gaussian_noise), so the bytes
    depend on neither numpy nor the CPU; 16-bit and float data still draw from
    ``numpy.random.default_rng(noise_seed).standard_normal``."""
    if kernel_layout(image) is not None:
        return run_kernel(image, kernels.gaussian_noise, sigma, noise_seed)
    scale = value_scale(image.mode)

    def add(a: np.ndarray) -> np.ndarray:
        noise = np.random.default_rng(noise_seed).standard_normal(a.shape, dtype=a.dtype)
        noise *= a.dtype.type(sigma * scale)
        return a + noise

    return map_colour(image, add)


def salt_pepper(image: Image.Image, amount: float, salt_ratio: float, noise_seed: int) -> Image.Image:
    """Set each pixel, with probability ``amount``, to white (a fraction ``salt_ratio`` of them) or
    black, in every colour band. 8-bit images draw from augcli's own counter-based generator keyed
    by ``noise_seed`` (see augcli.kernels.salt_pepper); 16-bit and float data draw from
    ``numpy.random.default_rng(noise_seed)``."""
    if kernel_layout(image) is not None:
        return run_kernel(image, kernels.salt_pepper, amount, salt_ratio, noise_seed)
    white = max_value(image.mode)

    def sprinkle(a: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(noise_seed)
        hit = rng.random(a.shape[:2]) < amount
        salt = rng.random(a.shape[:2]) < salt_ratio
        out = a.copy()
        out[hit & salt] = white
        out[hit & ~salt] = 0.0
        return out

    return map_colour(image, sprinkle)


def erase(image: Image.Image, boxes: Sequence[Sequence[int]], colours: Sequence[Sequence[float]]) -> Image.Image:
    """Fill each rectangle ``(left, top, width, height)`` (pixels) with a solid colour (0-255 units;
    grey images use the first value). Alpha is untouched. 8-bit images are filled by Pillow (the
    colour rounded half to even, as np.rint, and clipped: the same bytes as the array path)."""
    layout = kernel_layout(image)
    if layout is not None:
        bpp, nc = layout
        out = image.copy()
        for (x, y, w, h), colour in zip(boxes, colours):
            if w <= 0 or h <= 0:
                continue
            fill = tuple(int(v) for v in np.clip(np.rint(np.asarray(colour[:nc], dtype=np.float64)), 0, 255))
            box = (int(x), int(y), int(x) + int(w), int(y) + int(h))
            if bpp > nc:  # keep the box's own alpha
                patch = Image.new(image.mode, (int(w), int(h)), fill + (0,))
                patch.putalpha(image.crop(box).getchannel("A"))
                out.paste(patch, box)
            else:
                out.paste(fill if nc > 1 else fill[0], box)
        return out
    scale = value_scale(image.mode)

    def fill(a: np.ndarray) -> np.ndarray:
        out = a.copy()
        for (x, y, w, h), colour in zip(boxes, colours):
            out[y:y + h, x:x + w] = np.asarray(colour[:a.shape[-1]], dtype=np.float64) * scale
        return out

    return map_colour(image, fill)


def jpeg_round_trip(image: Image.Image, quality: int) -> Image.Image:
    """Encode the colour bands as a baseline JPEG at ``quality`` in memory and decode them again
    (Pillow's defaults: 4:2:0 chroma subsampling for RGB). Alpha is kept as it was. 16-bit and
    float data make the round trip at 8-bit precision (divided by 257, then multiplied back)."""
    import io

    colour, alpha = split_alpha(image)
    scale = value_scale(colour.mode)
    if colour.mode in ("L", "RGB"):
        eight = colour
    else:
        arr = np.asarray(colour).astype(np.float64) / scale
        eight = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    buf = io.BytesIO()
    eight.save(buf, format="JPEG", quality=int(quality))
    decoded = Image.open(io.BytesIO(buf.getvalue()))
    decoded.load()
    if colour.mode in ("L", "RGB"):
        return merge_alpha(decoded, alpha)
    back = np.asarray(decoded).astype(np.float64) * scale
    return merge_alpha(from_array(back.astype(np.asarray(colour).dtype), colour.mode), alpha)


# ---------------------------------------------------------------------------------------------------
# tone: Pillow's ImageOps on the colour bands (alpha passes through untouched). 8-bit images get the
# 256-entry tables ImageOps builds, applied in one lookup-table pass (so the bytes are Pillow's and
# the same on every kernel path); 16-bit and float data follow the same rules over their own range.

UNSHARP_RADIUS = 2.0  # Pillow's ImageFilter.UnsharpMask defaults (radius, threshold in levels)
UNSHARP_THRESHOLD = 3
_IDENTITY = np.arange(256)


def _colour_histograms(image: Image.Image) -> list[np.ndarray]:
    """The 256-bin histogram of each colour band of an 8-bit image (alpha left out)."""
    nc = _KERNEL_LAYOUTS[image.mode][1]
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
    whole = _clip_limits(image.mode) is not None

    def band(a: np.ndarray) -> np.ndarray:
        lo, hi = float(a.min()), float(a.max())
        if not hi > lo:
            return a
        scale = white / (hi - lo)
        out = a * scale + -lo * scale
        return np.trunc(out) if whole else out

    return _per_band(image, autocontrast_table, band)


def _value_map(image: Image.Image, table: np.ndarray, fn) -> Image.Image:
    """One table for every colour band of an 8-bit image, ``fn`` on the values of other modes."""
    if kernel_layout(image) is not None:
        return map_values(image, per_band=[table] * 3)
    return map_colour(image, fn)


def posterize(image: Image.Image, bits: int) -> Image.Image:
    """Keep the top ``bits`` (1-8) bits of each colour value: PIL.ImageOps.posterize on 8-bit
    images. 16-bit data keep as many levels, the top ``bits`` of their 16, and float data (0-255
    units) are floored to multiples of 2^(8 - bits), as torchvision's posterize does for uint16 and
    float: 8 bits are unchanged only on 8-bit images."""
    bits = int(bits)
    if not 1 <= bits <= 8:
        raise ValueError(f"posterize: bits={bits} must be between 1 and 8")
    step = 2.0 ** ((16 if max_value(image.mode) > 255 else 8) - bits)
    return _value_map(image, _IDENTITY & ~(2 ** (8 - bits) - 1), lambda a: np.floor(a / step) * step)


def solarize(image: Image.Image, threshold: float) -> Image.Image:
    """Invert each colour value at or above ``threshold`` (0-255 units; 256 = unchanged):
    PIL.ImageOps.solarize on 8-bit images, ``threshold x 257`` against 16-bit data."""
    white = max_value(image.mode)
    t = float(threshold)
    table = np.where(_IDENTITY < t, _IDENTITY, 255 - _IDENTITY)
    return _value_map(image, table, lambda a: np.where(a < t * value_scale(image.mode), a, white - a))


def invert(image: Image.Image) -> Image.Image:
    """white - value in each colour band: PIL.ImageOps.invert on 8-bit images."""
    white = max_value(image.mode)
    return _value_map(image, 255 - _IDENTITY, lambda a: white - a)


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
        diff = a - _convolve_axis(_convolve_axis(a, kernel, 0), kernel, 1)
        return np.where(np.abs(diff) > limit, a + (percent / 100.0) * diff, a)

    return map_colour(image, unsharp)
