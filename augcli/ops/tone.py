"""Tone ops: Pillow's ImageOps (autocontrast, equalize, posterize, solarize, invert), CLAHE of the
luma and an unsharp mask, on the colour bands only (alpha is never touched); after the colour ops,
before the filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .base import TF, OneRange, Op, Range, check_keys, check_number, check_range, check_whole_range, uniform
from .base import lazy_module
from .flags import Flag, Number, Span

if TYPE_CHECKING:
    from . import tone_image as T
else:
    T = lazy_module("augcli.ops.tone_image")


@dataclass(frozen=True, kw_only=True)
class Autocontrast(Op):
    """Stretch each colour band from its lowest to its highest value onto black..white
    (PIL ImageOps.autocontrast, cutoff 0). ``--autocontrast P`` is this op with p = P. Params: none."""

    name: ClassVar[str] = "autocontrast"
    fresh: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--autocontrast", Number(0.0, 1.0),
             "With probability P, stretch each colour band to the full range (Pillow's ImageOps.autocontrast).",
             metavar="P", field="p"),
    )
    params: ClassVar[str] = "none; applied with probability P; each band's lowest value to 0, highest to white"
    default: ClassVar[str] = "0.2"
    summary: ClassVar[str] = "per-band min-max stretch (PIL ImageOps.autocontrast, exact)"

    def apply(self, image, params):
        return TF.autocontrast(image)


@dataclass(frozen=True, kw_only=True)
class Equalize(Op):
    """Histogram equalisation of each colour band (PIL ImageOps.equalize). ``--equalize P`` is this
    op with p = P. Params: none."""

    name: ClassVar[str] = "equalize"
    fresh: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--equalize", Number(0.0, 1.0),
             "With probability P, equalise each colour band's histogram (Pillow's ImageOps.equalize).",
             metavar="P", field="p"),
    )
    params: ClassVar[str] = "none; applied with probability P; each band's histogram equalised"
    default: ClassVar[str] = "0.2"
    summary: ClassVar[str] = "histogram equalisation (PIL ImageOps.equalize, exact)"

    def apply(self, image, params):
        return TF.equalize(image)


@dataclass(frozen=True, kw_only=True)
class Clahe(OneRange):
    """Contrast-limited adaptive histogram equalisation of the luma (OpenCV's createCLAHE, in
    integers), clip limit ~ U(clip_range), on a tiles x tiles grid. Grey images: the value; RGB: the
    601 luma (Pillow's convert("L")), each colour band moved by the luma's change, so YCbCr's chroma
    is kept. Params: {"clip": float}."""

    name: ClassVar[str] = "clahe"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--clahe", Span(start=1.0),
             "CLAHE of the luma (OpenCV's algorithm) with clip limit U(1, C) (or LO:HI), 8x8 tiles.",
             metavar="C", field="clip_range"),
        Flag("--clahe-tiles", Number(1, 64, whole=True), "Tiles per side of the --clahe grid (default 8).",
             metavar="N", field="tiles", enables=False),
    )
    params: ClassVar[str] = ("clip ~ U(1, C), as OpenCV's clipLimit (a bin keeps at most clip x tile pixels / 256); "
                             "on the luma, RGB bands moved by its change")
    default: ClassVar[str] = "4"
    summary: ClassVar[str] = "CLAHE of the luma (OpenCV createCLAHE within 1 level; AlbumentationsX CLAHE)"
    range_field: ClassVar[str] = "clip_range"
    param: ClassVar[str] = "clip"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (0.0, 1000.0, True)
    clip_range: Range = (1.0, 4.0)
    tiles: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        tiles = self.tiles
        if isinstance(tiles, bool) or not isinstance(tiles, (int, float)) or tiles != int(tiles) or not 1 <= tiles <= 64:
            raise ValueError(f"clahe: tiles={tiles!r} must be a whole number from 1 to 64")
        object.__setattr__(self, "tiles", int(tiles))

    def apply(self, image, params):
        return T.clahe(image, params["clip"], (self.tiles, self.tiles))


@dataclass(frozen=True, kw_only=True)
class Sharpen(OneRange):
    """Unsharp mask of amount ~ U(amount_range): where a value differs from its blurred value
    (Gaussian, radius 2) by more than 3 levels, add amount x the difference (PIL
    ImageFilter.UnsharpMask(2, round(100 amount), 3)). Params: {"amount": float}."""

    name: ClassVar[str] = "sharpen"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--sharpen", Span(start=0.0),
             "Unsharp mask (radius 2, threshold 3) of amount U(0, A) (or LO:HI); 1.5 = Pillow's default 150%.",
             metavar="A", field="amount_range"),
    )
    params: ClassVar[str] = ("amount ~ U(0, A); in + amount x (in - Gaussian blur, radius 2) where they differ "
                             "by more than 3 levels; applied as a whole percent")
    default: ClassVar[str] = "0.5:1.5"
    summary: ClassVar[str] = "unsharp mask (PIL ImageFilter.UnsharpMask, exact)"
    range_field: ClassVar[str] = "amount_range"
    param: ClassVar[str] = "amount"
    limits: ClassVar[tuple[float | None, float | None, bool]] = (0.0, 10.0, False)
    amount_range: Range = (0.0, 0.0)

    def apply(self, image, params):
        return TF.sharpen(image, params["amount"])


@dataclass(frozen=True, kw_only=True)
class Posterize(Op):
    """Keep the top ``bits`` bits of each colour value, bits ~ U{lo..hi} (PIL ImageOps.posterize).
    Params: {"bits": int}."""

    name: ClassVar[str] = "posterize"
    fresh: ClassVar[bool] = True
    in_place: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--posterize", Span(fixed=True),
             "Keep B bits (1-8) of each colour value; LO:HI draws a whole number of bits per output.",
             metavar="B", field="bits_range"),
    )
    params: ClassVar[str] = "bits = B, or ~ U{LO..HI} (whole numbers, 1-8); 8 = unchanged on 8-bit images"
    default: ClassVar[str] = "4:8"
    summary: ClassVar[str] = "posterize (PIL ImageOps.posterize, exact; torchvision RandomPosterize)"
    bits_range: tuple[int, int] = (8, 8)

    def __post_init__(self) -> None:
        super().__post_init__()
        lo, hi = check_whole_range("posterize", self.bits_range, 1, 8, "the bits")
        object.__setattr__(self, "bits_range", (int(lo), int(hi)))

    def sample(self, rng, size):
        return {"bits": int(rng.integers(self.bits_range[0], self.bits_range[1] + 1))}

    def check(self, params, size):
        check_keys(self.name, params, ("bits",))
        check_number(self.name, "bits", params["bits"], *self.bits_range, whole=True)

    def apply(self, image, params, *, in_place=False):
        return TF.posterize(image, params["bits"], in_place=in_place)


@dataclass(frozen=True, kw_only=True)
class Solarize(Op):
    """Invert each colour value at or above ``threshold`` ~ U(threshold_range), 0-255 units (PIL
    ImageOps.solarize; 256 = unchanged). Params: {"threshold": float}."""

    name: ClassVar[str] = "solarize"
    fresh: ClassVar[bool] = True
    in_place: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--solarize", Span(fixed=True),
             "Invert values >= T (0-256, 0-255 units; 256 = unchanged); LO:HI draws T per output.",
             metavar="T", field="threshold_range"),
    )
    params: ClassVar[str] = "threshold = T, or ~ U(LO, HI), 0-255 units; values >= it inverted; 256 = unchanged"
    default: ClassVar[str] = "128:256"
    summary: ClassVar[str] = "solarize (PIL ImageOps.solarize, exact; torchvision RandomSolarize)"
    threshold_range: Range = (256.0, 256.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "threshold_range", check_range("solarize", self.threshold_range, 0.0, 256.0))

    def sample(self, rng, size):
        return {"threshold": uniform(rng, self.threshold_range)}

    def check(self, params, size):
        check_keys(self.name, params, ("threshold",))
        check_number(self.name, "threshold", params["threshold"], *self.threshold_range)

    def apply(self, image, params, *, in_place=False):
        return TF.solarize(image, params["threshold"], in_place=in_place)


@dataclass(frozen=True, kw_only=True)
class Invert(Op):
    """Invert the colour values (white - value; PIL ImageOps.invert). ``--invert P`` is this op
    with p = P. Params: none."""

    name: ClassVar[str] = "invert"
    fresh: ClassVar[bool] = True
    in_place: ClassVar[bool] = True
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--invert", Number(0.0, 1.0), "With probability P, invert the colour values (white - value).",
             metavar="P", field="p"),
    )
    params: ClassVar[str] = "none; applied with probability P; value -> white - value"
    default: ClassVar[str] = "0.1"
    summary: ClassVar[str] = "negative (PIL ImageOps.invert, exact)"

    def apply(self, image, params, *, in_place=False):
        return TF.invert(image, in_place=in_place)


# canonical order within the family (the stretches first, the local one last of them, the spatial
# sharpening next, then the stylising value maps); --help lists the flags in the same order
FAMILY = (Autocontrast, Equalize, Clahe, Sharpen, Posterize, Solarize, Invert)
FLAG_ORDER = FAMILY
