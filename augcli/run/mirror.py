"""Labels to and from object storage.

Label detection (augcli.labels.detect) walks a local folder. For an object-store input the parent
builds, once, a private local mirror of the input's listing: the files that may be labels (label
text and XML, JSON, dataset YAML) with their bytes, each within the limit its reader applies (a
larger one becomes a sparse stand-in one byte over that limit, so the reader refuses it as it would
the real file), and every other key as an empty file, so the walk sees the images by name. Of the
images in folders named like masks only the few the scan decodes (mask_samples) are copied; JSON
files that cannot be COCO candidates are copied by their first megabyte, all the scan reads of
them. The workers never use the mirror: they read label files and masks through the store
(LabelSetup.store), as they read images.

For an object-store output the label setup names its files under a local stand-in folder that is
never created; run.places.OutFiles sends what lands under it through the sink to the same keys.
"""

from __future__ import annotations

import atexit
import shutil
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from ..config import RunConfig
from ..fsnames import shown
from ..safepaths import unsafe_part
from ..storage import max_source_bytes, reason
from ..tempfiles import private_folder
from .discover import is_candidate, is_visible
from .prepare import resolve_labels

BATCH_KEYS = 256  # small objects fetched together (the store fetches a batch concurrently)
BATCH_BYTES = 32 << 20
STREAM_ABOVE = 8 << 20  # objects larger than this are copied in ranges, one at a time


def _limits() -> dict[str, int]:
    from ..labels import coco as C
    from ..labels import layouts as LY
    from ..labels import dataset_yaml as DY
    from ..labels import yolo as Y

    return {"label": Y.MAX_LABEL_BYTES, "yaml": DY.MAX_YAML_BYTES, "coco": C.MAX_JSON_BYTES, "head": LY.COCO_HEAD}


def _coco_candidate(key: str) -> bool:
    """A JSON the scan may parse as COCO: at the top, in annotations/, or a Roboflow export."""
    parts = key.split("/")
    return len(parts) == 1 or (len(parts) == 2 and parts[0] == "annotations") or \
        parts[-1].endswith("_annotations.coco.json")


def _kind(key: str) -> str | None:
    """What the mirror holds of ``key``: a limit's name, "mask" (an image in a folder named like
    masks), or None (an empty stand-in)."""
    from ..labels.layouts import mask_named

    name = key.rsplit("/", 1)[-1].lower()
    if name.endswith((".txt", ".xml")):
        return "label"
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith(".json"):
        return "coco" if _coco_candidate(key) else "head"
    if is_candidate(name) and any(mask_named(p) for p in key.split("/")[:-1]):
        return "mask"
    return None


def _walk_order(rel: str) -> tuple:
    """The place of ``rel`` in a top-down walk with sorted names: a folder's files, then its sub-folders."""
    parts = rel.split("/")
    return tuple((1, p) for p in parts[:-1]) + ((0, parts[-1]),)


def mask_samples(keys: list[str]) -> set[str]:
    """The images the scan decodes to tell masks from photos: under each folder named like masks,
    the first SAMPLE_MASKS images among the first PEEK_FILES files of its walk (augcli.labels.layouts).
    Only these are mirrored with their bytes; the workers read every other mask from the store."""
    import heapq

    from ..labels import layouts as LY

    under: dict[str, list[str]] = {}
    for key in keys:
        parts = key.split("/")
        for i in range(1, len(parts)):
            if LY.mask_named(parts[i - 1]):
                under.setdefault("/".join(parts[:i]), []).append("/".join(parts[i:]))
    picked: set[str] = set()
    for folder, rels in under.items():
        first = heapq.nsmallest(LY.PEEK_FILES, rels, key=_walk_order)
        images = [rel for rel in first if is_candidate(rel.rsplit("/", 1)[-1])][:LY.SAMPLE_MASKS]
        picked.update(f"{folder}/{rel}" for rel in images)
    return picked


class Mirror:
    """The local mirror of an object-store input's labels (see the module's docstring)."""

    def __init__(self, store: Any, root: Path, max_pixels: int | None, report: Callable[[str], None]) -> None:
        self.store, self.root, self.report = store, root, report
        self.limits = {**_limits(), "mask": max_source_bytes(max_pixels)}
        self.masks: set[str] = set()
        self._folders: set[Path] = set()

    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*key.split("/"))
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        return path

    def _warn(self, key: str, why: str) -> None:
        self.report(f"augcli: {shown(key)}: warning: {why}; not read as labels")

    def build(self, keys: list[str]) -> None:
        small: list[str] = []
        batch_bytes = 0
        # never walked: hidden keys, and keys with an unsafe part (the listing warns about those)
        keys = [k for k in keys if unsafe_part(k) is None and all(is_visible(p) for p in k.split("/"))]
        samples = mask_samples(keys)
        for key in keys:
            kind = _kind(key)
            if kind == "mask":
                self.masks.add(key)
                if key not in samples:
                    kind = None  # by name only: a worker reads it when its image is made
            try:
                path = self._path(key)
                if kind is None:
                    path.touch()
                    continue
                limit = self.limits[kind]
                size = self.store.sizes.get(key)
                if kind != "head" and size is not None and size > limit:
                    with open(path, "wb") as fh:  # sparse: its reader refuses it as too large
                        fh.truncate(limit + 1)
                elif kind != "head" and size is not None and size <= STREAM_ABOVE:
                    small.append(key)
                    batch_bytes += size
                    if len(small) >= BATCH_KEYS or batch_bytes >= BATCH_BYTES:
                        self._fetch(small)
                        small, batch_bytes = [], 0
                else:
                    self._copy(key, path, limit, head=kind == "head")
            except OSError as exc:
                self._warn(key, f"cannot be mirrored locally: {exc.strerror or exc}")
        self._fetch(small)

    def _fetch(self, keys: list[str]) -> None:
        """Small objects, fetched together."""
        if not keys:
            return
        paths = [self.store.path(k) for k in keys]
        try:
            got = self.store.fs.cat(paths, on_error="return")
        except Exception:  # noqa: BLE001 - the store's own errors: one object at a time says which
            got = {}
        for key, path in zip(keys, paths):
            data = got.get(path)
            if not isinstance(data, (bytes, bytearray)):
                if isinstance(data, FileNotFoundError):
                    continue  # gone since the listing
                self._copy(key, self._path(key), self.limits[_kind(key) or "label"])
                continue
            if len(data) > self.limits[_kind(key) or "label"]:  # grown since the listing
                with open(self._path(key), "wb") as fh:
                    fh.truncate(self.limits[_kind(key) or "label"] + 1)
                continue
            self._path(key).write_bytes(data)

    def _copy(self, key: str, path: Path, limit: int, head: bool = False) -> None:
        """One object copied in ranges, never more than ``limit`` + 1 bytes (``head``: its first
        ``limit`` bytes, all the scan reads)."""
        block = 1 << 20
        try:
            with self.store.fs.open(self.store.path(key), "rb", block_size=block, cache_type="none") as src, \
                    open(path, "wb") as out:
                got = 0
                while got <= limit:
                    chunk = src.read(min(block, limit + (0 if head else 1) - got))
                    if not chunk:
                        break
                    out.write(chunk)
                    got += len(chunk)
                    if head and got >= limit:
                        break
        except FileNotFoundError:  # gone since the listing
            path.unlink(missing_ok=True)
        except Exception as exc:  # noqa: BLE001 - the store's own errors: this file is not read
            path.unlink(missing_ok=True)
            self._warn(key, f"cannot read: {reason(exc)}")


def _workspace() -> Path:
    base = private_folder("augcli-labels-")  # (a killed run's is swept by the next one)
    atexit.register(shutil.rmtree, base, True)
    return base


def _name(store: Any, fallback: str) -> str:
    """The last part of a store's prefix: the folder name a local run would have (VOC's <folder>)."""
    return PurePosixPath(store.root).name or fallback


def remote_labels(cfg: RunConfig, sources: Any, outputs: Any, keys: list[str],
                  report: Callable[[str], None]) -> tuple[RunConfig, Any]:
    """The label setup of a run with its input or output on object storage (see the module's
    docstring), and the config as resolve_labels leaves it."""
    if cfg.labels is None or (cfg.labels.format == "none" and cfg.labels.masks is None):
        return cfg, None
    if sources.remote and cfg.labels.format == "auto" and cfg.labels.masks is None and not any(
            _kind(k) for k in keys if unsafe_part(k) is None and all(is_visible(p) for p in k.split("/"))):
        # nothing there could be labels: detection would find none (no mirror of an image-only listing)
        return (replace(cfg, follow_outside=True) if cfg.follow_outside is None else cfg), None
    base = _workspace()
    if sources.remote:
        inp = base / "in" / _name(sources, "input")
        inp.mkdir(parents=True)
        mirror = Mirror(sources, inp, cfg.max_pixels, report)
        mirror.build(keys)
    else:
        inp, mirror = Path(cfg.input_dir).resolve(), None
    out = base / "out" / _name(outputs, "output") if outputs.remote else Path(cfg.output_dir).resolve()
    cfg, setup = resolve_labels(cfg, inp, out, report)
    if setup is not None:
        setup = replace(setup, store=sources if sources.remote else None,
                        remote_masks=frozenset(mirror.masks) if mirror is not None else frozenset(),
                        output_url=outputs.shown if outputs.remote else None)
    return cfg, setup



def described_setup(labels: dict, input_dir: str, outputs: Any) -> tuple[Any, Path | None]:
    """The label setup a manifest records, rebuilt to write the COCO JSON at ``augcli merge``, and
    the local input folder (None on object storage). An object-store input's COCO files are copied
    into a private folder first (within their limit); an object-store output gets a stand-in folder."""
    from ..labels.setup import LabelSetup
    from ..storage import is_remote, open_store

    base = _workspace()
    if is_remote(input_dir):
        sources = open_store(input_dir)
        inp = base / "in" / _name(sources, "input")
        inp.mkdir(parents=True)
        mirror = Mirror(sources, inp, None, lambda msg: None)
        for key, limit in (("coco_files", "coco"), ("image_sets", "label")):
            for rel in labels.get(key) or ():
                if isinstance(rel, str) and unsafe_part(rel) is None:
                    mirror._copy(rel, mirror._path(rel), mirror.limits[limit])
        local = None
    else:
        inp = local = Path(input_dir).resolve()
    out = base / "out" / _name(outputs, "output") if outputs.remote else Path(outputs.root).resolve()
    return LabelSetup.from_description(labels, inp, out), local
