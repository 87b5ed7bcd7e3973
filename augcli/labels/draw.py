"""Drawing labels on an image (for ``augcli preview --labels``): boxes, polygons, oriented boxes,
keypoints and a translucent mask overlay."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

from . import distorted as DZ
from . import model as L
from . import polygons as PG
from .model import Obj

COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def _colour(cls: Any) -> tuple[int, int, int]:
    key = cls if isinstance(cls, int) else sum(map(ord, str(cls)))
    return COLOURS[key % len(COLOURS)]


def overlay(image: Image.Image, objects: Sequence[Obj], mask: Image.Image | None) -> Image.Image:
    """An RGB copy of ``image`` with the mask blended in (45 %, one colour per value, 0 left clear)
    and every object outlined in its class colour; keypoints as dots (hollow when occluded)."""
    from ..imageio import prepare_for_format

    base = prepare_for_format(image, "jpeg", (255, 255, 255)).convert("RGB")
    if mask is not None:
        vals = np.asarray(mask).astype(np.int64)
        if vals.ndim == 3:
            vals = vals[..., 0] * 65536 + vals[..., 1] * 256 + vals[..., 2]
        rgb = np.asarray(base).astype(np.float32)
        colours = np.array(COLOURS, np.float32)
        on = vals != 0
        tint = colours[vals % len(COLOURS)]
        rgb[on] = rgb[on] * 0.55 + tint[on] * 0.45
        base = Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(base)
    width = max(1, round(max(base.size) / 256))
    for o in objects:
        c = _colour(o.cls)
        if o.polygons is not None:
            for p in o.polygons:
                draw.line([tuple(v) for v in p.tolist()] + [tuple(p[0].tolist())], fill=c, width=width)
        elif o.obb is not None:
            q = o.obb.tolist()
            draw.line([tuple(v) for v in q] + [tuple(q[0])], fill=c, width=width)
        elif o.box is not None:
            x0, y0, x1, y1 = o.box
            draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=c, width=width)
        if o.keypoints is not None:
            r = 1.5 * width + 1
            for x, y, v in o.keypoints.tolist():
                if v > 0:
                    draw.ellipse([x - r, y - r, x + r, y + r], outline=c, fill=c if v >= 2 else None, width=width)
    return base


DROPPED_COLOUR = (255, 0, 255)  # dashed: an object the survival rules dropped from this output
CLIPPED_COLOUR = (0, 255, 255)  # dashed: the whole outline of an object the output's border cut


def _outline(f: np.ndarray, obj: Obj) -> list[np.ndarray]:
    """The object's outlines moved by ``f`` and not clipped (none when a point crosses the horizon)."""
    shapes = obj.polygons if obj.polygons is not None else [obj.obb] if obj.obb is not None else \
        [PG.box_corners(obj.box)] if obj.box is not None else []
    moved = [L.apply(f, np.asarray(s, dtype=float)) for s in shapes]
    return [pts for pts, ok in moved if ok]


def _dashed(draw: ImageDraw.ImageDraw, pts: np.ndarray, colour, width: int) -> None:
    """A closed dashed line through ``pts`` (dashes and gaps of 3 line widths)."""
    dash = 3 * width
    ring = list(pts.tolist()) + [pts[0].tolist()]
    for (x0, y0), (x1, y1) in zip(ring, ring[1:]):
        n = max(1, int(np.hypot(x1 - x0, y1 - y0) // dash))
        for i in range(0, n, 2):
            a, b = i / n, min(1.0, (i + 1) / n)
            draw.line([(x0 + a * (x1 - x0), y0 + a * (y1 - y0)), (x0 + b * (x1 - x0), y0 + b * (y1 - y0))],
                      fill=colour, width=width)


def loss_overlay(image: Image.Image, labels: Any, matrix: np.ndarray, out_size: tuple[int, int],
                 window: Any = None, nodes: Any = None) -> tuple[Image.Image, str]:
    """``overlay`` of one output's labels (``labels``: augcli.labels.source.SourceLabels) plus, dashed,
    the dropped objects (DROPPED_COLOUR) and the whole outline of the clipped ones (CLIPPED_COLOUR),
    and its caption: ``3 kept (1 clipped), 1 dropped (1 outside)``. Objects are judged one by one by
    the run's rules, as the label transform judges them."""
    from .loss import summary_line

    kept, mask = labels.shapes(matrix, out_size, window, nodes)
    base = overlay(image, kept, mask)
    parsed = labels.parsed
    objs = [] if parsed is None else [o for o in parsed[1] if o.extra[2][0] != "rle"] \
        if labels.setup.format == "coco" else parsed.objects
    f = L.edge_map(matrix, out_size, labels.pre)
    draw = ImageDraw.Draw(base)
    width = max(1, round(max(base.size) / 256))
    totals: dict[str, Any] = {"in": 0, "kept": 0, "clipped": 0, "dropped": {}}
    for o in objs:
        out, st = L.transform([o], f, out_size, labels.setup.params, DZ.points_of(nodes))
        totals["in"] += 1
        if out:
            totals["kept"] += 1
            totals["clipped"] += 1 if out[0].clipped else 0
        else:
            reason = next(k for k, v in st.dropped.items() if v)
            totals["dropped"][reason] = totals["dropped"].get(reason, 0) + 1
        if not out or out[0].clipped:
            for pts in _outline(f, o):
                _dashed(draw, pts, CLIPPED_COLOUR if out else DROPPED_COLOUR, width)
    return base, summary_line(totals)
