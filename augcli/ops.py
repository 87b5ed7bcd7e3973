"""The augmentation ops and the explicit ``OPS`` registry.

Each op is a small frozen dataclass:

- ``sample(rng, size) -> params`` draws its random parameters (plain JSON-ready values) from the
  generator it is given, for a canvas of ``size = (width, height)``;
- a geometric op turns params into a matrix, ``matrix(params, size) -> (3x3, new size)``, so the
  pipeline can compose all geometry into one resampling; ``apply(image, params)`` warps by that
  matrix alone (handy for tests and for using one op by itself);
- a pixel op has a pure ``apply(image, params) -> image``.

``p`` is the probability that the op is applied to an output (exact: one uniform draw ``< p``).
The registry's order is the canonical order in which ops are applied, whatever the flag order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Mapping

import numpy as np
from PIL import Image

from . import functional as F
from . import geometry as G

Range = tuple[float, float]
Params = dict[str, Any]


def _check_range(name: str, value: Range, lo: float | None = None, hi: float | None = None,
                 open_lo: bool = False) -> Range:
    if len(value) != 2:
        raise ValueError(f"{name}={value!r} should be a pair (low, high)")
    a, b = float(value[0]), float(value[1])
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"{name}={value!r} must be finite numbers")
    if a > b:
        raise ValueError(f"{name}={value!r}: low must not exceed high")
    if lo is not None and (a < lo or (open_lo and a <= lo)):
        raise ValueError(f"{name}={value!r} must be {'>' if open_lo else '>='} {lo}")
    if hi is not None and b > hi:
        raise ValueError(f"{name}={value!r} must be <= {hi}")
    return (a, b)


def _uniform(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


@dataclass(frozen=True, kw_only=True)
class Op:
    name: ClassVar[str]
    geometric: ClassVar[bool] = False
    flag: ClassVar[str] = ""  # the CLI flag(s) that enable the op
    params: ClassVar[str] = ""  # what is drawn, with units
    default: ClassVar[str] = ""  # a sensible starting value for the flag
    summary: ClassVar[str] = ""  # the scheme it implements
    p: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.p) <= 1.0:
            raise ValueError(f"{self.name}: probability p={self.p!r} must be between 0 and 1")

    def sample(self, rng: np.random.Generator, size: G.Size) -> Params:
        return {}

    def options(self) -> dict[str, Any]:
        """The op's settings as JSON-ready values (the manifest's record of the recipe)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True, kw_only=True)
class GeometricOp(Op):
    geometric: ClassVar[bool] = True

    def matrix(self, params: Mapping[str, Any], size: G.Size) -> tuple[np.ndarray, G.Size]:
        raise NotImplementedError

    def apply(self, image: Image.Image, params: Mapping[str, Any]) -> Image.Image:
        m, out_size = self.matrix(params, image.size)
        return F.warp(image, m, out_size)


@dataclass(frozen=True, kw_only=True)
class _OneRange(Op):
    """An op with one parameter ``param`` ~ U(the range held in field ``range_field``), that range
    checked against ``limits`` = (low, high, low excluded). Params: {param: float}."""

    range_field: ClassVar[str]
    param: ClassVar[str]
    limits: ClassVar[tuple[float | None, float | None, bool]] = (None, None, False)

    def __post_init__(self) -> None:
        super().__post_init__()
        lo, hi, open_lo = self.limits
        value = _check_range(self.name, getattr(self, self.range_field), lo, hi, open_lo=open_lo)
        object.__setattr__(self, self.range_field, value)

    def sample(self, rng, size):
        return {self.param: _uniform(rng, getattr(self, self.range_field))}


# ---------------------------------------------------------------------------------------------------
# geometry: the Keras set (canonical order: see OPS at the end)


@dataclass(frozen=True, kw_only=True)
class HFlip(GeometricOp):
    """Mirror left-right."""

    name: ClassVar[str] = "hflip"
    flag: ClassVar[str] = "--hflip"
    params: ClassVar[str] = "none; applied with probability p = 0.5"
    default: ClassVar[str] = "p = 0.5"
    summary: ClassVar[str] = "mirror left-right (Keras horizontal_flip)"
    p: float = 0.5

    def matrix(self, params, size):
        return G.hflip(size), size


@dataclass(frozen=True, kw_only=True)
class VFlip(GeometricOp):
    """Mirror top-bottom."""

    name: ClassVar[str] = "vflip"
    flag: ClassVar[str] = "--vflip"
    params: ClassVar[str] = "none; applied with probability p = 0.5"
    default: ClassVar[str] = "p = 0.5"
    summary: ClassVar[str] = "mirror top-bottom (Keras vertical_flip)"
    p: float = 0.5

    def matrix(self, params, size):
        return G.vflip(size), size


@dataclass(frozen=True, kw_only=True)
class Rotate(_OneRange, GeometricOp):
    """Rotate by ``angle`` ~ U(angle_range) degrees, counter-clockwise on screen, about the centre.
    Params: {"angle": float}."""

    name: ClassVar[str] = "rotate"
    flag: ClassVar[str] = "--rotate R"
    params: ClassVar[str] = "angle ~ U(-R, R) degrees; + = counter-clockwise, about the centre"
    default: ClassVar[str] = "-15:15"
    summary: ClassVar[str] = "rotation (Keras rotation_range)"
    range_field: ClassVar[str] = "angle_range"
    param: ClassVar[str] = "angle"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (-360.0, 360.0, False)
    angle_range: Range = (0.0, 0.0)

    def matrix(self, params, size):
        return G.rotation(params["angle"], size), size


@dataclass(frozen=True, kw_only=True)
class Shear(_OneRange, GeometricOp):
    """Shear by ``angle`` ~ U(angle_range) degrees (Keras' shear matrix). Params: {"angle": float}."""

    name: ClassVar[str] = "shear"
    flag: ClassVar[str] = "--shear S"
    params: ClassVar[str] = "angle ~ U(-S, S) degrees"
    default: ClassVar[str] = "-10:10"
    summary: ClassVar[str] = "shear (Keras shear_range, in degrees)"
    range_field: ClassVar[str] = "angle_range"
    param: ClassVar[str] = "angle"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (-89.0, 89.0, False)
    angle_range: Range = (0.0, 0.0)

    def matrix(self, params, size):
        return G.shear(params["angle"], size), size


@dataclass(frozen=True, kw_only=True)
class Zoom(GeometricOp):
    """Zoom by factors zx, zy ~ U(zoom_range), Keras' convention: input = z * output about the
    centre, so z < 1 enlarges the content. Independent x and y unless ``keep_aspect``.
    Params: {"zx": float, "zy": float}."""

    name: ClassVar[str] = "zoom"
    flag: ClassVar[str] = "--zoom Z"
    params: ClassVar[str] = "zx, zy ~ U(1-Z, 1+Z), independent unless --zoom-keep-aspect; < 1 enlarges"
    default: ClassVar[str] = "0.8:1.2"
    summary: ClassVar[str] = "zoom (Keras zoom_range)"
    zoom_range: Range = (1.0, 1.0)
    keep_aspect: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "zoom_range", _check_range("zoom", self.zoom_range, 0.0, 10.0, open_lo=True))

    def sample(self, rng, size):
        if self.keep_aspect:
            z = _uniform(rng, self.zoom_range)
            return {"zx": z, "zy": z}
        zx, zy = rng.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        return {"zx": float(zx), "zy": float(zy)}

    def matrix(self, params, size):
        return G.zoom(params["zx"], params["zy"], size), size


def _to_pixels(r: Range, extent: int) -> Range:
    """Keras' rule: a range whose magnitude is below 1 is a fraction of the extent, else pixels."""
    if max(abs(r[0]), abs(r[1])) < 1.0:
        return (r[0] * extent, r[1] * extent)
    return r


@dataclass(frozen=True, kw_only=True)
class Shift(GeometricOp):
    """Move the content by dx ~ U(width_range), dy ~ U(height_range): fractions of the width /
    height when below 1 in magnitude, pixels otherwise; positive = right / down. The shift is the
    last geometric step, so a marker moves by exactly (dx, dy). Params: {"dx": px, "dy": px}."""

    name: ClassVar[str] = "shift"
    flag: ClassVar[str] = "--width-shift S, --height-shift S"
    params: ClassVar[str] = "dx, dy ~ U(-S, S): a fraction of the width / height if |S| < 1, else pixels; + = right / down"
    default: ClassVar[str] = "-0.1:0.1"
    summary: ClassVar[str] = "translation (Keras width/height_shift_range)"
    width_range: Range = (0.0, 0.0)
    height_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "width_range", _check_range("width-shift", self.width_range))
        object.__setattr__(self, "height_range", _check_range("height-shift", self.height_range))

    def sample(self, rng, size):
        dx = _uniform(rng, _to_pixels(self.width_range, size[0]))
        dy = _uniform(rng, _to_pixels(self.height_range, size[1]))
        return {"dx": dx, "dy": dy}

    def matrix(self, params, size):
        return G.shift(params["dx"], params["dy"]), size


# ---------------------------------------------------------------------------------------------------
# pixel ops (canonical order follows the registry)


@dataclass(frozen=True, kw_only=True)
class ChannelShift(Op):
    """Add an offset ~ U(-intensity, intensity) (0-255 units) drawn independently per colour
    channel, clipped to the valid range. Params: {"offsets": [r, g, b]} (grey uses the first)."""

    name: ClassVar[str] = "channel_shift"
    flag: ClassVar[str] = "--channel-shift C"
    params: ClassVar[str] = "offset ~ U(-C, C) per colour channel, 0-255 units"
    default: ClassVar[str] = "-20:20"
    summary: ClassVar[str] = "add a per-channel offset (Keras channel_shift_range, but per channel)"
    intensity_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "intensity_range", _check_range("channel-shift", self.intensity_range, -255, 255))

    def sample(self, rng, size):
        return {"offsets": [float(v) for v in rng.uniform(*self.intensity_range, 3)]}

    def apply(self, image, params):
        return F.channel_shift(image, params["offsets"])


@dataclass(frozen=True, kw_only=True)
class Brightness(_OneRange):
    """Multiply colour values by ``factor`` ~ U(factor_range) (1 = unchanged; Keras
    brightness_range / PIL ImageEnhance.Brightness). Params: {"factor": float}."""

    name: ClassVar[str] = "brightness"
    flag: ClassVar[str] = "--brightness B"
    params: ClassVar[str] = "factor ~ U(1-B, 1+B); 1 = unchanged, 0 = black"
    default: ClassVar[str] = "0.8:1.2"
    summary: ClassVar[str] = "multiply values (Keras brightness_range, PIL ImageEnhance.Brightness)"
    range_field: ClassVar[str] = "factor_range"
    param: ClassVar[str] = "factor"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (0.0, 100.0, False)
    factor_range: Range = (1.0, 1.0)

    def apply(self, image, params):
        return F.brightness(image, params["factor"])


# ---------------------------------------------------------------------------------------------------
# geometry beyond Keras


@dataclass(frozen=True, kw_only=True)
class Rot90(GeometricOp):
    """Turn by ``k`` quarter turns counter-clockwise, k ~ U{0, 1, 2, 3} (exactly numpy.rot90; width
    and height swap for odd k). Lossless when it is the only geometry. Params: {"k": int}."""

    name: ClassVar[str] = "rot90"
    flag: ClassVar[str] = "--rot90"
    params: ClassVar[str] = "k ~ U{0, 1, 2, 3} quarter turns, counter-clockwise; odd k swaps width and height"
    default: ClassVar[str] = "on"
    summary: ClassVar[str] = "lossless rotation by a random multiple of 90 degrees"

    def sample(self, rng, size):
        return {"k": int(rng.integers(0, 4))}

    def matrix(self, params, size):
        return G.rot90(int(params["k"]), size)


CROP_MODES = ("random", "corners", "center")


@dataclass(frozen=True, kw_only=True)
class Crop(GeometricOp):
    """Crop a box keeping a fraction f ~ U(scale_range) of each side (whole pixels, aspect kept) and
    resize it back to the canvas size. ``mode``: ``random`` (anywhere), ``corners`` (one of the four
    corners or the centre, equally likely), ``center``. Params: {"box": [left, top, width, height]}."""

    name: ClassVar[str] = "crop"
    flag: ClassVar[str] = "--crop F, --crop-mode M"
    params: ClassVar[str] = ("fraction f ~ U(F, 1) of each side kept (box in whole pixels); M = random, "
                             "corners (4 corners or centre) or center")
    default: ClassVar[str] = "0.8:1"
    summary: ClassVar[str] = "crop resized back to the image size (random-resized crop; corners = five-crop)"
    scale_range: Range = (1.0, 1.0)
    mode: str = "random"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "scale_range", _check_range("crop", self.scale_range, 0.0, 1.0, open_lo=True))
        if self.mode not in CROP_MODES:
            raise ValueError(f"crop-mode={self.mode!r} must be one of {', '.join(CROP_MODES)}")

    def sample(self, rng, size):
        w, h = size
        f = _uniform(rng, self.scale_range)
        bw, bh = max(1, round(f * w)), max(1, round(f * h))
        if self.mode == "random":
            left, top = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
        else:
            where = int(rng.integers(0, 5)) if self.mode == "corners" else 4
            # 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right, 4 centre (rounded down)
            left = [0, w - bw, 0, w - bw, (w - bw) // 2][where]
            top = [0, 0, h - bh, h - bh, (h - bh) // 2][where]
        return {"box": [left, top, bw, bh]}

    def matrix(self, params, size):
        return G.box_to_canvas(tuple(params["box"]), size), size


@dataclass(frozen=True, kw_only=True)
class Perspective(GeometricOp):
    """Projective warp: the output's four corners show the input's corners each moved by
    U(-S, S) x (width, height) independently. Params: {"corners": [[dx, dy] x 4]} in pixels, for
    the top-left, top-right, bottom-right and bottom-left corners."""

    name: ClassVar[str] = "perspective"
    flag: ClassVar[str] = "--perspective S"
    params: ClassVar[str] = "each corner moved by U(-S, S) x (width, height), independently; S <= 0.3"
    default: ClassVar[str] = "0.05"
    summary: ClassVar[str] = "projective (four-point) warp, composed with the affine geometry"
    distortion: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.distortion) and 0.0 <= self.distortion <= 0.3):
            raise ValueError(f"perspective={self.distortion!r} must be between 0 and 0.3")

    def sample(self, rng, size):
        d = rng.uniform(-self.distortion, self.distortion, (4, 2)) * np.asarray(size, dtype=float)
        return {"corners": [[float(dx), float(dy)] for dx, dy in d]}

    def matrix(self, params, size):
        w, h = size
        edges = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
        return G.homography(edges, edges + np.asarray(params["corners"], dtype=float)), size


# ---------------------------------------------------------------------------------------------------
# photometric beyond Keras


@dataclass(frozen=True, kw_only=True)
class _Factor(_OneRange):
    """Shared shape of the one-factor colour ops: factor ~ U(factor_range). Params: {"factor": float}."""

    range_field: ClassVar[str] = "factor_range"
    param: ClassVar[str] = "factor"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (0.0, 100.0, False)
    factor_range: Range = (1.0, 1.0)


@dataclass(frozen=True, kw_only=True)
class Contrast(_Factor):
    """Scale the distance from the mean luma by ``factor`` (PIL ImageEnhance.Contrast)."""

    name: ClassVar[str] = "contrast"
    flag: ClassVar[str] = "--contrast C"
    params: ClassVar[str] = "factor ~ U(1-C, 1+C); 1 = unchanged, 0 = flat mean grey"
    default: ClassVar[str] = "0.8:1.2"
    summary: ClassVar[str] = "contrast about the mean luma (PIL ImageEnhance.Contrast)"

    def apply(self, image, params):
        return F.contrast(image, params["factor"])


@dataclass(frozen=True, kw_only=True)
class Saturation(_Factor):
    """Blend each pixel with its luma by ``factor`` (PIL ImageEnhance.Color); a no-op on grey."""

    name: ClassVar[str] = "saturation"
    flag: ClassVar[str] = "--saturation S"
    params: ClassVar[str] = "factor ~ U(1-S, 1+S); 1 = unchanged, 0 = grey; no-op on grey images"
    default: ClassVar[str] = "0.8:1.2"
    summary: ClassVar[str] = "colour saturation (PIL ImageEnhance.Color, colour jitter)"

    def apply(self, image, params):
        return F.saturation(image, params["factor"])


@dataclass(frozen=True, kw_only=True)
class Hue(_OneRange):
    """Turn the HSV hue by ``degrees`` ~ U(degree_range); a no-op on grey. Params: {"degrees": float}."""

    name: ClassVar[str] = "hue"
    flag: ClassVar[str] = "--hue DEG"
    params: ClassVar[str] = "hue turned by U(-DEG, DEG) degrees (HSV); no-op on grey images"
    default: ClassVar[str] = "-18:18"
    summary: ClassVar[str] = "hue rotation (colour jitter)"
    range_field: ClassVar[str] = "degree_range"
    param: ClassVar[str] = "degrees"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (-180.0, 180.0, False)
    degree_range: Range = (0.0, 0.0)

    def apply(self, image, params):
        return F.hue(image, params["degrees"])


@dataclass(frozen=True, kw_only=True)
class Gamma(_OneRange):
    """Gamma curve ``out = white * (in / white) ** gamma``, gamma ~ U(gamma_range).
    Params: {"gamma": float}."""

    name: ClassVar[str] = "gamma"
    flag: ClassVar[str] = "--gamma G"
    params: ClassVar[str] = "gamma ~ U(1-G, 1+G); out = in^gamma on 0..1; > 1 darkens mid-tones"
    default: ClassVar[str] = "0.8:1.2"
    summary: ClassVar[str] = "gamma / exposure curve (albumentations RandomGamma)"
    range_field: ClassVar[str] = "gamma_range"
    param: ClassVar[str] = "gamma"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (0.0, 10.0, True)
    gamma_range: Range = (1.0, 1.0)

    def apply(self, image, params):
        return F.gamma(image, params["gamma"])


@dataclass(frozen=True, kw_only=True)
class Lighting(Op):
    """Uneven illumination: values times ``1 + strength * t``, t running linearly from -1 to +1
    across the image towards ``angle`` ~ U(0, 360) degrees (0 = right, 90 = up); strength ~
    U(strength_range). Params: {"angle": float, "strength": float}."""

    name: ClassVar[str] = "lighting"
    flag: ClassVar[str] = "--lighting S"
    params: ClassVar[str] = ("gain 1 + s*t, t from -1 to +1 across the image towards a direction ~ U(0, 360) "
                             "degrees; s ~ U(0, S)")
    default: ClassVar[str] = "0:0.3"
    summary: ClassVar[str] = "linear illumination gradient in a random direction"
    strength_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "strength_range", _check_range("lighting", self.strength_range, 0.0, 1.0))

    def sample(self, rng, size):
        return {"angle": float(rng.uniform(0.0, 360.0)), "strength": _uniform(rng, self.strength_range)}

    def apply(self, image, params):
        return F.lighting(image, params["angle"], params["strength"])


@dataclass(frozen=True, kw_only=True)
class Grayscale(Op):
    """Replace colour by its luma, keeping the bands (RGB stays RGB). Give it a probability:
    ``--grayscale P`` is this op with p = P. A no-op on grey images. Params: none."""

    name: ClassVar[str] = "grayscale"
    flag: ClassVar[str] = "--grayscale P"
    params: ClassVar[str] = "none; applied with probability P; the output keeps its bands (RGB stays RGB)"
    default: ClassVar[str] = "0.1"
    summary: ClassVar[str] = "random greyscale (601-2 luma, as Pillow's convert(\"L\"))"

    def apply(self, image, params):
        return F.grayscale(image)


# ---------------------------------------------------------------------------------------------------
# filters, occlusion, noise, compression


@dataclass(frozen=True, kw_only=True)
class Blur(_OneRange):
    """Gaussian blur of standard deviation ``sigma`` ~ U(sigma_range) pixels (a true Gaussian,
    truncated at 4 sigma, edges replicated). Params: {"sigma": float}."""

    name: ClassVar[str] = "blur"
    flag: ClassVar[str] = "--blur R"
    params: ClassVar[str] = "sigma ~ U(0, R) pixels (Gaussian standard deviation)"
    default: ClassVar[str] = "0.5:3"
    summary: ClassVar[str] = "Gaussian blur (scipy.ndimage.gaussian_filter, mode nearest)"
    range_field: ClassVar[str] = "sigma_range"
    param: ClassVar[str] = "sigma"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (0.0, 50.0, False)
    sigma_range: Range = (0.0, 0.0)

    def apply(self, image, params):
        return F.blur(image, params["sigma"])


@dataclass(frozen=True, kw_only=True)
class Erase(Op):
    """Random erasing / cutout: k ~ U{1..max_count} rectangles, each covering U(area_range) of the
    image with aspect ratio (w/h) log-uniform in aspect_range, at a uniform position, filled with a
    uniform random solid colour. Params: {"boxes": [[x, y, w, h], ...], "colours": [[r, g, b], ...]}."""

    name: ClassVar[str] = "erase"
    flag: ClassVar[str] = "--erase N"
    params: ClassVar[str] = ("k ~ U{1..N} rectangles, each U(2%, 20%) of the area, aspect log-U(0.3, 3.3), "
                             "random solid colour")
    default: ClassVar[str] = "1"
    summary: ClassVar[str] = "random erasing / cutout"
    max_count: int = 1
    area_range: Range = (0.02, 0.2)
    aspect_range: Range = (0.3, 3.3)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.max_count, int) or not 1 <= self.max_count <= 100:
            raise ValueError(f"erase={self.max_count!r} must be a whole number between 1 and 100")
        object.__setattr__(self, "area_range", _check_range("erase area", self.area_range, 0.0, 1.0, open_lo=True))
        object.__setattr__(self, "aspect_range", _check_range("erase aspect", self.aspect_range, 0.0, open_lo=True))

    def sample(self, rng, size):
        w, h = size
        boxes, colours = [], []
        for _ in range(int(rng.integers(1, self.max_count + 1))):
            area = _uniform(rng, self.area_range) * w * h
            aspect = math.exp(rng.uniform(math.log(self.aspect_range[0]), math.log(self.aspect_range[1])))
            bw = min(w, max(1, round(math.sqrt(area * aspect))))
            bh = min(h, max(1, round(math.sqrt(area / aspect))))
            x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
            boxes.append([x, y, bw, bh])
            colours.append([float(c) for c in rng.uniform(0.0, 255.0, 3)])
        return {"boxes": boxes, "colours": colours}

    def apply(self, image, params):
        return F.erase(image, params["boxes"], params["colours"])


def _noise_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**32))


@dataclass(frozen=True, kw_only=True)
class Noise(Op):
    """Additive Gaussian noise of standard deviation ``sigma`` ~ U(sigma_range), 0-255 units,
    independent per pixel and band. Params: {"sigma": float, "noise_seed": int}."""

    name: ClassVar[str] = "noise"
    flag: ClassVar[str] = "--noise SIGMA"
    params: ClassVar[str] = "sigma ~ U(0, SIGMA), 0-255 units, per pixel and colour band"
    default: ClassVar[str] = "0:15"
    summary: ClassVar[str] = "additive Gaussian noise"
    sigma_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "sigma_range", _check_range("noise", self.sigma_range, 0.0, 255.0))

    def sample(self, rng, size):
        return {"sigma": _uniform(rng, self.sigma_range), "noise_seed": _noise_seed(rng)}

    def apply(self, image, params):
        return F.gaussian_noise(image, params["sigma"], params["noise_seed"])


@dataclass(frozen=True, kw_only=True)
class SaltPepper(Op):
    """Impulse noise: each pixel, with probability ``amount`` ~ U(amount_range), becomes white
    (a fraction ``salt_ratio`` of them) or black. Params: {"amount": float, "noise_seed": int}."""

    name: ClassVar[str] = "salt_pepper"
    flag: ClassVar[str] = "--salt-pepper A, --salt-ratio R"
    params: ClassVar[str] = "fraction of pixels ~ U(0, A); a share R of them (default 0.5) white, the rest black"
    default: ClassVar[str] = "0.01:0.06"
    summary: ClassVar[str] = "salt-and-pepper (impulse) noise"
    amount_range: Range = (0.0, 0.0)
    salt_ratio: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "amount_range", _check_range("salt-pepper", self.amount_range, 0.0, 1.0))
        if not 0.0 <= float(self.salt_ratio) <= 1.0:
            raise ValueError(f"salt-ratio={self.salt_ratio!r} must be between 0 and 1")

    def sample(self, rng, size):
        return {"amount": _uniform(rng, self.amount_range), "noise_seed": _noise_seed(rng)}

    def apply(self, image, params):
        return F.salt_pepper(image, params["amount"], self.salt_ratio, params["noise_seed"])


@dataclass(frozen=True, kw_only=True)
class JpegArtifacts(Op):
    """JPEG compression artifacts: a round trip through Pillow's JPEG encoder at an integer
    ``quality`` ~ U{lo..hi}, in memory. Params: {"quality": int}."""

    name: ClassVar[str] = "jpeg_artifacts"
    flag: ClassVar[str] = "--jpeg-artifacts Q"
    params: ClassVar[str] = "quality ~ U{Q..100} (whole numbers; or LO:HI); alpha kept; 16-bit at 8-bit precision"
    default: ClassVar[str] = "50:95"
    summary: ClassVar[str] = "JPEG re-encoding in memory (compression artifacts)"
    quality_range: Range = (95.0, 95.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        q = _check_range("jpeg-artifacts", self.quality_range, 1.0, 100.0)
        if not all(float(v).is_integer() for v in q):
            raise ValueError(f"jpeg-artifacts={self.quality_range!r}: qualities must be whole numbers")
        object.__setattr__(self, "quality_range", q)

    def sample(self, rng, size):
        return {"quality": int(rng.integers(int(self.quality_range[0]), int(self.quality_range[1]) + 1))}

    def apply(self, image, params):
        return F.jpeg_round_trip(image, params["quality"])


# The canonical order: geometry (composed into one warp), photometric, filters and noise, compression.
OPS: dict[str, type[Op]] = {
    op.name: op
    for op in (
        Rot90, Crop, HFlip, VFlip, Rotate, Shear, Zoom, Shift, Perspective,
        Brightness, Contrast, Saturation, Hue, Gamma, Lighting, ChannelShift, Grayscale,
        Blur, Erase, Noise, SaltPepper,
        JpegArtifacts,
    )
}
ORDER = {name: i for i, name in enumerate(OPS)}


def from_record(name: str, options: Mapping[str, Any]) -> Op:
    """Rebuild an op from its ``options()`` (as stored in a manifest)."""
    cls = OPS[name]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return cls(**kwargs)


def build(
    *,
    rot90: bool = False,
    crop: Range | None = None,
    crop_mode: str | None = None,
    rotate: Range | None = None,
    width_shift: Range | None = None,
    height_shift: Range | None = None,
    shear: Range | None = None,
    zoom: Range | None = None,
    zoom_keep_aspect: bool = False,
    hflip: bool = False,
    vflip: bool = False,
    perspective: float | None = None,
    brightness: Range | None = None,
    contrast: Range | None = None,
    saturation: Range | None = None,
    hue: Range | None = None,
    gamma: Range | None = None,
    lighting: Range | None = None,
    channel_shift: Range | None = None,
    grayscale: float | None = None,
    blur: Range | None = None,
    erase: int | None = None,
    noise: Range | None = None,
    salt_pepper: Range | None = None,
    salt_ratio: float | None = None,
    jpeg_artifacts: Range | None = None,
    probabilities: Mapping[str, float] | None = None,
) -> tuple[Op, ...]:
    """The ops for a set of flag values (None / False = op off); ``probabilities`` overrides p."""
    if crop_mode is not None and crop is None:
        raise ValueError("--crop-mode needs --crop")
    if salt_ratio is not None and salt_pepper is None:
        raise ValueError("--salt-ratio needs --salt-pepper")
    ops: list[Op] = []
    if rot90:
        ops.append(Rot90())
    if crop is not None:
        ops.append(Crop(scale_range=crop, mode=crop_mode or "random"))
    if hflip:
        ops.append(HFlip())
    if vflip:
        ops.append(VFlip())
    if rotate is not None:
        ops.append(Rotate(angle_range=rotate))
    if shear is not None:
        ops.append(Shear(angle_range=shear))
    if zoom is not None:
        ops.append(Zoom(zoom_range=zoom, keep_aspect=zoom_keep_aspect))
    if width_shift is not None or height_shift is not None:
        ops.append(Shift(width_range=width_shift or (0.0, 0.0), height_range=height_shift or (0.0, 0.0)))
    if perspective is not None:
        ops.append(Perspective(distortion=perspective))
    for cls, value in ((Brightness, brightness), (Contrast, contrast), (Saturation, saturation)):
        if value is not None:
            ops.append(cls(factor_range=value))
    if hue is not None:
        ops.append(Hue(degree_range=hue))
    if gamma is not None:
        ops.append(Gamma(gamma_range=gamma))
    if lighting is not None:
        ops.append(Lighting(strength_range=lighting))
    if channel_shift is not None:
        ops.append(ChannelShift(intensity_range=channel_shift))
    if grayscale is not None:
        ops.append(Grayscale(p=grayscale))
    if blur is not None:
        ops.append(Blur(sigma_range=blur))
    if erase is not None:
        ops.append(Erase(max_count=erase))
    if noise is not None:
        ops.append(Noise(sigma_range=noise))
    if salt_pepper is not None:
        ops.append(SaltPepper(amount_range=salt_pepper, salt_ratio=0.5 if salt_ratio is None else salt_ratio))
    if jpeg_artifacts is not None:
        ops.append(JpegArtifacts(quality_range=jpeg_artifacts))
    probabilities = dict(probabilities or {})
    unknown = sorted(set(probabilities) - set(OPS))
    if unknown:
        raise ValueError(f"unknown op {unknown[0]!r} in a probability; ops are: {', '.join(OPS)}")
    unused = sorted(set(probabilities) - {op.name for op in ops})
    if unused:
        raise ValueError(f"a probability is given for op {unused[0]!r}, which is not enabled by its flag")
    return tuple(replace(op, p=probabilities[op.name]) if op.name in probabilities else op for op in ops)


def table() -> list[dict[str, str]]:
    """One row per op, in canonical order: the data ``augcli ops`` prints and the README shows."""
    return [{"op": name, "flag": cls.flag, "params": cls.params, "default": cls.default, "scheme": cls.summary}
            for name, cls in OPS.items()]
