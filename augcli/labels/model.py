"""Label geometry: objects, the forward map of an output, clipping and filtering. Pure functions
(the polygon geometry they use is augcli.labels.polygons).

Coordinates (see ../shared/LABELS.md section 1):
- boxes, polygons and oriented boxes are in EDGE coordinates: the image spans [0, W] x [0, H];
- keypoints are in CENTRE coordinates (augcli's and COCO's): pixel i is the point i.

augcli records for each output the matrix M mapping OUTPUT pixel centres to INPUT pixel centres.
Labels need the forward map F = inv(M); in edge coordinates it is ``T(+0.5) F T(-0.5)``. Every map
here (:func:`edge_map`) is a 3x3 matrix in edge coordinates from the label file's own frame to the
output's, so EXIF and ``--resize`` can be composed in front of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from .. import choices
from .. import geometry as G
from . import loss
from . import distorted as DZ
from .polygons import (area, box_corners, clip_polygon, enclosing, fills_pixel, honest_parts, inside_image,
                       min_area_rect)

HORIZON = 1e-9  # a mapped point whose third coordinate is <= this is at or behind the horizon
BOX_METHODS = choices.BOX_METHODS
DROP_REASONS = ("horizon", "outside", "min_visibility", "min_size", "min_area")


@dataclass
class Obj:
    """One labelled object. ``box`` (x0, y0, x1, y1) and ``polygons`` (a list of (n, 2) arrays)
    are edge coordinates; ``obb`` is a (4, 2) array of corners in edge coordinates; ``keypoints``
    is a (K, 3) array of centre-coordinate x, y and visibility v (0 = not labelled / invisible).
    ``extra`` carries what the format keeps verbatim (a COCO annotation, a VOC <object>)."""

    cls: Any
    box: tuple[float, float, float, float] | None = None
    polygons: list[np.ndarray] | None = None
    obb: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    extra: Any = None
    clipped: bool = False  # set on output when clipping changed the object


@dataclass(frozen=True)
class Params:
    box_method: str = "corners"
    min_visibility: float = 0.0
    min_size: float = 1.0
    min_area: float = 0.0
    flip_idx: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.box_method not in BOX_METHODS:
            raise ValueError(f"box method must be one of {', '.join(BOX_METHODS)}, not {self.box_method!r}")


@dataclass
class Stats:
    objects_in: int = 0
    objects_out: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {r: 0 for r in DROP_REASONS})
    clipped: int = 0
    keypoints_hidden: int = 0
    mirrored: bool = False
    classes: dict[str, Any] = field(default_factory=dict)  # per class: augcli.labels.loss counts

    def as_dict(self) -> dict[str, Any]:
        return {"in": self.objects_in, "out": self.objects_out, "dropped": dict(self.dropped),
                "clipped": self.clipped, "keypoints_hidden": self.keypoints_hidden, "mirrored": self.mirrored,
                **({"classes": self.classes} if self.classes else {})}


# ---------------------------------------------------------------------------------------------------
# maps


def inverse(m: np.ndarray) -> np.ndarray:
    """inv(m); affine maps are inverted in closed form, so integer maps (flips, quarter turns,
    integer shifts) invert exactly."""
    m = np.asarray(m, dtype=float)
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    if G.is_affine(m):
        a, b, tx = m[0]
        c, d, ty = m[1]
        det = a * d - b * c
        if det == 0:
            raise ValueError("the output's matrix is singular")
        ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
        if abs(det) == 1.0:  # exact for signed permutations and shears with det +-1
            ia, ib, ic, id_ = d * det, -b * det, -c * det, a * det
        return np.array([[ia, ib, -(ia * tx + ib * ty)], [ic, id_, -(ic * tx + id_ * ty)], [0.0, 0.0, 1.0]])
    return np.linalg.inv(m)


def centre_to_edge(m: np.ndarray) -> np.ndarray:
    """A centre-coordinate map written in edge coordinates: ``T(+0.5) m T(-0.5)``, in closed form
    for affine maps (so 0.5 shifts of integer maps stay exact)."""
    m = np.asarray(m, dtype=float)
    if G.is_affine(m):
        out = m.copy()
        out[0, 2] = m[0, 2] + 0.5 - 0.5 * (m[0, 0] + m[0, 1])
        out[1, 2] = m[1, 2] + 0.5 - 0.5 * (m[1, 0] + m[1, 1])
        return out
    return G.translation(0.5, 0.5) @ m @ G.translation(-0.5, -0.5)


def edge_to_centre(m: np.ndarray) -> np.ndarray:
    """An edge-coordinate map written in centre coordinates: ``T(-0.5) m T(+0.5)`` (closed form for
    affine maps, so keypoints through an exact map stay exact)."""
    m = np.asarray(m, dtype=float)
    if G.is_affine(m):
        out = m.copy()
        out[0, 2] = m[0, 2] - 0.5 + 0.5 * (m[0, 0] + m[0, 1])
        out[1, 2] = m[1, 2] - 0.5 + 0.5 * (m[1, 0] + m[1, 1])
        return out
    return G.translation(-0.5, -0.5) @ m @ G.translation(0.5, 0.5)


def edge_map(matrix: np.ndarray, out_size: G.Size, pre: np.ndarray | None = None) -> np.ndarray:
    """The forward map in edge coordinates from the label file's frame to an output whose recorded
    (output -> input, centre) matrix is ``matrix``. ``pre`` (edge coordinates) maps the label
    file's frame onto the image as loaded (EXIF transpose, --resize); identity by default.

    For projective maps the overall sign is fixed so that the point shown at the output's centre has
    a positive third coordinate: points with a negative one lie behind the horizon."""
    m = np.asarray(matrix, dtype=float)
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    f = centre_to_edge(inverse(m))
    if not G.is_affine(f):
        c_in = m @ np.array([(out_size[0] - 1) / 2.0, (out_size[1] - 1) / 2.0, 1.0])
        c_in = c_in / c_in[2] + np.array([0.5, 0.5, 0.0])
        if (f @ c_in)[2] < 0:
            f = -f
    return f if pre is None else f @ pre


def scale_map(sx: float, sy: float) -> np.ndarray:
    """Edge-coordinate scaling (``--resize``: Pillow maps edge to edge)."""
    return np.diag([float(sx), float(sy), 1.0])


def apply(f: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, bool]:
    """Map (n, 2) points through ``f`` with the perspective divide; also says whether every point
    stayed in front of the horizon."""
    pts = np.asarray(pts, dtype=float).reshape(-1, 2)
    if G.is_affine(f):
        x = f[0, 0] * pts[:, 0] + f[0, 1] * pts[:, 1] + f[0, 2]
        y = f[1, 0] * pts[:, 0] + f[1, 1] * pts[:, 1] + f[1, 2]
        return np.stack([x, y], axis=1), True
    hom = np.c_[pts, np.ones(len(pts))] @ f.T
    w = hom[:, 2]
    ok = bool(np.all(w > HORIZON))
    with np.errstate(divide="ignore", invalid="ignore"):
        return hom[:, :2] / np.where(w > HORIZON, w, 1.0)[:, None], ok


def mirrors(f: np.ndarray, at: tuple[float, float] | None = None) -> bool:
    """True if the map reverses orientation: the determinant of its Jacobian is negative (for a
    projective map, taken at the point ``at``)."""
    if G.is_affine(f):
        return float(f[0, 0] * f[1, 1] - f[0, 1] * f[1, 0]) < 0
    p = np.array([at[0], at[1], 1.0]) if at is not None else np.array([0.0, 0.0, 1.0])
    w = float(f[2] @ p)
    return float(np.linalg.det(f)) / (w ** 3) < 0


def _axis_aligned(f: np.ndarray) -> bool:
    return G.is_affine(f) and ((f[0, 1] == 0 and f[1, 0] == 0) or (f[0, 0] == 0 and f[1, 1] == 0))


def ellipse_box(f: np.ndarray, box: Sequence[float]) -> tuple[tuple[float, float, float, float], bool]:
    """The enclosing box of the box's inscribed ellipse under ``f``: exact (closed form) for affine
    maps, 360 samples for projective ones; never larger than the corners' box, and equal to it for
    axis-aligned maps. Also says whether the samples stayed before the horizon."""
    corners, ok = apply(f, box_corners(box))
    cbox = enclosing(corners)
    if _axis_aligned(f):
        return cbox, ok
    x0, y0, x1, y1 = box
    a, b = (x1 - x0) / 2.0, (y1 - y0) / 2.0
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    if G.is_affine(f):
        c, _ = apply(f, np.array([[cx, cy]]))
        mx, my = float(c[0, 0]), float(c[0, 1])
        hw = math.hypot(f[0, 0] * a, f[0, 1] * b)
        hh = math.hypot(f[1, 0] * a, f[1, 1] * b)
        ebox = (mx - hw, my - hh, mx + hw, my + hh)
    else:
        t = np.linspace(0.0, 2 * math.pi, 360, endpoint=False)
        pts, ok2 = apply(f, np.stack([cx + a * np.cos(t), cy + b * np.sin(t)], axis=1))
        ok = ok and ok2
        ebox = enclosing(pts)
    return (max(ebox[0], cbox[0]), max(ebox[1], cbox[1]), min(ebox[2], cbox[2]), min(ebox[3], cbox[3])), ok


# ---------------------------------------------------------------------------------------------------
# objects


def _move(f: np.ndarray, pts: np.ndarray, points: DZ.PointMap | None) -> tuple[np.ndarray, bool]:
    """``apply``, then the output's point map (edge coordinates) if it has one (a distortion)."""
    moved, ok = apply(f, pts)
    return (points(moved) if points is not None and len(moved) else moved), ok


def move_keypoints(f: np.ndarray, kpts: np.ndarray, size: G.Size, mirrored: bool,
               flip_idx: tuple[int, ...] | None, points: DZ.PointMap | None = None) -> tuple[np.ndarray, int]:
    """Keypoints (centre coordinates) through the edge map ``f`` (and ``points``); never deleted: a
    point that leaves the image (or the horizon) becomes 0 0 0. Returns the points and how many
    were hidden."""
    out = np.zeros_like(kpts, dtype=float)
    hidden = 0
    w, h = size
    fc = edge_to_centre(f)
    kpts = np.asarray(kpts, dtype=float)
    mapped = None if points is None else DZ.keypoints_through(f, kpts, points, apply)
    for i, (x, y, v) in enumerate(kpts):
        if v <= 0:
            continue
        p, ok = apply(fc, np.array([[x, y]])) if mapped is None else mapped[i]
        cx, cy = p[0]
        # inside the image in edge terms: [0, W] x [0, H]
        if not ok or not (-0.5 <= cx <= w - 0.5 and -0.5 <= cy <= h - 0.5):
            hidden += 1
            continue
        out[i] = (cx, cy, v)
    if mirrored and flip_idx is not None:
        out = out[list(flip_idx)]
    return out, hidden


def transform(objects: Sequence[Obj], f: np.ndarray, out_size: G.Size,
              params: Params = Params(), points: DZ.PointMap | None = None) -> tuple[list[Obj], Stats]:
    """Move ``objects`` through the edge map ``f`` onto an output of ``out_size``; clip to the
    image, filter by the params, and count. Objects keep their order. ``points``: a non-affine map
    applied after ``f`` (edge coordinates, (n, 2) -> (n, 2)); box edges are then densified."""
    w, h = float(out_size[0]), float(out_size[1])
    stats = Stats(objects_in=len(objects))
    centre = (w / 2.0, h / 2.0)
    # mirroring is judged where the output's centre comes from
    if G.is_affine(f):
        stats.mirrored = mirrors(f)
    else:
        src_centre, _ = apply(inverse(f), np.array([centre]))
        stats.mirrored = mirrors(f, tuple(src_centre[0]))
    out: list[Obj] = []
    # a box alone through an affine map (the common case) in Python floats: numpy's cost is per call
    coef = f[:2].ravel().tolist() if points is None and params.box_method == "corners" and G.is_affine(f) else None
    for obj in objects:
        if coef is not None and obj.box is not None and obj.polygons is None and obj.obb is None \
                and obj.keypoints is None:
            moved, reason = _plain_box(obj, coef, w, h, params)
        else:
            moved, reason = _one(obj, f, w, h, params, stats, points)
        loss.count(stats.classes, obj.cls, reason, moved is not None and moved.clipped)
        if reason is not None:
            stats.dropped[reason] += 1
            continue
        assert moved is not None
        if moved.clipped:
            stats.clipped += 1
        out.append(moved)
    stats.objects_out = len(out)
    return out, stats


def _plain_box(obj: Obj, coef: Sequence[float], w: float, h: float, params: Params) -> tuple[Obj | None, str | None]:
    """``_one`` for a box alone through the affine map of ``coef`` (its first two rows): the same
    operations in the same order (corners mapped, enclosed, clipped, measured by the shoelace sums
    taken in order, as np.dot takes four terms), on Python floats."""
    a, b, c, d, e, g = coef
    bx0, by0, bx1, by1 = obj.box  # type: ignore[misc]
    xs = (a * bx0 + b * by0 + c, a * bx1 + b * by0 + c, a * bx1 + b * by1 + c, a * bx0 + b * by1 + c)
    ys = (d * bx0 + e * by0 + g, d * bx1 + e * by0 + g, d * bx1 + e * by1 + g, d * bx0 + e * by1 + g)
    box = (min(xs), min(ys), max(xs), max(ys))
    s1 = xs[0] * ys[1] + xs[1] * ys[2] + xs[2] * ys[3] + xs[3] * ys[0]
    s2 = ys[0] * xs[1] + ys[1] * xs[2] + ys[2] * xs[3] + ys[3] * xs[0]
    full_area = abs(s1 - s2) / 2.0
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], w), min(box[3], h)
    if x1 <= x0 or y1 <= y0:
        return None, "outside"
    clipped = (x0, y0, x1, y1) != box
    measure = area(clip_polygon(np.array(list(zip(xs, ys))), w, h)) if clipped else full_area
    if measure <= 0 and full_area > 0:
        return None, "outside"
    vis = measure / full_area if full_area > 0 else 1.0
    if x1 - x0 < params.min_size or y1 - y0 < params.min_size:
        return None, "min_size"
    if measure < params.min_area:
        return None, "min_area"
    if vis < params.min_visibility:
        return None, "min_visibility"
    return replace(obj, box=(x0, y0, x1, y1), clipped=clipped), None


def _one(obj: Obj, f: np.ndarray, w: float, h: float, params: Params,
         stats: Stats, points: DZ.PointMap | None = None) -> tuple[Obj | None, str | None]:
    new = replace(obj, clipped=False)
    if obj.polygons is not None:
        polys, full_area, kept_area, clipped, fills = [], 0.0, 0.0, False, False
        for poly in obj.polygons:
            moved, ok = _move(f, poly if points is None else DZ.densify(poly), points)
            if not ok:
                return None, "horizon"
            full_area += area(moved)
            if inside_image(moved, w, h):
                if len(moved) >= 3 and len({tuple(p) for p in moved.tolist()}) >= 3:
                    polys.append(moved)
                    kept_area += area(moved)
                continue
            clipped = True
            # what the clip left, as true parts; a part that fills no pixel (pycocotools' rule)
            # is a sliver of something outside and would only stretch the box
            for part in honest_parts(clip_polygon(moved, w, h), w, h):
                if fills_pixel(part, int(w), int(h)):
                    polys.append(part)
                    kept_area += area(part)
                    fills = True
        # an object that fills no pixel (pycocotools' rule) has no mask to train on
        if not polys or not (fills or any(fills_pixel(p, int(w), int(h)) for p in polys)):
            return None, "outside"
        allpts = np.concatenate(polys)
        box = enclosing(allpts)
        new.polygons, new.box, new.clipped = polys, box, clipped
        vis = kept_area / full_area if full_area > 0 else 1.0
        measure = kept_area
    elif obj.obb is not None:
        moved, ok = _move(f, obj.obb if points is None else DZ.densify(obj.obb), points)
        if not ok:
            return None, "horizon"
        if points is not None:  # the curved outline's smallest enclosing rectangle
            moved = min_area_rect(moved)
        full_area = area(moved)
        if inside_image(moved, w, h):
            quad, measure = moved, full_area
        else:
            cut = clip_polygon(moved, w, h)
            if len(cut) < 3:
                return None, "outside"
            measure = area(cut)
            quad = min_area_rect(cut)
            quad[:, 0] = np.clip(quad[:, 0], 0.0, w)
            quad[:, 1] = np.clip(quad[:, 1], 0.0, h)
            new.clipped = True
        if measure <= 0:
            return None, "outside"
        new.obb, new.box = quad, enclosing(quad)
        vis = measure / full_area if full_area > 0 else 1.0
    elif obj.box is not None:
        ring = box_corners(obj.box) if points is None else DZ.densify(box_corners(obj.box))
        corners, ok = _move(f, ring, points)
        if not ok:
            return None, "horizon"
        if params.box_method == "ellipse" and points is not None:
            box = enclosing(_move(f, DZ.ellipse_ring(obj.box), points)[0])
        elif params.box_method == "ellipse":
            box, ok = ellipse_box(f, obj.box)
            if not ok:
                return None, "horizon"
        else:
            box = enclosing(corners)
        full_area = area(corners)
        x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], w), min(box[3], h)
        if x1 <= x0 or y1 <= y0:
            return None, "outside"
        new.clipped = (x0, y0, x1, y1) != tuple(box)
        new.box = (x0, y0, x1, y1)
        seen = clip_polygon(corners, w, h) if new.clipped else corners
        measure = area(seen)
        if measure <= 0 and full_area > 0:
            return None, "outside"
        vis = measure / full_area if full_area > 0 else 1.0
    else:  # keypoints alone: no shape to filter
        measure, vis = math.inf, 1.0
    if new.box is not None:
        bw, bh = new.box[2] - new.box[0], new.box[3] - new.box[1]
        if bw < params.min_size or bh < params.min_size:
            return None, "min_size"
    if measure < params.min_area:
        return None, "min_area"
    if vis < params.min_visibility:
        return None, "min_visibility"
    if obj.keypoints is not None:
        new.keypoints, hidden = move_keypoints(f, obj.keypoints, (int(w), int(h)), stats.mirrored, params.flip_idx,
                                           points)
        stats.keypoints_hidden += hidden
    return new, None
