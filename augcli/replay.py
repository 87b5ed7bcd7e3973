"""``augcli replay``: regenerate the outputs of an ``expand`` run from its manifest, byte for byte.

Nothing is drawn again: each output is remade from the exact steps recorded for it, with the
pipeline, load options and encoder settings recorded in the manifest's first line.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__, fsnames
from .errors import InputError, UsageError
from .filewarnings import file_warnings
from .imageio import LoadOptions, load_image, output_format, write_atomic
from .pipeline import Pipeline
from .render import make_output, output_bytes
from .runner import check_folders

REPLAYED = ("ok", "skipped")  # statuses whose records describe an output


@dataclass
class ReplaySummary:
    written: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # {"output", "error"}
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def line(self) -> str:
        return f"augcli: replayed {self.written} written, {self.skipped} skipped, {len(self.failed)} failed"


def read_manifest(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run header and the output records of a manifest. Raises UsageError if it is not one."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0]) if lines else {}
        records = [fsnames.decode_fields(json.loads(line), ("source", "output")) for line in lines[1:] if line.strip()]
        if isinstance(header, dict) and isinstance(header.get("config"), dict):
            header["config"] = fsnames.decode_fields(header["config"], ("input_dir", "output_dir", "prefix"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, AttributeError) as exc:
        raise UsageError(f"cannot read manifest {str(path)!r}: {exc}") from None
    if not isinstance(header, dict) or header.get("kind") != "run" or "config" not in header:
        raise UsageError(f"{str(path)!r} is not an augcli manifest (its first line must describe the run)")
    return header, records


def _pipeline(config: dict[str, Any]) -> Pipeline:
    try:
        return Pipeline.from_description(config["pipeline"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"the manifest's pipeline cannot be rebuilt: {type(exc).__name__}: {exc}") from None


def _load_options(config: dict[str, Any]) -> LoadOptions:
    resize = config.get("resize")
    return LoadOptions(bool(config.get("exif_transpose", True)), int(config.get("max_pixels", 100_000_000)),
                       tuple(resize) if resize else None)  # type: ignore[arg-type]


def replay(manifest: Path, input_dir: Path | None = None, output_dir: Path | None = None,
           on_exists: str = "error", report: Callable[[str], None] | None = None) -> ReplaySummary:
    """Remake every output recorded in ``manifest`` under ``output_dir`` (default: the recorded
    output folder) from the sources in ``input_dir`` (default: the recorded input folder).

    ``on_exists`` is expand's: ``error`` refuses to start if any output exists (UsageError, nothing
    written), ``skip`` keeps existing files, ``overwrite`` replaces them. Records of failed sources
    (status ``error``) have no output and are only noted."""
    report = report or (lambda msg: print(msg, file=sys.stderr, flush=True))
    header, records = read_manifest(manifest)
    config = header["config"]
    pipeline = _pipeline(config)
    inp = Path(input_dir if input_dir is not None else fsnames.native(config["input_dir"]))
    out = Path(output_dir if output_dir is not None else fsnames.native(config["output_dir"]))
    check_folders(inp, out, hint=" (use --input)")
    summary = ReplaySummary()
    if header.get("augcli") != __version__:
        summary.notes.append(f"the manifest was written by augcli {header.get('augcli')}, this is {__version__}")
    from .kernels import KERNEL_VERSION

    if header.get("kernel") != KERNEL_VERSION:
        made = (f"kernel version {header['kernel']}" if "kernel" in header
                else "Pillow's warp, before augcli's own kernels")
        summary.notes.append(f"the manifest was made with {made}, this is kernel version {KERNEL_VERSION}: "
                             "warped outputs will not be byte-identical to the originals")
    todo = [r for r in records if r.get("status") in REPLAYED and r.get("output")]
    for r in records:
        if r not in todo:
            summary.notes.append(f"{fsnames.shown(str(r.get('source')))}: not replayed "
                                 f"(status {r.get('status')}: {r.get('error')})")
    if on_exists == "error":
        clash = [r["output"] for r in todo if os.path.exists(fsnames.join(out, r["output"]))]
        if clash:
            raise UsageError(f"{len(clash)} output file(s) already exist, e.g. {fsnames.shown(str(out / clash[0]))!r}; "
                             "use --on-exists skip or overwrite")
    for note in summary.notes:
        report(f"augcli: note: {note}")

    labels = None
    if header.get("labels"):
        from .labels.setup import LabelSetup

        try:
            labels = LabelSetup.from_description(header["labels"], inp, out)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"the manifest's labels cannot be rebuilt: {type(exc).__name__}: {exc}") from None
    by_source: dict[str, list[dict[str, Any]]] = {}
    for r in todo:
        by_source.setdefault(r["source"], []).append(r)
    collector = labels.collector() if labels is not None else None
    for source, recs in by_source.items():
        with file_warnings() as caught:
            _replay_source(source, recs, inp, out, pipeline, config, on_exists, summary, report, labels, collector)
        for warning in caught:
            report(f"augcli: {fsnames.shown(source)}: warning: {warning}")
    if collector is not None:  # the COCO JSONs, after the images (as expand writes them)
        for path, payload in collector.payloads():
            try:
                write_atomic(path, payload, overwrite=True)
            except OSError as exc:
                summary.failed.append({"output": os.fsdecode(path), "error": f"cannot write: {exc.strerror or exc}"})
    return summary


def _collect_kept(source: str, kept: list[dict[str, Any]], pipeline: Pipeline, config: dict[str, Any],
                  labels: Any, collector: Any, fail: Callable[[dict[str, Any], str], None]) -> None:
    """The label entries of outputs that ``--on-exists skip`` keeps, from the recorded size and ops
    (no decode), for the COCO JSON that replay writes at the end."""
    size = tuple(kept[0].get("size") or ())
    if len(size) != 2:
        return
    opts = _load_options(config)
    try:
        source_labels = labels.load(source, size, opts.exif_transpose, opts.max_pixels, opts.resize)
    except InputError as exc:
        for rec in kept:
            fail(rec, str(exc))
        return
    for rec in kept:
        matrix, out_size = pipeline.geometry(rec.get("ops") or [], size)
        collector.add(source_labels.render(matrix, out_size, rec["output"], files=False)[1])


def _replay_source(source: str, recs: list[dict[str, Any]], inp: Path, out: Path, pipeline: Pipeline,
                   config: dict[str, Any], on_exists: str, summary: ReplaySummary,
                   report: Callable[[str], None], labels: Any = None, collector: Any = None) -> None:
    def fail(rec: dict[str, Any], error: str) -> None:
        summary.failed.append({"output": rec["output"], "error": error})
        report(f"augcli: {fsnames.shown(rec['output'])}: {fsnames.one_line(error)}")

    kept: list[dict[str, Any]] = []
    if on_exists == "skip":
        kept = [r for r in recs if os.path.exists(fsnames.join(out, r["output"]))]
        summary.skipped += len(kept)
        recs = [r for r in recs if r not in kept]
    if kept and collector is not None:
        # outputs kept as they are still belong in the COCO JSON, as expand puts them there
        _collect_kept(source, kept, pipeline, config, labels, collector, fail)
    if not recs:
        return
    try:
        image = load_image(fsnames.join(inp, source), _load_options(config))
    except InputError as exc:
        for rec in recs:
            fail(rec, f"cannot load {fsnames.shown(source)}: {exc}")
        return
    fmt = output_format(source, config.get("format", "same"))[0]
    source_labels = None
    if labels is not None:
        opts = _load_options(config)
        try:
            source_labels = labels.load(source, image.size, opts.exif_transpose, opts.max_pixels, opts.resize)
        except InputError as exc:
            for rec in recs:
                fail(rec, str(exc))
            return
    for rec in recs:
        if rec.get("size") and list(image.size) != list(rec["size"]):
            fail(rec, f"{fsnames.shown(source)} loads as {image.width}x{image.height}, the manifest says "
                      f"{rec['size'][0]}x{rec['size'][1]}: not the same source")
            continue
        try:
            result = make_output(pipeline, image, rec.get("ops") or [], rec.get("copy"))
            data = output_bytes(result, fmt, int(config.get("quality", 95)), config.get("background", (255, 255, 255)))
            if source_labels is not None:  # label files first, the image last (as expand writes them)
                matrix, out_size = pipeline.geometry(rec.get("ops") or [], image.size)
                label_files, entry = source_labels.render(matrix, out_size, rec["output"])
                for path, payload in label_files:
                    write_atomic(path, payload, overwrite=on_exists != "error")
                if collector is not None:
                    collector.add(entry)
            written = write_atomic(fsnames.join(out, rec["output"]), data, overwrite=on_exists == "overwrite")
        except (KeyError, TypeError, ValueError) as exc:
            fail(rec, f"cannot remake it: {type(exc).__name__}: {exc}")
            continue
        except OSError as exc:
            fail(rec, f"cannot write: {exc.strerror or exc}")
            continue
        if written:
            summary.written += 1
        elif on_exists == "skip":
            summary.skipped += 1
        else:
            fail(rec, "output already exists (created by another run?)")
