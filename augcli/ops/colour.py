"""Colour ops: pure pixel functions on the colour bands (alpha is never touched)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import F, Op, Range, check_range, OneRange, uniform, check_keys, check_list, check_number
from .flags import Flag, Number, Span


@dataclass(frozen=True, kw_only=True)
class _Factor(OneRange):
    """Shared shape of the one-factor colour ops: factor ~ U(factor_range). Params: {"factor": float}."""

    range_field: ClassVar[str] = "factor_range"
    param: ClassVar[str] = "factor"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (0.0, 100.0, False)
    factor_range: Range = (1.0, 1.0)


@dataclass(frozen=True, kw_only=True)
class Brightness(_Factor):
    """Multiply colour values by ``factor`` ~ U(factor_range) (1 = unchanged; Keras
    brightness_range / PIL ImageEnhance.Brightness). Params: {"factor": float}."""

    name: ClassVar[str] = "brightness"
    fresh: ClassVar[bool] = True
    in_place: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--brightness", Span(centre=1.0),
             "Multiply values by U(LO, HI); 1 = unchanged (a single B means 1-B:1+B).",
             metavar="B", field="factor_range"),
    )
    params: ClassVar[str] = "factor ~ U(1-B, 1+B); 1 = unchanged, 0 = black"
    default: ClassVar[str] = "0.8:1.2"
    summary: ClassVar[str] = "multiply values (Keras brightness_range, PIL ImageEnhance.Brightness)"

    def apply(self, image, params, *, in_place=False):
        return F.brightness(image, params["factor"], in_place=in_place)


@dataclass(frozen=True, kw_only=True)
class Contrast(_Factor):
    """Scale the distance from the mean luma by ``factor`` (PIL ImageEnhance.Contrast)."""

    name: ClassVar[str] = "contrast"
    fresh: ClassVar[bool] = True
    in_place: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--contrast", Span(centre=1.0),
             "Contrast factor U(LO, HI) about the mean luma; 1 = unchanged (a single C means 1-C:1+C).",
             metavar="C", field="factor_range"),
    )
    params: ClassVar[str] = "factor ~ U(1-C, 1+C); 1 = unchanged, 0 = flat mean grey"
    default: ClassVar[str] = "0.8:1.2"
    summary: ClassVar[str] = "contrast about the mean luma (PIL ImageEnhance.Contrast)"

    def apply(self, image, params, *, in_place=False):
        return F.contrast(image, params["factor"], in_place=in_place)


@dataclass(frozen=True, kw_only=True)
class Saturation(_Factor):
    """Blend each pixel with its luma by ``factor`` (PIL ImageEnhance.Color); a no-op on grey."""

    name: ClassVar[str] = "saturation"
    fresh: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--saturation", Span(centre=1.0),
             "Saturation factor U(LO, HI); 0 = grey, 1 = unchanged (a single S means 1-S:1+S).",
             metavar="S", field="factor_range"),
    )
    params: ClassVar[str] = "factor ~ U(1-S, 1+S); 1 = unchanged, 0 = grey; no-op on grey images"
    default: ClassVar[str] = "0.8:1.2"
    summary: ClassVar[str] = "colour saturation (PIL ImageEnhance.Color, colour jitter)"

    def apply(self, image, params):
        return F.saturation(image, params["factor"])


@dataclass(frozen=True, kw_only=True)
class Hue(OneRange):
    """Turn the HSV hue by ``degrees`` ~ U(degree_range); a no-op on grey. Params: {"degrees": float}."""

    name: ClassVar[str] = "hue"
    fresh: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--hue", Span(), "Turn the hue by U(-DEG, DEG) degrees (or LO:HI).", metavar="DEG", field="degree_range"),
    )
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
class Gamma(OneRange):
    """Gamma curve ``out = white * (in / white) ** gamma``, gamma ~ U(gamma_range).
    Params: {"gamma": float}."""

    name: ClassVar[str] = "gamma"
    fresh: ClassVar[bool] = True
    in_place: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--gamma", Span(centre=1.0),
             "Gamma U(LO, HI) on values scaled to 0..1; > 1 darkens (a single G means 1-G:1+G).",
             metavar="G", field="gamma_range"),
    )
    params: ClassVar[str] = "gamma ~ U(1-G, 1+G); out = in^gamma on 0..1; > 1 darkens mid-tones"
    default: ClassVar[str] = "0.8:1.2"
    summary: ClassVar[str] = "gamma / exposure curve (albumentations RandomGamma)"
    range_field: ClassVar[str] = "gamma_range"
    param: ClassVar[str] = "gamma"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (0.0, 10.0, True)
    gamma_range: Range = (1.0, 1.0)

    def apply(self, image, params, *, in_place=False):
        return F.gamma(image, params["gamma"], in_place=in_place)


@dataclass(frozen=True, kw_only=True)
class Lighting(Op):
    """Uneven illumination: values times ``1 + strength * t``, t running linearly from -1 to +1
    across the image towards ``angle`` ~ U(0, 360) degrees (0 = right, 90 = up); strength ~
    U(strength_range). Params: {"angle": float, "strength": float}."""

    name: ClassVar[str] = "lighting"
    fresh: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--lighting", Span(start=0.0),
             "Illumination gradient of strength U(0, S) (or LO:HI) in a random direction.",
             metavar="S", field="strength_range"),
    )
    params: ClassVar[str] = ("gain 1 + s*t, t from -1 to +1 across the image towards a direction ~ U(0, 360) "
                             "degrees; s ~ U(0, S)")
    default: ClassVar[str] = "0:0.3"
    summary: ClassVar[str] = "linear illumination gradient in a random direction"
    strength_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "strength_range", check_range("lighting", self.strength_range, 0.0, 1.0))

    def sample(self, rng, size):
        return {"angle": float(rng.uniform(0.0, 360.0)), "strength": uniform(rng, self.strength_range)}

    def check(self, params, size):
        check_keys(self.name, params, ("angle", "strength"))
        check_number(self.name, "angle", params["angle"], 0.0, 360.0)
        check_number(self.name, "strength", params["strength"], *self.strength_range)

    def apply(self, image, params):
        return F.lighting(image, params["angle"], params["strength"])


@dataclass(frozen=True, kw_only=True)
class ChannelShift(Op):
    """Add an offset ~ U(-intensity, intensity) (0-255 units) drawn independently per colour
    channel, clipped to the valid range. Params: {"offsets": [r, g, b]} (grey uses the first)."""

    name: ClassVar[str] = "channel_shift"
    fresh: ClassVar[bool] = True
    in_place: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--channel-shift", Span(), "Add U(-C, C) (0-255 units) to each colour channel, drawn per channel.",
             metavar="C", field="intensity_range"),
    )
    params: ClassVar[str] = "offset ~ U(-C, C) per colour channel, 0-255 units"
    default: ClassVar[str] = "-20:20"
    summary: ClassVar[str] = "add a per-channel offset (Keras channel_shift_range, but per channel)"
    intensity_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "intensity_range", check_range("channel-shift", self.intensity_range, -255, 255))

    def sample(self, rng, size):
        return {"offsets": [float(v) for v in rng.uniform(*self.intensity_range, 3)]}

    def check(self, params, size):
        check_keys(self.name, params, ("offsets",))
        for v in check_list(self.name, "offsets", params["offsets"], 3):
            check_number(self.name, "offset", v, *self.intensity_range)

    def apply(self, image, params, *, in_place=False):
        return F.channel_shift(image, params["offsets"], in_place=in_place)


@dataclass(frozen=True, kw_only=True)
class Grayscale(Op):
    """Replace colour by its luma, keeping the bands (RGB stays RGB). Give it a probability:
    ``--grayscale P`` is this op with p = P. A no-op on grey images. Params: none."""

    name: ClassVar[str] = "grayscale"
    fresh: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--grayscale", Number(0.0, 1.0), "Convert to grey (keeping the bands) with probability P.",
             metavar="P", field="p"),
    )
    params: ClassVar[str] = "none; applied with probability P; the output keeps its bands (RGB stays RGB)"
    default: ClassVar[str] = "0.1"
    summary: ClassVar[str] = "random greyscale (601-2 luma, as Pillow's convert(\"L\"))"

    def apply(self, image, params):
        return F.grayscale(image)


# canonical order within the family; --help lists the flags in the same order
FAMILY = (Brightness, Contrast, Saturation, Hue, Gamma, Lighting, ChannelShift, Grayscale)
FLAG_ORDER = FAMILY
