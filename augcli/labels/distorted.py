"""Labels under a non-affine map (--elastic, --grid-distort, --lens): the shapes' points go through
the output's forward point map after its matrix (augcli.labels.model's ``points`` hook).

The forward map is ``augcli.distort.Nodes.forward_edges``: the numerical inverse of the backward map
the pixels follow (method and error: augcli/distort.py). A straight edge does not stay straight, so
outlines are densified first (a point every DENSIFY_STEP pixels of each edge, at least 4 per edge;
the vertices kept): a polygon keeps the added points, a box becomes the one enclosing its mapped
outline, an oriented box the smallest rectangle around it; the ellipse box method maps points of
the inscribed ellipse. Keypoints are mapped as they are.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

PointMap = Callable[[np.ndarray], np.ndarray]  # (n, 2) edge coordinates -> (n, 2)

DENSIFY_STEP = 4.0
EDGE_MIN, EDGE_MAX = 4, 256  # points per edge
ELLIPSE_POINTS = 64


def densify(ring: np.ndarray) -> np.ndarray:
    """A closed ring with points added along each edge (every DENSIFY_STEP px, 4 to 256 per edge):
    edge a -> b gets a + (b - a) * k / n for k = 0 .. n - 1. All edges in a few array operations
    (outlines have hundreds of edges), the same numbers as edge by edge."""
    ring = np.asarray(ring, dtype=float).reshape(-1, 2)
    if not len(ring) or not np.isfinite(ring).all():
        return _densify_edges(ring)
    d = np.roll(ring, -1, axis=0) - ring
    n = np.clip(np.ceil(np.hypot(d[:, 0], d[:, 1]) / DENSIFY_STEP), EDGE_MIN, EDGE_MAX).astype(np.int64)
    first = np.cumsum(n) - n
    t = (np.arange(int(n.sum())) - np.repeat(first, n)).astype(float) / np.repeat(n, n).astype(float)
    return np.repeat(ring, n, axis=0) + np.repeat(d, n, axis=0) * t[:, None]


def _densify_edges(ring: np.ndarray) -> np.ndarray:
    """``densify`` edge by edge (and its errors for an empty or non-finite ring)."""
    out = []
    for a, b in zip(ring, np.roll(ring, -1, axis=0)):
        n = min(EDGE_MAX, max(EDGE_MIN, math.ceil(float(np.hypot(*(b - a))) / DENSIFY_STEP)))
        t = np.arange(n, dtype=float)[:, None] / n
        out.append(a + (b - a) * t)
    return np.concatenate(out)


def ellipse_ring(box) -> np.ndarray:
    """Points of the ellipse inscribed in ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    t = np.arange(ELLIPSE_POINTS, dtype=float) * (2.0 * math.pi / ELLIPSE_POINTS)
    return np.stack([(x0 + x1) / 2 + (x1 - x0) / 2 * np.cos(t), (y0 + y1) / 2 + (y1 - y0) / 2 * np.sin(t)], axis=1)


def keypoints_through(f: np.ndarray, kpts: np.ndarray, points: PointMap, apply) -> list:
    """Each keypoint (centre coordinates) through the edge map ``f`` by ``apply``, then ``points``:
    per keypoint the mapped point as a (1, 2) centre-coordinate array and whether it stayed in front
    of the horizon. All points are mapped at once (the inverse is solved for all of them together)."""
    if not len(kpts):
        return []
    edge = np.asarray(kpts, dtype=float)[:, :2] + 0.5
    moved = [apply(f, p[None, :]) for p in edge]
    oks = [ok for _, ok in moved]
    mapped = points(np.concatenate([m for m, _ in moved])) - 0.5
    return [(mapped[i:i + 1], oks[i]) for i in range(len(kpts))]


def points_of(nodes) -> PointMap | None:
    """The forward point map of an output's distortion node grid (augcli.distort.Nodes), if any."""
    return None if nodes is None else nodes.forward_edges


def warp_mask(mask, matrix: np.ndarray, size: tuple[int, int], fill: int, nodes=None):
    """A mask through the output's matrix and, if it has one, its distortion (nearest neighbour)."""
    from .. import distort as D  # numpy and Pillow are loaded by now; masks.py only when a mask is used
    from . import masks as MK

    if nodes is None:
        return MK.warp_mask(mask, matrix, size, fill)
    return D.remap_mask(mask, nodes, np.asarray(matrix, dtype=float), fill)
