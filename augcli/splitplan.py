"""What ``augcli split`` decides before it writes: the dataset's images, their classes, the groups
that must stay together, and which split each group goes to.

Everything here is deterministic from the seed and the files: the order of work is the sorted list
of relative paths, never the order results come back from worker processes.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

import numpy as np

from .errors import InputError, UsageError

NO_CLASS = "(none)"
GROUP_KINDS = ("near-duplicate", "tile", "source", "stem", "none")  # and regex:PATTERN
DEFAULT_GROUPS = ("near-duplicate", "tile", "source")
# a tile named as SAHI names them, <source stem>_<x0>_<y0>_<x1>_<y1>, or as augcli tile does,
# [prefix_]<source stem>_x<x0>_y<y0>: the fallback when no tile manifest names its source
TILE_NAME = re.compile(r"^(.+?)(?:_\d+_\d+_\d+_\d+|_x\d+_y\d+)$")


@dataclass(frozen=True)
class SplitOptions:
    ratios: tuple[float, ...] = (0.8, 0.1, 0.1)
    names: tuple[str, ...] = ("train", "val", "test")
    stratify: bool = False
    group: tuple[str, ...] = DEFAULT_GROUPS
    hash_distance: int = 8
    link: bool = False
    seed: int = 0
    workers: int = 0
    cache: str | None = None

    def __post_init__(self) -> None:
        if len(self.ratios) < 2:
            raise ValueError("--ratios needs at least two values, e.g. 0.8,0.2")
        if any(not np.isfinite(r) or r < 0 for r in self.ratios) or sum(self.ratios) <= 0:
            raise ValueError(f"--ratios must be numbers >= 0 with a positive sum, not {self.ratios}")
        if len(self.names) != len(self.ratios):
            raise ValueError(f"--names has {len(self.names)} names for {len(self.ratios)} ratios")
        for n in self.names:
            if not n or n in (".", "..") or "/" in n or "\\" in n or n.startswith("."):
                raise ValueError(f"--names: {n!r} is not a folder name")
        if len(set(self.names)) != len(self.names):
            raise ValueError("--names must be different from each other")
        for g in self.group:
            if g.startswith("regex:"):
                try:
                    re.compile(g[6:])
                except re.error as exc:
                    raise ValueError(f"--group {g}: not a regular expression: {exc}") from None
            elif g not in GROUP_KINDS:
                raise ValueError(f"--group must be near-duplicate, tile, source, stem, regex:PATTERN or none, "
                                 f"not {g!r}")
        from .phash import MAX_DISTANCE

        if not 0 <= self.hash_distance <= MAX_DISTANCE:
            raise ValueError(f"--hash-distance must be from 0 to {MAX_DISTANCE}, not {self.hash_distance}")

    @property
    def fractions(self) -> list[float]:
        total = float(sum(self.ratios))
        return [r / total for r in self.ratios]


def default_names(count: int) -> tuple[str, ...]:
    if count == 2:
        return ("train", "val")
    if count == 3:
        return ("train", "val", "test")
    raise ValueError(f"--ratios has {count} values: give as many --names")


@dataclass
class Dataset:
    """The images of a dataset as ``expand`` sees them, with their label setup and classes."""

    root: Path
    images: list[str]
    setup: object | None  # labels.setup.LabelSetup, or None without labels
    layout: str  # "folders", "yolo", "coco", "voc"
    classes: dict[str, list[str]] = field(default_factory=dict)  # rel -> class of each object / [folder]
    errors: list[str] = field(default_factory=list)


def folder_class(rel: str) -> str:
    parent = PurePosixPath(rel).parent.as_posix()
    return NO_CLASS if parent == "." else parent


def load_dataset(root: Path, output: Path | None, report: Callable[[str], None]) -> Dataset:
    """Find the images and the label layout of ``root`` (augcli.labels) and each image's classes:
    its objects' classes with labels, its folder without."""
    from .labels.counts import class_names
    from .labels.detect import resolve, scan
    from .labels.setup import LabelOptions
    from .pipeline import Pipeline

    setup = resolve(LabelOptions(), root, output or root / ".augcli-split-none", Pipeline(), report)
    found = scan(root, lambda msg: None, output)
    images = sorted(found.tree.images)
    fmt = getattr(setup, "format", None)
    ds = Dataset(root, images, setup, fmt if fmt in ("yolo", "coco", "voc") else "folders")
    if fmt is None:
        ds.classes = {rel: [folder_class(rel)] for rel in images}
        return ds
    from .imageio import LoadOptions, source_size

    names = class_names(root, setup)
    load = LoadOptions()
    for rel in images:
        ds.classes[rel] = []
        try:
            size = source_size(root / rel, load)
        except Exception:  # an image that cannot be decoded is named once, when it is hashed
            continue
        try:
            labels = setup.load(rel, size, True, load.max_pixels, None)  # type: ignore[union-attr]
        except (InputError, OSError, ValueError) as exc:
            ds.errors.append(f"{rel}: {exc}")
            continue
        parsed = labels.parsed
        objs = parsed[1] if fmt == "coco" and parsed else (parsed.objects if parsed else [])
        ds.classes[rel] = [str(names.get(o.cls, o.cls)) for o in objs]
    return ds


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the root is the smallest index: the smallest path


def run_sources(root: Path, images: Sequence[str], report: Callable[[str], None]) -> dict[str, tuple[str, bool]]:
    """{image: (its source, whether it is a tile)} for the outputs that augcli run manifests under
    ``root`` (``expand``, ``tile``) record, and for a source that is itself in the dataset. A source
    is named by its absolute path, so two sources with one stem in different folders stay apart."""
    from .manifest import manifests_under

    known = set(images)
    by_abs = {os.path.normpath(root / rel): rel for rel in images}
    out: dict[str, tuple[str, bool]] = {}
    for rel_man, man, header, records in manifests_under(root, lambda rel, exc: report(
            f"augcli: warning: {rel}: {exc}; its outputs are grouped by their names and hashes only")):
        config = header.get("config") if isinstance(header.get("config"), dict) else {}
        if header.get("kind") != "run" or not isinstance(config.get("input_dir"), str):
            continue
        in_dir = config["input_dir"]
        # a relative input folder is relative to where that run was started: the first place under
        # which a recorded source is an image of this dataset (else any: the outputs still group)
        bases = [Path(in_dir)] if os.path.isabs(in_dir) else [Path.cwd() / in_dir, root / in_dir,
                                                                root.parent / in_dir, man.parent / in_dir]
        srcs = [r.get("source") for r in records if isinstance(r.get("source"), str)]
        base = next((b for b in bases if any(os.path.normpath(b / x) in by_abs for x in srcs)), bases[0])
        for rec in records:
            src, outp = rec.get("source"), rec.get("output")
            if rec.get("status") != "ok" or not isinstance(src, str) or not isinstance(outp, str):
                continue
            output = (PurePosixPath(rel_man).parent / outp).as_posix()
            if output in known:
                key, tile = os.path.normpath(base / src), rec.get("window") is not None
                out[output] = (key, tile)
                if key in by_abs:
                    out.setdefault(by_abs[key], (key, tile))
    return out


def groups_of(images: Sequence[str], hashes: Sequence, group: Sequence[str], distance_max: int,
              sources: dict[str, tuple[str, bool]] | None = None) -> list[int]:
    """The group (index of its first image) of each image: byte-identical files always share one;
    ``group`` adds near duplicates (dHash within ``distance_max``), tiles with their source (from the
    tile manifests, ``sources``, else by name), the outputs of a run with their source (``sources``),
    equal stems, equal regex keys."""
    sources = sources or {}
    from .phash import mirror_links, near_links

    uf = UnionFind(len(images))
    keys: dict[tuple[str, str], int] = {}

    def by_key(kind: str, key: str | None, i: int) -> None:
        if key is None:
            return
        first = keys.setdefault((kind, key), i)
        uf.union(first, i)

    for i, h in enumerate(hashes):
        by_key("sha", h.sha256 or None, i)
    for g in group:
        if g == "near-duplicate":  # equal hashes chained, then one link per close pair of hash values
            lists, links = near_links([h.dhash for h in hashes], distance_max)
            for members in lists:
                for i in members[1:]:
                    uf.union(members[0], i)
            for a, b, _ in links:
                uf.union(lists[a][0], lists[b][0])
            for xs, ys, _ in mirror_links([h.dhash for h in hashes], [h.mirror for h in hashes], distance_max):
                uf.union(xs[0], ys[0])  # a mirrored copy is a near duplicate too
        elif g == "tile":  # every tile of one source, and the source itself, share the source's stem
            for i, rel in enumerate(images):
                if rel in sources and sources[rel][1]:
                    by_key("source", sources[rel][0], i)
                    continue
                p = PurePosixPath(rel)
                m = TILE_NAME.match(p.stem)
                by_key("tile", (p.parent / (m.group(1) if m else p.stem)).as_posix(), i)
        elif g == "source":  # an expand output (an augmented copy) and its source
            for i, rel in enumerate(images):
                if rel in sources:
                    by_key("source", sources[rel][0], i)
        elif g == "stem":
            for i, rel in enumerate(images):
                by_key("stem", PurePosixPath(rel).stem, i)
        elif g.startswith("regex:"):
            pat = re.compile(g[6:])
            for i, rel in enumerate(images):
                m = pat.search(rel)
                by_key("regex", (m.group(1) if m.groups() else m.group(0)) if m else None, i)
    return [uf.find(i) for i in range(len(images))]


def _largest_remainder(n: int, fractions: Sequence[float]) -> list[int]:
    exact = [n * f for f in fractions]
    base = [int(np.floor(e)) for e in exact]
    for s in sorted(range(len(exact)), key=lambda s: (-(exact[s] - base[s]), s))[: n - sum(base)]:
        base[s] += 1
    return base


def quotas(sizes: Sequence[int], fractions: Sequence[float]) -> list[list[int]]:
    """Images per split for each class of ``sizes`` images: each within one image of its exact share
    (the floor, or one more), and the splits' totals the largest-remainder rounding of the whole,
    as far as both can hold (the extra images go to the splits furthest below their totals)."""
    total = _largest_remainder(sum(sizes), fractions)
    rows = [[int(np.floor(n * f)) for f in fractions] for n in sizes]
    room = [t - sum(r[s] for r in rows) for s, t in enumerate(total)]
    for n, row in zip(sizes, rows):
        frac = [n * f - b for f, b in zip(fractions, row)]
        for _ in range(n - sum(row)):
            free = [s for s in range(len(row)) if row[s] == int(np.floor(n * fractions[s]))]
            s = max(free or range(len(row)), key=lambda k: (room[k], frac[k], -k))
            row[s] += 1
            room[s] -= 1
    return rows


def assign(images: Sequence[str], groups: Sequence[int], image_class: Callable[[str], list[str]],
           fractions: Sequence[float], seed: int, stratify: bool) -> list[int]:
    """The split index of each image. Groups (never divided) are ordered by their first path,
    shuffled with ``seed``, and each goes to the split furthest below its quota; with ``stratify``
    that is done class by class (a group's class: the most common class of its objects or folder)."""
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    order = sorted(members)  # a group's id is its first image's index: sorted paths
    perm = np.random.default_rng(seed).permutation(len(order))
    shuffled = [order[k] for k in perm]
    strata: dict[str, list[int]] = {}
    for g in shuffled:
        if stratify:
            counts: Counter = Counter()
            for i in members[g]:
                counts.update(image_class(images[i]) or [NO_CLASS])
            cls = min(counts, key=lambda c: (-counts[c], c))
        else:
            cls = ""
        strata.setdefault(cls, []).append(g)
    classes = sorted(strata)
    sizes = [sum(len(members[g]) for g in strata[c]) for c in classes]
    out = [0] * len(images)
    for cls, quota in zip(classes, quotas(sizes, fractions)):
        got = [0] * len(fractions)
        for g in strata[cls]:
            s = max(range(len(fractions)), key=lambda k: (quota[k] - got[k], -k))
            got[s] += len(members[g])
            for i in members[g]:
                out[i] = s
    return out


def table(ds: Dataset, images: Sequence[str], split_of: Sequence[int],
          names: Sequence[str]) -> dict[str, dict[str, dict[str, int]]]:
    """{class: {split: {"images": n, "objects": n}}}; with labels an image counts once for each class
    it has objects of; without, ``objects`` is 0."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    labelled = ds.layout != "folders"
    for rel, s in zip(images, split_of):
        counts = Counter(ds.classes.get(rel) or [NO_CLASS])
        for cls, k in counts.items():
            cell = out.setdefault(cls, {n: {"images": 0, "objects": 0} for n in names})[names[s]]
            cell["images"] += 1
            if labelled and cls != NO_CLASS:
                cell["objects"] += k
    return dict(sorted(out.items()))


def format_table(tab: dict, names: Sequence[str], totals: Sequence[int], labelled: bool) -> list[str]:
    head = ["class", *(f"{n} img" + ("/obj" if labelled else "") for n in names)]
    rows = [head]
    for cls, per in tab.items():
        rows.append([cls, *(f"{per[n]['images']}" + (f"/{per[n]['objects']}" if labelled else "") for n in names)])
    rows.append(["all images", *(str(t) for t in totals)])
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    return ["  ".join(r[c].ljust(widths[c]) if c == 0 else r[c].rjust(widths[c]) for c in range(len(r)))
            for r in rows]


def check_folders(inp: Path, out: Path) -> None:
    if not inp.is_dir():
        raise UsageError(f"{inp}: not a folder")
    ri, ro = inp.resolve(), out.resolve()
    if ro == ri or ri in ro.parents or ro in ri.parents:
        raise UsageError(f"OUTPUT {out} and INPUT {inp} must not contain each other")
    if out.exists() and (not out.is_dir() or any(os.scandir(out))):
        raise UsageError(f"OUTPUT {out} exists and is not an empty folder; split writes a new dataset")
