"""An output's objects as the Hugging Face ``objects`` column (for the hf and webdataset sinks)."""

from __future__ import annotations

import numpy as np

from . import polygons as PG


def _xywh(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [round(x0, 3), round(y0, 3), round(x1 - x0, 3), round(y1 - y0, 3)]


def pixel_objects(objs: list) -> dict[str, list]:
    """An output's objects as Hugging Face ``objects``: COCO [x, y, w, h] boxes in pixels (edge
    coordinates; polygons and oriented boxes by their enclosing box) and their classes. Taken from
    the transformed objects in memory, never read back from the label files. Not in the manifest:
    the orchestrator hands it to the sink (augcli.run.sinks.take_objects)."""
    boxes, cats = [], []
    for o in objs:
        if o.box is not None:
            box = o.box
        elif o.obb is not None:
            box = PG.enclosing(np.asarray(o.obb, dtype=float))
        elif o.polygons:
            box = PG.enclosing(np.concatenate([np.asarray(p, dtype=float) for p in o.polygons]))
        else:
            continue  # keypoints alone: no box to give
        boxes.append(_xywh(*(float(v) for v in box)))
        cats.append(int(o.cls) if isinstance(o.cls, (int, np.integer)) else o.cls)
    return {"bbox": boxes, "categories": cats}


def coco_objects(anns: list) -> dict[str, list]:
    """The same for an output's COCO annotations (already [x, y, w, h] in pixels)."""
    boxes, cats = [], []
    for a in anns:
        if isinstance(a.get("bbox"), list) and len(a["bbox"]) == 4:
            boxes.append([round(float(v), 3) for v in a["bbox"]])
            cats.append(a.get("category_id"))
    return {"bbox": boxes, "categories": cats}
