"""Labels and masks of an output whose image fills only a window of it (a letterbox's bands are
padding): objects are cut at the window's edges as at the output's, keypoints outside it are
hidden, mask pixels outside it take the mask fill."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np
from PIL import Image

from .. import geometry as G
from . import model as L

Window = tuple[int, int, int, int]  # x0, y0, x1, y1: output pixels, edge coordinates


def _shift(obj: L.Obj, dx: float, dy: float) -> L.Obj:
    """``obj`` moved by (dx, dy); keypoints that are not labelled stay 0 0 0."""
    d = np.array([dx, dy])
    box = None if obj.box is None else (obj.box[0] + dx, obj.box[1] + dy, obj.box[2] + dx, obj.box[3] + dy)
    polys = None if obj.polygons is None else [np.asarray(p, dtype=float) + d for p in obj.polygons]
    obb = None if obj.obb is None else np.asarray(obj.obb, dtype=float) + d
    kp = None
    if obj.keypoints is not None:
        kp = np.array(obj.keypoints, dtype=float)
        seen = kp[:, 2] > 0
        kp[seen, 0] += dx
        kp[seen, 1] += dy
    return replace(obj, box=box, polygons=polys, obb=obb, keypoints=kp)


def into(f: np.ndarray, window: Window) -> tuple[np.ndarray, G.Size]:
    """The edge map onto the window itself, and the window's size."""
    x0, y0, x1, y1 = window
    return G.translation(-x0, -y0) @ f, (x1 - x0, y1 - y0)


def transform(objects: Sequence[L.Obj], f: np.ndarray, out_size: G.Size, params: L.Params = L.Params(),
              window: Window | None = None, points: Any = None) -> tuple[list[L.Obj], L.Stats]:
    """``model.transform`` onto an output, cut at ``window`` (None: the whole output); ``points``:
    the output's distortion (no plan has both: the pipeline refuses a letterbox with one)."""
    if window is None:
        return L.transform(objects, f, out_size, params, points)
    g, size = into(f, window)
    objs, stats = L.transform(objects, g, size, params)
    return [_shift(o, window[0], window[1]) for o in objs], stats


def keypoints(f: np.ndarray, kpts: np.ndarray, window: Window, flip_idx) -> tuple[np.ndarray, int]:
    """Keypoints through ``f``, hidden outside ``window`` as outside an output (model's rule: a
    keypoint-only object is moved, never dropped), and how many were hidden."""
    g, size = into(f, window)
    (moved,), stats = L.transform([L.Obj(None, keypoints=kpts)], g, size, L.Params(flip_idx=flip_idx))
    return _shift(moved, window[0], window[1]).keypoints, stats.keypoints_hidden


def outside(size: G.Size, window: Window | None) -> np.ndarray | None:
    """A boolean (h, w) array of the output pixels outside ``window``; None without one."""
    if window is None:
        return None
    out = np.ones((size[1], size[0]), bool)
    x0, y0, x1, y1 = window
    out[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = False
    return out


def pad_mask(mask: Image.Image, window: Window | None, fill: int) -> Image.Image:
    """A warped mask with the pixels outside ``window`` set to ``fill``; mode and palette kept."""
    if window is None:
        return mask
    canvas = Image.new(mask.mode, mask.size, fill)
    if mask.mode == "P" and mask.getpalette() is not None:
        canvas.putpalette(mask.getpalette())
    canvas.paste(mask.crop(window), window[:2])
    return canvas
