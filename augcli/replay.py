"""``augcli replay``: regenerate the outputs of an ``expand`` run from its manifest, byte for byte.

Nothing is drawn again: each output is remade from the exact steps recorded for it, with the
pipeline, load options and encoder settings recorded in the manifest's first line.

A manifest is a file people pass around, so replay takes nothing in it on trust:

- the header's settings are checked as expand checks its flags (a bad header: UsageError, nothing
  written); the label setup is detected again from the input folder, with the recorded label
  options, and must agree with the recorded one; mask folders of ``--masks`` come from replay's
  own flags, never from the manifest;
- each record is checked before anything of it is written: ``source`` and ``output`` are relative
  paths without ``.``/``..``/empty parts, NUL or backslash, the output keeps the extension expand
  gives it and lands (symlinks resolved) inside the output folder and not inside the input; its
  steps are ones the recorded pipeline could have drawn (``Pipeline.check``). A bad record is a
  failure of that record, named by manifest line, and the run goes on.

The manifest is streamed (twice under ``--on-exists error``: first to refuse before writing if any
file exists), and records are made in runs of the same source, so memory does not grow with it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import fsnames
from .version import __version__
from .errors import InputError, UsageError
from .filewarnings import file_warnings
from .imageio import FORMATS, LoadOptions, load_image, output_format, source_size, write_atomic
from .manifest import MAX_LINE_BYTES, raw_lines, read_header, read_manifest, skip_header  # noqa: F401 - read_manifest: public here too
from .pipeline import Pipeline
from .render import make_output, output_bytes
from .run.places import check_folders
from .labels.erase import erase_output
from .run.work import write_labels
from .safefiles import open_regular
from .compose import build_image, check_steps, sources_of
from .labels.compose import compose_labels, merge_counts, paste_mask

REPLAYED = ("ok", "skipped")  # statuses whose records describe an output
RUN_LENGTH = 256  # records of one source made from one load of it, at most


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


@dataclass(frozen=True)
class Settings:
    """The header's recipe, checked."""

    pipeline: Pipeline
    load: LoadOptions
    format: str
    quality: int
    background: tuple[int, int, int]
    copy_originals: bool = False  # augcli convert: originals are the sources' own bytes


@dataclass
class Record:
    """One checked record that describes an output to make."""

    line: int
    source: str
    output: str
    copy: int | None
    ops: list
    size: tuple[int, int]
    compose: list | None = None  # the recorded composition (augcli.compose), for outputs of several sources


class BadRecord(Exception):
    """A record that cannot be replayed as it is (the reason is the message)."""


# ---------------------------------------------------------------------------------------------------
# reading


def _settings(config: dict[str, Any]) -> Settings:
    """The recorded recipe, checked as expand checks its flags (UsageError otherwise)."""
    def bad(what: str) -> UsageError:
        return UsageError(f"the manifest's {what}")

    if config.get("tile") is not None:  # a tile's plan is its window, which a replay does not read
        raise bad("run is augcli tile, which replay does not remake: run the same tile command again")
    try:
        pipeline = Pipeline.from_description(config["pipeline"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad(f"pipeline cannot be rebuilt: {type(exc).__name__}: {fsnames.one_line(str(exc))}") from None
    max_pixels = config.get("max_pixels", 100_000_000)
    if not _whole(max_pixels) or max_pixels < 1:
        raise bad(f"max_pixels must be a positive whole number, not {_short(max_pixels)}")
    try:
        pipeline.check_pixels(max_pixels)
    except ValueError as exc:
        raise bad(str(exc)) from None
    resize = config.get("resize")
    if resize is not None:
        if not (isinstance(resize, list) and len(resize) == 2 and all(_whole(v) and v >= 1 for v in resize)):
            raise bad(f"resize must be [width, height] in whole pixels, not {_short(resize)}")
        if resize[0] * resize[1] > max_pixels:  # the resized image counts against the pixel limit too
            raise bad(f"resize {resize[0]}x{resize[1]} is more than max_pixels ({max_pixels}) pixels")
    exif = config.get("exif_transpose", True)
    if not isinstance(exif, bool):
        raise bad(f"exif_transpose must be true or false, not {_short(exif)}")
    fmt = config.get("format", "same")
    if not isinstance(fmt, str) or (fmt != "same" and fmt not in FORMATS):
        raise bad(f"format must be 'same' or one of {', '.join(FORMATS)}, not {_short(fmt)}")
    quality = config.get("quality", 95)
    if not _whole(quality) or not 1 <= quality <= 100:
        raise bad(f"quality must be a whole number from 1 to 100, not {_short(quality)}")
    background = config.get("background", [255, 255, 255])
    if not (isinstance(background, list) and len(background) == 3
            and all(_whole(v) and 0 <= v <= 255 for v in background)):
        raise bad(f"background must be [r, g, b] from 0 to 255, not {_short(background)}")
    return Settings(pipeline, LoadOptions(exif, max_pixels, tuple(resize) if resize else None), fmt, quality,
                    tuple(background), config.get("copy_originals") is True)  # type: ignore[arg-type]


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return fsnames.one_line(text if len(text) <= 80 else text[:77] + "...")


def check_relative(value: Any, what: str) -> str:
    """``value`` if it is a relative POSIX path of named parts (no empty, ``.`` or ``..`` part, no
    NUL or backslash), else BadRecord."""
    if not isinstance(value, str):
        raise BadRecord(f"{what} must be a relative path, not {_short(value)}")
    parts = value.split("/")
    if (not value or "\0" in value or "\\" in value or any(p in ("", ".", "..") for p in parts)):
        raise BadRecord(f"{what} {fsnames.shown(value)!r} is not a relative path inside its folder "
                        "(no leading /, no empty, . or .. parts, no backslash)")
    return value


class _Places:
    """Where outputs may go: inside the output folder (symlinks resolved), never inside the input.
    One realpath per output sub-folder (the most recent folders are remembered)."""

    def __init__(self, inp: Path, out: Path, masks_output: Path | None = None) -> None:
        self.inp, self.out = os.fsencode(inp), os.fsencode(out)
        # label and mask files may also go to the --masks-output folder replay is given
        self.roots = [self.out] + ([os.fsencode(Path(masks_output).resolve())] if masks_output is not None else [])
        self.folders: dict[str, bytes] = {}

    def may_write(self, path: Path | bytes) -> bool:
        """Whether a label or mask file lands (symlinks resolved) inside the output folder (or the
        --masks-output folder) and not in the input."""
        real = os.path.realpath(os.fsencode(path))
        return any(fsnames.inside(real, root) for root in self.roots) and not fsnames.inside(real, self.inp)

    def check_output(self, rel: str) -> None:
        parent, _, name = rel.rpartition("/")
        real = self.folders.get(parent)
        if real is None:
            if len(self.folders) > 4096:
                self.folders.clear()
            real = self.folders[parent] = os.path.realpath(fsnames.join(self.out, parent))
        target = os.path.join(real, fsnames.to_bytes(name))
        if os.path.islink(target):  # the folder is resolved already: only the name itself may be a link
            target = os.path.realpath(target)
        if not fsnames.inside(target, self.out) or fsnames.inside(target, self.inp) or target == self.out:
            raise BadRecord(f"output {fsnames.shown(rel)!r} resolves outside the output folder (or into the input); "
                            "refused")


def _record(rec: Any, settings: Settings, places: _Places, number: int) -> Record | dict[str, Any]:
    """The checked output record, the record itself if it describes no output (a failed source),
    or BadRecord."""
    if not isinstance(rec, dict):
        raise BadRecord("not a JSON object")
    try:
        rec = fsnames.decode_fields(rec, ("source", "output"))
    except ValueError as exc:
        raise BadRecord(str(exc)) from None
    if rec.get("status") not in REPLAYED or not rec.get("output"):
        return rec
    source = check_relative(rec.get("source"), "source")
    output = check_relative(rec.get("output"), "output")
    ext = output_format(source, settings.format)[1]
    if PurePosixPath(output).suffix != ext:
        raise BadRecord(f"output {fsnames.shown(output)!r} does not end in {ext}, as the outputs of "
                        f"{fsnames.shown(source)!r} do")
    places.check_output(output)
    copy = rec.get("copy")
    if copy is not None and not (_whole(copy) and copy >= 0):
        raise BadRecord(f"copy must be null or a whole number >= 0, not {_short(copy)}")
    size = rec.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(_whole(v) and v >= 1 for v in size)):
        raise BadRecord(f"size must be [width, height] in whole pixels, not {_short(size)}")
    if size[0] * size[1] > settings.load.max_pixels:
        raise BadRecord(f"size {size[0]}x{size[1]} is over the run's pixel limit {settings.load.max_pixels}")
    ops = rec.get("ops")
    if ops is None:
        ops = []
    if copy is None:
        if ops:
            raise BadRecord("an original (copy null) has no steps")
    else:
        try:
            settings.pipeline.check(ops, (size[0], size[1]))
        except (ValueError, TypeError, KeyError) as exc:
            raise BadRecord(f"its steps are not the pipeline's: {fsnames.one_line(str(exc))}") from None
    compose = rec.get("compose")
    if compose is not None:
        if copy is None:
            raise BadRecord("an original (copy null) has no composition")
        try:
            for partner in check_steps(compose, (size[0], size[1]), settings.load.max_pixels):
                check_relative(partner, "a composed source")
        except ValueError as exc:
            raise BadRecord(f"its composition is not one expand makes: {fsnames.one_line(str(exc))}") from None
    return Record(number, source, output, copy, ops, (size[0], size[1]), compose)


def _records(path: Path, settings: Settings, places: _Places,
             ) -> Iterator[tuple[int, Record | dict | BadRecord]]:
    """Each record line, in order: (line number, a checked Record | the raw record of a failed
    source | the BadRecord that refuses it)."""
    with open(path, "rb") as fh:
        skip_header(fh)
        for number, raw in raw_lines(fh):
            number += 1  # the header is line 1
            if raw is None:
                yield number, BadRecord(f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                yield number, BadRecord(f"not a JSON record: {fsnames.one_line(str(exc))}")
                continue
            try:
                yield number, _record(rec, settings, places, number)
            except BadRecord as exc:
                yield number, exc


# ---------------------------------------------------------------------------------------------------
# labels


def _labels(header: dict[str, Any], settings: Settings, inp: Path, out: Path, masks: Path | None,
            masks_output: Path | None, report: Callable[[str], None]) -> Any:
    """The run's label setup, detected again from the input folder with the recorded label options
    (every location comes from the input's layout and replay's flags, none from the manifest), and
    refused unless it is the one the manifest records. None if the run carried no labels."""
    recorded = header.get("labels")
    if not recorded:
        if masks is not None:
            raise UsageError("--masks: the manifest's run carried no masks")
        return None
    from .labels.detect import resolve
    from .labels.setup import LabelOptions

    if not isinstance(recorded, dict) or not isinstance(recorded.get("options"), dict):
        raise UsageError("the manifest's labels are not a label description")
    options = dict(recorded["options"])
    if options.get("masks") is not None and masks is None:
        raise UsageError(f"the run read masks from a folder of its own ({fsnames.shown(str(options['masks']))!r}); "
                         "pass it with --masks (and --masks-output if the run had one) to replay them")
    if options.get("masks") is None and masks is not None:
        raise UsageError("--masks: the manifest's run read no masks folder")
    suffix = options.get("mask_suffix", "")
    if not isinstance(suffix, str) or any(c in suffix for c in "/\\\0"):
        raise UsageError(f"the manifest's mask_suffix {_short(suffix)} is not part of a file name")
    options["masks"] = str(masks) if masks is not None else None
    options["masks_output"] = str(masks_output) if masks_output is not None else None
    try:
        label_options = LabelOptions(**options)
    except (TypeError, ValueError, KeyError) as exc:
        raise UsageError(f"the manifest's label options cannot be rebuilt: {fsnames.one_line(str(exc))}") from None
    setup = resolve(label_options, inp, out, settings.pipeline, report)
    found = {"format": None, "mask_layout": None, "coco_files": [], "yamls": []}
    if setup is not None:
        found = {"format": setup.format, "mask_layout": setup.mask_layout, "coco_files": list(setup.coco_files),
                 "yamls": list(setup.yamls)}
    differ = [f"{k} {_short(recorded.get(k))} in the manifest, {_short(v)} in the input folder"
              for k, v in found.items() if (recorded.get(k) or None) != (v or None)]
    if differ:
        raise UsageError("the input folder's labels are not the ones the run carried: " + "; ".join(differ))
    return setup


# ---------------------------------------------------------------------------------------------------
# the run


def replay(manifest: Path, input_dir: Path | None = None, output_dir: Path | None = None,
           on_exists: str = "error", report: Callable[[str], None] | None = None,
           masks: Path | None = None, masks_output: Path | None = None) -> ReplaySummary:
    """Remake every output recorded in ``manifest`` under ``output_dir`` (default: the recorded
    output folder) from the sources in ``input_dir`` (default: the recorded input folder).

    ``on_exists`` is expand's, for every file replay writes (images, label and mask files, the
    dataset YAML, the COCO JSONs): ``error`` refuses to start if any of them exists (UsageError,
    nothing written), ``skip`` keeps existing files, ``overwrite`` replaces them. A COCO JSON is
    written whole at the end unless ``error`` (it lists the kept outputs too, as expand's does).
    Records of failed sources (status ``error``) have no output and are only noted. ``masks`` /
    ``masks_output``: the ``--masks`` / ``--masks-output`` folders of a run that had them."""
    report = report or (lambda msg: print(msg, file=sys.stderr, flush=True))
    shown = fsnames.shown(str(manifest))
    try:
        with open(manifest, "rb") as fh:
            header = read_header(fh, shown)
    except OSError as exc:
        raise UsageError(f"cannot read manifest {shown!r}: {exc.strerror or exc}") from None
    config = header["config"]
    settings = _settings(config)
    for key in ("input_dir", "output_dir"):
        if (input_dir if key == "input_dir" else output_dir) is None and not isinstance(config.get(key), str):
            raise UsageError(f"the manifest records no {key.replace('_', ' ')}; give it with --"
                             f"{key.split('_')[0]}")
    inp = Path(input_dir if input_dir is not None else fsnames.native(config["input_dir"]))
    out = Path(output_dir if output_dir is not None else fsnames.native(config["output_dir"]))
    inp, out = check_folders(inp, out, hint=" (use --input)")
    summary = ReplaySummary()
    if header.get("augcli") != __version__:
        summary.notes.append(f"the manifest was written by augcli {_short(header.get('augcli'))}, this is {__version__}")
    from .kernels import KERNEL_VERSION

    if header.get("kernel") != KERNEL_VERSION:
        made = (f"kernel version {_short(header['kernel'])}" if "kernel" in header
                else "Pillow's warp, before augcli's own kernels")
        summary.notes.append(f"the manifest was made with {made}, this is kernel version {KERNEL_VERSION}: "
                             "warped outputs will not be byte-identical to the originals")
    labels = _labels(header, settings, inp, out, masks, masks_output, report)
    places = _Places(inp, out, masks_output)
    if on_exists == "error":
        _refuse_existing(manifest, settings, places, labels)
    for note in summary.notes:
        report(f"augcli: note: {note}")

    for path, payload in labels.run_files() if labels is not None else []:  # the dataset YAML
        try:
            write_atomic(path, payload, overwrite=on_exists == "overwrite")
        except OSError as exc:
            _fail(summary, report, os.fsdecode(path), f"cannot write: {exc.strerror or exc}")
    collector = labels.collector() if labels is not None else None
    run: list[Record] = []
    for number, item in _records(manifest, settings, places):
        if isinstance(item, Record) and run and (item.source != run[0].source or len(run) >= RUN_LENGTH):
            _replay_run(run, inp, out, settings, on_exists, summary, report, labels, collector, places)
            run = []
        if isinstance(item, Record):
            run.append(item)
        elif isinstance(item, BadRecord):
            _fail(summary, report, f"{shown}:{number}", str(item), record=True)
        else:
            report(f"augcli: note: {fsnames.shown(str(item.get('source')))}: not replayed "
                   f"(status {fsnames.shown(str(item.get('status')))[:40]}: {fsnames.one_line(str(item.get('error')))})")
    if run:
        _replay_run(run, inp, out, settings, on_exists, summary, report, labels, collector, places)
    if collector is not None:  # the COCO JSONs, after the images (as expand writes them)
        for path, payload in collector.payloads():
            try:
                write_atomic(path, payload, overwrite=True)
            except OSError as exc:
                _fail(summary, report, os.fsdecode(path), f"cannot write: {exc.strerror or exc}")
    return summary


def _fail(summary: ReplaySummary, report: Callable[[str], None], what: str, error: str,
          record: bool = False) -> None:
    """One failure: a line ``augcli: <file>: <reason>`` (``<manifest>:<line>: <reason>`` for a
    record refused as it is written), and its entry in the summary."""
    summary.failed.append({"output": what, "error": error})
    report(f"augcli: {what if record else fsnames.shown(what)}: {fsnames.one_line(error)}")


def _refuse_existing(manifest: Path, settings: Settings, places: _Places, labels: Any) -> None:
    """``--on-exists error``: UsageError, before anything is written, if any file replay would write
    exists (one pass over the manifest, counting)."""
    count, first = 0, None

    def seen(path: bytes | Path) -> None:
        nonlocal count, first
        if os.path.lexists(path):
            count += 1
            first = first if first is not None else os.fsdecode(path)

    out = os.fsdecode(places.out)
    for path in ([p for p, _ in labels.run_files()] + labels.final_paths()) if labels is not None else []:
        seen(path)
    for _, item in _records(manifest, settings, places):
        if isinstance(item, Record):
            seen(fsnames.join(out, item.output))
            for path in labels.planned_files(item.source, [item.output]) if labels is not None else []:
                seen(path)
    if count:
        raise UsageError(f"{count} output file(s) already exist, e.g. {fsnames.shown(first)!r}; "  # type: ignore[arg-type]
                         "use --on-exists skip or overwrite")


def _replay_run(run: list[Record], inp: Path, out: Path, settings: Settings, on_exists: str,
                summary: ReplaySummary, report: Callable[[str], None], labels: Any, collector: Any,
                places: _Places) -> None:
    """Remake a run of records of one source. Failures are printed after the source's warnings
    are collected (inside that block stderr is captured as the source's own messages)."""
    failures: list[tuple[str, str]] = []
    with file_warnings() as caught:
        try:
            _replay_source(run, inp, out, settings, on_exists, summary, labels, collector, places,
                           lambda rec, error: failures.append((rec.output, error)))
        except MemoryError:
            failures += [(rec.output, "out of memory while making it") for rec in run]
        except Exception as exc:  # noqa: BLE001 - one hostile record must never end the run
            failures += [(rec.output, f"cannot remake it: {type(exc).__name__}: {exc}") for rec in run]
    for warning in caught:
        report(f"augcli: {fsnames.shown(run[0].source)}: warning: {warning}")
    for output, error in failures:
        _fail(summary, report, output, error)


def _collect_kept(kept: list[Record], settings: Settings, labels: Any, collector: Any,
                  fail: Callable[[Record, str], None], inp: Path) -> None:
    """The label entries of outputs that ``--on-exists skip`` keeps, from the recorded size and ops
    (no decode), for the COCO JSON that replay writes at the end."""
    opts = settings.load
    try:
        source_labels = labels.load(kept[0].source, kept[0].size, opts.exif_transpose, opts.max_pixels, opts.resize)
    except InputError as exc:
        for rec in kept:
            fail(rec, str(exc))
        return
    partners = _Partners(kept[0].source, None, source_labels, labels, settings, inp, kept[0].size)
    for rec in kept:
        matrix, out_size = settings.pipeline.geometry(rec.ops, rec.size)
        try:
            rec_labels = partners.composed(rec)[1] if rec.compose else source_labels
        except InputError as exc:
            fail(rec, str(exc))
            continue
        collector.add(rec_labels.render(matrix, out_size, rec.output, files=False,
                                        window=settings.pipeline.window(rec.ops),
                                        nodes=settings.pipeline.distortion(rec.ops, out_size))[1])


def _replay_source(recs: list[Record], inp: Path, out: Path, settings: Settings, on_exists: str,
                   summary: ReplaySummary, labels: Any, collector: Any, places: _Places,
                   fail: Callable[[Record, str], None]) -> None:
    source = recs[0].source
    if on_exists == "skip":
        exists = [os.path.lexists(fsnames.join(out, r.output)) for r in recs]
        kept = [r for r, e in zip(recs, exists) if e]
        recs = [r for r, e in zip(recs, exists) if not e]
        summary.skipped += len(kept)
        if kept and collector is not None:
            # outputs kept as they are still belong in the COCO JSON, as expand puts them there
            _collect_kept(kept, settings, labels, collector, fail, inp)
    if not recs:
        return
    try:
        image = load_image(fsnames.join(inp, source), settings.load)
    except InputError as exc:
        for rec in recs:
            fail(rec, f"cannot load {fsnames.shown(source)}: {exc}")
        return
    fmt = output_format(source, settings.format)[0]
    source_labels = None
    if labels is not None:
        opts = settings.load
        try:
            source_labels = labels.load(source, image.size, opts.exif_transpose, opts.max_pixels, opts.resize)
        except InputError as exc:
            for rec in recs:
                fail(rec, str(exc))
            return
    partners = _Partners(source, image, source_labels, labels, settings, inp)
    for rec in recs:
        if image.size != rec.size:
            fail(rec, f"{fsnames.shown(source)} loads as {image.width}x{image.height}, the manifest says "
                      f"{rec.size[0]}x{rec.size[1]}: not the same source")
            continue
        try:
            canvas, rec_labels, placed = partners.composed(rec) if rec.compose else \
                (image, source_labels, None)
            result = make_output(settings.pipeline, canvas, rec.ops, rec.copy)
            matrix, out_size = settings.pipeline.geometry(rec.ops, image.size)
            window = settings.pipeline.window(rec.ops)
            result, erased = erase_output(rec_labels, result, matrix, out_size, settings.pipeline.warp.cval, rec.copy,
                                          window)
            if settings.copy_originals and rec.copy is None:  # as augcli convert wrote it
                with open_regular(os.fsdecode(fsnames.join(inp, source))) as fh:
                    data = fh.read()
            else:
                data = output_bytes(result, fmt, settings.quality, settings.background)
            if rec_labels is not None:  # label files first, the image last (as expand writes them)
                label_files, entry = rec_labels.render(matrix, out_size, rec.output, erased=erased, window=window,
                                                       nodes=settings.pipeline.distortion(rec.ops, out_size))
                if placed is not None:
                    merge_counts(entry, placed)
                clash = _write_labels(label_files, on_exists, places)
                if clash:
                    fail(rec, clash)
                    continue
                if collector is not None:
                    collector.add(entry)
            written = write_atomic(fsnames.join(out, rec.output), data, overwrite=on_exists == "overwrite")
        except MemoryError:
            fail(rec, "out of memory while making it")
            continue
        except InputError as exc:
            fail(rec, str(exc))
            continue
        except OSError as exc:
            fail(rec, f"cannot write: {exc.strerror or exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - ValueError and whatever a hostile record triggers
            fail(rec, f"cannot remake it: {type(exc).__name__}: {exc}")
            continue
        if written:
            summary.written += 1
        elif on_exists == "skip":
            summary.skipped += 1
        else:
            fail(rec, "output already exists (created by another run?)")


class _Partners:
    """The sources of one source's composed records, each loaded once (image, size and labels).
    Without ``image`` (outputs kept by --on-exists skip) partners are sized from their headers."""

    def __init__(self, source: str, image: Any, source_labels: Any, labels: Any, settings: Settings,
                 inp: Path, size: tuple[int, int] | None = None) -> None:
        self.source, self.labels, self.settings, self.inp = source, labels, settings, inp
        self.decode = image is not None
        self.loaded: dict[str, tuple[Any, tuple[int, int], Any]] = {
            source: (image, image.size if image is not None else size, source_labels)}

    def _get(self, rel: str) -> tuple[Any, tuple[int, int], Any]:
        if rel not in self.loaded:
            opts = self.settings.load
            path = fsnames.join(self.inp, rel)
            try:
                image = load_image(path, opts) if self.decode else None
                size = image.size if image is not None else source_size(path, opts)
            except InputError as exc:
                raise InputError(f"cannot load {fsnames.shown(rel)}: {exc}") from None
            got = self.labels.load(rel, size, opts.exif_transpose, opts.max_pixels, opts.resize) \
                if self.labels is not None else None
            self.loaded[rel] = (image, size, got)
        return self.loaded[rel]

    def composed(self, rec: Record) -> tuple[Any, Any, Any]:
        """``(canvas or None, its labels, the placing's label counts)`` of a composed record."""
        got = {rel: self._get(rel) for rel in sources_of(rec.compose, self.source)}
        sizes = {rel: tuple(v[1]) for rel, v in got.items()}
        canvas = build_image(rec.compose, got[self.source][0], {rel: v[0] for rel, v in got.items()},
                             lambda rel, obj: paste_mask(got[rel][2], obj, rec.size)) if self.decode else None
        comp, placed = None, None
        if self.labels is not None:
            comp, placed = compose_labels(self.labels, self.source, rec.compose, {r: v[2] for r, v in got.items()},
                                          sizes)
        return canvas, comp, placed


def _write_labels(files: list[tuple[Path, bytes]], on_exists: str, places: _Places) -> str | None:
    """Write an output's label and mask files (none outside the places replay writes to); the
    reason one was not written, else None. A file that exists with the same bytes is fine under
    any rule."""
    for path, _ in files:
        if not places.may_write(path):
            return f"{fsnames.shown(os.fsdecode(path))} resolves outside the output folder; refused"
    clash = write_labels(files, overwrite=on_exists == "overwrite")
    return None if clash is None else f"{fsnames.shown(clash)} exists and differs (--on-exists {on_exists})"

