"""Geometric ops: each turns its params into an output -> input matrix, and the pipeline composes
all of them into one resampling (the Keras set, then rot90, crop and perspective; letterbox last)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .base import (F, G, GeometricOp, Range, check_range, OneRange, uniform, check_box, check_keys, check_list,
                   check_number)
from .flags import Choice, Flag, Number, Size, Span, Switch


@dataclass(frozen=True, kw_only=True)
class Rot90(GeometricOp):
    """Turn by ``k`` quarter turns counter-clockwise, k ~ U{0, 1, 2, 3} (exactly numpy.rot90; width
    and height swap for odd k). Lossless when it is the only geometry. Params: {"k": int}."""

    name: ClassVar[str] = "rot90"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--rot90", Switch(), "Turn by a random multiple of 90 degrees (lossless)."),
    )
    params: ClassVar[str] = "k ~ U{0, 1, 2, 3} quarter turns, counter-clockwise; odd k swaps width and height"
    default: ClassVar[str] = "on"
    summary: ClassVar[str] = "lossless rotation by a random multiple of 90 degrees"

    def sample(self, rng, size):
        return {"k": int(rng.integers(0, 4))}

    def check(self, params, size):
        check_keys(self.name, params, ("k",))
        check_number(self.name, "k", params["k"], 0, 3, whole=True)

    def matrix(self, params, size):
        return G.rot90(int(params["k"]), size)


CROP_MODES = ("random", "corners", "center", "bbox-safe", "at-least-one")
OBJECT_CROP_MODES = ("bbox-safe", "at-least-one")  # drawn from the source's objects


def _span(lo: float, hi: float, extent: int) -> tuple[int, int]:
    """The whole pixels [a, b) that hold the edge-coordinate span [lo, hi], within [0, extent]."""
    a = min(max(math.floor(lo), 0), extent - 1)
    return a, max(min(math.ceil(hi), extent), a + 1)


@dataclass(frozen=True, kw_only=True)
class Crop(GeometricOp):
    """Crop a box keeping a fraction f ~ U(scale_range) of each side (whole pixels, aspect kept) and
    resize it back to the canvas size. ``mode``: ``random`` (anywhere), ``corners`` (one of the four
    corners or the centre, equally likely), ``center``; ``bbox-safe`` (anywhere the box holds every
    object whole) and ``at-least-one`` (anywhere it holds one object, drawn at random, whole): when
    the drawn box is too small for them, the smallest box of the image's aspect that holds them.
    Without objects those two are ``random``. Params: {"box": [left, top, width, height]}."""

    name: ClassVar[str] = "crop"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--crop", Span(end=1.0),
             "Crop keeping a fraction U(F, 1) (or LO:HI) of each side, resized back to the image size.",
             metavar="F", field="scale_range"),
        Flag("--crop-mode", Choice(CROP_MODES),
             "Where --crop boxes go: random (default), corners (4 corners or centre), center, bbox-safe "
             "(every object whole), at-least-one (one object whole).",
             metavar="M", field="mode", enables=False),
    )
    params: ClassVar[str] = ("fraction f ~ U(F, 1) of each side kept (box in whole pixels); M = random, "
                             "corners (4 corners or centre), center, bbox-safe or at-least-one")
    default: ClassVar[str] = "0.8:1"
    summary: ClassVar[str] = "crop resized back to the image size (random-resized crop; corners = five-crop)"
    scale_range: Range = (1.0, 1.0)
    mode: str = "random"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "scale_range", check_range("crop", self.scale_range, 0.0, 1.0, open_lo=True))
        if self.mode not in CROP_MODES:
            raise ValueError(f"crop-mode={self.mode!r} must be one of {', '.join(CROP_MODES)}")

    @property
    def uses_objects(self) -> bool:
        return self.mode in OBJECT_CROP_MODES

    def sample(self, rng, size, objects=None):
        w, h = size
        f = uniform(rng, self.scale_range)
        bw, bh = max(1, round(f * w)), max(1, round(f * h))
        if self.mode in OBJECT_CROP_MODES and objects:
            if self.mode == "at-least-one":
                objects = [objects[int(rng.integers(0, len(objects)))]]
            return {"box": self._around(rng, size, bw, bh, objects)}
        if self.mode in ("random", *OBJECT_CROP_MODES):
            left, top = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
        else:
            where = int(rng.integers(0, 5)) if self.mode == "corners" else 4
            # 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right, 4 centre (rounded down)
            left = [0, w - bw, 0, w - bw, (w - bw) // 2][where]
            top = [0, 0, h - bh, h - bh, (h - bh) // 2][where]
        return {"box": [left, top, bw, bh]}

    @staticmethod
    def _around(rng, size, bw: int, bh: int, objects) -> list[int]:
        """A box of bw x bh (grown, aspect kept, when that is too small) holding every box of
        ``objects`` (edge coordinates on this canvas; the parts outside the canvas aside), at a
        place drawn uniformly among those that hold them."""
        w, h = size
        x0, x1 = _span(min(o[0] for o in objects), max(o[2] for o in objects), w)
        y0, y1 = _span(min(o[1] for o in objects), max(o[3] for o in objects), h)
        if bw < x1 - x0 or bh < y1 - y0:
            grow = max((x1 - x0) / w, (y1 - y0) / h)
            bw = min(w, max(x1 - x0, bw, math.ceil(grow * w)))
            bh = min(h, max(y1 - y0, bh, math.ceil(grow * h)))
        left = int(rng.integers(max(0, x1 - bw), min(x0, w - bw) + 1))
        top = int(rng.integers(max(0, y1 - bh), min(y0, h - bh) + 1))
        return [left, top, bw, bh]

    def check(self, params, size):
        check_keys(self.name, params, ("box",))
        check_box(self.name, "box", params["box"], size)

    def matrix(self, params, size):
        return G.box_to_canvas(tuple(params["box"]), size), size


@dataclass(frozen=True, kw_only=True)
class HFlip(GeometricOp):
    """Mirror left-right."""

    name: ClassVar[str] = "hflip"
    flags: ClassVar[tuple[Flag, ...]] = (Flag("--hflip", Switch(), "Mirror left-right with probability 0.5."),)
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
    flags: ClassVar[tuple[Flag, ...]] = (Flag("--vflip", Switch(), "Mirror top-bottom with probability 0.5."),)
    params: ClassVar[str] = "none; applied with probability p = 0.5"
    default: ClassVar[str] = "p = 0.5"
    summary: ClassVar[str] = "mirror top-bottom (Keras vertical_flip)"
    p: float = 0.5

    def matrix(self, params, size):
        return G.vflip(size), size


@dataclass(frozen=True, kw_only=True)
class Rotate(OneRange, GeometricOp):
    """Rotate by ``angle`` ~ U(angle_range) degrees, counter-clockwise on screen, about the centre.
    Params: {"angle": float}."""

    name: ClassVar[str] = "rotate"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--rotate", Span(), "Rotate by U(-R, R) degrees (or LO:HI); + = counter-clockwise.",
             metavar="R", field="angle_range"),
    )
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
class Shear(OneRange, GeometricOp):
    """Shear by ``angle`` ~ U(angle_range) degrees (Keras' shear matrix). Params: {"angle": float}."""

    name: ClassVar[str] = "shear"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--shear", Span(), "Shear by U(-S, S) degrees (Keras shear_range).", metavar="S", field="angle_range"),
    )
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
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--zoom", Span(centre=1.0),
             "Zoom factors U(1-Z, 1+Z) (or LO:HI); below 1 enlarges the content (Keras zoom_range).",
             metavar="Z", field="zoom_range"),
        # without --zoom it is ignored (it has always been), where --crop-mode alone is an error
        Flag("--zoom-keep-aspect", Switch(), "Draw one zoom factor for both axes (keeps the aspect ratio).",
             field="keep_aspect", enables=False, alone="ignored"),
    )
    params: ClassVar[str] = "zx, zy ~ U(1-Z, 1+Z), independent unless --zoom-keep-aspect; < 1 enlarges"
    default: ClassVar[str] = "0.8:1.2"
    summary: ClassVar[str] = "zoom (Keras zoom_range)"
    zoom_range: Range = (1.0, 1.0)
    keep_aspect: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "zoom_range", check_range("zoom", self.zoom_range, 0.0, 10.0, open_lo=True))

    def sample(self, rng, size):
        if self.keep_aspect:
            z = uniform(rng, self.zoom_range)
            return {"zx": z, "zy": z}
        zx, zy = rng.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        return {"zx": float(zx), "zy": float(zy)}

    def check(self, params, size):
        check_keys(self.name, params, ("zx", "zy"))
        for key in ("zx", "zy"):
            check_number(self.name, key, params[key], *self.zoom_range)

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
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--width-shift", Span(),
             "Move content horizontally by U(-S, S): a fraction of the width if < 1, else pixels; + = right.",
             metavar="S", field="width_range"),
        Flag("--height-shift", Span(),
             "Move content vertically by U(-S, S): a fraction of the height if < 1, else pixels; + = down.",
             metavar="S", field="height_range"),
    )
    params: ClassVar[str] = "dx, dy ~ U(-S, S): a fraction of the width / height if |S| < 1, else pixels; + = right / down"
    default: ClassVar[str] = "-0.1:0.1"
    summary: ClassVar[str] = "translation (Keras width/height_shift_range)"
    width_range: Range = (0.0, 0.0)
    height_range: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "width_range", check_range("width-shift", self.width_range))
        object.__setattr__(self, "height_range", check_range("height-shift", self.height_range))

    def sample(self, rng, size):
        dx = uniform(rng, _to_pixels(self.width_range, size[0]))
        dy = uniform(rng, _to_pixels(self.height_range, size[1]))
        return {"dx": dx, "dy": dy}

    def check(self, params, size):
        check_keys(self.name, params, ("dx", "dy"))
        check_number(self.name, "dx", params["dx"], *_to_pixels(self.width_range, size[0]))
        check_number(self.name, "dy", params["dy"], *_to_pixels(self.height_range, size[1]))

    def matrix(self, params, size):
        return G.shift(params["dx"], params["dy"]), size


@dataclass(frozen=True, kw_only=True)
class Perspective(GeometricOp):
    """Projective warp: the output's four corners show the input's corners each moved by
    U(-S, S) x (width, height) independently. Params: {"corners": [[dx, dy] x 4]} in pixels, for
    the top-left, top-right, bottom-right and bottom-left corners."""

    name: ClassVar[str] = "perspective"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--perspective", Number(0.0, 0.3), "Projective warp: move each corner by U(-S, S) x the image size.",
             metavar="S", field="distortion"),
    )
    params: ClassVar[str] = "each corner moved by U(-S, S) x (width, height), independently; S <= 0.3"
    default: ClassVar[str] = "0.05"
    summary: ClassVar[str] = "projective (four-point) warp, composed with the affine geometry"
    distortion: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.distortion) and 0.0 <= self.distortion <= 0.3):
            raise ValueError(f"perspective={self.distortion!r} must be between 0 and 0.3")

    def sample(self, rng, size):
        # eight draws, corner by corner (dx then dy), each times the width or the height
        d = [float(v) for v in rng.uniform(-self.distortion, self.distortion, 8)]
        w, h = float(size[0]), float(size[1])
        return {"corners": [[d[i] * w, d[i + 1] * h] for i in range(0, 8, 2)]}

    def check(self, params, size):
        check_keys(self.name, params, ("corners",))
        for corner in check_list(self.name, "corners", params["corners"], 4):
            dx, dy = check_list(self.name, "corner", corner, 2)
            check_number(self.name, "corner dx", dx, -self.distortion * size[0], self.distortion * size[0])
            check_number(self.name, "corner dy", dy, -self.distortion * size[1], self.distortion * size[1])

    def matrix(self, params, size):
        import numpy as np

        w, h = size
        edges = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
        return G.homography(edges, edges + np.asarray(params["corners"], dtype=float)), size


# The order in which the warp composes them (part of the canonical order, see augcli.ops.OPS) ...
FAMILY = (Rot90, Crop, HFlip, VFlip, Rotate, Shear, Zoom, Shift, Perspective)
# ... and the order `augcli expand --help` lists their flags: Keras' ImageDataGenerator order for its own.
FLAG_ORDER = (Rot90, Crop, Rotate, Shift, Shear, Zoom, HFlip, VFlip, Perspective)
