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

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import fsnames
from .version import __version__
from .errors import InputError, UsageError
from .filewarnings import file_warnings
from .imageio import load_image, output_format, source_size, write_atomic
from .manifest import read_header, read_manifest  # noqa: F401 - read_manifest: public here too
from .render import make_output, output_bytes
from .run.places import check_folders
from .labels.erase import erase_output
from .labels.voc_lists import ListUnreadable
from .run.work import write_labels
from .safefiles import open_regular
from .compose import build_image, sources_of
from .labels.compose import compose_labels, merge_counts, paste_mask
from .replay_records import BadRecord, Places, Record, Settings, read_records, read_settings, short

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
        raise UsageError(f"the manifest's mask_suffix {short(suffix)} is not part of a file name")
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
    differ = [f"{k} {short(recorded.get(k))} in the manifest, {short(v)} in the input folder"
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
    settings = read_settings(config)
    for key in ("input_dir", "output_dir"):
        if (input_dir if key == "input_dir" else output_dir) is None and not isinstance(config.get(key), str):
            raise UsageError(f"the manifest records no {key.replace('_', ' ')}; give it with --"
                             f"{key.split('_')[0]}")
    inp = Path(input_dir if input_dir is not None else fsnames.native(config["input_dir"]))
    out = Path(output_dir if output_dir is not None else fsnames.native(config["output_dir"]))
    inp, out = check_folders(inp, out, hint=" (use --input)")
    summary = ReplaySummary()
    if header.get("augcli") != __version__:
        summary.notes.append(f"the manifest was written by augcli {short(header.get('augcli'))}, this is {__version__}")
    from .kernels import KERNEL_VERSION

    if header.get("kernel") != KERNEL_VERSION:
        made = (f"kernel version {short(header['kernel'])}" if "kernel" in header
                else "Pillow's warp, before augcli's own kernels")
        summary.notes.append(f"the manifest was made with {made}, this is kernel version {KERNEL_VERSION}: "
                             "warped outputs will not be byte-identical to the originals")
    labels = _labels(header, settings, inp, out, masks, masks_output, report)
    places = Places(inp, out, masks_output)
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
    lists = labels.image_set_lists() if labels is not None else None

    def remake(run: list[Record]) -> None:
        _replay_run(run, inp, out, settings, on_exists, summary, report, labels, collector, places)
        if lists is not None:  # VOC's image-set lists name the outputs there now, in the manifest's order
            for rec in run:
                if os.path.lexists(fsnames.join(out, rec.output)):
                    lists.add({"source": rec.source, "output": rec.output, "status": "ok"})

    run: list[Record] = []
    for number, item in read_records(manifest, settings, places):
        if isinstance(item, Record) and run and (item.source != run[0].source or len(run) >= RUN_LENGTH):
            remake(run)
            run = []
        if isinstance(item, Record):
            run.append(item)
        elif isinstance(item, BadRecord):
            _fail(summary, report, f"{shown}:{number}", str(item), record=True)
        else:
            report(f"augcli: note: {fsnames.shown(str(item.get('source')))}: not replayed "
                   f"(status {fsnames.shown(str(item.get('status')))[:40]}: {fsnames.one_line(str(item.get('error')))})")
    if run:
        remake(run)
    for collected in (collector, lists):  # the COCO JSONs and the lists, after the images (as expand writes them)
        try:
            payloads = collected.payloads() if collected is not None else []
        except ListUnreadable as exc:
            _fail(summary, report, exc.rel, exc.reason)
            continue
        for path, payload in payloads:
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


def _refuse_existing(manifest: Path, settings: Settings, places: Places, labels: Any) -> None:
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
    for _, item in read_records(manifest, settings, places):
        if isinstance(item, Record):
            seen(fsnames.join(out, item.output))
            for path in labels.planned_files(item.source, [item.output]) if labels is not None else []:
                seen(path)
    if count:
        raise UsageError(f"{count} output file(s) already exist, e.g. {fsnames.shown(first)!r}; "  # type: ignore[arg-type]
                         "use --on-exists skip or overwrite")


def _replay_run(run: list[Record], inp: Path, out: Path, settings: Settings, on_exists: str,
                summary: ReplaySummary, report: Callable[[str], None], labels: Any, collector: Any,
                places: Places) -> None:
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
                   summary: ReplaySummary, labels: Any, collector: Any, places: Places,
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


def _write_labels(files: list[tuple[Path, bytes]], on_exists: str, places: Places) -> str | None:
    """Write an output's label and mask files (none outside the places replay writes to); the
    reason one was not written, else None. A file that exists with the same bytes is fine under
    any rule."""
    for path, _ in files:
        if not places.may_write(path):
            return f"{fsnames.shown(os.fsdecode(path))} resolves outside the output folder; refused"
    clash = write_labels(files, overwrite=on_exists == "overwrite")
    return None if clash is None else f"{fsnames.shown(clash)} exists and differs (--on-exists {on_exists})"
