"""``augcli split``: divide a dataset into train/val/test (or named) splits, in its own layout.

Images that belong together (byte-identical files always; near duplicates, equal stems or equal
regex keys as asked) land in one split (augcli.splitplan). Each split is written in the layout the
input has (augcli.labels finds it): class folders ``OUT/<split>/<rel>``; YOLO ``images/<split>``,
``labels/<split>`` and a ``data.yaml`` naming the splits; COCO ``OUT/<split>/<rel>`` with one
``_annotations.coco.json`` per split; VOC the input's tree with ``ImageSets/Main/<split>.txt``;
masks beside their images. Files are copied (or hard-linked), the input is never written to, and
``OUT/split.jsonl`` records where every image went.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from . import splitplan as SP
from .errors import UsageError

MANIFEST = "split.jsonl"
YAML_SPLIT_KEYS = ("train", "val", "test")  # the keys Ultralytics reads, for the first three splits


@dataclass
class SplitResult:
    layout: str
    names: tuple[str, ...]
    counts: list[int]
    table: dict
    groups: int
    errors: list[str] = field(default_factory=list)
    manifest: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"layout": self.layout, "splits": dict(zip(self.names, self.counts)), "groups": self.groups,
                "classes": self.table, "errors": self.errors, "manifest": self.manifest}

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


def _yolo_dest(rel: str, name: str, kind: str) -> str:
    parts = rel.split("/")
    if len(parts) > 1 and parts[0] == kind:
        return "/".join([kind, name, *parts[1:]])
    return f"{kind}/{name}/{rel}"


def _mask_src(setup: Any, rel: str) -> str | None:
    from .labels.masks import find_mask

    key = setup.mask_key(rel) if setup is not None else None
    if key is None:
        return None
    p = find_mask(setup.input_dir / PurePosixPath(key).parent, PurePosixPath(rel).stem)
    return None if p is None else p.relative_to(setup.input_dir).as_posix()


def files_of(ds: SP.Dataset, rel: str, name: str) -> list[tuple[str, str]]:
    """(source rel, destination rel) of the files of image ``rel`` in split ``name``: labels and
    mask first, the image last (a visible image always has its labels beside it)."""
    setup = ds.setup
    out: list[tuple[str, str]] = []
    if ds.layout == "yolo":
        from .labels.yolo import label_path

        dest = _yolo_dest(rel, name, "images")
        lab = setup.label_rel(rel)  # type: ignore[union-attr]
        if lab and (ds.root / lab).is_file():
            out.append((lab, label_path(dest)))
    elif ds.layout == "voc":
        dest = rel
        lab = setup.label_rel(rel)  # type: ignore[union-attr]
        if lab and (ds.root / lab).is_file():
            out.append((lab, lab))
    else:
        dest = f"{name}/{rel}"
    mask = _mask_src(setup, rel)
    if mask is not None:
        if ds.layout == "yolo":
            out.append((mask, _yolo_dest(mask, name, "masks")))
        else:
            out.append((mask, mask if ds.layout == "voc" else f"{name}/{mask}"))
    out.append((rel, dest))
    return out


def _place(src: Path, dest: Path, link: bool) -> None:
    """Copy (or hard-link) ``src`` to ``dest``; a copy goes to a temporary name first, so a file
    that is there is whole."""
    from .imageio import temp_path

    dest.parent.mkdir(parents=True, exist_ok=True)
    if link:
        os.link(src, dest)
        return
    tmp = temp_path(dest)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_bytes(path: Path, data: bytes) -> None:
    from .tempfiles import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, overwrite=True)


def _data_yaml(ds: SP.Dataset, names: tuple[str, ...]) -> bytes:
    import yaml

    from .labels.dataset_yaml import read_yaml

    data: dict[str, Any] = {}
    yamls = list(getattr(ds.setup, "yamls", ()))
    for n in sorted(yamls, key=lambda n: n not in ("data.yaml", "data.yml")):
        data = dict(read_yaml(ds.root / n, n) or {})
        break
    for k in ("path", *YAML_SPLIT_KEYS):
        data.pop(k, None)
    # no "path": Ultralytics then takes the folder of data.yaml as the root
    split_keys = {(YAML_SPLIT_KEYS[i] if i < len(YAML_SPLIT_KEYS) else n): f"images/{n}" for i, n in enumerate(names)}
    return yaml.safe_dump({**split_keys, **data}, sort_keys=False, allow_unicode=True).encode("utf-8")


def _coco_files(ds: SP.Dataset, assigned: dict[str, str], names: tuple[str, ...]) -> dict[str, bytes]:
    """One COCO JSON per split, its file_names relative to ``OUT/<split>/``. Ids are kept from a
    single input file and renumbered (images, then annotations, in path order) from several."""
    index = ds.setup.coco  # type: ignore[union-attr]
    tops = [top for _, top in index.files]
    if any(t.get("categories") != tops[0].get("categories") for t in tops):
        raise UsageError("split: the COCO files have different categories; split one COCO file at a time")
    renumber = len(tops) > 1
    out: dict[str, bytes] = {}
    for name in names:
        images, anns = [], []
        for rel in sorted(r for r, n in assigned.items() if n == name):
            entry = index.entries.get(rel)
            if entry is None:
                continue
            im = {**entry.image, "file_name": rel}
            if renumber:
                im["id"] = len(images) + 1
            images.append(im)
            for a in entry.annotations:
                anns.append({**a, "id": len(anns) + 1, "image_id": im["id"]} if renumber else a)
        out[f"{name}/_annotations.coco.json"] = json.dumps({**tops[0], "images": images, "annotations": anns},
                                                           indent=1).encode("utf-8") + b"\n"
    return out


def _voc_lists(ds: SP.Dataset, assigned: dict[str, str], names: tuple[str, ...],
               report: Callable[[str], None]) -> dict[str, bytes]:
    """ImageSets/Main/<split>.txt beside each VOC image folder, listing image ids (stems). The
    input's own lists are the splits being replaced: said, not copied."""
    given = getattr(ds.setup, "image_sets", ())
    if given:
        report(f"augcli: note: split: the input's {len(given)} VOC image-set list{'s' if len(given) > 1 else ''} "
               f"({', '.join(given[:3])}{' ...' if len(given) > 3 else ''}) {'are' if len(given) > 1 else 'is'} "
               f"replaced by ImageSets/Main/<split>.txt of the new splits")
    roots: dict[str, dict[str, list[str]]] = {}
    for rel, name in sorted(assigned.items()):
        folder = PurePosixPath(rel).parent
        while folder.name and folder.name not in ("JPEGImages", "images"):
            folder = folder.parent
        root = folder.parent.as_posix() if folder.name else PurePosixPath(rel).parent.as_posix()
        roots.setdefault(root, {n: [] for n in names})[name].append(PurePosixPath(rel).stem)
    out: dict[str, bytes] = {}
    for root, lists in roots.items():
        ids = [s for v in lists.values() for s in v]
        if len(set(ids)) != len(ids):
            report(f"augcli: warning: split: two images under {root or '.'}/ share a stem; its ImageSets lists "
                   "name them alike")
        for name, stems in lists.items():
            rel = f"{root}/ImageSets/Main/{name}.txt" if root not in ("", ".") else f"ImageSets/Main/{name}.txt"
            out[rel] = "".join(f"{s}\n" for s in stems).encode("utf-8")
    return out


def _warn_off_target(counts: list[int], groups: list[int], opts: SP.SplitOptions,
                     report: Callable[[str], None]) -> None:
    """Groups are never divided, so a large one (a video's frames chained as near duplicates) can
    leave a split far from its share, even empty: say so, with what to change."""
    target = SP.quotas([sum(counts)], opts.fractions)[0]
    off = [f"{n} {c} of {t}" for n, c, t in zip(opts.names, counts, target) if abs(c - t) > 1]
    if off:
        from collections import Counter

        largest = max(Counter(groups).values())
        report(f"augcli: warning: split: groups are never divided, and the largest has {largest} of "
               f"{sum(counts)} images, so the splits are off their ratios ({', '.join(off)} images); "
               "a smaller --hash-distance or other --group kinds make smaller groups")


def run_split(input_dir: str, output_dir: str, opts: SP.SplitOptions,
              report: Callable[[str], None] = lambda msg: None) -> SplitResult:
    from .manifest import ManifestWriter
    from .phash import HASH_NAME, HashCache, hash_files, hex64
    from .version import __version__

    inp, out = Path(input_dir), Path(output_dir)
    SP.check_folders(inp, out)
    inp = inp.resolve()
    if opts.link:
        there = out.resolve()
        while not there.exists():
            there = there.parent
        if os.stat(there).st_dev != os.stat(inp).st_dev:
            raise UsageError(f"--link: {output_dir} is on another file system than {input_dir}; hard links cannot "
                             "cross it (leave out --link to copy)")
    ds = SP.load_dataset(inp, out.resolve(), report)
    if not ds.images:
        raise UsageError(f"{input_dir}: no images found")
    errors = list(ds.errors)
    for e in ds.errors:
        report(f"augcli: {e}; its files are copied unchanged, its objects are not counted")
    cache = HashCache(Path(opts.cache), report) if opts.cache else None
    hashes = hash_files(inp, ds.images, opts.workers, cache)
    if cache is not None:
        try:
            cache.save()
        except OSError as exc:  # a cache is an aid: the split goes on without it
            report(f"augcli: note: {opts.cache}: hash cache not written ({exc.strerror or exc})")
    keep = []
    for h in hashes:
        if not h.sha256:
            errors.append(f"{h.rel}: {h.error}")
            report(f"augcli: {h.rel}: {h.error}; not split")
            continue
        if h.error:  # copied all the same: nothing of it is lost, but the run says so in its exit code
            errors.append(f"{h.rel}: {h.error}")
            report(f"augcli: {h.rel}: {h.error}; copied unchanged, grouped with byte-identical copies only")
        keep.append(h)
    images = [h.rel for h in keep]
    wanted = {"tile", "source"} & set(opts.group)
    sources = SP.run_sources(inp, images, report) if wanted else {}
    groups = SP.groups_of(images, keep, opts.group, opts.hash_distance, sources)
    split_of = SP.assign(images, groups, lambda rel: ds.classes.get(rel, []), opts.fractions, opts.seed,
                         opts.stratify)
    names = opts.names
    assigned = {rel: names[s] for rel, s in zip(images, split_of)}
    out.mkdir(parents=True, exist_ok=True)
    header = {"kind": "split", "augcli": __version__, "input_dir": str(inp), "layout": ds.layout, "seed": opts.seed,
              "ratios": list(opts.ratios), "names": list(names), "stratify": opts.stratify, "group": list(opts.group),
              "hash": HASH_NAME, "hash_distance": opts.hash_distance}
    writer = ManifestWriter(out / MANIFEST, json.dumps(header, sort_keys=True) + "\n")
    written: dict[str, str] = {}  # destination -> the source file written there
    try:
        for i, (h, s) in enumerate(zip(keep, split_of)):
            placed = []
            try:
                files = files_of(ds, h.rel, names[s])
                for src, dest in files:  # all or none of an image's files: never its image with another's label
                    if dest in written and written[dest] != src:
                        raise OSError(f"{dest} is already written for {written[dest]}; not overwritten")
                for src, dest in files:
                    if written.get(dest) == src:  # a file two images share (a VOC XML) is written once
                        continue
                    _place(inp / src, out / dest, opts.link)
                    written[dest] = src
                    placed.append(dest)
            except OSError as exc:
                errors.append(f"{h.rel}: cannot write: {exc.strerror or exc}")
                report(f"augcli: {h.rel}: cannot write: {exc.strerror or exc}")
            writer.add({"source": h.rel, "split": names[s], "group": images[groups[i]], "outputs": placed,
                        "sha256": h.sha256, "dhash": hex64(h.dhash)})
        extra: dict[str, bytes] = {}
        if ds.layout == "yolo":
            extra["data.yaml"] = _data_yaml(ds, names)
        elif ds.layout == "coco":
            extra.update(_coco_files(ds, assigned, names))
        elif ds.layout == "voc":
            extra.update(_voc_lists(ds, assigned, names, report))
        for rel, data in extra.items():
            _write_bytes(out / rel, data)
        manifest = writer.close()
    except BaseException:
        writer.discard()
        raise
    counts = [split_of.count(k) for k in range(len(names))]
    _warn_off_target(counts, groups, opts, report)
    return SplitResult(ds.layout, names, counts, SP.table(ds, images, split_of, names), len(set(groups)), errors,
                       str(manifest))


def split_and_convert(input_dir: str, output_dir: str, opts: SP.SplitOptions, labels_output: str,
                      allow_lossy: bool, report: Callable[[str], None] = lambda msg: None) -> SplitResult:
    """``split`` with ``--labels-output``: the split is made in a hidden folder beside OUTPUT_DIR, then
    ``augcli convert``'s run copies every file of it byte for byte under its own name into
    OUTPUT_DIR with the labels written as ``labels_output``; ``split.jsonl`` (the assignment, as
    split made it) moves along and the hidden folder is removed, whatever happens."""
    import shutil

    from .config import RunConfig
    from .labels.setup import LabelOptions
    from .runner import run

    out = Path(output_dir)
    SP.check_folders(Path(input_dir), out)
    staging = out.parent / f".{out.name}.splitting-{os.getpid()}"
    try:
        result = run_split(input_dir, str(staging), opts, report)
        cfg = RunConfig(input_dir=staging, output_dir=out, copies=0, include_originals=True, keep_names=True,
                        copy_originals=True, seed=0, workers=opts.workers, write_manifest=False, progress=False,
                        labels=LabelOptions(format="auto", output=labels_output, allow_lossy=allow_lossy))
        summary = run(cfg, report)
        result.errors += [f"{f['source']}: {f['error']}" for f in summary.failed]
        out.mkdir(parents=True, exist_ok=True)
        os.replace(staging / "split.jsonl", out / "split.jsonl")
        result.manifest = str(out / "split.jsonl")
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)
