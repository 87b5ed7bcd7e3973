"""Polygon geometry in edge coordinates (the image spans [0, W] x [0, H]), pure functions: area,
clipping to the image (honestly: a polygon the border cuts into several parts stays several parts),
the pixels a polygon fills, and enclosing boxes, rotated rectangles and hulls."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def area(poly: np.ndarray) -> float:
    """Unsigned shoelace area of an (n, 2) polygon."""
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    # np.roll(v, -1) without its argument handling: the same arrays, so the same sums
    return abs(float(np.dot(x, np.concatenate((y[1:], y[:1]))) - np.dot(y, np.concatenate((x[1:], x[:1]))))) / 2.0


def clip_polygon(poly: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a polygon against [0, width] x [0, height] (a convex window, so
    correct for any subject polygon; concave ones may keep zero-area bridges along the border).
    Intersections land exactly on the border value. Consecutive duplicate vertices are removed."""
    pts = [tuple(map(float, p)) for p in np.asarray(poly, dtype=float)]
    # (axis, limit, keep points with coordinate >= limit?)
    for axis, limit, keep_ge in ((0, 0.0, True), (0, float(width), False), (1, 0.0, True), (1, float(height), False)):
        if not pts:
            break

        def inside(p, axis=axis, limit=limit, keep_ge=keep_ge):
            return p[axis] >= limit if keep_ge else p[axis] <= limit

        def cut(p, q, axis=axis, limit=limit):
            # the same crossing whichever way the edge runs, so an edge walked there and back
            # (a connector, a bridge) is cut at one point and the two halves cancel exactly
            if q < p:
                p, q = q, p
            t = (limit - p[axis]) / (q[axis] - p[axis])
            other = p[1 - axis] + t * (q[1 - axis] - p[1 - axis])
            return (limit, other) if axis == 0 else (other, limit)

        out = []
        prev = pts[-1]
        for cur in pts:
            if inside(cur):
                if not inside(prev):
                    out.append(cut(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cut(prev, cur))
            prev = cur
        pts = out
    dedup: list[tuple[float, float]] = []
    for p in pts:
        if not dedup or p != dedup[-1]:
            dedup.append(p)
    while len(dedup) > 1 and dedup[0] == dedup[-1]:
        dedup.pop()
    return np.array(dedup, dtype=float).reshape(-1, 2)


# A clipped part whose area is at most this (px^2) is a leftover of a bridge, not a shape.
PART_AREA_EPS = 1e-6
# Adjacent edges turning back on themselves within this sine are one spike.
_SPIKE_SIN = 1e-9


def _drop_spikes(pts: list) -> tuple[list, bool]:
    """Remove vertices where the ring turns straight back (u -> v -> w with w on the line u-v,
    behind v): the run u -> v -> w becomes u -> w. Repeated until none is left; also says whether
    anything changed."""
    changed = False
    again = True
    while again and len(pts) >= 3:
        again = False
        out: list = []
        for p in pts:
            out.append(p)
            while len(out) >= 2 and out[-1] == out[-2]:
                out.pop()
            while len(out) >= 3 and _turns_back(out[-3], out[-2], out[-1]):
                del out[-2]
                changed = again = True
                while len(out) >= 2 and out[-1] == out[-2]:
                    out.pop()
        # the ring closes: look across its seam too
        while len(out) >= 2 and out[0] == out[-1]:
            out.pop()
            changed = True
        while len(out) >= 3 and _turns_back(out[-1], out[0], out[1]):
            del out[0]
            changed = again = True
        while len(out) >= 3 and _turns_back(out[-2], out[-1], out[0]):
            del out[-1]
            changed = again = True
        pts = out
    return pts, changed


def _turns_back(u, v, w) -> bool:
    ax, ay = v[0] - u[0], v[1] - u[1]
    bx, by = w[0] - v[0], w[1] - v[1]
    if ax * bx + ay * by >= 0:
        return False
    return abs(ax * by - ay * bx) <= _SPIKE_SIN * math.hypot(ax, ay) * math.hypot(bx, by)


def _on_border(p, q, width: float, height: float):
    """The border line (axis, value) both ends of an edge lie on, or None."""
    for axis, limit in ((0, 0.0), (0, width), (1, 0.0), (1, height)):
        if p[axis] == limit and q[axis] == limit:
            return axis, limit
    return None


def honest_parts(ring: np.ndarray, width: float, height: float) -> list[np.ndarray]:
    """The true parts of a clipped ring. Sutherland-Hodgman joins the pieces of a concave polygon
    by zero-area runs along the border, and a connector walked there and back (Ultralytics'
    ``merge_multi_segment`` joins the parts of one object that way) whose far part was cut away
    is left as a spike. Those cover nothing but stretch the box, so: spikes are removed, every
    stretch of edge walked in both directions (along a border line, or an edge and its exact
    reverse) cancels, the remaining edges are walked into closed rings in their original order,
    and rings without area are dropped. The covered region (winding number) is unchanged. A ring
    with nothing to cancel comes back as it was."""
    pts = [tuple(map(float, p)) for p in np.asarray(ring, dtype=float).reshape(-1, 2)]
    pts, changed = _drop_spikes(pts)
    if len(pts) < 3:
        return []
    n = len(pts)
    edges = [(pts[i], pts[(i + 1) % n]) for i in range(n)]
    # split the edges lying on a border line at every vertex on that line, so partial overlaps cancel
    stops: dict = {}
    for p, q in edges:
        line = _on_border(p, q, width, height)
        if line is not None:
            stops.setdefault(line, set()).update((p[1 - line[0]], q[1 - line[0]]))
    split = []
    for p, q in edges:
        line = _on_border(p, q, width, height)
        if line is None:
            split.append((p, q))
            continue
        axis, limit = line
        a, b = p[1 - axis], q[1 - axis]
        inner = sorted(v for v in stops[line] if min(a, b) < v < max(a, b))
        if b < a:
            inner.reverse()
        prev = p
        for v in inner:
            cur = (limit, v) if axis == 0 else (v, limit)
            split.append((prev, cur))
            prev = cur
        split.append((prev, q))
    alive = [True] * len(split)
    pending: dict = {}
    for i, (p, q) in enumerate(split):
        back = pending.get((q, p))
        if back:
            alive[back.pop()] = alive[i] = False
            changed = True
        else:
            pending.setdefault((p, q), []).append(i)
    if not changed:
        return [np.array(pts, dtype=float)] if area(np.array(pts)) > PART_AREA_EPS else []
    left = [e for e, a in zip(split, alive) if a]
    starts: dict = {}
    for i, (p, _) in enumerate(left):
        starts.setdefault(p, []).append(i)
    used = [False] * len(left)
    parts = []
    for k in range(len(left)):
        if used[k]:
            continue
        first = left[k][0]
        cycle, i = [first], k
        while True:
            used[i] = True
            cur = left[i][1]
            if cur == first:
                break
            nxt = [j for j in starts.get(cur, ()) if not used[j]]
            if not nxt:
                break
            # keep to the original order: the next unused edge after this one, cyclically
            later = [j for j in nxt if j > i]
            i = later[0] if later else nxt[0]
            cycle.append(cur)
        cycle, _ = _drop_spikes(cycle)
        poly = np.array(cycle, dtype=float).reshape(-1, 2)
        if len(poly) >= 3 and area(poly) > PART_AREA_EPS:
            parts.append(poly)
    return parts


def join_parts(parts: Sequence[np.ndarray]) -> np.ndarray:
    """One ring through several parts, as Ultralytics' ``merge_multi_segment`` writes a
    multi-part object on one YOLO row: each part is joined to the next by a zero-width connector
    between their closest vertices, walked there and back (so it covers nothing and stays inside
    the parts' hull)."""
    parts = [np.asarray(p, dtype=float).reshape(-1, 2) for p in parts]
    if len(parts) == 1:
        return parts[0]
    links = []  # (vertex of part i, vertex of part i + 1)
    for a, b in zip(parts, parts[1:]):
        d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        links.append(np.unravel_index(int(np.argmin(d)), d.shape))

    def tour(i: int, start: int) -> list:
        p = parts[i]
        n = len(p)
        out = []
        for k in range(n + 1 if i else n):  # a visited part ends back at its entry vertex
            j = (start + k) % n
            out.append(p[j])
            if i + 1 < len(parts) and j == links[i][0] and k < n:
                out.extend(tour(i + 1, int(links[i][1])))
                out.append(p[j])
        return out

    return np.array(tour(0, 0), dtype=float)


def fills_pixel(poly: np.ndarray, width: int, height: int) -> bool:
    """Whether pycocotools' rasteriser fills at least one pixel of ``poly``: at once when a pixel
    centre near the middle lies inside (even-odd) at least 1 px from every edge (its rounding moves
    the outline by well under that), else by :func:`raster_extent`."""
    p = np.asarray(poly, dtype=float).reshape(-1, 2)
    if len(p) >= 3:
        q = np.concatenate([p[1:], p[:1]])
        d = q - p
        ll = np.maximum((d ** 2).sum(1), 1e-300)
        for c in ((p.min(0) + p.max(0)) / 2, p.mean(0)):
            c = np.floor(c) + 0.5
            if not (0 < c[0] < width and 0 < c[1] < height):
                continue
            t = np.clip(((c - p) * d).sum(1) / ll, 0.0, 1.0)
            if ((p + t[:, None] * d - c) ** 2).sum(1).min() < 1.0:
                continue
            crosses = (p[:, 1] > c[1]) != (q[:, 1] > c[1])
            with np.errstate(divide="ignore", invalid="ignore"):
                xs = p[:, 0] + (c[1] - p[:, 1]) * d[:, 0] / d[:, 1]
            if int(np.count_nonzero(crosses & (xs > c[0]))) % 2 == 1:
                return True
    return raster_extent(p, width, height) is not None


def raster_extent(poly: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The pixels pycocotools' polygon rasteriser (``rleFrPoly``: the outline traced on a 5x grid,
    a column's pixel kept between crossings of the line x = column + 0.4) fills for ``poly`` (edge
    coordinates) on a ``width`` x ``height`` image, as their extent (x0, y0, x1, y1) in edge
    coordinates; None when it fills none. Reimplemented in numpy: augcli does not depend on
    pycocotools."""
    w, h = int(width), int(height)
    p = np.asarray(poly, dtype=float).reshape(-1, 2)
    if len(p) < 3 or w <= 0 or h <= 0:
        return None
    scale = 5
    x = np.trunc(scale * p[:, 0] + 0.5).astype(np.int64)
    y = np.trunc(scale * p[:, 1] + 0.5).astype(np.int64)
    xs, ys, xe, ye = x, y, np.roll(x, -1), np.roll(y, -1)
    dx, dy = np.abs(xe - xs), np.abs(ye - ys)
    major_x = dx >= dy
    steps = np.where(major_x, dx, dy)
    keep = steps > 0  # a zero-length edge adds no crossing
    xs, ys, xe, ye, dx, dy, major_x, steps = (a[keep] for a in (xs, ys, xe, ye, dx, dy, major_x, steps))
    if not len(xs):
        return None
    flip = (major_x & (xs > xe)) | (~major_x & (ys > ye))
    xs, xe = np.where(flip, xe, xs), np.where(flip, xs, xe)
    ys, ye = np.where(flip, ye, ys), np.where(flip, ys, ye)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(major_x, (ye - ys) / np.where(dx > 0, dx, 1), (xe - xs) / np.where(dy > 0, dy, 1))
    count = steps + 1
    e = np.repeat(np.arange(len(steps)), count)
    d = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    t = np.where(flip[e], steps[e] - d, d)
    mx = major_x[e]
    u = np.where(mx, t + xs[e], np.trunc(xs[e] + s[e] * t + 0.5).astype(np.int64))
    v = np.where(mx, np.trunc(ys[e] + s[e] * t + 0.5).astype(np.int64), t + ys[e])
    moved = u[1:] != u[:-1]
    u1, u0, v1, v0 = u[1:][moved], u[:-1][moved], v[1:][moved], v[:-1][moved]
    xd = np.where(u1 < u0, u1, u1 - 1)
    col_ok = (xd - 2) % scale == 0
    col = (xd - 2) // scale
    col_ok &= (col >= 0) & (col <= w - 1)
    yd = (np.minimum(v1, v0) + 0.5) / scale - 0.5
    row = np.ceil(np.clip(yd, 0, h)).astype(np.int64)
    pos = col[col_ok] * h + row[col_ok]
    if not len(pos):
        return None
    vals, counts = np.unique(pos, return_counts=True)
    toggles = vals[counts % 2 == 1]  # crossings at one place cancel in pairs
    if len(toggles) % 2:
        toggles = np.append(toggles, w * h)
    starts, ends = toggles[0::2], toggles[1::2]
    runs = ends > starts
    starts, ends = starts[runs], ends[runs] - 1
    if not len(starts):
        return None
    c0, c1 = starts // h, ends // h
    r0 = np.where(c0 == c1, starts % h, 0)
    r1 = np.where(c0 == c1, ends % h, h - 1)
    return int(c0.min()), int(r0.min()), int(c1.max()) + 1, int(r1.max()) + 1


def inside_image(pts: np.ndarray, width: float, height: float) -> bool:
    return bool(np.all(pts[:, 0] >= 0) and np.all(pts[:, 0] <= width) and np.all(pts[:, 1] >= 0)
                and np.all(pts[:, 1] <= height))


def box_corners(box: Sequence[float]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def enclosing(pts: np.ndarray) -> tuple[float, float, float, float]:
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


def min_area_rect(pts: np.ndarray) -> np.ndarray:
    """The 4 corners of the minimum-area rectangle around ``pts`` (rotating calipers over the
    convex hull's edge directions)."""
    hull = convex_hull(pts)
    if len(hull) < 3:
        x0, y0, x1, y1 = enclosing(np.asarray(pts, dtype=float).reshape(-1, 2))
        return box_corners((x0, y0, x1, y1))
    best = None
    for i in range(len(hull)):
        e = hull[(i + 1) % len(hull)] - hull[i]
        n = math.hypot(*e)
        if n == 0:
            continue
        u = e / n
        v = np.array([-u[1], u[0]])
        pu, pv = hull @ u, hull @ v
        ar = (pu.max() - pu.min()) * (pv.max() - pv.min())
        if best is None or ar < best[0]:
            best = (ar, u, v, pu.min(), pu.max(), pv.min(), pv.max())
    _, u, v, a0, a1, b0, b1 = best  # type: ignore[misc]
    return np.array([a0 * u + b0 * v, a1 * u + b0 * v, a1 * u + b1 * v, a0 * u + b1 * v])


def convex_hull(pts: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain, counter-clockwise in a y-up sense, no repeated points."""
    p = sorted(set(map(tuple, np.asarray(pts, dtype=float).reshape(-1, 2).tolist())))
    if len(p) < 3:
        return np.array(p, dtype=float).reshape(-1, 2)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for q in p:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    upper: list = []
    for q in reversed(p):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    return np.array(lower[:-1] + upper[:-1], dtype=float)
