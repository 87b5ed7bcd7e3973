"""Drawing labels on an image (for ``augcli preview --labels``): boxes, polygons, oriented boxes,
keypoints and a translucent mask overlay."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

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
