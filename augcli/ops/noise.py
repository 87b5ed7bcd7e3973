"""Filters, occlusion, noise and compression: the ops that degrade an image, after the colour ops."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .base import (F, OneRange, Op, Range, check_box, check_keys, check_list, check_number, check_range, noise_seed,
                   uniform)
from .flags import Flag, Number, Span

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, kw_only=True)
class Blur(OneRange):
    """Gaussian blur of standard deviation ``sigma`` ~ U(sigma_range) pixels (a true Gaussian,
    truncated at 4 sigma, edges replicated). Params: {"sigma": float}."""

    name: ClassVar[str] = "blur"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--blur", Span(start=0.0), "Gaussian blur, sigma U(0, R) pixels (or LO:HI).",
             metavar="R", field="sigma_range"),
    )
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
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--erase", Number(1, 100, whole=True),
             "Erase 1 to N random rectangles (each 2-20% of the area) with a random colour.",
             metavar="N", field="max_count"),
    )
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
        object.__setattr__(self, "area_range", check_range("erase area", self.area_range, 0.0, 1.0, open_lo=True))
        object.__setattr__(self, "aspect_range", check_range("erase aspect", self.aspect_range, 0.0, open_lo=True))

    def sample(self, rng, size):
        w, h = size
        boxes, colours = [], []
        for _ in range(int(rng.integers(1, self.max_count + 1))):
            area = uniform(rng, self.area_range) * w * h
            aspect = math.exp(rng.uniform(math.log(self.aspect_range[0]), math.log(self.aspect_range[1])))
            bw = min(w, max(1, round(math.sqrt(area * aspect))))
            bh = min(h, max(1, round(math.sqrt(area / aspect))))
            x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
            boxes.append([x, y, bw, bh])
            colours.append([float(c) for c in rng.uniform(0.0, 255.0, 3)])
        return {"boxes": boxes, "colours": colours}

    def check(self, params, size):
        check_keys(self.name, params, ("boxes", "colours"))
        boxes = check_list(self.name, "boxes", params["boxes"], most=self.max_count)
        for box in boxes:
            check_box(self.name, "box", box, size)
        for colour in check_list(self.name, "colours", params["colours"], len(boxes)):
            for v in check_list(self.name, "colour", colour, 3):
                check_number(self.name, "colour", v, 0.0, 255.0)

    def apply(self, image, params):
        return F.erase(image, params["boxes"], params["colours"])


@dataclass(frozen=True, kw_only=True)
class Noise(Op):
    """Additive Gaussian noise of standard deviation ``sigma`` ~ U(sigma_range), 0-255 units,
    independent per pixel and band. Params: {"sigma": float, "noise_seed": int}."""

    name: ClassVar[str] = "noise"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--noise", Span(start=0.0), "Additive Gaussian noise, sigma U(0, SIGMA) (or LO:HI) in 0-255 units.",
             metavar="SIGMA", field="sigma_range"),
    )
    params: ClassVar[str] = "sigma ~ U(0, SIGMA), 0-255 units, per pixel and colour band"
    default: ClassVar[str] = "0:15"
    summary: ClassVar[str] = "additive Gaussian noise"
    sigma_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "sigma_range", check_range("noise", self.sigma_range, 0.0, 255.0))

    def sample(self, rng, size):
        return {"sigma": uniform(rng, self.sigma_range), "noise_seed": noise_seed(rng)}

    def check(self, params, size):
        check_keys(self.name, params, ("sigma", "noise_seed"))
        check_number(self.name, "sigma", params["sigma"], *self.sigma_range)
        check_number(self.name, "noise_seed", params["noise_seed"], 0, 2**32 - 1, whole=True)

    def apply(self, image, params):
        return F.gaussian_noise(image, params["sigma"], params["noise_seed"])


@dataclass(frozen=True, kw_only=True)
class SaltPepper(Op):
    """Impulse noise: each pixel, with probability ``amount`` ~ U(amount_range), becomes white
    (a fraction ``salt_ratio`` of them) or black. Params: {"amount": float, "noise_seed": int}."""

    name: ClassVar[str] = "salt_pepper"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--salt-pepper", Span(start=0.0), "Set a fraction U(0, A) (or LO:HI) of the pixels to white or black.",
             metavar="A", field="amount_range"),
        Flag("--salt-ratio", Number(0.0, 1.0), "Share of --salt-pepper pixels that are white (default 0.5).",
             metavar="R", field="salt_ratio", enables=False),
    )
    params: ClassVar[str] = "fraction of pixels ~ U(0, A); a share R of them (default 0.5) white, the rest black"
    default: ClassVar[str] = "0.01:0.06"
    summary: ClassVar[str] = "salt-and-pepper (impulse) noise"
    amount_range: Range = (0.0, 0.0)
    salt_ratio: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "amount_range", check_range("salt-pepper", self.amount_range, 0.0, 1.0))
        if not 0.0 <= float(self.salt_ratio) <= 1.0:
            raise ValueError(f"salt-ratio={self.salt_ratio!r} must be between 0 and 1")

    def sample(self, rng, size):
        return {"amount": uniform(rng, self.amount_range), "noise_seed": noise_seed(rng)}

    def check(self, params, size):
        check_keys(self.name, params, ("amount", "noise_seed"))
        check_number(self.name, "amount", params["amount"], *self.amount_range)
        check_number(self.name, "noise_seed", params["noise_seed"], 0, 2**32 - 1, whole=True)

    def apply(self, image, params):
        return F.salt_pepper(image, params["amount"], self.salt_ratio, params["noise_seed"])


@dataclass(frozen=True, kw_only=True)
class JpegArtifacts(Op):
    """JPEG compression artifacts: the pixels of Pillow's baseline JPEG round trip at an integer
    ``quality`` ~ U{lo..hi} (augcli.functional.jpeg_round_trip). Params: {"quality": int}."""

    name: ClassVar[str] = "jpeg_artifacts"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--jpeg-artifacts", Span(end=100.0), "Re-encode as JPEG in memory at a quality U{Q..100} (or LO:HI).",
             metavar="Q", field="quality_range"),
    )
    params: ClassVar[str] = "quality ~ U{Q..100} (whole numbers; or LO:HI); alpha kept; 16-bit at 8-bit precision"
    default: ClassVar[str] = "50:95"
    summary: ClassVar[str] = "JPEG re-encoding in memory (compression artifacts)"
    quality_range: Range = (95.0, 95.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        q = check_range("jpeg-artifacts", self.quality_range, 1.0, 100.0)
        if not all(float(v).is_integer() for v in q):
            raise ValueError(f"jpeg-artifacts={self.quality_range!r}: qualities must be whole numbers")
        object.__setattr__(self, "quality_range", q)

    def sample(self, rng, size):
        return {"quality": int(rng.integers(int(self.quality_range[0]), int(self.quality_range[1]) + 1))}

    def check(self, params, size):
        check_keys(self.name, params, ("quality",))
        check_number(self.name, "quality", params["quality"], *self.quality_range, whole=True)

    def apply(self, image, params):
        return F.jpeg_round_trip(image, params["quality"])


# canonical order within the family (filters, occlusion, noise, then compression, which comes last
# of all); --help lists the flags in the same order
FAMILY = (Blur, Erase, Noise, SaltPepper, JpegArtifacts)
FLAG_ORDER = FAMILY
