"""The manifest: its schema, the writer, the readers, and the merge of per-bucket parts.

A manifest is JSON lines. The first line is the run's recipe (``kind: "run"``: augcli and kernel
versions, the seed, the config that decides every output's bytes, the copy plan, the label setup);
then one record per output (or per source that failed), sorted by source:

    {"source", "output", "copy", "status", "error", "seed", "item_key", "size", "output_size",
     "ops", "matrix", ["labels"], ["warnings"], ["try", "require_met"]}

Names that are not UTF-8 also carry exact ``<field>_b64`` values (augcli.fsnames). Keys are sorted,
so one recipe run into one path writes the same bytes whatever the engine, shard count or host.
"""

from __future__ import annotations

import heapq
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from . import fsnames
from .version import __version__
from .errors import UsageError
from .imageio import temp_path

MAX_LINE_BYTES = 1 << 20  # a record line longer than this is refused (expand's are well under 64 KiB)
MAX_HEADER_BYTES = 16 << 20  # the first line (the recipe; COCO and target runs make it longer)
RECORD_ONLY = ("fatal", "existing", "_decoded")  # run events a record carries to the parent, never written
PATH_FIELDS = ("input_dir", "output_dir", "prefix")


# ---------------------------------------------------------------------------------------------------
# writing


def run_header(cfg: Any, seed: int, targets: dict[str, Any] | None = None, labels: Any = None) -> dict[str, Any]:
    """The manifest's first line: the recipe only (what decides the bytes of every output), never
    run events, so every run of one recipe into one path writes the same line. Folder names and the
    prefix that are not UTF-8 also get exact ``_b64`` fields (augcli.fsnames)."""
    from .kernels import KERNEL_VERSION

    config = cfg.describe()
    config.update({k: fsnames.canonical(config[k]) for k in PATH_FIELDS})
    config = fsnames.encode_fields(config, PATH_FIELDS)
    # the kernel version, never the CPU path: every path gives the same bytes
    header = {"kind": "run", "augcli": __version__, "kernel": KERNEL_VERSION, "seed": seed, "config": config}
    if targets is not None:
        header["targets"] = targets
    if labels is not None:
        header["labels"] = labels.describe()
    return header


def header_line(cfg: Any, seed: int, targets: dict[str, Any] | None = None, labels: Any = None) -> str:
    return json.dumps(run_header(cfg, seed, targets, labels), sort_keys=True) + "\n"


# one encoder for every line (json.dumps with sort_keys makes a new one per call): the same bytes
_RECORD_ENCODER = json.JSONEncoder(sort_keys=True)


def record_line(rec: dict[str, Any]) -> str:
    # copies are made only when a field must go or a name is not UTF-8 (the rare records)
    if any(k in rec for k in RECORD_ONLY):
        rec = {k: v for k, v in rec.items() if k not in RECORD_ONLY}
    if any(isinstance(rec.get(k), str) and not fsnames.is_utf8(rec[k]) for k in ("source", "output")):
        rec = fsnames.encode_fields(rec, ("source", "output"))
    return _RECORD_ENCODER.encode(rec) + "\n"


class ManifestWriter:
    """A manifest written line by line to a temporary file and renamed at the end, so a manifest
    is never half-written."""

    def __init__(self, path: Path, header: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.path)
        self.fh = open(self.tmp, "w", encoding="utf-8")
        self.fh.write(header)

    def add(self, rec: dict[str, Any]) -> None:
        self.fh.write(record_line(rec))

    def close(self) -> Path:
        try:
            self.fh.close()
            os.replace(self.tmp, self.path)
        except OSError:
            self.discard()
            raise
        return self.path

    def discard(self) -> None:
        try:
            self.fh.close()
        except OSError:
            pass
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------------
# reading (a manifest is a file people pass around: every read is bounded)


def raw_lines(fh: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) of each line, or (line number, None) for one longer than ``limit``
    (read past in pieces, never held)."""
    number = 0
    while True:
        raw = fh.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = fh.readline(limit)
            yield number, None
            continue
        yield number, raw


def read_header(fh: BinaryIO, shown: str) -> dict[str, Any]:
    """The run header from the first line of ``fh`` (UsageError if it is not one)."""
    raw = fh.readline(MAX_HEADER_BYTES + 1)
    try:
        if len(raw) > MAX_HEADER_BYTES:
            raise ValueError(f"its first line is longer than {MAX_HEADER_BYTES} bytes")
        header = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        if isinstance(header, dict) and isinstance(header.get("config"), dict):
            header["config"] = fsnames.decode_fields(header["config"], PATH_FIELDS)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"cannot read manifest {shown!r}: {exc}") from None
    if not isinstance(header, dict) or header.get("kind") != "run" or not isinstance(header.get("config"), dict):
        raise UsageError(f"{shown!r} is not an augcli manifest (its first line must describe the run)")
    return header


def skip_header(fh: BinaryIO) -> None:
    fh.readline(MAX_HEADER_BYTES + 1)


def read_manifest(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run header and the records of a manifest (all in memory: for tools and tests; replay
    itself streams). Raises UsageError if it is not one or a line is not a JSON object."""
    shown = fsnames.shown(str(path))
    try:
        with open(path, "rb") as fh:
            header = read_header(fh, shown)
            records = []
            for number, raw in raw_lines(fh):
                try:
                    rec = json.loads(raw.decode("utf-8")) if raw is not None else None
                    if raw is not None and not raw.strip():
                        continue
                    if not isinstance(rec, dict):
                        raise ValueError("not a JSON object")
                    records.append(fsnames.decode_fields(rec, ("source", "output")))
                except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                    raise UsageError(f"{shown}:{number + 1}: not a record: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read manifest {shown!r}: {exc.strerror or exc}") from None
    return header, records


# ---------------------------------------------------------------------------------------------------
# merging parts (each sorted by source, each starting with the same recipe line)


def recipe_differences(line_a: str, line_b: str, limit: int = 5) -> list[str]:
    """What differs between two recipe lines, as ``config.seed: 1 vs 2`` items."""
    return _differences(_recipe(line_a), _recipe(line_b))[:limit]


def _recipe(line: str) -> dict:
    try:
        recipe = json.loads(line)
    except (ValueError, RecursionError):
        recipe = None
    return recipe if isinstance(recipe, dict) else {"recipe": line[:80]}


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    diffs = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += _differences(va, vb, f"{prefix}{k}.")
        elif va != vb:
            diffs.append(f"{prefix}{k}: {json.dumps(va)} vs {json.dumps(vb)}")
    return diffs


def part_records(lines: Iterable[str], bad: Callable[[int], Exception]) -> Iterator[tuple[str, str]]:
    """(source, line) of each record line of a part (its recipe line already read); ``bad(line
    number)`` is raised for a line that is not a record of a source."""
    for number, line in enumerate(lines, 2):
        try:
            source = json.loads(line)["source"]
        except (ValueError, TypeError, KeyError, RecursionError):
            source = None
        if not isinstance(source, str):
            raise bad(number)
        yield source, line


def merged_lines(header: str, parts: Iterable[Iterator[tuple[str, str]]]) -> Iterator[str]:
    """The manifest's lines from parts sorted by source: a k-way merge, so the lines come in exactly
    the order a one-machine run writes them."""
    yield header
    for _, line in heapq.merge(*parts, key=lambda item: item[0]):
        yield line


def manifests_under(root: Path, unreadable: Callable[[str, UsageError], None]) -> Iterator[tuple[str, Path, dict, list]]:
    """Every ``manifest.jsonl`` below ``root`` (none in a hidden folder), sorted by path, read:
    ``(path relative to root, path, header, records)``. One that cannot be read goes to
    ``unreadable(relative path, error)`` and is passed over."""
    for man in sorted(root.rglob("manifest.jsonl")):
        rel = man.relative_to(root).as_posix()
        if any(p.startswith(".") for p in PurePosixPath(rel).parts):
            continue
        try:
            header, records = read_manifest(man)
        except UsageError as exc:
            unreadable(rel, exc)
            continue
        yield rel, man, header, records
