"""What the runner sees of labels: options, detection, and one LabelSetup per run.

The runner's hook is small: ``LabelSetup.load(...)`` in the worker gives a ``SourceLabels`` for a
source, and ``SourceLabels.render(matrix, out_size, out_rel)`` gives the label files (and masks)
of one output as bytes plus its manifest entry. Write order (see ``augcli.runner``): the label files
first, the image last, each atomically; every consumer (Ultralytics, ``--on-exists skip``) goes by
the images, so an image that is visible always has its complete label files beside it.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np

from .. import geometry as G
from ..choices import ERASE_MODES, LABEL_FORMATS, LABEL_FRAMES
from ..errors import InputError, UsageError
from ..safefiles import FileRefused, read_limited
from ..safepaths import read_inside
from . import coco as C
from . import convert_plan as CV
from . import distorted as DZ
from . import erase as ER
from . import layouts as LY
from . import masks as MK
from . import model as L
from . import voc as V
from . import window as WI
from . import yolo as Y
from .errors import LabelError
from .objects import coco_objects, pixel_objects

FORMATS = LABEL_FORMATS
FRAMES = LABEL_FRAMES
MIRROR_OPS = ("hflip", "vflip")
MAX_YAML_BYTES = 1 << 20


@dataclass(frozen=True)
class LabelOptions:
    """The label flags of ``expand`` (all JSON-ready)."""

    format: str = "auto"
    box_method: str = "corners"
    min_visibility: float = 0.0
    min_size: float = 1.0
    min_area: float = 0.0
    frame: str = "displayed"
    masks: str | None = None
    mask_suffix: str = ""
    masks_output: str | None = None
    mask_fill: int = 0
    allow_unswapped_mirror: bool = False
    precision: int = 6
    output: str | None = None  # --labels-output: write the labels in this format (augcli.labels.convert)
    allow_lossy: bool = False
    erase_dropped: str | None = None  # fill | mean | blur: paint dropped objects (augcli.labels.erase)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"labels must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.frame not in FRAMES:
            raise ValueError(f"labels frame must be one of {', '.join(FRAMES)}, not {self.frame!r}")
        L.Params(box_method=self.box_method)  # validates the method
        if not 0.0 <= self.min_visibility <= 1.0:
            raise ValueError(f"min visibility must be between 0 and 1, not {self.min_visibility}")
        if self.min_size < 0 or self.min_area < 0:
            raise ValueError("min size and min area must be >= 0")
        if not 0 <= self.mask_fill <= 65535:
            raise ValueError(f"mask fill must be between 0 and 65535, not {self.mask_fill}")
        if not 1 <= self.precision <= 12:
            raise ValueError(f"label precision must be between 1 and 12, not {self.precision}")
        CV.check_target(self.output)
        if self.erase_dropped is not None and self.erase_dropped not in ERASE_MODES:
            raise ValueError(f"erase dropped must be one of {', '.join(ERASE_MODES)}, not {self.erase_dropped!r}")

    def describe(self) -> dict[str, Any]:
        # the conversion and erase fields only when used: older manifests keep their bytes
        return {k: v for k, v in self.__dict__.items()
                if v or k not in ("output", "allow_lossy", "erase_dropped")}


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


MAX_YAML_DEPTH = 64  # nesting of a dataset YAML (a real one is 2 or 3 levels deep)
MAX_YAML_NODES = 1_000_000  # values of a dataset YAML, counting each alias as what it stands for
MAX_KEYPOINTS = 1000  # kpt_shape [K, 2|3]: COCO pose has 17, whole-body sets about 133


def _yaml_bytes(raw: bytes | bytearray, shown: str) -> Any:
    """``yaml.safe_load`` of a dataset YAML, after a pass over its events that refuses nesting
    deeper than MAX_YAML_DEPTH (PyYAML builds nodes recursively) and more than MAX_YAML_NODES
    values once aliases are expanded (an alias bomb: each level repeating the one before)."""
    import yaml  # PyYAML, safe_load only

    text = raw.decode("utf-8")
    weights: dict[str, int] = {}  # anchor -> values under it, aliases expanded
    stack: list[list] = []  # open collections: [anchor, values so far]
    total = 0
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(stack) >= MAX_YAML_DEPTH:
                raise UsageError(f"{shown}: YAML nested deeper than {MAX_YAML_DEPTH}; refused")
            stack.append([ev.anchor, 1])
            continue
        if isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, n = stack.pop()
        elif isinstance(ev, yaml.ScalarEvent):
            anchor, n = ev.anchor, 1
        elif isinstance(ev, yaml.AliasEvent):
            anchor, n = None, weights.get(ev.anchor, 1)
        else:
            continue
        if anchor is not None:
            weights[anchor] = n
        if stack:
            stack[-1][1] += n
        else:
            total += n
        if total + sum(c[1] for c in stack) > MAX_YAML_NODES:
            raise UsageError(f"{shown}: YAML with more than {MAX_YAML_NODES} values (aliases expanded); refused")
    return yaml.safe_load(text)


def _brief(v: Any) -> str:
    """A value from a YAML for a message: a few items and levels only (aliases may make it huge)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxstring, r.maxother = 2, 4, 4, 4, 40, 40
    return r.repr(v)


def read_yaml(path: Path, shown: str) -> Any:
    import yaml

    try:
        return _yaml_bytes(read_limited(path, MAX_YAML_BYTES), shown)
    except FileRefused as exc:
        if str(exc).startswith("larger"):
            raise UsageError(f"{shown}: dataset YAML {exc}; refused") from None
        raise UsageError(f"{shown}: cannot read the dataset YAML: {exc}") from None
    except UsageError:
        raise
    except RecursionError:
        raise UsageError(f"{shown}: YAML nested too deeply; refused") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{shown}: cannot read the dataset YAML: {reason[:200]}") from None


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
            report: Callable[[str], None]) -> "LabelSetup | None":
    """Detect (``auto``) or take the format, check it against the pipeline, and say in one line
    what was found. Returns None when there are no labels: the run is then exactly as without."""
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
                    if isinstance(v, str) and os.path.isabs(v) and not _inside(Path(v), inp):
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
                                 f"not {_brief(kpt)}")
            fi = data.get("flip_idx")
            if fi is not None:
                if not (isinstance(fi, (list, tuple)) and len(fi) == kpt[0]
                        and all(isinstance(v, int) and not isinstance(v, bool) for v in fi)
                        and sorted(fi) == list(range(kpt[0]))):
                    raise UsageError(f"dataset YAML: flip_idx must be a permutation of 0..{kpt[0] - 1}, "
                                     f"not {_brief(fi)}")
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
    report("augcli: labels: " + "; ".join(parts))
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
                       image_links=tuple(found.tree.image_links))
    if options.format != "none":  # (--masks alone: nothing was scanned)
        setup = replace(setup, unpaired=_check_pairing(setup, found, report))
    return CV.attach(setup, found, report) if options.output and fmt else setup


class LayoutRefused(UsageError):
    """A layout whose labels one run cannot carry (exit 2, naming what to run instead)."""


def _refuse_layouts(found: Found, inp: Path, options: LabelOptions, given: Path) -> None:
    """Layouts whose labels one run cannot carry: exit 2 (LayoutRefused) naming what to run instead."""
    tasks = found.tree.tasks
    shared = Counter(real for _, real in tasks)
    bad = [t for t, real in tasks if shared[real] > 1 or _inside(Path(real), inp)]
    if bad:
        real = os.path.relpath(tasks[0][1], inp) if _inside(Path(tasks[0][1]), inp) else tasks[0][1]
        raise LayoutRefused(
            f"labels: {' and '.join(t + '/' for t in bad)}: YOLO task folder{'s' if len(bad) > 1 else ''} whose "
            f"images/ link{'' if len(bad) > 1 else 's'} to a folder this run also reads ({real}/); one output tree "
            f"cannot hold {'their label sets' if len(bad) > 1 else 'its labels'} beside that folder: run augcli on "
            f"each task folder (augcli expand {os.path.join(str(given), bad[0])} OUT/{bad[0]}), or pass "
            "--labels none to expand the images alone")
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


def _unpaired(found: Found, inp: Path, labels: set[str], masks: set[str], used_json: tuple[str, ...],
              report: Callable[[str], None]) -> int:
    """Count and name (one warning) the label-like files no image pairs with: ``labels`` are the label
    files the images pair with, ``masks`` their masks (relative path without extension)."""
    left = []
    for rel in found.tree.label_like:
        if rel in labels or rel in used_json or str(PurePosixPath(rel).with_suffix("")) in masks:
            continue
        if rel.lower().endswith(".json") and not LY.looks_like_coco(inp / rel):
            continue
        left.append(rel)
    if left:
        report(f"augcli: warning: labels: {len(left)} label file{'s' if len(left) > 1 else ''} that no image "
               f"pairs with {'are' if len(left) > 1 else 'is'} not carried: {_names(left)}")
    return len(left)


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
    return _unpaired(found, setup.input_dir, labels, masks, setup.coco_files, report)


@dataclass(frozen=True)
class LabelSetup:
    options: LabelOptions
    format: str | None
    spec: Y.YoloSpec | None
    flip_idx: tuple[int, ...] | None
    yamls: tuple[str, ...]
    mask_layout: str | None
    excluded: tuple[str, ...]
    input_dir: Path
    output_dir: Path
    coco_files: tuple[str, ...] = ()
    coco: Any = None  # coco.Index
    label_dirs: tuple[tuple[str, str], ...] = ()  # VOC: (image folder, annotation folder), paired by path and stem
    mask_dirs: tuple[tuple[str, str], ...] = ()  # mask_layout "pairs": (image folder, mask folder)
    unpaired: int = 0  # label-like files no source pairs with (counted and named at resolve)
    image_links: tuple[str, ...] = ()  # image folders paired with labels that are links (followed)
    objects: bool = False  # render each output's objects in pixels (``_objects``) for a sink that asks
    convert: Any = None  # augcli.labels.convert.Converter: --labels-output
    # an object-store input: input_dir is a local mirror of its label files (for detection and the
    # checks in the parent); workers read label files and masks through ``store`` itself
    store: Any = None
    remote_masks: frozenset = frozenset()  # the input's keys that may be masks (the mirror's)
    output_url: str | None = None  # an object-store output: output_dir is a local stand-in for it

    @property
    def carries(self) -> bool:
        """True if the run carries labels or masks (False: only unpaired files were counted)."""
        return self.format is not None or self.mask_layout is not None

    # -- records -------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        spec = self.spec
        return {"options": self.options.describe(), "format": self.format,
                "spec": None if spec is None else {"nc": spec.nc, "kpt_shape": list(spec.kpt_shape) if spec.kpt_shape
                                                   else None, "obb": spec.obb, "precision": spec.precision},
                "flip_idx": list(self.flip_idx) if self.flip_idx else None, "yamls": list(self.yamls),
                "mask_layout": self.mask_layout, "excluded": list(self.excluded), "coco_files": list(self.coco_files),
                **({"label_dirs": [list(p) for p in self.label_dirs]} if self.label_dirs else {}),
                **({"mask_dirs": [list(p) for p in self.mask_dirs]} if self.mask_dirs else {})}

    @classmethod
    def from_description(cls, d: dict[str, Any], input_dir: Path, output_dir: Path) -> "LabelSetup":
        s = d.get("spec")
        spec = None if s is None else Y.YoloSpec(s["nc"], tuple(s["kpt_shape"]) if s["kpt_shape"] else None,
                                                 bool(s["obb"]), int(s["precision"]))
        inp = Path(input_dir).resolve()
        coco_files = tuple(d.get("coco_files") or ())
        coco = C.build_index(inp, coco_files, lambda msg: None) if d["format"] == "coco" else None
        return cls(LabelOptions(**d["options"]), d["format"], spec, tuple(d["flip_idx"]) if d["flip_idx"] else None,
                   tuple(d["yamls"]), d["mask_layout"], tuple(d["excluded"]), inp,
                   Path(output_dir).resolve(), coco_files, coco,
                   tuple(tuple(p) for p in d.get("label_dirs") or ()),  # type: ignore[misc]
                   tuple(tuple(p) for p in d.get("mask_dirs") or ()))  # type: ignore[misc]

    @property
    def params(self) -> L.Params:
        o = self.options
        return L.Params(o.box_method, o.min_visibility, o.min_size, o.min_area, self.flip_idx)

    # -- discovery and names -------------------------------------------------------------------

    def skip_dir(self, rel: str) -> bool:
        """Folders (relative POSIX paths) that hold labels or masks: never walked for images."""
        return rel in self.excluded

    def label_rel(self, rel: str) -> str | None:
        if self.format == "yolo":
            return Y.label_path(rel)
        if self.format == "voc":
            moved = _move(rel, self.label_dirs)
            swapped = moved or _swap_component(rel, "JPEGImages", "Annotations") or rel
            return str(PurePosixPath(swapped).with_suffix(".xml"))
        return None

    def mask_key(self, rel: str) -> str | None:
        """Where the mask of ``rel`` is, relative and without extension (layouts inside the dataset)."""
        if self.mask_layout == "pairs":
            moved = _move(rel, self.mask_dirs)
        elif self.mask_layout in _MASK_DIRS:
            moved = _swap_component(rel, *_MASK_DIRS[self.mask_layout])
        else:
            return None
        return None if moved is None else str(PurePosixPath(moved).parent / PurePosixPath(rel).stem)

    def _mask_in(self, source: str) -> Path | None:
        p = PurePosixPath(source)
        if self.mask_layout == "dir":
            folder = Path(self.options.masks) / p.parent  # type: ignore[arg-type]
            return MK.find_mask(folder, p.stem, self.options.mask_suffix)
        key = self.mask_key(source)
        if key is None:
            return None
        return MK.find_mask(self.input_dir / PurePosixPath(key).parent, p.stem)

    def _remote_mask(self, source: str) -> str | None:
        """The key of the mask of ``source`` on an object-store input (found as ``MK.find_mask``
        finds one: a lossless extension first), or None."""
        key = self.mask_key(source)
        if key is None:
            return None
        parent, stem = PurePosixPath(key).parent, PurePosixPath(source).stem
        for ext in (*MK.MASK_EXTENSIONS, *MK.LOSSY_EXTENSIONS):
            rel = (parent / f"{stem}{ext}").as_posix()
            if rel in self.remote_masks:
                return rel
        return None

    def mask_out(self, out_rel: str) -> Path | None:
        p = PurePosixPath(out_rel)
        if self.mask_layout == "dir":
            root = Path(self.options.masks_output) if self.options.masks_output else self.output_dir / "masks"
            return root / p.parent / f"{p.stem}{self.options.mask_suffix}.png"
        key = self.mask_key(out_rel)
        if key is None:
            return None
        return self.output_dir / PurePosixPath(key).parent / f"{p.stem}.png"

    def planned_files(self, source: str, outputs: list[str]) -> list[Path]:
        """The label and mask files the outputs of ``source`` will have (absolute paths)."""
        files: list[Path] = []
        lab = self.label_rel(source)
        has_label = lab is not None and (self.input_dir / lab).is_file()
        if self.convert is not None and self.coco is not None:  # converted COCO: a file per labelled output
            has_label = source in self.coco.entries
        has_mask = self._mask_in(source) is not None
        for out in outputs:
            if has_label and self.convert is not None:
                files.extend(self.convert.label_out(self.output_dir, out))
            elif has_label:
                files.append(self.output_dir / self.label_rel(out))  # type: ignore[operator]
            if has_mask:
                m = self.mask_out(out)
                if m is not None:
                    files.append(m)
        return files

    def final_paths(self) -> list[Path]:
        """Files written once at the end of the run (the COCO JSONs)."""
        if self.convert is not None:
            return self.convert.final_paths(self.output_dir)
        return [self.output_dir / rel for rel in self.coco_files]

    def collector(self) -> "C.Collector | None":
        if self.convert is not None:
            return self.convert.collector(self.output_dir)
        return C.Collector(self.coco.files, self.output_dir) if self.coco is not None else None

    def run_files(self) -> list[tuple[Path, bytes]]:
        """Files written once per run (the dataset YAML), with their bytes."""
        if self.convert is not None:
            return self.convert.run_files(self.output_dir)
        out = []
        for name in self.yamls:
            out.append((self.output_dir / name, _rewrite_yaml(self.input_dir / name, self.input_dir,
                                                               self.output_url or self.output_dir)))
        return out

    # -- per source (in the worker) ------------------------------------------------------------

    def load(self, source: str, size: G.Size, exif_transpose: bool, max_pixels: int,
             resize: tuple[int, int] | None, image: Path | None = None) -> "SourceLabels":
        """Read and check the labels and mask of one source (``size``: the image as loaded;
        ``image``: its local copy when the input is on object storage). Raises LabelError for a bad file."""
        src = image if image is not None else self.input_dir / source
        # the frame the labels are in -> the image as loaded (--resize, EXIF), in edge coordinates
        disp = _unresized_size(size, src, exif_transpose, max_pixels) if resize else tuple(size)
        pre = L.scale_map(size[0] / disp[0], size[1] / disp[1]) if resize else None
        frame = disp
        if self.options.frame == "stored" and exif_transpose:
            orient = _orientation(src)
            if orient in _EXIF:
                exif_pre, frame = _exif_edge_map(orient, disp)
                pre = exif_pre if pre is None else pre @ exif_pre
        parsed = None
        if self.coco is not None:
            entry = self.coco.entries.get(source)
            if entry is not None:
                if entry.error:
                    raise LabelError(entry.error)
                im = entry.image
                given = (im.get("width"), im.get("height"))
                if all(isinstance(v, int) for v in given) and tuple(given) != tuple(frame):
                    hint = " (EXIF? try --labels-frame stored)" if tuple(given) == (frame[1], frame[0]) else ""
                    raise LabelError(f"{entry.json_rel}: image {im.get('file_name')!r} is {given[0]}x{given[1]} "
                                     f"in the JSON but {frame[0]}x{frame[1]} decoded{hint}")
                parsed = (entry, C.objects_of(entry, frame, self.coco.keypoint_flip))
        lab = self.label_rel(source)
        if lab is not None:
            lpath = self.input_dir / lab
            if self.store is None and _escapes(lpath, self.input_dir):
                raise LabelError(f"{lab}: label file resolves outside the input folder; refused")
            if self.store is not None or (lpath.exists() and not lpath.is_dir()):  # a FIFO or device there fails as one
                try:
                    raw = read_limited(lpath, Y.MAX_LABEL_BYTES) if self.store is None else \
                        self.store.read_limited(lab, Y.MAX_LABEL_BYTES)
                    if raw is None:  # no such key
                        raise _NoLabel
                    if self.format == "voc":
                        parsed = V.parse(raw, lab)
                        _check_size(parsed.size, frame, lab)
                    else:
                        parsed = Y.parse(raw.decode("utf-8"), lab, self.spec or Y.YoloSpec(), frame)
                except UnicodeDecodeError:
                    raise LabelError(f"{lab}: not UTF-8 text") from None
                except FileRefused as exc:
                    raise LabelError(f"{lab}: {exc}") from None
                except _NoLabel:
                    lab = None
            else:
                lab = None
        mask = None
        key = self._remote_mask(source) if self.store is not None and self.mask_layout != "dir" else None
        mpath = self._mask_in(source) if key is None and (self.store is None or self.mask_layout == "dir") else None
        if mpath is not None and self.mask_layout != "dir" and not _inside(mpath, self.input_dir):
            raise LabelError(f"{os.path.relpath(mpath, self.input_dir)}: mask resolves outside the input folder; refused")
        if key is not None:
            expect = _unresized_size(size, src, exif_transpose, max_pixels) if resize else size
            try:
                fetched = self.store.fetch(key, max_pixels)
            except InputError as exc:
                raise LabelError(f"{key}: {exc}") from None
            shown = key
            try:
                mask = MK.load_mask(fetched, key, max_pixels, tuple(expect))
            finally:
                self.store.release(fetched)
            mpath = PurePosixPath(key)  # type: ignore[assignment]
        elif mpath is not None:
            shown = os.path.relpath(mpath, self.input_dir) if _inside(mpath, self.input_dir) else str(mpath)
            expect = _unresized_size(size, src, exif_transpose, max_pixels) if resize else size
            mask = MK.load_mask(mpath, shown, max_pixels, tuple(expect))
        if mask is not None:
            if mask.size != tuple(expect):
                raise LabelError(f"{shown}: mask is {mask.size[0]}x{mask.size[1]}, image is {expect[0]}x{expect[1]}")
            if resize:
                mask = MK.resize_mask(mask, tuple(size))
        return SourceLabels(self, lab, parsed, pre, mask, os.path.basename(str(mpath)) if mpath else None, source)


class _NoLabel(Exception):
    """The source has no label file (on object storage: its key does not exist)."""


def _check_size(given: tuple[int, int] | None, frame: G.Size, shown: str) -> None:
    """COCO/VOC sizes equal to the decoded size swapped mean labels made on the stored pixels."""
    if given and tuple(given) != tuple(frame) and tuple(given) == (frame[1], frame[0]):
        raise LabelError(f"{shown}: <size> {given[0]}x{given[1]} but image is {frame[0]}x{frame[1]} "
                         "(EXIF? try --labels-frame stored)")


_MASK_DIRS = {"sibling": ("images", "masks"), "voc": ("JPEGImages", "SegmentationClass"),
              "voc-object": ("JPEGImages", "SegmentationObject")}


def _move(rel: str, pairs: tuple[tuple[str, str], ...]) -> str | None:
    """``rel`` with its leading folder ``a`` replaced by ``b`` for the longest matching pair (a, b)."""
    for a, b in sorted(pairs, key=lambda ab: -len(ab[0])):
        if rel.startswith(a + "/"):
            return b + rel[len(a):]
    return None


def _swap_component(rel: str, old: str, new: str) -> str | None:
    parts = list(PurePosixPath(rel).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == old:
            parts[i] = new
            return PurePosixPath(*parts).as_posix()
    return None


def _inside(p: Path, root: Path) -> bool:
    try:
        Path(p).resolve().relative_to(root)
        return True
    except ValueError:
        return False


def _escapes(p: Path, root: Path) -> bool:
    return p.exists() and not _inside(p, root)


def _orientation(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block: no orientation
        return 1


# EXIF orientation -> Pillow's exif_transpose method, as augcli matrices (output -> input, centre)
_EXIF = (2, 3, 4, 5, 6, 7, 8)


def exif_matrix(orientation: int, stored: G.Size) -> tuple[np.ndarray, G.Size]:
    """The (displayed -> stored) centre matrix of Pillow's exif_transpose for ``orientation`` and
    the displayed size, built from augcli's own flips and quarter turns."""
    if orientation == 2:
        return G.hflip(stored), stored
    if orientation == 4:
        return G.vflip(stored), stored
    if orientation in (3, 6, 8):
        return G.rot90({3: 2, 6: 3, 8: 1}[orientation], stored)
    if orientation == 5:  # TRANSPOSE = mirror, then a quarter turn
        m, size = G.rot90(1, stored)
        return G.hflip(stored) @ m, size
    if orientation == 7:  # TRANSVERSE
        m, size = G.rot90(3, stored)
        return G.hflip(stored) @ m, size
    return G.identity(), stored


def _exif_edge_map(orientation: int, displayed: G.Size) -> tuple[np.ndarray, G.Size]:
    stored = (displayed[1], displayed[0]) if orientation in (5, 6, 7, 8) else displayed
    m, size = exif_matrix(orientation, stored)
    return L.edge_map(m, size), stored


def _unresized_size(size: G.Size, src: Path, exif_transpose: bool, max_pixels: int) -> G.Size:
    from ..imageio import LoadOptions, source_size

    return source_size(src, LoadOptions(exif_transpose, max_pixels, None))


def _rewrite_yaml(path: Path, inp: Path, out: Path | str) -> bytes:
    """The dataset YAML for the output: its bytes verbatim, unless ``path``/``train``/``val``/``test``
    hold absolute paths into the input folder: those are rewritten to the output folder (or URL)."""
    import yaml

    raw = path.read_bytes()
    data = yaml.safe_load(raw.decode("utf-8"))
    changed = False

    def fix(v: Any) -> Any:
        nonlocal changed
        if isinstance(v, str) and os.path.isabs(v):
            try:
                rel = Path(v).resolve().relative_to(inp)
            except ValueError:
                return v  # outside the input: not read, not rewritten
            changed = True
            if isinstance(out, str):  # an object-store output
                return out if str(rel) == "." else f"{out}/{rel.as_posix()}"
            return str(out / rel) if str(rel) != "." else str(out)
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    for key in ("path", "train", "val", "test"):
        if key in data:
            data[key] = fix(data[key])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode() if changed else raw


class SourceLabels:
    """The labels of one source, loaded in the worker."""

    def __init__(self, setup: LabelSetup, label_rel: str | None, parsed: Y.Parsed | None,
                 pre: np.ndarray | None, mask, mask_name: str | None, source: str = "") -> None:
        self.setup, self.label_rel, self.parsed, self.pre = setup, label_rel, parsed, pre
        self.source = source  # relative to INPUT_DIR
        self.mask = mask

    def shapes(self, matrix: np.ndarray, out_size: G.Size, window: WI.Window | None = None,
               nodes=None) -> tuple[list[L.Obj], Any]:
        """The transformed objects and the warped mask of one output (for drawing); ``window``:
        the output pixels its image fills (``Pipeline.window``); ``nodes``: the output's distortion
        (augcli.distort.Nodes), if it has one."""
        setup = self.setup
        objs: list[L.Obj] = []
        f = L.edge_map(matrix, out_size, self.pre)
        if setup.format == "coco" and self.parsed is not None:
            centry, parsed = self.parsed
            vector = [o for o in parsed if o.extra[2][0] != "rle"]
            objs = WI.transform(vector, f, out_size, setup.params, window, DZ.points_of(nodes))[0]
        elif self.parsed is not None:
            objs = WI.transform(self.parsed.objects, f, out_size, setup.params, window, DZ.points_of(nodes))[0]
        mask = None
        if self.mask is not None:
            mask = WI.pad_mask(DZ.warp_mask(self.mask, np.asarray(matrix, dtype=float), out_size,
                                            setup.options.mask_fill, nodes), window, setup.options.mask_fill)
        return objs, mask

    def _transform_objects(self, matrix: np.ndarray, out_size: G.Size, entry: dict[str, Any],
                           window: WI.Window | None = None, nodes=None) -> list:
        """The parsed objects (edge coordinates) carried through ``matrix``; their counts go into ``entry``."""
        objs, stats = WI.transform(self.parsed.objects, L.edge_map(matrix, out_size, self.pre), out_size,
                                   self.setup.params, window, DZ.points_of(nodes))
        entry.update(stats.as_dict())
        return objs

    def render(self, matrix: np.ndarray, out_size: G.Size, out_rel: str, files: bool = True,
               erased: list | None = None, window: WI.Window | None = None, nodes=None,
               ) -> tuple[list[tuple[Path, bytes]], dict[str, Any]]:
        """The label files of one output (absolute path, bytes) and its manifest entry. With
        ``files`` False only the entry is computed (for an output that is skipped). ``erased``: the
        regions --erase-dropped painted in the image (augcli.labels.erase), set to the mask fill
        in its mask. ``window``: the output pixels its image fills (``Pipeline.window``: a
        letterbox's bands are padding), where objects are cut and outside which masks take the fill.
        ``nodes``: the output's distortion (augcli.distort.Nodes), if it has one."""
        setup = self.setup
        made: list[tuple[Path, bytes]] = []
        entry: dict[str, Any] = {"format": None, "file": None}
        fmt = setup.format
        if setup.convert is not None:  # --labels-output: written in another format
            made, entry = setup.convert.render(self, matrix, out_size, out_rel, files)
            fmt = None
        if fmt == "coco":
            entry["format"] = "coco"
            if self.parsed is None:
                entry["unlabeled"] = True
            else:
                centry, objs = self.parsed
                f = L.edge_map(matrix, out_size, self.pre)
                mm = matrix if self.pre is None else L.edge_to_centre(L._inverse(f))  # RLE: output -> frame
                image, anns, stats = C.transform_image(centry, objs, mm, f, out_size, setup.params,
                                                       setup.coco.keypoint_flip, out_rel, window, nodes)
                entry.update(stats.as_dict())
                entry["file"] = centry.json_rel
                entry["_coco"] = {"json": centry.json_rel, "image": image, "annotations": anns}
                if setup.objects:
                    entry["_objects"] = coco_objects(anns)
        if fmt == "voc":
            entry["format"] = "voc"
            if self.parsed is None:
                entry["unlabeled"] = True
            else:
                objs = self._transform_objects(matrix, out_size, entry, window, nodes)
                if setup.objects:
                    entry["_objects"] = pixel_objects(objs)
                rel = setup.label_rel(out_rel)
                entry["file"] = rel
                if files:
                    folders = V.folder_names(setup.input_dir, self.source, setup.output_dir, out_rel)
                    made.append((setup.output_dir / rel, V.write(self.parsed, objs, out_size,  # type: ignore[operator]
                                                                  PurePosixPath(out_rel).name, folders)))
        if fmt == "yolo":
            entry["format"] = f"yolo-{self.parsed.kind}" if self.parsed else "yolo"
            if self.parsed is None:
                entry["unlabeled"] = True
            else:
                objs = self._transform_objects(matrix, out_size, entry, window, nodes)
                if setup.objects:
                    entry["_objects"] = pixel_objects(objs)
                entry["input_clipped"] = self.parsed.clipped_input
                rel = Y.label_path(out_rel)
                entry["file"] = rel
                if files:
                    made.append((setup.output_dir / rel,
                                 Y.write(self.parsed.kind, objs, out_size, setup.spec or Y.YoloSpec())))
        if setup.format is None and setup.mask_layout is not None and self.mask is None:
            entry["unlabeled"] = True  # a mask layout, and this source has no mask
        if self.mask is not None:
            target = setup.mask_out(out_rel)
            if target is not None:
                entry["mask"] = os.path.relpath(target, setup.output_dir) if _inside(target, setup.output_dir) \
                    else str(target)
                if files:
                    m = np.asarray(matrix, dtype=float)
                    warped = WI.pad_mask(DZ.warp_mask(self.mask, m, out_size, setup.options.mask_fill, nodes), window,
                                         setup.options.mask_fill)
                    if erased:  # the dropped objects' pixels: ignore
                        warped = ER.paint_mask(warped, erased, setup.options.mask_fill, window)
                    made.append((target, MK.encode_mask(warped)))
        return made, entry
