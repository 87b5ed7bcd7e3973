"""A composition's sources resampled onto its canvas by augcli's warp kernel (steps recorded with
``render: 2``; augcli.compose keeps Pillow's resize for records without it).

A source scaled to ``size`` with its top-left at ``at`` is warped straight into the canvas box it
shows: bilinear, the edge replicated (``nearest``), pixel centres mapped edge to edge as
``placement_matrix`` says. Only the box's pixels are computed, so a tile costs what it shows, and no
scaled copy of the source is made (L and RGB canvases are written in their own memory: each pass
over canvas-sized memory costs about as much as the warp). A source shrunk by more than 2 is first box-reduced by the
smallest whole factor that leaves at most 2 for the warp, so every source pixel still counts (alpha
images reduced premultiplied, as the warp resamples them).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image

from . import kernels
from .warping import Warper

_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}
_IN_PLACE = {"L": ("L", 1), "RGB": ("RGBX", 4)}  # canvas modes the kernel writes in place: layout, bytes a pixel


def reduction(source_size: Sequence[int], size: Sequence[int]) -> int:
    """The box reduction before the warp: ceil(shrink / 2) on the axis shrunk least (1: none)."""
    (sw, sh), (tw, th) = source_size, size
    return max(1, min((sw + 2 * tw - 1) // (2 * tw), (sh + 2 * th - 1) // (2 * th)))


def _prepared(image: Image.Image, mode: str, r: int) -> Image.Image:
    if image.mode != mode:
        image = image.convert(mode)
    if r > 1:
        work = _PREMULTIPLIED.get(mode)
        image = image.convert(work).reduce(r).convert(mode) if work else image.reduce(r)
    return image


def _kept(cache: Any, rel: str, kind: str, image: Image.Image, mode: str, r: int, make: Any) -> Any:
    """``make()``, kept in ``cache`` when it makes a new image: the source as loaded is held by the
    worker's recent sources already, and keeping it here too would hold more images than the window."""
    if cache is None or (r == 1 and image.mode == mode):
        return make()
    return cache.source((rel, kind, r, mode), make)


def box_matrix(source_size: Sequence[int], size: Sequence[int], at: Sequence[int], box: Sequence[int],
               r: int = 1) -> np.ndarray:
    """Output -> input (pixel centres) of the canvas box ``box`` (its top-left pixel at 0, 0) onto a
    source of ``source_size`` scaled edge to edge to ``size`` at ``at``, read from its reduction by ``r``."""
    sx, sy = source_size[0] / size[0] / r, source_size[1] / size[1] / r
    return np.array([[sx, 0.0, (box[0] - at[0] + 0.5) * sx - 0.5],
                     [0.0, sy, (box[1] - at[1] + 0.5) * sy - 0.5], [0.0, 0.0, 1.0]])


def scaled_box(rel: str, image: Image.Image, mode: str, size: Sequence[int], at: Sequence[int],
               box: Sequence[int], cache: Any = None) -> Image.Image:
    """The pixels of the canvas box ``box`` (x0, y0, x1, y1) showing ``image`` (in ``mode``) scaled
    to ``size`` with its top-left at ``at``. ``cache``: an augcli.compose.Scaled keeping the prepared
    (converted, reduced) sources between calls."""
    r = reduction(image.size, size)
    warper = _kept(cache, rel, "warper", image, mode, r,
                   lambda: Warper(_prepared(image, mode, r), fill_mode="nearest", interpolation="bilinear"))
    return warper.warp(box_matrix(image.size, size, at, box, r), (box[2] - box[0], box[3] - box[1]))


def _source_bytes(image: Image.Image, layout: str) -> Any:
    view = kernels.pixels(image)
    return view if view is not None else image.tobytes("raw", layout)


def paint(canvas: Image.Image, rel: str, image: Image.Image, size: Sequence[int], at: Sequence[int],
          box: Sequence[int], cache: Any = None) -> None:
    """``scaled_box`` written into ``canvas`` at ``box``: in the canvas's own memory (L and RGB),
    without a copy of the box; the same pixels."""
    target = kernels.pixels(canvas, writable=True) if canvas.mode in _IN_PLACE else None
    if target is None:
        canvas.paste(scaled_box(rel, image, canvas.mode, size, at, box, cache), (box[0], box[1]))
        return
    layout, bpp = _IN_PLACE[canvas.mode]
    r = reduction(image.size, size)
    prepared, src = _kept(cache, rel, "source", image, canvas.mode, r,
                          lambda: (p := _prepared(image, canvas.mode, r), _source_bytes(p, layout)))
    stride = canvas.width * bpp
    kernels.warp(src, prepared.size, bpp, box_matrix(image.size, size, at, box, r), (box[2] - box[0], box[3] - box[1]),
                 fill="nearest", interpolation="bilinear", cval=bytes(bpp),
                 out=target[box[1] * stride + box[0] * bpp:], out_stride=stride)
