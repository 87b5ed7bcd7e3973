"""Sinks: where a run's outputs go. Every write of an output, every check that one exists, and
every listing of the output goes through one Sink, whatever the engine.

A sink is chosen by ``--layout`` and built on a store (augcli.storage: a local folder or object
storage), which also holds the run's bookkeeping (manifest parts, done markers, stats):

- ``tree`` (default): the input's folders mirrored, one file per output, written atomically (a
  local temporary file then a link or replace; on object storage one request per object).
- ``hf``: the tree plus a Hugging Face ImageFolder ``metadata.jsonl`` when the run carries
  detection labels (one row per output, sorted by ``file_name``, ``objects`` with COCO pixel boxes
  from the transformed labels in memory). Without labels the class folders are the labels and no
  metadata file is written (one would hide them from the loader). Bucketed runs keep each bucket's
  rows under .augcli/hf/ and write the file when every bucket is done.

A layout that packs outputs (WebDataset tars, Parquet shards) is one more class with the same
methods: it gathers a bucket's outputs between ``open_bucket`` and ``close_bucket`` (buckets are
the unit of output and resume, and a bucket's outputs arrive in source order).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
import os
import re
from typing import Any, Callable, Protocol

from .. import fsnames
from ..safepaths import check_output_rel
from ..storage import LocalStore, RemoteStore
from ..tempfiles import same_bytes, write_atomic_in

Data = Any  # bytes, or (local tree only) a function that writes them into an open file


class Sink(Protocol):
    shown: str
    remote: bool
    store: LocalStore | RemoteStore  # where the bookkeeping lives
    streams: bool  # write() also takes a function that writes the bytes into an open file

    def prepare(self) -> None: ...
    def list_once(self) -> None: ...
    def exists(self, rel: str) -> bool: ...
    def write(self, rel: str, data: Data, *, overwrite: bool) -> bool: ...
    def same_bytes(self, rel: str, data: bytes) -> bool: ...
    def write_file(self, rel: str, data: bytes, *, overwrite: bool) -> bool: ...
    def open_bucket(self, bucket: int) -> None: ...
    def close_bucket(self, bucket: int) -> None: ...
    def record(self, rec: dict[str, Any], objects: dict[str, list] | None) -> None: ...
    def finish(self, buckets: int | None = None) -> None: ...


class TreeSink:
    """The mirrored folder tree, local or on object storage. Output names are relative POSIX paths
    in augcli's canonical text form; local ones are opened as bytes (any name, in any locale)."""

    def __init__(self, store: LocalStore | RemoteStore) -> None:
        self.store = store
        self.shown = store.shown
        self.remote = store.remote
        self.streams = not store.remote
        self._root = os.fsencode(store.root) if not store.remote else None

    def prepare(self) -> None:
        self.store.prepare()

    def list_once(self) -> None:
        if self.remote:
            self.store.list_once()  # type: ignore[union-attr]

    def exists(self, rel: str) -> bool:
        if self._root is not None:
            return os.path.exists(fsnames.join(self._root, rel))
        return self.store.exists(rel)

    def write(self, rel: str, data: Data, *, overwrite: bool) -> bool:
        """Write one output whole, or not at all; False if it exists and ``overwrite`` is not set."""
        check_output_rel(rel)  # whatever the name was made from, it stays under the output folder
        if self._root is not None:
            folder, _, name = rel.rpartition("/")
            parent = os.path.join(self._root, fsnames.to_bytes(folder)) if folder else self._root
            return write_atomic_in(parent, fsnames.to_bytes(name), data, overwrite=overwrite)
        return self.store.write(rel, data, overwrite=overwrite)

    def same_bytes(self, rel: str, data: bytes) -> bool:
        if self._root is not None:
            return same_bytes(fsnames.join(self._root, rel), data)
        return self.store.same_bytes(rel, data)

    def write_file(self, rel: str, data: bytes, *, overwrite: bool) -> bool:
        """A file beside the outputs (label file, mask, dataset YAML, COCO JSON), whole or not at all."""
        return self.store.write(rel, data, overwrite=overwrite)

    def open_bucket(self, bucket: int) -> None:
        pass  # one file per output: nothing to gather

    def close_bucket(self, bucket: int) -> None:
        pass

    def record(self, rec: dict[str, Any], objects: dict[str, list] | None) -> None:
        pass  # the files are the dataset

    def finish(self, buckets: int | None = None) -> None:
        pass


def take_objects(sink: Sink, rec: dict[str, Any]) -> dict[str, Any] | None:
    """Hand one finished record to the sink, with its objects in pixels (the labels' ``_objects``,
    which never reaches the manifest). Every placement of records calls this once per record, in
    order. Returns the record's COCO entry (``_coco``, taken out of it too) when its output exists,
    for the one COCO JSON of the run."""
    labels = rec.get("labels")
    objects = labels.pop("_objects", None) if isinstance(labels, dict) else None
    entry = labels.pop("_coco", None) if isinstance(labels, dict) else None
    sink.record(rec, objects)
    return entry if rec["status"] in ("ok", "skipped") else None


HF_METADATA = "metadata.jsonl"
# the split keywords of datasets' data_files: a folder named by one (whole, or bordered by - . _ space
# or digits) makes a split, and a split only sees metadata files inside it
_SPLIT = re.compile(r"(?:^|[-._ 0-9])(?:train|training|validation|valid|dev|val|test|testing|eval|evaluation)"
                    r"(?:$|[-._ 0-9])", re.IGNORECASE)


def metadata_folder(rel: str) -> str:
    """The folder whose metadata.jsonl lists output ``rel``: its first folder named by a split
    keyword (with the folders above it), else the output's root ("")."""
    parts = rel.split("/")[:-1]
    for i, part in enumerate(parts):
        if _SPLIT.search(part):
            return "/".join(parts[:i + 1])
    return ""


class HfSink(TreeSink):
    """The tree, plus the ImageFolder ``metadata.jsonl`` of a run that carries detection labels."""

    def __init__(self, store: LocalStore | RemoteStore) -> None:
        super().__init__(store)
        self._rows: dict[str, str] = {}  # file_name -> its JSON line
        self._labelled = False

    @staticmethod
    def part(bucket: int) -> str:
        return f".augcli/hf/b-{bucket:05d}.jsonl"

    def record(self, rec: dict[str, Any], objects: dict[str, list] | None) -> None:
        out = rec.get("output")
        if out is None or rec.get("status") != "ok":
            return  # only outputs that exist are rows
        if objects is not None:
            self._labelled = True
        row: dict[str, Any] = {"file_name": out}
        if (rec.get("labels") or {}).get("format") is not None:  # a labelled run: unlabelled outputs too
            row["objects"] = objects if objects is not None else {"bbox": [], "categories": []}
            self._labelled = True
        elif rec.get("source") is not None:
            # classification: each row's class shares (compositions across class folders); the
            # metadata file is written only when some output mixes classes
            weights = rec.get("class_weights") or {PurePosixPath(rec["source"]).parent.name: 1.0}
            row["soft_label"] = {"classes": list(weights), "weights": list(weights.values())}
            self._labelled = self._labelled or "class_weights" in rec
        self._rows[out] = json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n"

    def _payload(self, rows: dict[str, str]) -> bytes:
        return "".join(rows[k] for k in sorted(rows)).encode("utf-8", "surrogateescape")

    def _write_metadata(self, rows: dict[str, str]) -> None:
        """One metadata.jsonl per split folder (file_name relative to it), rows sorted by name."""
        groups: dict[str, dict[str, str]] = {}
        for name, line in rows.items():
            folder = metadata_folder(name)
            rel = name[len(folder) + 1:] if folder else name
            row = json.loads(line)
            row["file_name"] = rel
            groups.setdefault(folder, {})[rel] = json.dumps(row, ensure_ascii=False) + "\n"
        for folder, group in sorted(groups.items()):
            self.store.write(f"{folder}/{HF_METADATA}" if folder else HF_METADATA, self._payload(group),
                             overwrite=True)

    def open_bucket(self, bucket: int) -> None:
        self._rows, self._labelled = {}, False

    def close_bucket(self, bucket: int) -> None:
        # the first byte says whether the bucket carried labels; then its rows, sorted
        head = b"L\n" if self._labelled else b"-\n"
        self.store.write(self.part(bucket), head + self._payload(self._rows), overwrite=True)
        self._rows, self._labelled = {}, False

    def finish(self, buckets: int | None = None) -> None:
        """Write metadata.jsonl: from this process's rows (one machine), or from every bucket's part
        (``buckets``, once all are done). Nothing when the run carries no detection labels."""
        rows, labelled = self._rows, self._labelled
        if buckets is not None:
            rows, labelled = {}, False
            for b in range(buckets):
                data = self.store.read(self.part(b))
                head, _, body = data.partition(b"\n")
                labelled = labelled or head == b"L"
                for line in body.decode("utf-8", "surrogateescape").splitlines(keepends=True):
                    rows[json.loads(line)["file_name"]] = line
        if labelled:
            self._write_metadata(rows)




from .sink_wds import DEFAULT_SHARD_SIZE, WebDatasetSink  # noqa: E402 - it builds on this module

LAYOUTS: dict[str, Callable[..., Sink]] = {"tree": TreeSink, "hf": HfSink, "webdataset": WebDatasetSink}
PACKED = ("webdataset",)  # layouts whose sink needs the plan (Sink.plan): their runs go through buckets
WITH_OBJECTS = ("hf", "webdataset")  # layouts whose sink records each output's objects (Sink.record)


def make_sink(layout: str, store: LocalStore | RemoteStore, shard_size: int = DEFAULT_SHARD_SIZE) -> Sink:
    if layout == "webdataset":
        return WebDatasetSink(store, shard_size)
    return LAYOUTS[layout](store)
