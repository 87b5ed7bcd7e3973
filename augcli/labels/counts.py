"""Objects per label class, for ``augcli stats`` (its ``count_objects`` hook)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..imageio import LoadOptions, source_size
from ..pipeline import Pipeline
from .detect import LayoutRefused, resolve
from .setup import LabelOptions


def class_names(root: Path, setup) -> dict:
    """Class id -> name from the dataset YAML (YOLO) or the categories (COCO)."""
    if setup.format == "coco":
        return {c.get("id"): str(c.get("name")) for _, top in setup.coco.files for c in top.get("categories", [])
                if isinstance(c, dict)}
    if setup.format == "yolo" and setup.yamls:
        from .dataset_yaml import read_yaml

        names = (read_yaml(root / setup.yamls[0], setup.yamls[0]) or {}).get("names")
        if isinstance(names, list):
            return dict(enumerate(map(str, names)))
        if isinstance(names, dict):
            return {k: str(v) for k, v in names.items()}
    return {}


def count_objects(root: Path, rels: Sequence[str], report=lambda msg: None) -> dict[str, int] | None:
    """{class name: objects} over the label files of ``rels`` (None when no labels are found).
    A label file that cannot be read is reported and left out."""
    try:
        setup = resolve(LabelOptions(), Path(root), Path(root).parent / ".augcli-stats", Pipeline(), report)
    except LayoutRefused as exc:  # stats still reports the images; the objects are not counted
        report(f"augcli: note: objects not counted: {exc}")
        return None
    if setup is None or setup.format is None:
        return None
    names = class_names(Path(root), setup)
    counts: Counter = Counter()
    load = LoadOptions()
    for rel in rels:
        try:
            labels = setup.load(rel, source_size(Path(root) / rel, load), True, load.max_pixels, None)
        except InputError as exc:
            report(f"augcli: {rel}: {exc}")
            continue
        parsed = labels.parsed
        objs = parsed[1] if setup.format == "coco" and parsed else (parsed.objects if parsed else [])
        for o in objs:
            counts[names.get(o.cls, str(o.cls))] += 1
    return dict(sorted(counts.items()))


def label_folders(root: Path):
    """A ``skip_dir`` for discovery: the label and mask folders ``expand --labels auto`` would
    find under ``root`` (None when there are none, or the folder cannot be scanned)."""
    from ..errors import UsageError
    from .detect import scan

    try:
        excluded = scan(Path(root)).excluded
    except (UsageError, OSError):
        return None
    return (lambda rel: rel in excluded) if excluded else None
