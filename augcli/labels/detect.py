"""Label detection: one walk of the input for label evidence (``scan``), the format it shows or the
flag names (``resolve``, which builds the run's LabelSetup), the layouts one run cannot carry, and
the pairing checks (sources without labels, label files no source pairs with)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from ..errors import UsageError
from ..safepaths import read_inside, within
from . import coco as C
from . import convert_plan as CV
from . import layouts as LY
from . import voc_lists as VL
from . import yolo as Y
from .dataset_yaml import brief, names_key, read_yaml
from .setup import LabelOptions, LabelSetup

MIRROR_OPS = ("hflip", "vflip")
MAX_KEYPOINTS = 1000  # kpt_shape [K, 2|3]: COCO pose has 17, whole-body sets about 133


def _visible(name: str) -> bool:
    return not name.startswith(".") and name != "__MACOSX"


@dataclass
class Found:
    yolo: list[str] = field(default_factory=list)  # evidence
    voc: list[str] = field(default_factory=list)
    json: list[str] = field(default_factory=list)  # candidate COCO files (relative)
    notes: list[str] = field(default_factory=list)
    yamls: list[tuple[str, dict]] = field(default_factory=list)
    mask_layout: str | None = None  # "sibling" or "voc"
    excluded: set[str] = field(default_factory=set)
    tree: LY.Tree = field(default_factory=LY.Tree)  # the sources and label-like files the walk saw


def scan(root: Path, report: Callable[[str], None] = lambda msg: None, output_dir: Path | None = None) -> Found:
    """Look for label evidence under ``root`` (one walk, as the run walks: symlinked folders followed,
    each real folder once; see augcli.labels.layouts). A broken ``data.yaml`` is a usage error; any
    other broken YAML is ignored with a warning."""
    found = Found()
    for name in sorted(os.listdir(root)):
        if name.lower().endswith((".yaml", ".yml")) and _visible(name) and (root / name).is_file() \
                and read_inside(root / name, root, name, report):
            try:
                data = read_yaml(root / name, name)
            except UsageError as exc:
                if name in ("data.yaml", "data.yml"):
                    raise
                if names_key(root / name):  # (a YAML without names is not a dataset's, read or not)
                    report(f"augcli: warning: {exc}; ignored")
                continue
            if isinstance(data, dict) and "names" in data:
                found.yamls.append((name, data))
        if name.lower().endswith(".json") and _visible(name) and (root / name).is_file():
            found.json.append(name)
    if (root / "annotations").is_dir():
        found.json += sorted(f"annotations/{n}" for n in os.listdir(root / "annotations")
                             if n.lower().endswith(".json") and _visible(n))
    LY.walk(root, output_dir, found)
    return found


def resolve(options: LabelOptions, input_dir: Path, output_dir: Path, pipeline: Any,
            report: Callable[[str], None], info: Callable[[str], None] | None = None,
            lists: bool = True) -> "LabelSetup | None":
    """Detect (``auto``) or take the format, check it against the pipeline, and say in one line
    what was found (through ``info``, default ``report``: ``-q`` drops it; warnings and notes go to
    ``report``). ``lists``: VOC's image-set lists can be carried (an output tree holds them).
    Returns None when there are no labels: the run is then exactly as without."""
    info = info or report
    if options.format == "none" and options.masks is None:
        return None
    inp, out = Path(input_dir).resolve(), Path(output_dir).resolve()
    found = scan(inp, report, out) if options.format != "none" else Found()
    _refuse_layouts(found, inp, options, input_dir)
    fmt: str | None = None
    coco_files = []
    parsed_json: dict[str, Any] = {}  # each COCO file is parsed once
    if options.format in ("auto", "coco"):
        for rel in found.json:
            if not read_inside(inp / rel, inp, rel, report):
                continue
            data = C.read_candidate(inp / rel, rel, options.format == "coco", report)
            if C.is_coco(data):
                coco_files.append(rel)
                parsed_json[rel] = data
    if options.format == "auto":
        matches = {"yolo": found.yolo or [n for n, _ in found.yamls], "voc": found.voc, "coco": coco_files}
        hits = [k for k, ev in matches.items() if ev]
        if len(hits) > 1:
            raise UsageError("labels: found " + " and ".join(f"{k} ({', '.join(matches[k])})" for k in hits)
                             + "; say which with --labels")
        fmt = hits[0] if hits else None
    elif options.format in ("yolo", "yolo-obb"):
        fmt = "yolo"
    elif options.format in ("voc", "coco"):
        fmt = options.format
    spec = None
    flip_idx = None
    if fmt == "yolo":
        for name, d in found.yamls:
            for key in ("path", "train", "val", "test"):
                vals = d.get(key) if isinstance(d.get(key), list) else [d.get(key)]
                for v in vals:
                    if isinstance(v, str) and os.path.isabs(v) and not within(Path(v), inp):
                        report(f"augcli: warning: {name}: {key}: {v!r} points outside the input folder; "
                               "nothing is read from it and it is copied unchanged")
        data = dict(found.yamls[0][1]) if found.yamls else {}
        for name, d in found.yamls:  # data.yaml first
            if name in ("data.yaml", "data.yml"):
                data = dict(d)
        kpt = data.get("kpt_shape")
        if kpt is not None:
            if not (isinstance(kpt, (list, tuple)) and len(kpt) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in kpt)
                    and 0 < kpt[0] <= MAX_KEYPOINTS and kpt[1] in (2, 3)):
                raise UsageError(f"dataset YAML: kpt_shape must be [K, 2] or [K, 3] with K from 1 to {MAX_KEYPOINTS}, "
                                 f"not {brief(kpt)}")
            fi = data.get("flip_idx")
            if fi is not None:
                if not (isinstance(fi, (list, tuple)) and len(fi) == kpt[0]
                        and all(isinstance(v, int) and not isinstance(v, bool) for v in fi)
                        and sorted(fi) == list(range(kpt[0]))):
                    raise UsageError(f"dataset YAML: flip_idx must be a permutation of 0..{kpt[0] - 1}, "
                                     f"not {brief(fi)}")
                flip_idx = tuple(int(v) for v in fi)
        spec = Y.YoloSpec(nc=Y.names_count(data.get("names")) if "names" in data else None,
                          kpt_shape=tuple(kpt) if kpt is not None else None,  # type: ignore[arg-type]
                          obb=options.format == "yolo-obb", precision=options.precision)
        mirror_ops = [op.name for op in pipeline.ops if op.name in MIRROR_OPS and op.p > 0]
        if spec.kpt_shape and flip_idx is None and mirror_ops and not options.allow_unswapped_mirror:
            raise UsageError(f"pose labels and --{mirror_ops[0]}, but the dataset YAML has no flip_idx: left and "
                             "right keypoints would not be swapped; add flip_idx or pass --allow-unswapped-mirror")
    mask_layout = "dir" if options.masks is not None else found.mask_layout
    mask_dirs: tuple[tuple[str, str], ...] = ()
    if options.masks is None and found.tree.new_masks:  # by name and content: each pair by its folders
        mask_layout, mask_dirs = "pairs", tuple(found.tree.mask_dirs)
    if fmt is None and mask_layout is None:
        if options.format == "auto" and inp.name in ("images", "JPEGImages") and any(
                (inp.parent / d).is_dir() for d in ("labels", "Annotations", "masks", "SegmentationClass",
                                                  "SegmentationObject")):
            report(f"augcli: note: label folders beside {inp.name}/ are outside INPUT_DIR and are not read; "
                   "to carry labels, give the dataset root as INPUT_DIR")
        if options.format != "auto":
            report(f"augcli: labels: {options.format}: no label files found; images are written without labels")
        unpaired = _unpaired(found, inp, set(), set(), (), report)
        if not unpaired:
            return None
        return LabelSetup(options=options, format=None, spec=None, flip_idx=None, yamls=(), mask_layout=None,
                          excluded=tuple(sorted(found.excluded)), input_dir=inp, output_dir=out, unpaired=unpaired)
    kind = "pose" if spec and spec.kpt_shape else ("obb" if spec and spec.obb else "detect/segment")
    parts = []
    if fmt == "yolo":
        ev = ", ".join([*(n for n, _ in found.yamls), *found.yolo]) or "flag"
        parts.append(f"yolo {kind} ({ev})")
    elif fmt == "voc":
        parts.append(f"voc ({', '.join(found.voc) or 'flag'})")
    elif fmt == "coco":
        parts.append(f"coco ({', '.join(coco_files) or 'no COCO JSON found'})")
    if mask_layout == "pairs":
        parts.append("masks (class-index images) in " + ", ".join(f"{m}/ beside {i}/" for i, m in mask_dirs))
    elif mask_layout:
        parts.append({"dir": f"masks from {options.masks}", "sibling": "masks/ beside images/",
                      "voc": "SegmentationClass/ beside JPEGImages/",
                      "voc-object": "SegmentationObject/ beside JPEGImages/"}[mask_layout])
    info("augcli: labels: " + "; ".join(parts))
    for note in found.notes:
        report(f"augcli: note: {note}")
    if spec and spec.kpt_shape and spec.kpt_shape[1] == 2 and any(op.geometric for op in pipeline.ops):
        report("augcli: warning: kpt_shape [K, 2] has no visibility: keypoints that leave the image are written 0 0")
    if fmt and pipeline.warp.fill_mode in ("reflect", "wrap"):
        report(f"augcli: warning: --fill-mode {pipeline.warp.fill_mode} mirrors objects into the border that have "
               "no labels; consider --fill-mode constant")
    excluded = set(found.excluded)
    if options.masks is not None:
        mroot = Path(options.masks).resolve()
        try:
            excluded.add(mroot.relative_to(inp).as_posix())
        except ValueError:
            pass
    setup = LabelSetup(options=options, format=fmt, spec=spec, flip_idx=flip_idx,
                       yamls=tuple(n for n, _ in found.yamls) if fmt == "yolo" else (), mask_layout=mask_layout,
                       excluded=tuple(sorted(excluded)), input_dir=inp, output_dir=out,
                       coco_files=tuple(coco_files) if fmt == "coco" else (),
                       coco=C.build_index(inp, coco_files, report, parsed_json) if fmt == "coco" else None,
                       label_dirs=tuple(found.tree.voc_dirs) if fmt == "voc" else (), mask_dirs=mask_dirs,
                       image_links=tuple(found.tree.image_links),
                       image_sets=VL.carried((r for r in found.tree.label_like if LY.image_set_list(r)),
                                             found.tree.images, (i for i, _ in found.tree.voc_dirs))
                       if fmt == "voc" and lists and not options.output else ())
    if options.format != "none":  # (--masks alone: nothing was scanned)
        setup = replace(setup, unpaired=_check_pairing(setup, found, report))
    return CV.attach(setup, found, report, info) if options.output and fmt else setup


class LayoutRefused(UsageError):
    """A layout whose labels one run cannot carry (exit 2, naming what to run instead)."""


def _refuse_layouts(found: Found, inp: Path, options: LabelOptions, given: Path) -> None:
    """Layouts whose labels one run cannot carry: exit 2 (LayoutRefused) naming what to run instead."""
    tasks = found.tree.tasks
    shared = Counter(real for _, real in tasks)
    bad = [t for t, real in tasks if shared[real] > 1 or within(Path(real), inp)]
    if bad:
        real = os.path.relpath(tasks[0][1], inp) if within(Path(tasks[0][1]), inp) else tasks[0][1]
        raise LayoutRefused(
            f"labels: {' and '.join(t + '/' for t in bad)}: YOLO task folder{'s' if len(bad) > 1 else ''} whose "
            f"images/ link{'' if len(bad) > 1 else 's'} to a folder this run also reads ({real}/); one output tree "
            f"cannot hold {'their label sets' if len(bad) > 1 else 'its labels'} beside that folder: run augcli on "
            f"each task folder (augcli expand {os.path.join(str(given), bad[0])} OUT/{bad[0]}), or pass "
            "--labels none to expand the images alone")
    if found.tree.unread:
        folder, what = found.tree.unread[0]
        raise LayoutRefused(
            f"labels: {folder}/ holds {what}, a format augcli does not read: they would not be carried; convert "
            "them to YOLO, COCO or VOC first, or pass --labels none to expand the images alone")
    masks_root = Path(options.masks).resolve() if options.masks else None
    orphans = [o for o in found.tree.orphans if (inp / o).resolve() != masks_root]
    if orphans:
        raise LayoutRefused(
            f"labels: {orphans[0]}/ looks like segmentation masks (class-index images) but no image folder beside "
            "it has their names; it is not expanded as photos: pair it with its images through --masks, or pass "
            "--labels none to expand its files as images")


SHOW_NAMES = 5  # file names named in a warning


def _names(items: list[str]) -> str:
    more = f" and {len(items) - SHOW_NAMES} more" if len(items) > SHOW_NAMES else ""
    return ", ".join(items[:SHOW_NAMES]) + more


def _unpaired(found: Found, inp: Path, labels: set[str], masks: set[str], used: tuple[str, ...],
              report: Callable[[str], None]) -> int:
    """Count and name (a warning each) the label-like files no image pairs with, and the files of
    label formats augcli does not read (LabelMe, CreateML, CSV boxes): ``labels`` are the label
    files the images pair with, ``masks`` their masks (relative path without extension), ``used``
    the files the run reads otherwise (COCO JSONs, VOC image-set lists)."""
    left, elsewhere, others, lists, kinds = [], [], [], [], Counter()
    image_dirs: set[str] | None = None  # the folders of the sources (labelImg puts its .txt beside them)
    for rel in found.tree.label_like:
        if rel in labels or rel in used or str(PurePosixPath(rel).with_suffix("")) in masks:
            continue
        low, path = rel.lower(), PurePosixPath(rel)
        if LY.image_set_list(rel):
            lists.append(rel)
        elif low.endswith(".txt") and "labels" not in path.parts[:-1]:
            # a folder augcli never reads YOLO rows from (VisDrone's annotations/, a labels_yolo/):
            # said so, rather than that no image has its name
            if image_dirs is None:
                image_dirs = {str(PurePosixPath(r).parent) for r in found.tree.images}
            (left if str(path.parent) in image_dirs else elsewhere).append(rel)
        elif not low.endswith((".json", ".csv")) or (low.endswith(".json") and LY.looks_like_coco(inp / rel)):
            left.append(rel)
        elif (what := LY.other_labels(inp / rel)) is not None:
            others.append(rel)
            kinds[what] += 1
    for rel in found.tree.other_txt:  # box lists outside label folders (MOT's gt/gt.txt, WIDER FACE's split)
        if rel not in labels and (what := LY.other_labels(inp / rel)) is not None:
            others.append(rel)
            kinds[what] += 1
    if left:
        report(f"augcli: warning: labels: {len(left)} label file{'s' if len(left) > 1 else ''} that no image "
               f"pairs with {'are' if len(left) > 1 else 'is'} not carried: {_names(left)}")
    if elsewhere:
        folders = sorted({str(PurePosixPath(r).parent) + "/" for r in elsewhere})
        report(f"augcli: warning: labels: {len(elsewhere)} .txt file{'s' if len(elsewhere) > 1 else ''} in "
               f"{_names(folders)}, {'folders' if len(folders) > 1 else 'a folder'} augcli does not read labels "
               f"from, {'are' if len(elsewhere) > 1 else 'is'} not carried: {_names(elsewhere)}")
    if others:
        said = ", ".join(f"{k} ({n})" for k, n in sorted(kinds.items()))
        report(f"augcli: warning: labels: {len(others)} file{'s' if len(others) > 1 else ''} of label formats "
               f"augcli does not read ({said}) {'are' if len(others) > 1 else 'is'} not carried: {_names(others)}")
    if lists:
        report(f"augcli: warning: labels: {len(lists)} VOC image-set list{'s' if len(lists) > 1 else ''} "
               f"(ImageSets/) {'are' if len(lists) > 1 else 'is'} not carried: "
               f"{'they name' if len(lists) > 1 else 'it names'} the sources, not the outputs, so a loader that "
               f"reads {'them' if len(lists) > 1 else 'it'} (torchvision's VOCDetection) finds no output: "
               f"{_names(lists)}")
    return len(left) + len(elsewhere) + len(others) + len(lists)


def _check_pairing(setup: "LabelSetup", found: Found, report: Callable[[str], None]) -> int:
    """Say how many sources have no labels when a format was asked for (none paired: exit 2), and
    count the label-like files no source pairs with. Returns that count."""
    files = found.tree.files
    labels: set[str] = set()
    masks: set[str] = set()
    missing: list[str] = []
    for img in found.tree.images:
        lab = setup.label_rel(img)
        key = setup.mask_key(img)
        if key is not None:
            masks.add(key)
        has = lab is not None and lab in files
        if has:
            labels.add(lab)  # type: ignore[arg-type]
        if setup.format == "coco":
            has = setup.coco is not None and img in setup.coco.entries
        if setup.format is not None and not has:
            missing.append(img)
    images = found.tree.images
    if setup.options.format not in ("auto", "none") and images and missing:
        fmt = setup.options.format
        where = setup.label_rel(missing[0])
        hint = f" (looked for {where})" if where else ""
        if len(missing) == len(images):
            raise UsageError(f"labels: {fmt}: none of the {len(images)} images has a label{hint}; check the "
                             "layout (see the README's table of dataset layouts) or pass --labels auto or none")
        report(f"augcli: warning: labels: {fmt}: {len(missing)} of {len(images)} images have no label "
               f"file and are written without labels: {_names(missing)}")
    return _unpaired(found, setup.input_dir, labels, masks, setup.coco_files + setup.image_sets, report)
