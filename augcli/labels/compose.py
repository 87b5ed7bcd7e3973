"""The labels of an output made from several sources (augcli/compose.py): every source's objects
placed on the canvas as its pixels are (scaled, moved, cut to the region it shows), then carried
through the pipeline like the labels of a single source.

The result is an ordinary ``SourceLabels`` whose objects are in canvas coordinates, so writing
YOLO, VOC, COCO and masks needs nothing new. The survival rules apply twice: to each placed object
(cut by its tile or rectangle) and to the composite through the pipeline's matrix; both counts are
kept (``merge_counts``).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from .. import compose as CP
from . import coco as C
from . import loss
from . import masks as MK
from . import model as L
from . import polygons as PG
from . import rle as RLE
from . import yolo as Y
from .errors import LabelError
from .source import SourceLabels


def _cell_map(src_size: Sequence[int], size: Sequence[int], at: Sequence[int], region: Sequence[int],
              pre: np.ndarray | None) -> np.ndarray:
    """Edge map from a source's label frame into the region's own frame (its top-left at 0, 0)."""
    f = np.array([[size[0] / src_size[0], 0.0, at[0] - region[0]],
                  [0.0, size[1] / src_size[1], at[1] - region[1]], [0.0, 0.0, 1.0]])
    return f if pre is None else f @ pre


def _shift_obj(o: L.Obj, dx: float, dy: float) -> L.Obj:
    if o.polygons is None and o.obb is None and o.keypoints is None:
        return replace(o, box=None if o.box is None else (o.box[0] + dx, o.box[1] + dy, o.box[2] + dx, o.box[3] + dy))
    d = np.array([dx, dy])
    kp = None
    if o.keypoints is not None:
        kp = o.keypoints.copy()
        seen = kp[:, 2] > 0
        kp[seen, :2] += d
    return replace(o, box=None if o.box is None else (o.box[0] + dx, o.box[1] + dy, o.box[2] + dx, o.box[3] + dy),
                   polygons=None if o.polygons is None else [p + d for p in o.polygons],
                   obb=None if o.obb is None else o.obb + d, keypoints=kp)


def _scales(f: np.ndarray) -> bool:
    """A map that only scales (by positive factors) and moves, as placing a tile or stretching a
    partner does (unless the source's own pre-map turns or mirrors it)."""
    return bool(f[2, 0] == 0 and f[2, 1] == 0 and f[2, 2] == 1 and f[0, 1] == 0 and f[1, 0] == 0 and
                f[0, 0] > 0 and f[1, 1] > 0)


def _transform_boxes(objects: Sequence[L.Obj], f: np.ndarray, out_size: Sequence[int], params: L.Params
                     ) -> tuple[list[L.Obj], L.Stats]:
    """``L.transform`` of objects that are boxes alone through a map that ``_scales``, in plain
    floats: the same boxes (the corners mapped by the same products and sums), rules and counts. A
    box stays a rectangle, so its areas are products, where L.transform sums the shoelace over its
    corners (the two can differ in the last bits, which matters only for a share of exactly
    --min-visibility or an area of exactly --min-area)."""
    (a, b, c), (d, e, g) = (float(v) for v in f[0]), (float(v) for v in f[1])
    w, h = float(out_size[0]), float(out_size[1])
    stats = L.Stats(objects_in=len(objects))
    out: list[L.Obj] = []
    for obj in objects:
        bx0, by0, bx1, by1 = obj.box  # type: ignore[misc]
        xs = (a * bx0 + b * by0 + c, a * bx1 + b * by0 + c, a * bx1 + b * by1 + c, a * bx0 + b * by1 + c)
        ys = (d * bx0 + e * by0 + g, d * bx1 + e * by0 + g, d * bx1 + e * by1 + g, d * bx0 + e * by1 + g)
        box = (min(xs), min(ys), max(xs), max(ys))
        full = (box[2] - box[0]) * (box[3] - box[1])
        x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], w), min(box[3], h)
        clipped = (x0, y0, x1, y1) != box
        measure = (x1 - x0) * (y1 - y0) if clipped else full
        reason = None
        if x1 <= x0 or y1 <= y0 or (measure <= 0 and full > 0):
            reason = "outside"
        elif x1 - x0 < params.min_size or y1 - y0 < params.min_size:
            reason = "min_size"
        elif measure < params.min_area:
            reason = "min_area"
        elif (measure / full if full > 0 else 1.0) < params.min_visibility:
            reason = "min_visibility"
        loss.count(stats.classes, obj.cls, reason, reason is None and clipped)
        if reason is not None:
            stats.dropped[reason] += 1
            continue
        stats.clipped += clipped
        out.append(replace(obj, box=(x0, y0, x1, y1), clipped=clipped))
    stats.objects_out = len(out)
    return out, stats


def _shift_ann(a: dict, dx: int, dy: int, cell: tuple[int, int], canvas: tuple[int, int], shown: str) -> dict:
    a = dict(a)
    if isinstance(a.get("bbox"), list):
        a["bbox"] = [a["bbox"][0] + dx, a["bbox"][1] + dy, a["bbox"][2], a["bbox"][3]]
    seg = a.get("segmentation")
    if isinstance(seg, dict):
        small = RLE.rle_to_mask(seg, shown, cell)
        big = np.zeros((canvas[1], canvas[0]), dtype=small.dtype)
        big[dy:dy + cell[1], dx:dx + cell[0]] = small
        a["segmentation"] = RLE.mask_to_rle(big, isinstance(seg.get("counts"), str))
    elif isinstance(seg, list):
        a["segmentation"] = [[v + (dx if j % 2 == 0 else dy) for j, v in enumerate(p)] for p in seg]
    if isinstance(a.get("keypoints"), list):
        kp = list(a["keypoints"])
        for j in range(0, len(kp) - 2, 3):
            if kp[j + 2] > 0:
                kp[j] += dx
                kp[j + 1] += dy
        a["keypoints"] = kp
    return a


def _box_of(o: L.Obj) -> tuple[float, float, float, float] | None:
    if o.box is not None:
        return o.box
    pts = [np.asarray(p, float) for p in (o.polygons or [])] + ([np.asarray(o.obb, float)] if o.obb is not None else [])
    return PG.enclosing(np.concatenate(pts)) if pts else None


def _covered(box: Sequence[float] | None, rect: Sequence[int]) -> float:
    """The share of ``box`` inside ``rect`` (0 for an object with no extent)."""
    if box is None:
        return 0.0
    area = (box[2] - box[0]) * (box[3] - box[1])
    if area <= 0:
        return 0.0
    iw = max(0.0, min(box[2], rect[2]) - max(box[0], rect[0]))
    ih = max(0.0, min(box[3], rect[3]) - max(box[1], rect[1]))
    return iw * ih / area


def _masked(box: Sequence[float] | None, mask: np.ndarray) -> float:
    """The share of ``box``'s pixels that ``mask`` covers."""
    if box is None:
        return 0.0
    h, w = mask.shape
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(mask[y0:y1, x0:x1].mean())


def _objects(sl: SourceLabels) -> list[L.Obj]:
    return [] if sl.parsed is None else (sl.parsed[1] if isinstance(sl.parsed, tuple) else sl.parsed.objects)


def instances(sl: SourceLabels | None) -> list[tuple[int, tuple[float, float, float, float]]]:
    """The objects of a source that copy-paste can paste (polygons, or COCO RLE masks), as
    ``(index, box)`` with the box in the pixels of the image as loaded."""
    out: list[tuple[int, tuple[float, float, float, float]]] = []
    if sl is None:
        return out
    for i, o in enumerate(_objects(sl)):
        if o.polygons:
            pts = np.concatenate([np.asarray(p, float) for p in o.polygons])
            if sl.pre is not None:
                pts = L.apply(sl.pre, pts)[0]
            box = PG.enclosing(pts)
        elif isinstance(o.extra, tuple) and o.extra[2][0] == "rle" and sl.pre is None:
            ys, xs = np.nonzero(o.extra[2][1])
            if not len(xs):
                continue
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        else:
            continue
        if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
            out.append((i, tuple(float(v) for v in box)))
    return out


def paste_mask(sl: SourceLabels, obj: Mapping[str, Any], canvas: tuple[int, int]) -> np.ndarray:
    """The canvas pixels (bool, H x W) a pasted instance covers: its polygons through the
    recorded matrix, filled; or its RLE mask moved by nearest neighbour."""
    objs = _objects(sl)
    if not 0 <= obj["index"] < len(objs):
        raise LabelError(f"a pasted object is number {obj['index']}, {sl.source} has {len(objs)}")
    o = objs[obj["index"]]
    m = np.asarray(obj["matrix"], float)
    if o.polygons:
        from PIL import ImageDraw  # --copy-paste only: other runs do not load it (and its fonts)

        f = m if sl.pre is None else m @ sl.pre
        cover = Image.new("L", canvas, 0)
        draw = ImageDraw.Draw(cover)
        for p in o.polygons:
            pts = L.apply(f, np.asarray(p, float))[0] - 0.5  # edge -> the pixel-centre coordinates Pillow draws in
            draw.polygon([tuple(v) for v in pts.tolist()], fill=255)
        return np.asarray(cover) > 0
    from ..warping import warp

    raw = Image.fromarray(o.extra[2][1].astype(np.uint8) * 255)
    return np.asarray(warp(raw, CP.backward_centre(obj["matrix"]), canvas, fill_mode="constant",
                           interpolation="nearest")) > 127


class Composite:
    """Objects, COCO annotations and the mask of a canvas being composed, step by step."""

    def __init__(self, setup: Any, canvas: tuple[int, int]) -> None:
        self.setup, self.canvas = setup, canvas
        self.objects: list[L.Obj] = []
        self.anns: list[dict] = []
        self.template: Any = None  # VOC: the first parsed file; COCO: the first entry; YOLO: the kind
        self.mask: Image.Image | None = None
        self.stats = L.Stats()
        self.labelled = False
        self.voc_objects: list = []  # VOC: the <object> element of each placed object (its extra: the index)

    def place(self, sl: SourceLabels | None, src_size: Sequence[int], size: Sequence[int], at: Sequence[int],
              region: Sequence[int]) -> None:
        """Add one source's objects, as its pixels are placed, cut to ``region``."""
        cell = (region[2] - region[0], region[3] - region[1])
        if sl is None:
            return
        setup = self.setup
        if sl.parsed is not None:
            self.labelled = True
            f = _cell_map(src_size, size, at, region, sl.pre)
            if setup.format == "coco":
                entry, objs = sl.parsed
                self.template = self.template or entry
                mm = L.edge_to_centre(np.linalg.inv(f))
                _, anns, st = C.transform_image(entry, objs, mm, f, cell, setup.params, setup.coco.keypoint_flip, "composite")
                self.anns.extend(_shift_ann(a, region[0], region[1], cell, self.canvas, entry.json_rel) for a in anns)
            else:
                if setup.format == "yolo":
                    if self.template is not None and sl.parsed.objects and self.template.kind != sl.parsed.kind and \
                            self.objects:
                        raise LabelError(f"{sl.label_rel}: YOLO {sl.parsed.kind} labels cannot be composed with "
                                         f"{self.template.kind} labels")
                if self.template is None or (setup.format == "yolo" and not self.objects and sl.parsed.objects):
                    self.template = sl.parsed
                plain = _scales(f) and all(o.box is not None and o.polygons is None and o.obb is None and
                                           o.keypoints is None for o in sl.parsed.objects)
                objs, st = (_transform_boxes if plain else L.transform)(sl.parsed.objects, f, cell, setup.params)
                if setup.format == "voc":  # the writer finds each object's element by its index
                    elements = sl.parsed.root.findall("object")
                    for o in objs:
                        self.voc_objects.append(copy.deepcopy(elements[o.extra]))
                    objs = [replace(o, extra=len(self.voc_objects) - len(objs) + j) for j, o in enumerate(objs)]
                self.objects.extend(_shift_obj(o, region[0], region[1]) for o in objs)
            self._count(st)
        if sl.mask is not None or setup.mask_layout is not None:
            self._place_mask(sl.mask, size, at, region)

    def paste(self, sl: SourceLabels, step: Mapping[str, Any]) -> None:
        """Copy-paste: each pasted instance hides what it covers, then joins the objects."""
        setup = self.setup
        for obj in step["objects"]:
            self.occlude(mask=paste_mask(sl, obj, self.canvas))
            self.labelled = True
            f = np.asarray(obj["matrix"], float)
            f = f if sl.pre is None else f @ sl.pre
            if setup.format == "coco":
                entry, objs = sl.parsed
                self.template = self.template or entry
                mm = L.edge_to_centre(np.linalg.inv(f))
                _, anns, st = C.transform_image(entry, [objs[obj["index"]]], mm, f, self.canvas, setup.params,
                                                setup.coco.keypoint_flip, "composite")
                self.anns.extend(anns)
            else:
                if self.template is None or not self.objects:
                    self.template = sl.parsed
                elif setup.format == "yolo" and self.template.kind != sl.parsed.kind:
                    raise LabelError(f"{sl.label_rel}: YOLO {sl.parsed.kind} labels cannot be pasted among "
                                     f"{self.template.kind} labels")
                moved, st = L.transform([sl.parsed.objects[obj["index"]]], f, self.canvas, setup.params)
                self.objects.extend(moved)
            self._count(st)

    def _count(self, st: L.Stats) -> None:
        self.stats.objects_in += st.objects_in
        for k, v in st.dropped.items():
            self.stats.dropped[k] += v
        self.stats.clipped += st.clipped
        self.stats.keypoints_hidden += st.keypoints_hidden

    def _place_mask(self, mask: Image.Image | None, size: Sequence[int], at: Sequence[int],
                    region: Sequence[int]) -> None:
        fill = self.setup.options.mask_fill
        if self.mask is None:
            if mask is None:
                return
            self.mask = MK.resize_mask(Image.new(mask.mode, (1, 1), fill), self.canvas)
            if mask.mode == "P" and mask.getpalette() is not None:
                self.mask.putpalette(mask.getpalette())
        blank = Image.new(self.mask.mode, (region[2] - region[0], region[3] - region[1]), fill)
        self.mask.paste(blank, tuple(region[:2]))
        if mask is None:
            return
        tile = MK.resize_mask(mask, tuple(size))
        box = (max(region[0], at[0]), max(region[1], at[1]), min(region[2], at[0] + size[0]),
               min(region[3], at[1] + size[1]))
        if box[0] < box[2] and box[1] < box[3]:
            self.mask.paste(tile.crop((box[0] - at[0], box[1] - at[1], box[2] - at[0], box[3] - at[1])), box[:2])

    def occlude(self, rect: Sequence[int] | None = None, mask: np.ndarray | None = None) -> None:
        """Objects under a pasted rectangle (or instance ``mask``): dropped when entirely covered or
        when less than ``--min-visibility`` of their box stays visible; the others are kept whole."""
        floor = self.setup.params.min_visibility

        def gone(box: Any) -> bool:
            visible = 1.0 - (_covered(box, rect) if mask is None else _masked(box, mask))
            return visible <= 1e-9 or visible < floor

        kept = [o for o in self.objects if not gone(_box_of(o))]
        kept_anns = [a for a in self.anns if not gone(_ann_box(a))]
        self.stats.dropped["min_visibility"] += len(self.objects) - len(kept) + len(self.anns) - len(kept_anns)
        self.objects, self.anns = kept, kept_anns

    def labels(self, primary: SourceLabels) -> SourceLabels:
        """The composite as the labels of one source of the canvas's size."""
        setup = self.setup
        parsed: Any = None
        if self.labelled:
            if setup.format == "coco":
                t = self.template
                image = dict(t.image, width=self.canvas[0], height=self.canvas[1])
                entry = C.Entry(t.json_rel, t.root_rel, image, tuple(self.anns))
                parsed = (entry, C.objects_of(entry, self.canvas, setup.coco.keypoint_flip))
            elif setup.format == "yolo":
                parsed = Y.Parsed(self.template.kind, self.objects, 0)
            else:
                root = copy.deepcopy(self.template.root)
                for el in root.findall("object"):
                    root.remove(el)
                root.extend(self.voc_objects)
                parsed = replace(self.template, root=root, objects=self.objects, size=None)
        out = SourceLabels(setup, primary.label_rel, parsed, None, self.mask, None, primary.source)
        return out


def _ann_box(a: dict) -> tuple[float, float, float, float] | None:
    b = a.get("bbox")
    return (b[0], b[1], b[0] + b[2], b[1] + b[3]) if isinstance(b, list) and len(b) == 4 else None


def compose_labels(setup: Any, primary: str, steps: Sequence[Mapping[str, Any]],
                   labels: Mapping[str, SourceLabels | None], sizes: Mapping[str, tuple[int, int]]
                   ) -> tuple[SourceLabels, L.Stats]:
    """The labels of the canvas ``steps`` build (``labels`` and ``sizes``: every source's, as loaded)."""
    canvas = tuple(sizes[primary])
    comp = Composite(setup, canvas)  # type: ignore[arg-type]
    if not steps or steps[0]["op"] != "mosaic":
        comp.place(labels[primary], sizes[primary], canvas, (0, 0), (0, 0, canvas[0], canvas[1]))
    for step in steps:
        if step["op"] == "mixup" and comp.mask is not None:
            raise LabelError("mixup blends pixels; a class-index mask cannot be blended (use --mosaic or --cutmix)")
        if step["op"] == "cutmix":
            comp.occlude(step["region"])
        if step["op"] == "copy_paste" and labels.get(step["source"]) is not None:
            comp.paste(labels[step["source"]], step)
        for src, size, at, region in CP.placements(step, canvas):
            comp.place(labels.get(src), sizes[src], size, at, region)
    return comp.labels(labels[primary]), comp.stats


def merge_counts(entry: dict[str, Any], placed: L.Stats) -> None:
    """Count the objects the placing dropped or cut in an output's label entry."""
    if "in" not in entry:
        return
    entry["in"] = placed.objects_in
    for k, v in placed.dropped.items():
        entry["dropped"][k] = entry["dropped"].get(k, 0) + v
    entry["clipped"] += placed.clipped
    entry["keypoints_hidden"] += placed.keypoints_hidden
