"""COCO instances JSON: boxes, polygon and RLE segmentation, keypoints.

One output JSON per input JSON, at the mirrored path under OUTPUT_DIR, written atomically after all
the images. Image ids are 1..N in sorted output ``file_name`` order and annotation ids 1..M in
(image id, source order): the same for any worker count. ``categories``, ``info``, ``licenses`` and
unknown fields are kept verbatim; ``width``/``height``, ``bbox``, ``area``, ``segmentation``,
``keypoints`` and ``num_keypoints`` are recomputed. RLE: augcli.labels.rle.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

import numpy as np
from PIL import Image

from .. import fsnames
from ..errors import UsageError
from ..safefiles import FileRefused, read_limited
from ..safepaths import within
from . import loss
from . import distorted as DZ
from . import model as L
from . import polygons as PG
from . import window as WI
from .errors import LabelError
from .rle import mask_to_rle, rle_to_mask, short

MAX_JSON_BYTES = 1 << 30  # COCO train2017 instances is 448 MB
MAX_DEPTH = 32  # a COCO file is about 6 levels deep
PROVENANCE_URLS = ("coco_url", "flickr_url")  # image fields naming where the source image lives


# ---------------------------------------------------------------------------------------------------
# reading


def load_json(path: Path, shown: str) -> Any:
    """A COCO file, refused cleanly when huge or nested deeper than a COCO file can be."""
    try:
        raw = read_limited(path, MAX_JSON_BYTES)
    except FileRefused as exc:
        if str(exc).startswith("larger"):
            raise UsageError(f"{shown}: JSON {exc}; refused") from None
        raise UsageError(f"{shown}: {exc}") from None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise UsageError(f"{shown}: JSON nested too deeply; refused") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{shown}: cannot read JSON: {exc}") from None
    if _depth(data) > MAX_DEPTH:
        raise UsageError(f"{shown}: JSON nested deeper than {MAX_DEPTH}; refused")
    return data


def _depth(v: Any) -> int:
    """Nesting depth, without recursion (a deep file must not exhaust the stack)."""
    best, stack = 0, [(v, 1)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, dict):
            best = max(best, d)
            if d <= MAX_DEPTH:
                stack.extend((y, d + 1) for y in x.values())
        elif isinstance(x, list):
            best = max(best, d)
            if d <= MAX_DEPTH:
                stack.extend((y, d + 1) for y in x)
    return best


def is_coco(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("images"), list) and isinstance(data.get("annotations"), list)


@dataclass(frozen=True)
class Entry:
    """One image of a COCO file: which file, where its names are relative to, its dict and anns."""

    json_rel: str
    root_rel: str  # folder (relative to INPUT_DIR) that file_name is relative to
    image: dict
    annotations: tuple  # of dicts, source order
    error: str | None = None  # a problem that fails this image


@dataclass
class Index:
    files: list[tuple[str, dict]] = field(default_factory=list)  # (json rel, top level without images/anns)
    entries: dict[str, Entry] = field(default_factory=dict)  # source rel -> entry
    keypoint_flip: dict[int, tuple[int, ...]] = field(default_factory=dict)  # category id -> flip_idx


def _flip_idx(names: Sequence[str]) -> tuple[int, ...]:
    """left_* <-> right_* (COCO person keypoints), others in place."""
    pos = {n: i for i, n in enumerate(names)}
    out = []
    for n in names:
        other = n.replace("left", "\0").replace("right", "left").replace("\0", "right")
        out.append(pos.get(other, pos[n]))
    return tuple(out)


def _check_ids(data: dict, rel: str) -> None:
    """Ids are looked up, so they must be numbers or strings (or absent), never lists or objects."""
    cats = data.get("categories", [])
    for what, items, keys in (("image", data["images"], ("id",)), ("annotation", data["annotations"],
                                                                  ("id", "image_id", "category_id")),
                              ("category", cats if isinstance(cats, list) else [], ("id",))):
        for item in items:
            if isinstance(item, dict):
                for key in keys:
                    if isinstance(item.get(key), (list, dict)):
                        kind = "a list" if isinstance(item[key], list) else "an object"
                        raise UsageError(f"{rel}: {what} {key} {short(json.dumps(item[key]))} is {kind}; ids "
                                         "must be numbers or strings")


def read_candidate(path: Path, rel: str, explicit: bool, report) -> Any:
    """A JSON file found while looking for COCO files, parsed (``load_json``), or None when it
    cannot be read and is only a stray JSON at the top of INPUT_DIR under ``--labels auto``: then a
    warning names it and the run goes on. Files under a folder (``annotations/``,
    ``*_annotations.coco.json``) are COCO by their place, and one that cannot be read stays an
    error, as does any with ``--labels coco``."""
    try:
        return load_json(path, rel)
    except UsageError as exc:
        if explicit or "/" in rel:
            raise
        report(f"augcli: warning: {exc}; not read as COCO")
        return None


def build_index(inp: Path, json_rels: Sequence[str], report, parsed: dict | None = None) -> Index:
    """Read the COCO files (or take them from ``parsed``) and pair their images with sources (paths
    refused when they leave INPUT_DIR). Problems of a single image become that image's error."""
    index = Index()
    for rel in json_rels:
        if not (parsed and rel in parsed) and not within(inp / rel, inp):
            raise UsageError(f"{fsnames.shown(rel)}: resolves outside the input folder (a symbolic link); not read")
        data = parsed[rel] if parsed and rel in parsed else load_json(inp / rel, rel)
        if not is_coco(data):
            raise UsageError(f"{rel}: not a COCO instances file (needs images and annotations lists)")
        index.files.append((rel, {k: v for k, v in data.items() if k not in ("images", "annotations")}))
        jdir = PurePosixPath(rel).parent
        roots = [jdir]
        if jdir.name == "annotations":
            stem = PurePosixPath(rel).stem
            split = stem.split("_", 1)[1] if "_" in stem else stem
            roots = [jdir.parent / split, jdir.parent / "images" / split, jdir.parent / "images", jdir.parent]
        _check_ids(data, rel)
        cats = {c.get("id"): c for c in data.get("categories", []) if isinstance(c, dict)}
        for cid, c in cats.items():
            if isinstance(c.get("keypoints"), list) and all(isinstance(n, str) for n in c["keypoints"]):
                index.keypoint_flip[cid] = _flip_idx(c["keypoints"])
        ids: dict[Any, list[str]] = {}
        by_image: dict[Any, list[dict]] = {}
        ann_ids: set = set()
        for a in data["annotations"]:
            if not isinstance(a, dict):
                raise UsageError(f"{rel}: an annotation is not an object")
            if a.get("id") in ann_ids:
                report(f"augcli: warning: {fsnames.shown(rel)}: annotation id {fsnames.shown(short(a.get('id')))} "
                       "appears twice (pycocotools would keep one; ids are renumbered in the output)")
            ann_ids.add(a.get("id"))
            by_image.setdefault(a.get("image_id"), []).append(a)
        for im in data["images"]:
            if not isinstance(im, dict) or not isinstance(im.get("file_name"), str):
                report(f"augcli: warning: {fsnames.shown(rel)}: an image entry has no file_name; ignored")
                continue
            name = im["file_name"]
            pname = PurePosixPath(name.replace("\\", "/"))
            if pname.is_absolute() or ".." in pname.parts or os.path.isabs(name):
                report(f"augcli: warning: {fsnames.shown(rel)}: file_name '{fsnames.shown(name)}' points outside "
                       "the input folder; refused")
                continue
            src = None
            for root in roots:
                cand = (root / pname).as_posix()
                path = inp / cand
                if path.is_file():
                    if not within(path, inp):
                        report(f"augcli: warning: {fsnames.shown(rel)}: file_name '{fsnames.shown(name)}' resolves "
                               "outside the input folder; refused")
                        src = ""
                        break
                    src, root_rel = cand, str(root)
                    break
            if not src:
                continue
            ids.setdefault(im.get("id"), []).append(src)
            if src in index.entries:
                first = index.entries[src].json_rel
                report(f"augcli: warning: {fsnames.shown(src)} is listed by {fsnames.shown(first)} and "
                       f"{fsnames.shown(rel)}; {fsnames.shown(rel)} ignored")
                continue
            anns = tuple(by_image.get(im.get("id"), ()))
            bad = {c.get("category_id") for c in anns} - set(cats)
            err = f"{rel}: category_id {sorted(map(str, bad))[0]} is not in categories" if bad and cats else None
            index.entries[src] = Entry(rel, root_rel, im, anns, err)
        for iid, srcs in ids.items():
            if len(srcs) > 1:
                for s in srcs:
                    e = index.entries.get(s)
                    if e is not None and e.json_rel == rel:
                        index.entries[s] = Entry(e.json_rel, e.root_rel, e.image, e.annotations,
                                                 f"{rel}: image id {iid} appears {len(srcs)} times")
    return index


# ---------------------------------------------------------------------------------------------------
# one image


def _numbers(v: Any, n: int | None, what: str, shown: str) -> list[float]:
    if not isinstance(v, list) or (n is not None and len(v) != n) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v):
        raise LabelError(f"{shown}: {what} must be {n if n else 'a list of'} numbers")
    return [float(x) for x in v]


def objects_of(entry: Entry, size: tuple[int, int], flip: dict[int, tuple[int, ...]]) -> list[L.Obj]:
    """The annotations of an image as objects (``extra`` = (index, annotation, kind))."""
    objs = []
    for i, a in enumerate(entry.annotations):
        shown = f"{entry.json_rel}: annotation {short(a.get('id'))}"
        seg = a.get("segmentation")
        kp = None
        if a.get("keypoints") is not None:
            vals = _numbers(a["keypoints"], None, "keypoints", shown)
            if len(vals) % 3:
                raise LabelError(f"{shown}: keypoints must be x y v triples")
            kp = np.array(vals, float).reshape(-1, 3)
        box = None
        if a.get("bbox") is not None:
            x, y, w, h = _numbers(a["bbox"], 4, "bbox", shown)
            if w < 0 or h < 0:
                raise LabelError(f"{shown}: bbox with negative size")
            box = (x, y, x + w, y + h)
        if isinstance(seg, dict):
            mask = rle_to_mask(seg, shown, size)
            objs.append(L.Obj(a.get("category_id"), box=box, keypoints=kp,
                              extra=(i, a, ("rle", mask, isinstance(seg.get("counts"), str)))))
        elif isinstance(seg, list) and seg:
            polys = []
            for p in seg:
                v = _numbers(p, None, "segmentation polygon", shown)
                if len(v) < 6 or len(v) % 2:
                    raise LabelError(f"{shown}: a segmentation polygon needs 3 or more x y pairs")
                polys.append(np.array(v, float).reshape(-1, 2))
            objs.append(L.Obj(a.get("category_id"), polygons=polys, keypoints=kp, extra=(i, a, ("poly",))))
        elif box is not None:
            objs.append(L.Obj(a.get("category_id"), box=box, keypoints=kp, extra=(i, a, ("box",))))
        elif kp is not None:
            objs.append(L.Obj(a.get("category_id"), keypoints=kp, extra=(i, a, ("kp",))))
        else:
            raise LabelError(f"{shown}: no bbox, segmentation or keypoints")
    return objs


def _r(v: float) -> float:
    return round(float(v), 6) + 0.0


def transform_image(entry: Entry, objs: Sequence[L.Obj], matrix: np.ndarray, f: np.ndarray,
                    out_size: tuple[int, int], params: L.Params, flip: dict[int, tuple[int, ...]],
                    out_rel: str, window: WI.Window | None = None, nodes=None) -> tuple[dict, list[dict], L.Stats]:
    """The output's image dict (no id yet), annotations (no ids yet) and counts; ``window``: the
    output pixels the image fills (a letterbox), where objects are cut; ``nodes``: the output's
    distortion (augcli.distort.Nodes), if it has one."""
    points = DZ.points_of(nodes)
    w, h = out_size
    vector = [o for o in objs if o.extra[2][0] != "rle"]
    by_cat: dict[Any, list[L.Obj]] = {}
    for o in vector:
        by_cat.setdefault(o.cls, []).append(o)
    moved: dict[int, L.Obj] = {}
    stats = L.Stats(objects_in=len(objs))
    for cat, group in by_cat.items():  # flip_idx is per category
        p = L.Params(params.box_method, params.min_visibility, params.min_size, params.min_area,
                     flip.get(cat) if isinstance(cat, int) else None)
        out, st = WI.transform(group, f, out_size, p, window, points)
        stats.mirrored = st.mirrored
        for k, v in st.dropped.items():
            stats.dropped[k] += v
        stats.clipped += st.clipped
        stats.keypoints_hidden += st.keypoints_hidden
        loss.add(stats.classes, st.classes)
        for o in out:
            moved[o.extra[0]] = o
    if not by_cat:
        stats.mirrored = L.transform([], f, out_size)[1].mirrored
    m = np.asarray(matrix, float)
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    for o in objs:
        if o.extra[2][0] != "rle":
            continue
        warped = np.asarray(DZ.warp_mask(Image.fromarray(o.extra[2][1] * 255), m, out_size, 0, nodes)) > 127
        if window is not None:
            warped[WI.outside(out_size, window)] = False
        ys, xs = np.nonzero(warped)
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)) if len(xs) else None
        reason = "outside" if box is None else "min_size" if min(box[2] - box[0], box[3] - box[1]) < params.min_size \
            else "min_area" if warped.sum() < params.min_area else None
        loss.count(stats.classes, o.cls, reason, False)  # a mask cut by the border is not told apart
        if reason is not None:
            stats.dropped[reason] += 1
            continue
        kp = None
        if o.keypoints is not None:
            flip_idx = flip.get(o.cls) if isinstance(o.cls, int) else None
            kp, hidden = L.move_keypoints(f, o.keypoints, out_size, stats.mirrored, flip_idx, points) if window is None \
                else WI.keypoints(f, o.keypoints, window, flip_idx)
            stats.keypoints_hidden += hidden
        moved[o.extra[0]] = L.Obj(o.cls, box=box, keypoints=kp, extra=(o.extra[0], o.extra[1], ("rle", warped,
                                                                                                 o.extra[2][2])))
    anns = []
    for i in sorted(moved):
        o = moved[i]
        a = dict(o.extra[1])
        a.pop("id", None)
        a.pop("image_id", None)
        kind = o.extra[2][0]
        x0, y0, x1, y1 = o.box if o.box is not None else (0.0, 0.0, 0.0, 0.0)
        if kind == "rle":
            a["segmentation"] = mask_to_rle(o.extra[2][1], o.extra[2][2])
            a["area"] = int(np.count_nonzero(o.extra[2][1]))
        elif kind == "poly":
            a["segmentation"] = [[_r(v) for v in p.ravel()] for p in o.polygons]  # type: ignore[union-attr]
            a["area"] = _r(sum(PG.area(p) for p in o.polygons))  # type: ignore[union-attr]
        elif kind == "box":
            a["area"] = _r((x1 - x0) * (y1 - y0))
        if "bbox" in a or kind != "kp":
            a["bbox"] = [_r(x0), _r(y0), _r(x1 - x0), _r(y1 - y0)]
        if o.keypoints is not None:
            a["keypoints"] = [(_r(v) if j % 3 < 2 else int(v)) for j, v in enumerate(o.keypoints.ravel())]
            a["num_keypoints"] = int(np.count_nonzero(o.keypoints[:, 2] > 0))
        anns.append(a)
    stats.objects_out = len(anns)
    image = dict(entry.image)
    image.pop("id", None)
    for key in PROVENANCE_URLS:  # they would fetch the source image, not this output
        image.pop(key, None)
    image["file_name"] = os.path.relpath(out_rel, entry.root_rel) if entry.root_rel not in ("", ".") else out_rel
    image["width"], image["height"] = int(w), int(h)
    return image, anns, stats


# ---------------------------------------------------------------------------------------------------
# writing (in the parent, after the images)


class Collector:
    """Gathers each output's image and annotations; writes one JSON per input JSON at the end."""

    def __init__(self, files: Sequence[tuple[str, dict]], output_dir: Path) -> None:
        self.files = list(files)
        self.output_dir = output_dir
        self.items: dict[str, list[tuple[str, dict, list[dict]]]] = {rel: [] for rel, _ in files}

    def add(self, labels_entry: dict | None) -> None:
        if not labels_entry:
            return
        item = labels_entry.pop("_coco", None)
        if item is not None:
            self.items[item["json"]].append((item["image"]["file_name"], item["image"], item["annotations"]))

    def payloads(self) -> list[tuple[Path, bytes]]:
        out = []
        for rel, top in self.files:
            images, anns = [], []
            aid = 0
            for iid, (_, image, image_anns) in enumerate(sorted(self.items[rel], key=lambda t: t[0]), 1):
                images.append({"id": iid, **image})
                for a in image_anns:
                    aid += 1
                    anns.append({"id": aid, "image_id": iid, **a})
            doc: dict[str, Any] = {}
            for key, value in top.items():
                doc[key] = value
            doc["images"] = images
            doc["annotations"] = anns
            out.append((self.output_dir / rel, (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
                        .encode("utf-8")))
        return out
