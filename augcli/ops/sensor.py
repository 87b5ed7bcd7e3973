"""Sensor, motion and occlusion: motion blur, median blur, downscale, ISO noise, coarse dropout and
GridMask. They run after the colour ops and before the filters and noise of ``noise.py``.

None of them moves geometry, so labels are carried unchanged: an object under a dropout hole or a
grid square is kept (the label-aware ``--erase-dropped`` rules are not applied to these ops yet).

8-bit images (L, LA, RGB, RGBA) go through augcli's integer kernels or integer numpy, so the bytes
depend on neither the CPU nor the kernel path; 16-bit and float images use numpy (the same rules,
in their own units). Alpha is never changed. The image code here imports numpy and Pillow inside
the functions: ``augcli --help`` loads this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from .base import F, Op, Range, _check_range, _uniform, check_box, check_keys, check_list, check_number
from .flags import Choice, Flag, Number, Span

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


def _noise_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**32))


def _odd_range(name: str, value: Range, lo: int, hi: int) -> Range:
    """A range of odd whole window sizes within [lo, hi] (ValueError otherwise)."""
    a, b = _check_range(name, value, lo, hi)
    if not (a.is_integer() and b.is_integer() and a % 2 == 1 and b % 2 == 1):
        raise ValueError(f"{name}={value!r}: window sizes must be odd whole numbers of pixels")
    return (a, b)


def _draw_odd(rng: np.random.Generator, r: Range) -> int:
    """An odd size uniform over the odd numbers of [lo, hi]."""
    lo, hi = int(r[0]), int(r[1])
    return lo + 2 * int(rng.integers(0, (hi - lo) // 2 + 1))


def _check_odd(name: str, key: str, value: Any, r: Range) -> None:
    check_number(name, key, value, r[0], r[1], whole=True)
    if value % 2 != 1:
        raise ValueError(f"{name}: {key}={value!r} must be odd")


def _whole_range(name: str, value: Range, lo: float, hi: float) -> Range:
    a, b = _check_range(name, value, lo, hi)
    if not (a.is_integer() and b.is_integer()):
        raise ValueError(f"{name}={value!r}: counts must be whole numbers")
    return (a, b)


# ---------------------------------------------------------------------------------------------------
# image helpers (numpy and Pillow imported on first use)


def _colour_array(image: Image.Image) -> tuple[np.ndarray, Image.Image | None]:
    """The colour bands as a writable (h, w, bands) array in the mode's own units, and the alpha."""
    import numpy as np

    colour, alpha = F.split_alpha(image)
    arr = np.array(colour)
    return arr.reshape(arr.shape[0], arr.shape[1], -1), alpha


def _from_colour(arr: np.ndarray, mode: str, alpha: Image.Image | None) -> Image.Image:
    return F.merge_alpha(F._from_array(arr.reshape(arr.shape[:2]) if arr.shape[2] == 1 else arr, mode), alpha)


def _edge_window(a: np.ndarray, r: int) -> np.ndarray:
    """``a`` (h, w, bands) padded by r replicated pixels on every side."""
    import numpy as np

    return np.pad(a, ((r, r), (r, r), (0, 0)), mode="edge")


def motion_line(length: int, angle: float) -> list[tuple[int, int]]:
    """The motion-blur kernel: the (dx, dy) offsets of a digital line through the centre, ``length``
    pixels long (odd), at ``angle`` degrees counter-clockwise from the x axis (y points down). The
    end of the half-line is (round(r cos a), -round(r sin a)), r = (length - 1) / 2, halves rounded
    away from zero (values within 1e-9 of a half are taken as the half, so that libm's last bit cannot
    change the kernel); the line is Bresenham's from the centre to that end, mirrored through the
    centre, so it is symmetric and has 2 max(|x end|, |y end|) + 1 pixels, the centre first."""
    r = (int(length) - 1) / 2

    def rnd(v: float) -> int:
        twice = v * 2
        if abs(twice - round(twice)) < 1e-9:
            twice = round(twice)
        half = twice / 2
        return int(math.floor(abs(half) + 0.5)) * (1 if half >= 0 else -1)

    a = math.radians(float(angle))
    ex, ey = rnd(r * math.cos(a)), -rnd(r * math.sin(a))
    line = [(0, 0)]
    x = y = 0
    dx, dy = abs(ex), -abs(ey)
    sx, sy = (1 if ex > 0 else -1), (1 if ey > 0 else -1)
    err = dx + dy
    while (x, y) != (ex, ey):
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x += sx
        if e2 <= dx:
            err += dx
            y += sy
        line += [(x, y), (-x, -y)]
    return line


def motion_blur(image: Image.Image, length: int, angle: float) -> Image.Image:
    """The mean of the pixels on a line through each pixel (``motion_line``), edges replicated,
    rounded half up (``(2 sum + n) // 2n``; augcli.kernels.line_mean for 8-bit data); float data
    get the plain mean."""
    import numpy as np

    line = motion_line(length, angle)
    if len(line) == 1:
        return image.copy()
    if F._kernel_layout(image) is not None:
        from .. import kernels

        return F._run_kernel(image, kernels.line_mean, line)
    arr, alpha = _colour_array(image)
    r = max(max(abs(dx), abs(dy)) for dx, dy in line)
    pad = _edge_window(arr, r)
    h, w = arr.shape[:2]
    exact = arr.dtype.kind != "f"
    n = len(line)
    out = np.empty_like(arr)
    rows = max(1, (1 << 20) // (w * arr.shape[2]))  # a band of rows at a time: the sums are 8 bytes a value
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        acc = np.zeros((y1 - y0,) + arr.shape[1:], dtype=np.int64 if exact else np.float64)
        for dx, dy in line:
            acc += pad[r + dy + y0:r + dy + y1, r + dx:r + dx + w]
        out[y0:y1] = (2 * acc + n) // (2 * n) if exact else acc / n
    return _from_colour(out, F.split_alpha(image)[0].mode, alpha)


def median_blur(image: Image.Image, size: int) -> Image.Image:
    """The median of each size x size window per colour band, edges replicated: exactly
    ``scipy.ndimage.median_filter(band, size=size, mode="nearest")`` (augcli.kernels.median's
    comparator network for 8-bit data; numpy's median of the windows otherwise)."""
    import numpy as np

    if size <= 1:
        return image.copy()
    if F._kernel_layout(image) is not None:
        from .. import kernels

        return F._run_kernel(image, kernels.median, size)
    arr, alpha = _colour_array(image)
    r = size // 2
    pad = _edge_window(arr, r)
    h, w = arr.shape[:2]
    out = np.empty_like(arr)
    windows = np.lib.stride_tricks.sliding_window_view(pad, (size, size), axis=(0, 1))
    # a band of rows at a time (about 2^22 window values): the windows are copied to be partitioned
    rows = max(1, (1 << 22) // (w * arr.shape[2] * size * size))
    for y0 in range(0, h, rows):
        block = windows[y0:y0 + rows].reshape(*windows[y0:y0 + rows].shape[:3], size * size)
        out[y0:y0 + rows] = np.partition(block, size * size // 2, axis=-1)[..., size * size // 2]
    return _from_colour(out, F.split_alpha(image)[0].mode, alpha)


DOWNSCALE_FILTERS = ("nearest", "box", "bilinear", "bicubic")


def downscale(image: Image.Image, scale: float, filter: str) -> Image.Image:
    """Resize the colour bands to round(scale * side) pixels (at least 1) and back to the original size,
    both ways with Pillow's ``filter`` (Image.resize); alpha is kept as it was. 16-bit data is
    resized as 32-bit integers."""
    from PIL import Image

    resample = {"nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX,
                "bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}[filter]
    w, h = image.size
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    colour, alpha = F.split_alpha(image)
    if small == (w, h):
        return image.copy()
    work = colour.convert("I") if colour.mode == "I;16" else colour
    out = work.resize(small, resample).resize((w, h), resample)
    if colour.mode == "I;16":
        import numpy as np

        out = F._from_array(np.clip(np.asarray(out), 0, 65535).astype("<u2"), "I;16")
    return F.merge_alpha(out, alpha)


def iso_sigmas(sigma: float, colour: float) -> tuple[list[int], list[int]]:
    """The ISO noise's standard deviations per luma Y = 0..255 in 16.16 fixed point (0-255 units):
    luminance ``sigma sqrt(Y / 255)`` and chroma ``colour`` times that (IEEE double, correctly
    rounded square roots: the same integers everywhere)."""
    lum = [round(float(sigma) * math.sqrt(y / 255.0) * (1 << 16)) for y in range(256)]
    chroma = [round(float(colour) * float(sigma) * math.sqrt(y / 255.0) * (1 << 16)) for y in range(256)]
    return lum, chroma


def iso_noise(image: Image.Image, sigma: float, colour: float, noise_seed: int) -> Image.Image:
    """Sensor (ISO) noise: with Y a pixel's luma in 0-255 units, every colour band gets
    ``sigma sqrt(Y / 255) z0`` (one z0 per pixel: luminance shot noise, brighter pixels noisier) plus
    ``colour sigma sqrt(Y / 255) zc`` (one zc per band: colour noise), rounded and clipped. 8-bit
    images: augcli.kernels.iso_noise (counter-based draws keyed by ``noise_seed``, luma with the
    601 integer weights); 16-bit and float data: numpy.random.default_rng(noise_seed), 601 luma."""
    import numpy as np

    layout = F._kernel_layout(image)
    if layout is not None:
        from .. import kernels

        return F._run_kernel(image, kernels.iso_noise, *iso_sigmas(sigma, colour), noise_seed)
    scale = F._scale(F.split_alpha(image)[0].mode)

    def add(a: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(noise_seed)
        luma = F._luma(a) / scale
        spread = sigma * np.sqrt(np.clip(luma, 0.0, 255.0) / 255.0) * scale
        z0 = rng.standard_normal(a.shape[:2] + (1,))
        zc = rng.standard_normal(a.shape)
        return a + spread * (z0 + colour * zc)

    return F.map_colour(image, add)


DROPOUT_FILLS = ("black", "grey", "white", "random", "noise")
_FILL_LEVELS = {"black": 0.0, "grey": 128.0, "white": 255.0}
_GOLDEN = 0x9E3779B97F4A7C15
FILL_STREAM = 0x66696C6C  # "fill"


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's output function on uint64 arrays (the kernels' counter-based generator)."""
    import numpy as np

    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def noise_fill(seed: int, box: Sequence[int], width: int, bands: int) -> np.ndarray:
    """Uniform 0..255 values for the pixels of ``box`` (x, y, w, h) of an image ``width`` wide:
    pixel i = y width + x takes band c from byte c of mix64(key + (i + 1) golden), key =
    mix64(seed golden + "fill"); each pixel's values depend only on the seed and its place."""
    import numpy as np

    x, y, bw, bh = (int(v) for v in box)
    with np.errstate(over="ignore"):
        key = _mix64(np.array([(int(seed) * _GOLDEN + FILL_STREAM) & (2**64 - 1)], dtype=np.uint64))[0]
        index = (np.arange(y, y + bh, dtype=np.uint64)[:, None] * np.uint64(width)
                 + np.arange(x, x + bw, dtype=np.uint64)[None, :] + np.uint64(1))
        r = _mix64(key + index * np.uint64(_GOLDEN))
    shifts = np.arange(bands, dtype=np.uint64) * np.uint64(8)
    return ((r[..., None] >> shifts) & np.uint64(255)).astype(np.uint8)


def fill_holes(image: Image.Image, holes: Sequence[Sequence[int]], fill: str,
               colours: Sequence[Sequence[float]] | None = None, noise_seed: int = 0) -> Image.Image:
    """Fill each (x, y, w, h) hole's colour bands: a level (black 0, grey 128, white 255), a solid
    colour per hole (``colours``, 0-255 units; both as ``functional.erase``: rounded half to even,
    scaled to 16-bit data), or per-pixel uniform noise (``noise_fill``; 8-bit images through
    augcli.kernels.fill_noise, the same values). Alpha is kept."""
    import numpy as np
    from PIL import Image

    if fill != "noise":
        solid = colours if fill == "random" else [[_FILL_LEVELS[fill]] * 3] * len(holes)
        return F.erase(image, holes, solid)
    layout = F._kernel_layout(image)
    if layout is not None:
        from .. import kernels

        out = image.copy()
        view = kernels.pixels(out, writable=True) if image.mode in ("L", "RGB") else None
        bpp, nc = (4 if image.mode == "RGB" else 1, layout[1]) if view is not None else layout
        buf = view if view is not None else bytearray(image.tobytes())
        for hole in holes:
            kernels.fill_noise(buf, image.size, bpp, nc, hole, noise_seed)
        return out if view is not None else Image.frombytes(image.mode, image.size, bytes(buf))
    arr, alpha = _colour_array(image)
    mode = F.split_alpha(image)[0].mode
    for x, y, w, h in holes:
        values = noise_fill(noise_seed, (x, y, w, h), image.size[0], arr.shape[2]).astype(np.float64) * F._scale(mode)
        arr[y:y + h, x:x + w] = values if arr.dtype.kind == "f" else np.rint(values)
    return _from_colour(arr, mode, alpha)


def grid_holes(size: tuple[int, int], unit: int, hole: int, dx: int, dy: int) -> list[list[int]]:
    """The squares GridMask drops on a canvas of ``size``: side ``hole``, one in the top-left corner
    of every ``unit`` x ``unit`` cell of a grid shifted by (dx, dy), clipped to the canvas."""
    w, h = size
    holes = []
    for y0 in range(dy - unit, h, unit):
        for x0 in range(dx - unit, w, unit):
            x1, y1 = min(x0 + hole, w), min(y0 + hole, h)
            xa, ya = max(x0, 0), max(y0, 0)
            if x1 > xa and y1 > ya:
                holes.append([xa, ya, x1 - xa, y1 - ya])
    return holes


def grid_mask(image: Image.Image, unit: int, hole: int, dx: int, dy: int) -> Image.Image:
    """Black out the colour bands of the ``grid_holes`` squares (alpha kept). L and RGB images are
    written in Pillow's own memory (RGB as whole 4-byte pixels, the fourth byte kept by a mask);
    other modes through ``fill_holes``."""
    import numpy as np

    from .. import kernels

    holes = grid_holes(image.size, unit, hole, dx, dy)
    out = image.copy() if image.mode in ("L", "RGB") else None
    view = kernels.pixels(out, writable=True) if out is not None else None
    if view is None:
        return fill_holes(image, holes, "black")
    w, h = image.size
    if image.mode == "L":
        pixels = np.frombuffer(view, dtype=np.uint8).reshape(h, w)
        for x, y, bw, bh in holes:
            pixels[y:y + bh, x:x + bw] = 0
        return out
    words = np.frombuffer(view, dtype=np.uint32).reshape(h, w)
    keep = np.frombuffer(bytes((0, 0, 0, 255)), dtype=np.uint32)[0]  # the pad byte, in this byte order
    for x, y, bw, bh in holes:
        words[y:y + bh, x:x + bw] &= keep
    return out


# ---------------------------------------------------------------------------------------------------
# the ops


@dataclass(frozen=True, kw_only=True)
class MotionBlur(Op):
    """Motion blur: the mean along a line through each pixel, ``length`` ~ U{odd in length_range}
    pixels long, at ``angle`` ~ U(angle_range) degrees (see ``motion_line``). Params: {"length": int,
    "angle": float}."""

    name: ClassVar[str] = "motion_blur"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--motion-blur", Span(start=3.0),
             "Motion blur along a line of an odd length U{3..K} pixels (or LO:HI) at a random angle.",
             metavar="K", field="length_range"),
        Flag("--motion-angle", Span(), "Angle range of --motion-blur in degrees (default 0:180; A means -A:A).",
             metavar="DEG", field="angle_range", enables=False),
    )
    params: ClassVar[str] = ("length ~ U{odd 3..K} pixels (K odd, <= 63); angle ~ U(0, 180) degrees "
                             "counter-clockwise (or --motion-angle)")
    default: ClassVar[str] = "3:7"
    summary: ClassVar[str] = "motion blur: the mean along a Bresenham line (albumentations MotionBlur)"
    length_range: Range = (3.0, 3.0)
    angle_range: Range = (0.0, 180.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "length_range", _odd_range("motion-blur", self.length_range, 3, 63))
        object.__setattr__(self, "angle_range", _check_range("motion-angle", self.angle_range, -360.0, 360.0))

    def sample(self, rng, size):
        return {"length": _draw_odd(rng, self.length_range), "angle": _uniform(rng, self.angle_range)}

    def check(self, params, size):
        check_keys(self.name, params, ("length", "angle"))
        _check_odd(self.name, "length", params["length"], self.length_range)
        check_number(self.name, "angle", params["angle"], *self.angle_range)

    def apply(self, image, params):
        return motion_blur(image, params["length"], params["angle"])


@dataclass(frozen=True, kw_only=True)
class MedianBlur(Op):
    """Median filter over a ``size`` x ``size`` window, ``size`` ~ U{odd in size_range}, edges
    replicated (scipy.ndimage.median_filter, mode nearest). Params: {"size": int}."""

    name: ClassVar[str] = "median_blur"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--median-blur", Span(start=3.0),
             "Median filter over a K x K window, K odd, U{3..K} (or LO:HI), edges repeated.",
             metavar="K", field="size_range"),
    )
    params: ClassVar[str] = "window k ~ U{odd 3..K} pixels (K odd, <= 15), edges replicated"
    default: ClassVar[str] = "3:7"
    summary: ClassVar[str] = "median blur (scipy.ndimage.median_filter, mode nearest; exact)"
    size_range: Range = (3.0, 3.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "size_range", _odd_range("median-blur", self.size_range, 3, 15))

    def sample(self, rng, size):
        return {"size": _draw_odd(rng, self.size_range)}

    def check(self, params, size):
        check_keys(self.name, params, ("size",))
        _check_odd(self.name, "size", params["size"], self.size_range)

    def apply(self, image, params):
        return median_blur(image, params["size"])


@dataclass(frozen=True, kw_only=True)
class Downscale(Op):
    """Lose resolution: resize to ``scale`` ~ U(scale_range) of each side and back, both ways with
    ``filter``. Params: {"scale": float}."""

    name: ClassVar[str] = "downscale"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--downscale", Span(end=1.0),
             "Resize to a fraction U(F, 1) (or LO:HI) of each side and back (lost resolution).",
             metavar="F", field="scale_range"),
        Flag("--downscale-filter", Choice(DOWNSCALE_FILTERS),
             "Resampling filter of --downscale, both ways: nearest (default), box, bilinear, bicubic.",
             metavar="M", field="filter", enables=False),
    )
    params: ClassVar[str] = ("scale ~ U(F, 1) of each side (0.05 <= F); down and back up with filter M = nearest "
                             "(default), box, bilinear or bicubic")
    default: ClassVar[str] = "0.25:0.5"
    summary: ClassVar[str] = "downscale and upscale (albumentations Downscale; Pillow's resize)"
    scale_range: Range = (1.0, 1.0)
    filter: str = "nearest"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "scale_range", _check_range("downscale", self.scale_range, 0.05, 1.0))
        if self.filter not in DOWNSCALE_FILTERS:
            raise ValueError(f"downscale-filter={self.filter!r} must be one of {', '.join(DOWNSCALE_FILTERS)}")

    def sample(self, rng, size):
        return {"scale": _uniform(rng, self.scale_range)}

    def check(self, params, size):
        check_keys(self.name, params, ("scale",))
        check_number(self.name, "scale", params["scale"], *self.scale_range)

    def apply(self, image, params):
        return downscale(image, params["scale"], self.filter)


@dataclass(frozen=True, kw_only=True)
class IsoNoise(Op):
    """Sensor noise that grows with brightness: luminance noise of standard deviation
    ``sigma sqrt(Y / 255)`` shared by the bands, plus ``colour`` times that per band (see
    ``iso_noise``); ``sigma`` ~ U(sigma_range), 0-255 units. Params: {"sigma": float, "noise_seed": int}."""

    name: ClassVar[str] = "iso_noise"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--iso-noise", Span(start=0.0),
             "Sensor noise, sigma U(0, S) (or LO:HI) at white, scaled by sqrt(luma / 255).",
             metavar="S", field="sigma_range"),
        Flag("--iso-colour", Number(0.0, 1.0), "Per-channel (colour) share of --iso-noise (default 0.5).",
             metavar="C", field="colour", enables=False),
    )
    params: ClassVar[str] = ("sigma ~ U(0, S) at white (0-255 units); a pixel of luma Y gets sigma sqrt(Y/255) "
                             "luminance noise plus C (default 0.5) times that per channel")
    default: ClassVar[str] = "2:10"
    summary: ClassVar[str] = "ISO / shot noise: luminance-scaled luminance and colour noise"
    sigma_range: Range = (0.0, 0.0)
    colour: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "sigma_range", _check_range("iso-noise", self.sigma_range, 0.0, 255.0))
        if isinstance(self.colour, bool) or not isinstance(self.colour, (int, float)) or \
                not 0.0 <= float(self.colour) <= 1.0:
            raise ValueError(f"iso-colour={self.colour!r} must be between 0 and 1")

    def sample(self, rng, size):
        return {"sigma": _uniform(rng, self.sigma_range), "noise_seed": _noise_seed(rng)}

    def check(self, params, size):
        check_keys(self.name, params, ("sigma", "noise_seed"))
        check_number(self.name, "sigma", params["sigma"], *self.sigma_range)
        check_number(self.name, "noise_seed", params["noise_seed"], 0, 2**32 - 1, whole=True)

    def apply(self, image, params):
        return iso_noise(image, params["sigma"], float(self.colour), params["noise_seed"])


@dataclass(frozen=True, kw_only=True)
class CoarseDropout(Op):
    """Coarse dropout: ``count`` ~ U{count_range} rectangular holes, each side a fraction
    U(size_range) of the image's side (drawn for width and height apart), anywhere inside the image,
    filled by ``fill``. Params: {"holes": [[x, y, w, h], ...]} plus "colours" ([[r, g, b], ...], for
    fill random) or "noise_seed" (for fill noise)."""

    name: ClassVar[str] = "coarse_dropout"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--coarse-dropout", Span(start=1.0), "Drop 1 to N rectangles (or LO:HI holes) of --dropout-size.",
             metavar="N", field="count_range"),
        Flag("--dropout-size", Span(start=0.0),
             "Hole side as a fraction U(LO, HI) of the image side (default 0.1:0.2).",
             metavar="F", field="size_range", enables=False),
        Flag("--dropout-fill", Choice(DROPOUT_FILLS),
             "Hole fill: black (default), grey, white, random (a colour per hole), noise (per pixel).",
             metavar="M", field="fill", enables=False),
    )
    params: ClassVar[str] = ("k ~ U{1..N} holes (N <= 1000), width and height each U(0.1, 0.2) of the side "
                             "(--dropout-size); fill black, grey, white, random or noise")
    default: ClassVar[str] = "1:8"
    summary: ClassVar[str] = "coarse dropout / cutout (albumentations CoarseDropout)"
    count_range: Range = (1.0, 1.0)
    size_range: Range = (0.1, 0.2)
    fill: str = "black"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "count_range", _whole_range("coarse-dropout", self.count_range, 1, 1000))
        object.__setattr__(self, "size_range", _check_range("dropout-size", self.size_range, 0.0, 1.0, open_lo=True))
        if self.fill not in DROPOUT_FILLS:
            raise ValueError(f"dropout-fill={self.fill!r} must be one of {', '.join(DROPOUT_FILLS)}")

    def _keys(self) -> tuple[str, ...]:
        return {"random": ("holes", "colours"), "noise": ("holes", "noise_seed")}.get(self.fill, ("holes",))

    def sample(self, rng, size):
        w, h = size
        holes = []
        for _ in range(int(rng.integers(int(self.count_range[0]), int(self.count_range[1]) + 1))):
            bw = min(w, max(1, round(_uniform(rng, self.size_range) * w)))
            bh = min(h, max(1, round(_uniform(rng, self.size_range) * h)))
            holes.append([int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1)), bw, bh])
        params: dict[str, Any] = {"holes": holes}
        if self.fill == "random":
            params["colours"] = [[float(c) for c in rng.uniform(0.0, 255.0, 3)] for _ in holes]
        elif self.fill == "noise":
            params["noise_seed"] = _noise_seed(rng)
        return params

    def check(self, params, size):
        check_keys(self.name, params, self._keys())
        holes = check_list(self.name, "holes", params["holes"], most=int(self.count_range[1]))
        if len(holes) < self.count_range[0]:
            raise ValueError(f"{self.name}: fewer holes than {int(self.count_range[0])}")
        for hole in holes:
            check_box(self.name, "hole", hole, size)
        if "colours" in params:
            for colour in check_list(self.name, "colours", params["colours"], len(holes)):
                for v in check_list(self.name, "colour", colour, 3):
                    check_number(self.name, "colour", v, 0.0, 255.0)
        if "noise_seed" in params:
            check_number(self.name, "noise_seed", params["noise_seed"], 0, 2**32 - 1, whole=True)

    def apply(self, image, params):
        return fill_holes(image, params["holes"], self.fill, params.get("colours"), params.get("noise_seed", 0))


@dataclass(frozen=True, kw_only=True)
class GridMask(Op):
    """GridMask (Chen et al. 2020, arXiv:2001.04086): a grid of cells of side d (the paper's d) ~
    U{unit_range x the shorter side}, shifted by (dx, dy) ~ U{0..d-1} (the paper's delta x, delta y),
    drops a black square of side round((1 - r) d) (at least 1, at most d - 1) in each cell, r = ``ratio``
    being the paper's r (the kept share of a cell's side: keep ratio 1 - (1 - r)^2). Axis-aligned:
    the paper's random rotation of the mask is not done. Params: {"unit": int, "hole": int,
    "dx": int, "dy": int}."""

    name: ClassVar[str] = "grid_mask"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--grid-mask", Number(0.05, 0.95),
             "GridMask: drop a square of side (1 - R) d in every d x d cell of a shifted grid (paper's r = R).",
             metavar="R", field="ratio"),
        Flag("--grid-unit", Span(end=1.0),
             "GridMask cell side d as a fraction U(LO, HI) of the shorter side (default 0.2:0.5).",
             metavar="F", field="unit_range", enables=False),
    )
    params: ClassVar[str] = ("cell d ~ U{0.2..0.5 x shorter side} pixels (--grid-unit); offsets U{0..d-1}; "
                             "square of side (1 - R) d dropped per cell (paper's r = R)")
    default: ClassVar[str] = "0.6"
    summary: ClassVar[str] = "GridMask (Chen et al. 2020), axis-aligned, black squares"
    ratio: float = 0.6
    unit_range: Range = (0.2, 0.5)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)) or \
                not 0.05 <= float(self.ratio) <= 0.95:
            raise ValueError(f"grid-mask={self.ratio!r} must be between 0.05 and 0.95")
        object.__setattr__(self, "unit_range", _check_range("grid-unit", self.unit_range, 0.0, 1.0, open_lo=True))

    def _units(self, size) -> tuple[int, int]:
        side = min(size)
        lo = max(2, math.ceil(self.unit_range[0] * side))
        return lo, max(lo, math.floor(self.unit_range[1] * side))

    def hole(self, unit: int) -> int:
        return min(unit - 1, max(1, round((1.0 - float(self.ratio)) * unit)))

    def sample(self, rng, size):
        lo, hi = self._units(size)
        unit = int(rng.integers(lo, hi + 1))
        return {"unit": unit, "hole": self.hole(unit), "dx": int(rng.integers(0, unit)),
                "dy": int(rng.integers(0, unit))}

    def check(self, params, size):
        check_keys(self.name, params, ("unit", "hole", "dx", "dy"))
        lo, hi = self._units(size)
        check_number(self.name, "unit", params["unit"], lo, hi, whole=True)
        if params["hole"] != self.hole(params["unit"]):
            raise ValueError(f"{self.name}: hole={params['hole']!r} is not (1 - {self.ratio}) x unit {params['unit']}")
        check_number(self.name, "dx", params["dx"], 0, params["unit"] - 1, whole=True)
        check_number(self.name, "dy", params["dy"], 0, params["unit"] - 1, whole=True)

    def apply(self, image, params):
        return grid_mask(image, params["unit"], params["hole"], params["dx"], params["dy"])


# canonical order within the family: blur-like sensor effects, then sensor noise, then occlusion
# (after the colour ops, before noise.py's filters, noise and compression); --help lists the flags
# in the same order
FAMILY = (MotionBlur, MedianBlur, Downscale, IsoNoise, CoarseDropout, GridMask)
FLAG_ORDER = FAMILY
