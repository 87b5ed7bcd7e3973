"""Where a source's objects are, for planning: each object's enclosing box on the image as loaded
(edge coordinates), read from the parsed labels before any output is made. Object-aware ops
(``--crop-mode bbox-safe``, ``at-least-one``) draw their params from these."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import geometry as G

Box = tuple[float, float, float, float]


def object_points(obj: Any) -> np.ndarray | None:
    """Every point that outlines ``obj`` (an augcli.labels.model.Obj) in edge coordinates: box
    corners, polygon and OBB vertices, labelled keypoints (centre coordinates + 0.5)."""
    parts = []
    if obj.box is not None:
        x0, y0, x1, y1 = obj.box
        parts.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float))
    for poly in obj.polygons or ():
        parts.append(np.asarray(poly, dtype=float).reshape(-1, 2))
    if obj.obb is not None:
        parts.append(np.asarray(obj.obb, dtype=float).reshape(-1, 2))
    if obj.keypoints is not None:
        kp = np.asarray(obj.keypoints, dtype=float).reshape(-1, 3)
        seen = kp[kp[:, 2] > 0, :2]
        if len(seen):
            parts.append(seen + 0.5)
    parts = [p for p in parts if len(p)]
    return np.concatenate(parts) if parts else None


def source_extents(labels: Any) -> list[Box]:
    """The enclosing box of every object of one source (augcli.labels.source.SourceLabels) on the
    image as loaded, clipped to nothing: an object is whole only if all of it is inside."""
    if labels is None or labels.parsed is None:
        return []
    objects = labels.parsed[1] if labels.setup.format == "coco" else labels.parsed.objects
    out: list[Box] = []
    for obj in objects:
        pts = object_points(obj)
        if pts is None:
            continue
        if labels.pre is not None:
            pts = G.apply_points(np.asarray(labels.pre, dtype=float), pts)
        out.append((float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())))
    return out
