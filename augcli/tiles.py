"""Tiles: every source cut into a grid of windows (``augcli tile``).

A tile is an ordinary output whose plan is a fixed translation and whose size is its window, so
labels, masks, layouts and engines treat it as any other output. The windows are a pure function of
the source's size (as loaded: EXIF orientation and --resize applied), so the parent names the tiles
from the image header before anything is written and the worker finds the same windows again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import geometry as G

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in source pixels (x1, y1 exclusive)


def parse_size(text: str) -> tuple[int, int]:
    """``640`` (square) or ``640x480`` (width x height) in pixels; ValueError otherwise."""
    w, sep, h = str(text).strip().lower().partition("x")
    try:
        size = (int(w), int(h) if sep else int(w))
    except ValueError:
        raise ValueError(f"--size must be N or WxH in whole pixels, e.g. 640 or 640x480, not {text!r}") from None
    if min(size) < 1:
        raise ValueError(f"--size must be positive, not {text!r}")
    return size


def axis_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Where the tiles of one axis start: every ``step`` pixels, the last one aligned to the far edge
    so every pixel is in some tile. An axis no longer than a tile gets one tile of its own length."""
    if length <= tile:
        return [0]
    step = max(1, round(tile * (1.0 - overlap)))
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


@dataclass(frozen=True)
class Tiling:
    size: tuple[int, int]  # tile width, height
    overlap: float = 0.2  # the share of a tile's side that neighbouring tiles have in common

    def __post_init__(self) -> None:
        if len(self.size) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in self.size):
            raise ValueError(f"tile size must be two positive whole numbers, not {self.size!r}")
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, (int, float)) \
                or not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"--overlap must be a fraction from 0 up to (not including) 1, not {self.overlap!r}")
        object.__setattr__(self, "size", tuple(self.size))

    def windows(self, size: tuple[int, int]) -> list[Window]:
        """The tiles of a ``size`` image, row by row, each ``(x0, y0, x1, y1)``."""
        (tw, th), (w, h) = self.size, size
        xs, ys = axis_starts(w, tw, self.overlap), axis_starts(h, th, self.overlap)
        return [(x, y, x + min(tw, w), y + min(th, h)) for y in ys for x in xs]

    def describe(self) -> dict:
        return {"size": list(self.size), "overlap": self.overlap}


def tile_name(base: str, window: Window, ext: str) -> str:
    """``{base}_x{x0}_y{y0}{ext}``: the window's top-left corner in source pixels."""
    return f"{base}_x{window[0]}_y{window[1]}{ext}"


def tile_geometry(window: Window) -> tuple[np.ndarray, tuple[int, int]]:
    """The plan of one tile: output pixel (x, y) is source pixel (x0 + x, y0 + y) (an exact crop)."""
    x0, y0, x1, y1 = window
    return G.translation(float(x0), float(y0)), (x1 - x0, y1 - y0)
