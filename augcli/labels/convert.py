"""``--labels-output yolo|coco|voc``: write each output's labels in another format than they came in.

The objects are carried exactly as for their own format (one matrix, clipping, filtering), then
written by the target's writer. What the target cannot hold is counted per class before anything
is written (a loss report): polygons, COCO RLE masks and keypoints into VOC, oriented boxes into
VOC, polygons and masks into YOLO pose, masks into YOLO segment rows, VOC difficult flags into
YOLO (COCO keeps them as a ``difficult`` field). A polygon or oriented box that is exactly its own
axis-aligned box loses nothing. Without ``allow_lossy`` a loss refuses the
run (exit 2); with it the objects keep their boxes.

Classes: YOLO ids <-> names from the dataset YAML (a YOLO id without a name is named by its
number), COCO category ids and names, VOC names. Ids made for a target are deterministic: COCO
category ids sorted, or VOC names sorted, become YOLO ids 0..n-1 (and COCO ids 1..n from VOC);
a YOLO id c becomes COCO category id c + 1.

Placement follows what augcli writes for each format: YOLO ``.txt`` found from the output image as
Ultralytics finds it (``images/`` -> ``labels/``, else beside) plus ``data.yaml`` at the output's
root; VOC ``.xml`` beside the image (``JPEGImages/`` -> ``Annotations/``); COCO one
``_annotations.coco.json`` per image folder (Roboflow's layout) with bare file names.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..choices import LABEL_OUTPUTS
from . import coco as C
from . import model as L
from . import polygons as PG
from . import voc as V
from . import yolo as Y
from .errors import LabelError
from .objects import coco_objects, pixel_objects

TARGETS = LABEL_OUTPUTS
LOSSES = ("polygons", "masks", "keypoints", "oriented boxes", "difficult flags")  # in the report's order
COCO_JSON = "_annotations.coco.json"
MASK = "mask"  # Obj.extra of an object whose shape is a COCO RLE mask
DIFFICULT = "difficult"  # Obj.extra of a VOC object marked difficult (COCO: a "difficult": 1 field)


@dataclass(frozen=True)
class Converter:
    """How one run writes its labels in ``target`` (picklable: it travels to the workers)."""

    source: str  # yolo, coco, voc
    target: str  # yolo, coco, voc
    names: dict  # source class key -> name (for the report and the target's class list)
    ids: dict  # source class key -> target class (YOLO id, COCO category id, VOC name)
    kind: str = "detect"  # YOLO target rows: detect, segment, pose
    keypoints: int = 0  # K of pose rows (YOLO target) or of COCO categories with keypoints
    flip_idx: tuple[int, ...] | None = None
    allow_lossy: bool = False
    precision: int = 6
    json_rels: tuple[str, ...] = ()  # COCO target: the JSON files, relative to OUTPUT_DIR
    splits: tuple[tuple[str, tuple[str, ...]], ...] = ()  # YOLO target: data.yaml train/val/test folders
    number_ids: bool = False  # YOLO source: a class the names do not list is named by its number
    notes: tuple[str, ...] = field(default=())

    # -- where files go ---------------------------------------------------------------------------

    def label_out(self, output_dir: Path, out_rel: str) -> list[Path]:
        """The per-output label file of ``out_rel`` (none for COCO: one JSON per folder)."""
        if self.target == "yolo":
            return [output_dir / Y.label_path(out_rel)]
        if self.target == "voc":
            return [output_dir / voc_rel(out_rel)]
        return []

    def final_paths(self, output_dir: Path) -> list[Path]:
        return [output_dir / rel for rel in self.json_rels] if self.target == "coco" else []

    def run_files(self, output_dir: Path) -> list[tuple[Path, bytes]]:
        """The YOLO dataset YAML: names in id order (and the pose keys)."""
        if self.target != "yolo":
            return []
        import yaml

        by_id = {v: self.names.get(k, str(k)) for k, v in self.ids.items()}
        doc: dict[str, Any] = {}
        for key, folders in self.splits:  # relative to the YAML's folder, as Ultralytics reads them
            doc[key] = folders[0] if len(folders) == 1 else list(folders)
        doc.update({"nc": len(by_id), "names": [str(by_id[i]) for i in sorted(by_id)]})
        if self.kind == "pose":
            doc["kpt_shape"] = [self.keypoints, 3]
            if self.flip_idx is not None:
                doc["flip_idx"] = list(self.flip_idx)
        return [(output_dir / "data.yaml", yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode())]

    def collector(self, output_dir: Path) -> "JsonCollector | None":
        return JsonCollector(self, output_dir) if self.target == "coco" else None

    # -- one output -------------------------------------------------------------------------------

    def render(self, labels: Any, matrix: np.ndarray, out_size: tuple[int, int], out_rel: str,
               files: bool) -> tuple[list[tuple[Path, bytes]], dict[str, Any]]:
        """The label file of one output (``labels``: a setup.SourceLabels) and its manifest entry."""
        setup = labels.setup
        entry: dict[str, Any] = {"format": self.target if self.target != "yolo" else f"yolo-{self.kind}",
                                 "file": None}
        if labels.parsed is None:
            entry["unlabeled"] = True
            if self.target == "coco":  # a background image: listed, with no annotations (COCO's way)
                rel = json_rel(out_rel)
                entry["file"] = rel
                entry["_coco"] = {"json": rel, "image": self._coco_image(out_rel, out_size), "annotations": []}
            return [], entry
        objs = self._moved(labels, matrix, out_size, out_rel, entry)
        shown = labels.label_rel or (labels.parsed[0].json_rel if self.source == "coco" else labels.source)
        try:
            for o in objs:
                self._class(o.cls)
        except LabelError as exc:
            raise LabelError(f"{shown}: {exc}") from None
        lost: Counter = Counter()
        for o in objs:
            lost.update(losses(o, self.target, self.kind))
        if lost:
            if not self.allow_lossy:  # the up-front report counts every file; this one changed since
                raise LabelError(f"{shown}: {self.target} cannot hold the " + " and ".join(
                    f"{k} of {n} object{'s' if n != 1 else ''}" for k, n in lost.items())
                    + "; pass --allow-lossy to write their boxes")
            entry["lost"] = dict(lost)
        made: list[tuple[Path, bytes]] = []
        w, h = int(out_size[0]), int(out_size[1])
        if self.target == "coco":
            anns = [self._annotation(o) for o in objs]
            rel = json_rel(out_rel)
            entry["file"] = rel
            entry["_coco"] = {"json": rel, "image": self._coco_image(out_rel, out_size), "annotations": anns}
            if setup.objects:
                entry["_objects"] = coco_objects(anns)
            return made, entry
        target = [t for t in (self._target_obj(o, entry) for o in objs) if t is not None]
        entry["out"] = len(target)
        if self.target == "yolo":
            rel = Y.label_path(out_rel)
            spec = Y.YoloSpec(nc=len(self.ids), kpt_shape=(self.keypoints, 3) if self.kind == "pose" else None,
                              precision=self.precision)
            data = Y.write(self.kind, target, (w, h), spec)
        else:
            rel = voc_rel(out_rel)
            data = V.write(_voc_doc(target, out_rel), target, (w, h), PurePosixPath(out_rel).name)
        entry["file"] = rel
        if files:
            made.append((setup.output_dir / rel, data))
        if setup.objects:
            entry["_objects"] = pixel_objects(target)
        return made, entry

    def _moved(self, labels: Any, matrix: np.ndarray, out_size: tuple[int, int], out_rel: str,
               entry: dict[str, Any]) -> list[L.Obj]:
        """The source's objects carried onto the output as its own format carries them (edge
        coordinates; keypoints centre), classes still the source's."""
        setup = labels.setup
        f = L.edge_map(matrix, out_size, labels.pre)
        if self.source == "coco":
            centry, objs = labels.parsed
            mm = matrix if labels.pre is None else L.edge_to_centre(np.linalg.inv(f))  # RLE: output -> frame
            _, anns, stats = C.transform_image(centry, objs, mm, f, out_size, setup.params,
                                               setup.coco.keypoint_flip, out_rel)
            entry.update(stats.as_dict())
            return [annotation_obj(a) for a in anns]
        moved, stats = L.transform(labels.parsed.objects, f, out_size, setup.params)
        entry.update(stats.as_dict())
        if self.source == "yolo":
            entry["input_clipped"] = labels.parsed.clipped_input
        return mark_difficult(labels.parsed, moved) if self.source == "voc" else moved

    def _class(self, key: Any) -> Any:
        if key in self.ids:
            return self.ids[key]
        if self.number_ids and isinstance(key, int):
            return key + 1 if self.target == "coco" else str(key)
        raise LabelError(f"class {key!r} is not among the {len(self.ids)} classes found when the run started")

    @staticmethod
    def _coco_image(out_rel: str, out_size: tuple[int, int]) -> dict[str, Any]:
        return {"file_name": PurePosixPath(out_rel).name, "width": int(out_size[0]), "height": int(out_size[1])}

    def _annotation(self, o: L.Obj) -> dict[str, Any]:
        """A COCO annotation (no ids yet) of an output object."""
        a: dict[str, Any] = {"category_id": self._class(o.cls), "iscrowd": 0}
        shapes = o.polygons or ([np.asarray(o.obb, float)] if o.obb is not None else None)
        box = _box_of(o)
        if shapes:
            a["segmentation"] = [[_r(v) for v in np.asarray(p, float).ravel()] for p in shapes]
            a["area"] = _r(sum(PG.area(np.asarray(p, float)) for p in shapes))
        elif box is not None:
            a["area"] = _r((box[2] - box[0]) * (box[3] - box[1]))
        if box is not None:
            a["bbox"] = [_r(box[0]), _r(box[1]), _r(box[2] - box[0]), _r(box[3] - box[1])]
        if o.extra == DIFFICULT:
            a["difficult"] = 1
        if o.keypoints is not None:
            a["keypoints"] = [(_r(v) if j % 3 < 2 else int(v)) for j, v in enumerate(np.asarray(o.keypoints).ravel())]
            a["num_keypoints"] = int(np.count_nonzero(np.asarray(o.keypoints)[:, 2] > 0))
        return a

    def _target_obj(self, o: L.Obj, entry: dict[str, Any]) -> L.Obj | None:
        """The object as the YOLO or VOC writer takes it; None (counted as dropped outside) for a
        keypoints-only object with no visible keypoint, which has no box to write."""
        box = _box_of(o)
        if box is None:
            entry.setdefault("dropped", {}).setdefault("outside", 0)
            entry["dropped"]["outside"] += 1
            return None
        t = L.Obj(self._class(o.cls), box=box, extra=o.extra, clipped=o.clipped)
        if self.target == "yolo" and self.kind == "segment":
            t.polygons = o.polygons or [np.asarray(o.obb, float) if o.obb is not None else PG.box_corners(box)]
            if o.extra == MASK:
                t.polygons = [PG.box_corners(box)]
        elif self.target == "yolo" and self.kind == "pose":
            kp = np.zeros((self.keypoints, 3))
            if o.keypoints is not None:
                given = np.asarray(o.keypoints, float)[: self.keypoints]
                kp[: len(given)] = given
            t.keypoints = kp
        return t


def _r(v: float) -> float:
    return round(float(v), 6) + 0.0


def _box_of(o: L.Obj) -> tuple[float, float, float, float] | None:
    if o.box is not None:
        return tuple(float(v) for v in o.box)  # type: ignore[return-value]
    if o.polygons:
        return PG.enclosing(np.concatenate([np.asarray(p, float) for p in o.polygons]))
    if o.obb is not None:
        return PG.enclosing(np.asarray(o.obb, float))
    if o.keypoints is not None:  # keypoints alone: the extent of the visible ones, in edge coordinates
        kp = np.asarray(o.keypoints, float)
        seen = kp[kp[:, 2] > 0, :2]
        if len(seen):
            return PG.enclosing(np.concatenate([seen, seen + 1.0]))
    return None


def keypoint_names(k: int, flip_idx: tuple[int, ...] | None) -> list[str]:
    """COCO names for YOLO pose keypoints: each pair that ``flip_idx`` swaps is ``left_kpt_i`` and
    ``right_kpt_i`` (COCO readers, augcli's among them, swap left and right by name), others ``kpt_i``."""
    names = []
    for i in range(k):
        j = flip_idx[i] if flip_idx is not None else i
        names.append(f"kpt_{i}" if j == i else f"left_kpt_{i}" if i < j else f"right_kpt_{j}")
    return names


def voc_rel(out_rel: str) -> str:
    """An output's VOC file: beside the image, or in ``Annotations/`` for an image in ``JPEGImages/``."""
    parts = list(PurePosixPath(out_rel).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "JPEGImages":
            parts[i] = "Annotations"
            break
    return str(PurePosixPath(*parts).with_suffix(".xml"))


def json_rel(out_rel: str) -> str:
    parent = PurePosixPath(out_rel).parent
    return COCO_JSON if str(parent) == "." else f"{parent}/{COCO_JSON}"


def _voc_doc(objs: list[L.Obj], out_rel: str) -> V.Parsed:
    """A new VOC document with one <object> per object (``V.write`` fills the numbers in)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = PurePosixPath(out_rel).parent.name
    ET.SubElement(root, "filename").text = PurePosixPath(out_rel).name
    ET.SubElement(root, "size")
    ET.SubElement(root, "segmented").text = "0"
    for i, o in enumerate(objs):
        el = ET.SubElement(root, "object")
        ET.SubElement(el, "name").text = str(o.cls)
        ET.SubElement(el, "pose").text = "Unspecified"
        ET.SubElement(el, "truncated").text = "0"
        ET.SubElement(el, "difficult").text = "1" if o.extra == DIFFICULT else "0"
        bb = ET.SubElement(el, "bndbox")
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            ET.SubElement(bb, tag)
        o.extra = i
    return V.Parsed(root, objs, None)


def annotation_obj(a: dict) -> L.Obj:
    """A COCO annotation (already checked by the COCO reader) as an object: bbox and polygons in
    edge coordinates, keypoints in centre coordinates, an RLE mask marked ``MASK``."""
    box = None
    bb = a.get("bbox")
    if isinstance(bb, list) and len(bb) == 4:
        box = (float(bb[0]), float(bb[1]), float(bb[0]) + float(bb[2]), float(bb[1]) + float(bb[3]))
    seg = a.get("segmentation")
    polys = [np.asarray(p, float).reshape(-1, 2) for p in seg] if isinstance(seg, list) and seg else None
    kp = a.get("keypoints")
    kps = np.asarray(kp, float).reshape(-1, 3) if isinstance(kp, list) and kp else None
    return L.Obj(a.get("category_id"), box=box, polygons=polys, keypoints=kps,
                 extra=MASK if isinstance(seg, dict) else DIFFICULT if a.get("difficult") == 1 else None)


def mark_difficult(parsed: V.Parsed, objs: list[L.Obj]) -> list[L.Obj]:
    """VOC objects (``extra``: their index in the file) marked ``DIFFICULT`` where ``<difficult>`` is 1."""
    flagged = {i for i, el in enumerate(parsed.root.findall("object"))
               if (el.findtext("difficult") or "").strip() in ("1", "1.0")}
    for o in objs:
        if o.extra in flagged:
            o.extra = DIFFICULT
    return objs


def _is_box(pts: np.ndarray) -> bool:
    """True if a polygon or oriented box is exactly its own axis-aligned box (nothing to lose)."""
    pts = np.asarray(pts, float).reshape(-1, 2)
    corners = {tuple(p) for p in pts.tolist()}
    x0, y0, x1, y1 = PG.enclosing(pts)
    return corners == {(x0, y0), (x1, y0), (x1, y1), (x0, y1)}


def losses(o: L.Obj, target: str, kind: str) -> list[str]:
    """What ``target`` (YOLO rows of ``kind``) cannot hold of the object ``o``."""
    if target == "coco":
        return []
    out = []
    keeps_polygons = target == "yolo" and kind == "segment"
    if o.polygons and not keeps_polygons and not all(_is_box(p) for p in o.polygons):
        out.append("polygons")
    if o.extra == MASK:
        out.append("masks")
    if o.keypoints is not None and not (target == "yolo" and kind == "pose") \
            and np.any(np.asarray(o.keypoints, float)[:, 2] > 0):
        out.append("keypoints")
    if o.obb is not None and not _is_box(o.obb):
        out.append("oriented boxes")
    if o.extra == DIFFICULT and target == "yolo":
        out.append("difficult flags")
    return out


class JsonCollector:
    """Gathers the outputs' COCO images and annotations; one JSON per image folder at the end."""

    def __init__(self, conv: Converter, output_dir: Path) -> None:
        self.conv, self.output_dir = conv, output_dir
        self.items: dict[str, list[dict]] = {}

    def add(self, labels_entry: dict | None) -> None:
        item = labels_entry.pop("_coco", None) if labels_entry else None
        if item is not None:
            self.items.setdefault(item["json"], []).append(item)

    def payloads(self) -> list[tuple[Path, bytes]]:
        conv = self.conv
        cats = {v: conv.names.get(k, str(k)) for k, v in conv.ids.items()}
        for items in self.items.values():  # a YOLO class the names do not list: named by its number
            for item in items:
                for a in item["annotations"]:
                    cats.setdefault(a["category_id"], str(a["category_id"] - 1))
        categories = []
        for cid in sorted(cats):
            c: dict[str, Any] = {"id": cid, "name": str(cats[cid]), "supercategory": ""}
            if conv.keypoints:
                c["keypoints"] = keypoint_names(conv.keypoints, conv.flip_idx)
                c["skeleton"] = []
            categories.append(c)
        rels = sorted(set(conv.json_rels) | set(self.items))
        inner = C.Collector([(rel, {"categories": categories}) for rel in rels], self.output_dir)
        for rel in rels:
            for item in self.items.get(rel, ()):
                inner.add({"_coco": item})
        return inner.payloads()
