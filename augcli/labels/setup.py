"""What the runner sees of labels: the options, and one LabelSetup per run.

The runner's hook is small: ``LabelSetup.load(...)`` in the worker gives a ``SourceLabels`` for a
source, and ``SourceLabels.render(matrix, out_size, out_rel)`` gives the label files (and masks)
of one output as bytes plus its manifest entry. Write order (see ``augcli.runner``): the label files
first, the image last, each atomically; every consumer (Ultralytics, ``--on-exists skip``) goes by
the images, so an image that is visible always has its complete label files beside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .. import geometry as G
from ..choices import ERASE_MODES, LABEL_FORMATS, LABEL_FRAMES
from ..errors import InputError
from ..safefiles import FileRefused, read_limited
from ..safepaths import unsafe_part, within
from . import coco as C
from . import convert_plan as CV
from . import masks as MK
from . import model as L
from . import voc as V
from . import voc_lists as VL
from . import yolo as Y
from .dataset_yaml import rewrite_yaml
from .errors import LabelError
from .source import (EXIF_ORIENTATIONS, NoLabel, SourceLabels, check_size, escapes, exif_edge_map,
                     exif_orientation, unresized_size)

FORMATS = LABEL_FORMATS
FRAMES = LABEL_FRAMES


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
    image_sets: tuple[str, ...] = ()  # VOC image-set lists carried to the output (augcli.labels.voc_lists)

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
                **({"mask_dirs": [list(p) for p in self.mask_dirs]} if self.mask_dirs else {}),
                **({"image_sets": list(self.image_sets)} if self.image_sets else {})}

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
                   tuple(tuple(p) for p in d.get("mask_dirs") or ()),  # type: ignore[misc]
                   image_sets=tuple(r for r in d.get("image_sets") or ()  # a name from a file: kept inside
                                    if isinstance(r, str) and unsafe_part(r) is None and VL.root_of(r) is not None))

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
        """Files written once at the end of the run (the COCO JSONs, VOC's image-set lists)."""
        if self.convert is not None:
            return self.convert.final_paths(self.output_dir)
        return [self.output_dir / rel for rel in (*self.coco_files, *self.image_sets)]

    def image_set_lists(self) -> "VL.ImageSets | None":
        """The collector of VOC's image-set lists, when the run carries some."""
        if not self.image_sets or self.convert is not None:
            return None
        return VL.ImageSets(self.image_sets, self.input_dir, self.output_dir, [i for i, _ in self.label_dirs])

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
            out.append((self.output_dir / name, rewrite_yaml(self.input_dir / name, self.input_dir,
                                                               self.output_url or self.output_dir)))
        return out

    # -- per source (in the worker) ------------------------------------------------------------

    def load(self, source: str, size: G.Size, exif_transpose: bool, max_pixels: int,
             resize: tuple[int, int] | None, image: Path | None = None) -> "SourceLabels":
        """Read and check the labels and mask of one source (``size``: the image as loaded;
        ``image``: its local copy when the input is on object storage). Raises LabelError for a bad file."""
        src = image if image is not None else self.input_dir / source
        # the frame the labels are in -> the image as loaded (--resize, EXIF), in edge coordinates
        disp = unresized_size(size, src, exif_transpose, max_pixels) if resize else tuple(size)
        pre = L.scale_map(size[0] / disp[0], size[1] / disp[1]) if resize else None
        frame = disp
        if self.options.frame == "stored" and exif_transpose:
            orient = exif_orientation(src)
            if orient in EXIF_ORIENTATIONS:
                exif_pre, frame = exif_edge_map(orient, disp)
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
            if self.store is None and escapes(lpath, self.input_dir):
                raise LabelError(f"{lab}: label file resolves outside the input folder; refused")
            if self.store is not None or (lpath.exists() and not lpath.is_dir()):  # a FIFO or device there fails as one
                try:
                    raw = read_limited(lpath, Y.MAX_LABEL_BYTES) if self.store is None else \
                        self.store.read_limited(lab, Y.MAX_LABEL_BYTES)
                    if raw is None:  # no such key
                        raise NoLabel
                    if self.format == "voc":
                        parsed = V.parse(raw, lab)
                        check_size(parsed.size, frame, lab)
                    else:
                        parsed = Y.parse(raw.decode("utf-8"), lab, self.spec or Y.YoloSpec(), frame)
                except UnicodeDecodeError:
                    raise LabelError(f"{lab}: not UTF-8 text") from None
                except FileRefused as exc:
                    raise LabelError(f"{lab}: {exc}") from None
                except NoLabel:
                    lab = None
            else:
                lab = None
        mask = None
        key = self._remote_mask(source) if self.store is not None and self.mask_layout != "dir" else None
        mpath = self._mask_in(source) if key is None and (self.store is None or self.mask_layout == "dir") else None
        if mpath is not None and self.mask_layout != "dir" and not within(mpath, self.input_dir):
            raise LabelError(f"{os.path.relpath(mpath, self.input_dir)}: mask resolves outside the input folder; refused")
        if key is not None:
            expect = unresized_size(size, src, exif_transpose, max_pixels) if resize else size
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
            shown = os.path.relpath(mpath, self.input_dir) if within(mpath, self.input_dir) else str(mpath)
            expect = unresized_size(size, src, exif_transpose, max_pixels) if resize else size
            mask = MK.load_mask(mpath, shown, max_pixels, tuple(expect))
        if mask is not None:
            if mask.size != tuple(expect):
                raise LabelError(f"{shown}: mask is {mask.size[0]}x{mask.size[1]}, image is {expect[0]}x{expect[1]}")
            if resize:
                mask = MK.resize_mask(mask, tuple(size))
        return SourceLabels(self, lab, parsed, pre, mask, os.path.basename(str(mpath)) if mpath else None, source)


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
