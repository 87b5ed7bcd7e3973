"""Sensor, motion and occlusion: motion blur, median blur, downscale, ISO noise, coarse dropout and
GridMask. They run after the colour ops and before the filters and noise of ``noise.py``.

None of them moves geometry, so labels are carried unchanged: an object under a dropout hole or a
grid square is kept (the label-aware ``--erase-dropped`` rules are not applied to these ops yet).

8-bit images (L, LA, RGB, RGBA) go through augcli's integer kernels or integer numpy, so the bytes
depend on neither the CPU nor the kernel path; 16-bit and float images use numpy (the same rules,
in their own units). Alpha is never changed. The image code is in ``sensor_image``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .base import (Op, Range, check_box, check_keys, check_list, check_number, check_range, check_whole_range,
                   noise_seed, uniform)
from .flags import Choice, Flag, Number, Span
from .sensor_image import DOWNSCALE_FILTERS, DROPOUT_FILLS, downscale, fill_holes, grid_mask, iso_noise, median_blur, motion_blur

if TYPE_CHECKING:
    import numpy as np


def _odd_range(name: str, value: Range, lo: int, hi: int) -> Range:
    """A range of odd whole window sizes within [lo, hi] (ValueError otherwise)."""
    a, b = check_range(name, value, lo, hi)
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
        object.__setattr__(self, "angle_range", check_range("motion-angle", self.angle_range, -360.0, 360.0))

    def sample(self, rng, size):
        return {"length": _draw_odd(rng, self.length_range), "angle": uniform(rng, self.angle_range)}

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
    """Lose resolution: resize to ``scale`` ~ U(scale_range) of each side and back with ``filter``
    (bilinear: area averaging down, bilinear up; the others Pillow's, both ways; sensor_image.downscale).
    Params: {"scale": float}."""

    name: ClassVar[str] = "downscale"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--downscale", Span(end=1.0),
             "Resize to a fraction U(F, 1) (or LO:HI) of each side and back (lost resolution).",
             metavar="F", field="scale_range"),
        Flag("--downscale-filter", Choice(DOWNSCALE_FILTERS),
             "Resampling filter of --downscale: nearest (default), box, bicubic (Pillow's, both ways) or "
             "bilinear (area average down, bilinear up).",
             metavar="M", field="filter", enables=False),
    )
    params: ClassVar[str] = ("scale ~ U(F, 1) of each side (0.05 <= F); down and back up with filter M = nearest "
                             "(default), box, bicubic or bilinear (area average down, bilinear up)")
    default: ClassVar[str] = "0.25:0.5"
    summary: ClassVar[str] = "downscale and upscale (albumentations Downscale; Pillow's resize, augcli's bilinear)"
    scale_range: Range = (1.0, 1.0)
    filter: str = "nearest"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "scale_range", check_range("downscale", self.scale_range, 0.05, 1.0))
        if self.filter not in DOWNSCALE_FILTERS:
            raise ValueError(f"downscale-filter={self.filter!r} must be one of {', '.join(DOWNSCALE_FILTERS)}")

    def sample(self, rng, size):
        return {"scale": uniform(rng, self.scale_range)}

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
        object.__setattr__(self, "sigma_range", check_range("iso-noise", self.sigma_range, 0.0, 255.0))
        if isinstance(self.colour, bool) or not isinstance(self.colour, (int, float)) or \
                not 0.0 <= float(self.colour) <= 1.0:
            raise ValueError(f"iso-colour={self.colour!r} must be between 0 and 1")

    def sample(self, rng, size):
        return {"sigma": uniform(rng, self.sigma_range), "noise_seed": noise_seed(rng)}

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
        object.__setattr__(self, "count_range", check_whole_range("coarse-dropout", self.count_range, 1, 1000, "counts"))
        object.__setattr__(self, "size_range", check_range("dropout-size", self.size_range, 0.0, 1.0, open_lo=True))
        if self.fill not in DROPOUT_FILLS:
            raise ValueError(f"dropout-fill={self.fill!r} must be one of {', '.join(DROPOUT_FILLS)}")

    def _keys(self) -> tuple[str, ...]:
        return {"random": ("holes", "colours"), "noise": ("holes", "noise_seed")}.get(self.fill, ("holes",))

    def sample(self, rng, size):
        w, h = size
        holes = []
        for _ in range(int(rng.integers(int(self.count_range[0]), int(self.count_range[1]) + 1))):
            bw = min(w, max(1, round(uniform(rng, self.size_range) * w)))
            bh = min(h, max(1, round(uniform(rng, self.size_range) * h)))
            holes.append([int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1)), bw, bh])
        params: dict[str, Any] = {"holes": holes}
        if self.fill == "random":
            params["colours"] = [[float(c) for c in rng.uniform(0.0, 255.0, 3)] for _ in holes]
        elif self.fill == "noise":
            params["noise_seed"] = noise_seed(rng)
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
        object.__setattr__(self, "unit_range", check_range("grid-unit", self.unit_range, 0.0, 1.0, open_lo=True))

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
