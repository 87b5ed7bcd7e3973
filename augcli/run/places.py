"""Where a run reads and writes (its placement): the input and the output, local folders or
object storage, checked before anything is written; the output's sink (--layout); and the files
written once per run (dataset YAML, COCO JSON), checked again just before."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import UsageError
from ..imageio import write_atomic
from ..storage import LocalStore, RemoteStore, open_store
from ..tempfiles import same_bytes
from .sinks import Sink, make_sink


def inside(child: Path, parent: Path | None) -> bool:
    if parent is None:  # object storage: no local folder to land in
        return False
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def check_folders(input_dir: Path, output_dir: Path, hint: str = "") -> tuple[Path, Path]:
    """The resolved input and output folders, or a UsageError: the input must be a folder, and the
    output must not be (or be inside) the input, nor be a file. ``hint`` ends the missing-input
    message."""
    inp = Path(input_dir).resolve()
    out = Path(output_dir).resolve()
    if not inp.is_dir():
        raise UsageError(f"input folder {str(input_dir)!r} does not exist or is not a folder{hint}")
    if out == inp or inside(out, inp):
        raise UsageError(f"output folder {str(output_dir)!r} is inside input folder "
                         f"{str(input_dir)!r}; augcli never writes into its input")
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {str(output_dir)!r} exists and is not a folder")
    return inp, out


def outside_links(inp: Path, links: Sequence[str]) -> tuple[str, ...]:
    return tuple(rel for rel in links if not inside(Path(os.path.realpath(inp / rel)), inp))


class OutFiles:
    """The files written beside the outputs and named by a local path (label files, masks, the
    dataset YAML, the COCO JSON). The label setup names them under its output folder; when the
    output is on object storage that folder is a local stand-in (``root``), and the files under it
    go through the sink to the same relative keys. Anything else is a local file, written atomically."""

    def __init__(self, sink: Any = None, root: Path | None = None) -> None:
        self.sink = sink if sink is not None and sink.remote else None
        self.root = root

    def rel(self, path: Path) -> str | None:
        """The output key of ``path`` when it goes to object storage, else None."""
        if self.sink is None or self.root is None:
            return None
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return None

    def exists(self, path: Path) -> bool:
        rel = self.rel(path)
        return Path(path).exists() if rel is None else self.sink.store.exists(rel)  # type: ignore[union-attr]

    def holds(self, path: Path, payload: bytes) -> bool:
        """Whether ``path`` exists with exactly ``payload``."""
        rel = self.rel(path)
        if rel is None:
            return same_bytes(path, payload)
        return self.sink.store.same_bytes(rel, payload)  # type: ignore[union-attr]

    def write(self, path: Path, payload: bytes, overwrite: bool) -> bool:
        """Write whole or not at all; False if it exists and ``overwrite`` is not set."""
        rel = self.rel(path)
        if rel is None:
            return write_atomic(path, payload, overwrite=overwrite)
        return self.sink.write_file(rel, payload, overwrite=overwrite)  # type: ignore[union-attr]


def write_run_file(path: Path, payload: bytes, overwrite: bool, inp: Path | None,
                   files: OutFiles | None = None) -> None:
    """Write a file made once per run (dataset YAML, COCO JSON), checked again just before: a folder
    linked into the input since the run started must not turn the write into one of the input."""
    if inp is not None and inside(Path(path).resolve(), inp):
        raise OSError(errno.EINVAL, "it would land inside the input folder; refused", str(path))
    (files or OutFiles()).write(path, payload, overwrite)


@dataclass(frozen=True)
class Placement:
    """The input and output of a run: stores, the output's sink, and for local folders their
    resolved paths (None on object storage)."""

    sources: LocalStore | RemoteStore
    outputs: LocalStore | RemoteStore
    sink: Sink
    inp: Path | None
    out: Path | None


def _placed(cfg: Any, sources: Any, outputs: Any, inp: Path | None, out: Path | None) -> Placement:
    return Placement(sources, outputs, make_sink(cfg.layout, outputs, cfg.shard_size), inp, out)


def open_placement(cfg: Any) -> Placement:
    """The run's placement, after the checks every run makes (UsageError otherwise): the input
    exists, the output is not inside it (nor a file), an output bucket exists."""
    if not cfg.remote:
        inp, out = check_folders(cfg.input_dir, cfg.output_dir)
        return _placed(cfg, LocalStore(cfg.input_dir), LocalStore(cfg.output_dir), inp, out)
    sources = open_store(cfg.input_url) if cfg.input_url else LocalStore(cfg.input_dir)
    outputs = open_store(cfg.output_url) if cfg.output_url else LocalStore(cfg.output_dir)
    if sources.remote and outputs.remote and type(sources.fs) is type(outputs.fs):
        a, b = sources.root.rstrip("/") + "/", outputs.root.rstrip("/") + "/"
        if b.startswith(a):
            raise UsageError(f"output {outputs.shown!r} is inside input {sources.shown!r}; augcli never writes "
                             "into its input")
    if outputs.remote:
        bucket = outputs.root.split("/", 1)[0]
        try:
            reachable = outputs.fs.exists(bucket)
        except Exception:  # the store's own errors (permissions, network)
            reachable = False
        if not reachable:
            raise UsageError(f"the bucket of output {outputs.shown!r} does not exist or cannot be reached")
    if not sources.remote and not cfg.input_dir.is_dir():
        raise UsageError(f"input folder {str(cfg.input_dir)!r} does not exist or is not a folder")
    return _placed(cfg, sources, outputs, None, None)
