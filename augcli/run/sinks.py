"""Sinks: where a run's outputs go. Every write of an output, every check that one exists, and
every listing of the output goes through one Sink, whatever the engine.

A sink is chosen by ``--layout`` and built on a store (augcli.storage: a local folder or object
storage), which also holds the run's bookkeeping (manifest parts, done markers, stats):

- ``tree`` (default): the input's folders mirrored, one file per output, written atomically (a
  local temporary file then a link or replace; on object storage one request per object).

A layout that packs outputs (WebDataset tars, Parquet shards) is one more class with the same
methods: it gathers a bucket's outputs between ``open_bucket`` and ``close_bucket`` (buckets are
the unit of output and resume, and a bucket's outputs arrive in source order).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Protocol

from .. import fsnames
from ..imageio import write_atomic
from ..safepaths import check_output_rel
from ..storage import LocalStore, RemoteStore

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
    def open_bucket(self, bucket: int) -> None: ...
    def close_bucket(self, bucket: int) -> None: ...


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
            return write_atomic(fsnames.join(self._root, rel), data, overwrite=overwrite)
        return self.store.write(rel, data, overwrite=overwrite)

    def same_bytes(self, rel: str, data: bytes) -> bool:
        if self._root is not None:
            return same_bytes(fsnames.join(self._root, rel), data)
        return self.store.same_bytes(rel, data)

    def open_bucket(self, bucket: int) -> None:
        pass  # one file per output: nothing to gather

    def close_bucket(self, bucket: int) -> None:
        pass


def same_bytes(path: bytes | os.PathLike, data: bytes) -> bool:
    """Whether the file at ``path`` holds exactly ``data`` (False if it cannot be read)."""
    try:
        if os.stat(path).st_size != len(data):
            return False
        with open(path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


LAYOUTS: dict[str, Callable[[Any], Sink]] = {"tree": TreeSink}


def make_sink(layout: str, store: LocalStore | RemoteStore) -> Sink:
    return LAYOUTS[layout](store)
