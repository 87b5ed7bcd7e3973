"""``--labels-output``, before anything is written: the class mapping, the YOLO row kind, the COCO
files, and the loss report (see augcli.labels.convert for the rules)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any, Callable

from ..errors import UsageError
from ..safefiles import FileRefused, read_limited
from . import voc as V
from . import yolo as Y
from .convert import (COCO_JSON, LOSSES, MASK, TARGETS, Converter, annotation_obj, json_rel, losses,
                      mark_difficult)
from .errors import LabelError
from .model import Obj

SHOW_CLASSES = 5


def check_target(target: str | None) -> None:
    if target is not None and target not in TARGETS:
        raise ValueError(f"labels output must be one of {', '.join(TARGETS)}, not {target!r}")




def _sorted_keys(keys) -> list:
    return sorted(keys, key=lambda k: (not isinstance(k, (int, float)), k if isinstance(k, (int, float)) else str(k)))


def _source_objects(setup: Any, found: Any) -> tuple[list[Obj], set[str]]:
    """Every object of the dataset's labels (the files the sources pair with), read leniently: a
    file that cannot be read fails its image when the run reaches it. Also the image folders with labels."""
    objs: list[Obj] = []
    folders: set[str] = set()
    for img in found.tree.images:
        if setup.format == "coco":
            e = setup.coco.entries.get(img)
            if e is None:
                continue
            folders.add(str(PurePosixPath(img).parent))
            for a in e.annotations:
                try:
                    objs.append(annotation_obj(a))
                except (TypeError, ValueError):
                    continue
            continue
        lab = setup.label_rel(img)
        if lab is None or lab not in found.tree.files:
            continue
        folders.add(str(PurePosixPath(img).parent))
        try:
            raw = read_limited(setup.input_dir / lab, Y.MAX_LABEL_BYTES)
            if setup.format == "voc":
                parsed = V.parse(raw, lab)
                objs.extend(mark_difficult(parsed, list(parsed.objects)))
            else:
                objs.extend(Y.parse(raw.decode("utf-8"), lab, setup.spec or Y.YoloSpec(), (1, 1)).objects)
        except (LabelError, FileRefused, OSError, UnicodeDecodeError):
            continue
    return objs, folders


def _yaml_names(found: Any) -> dict:
    data: dict = dict(found.yamls[0][1]) if found.yamls else {}
    for name, d in found.yamls:
        if name in ("data.yaml", "data.yml"):
            data = dict(d)
    names = data.get("names")
    if isinstance(names, (list, tuple)):
        return {i: str(n) for i, n in enumerate(names)}
    if isinstance(names, dict):
        return {int(k): str(v) for k, v in names.items() if isinstance(k, int) or str(k).isdigit()}
    return {}


SPLITS = ("train", "val", "test")


def splits(folders: set[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """data.yaml's train/val/test: the labelled image folders whose path names a split (``images/train``,
    ``train2017``, ``valid``); the output mirrors them."""
    out = []
    for key in SPLITS:
        hits = sorted(d for d in folders if d != "." and any(part.lower().startswith(key)
                                                              for part in PurePosixPath(d).parts))
        if hits:
            out.append((key, tuple(hits)))
    return tuple(out)


def trainable(found: tuple[tuple[str, tuple[str, ...]], ...], folders: set[str]
              ) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], str | None]:
    """Ultralytics refuses a data.yaml without ``train`` and ``val``: a dataset without split folders
    lists all its image folders as both, one whose folders name no validation split lists its
    training folders as ``val`` too; the note says so."""
    keys = dict(found)
    if "train" not in keys:
        everything = tuple(sorted(folders))
        shown = ", ".join(everything)
        return (("train", everything), ("val", everything)) + tuple(kv for kv in found if kv[0] == "test"), (
            f"data.yaml: no train/val folders, so train and val both list {shown} (augcli split makes a "
            "validation set)")
    if "val" not in keys:
        return (("train", keys["train"]), ("val", keys["train"])) + tuple(kv for kv in found if kv[0] == "test"), (
            f"data.yaml: no validation folder, so val lists the training folders ({', '.join(keys['train'])})")
    return found, None


def describe_losses(lost: dict[str, Counter]) -> str:
    """``polygons of 5 objects (cat 3, dog 2) and keypoints of 2 objects (person 2)``."""
    parts = []
    for kind in LOSSES:
        c = lost.get(kind)
        if not c:
            continue
        n = sum(c.values())
        top = sorted(c.items(), key=lambda kv: (-kv[1], str(kv[0])))
        classes = ", ".join(f"{k} {v}" for k, v in top[:SHOW_CLASSES])
        more = f" and {len(top) - SHOW_CLASSES} more classes" if len(top) > SHOW_CLASSES else ""
        parts.append(f"{kind} of {n} object{'s' if n != 1 else ''} ({classes}{more})")
    return " and ".join(parts)


def attach(setup: Any, found: Any, report: Callable[[str], None], info: Callable[[str], None]) -> Any:
    """The setup with its Converter (``setup.convert``), after the loss report: a loss without
    ``allow_lossy`` is a UsageError (exit 2, nothing written). The line saying what is written goes
    to ``info``."""
    opts = setup.options
    source, target = setup.format, opts.output
    if source == target:
        return setup
    objs, folders = _source_objects(setup, found)
    notes: list[str] = []
    kind, keypoints, flip = "detect", 0, None
    number_ids = False
    if source == "yolo":
        names = _yaml_names(found)
        for o in objs:
            names.setdefault(int(o.cls), str(int(o.cls)))
        if setup.spec is not None and setup.spec.kpt_shape:
            keypoints = setup.spec.kpt_shape[0]
        ids: dict = {k: k + 1 for k in names} if target == "coco" else {k: v for k, v in names.items()}
        number_ids = True
        flip = setup.flip_idx
        if target == "coco" and keypoints and flip is None:
            notes.append("the dataset YAML has no flip_idx; keypoints are named kpt_0.. and "
                         "not swapped by a later flip")
    elif source == "coco":
        names = {}
        for _, top in setup.coco.files:
            for c in top.get("categories") or []:
                if isinstance(c, dict) and not isinstance(c.get("id"), (list, dict)):
                    names.setdefault(c.get("id"), str(c.get("name", c.get("id"))))
        for o in objs:
            names.setdefault(o.cls, str(o.cls))
        ids = {k: i for i, k in enumerate(_sorted_keys(names))}
        ks = {len(o.keypoints) for o in objs if o.keypoints is not None}
        if target == "yolo" and ks:
            if len(ks) > 1:
                raise UsageError(f"labels: COCO keypoints of {len(ks)} different lengths ({', '.join(map(str, sorted(ks)))}); "
                                 "YOLO pose rows need one kpt_shape")
            kind, keypoints = "pose", ks.pop()
            flips = [setup.coco.keypoint_flip[k] for k in _sorted_keys(setup.coco.keypoint_flip)
                     if len(setup.coco.keypoint_flip[k]) == keypoints]
            flip = flips[0] if flips else None
        elif target == "yolo" and any(o.polygons or o.extra == MASK for o in objs):
            kind = "segment"
    else:  # voc: names sorted
        names = {o.cls: str(o.cls) for o in objs}
        ids = {k: i + (1 if target == "coco" else 0) for i, k in enumerate(sorted(names))}
    if source == "coco" and target == "voc":
        ids = {k: names[k] for k in names}
    lost: dict[str, Counter] = {}
    for o in objs:
        for what in losses(o, target, kind):
            lost.setdefault(what, Counter())[names.get(o.cls, str(o.cls))] += 1
    if lost:
        said, rows = describe_losses(lost), f"{target} {kind} rows" if target == "yolo" else target
        if not opts.allow_lossy:
            raise UsageError(f"labels: writing the {source} labels as {target} would lose the {said}, which "
                             f"{rows} cannot hold; pass --allow-lossy to write their boxes anyway")
        report(f"augcli: warning: labels: {rows} cannot hold the {said}; their boxes are written (--allow-lossy)")
    json_rels = tuple(sorted(json_rel(f"{d}/x") if d != "." else COCO_JSON for d in folders))
    yaml_splits = splits(folders) if target == "yolo" else ()
    if target == "yolo" and folders:
        yaml_splits, note = trainable(yaml_splits, folders)
        if note:
            notes.append(note)
    where = {"yolo": "YOLO label files and data.yaml", "voc": "VOC XML files",
             "coco": f"{len(json_rels)} COCO JSON file{'s' if len(json_rels) != 1 else ''} ({COCO_JSON})"}[target]
    info(f"augcli: labels: written as {target}: {where}, {len(ids)} class{'es' if len(ids) != 1 else ''}")
    for note in notes:
        report(f"augcli: note: {note}")
    conv = Converter(source, target, names, ids, kind, keypoints, flip, opts.allow_lossy, opts.precision,
                     json_rels if target == "coco" else (), yaml_splits,
                     number_ids, tuple(notes))
    return replace(setup, convert=conv)
