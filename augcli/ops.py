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
    summary: ClassVar[str] = ""
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


# ---------------------------------------------------------------------------------------------------
# geometry (canonical order: hflip, vflip, rotate, shear, zoom, shift)


@dataclass(frozen=True, kw_only=True)
class HFlip(GeometricOp):
    """Mirror left-right."""

    name: ClassVar[str] = "hflip"
    summary: ClassVar[str] = "mirror left-right (Keras horizontal_flip); applied with probability 0.5"
    p: float = 0.5

    def matrix(self, params, size):
        return G.hflip(size), size


@dataclass(frozen=True, kw_only=True)
class VFlip(GeometricOp):
    """Mirror top-bottom."""

    name: ClassVar[str] = "vflip"
    summary: ClassVar[str] = "mirror top-bottom (Keras vertical_flip); applied with probability 0.5"
    p: float = 0.5

    def matrix(self, params, size):
        return G.vflip(size), size


@dataclass(frozen=True, kw_only=True)
class Rotate(GeometricOp):
    """Rotate by ``angle`` ~ U(angle_range) degrees, counter-clockwise on screen, about the centre.
    Params: {"angle": float}."""

    name: ClassVar[str] = "rotate"
    summary: ClassVar[str] = "rotation by U(lo, hi) degrees, counter-clockwise positive (Keras rotation_range)"
    angle_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "angle_range", _check_range("rotate", self.angle_range, -360, 360))

    def sample(self, rng, size):
        return {"angle": _uniform(rng, self.angle_range)}

    def matrix(self, params, size):
        return G.rotation(params["angle"], size), size


@dataclass(frozen=True, kw_only=True)
class Shear(GeometricOp):
    """Shear by ``angle`` ~ U(angle_range) degrees (Keras' shear matrix). Params: {"angle": float}."""

    name: ClassVar[str] = "shear"
    summary: ClassVar[str] = "shear by U(lo, hi) degrees (Keras shear_range, degrees)"
    angle_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "angle_range", _check_range("shear", self.angle_range, -89, 89))

    def sample(self, rng, size):
        return {"angle": _uniform(rng, self.angle_range)}

    def matrix(self, params, size):
        return G.shear(params["angle"], size), size


@dataclass(frozen=True, kw_only=True)
class Zoom(GeometricOp):
    """Zoom by factors zx, zy ~ U(zoom_range), Keras' convention: input = z * output about the
    centre, so z < 1 enlarges the content. Independent x and y unless ``keep_aspect``.
    Params: {"zx": float, "zy": float}."""

    name: ClassVar[str] = "zoom"
    summary: ClassVar[str] = "zoom factors U(lo, hi); below 1 enlarges (Keras zoom_range); x, y independent"
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
    summary: ClassVar[str] = "move content by U(lo, hi): fraction of width/height if < 1, else pixels; + = right/down"
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
    summary: ClassVar[str] = "add U(-C, C) to each colour channel independently (0-255 units)"
    intensity_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "intensity_range", _check_range("channel-shift", self.intensity_range, -255, 255))

    def sample(self, rng, size):
        return {"offsets": [float(v) for v in rng.uniform(*self.intensity_range, 3)]}

    def apply(self, image, params):
        return F.channel_shift(image, params["offsets"])


@dataclass(frozen=True, kw_only=True)
class Brightness(Op):
    """Multiply colour values by ``factor`` ~ U(factor_range) (1 = unchanged; Keras
    brightness_range / PIL ImageEnhance.Brightness). Params: {"factor": float}."""

    name: ClassVar[str] = "brightness"
    summary: ClassVar[str] = "multiply values by U(lo, hi); 1 = unchanged (Keras brightness_range)"
    factor_range: Range = (1.0, 1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "factor_range", _check_range("brightness", self.factor_range, 0.0, 100.0))

    def sample(self, rng, size):
        return {"factor": _uniform(rng, self.factor_range)}

    def apply(self, image, params):
        return F.brightness(image, params["factor"])


# The canonical order: geometry first (composed into one warp), then photometric ops.
OPS: dict[str, type[Op]] = {
    op.name: op
    for op in (HFlip, VFlip, Rotate, Shear, Zoom, Shift, Brightness, ChannelShift)
}
ORDER = {name: i for i, name in enumerate(OPS)}


def from_record(name: str, options: Mapping[str, Any]) -> Op:
    """Rebuild an op from its ``options()`` (as stored in a manifest)."""
    cls = OPS[name]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return cls(**kwargs)


def build(
    *,
    rotate: Range | None = None,
    width_shift: Range | None = None,
    height_shift: Range | None = None,
    shear: Range | None = None,
    zoom: Range | None = None,
    zoom_keep_aspect: bool = False,
    hflip: bool = False,
    vflip: bool = False,
    brightness: Range | None = None,
    channel_shift: Range | None = None,
    probabilities: Mapping[str, float] | None = None,
) -> tuple[Op, ...]:
    """The ops for a set of flag values (None / False = op off); ``probabilities`` overrides p."""
    ops: list[Op] = []
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
    if brightness is not None:
        ops.append(Brightness(factor_range=brightness))
    if channel_shift is not None:
        ops.append(ChannelShift(intensity_range=channel_shift))
    probabilities = dict(probabilities or {})
    unknown = sorted(set(probabilities) - set(OPS))
    if unknown:
        raise ValueError(f"unknown op {unknown[0]!r} in a probability; ops are: {', '.join(OPS)}")
    unused = sorted(set(probabilities) - {op.name for op in ops})
    if unused:
        raise ValueError(f"a probability is given for op {unused[0]!r}, which is not enabled by its flag")
    return tuple(replace(op, p=probabilities[op.name]) if op.name in probabilities else op for op in ops)
