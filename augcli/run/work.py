"""The work for one source, in a worker process (or in-process): load it once, plan, render,
encode and write each of its outputs, and return one record per output. Never raises for a bad
input: problems become records."""

from __future__ import annotations

import errno
import functools
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import fsnames
from .. import geometry as G
from ..config import RunConfig
from ..errors import InputError
from ..filewarnings import file_warnings
from ..imageio import LoadOptions, load_image, source_size
from ..labels.erase import erase_output
from ..labels.extents import source_extents
from ..render import output_bytes, output_writer
from ..safefiles import open_regular
from ..safepaths import check_output_rel
from ..seeding import stable_key
from ..tempfiles import folders_kept
from ..tiles import tile_geometry
from ..storage import LocalStore
from .discover import SourceJob
from .require import not_met_error, plan_output
from .places import OutFiles
from .sinks import TreeSink
from .compose_work import merge_counts, plan_compositions
from ..compose import Scaled

FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM})


class Interrupted(KeyboardInterrupt):
    """Ctrl-C inside process_source, carrying the records of the outputs already written."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__()
        self.records = records



@dataclass(frozen=True)
class WorkContext:
    cfg: RunConfig
    root_seed: int
    labels: Any = None  # augcli.labels.setup.LabelSetup, when the run carries labels
    sources: Any = None  # an augcli.storage store for object storage; None: the local input folder
    sink: Any = None  # augcli.run.sinks.Sink, where every output goes; None: the local output tree
    # whether records carry each output's plan (ops, matrix, item key): False only when nothing reads
    # them (no manifest, no labels, the plain tree), so they are neither made nor sent to the parent
    plans: bool = True

    def __post_init__(self) -> None:
        if self.sink is None:
            object.__setattr__(self, "sink", TreeSink(LocalStore(self.cfg.output_dir)))
        # compositions: the sources a worker decoded lately (its partners' window), per run
        object.__setattr__(self, "recent", Recent(self.cfg.compose.window + 1 if self.cfg.compose else 0))

    @property
    def load(self) -> LoadOptions:
        return LoadOptions(self.cfg.exif_transpose, self.cfg.max_pixels, self.cfg.resize)


class Recent:
    """The last ``capacity`` sources a worker loaded (image and labels, or the error), so the
    partners of a composition are decoded about once; ``decoded`` counts the decodes."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.items, self.decoded = capacity, OrderedDict(), 0
        self.scaled = Scaled(4 * capacity)  # partners scaled for a composition, reused by the next ones

    def __getstate__(self) -> dict:
        return {"capacity": self.capacity, "items": OrderedDict(), "decoded": 0, "scaled": Scaled(4 * self.capacity)}

    def get(self, rel: str, load: Callable[[str], Any]) -> Any:
        item = self.items.get(rel)
        if item is None:
            self.decoded += 1
            item = load(rel)
            self.items[rel] = item
            while len(self.items) > self.capacity:
                self.items.popitem(last=False)
        else:
            self.items.move_to_end(rel)
        return item


def _load(ctx: WorkContext, rel: str, header_only: bool = False) -> tuple[Any, Any, Any]:
    """``(image or None, size, labels)`` of one source; raises InputError/LabelError/MemoryError."""
    cfg = ctx.cfg
    src = fsnames.join(cfg.input_dir, rel)  # bytes: any name, in any locale
    fetched = None
    try:
        if ctx.sources is not None:
            src = fetched = ctx.sources.fetch(rel, cfg.max_pixels)
        if not header_only:
            image = load_image(src, ctx.load)
            size = image.size
        else:  # everything exists: plan from the header alone, so the manifest stays complete
            image = None
            size = source_size(src, ctx.load)
        labels = ctx.labels.load(rel, size, cfg.exif_transpose, cfg.max_pixels, cfg.resize,
                                 image=fetched) if ctx.labels is not None else None
    finally:
        if fetched is not None:
            ctx.sources.release(fetched)
    return image, size, labels


def _load_kept(ctx: WorkContext, rel: str) -> tuple[Any, Any, Any]:
    """``_load`` through the worker's recent sources; an error is kept and raised again."""
    def load(r: str) -> Any:
        try:
            return _load(ctx, r)
        except (InputError, MemoryError) as exc:
            return exc

    item = ctx.recent.get(rel, load)
    if isinstance(item, BaseException):
        raise item
    return item


def process_source(ctx: WorkContext, job: SourceJob) -> list[dict[str, Any]]:
    """Make every output of one source. Never raises for a bad input: problems become records."""
    cfg = ctx.cfg
    todo = {k for k, out in job.outputs
            if not (cfg.on_exists == "skip" and ctx.sink.exists(out))}
    decoded = ctx.recent.decoded
    try:
        if ctx.recent.capacity and todo:
            image, size, labels = _load_kept(ctx, job.source)
        else:
            image, size, labels = _load(ctx, job.source, header_only=not todo)
    except InputError as exc:
        return [make_record(job.source, None, None, ctx, status="error", error=str(exc))]
    except MemoryError:
        return [make_record(job.source, None, None, ctx, status="error", error="out of memory while decoding")]
    if cfg.tile is not None and tuple(cfg.tile.windows(size)) != job.windows:
        # its tiles were named from the header the parent read: a file replaced meanwhile would
        # get windows its names do not say
        return [make_record(job.source, None, None, ctx, status="error", size=size,
                            error=f"its size ({size[0]}x{size[1]}) is not the one its tiles were named from; "
                                  "was it replaced during the run?")]

    records: list[dict[str, Any]] = []
    try:
        _make_outputs(ctx, job, image, size, todo, records, labels)
        if records and ctx.recent.capacity:
            records[0]["_decoded"] = ctx.recent.decoded - decoded
    except KeyboardInterrupt:
        # only the outputs that were finished (written, skipped or failed) are reported
        raise Interrupted([r for r in records if r["status"] != "pending"]) from None
    return records


def process_source_safely(ctx: WorkContext, job: SourceJob) -> list[dict[str, Any]]:
    """``process_source`` for the pool and the in-process loop: every Python warning raised while
    the source is read or made is kept, as one short line, under ``warnings`` in its records (the
    parent prints ``augcli: <file>: warning: <what>``), and a failure nothing else caught (out of
    memory, a decoder bug a hostile file triggers) becomes an error record for this source alone."""
    with file_warnings() as caught, folders_kept():  # its outputs' folders are opened once
        try:
            records = process_source(ctx, job)
        except MemoryError:
            records = [make_record(job.source, None, None, ctx, status="error",
                               error="out of memory while making its outputs")]
        except Exception as exc:  # noqa: BLE001 - one hostile file must never end the run
            records = [make_record(job.source, None, None, ctx, status="error",
                               error=f"cannot process: {type(exc).__name__}: {exc}")]
    if caught:
        for rec in records:
            rec["warnings"] = list(caught)
    return records


def _make_outputs(ctx: WorkContext, job: SourceJob, image, size, todo: set, records: list, labels=None) -> None:
    """Plan, render, encode and write each output of ``job``, appending one record per output."""
    cfg = ctx.cfg
    planned, tries = [], []  # tries: each output's --require record fields
    # object-aware ops (--crop-mode bbox-safe) plan from where the source's objects are
    objects = source_extents(labels) if labels is not None and cfg.pipeline.uses_objects else None
    for k, out in job.outputs:
        if cfg.tile is not None:  # a tile: an exact crop of its window, nothing drawn
            steps, geometry, extra = [], tile_geometry(job.windows[k]), {}
        else:
            steps, geometry, extra = plan_output(cfg, ctx.root_seed, job.source, k, out, size, labels, objects)
        planned.append((k, out, steps, geometry))
        tries.append(extra)
    composed = plan_compositions(ctx, job, image, size, todo, labels, _load_kept)
    # all copies of a source are rendered together, so they share its preparation
    made = [(st, geo) for i, (k, _, st, geo) in enumerate(planned) if k is not None and k in todo and i not in composed]
    # the source is given up to the renderer unless the original itself is one of the outputs (or
    # a partner of later compositions)
    render = cfg.pipeline.renderer(image, [st for st, _ in made], [geo for _, geo in made],
                                   consume=None not in todo and not ctx.recent.capacity) if image is not None else None
    ahead: dict[int, Any] = {}  # copies rendered before their turn: the image, or what rendering raised
    field: dict[int, Any] = {}  # each output's distortion nodes, worked out once for its pixels and labels

    def nodes_of(i: int) -> Any:
        if i not in field:
            field[i] = cfg.pipeline.distortion(planned[i][2], planned[i][3][1])
        return field[i]
    for i, (k, out, steps, (matrix, out_size)) in enumerate(planned):
        rec = make_record(job.source, out, k, ctx, status="pending", size=size, out_size=out_size, steps=steps,
                      matrix=matrix)
        if cfg.tile is not None:
            rec["window"] = list(job.windows[k])  # in source pixels: every object traces back to its source
        records.append(rec)
        rec.update(tries[i])
        if cfg.strict and rec.get("require_met") is False and k in todo:
            ahead.pop(i, None)
            rec.update(status="error", error=not_met_error(cfg.max_tries))
            continue
        out_labels = labels
        if i in composed:
            comp = composed[i]
            if isinstance(comp, BaseException):
                rec.update(status="error", error=str(comp))
                continue
            rec["sources"], rec["compose"] = comp.sources, comp.record
            if comp.class_weights:
                rec["class_weights"] = comp.class_weights
            out_labels = comp.labels
        if k not in todo:
            rec["existing"] = True  # recorded as ok: a record never depends on the run's history
            rec["status"] = "ok"
            if out_labels is not None:
                rec["labels"] = out_labels.render(matrix, out_size, out, files=False,
                                                  window=cfg.pipeline.window(steps), nodes=nodes_of(i))[1]
            continue
        try:
            if out_labels is not None:
                check_output_rel(out)  # before its label files, which are named after it (the sink checks it too)
            # (at most RENDER_AHEAD_BYTES of outputs alive, or one larger output: each is gone after its turn)
            if k is None:
                made_image = image
            elif i in composed:
                made_image = cfg.pipeline.renderer(composed[i].image, [steps], [(matrix, out_size)],
                                                   consume=True)(steps, (matrix, out_size), nodes_of(i))
            else:
                if i not in ahead:
                    _render_ahead(render, planned, todo, i, ahead, composed, nodes_of)
                made_image = ahead.pop(i)
                if isinstance(made_image, BaseException):
                    raise made_image
            # --erase-dropped paints before the bytes are made
            window = cfg.pipeline.window(steps)
            made_image, erased = erase_output(out_labels, made_image, matrix, out_size, cfg.pipeline.warp.cval, k,
                                              window)
            if k is None and cfg.copy_originals:  # augcli convert: the source's own bytes, not re-encoded
                data = source_bytes(cfg, job.source)
            elif out_labels is None and ctx.sink.streams and \
                    made_image.width * made_image.height > STREAM_ABOVE_PIXELS:
                # large local files are encoded straight into their temporary file (the bytes are
                # made again only to compare with a file that appeared meanwhile); small ones are
                # written with one system call
                data = output_writer(made_image, job.fmt, cfg.quality, cfg.background)
            else:
                data = output_bytes(made_image, job.fmt, cfg.quality, cfg.background)
            if out_labels is not None:
                # label files first, the image last: a visible image always has its labels
                label_files, rec["labels"] = out_labels.render(matrix, out_size, out, erased=erased, window=window,
                                                               nodes=nodes_of(i))
                if out_labels.setup.options.erase_dropped:
                    rec["labels"]["erased"] = len(erased)
                if i in composed:
                    merge_counts(rec["labels"], composed[i].placed)
                clash = write_labels(label_files, cfg.on_exists == "overwrite",
                                     OutFiles(ctx.sink, ctx.labels.output_dir))
                if clash:
                    rec.update(status="error", error=f"{fsnames.shown(clash)} exists (another run?) and differs")
                    continue
            if ctx.sink.write(out, data, overwrite=cfg.on_exists == "overwrite"):
                rec["status"] = "ok"
            elif cfg.on_exists == "skip":
                rec.update(status="ok", existing=True)
            elif ctx.sink.same_bytes(out, data if isinstance(data, bytes) else
                                     output_bytes(made_image, job.fmt, cfg.quality, cfg.background)):
                # appeared since the run started, with exactly our bytes: a retry after a worker
                # died, or an identical concurrent run
                rec["status"] = "ok"
            else:
                rec.update(status="error", error="output appeared during the run (another run?) and differs")
        except OSError as exc:
            rec.update(status="error", error=f"cannot write {fsnames.shown(out)}: {exc.strerror or exc}")
            if exc.errno in FATAL_ERRNOS:
                rec["fatal"] = True
                return
        except MemoryError:
            rec.update(status="error", error="out of memory while making this output")
        except InputError as exc:  # labels this output cannot be written with (augcli.labels.convert)
            rec.update(status="error", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - ValueError and whatever a hostile file triggers
            rec.update(status="error", error=f"cannot process: {type(exc).__name__}: {exc}")
        finally:
            made_image = data = None  # this output is gone before the next one is made


# Outputs with more pixels than this are encoded into their file as they are made, not held whole.
STREAM_ABOVE_PIXELS = 1 << 20


# Copies of a source are rendered in batches of up to this many output bytes before they are encoded:
# its pixels are then read while still in the caches (each encode in between would push them out).
# An output larger than this is made alone, so big images keep one output alive at a time.
RENDER_AHEAD_BYTES = 4 << 20


def _render_ahead(render, planned: list, todo: set, i: int, ahead: dict, skip: Any, nodes_of: Callable[[int], Any]
                  ) -> None:
    """Render copy ``i`` and the copies after it that are to be made, while they fit the budget."""
    budget = RENDER_AHEAD_BYTES
    for j in range(i, len(planned)):
        k, _, steps, geometry = planned[j]
        if k is None or k not in todo or j in skip:
            continue
        w, h = geometry[1]
        cost = 4 * w * h
        if j > i and cost > budget:
            return
        budget -= cost
        try:
            ahead[j] = render(steps, geometry, nodes_of(j))
        except Exception as exc:  # noqa: BLE001 - raised again at this copy's turn, and recorded there
            ahead[j] = exc


def source_bytes(cfg: RunConfig, rel: str) -> bytes:
    """A local source file's bytes (``augcli convert`` copies images as they are)."""
    with open_regular(os.fsdecode(fsnames.join(cfg.input_dir, rel))) as fh:
        return fh.read()


def write_labels(files: Sequence[tuple[Path, bytes]], overwrite: bool, out: OutFiles | None = None) -> str | None:
    """Write label files atomically (through ``out`` when the output is on object storage); the name
    of one that exists with other bytes, else None."""
    out = out or OutFiles()
    for path, payload in files:
        if not out.write(path, payload, overwrite) and not out.holds(path, payload):
            return out.rel(path) or os.fsdecode(path)
    return None


_item_key = functools.lru_cache(maxsize=64)(stable_key)  # a source's outputs come one after another


def make_record(source, output, copy, ctx: WorkContext, *, status="ok", error=None, size=None,
            out_size=None, steps=(), matrix=None) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "source": source,
        "output": output,
        "copy": copy,
        "status": status,
        "error": error,
        "seed": ctx.root_seed,
        "size": list(size) if size else None,
        "output_size": list(out_size) if out_size else None,
    }
    if ctx.plans:
        rec["item_key"] = _item_key(source)
        rec["ops"] = list(steps)
        rec["matrix"] = G.record_rows(matrix) if matrix is not None else None
    return rec
