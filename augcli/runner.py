"""The runner: discovery, output names, the worker pool, atomic writes, the manifest, progress.

Work is cut per *source*: a source is decoded once and all its copies are made from it. Sources
are handed to worker processes in small chunks through a bounded window, and results are consumed
in sorted source order, so the manifest streams out already sorted and memory does not grow with
the size of the dataset.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from itertools import islice
from multiprocessing import get_context
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import __version__, fsnames
from . import geometry as G
from .config import RunConfig
from .errors import AugcliError, InputError, UsageError
from .imageio import (IMAGE_EXTENSIONS, LoadOptions, load_image, output_format, remove_stale_temporaries,
                      source_size, temp_path, write_atomic)
from .manifest import ManifestWriter, header_line, record_line  # noqa: F401 - record_line: public here too
from .safepaths import check_output_rel
from .render import output_bytes, output_writer, plan_copy_with_geometry
from .seeding import new_root_seed, stable_key
from .filewarnings import file_warnings, install_one_line_warnings
from .targets import CopyPlan, class_of, plan_copies
from .walk import FolderWalk

IGNORED_NAMES = frozenset({"Thumbs.db", "thumbs.db", "desktop.ini", "Desktop.ini", "__MACOSX", "Icon\r"})
FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM})


class FatalWriteError(AugcliError):
    """The output cannot be written at all (disk full, read-only): the run stops."""


# ---------------------------------------------------------------------------------------------------
# discovery and naming


def _candidate(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _visible(name: str) -> bool:
    return not name.startswith(".") and name not in IGNORED_NAMES


def iter_jobs(cfg: RunConfig, on_error: Callable[[str, str], None] | None = None,
              plan: CopyPlan | None = None,
              on_warning: Callable[[str, str], None] | None = None,
              skip_dir: Callable[[str], bool] | None = None) -> Iterator["SourceJob"]:
    """The work of a run, one SourceJob per candidate image under the input folder, streamed in the
    order of their sorted relative paths (so only one folder's listing is held at a time).

    Names are read as bytes and carried in augcli's canonical text form (augcli.fsnames). Hidden
    files and folders and OS litter are skipped; symlinked files and folders are followed, each real
    folder read once (augcli.walk), except, with ``cfg.follow_outside`` False, those whose real path
    is outside the input folder. A folder that cannot be listed is passed to ``on_error``; a link
    loop, a second path to a folder, a broken link or a link not followed to ``on_warning``. With a copy ``plan``
    (dataset targets) each source gets the copies the plan gives it. A folder for which
    ``skip_dir(relative path)`` is true (labels, masks) is not walked."""
    walk = FolderWalk(cfg.input_dir, cfg.output_dir, on_error or (lambda rel, why: None),
                      on_warning or (lambda rel, why: None), _visible, _candidate,
                      follow_outside=cfg.follow_outside is not False, allowed_links=cfg.linked_folders)
    yield from _jobs_in(walk, PurePosixPath(), cfg, plan, skip_dir)


def _jobs_in(walk: FolderWalk, rel: PurePosixPath, cfg: RunConfig,
             plan: CopyPlan | None = None, skip_dir: Callable[[str], bool] | None = None) -> Iterator["SourceJob"]:
    entries = walk.entries("" if rel == PurePosixPath() else rel.as_posix())
    if entries is None:
        return
    if skip_dir is not None:
        entries = [e for e in entries if not (e[2] and skip_dir((rel / e[1]).as_posix()))]
    named = iter(plan_outputs([(rel / name).as_posix() for _, name, folder in entries if not folder], cfg, plan))
    for _, name, folder in entries:
        if folder:
            yield from _jobs_in(walk, rel / name, cfg, plan, skip_dir)
        else:
            yield next(named)


@dataclass(frozen=True)
class SourceJob:
    source: str  # relative POSIX path
    outputs: tuple[tuple[int | None, str], ...]  # (copy index, or None for the original; output rel path)
    fmt: str
    # a large source's outputs may be cut into parts run by different workers (_split_large)
    part: int = 0
    parts: int = 1


def plan_outputs(sources: Sequence[str], cfg: RunConfig, plan: CopyPlan | None = None) -> list[SourceJob]:
    """Deterministic output names: ``[{prefix}_]{stem}_{k}.{ext}`` (k zero-padded to the width of
    copies - 1) and ``[{prefix}_]{stem}_orig.{ext}`` for --include-originals, in the source's
    folder. Where two sources in one folder share a stem and would get the same extension (a.jpg and
    a.png with --format png), each of them keeps its source extension in the stem: a_jpg_0.png.
    With a copy ``plan`` each source gets its planned count and k is padded to ``plan.width``."""
    width = len(str(max(cfg.copies - 1, 0))) if plan is None else plan.width
    counts = plan.copies_in(sources) if plan is not None else None
    groups: dict[tuple[str, str, str], list[str]] = {}
    formats: dict[str, tuple[str, str]] = {}
    for rel in sources:
        fmt, ext = output_format(rel, cfg.format)
        formats[rel] = (fmt, ext)
        p = PurePosixPath(rel)
        groups.setdefault((str(p.parent).lower(), p.stem.lower(), ext.lower()), []).append(rel)
    jobs = []
    for rel in sources:
        p = PurePosixPath(rel)
        fmt, ext = formats[rel]
        stem = p.stem
        if len(groups[(str(p.parent).lower(), stem.lower(), ext.lower())]) > 1:
            stem = f"{stem}_{p.suffix[1:].lower()}"
        base = f"{fsnames.canonical(cfg.prefix)}_{stem}" if cfg.prefix else stem
        outs: list[tuple[int | None, str]] = []
        if cfg.include_originals:
            outs.append((None, (p.parent / f"{base}_orig{ext}").as_posix()))
        copies = cfg.copies if counts is None else counts[rel]
        outs.extend((k, (p.parent / f"{base}_{k:0{width}d}{ext}").as_posix()) for k in range(copies))
        jobs.append(SourceJob(rel, tuple(outs), fmt))
    return jobs


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------------
# the work for one source (runs in a worker process, or in-process with --workers 1)


@dataclass(frozen=True)
class WorkContext:
    cfg: RunConfig
    root_seed: int
    labels: Any = None  # augcli.labels.setup.LabelSetup, when the run carries labels
    # augcli.storage stores for object storage (augcli/run/ sets them); None: the local folders
    sources: Any = None
    outputs: Any = None

    @property
    def load(self) -> LoadOptions:
        return LoadOptions(self.cfg.exif_transpose, self.cfg.max_pixels, self.cfg.resize)


def process_source(ctx: WorkContext, job: SourceJob) -> list[dict[str, Any]]:
    """Make every output of one source. Never raises for a bad input: problems become records."""
    cfg = ctx.cfg
    src = fsnames.join(cfg.input_dir, job.source)  # bytes: any name, in any locale
    todo = {k for k, out in job.outputs
            if not (cfg.on_exists == "skip" and _output_exists(ctx, out))}
    fetched = None
    try:
        if ctx.sources is not None:
            src = fetched = ctx.sources.fetch(job.source, cfg.max_pixels)
        if todo:
            image = load_image(src, ctx.load)
            size = image.size
        else:  # everything exists: plan from the header alone, so the manifest stays complete
            image = None
            size = source_size(src, ctx.load)
        labels = ctx.labels.load(job.source, size, cfg.exif_transpose, cfg.max_pixels, cfg.resize) \
            if ctx.labels is not None else None
    except InputError as exc:
        return [_record(job.source, None, None, ctx, status="error", error=str(exc))]
    except MemoryError:
        return [_record(job.source, None, None, ctx, status="error", error="out of memory while decoding")]
    finally:
        if fetched is not None:
            ctx.sources.release(fetched)

    records: list[dict[str, Any]] = []
    try:
        _make_outputs(ctx, job, image, size, todo, records, labels)
    except KeyboardInterrupt:
        # only the outputs that were finished (written, skipped or failed) are reported
        raise _Interrupted([r for r in records if r["status"] != "pending"]) from None
    return records


def process_source_safely(ctx: WorkContext, job: SourceJob) -> list[dict[str, Any]]:
    """``process_source`` for the pool and the in-process loop: every Python warning raised while
    the source is read or made is kept, as one short line, under ``warnings`` in its records (the
    parent prints ``augcli: <file>: warning: <what>``), and a failure nothing else caught (out of
    memory, a decoder bug a hostile file triggers) becomes an error record for this source alone."""
    with file_warnings() as caught:
        try:
            records = process_source(ctx, job)
        except MemoryError:
            records = [_record(job.source, None, None, ctx, status="error",
                               error="out of memory while making its outputs")]
        except Exception as exc:  # noqa: BLE001 - one hostile file must never end the run
            records = [_record(job.source, None, None, ctx, status="error",
                               error=f"cannot process: {type(exc).__name__}: {exc}")]
    if caught:
        for rec in records:
            rec["warnings"] = list(caught)
    return records


def _make_outputs(ctx: WorkContext, job: SourceJob, image, size, todo: set, records: list, labels=None) -> None:
    """Plan, render, encode and write each output of ``job``, appending one record per output."""
    cfg = ctx.cfg
    planned = []
    for k, out in job.outputs:
        steps, geometry = ([], cfg.pipeline.geometry([], size)) if k is None else \
            plan_copy_with_geometry(cfg.pipeline, ctx.root_seed, job.source, k, size)
        planned.append((k, out, steps, geometry))
    # all copies of a source are rendered together, so they share its preparation
    made = [(st, geo) for k, _, st, geo in planned if k is not None and k in todo]
    # the source is given up to the renderer unless the original itself is one of the outputs
    render = cfg.pipeline.renderer(image, [st for st, _ in made], [geo for _, geo in made],
                                   consume=None not in todo) if image is not None else None
    ahead: dict[int, Any] = {}  # copies rendered before their turn: the image, or what rendering raised
    for i, (k, out, steps, (matrix, out_size)) in enumerate(planned):
        rec = _record(job.source, out, k, ctx, status="pending", size=size, out_size=out_size, steps=steps,
                      matrix=matrix)
        records.append(rec)
        if k not in todo:
            rec["existing"] = True  # recorded as ok: a record never depends on the run's history
            rec["status"] = "ok"
            if labels is not None:
                rec["labels"] = labels.render(matrix, out_size, out, files=False)[1]
            continue
        try:
            check_output_rel(out)  # before its label files, which are named after it
            # (at most RENDER_AHEAD_BYTES of outputs alive, or one larger output: each is gone after its turn)
            if k is None:
                made_image = image
            else:
                if i not in ahead:
                    _render_ahead(render, planned, todo, i, ahead)
                made_image = ahead.pop(i)
                if isinstance(made_image, BaseException):
                    raise made_image
            if labels is None and ctx.outputs is None:
                # local files are encoded straight into their temporary file (the bytes are made
                # again only to compare with a file that appeared meanwhile)
                data = output_writer(made_image, job.fmt, cfg.quality, cfg.background)
            else:
                data = output_bytes(made_image, job.fmt, cfg.quality, cfg.background)
            if labels is not None:
                # label files first, the image last: a visible image always has its labels
                label_files, rec["labels"] = labels.render(matrix, out_size, out)
                clash = _write_labels(label_files, cfg.on_exists == "overwrite")
                if clash:
                    rec.update(status="error", error=f"{fsnames.shown(clash)} exists (another run?) and differs")
                    continue
            if _write_output(ctx, out, data):
                rec["status"] = "ok"
            elif cfg.on_exists == "skip":
                rec.update(status="ok", existing=True)
            elif _same_output(ctx, out, data if isinstance(data, bytes) else
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
        except Exception as exc:  # noqa: BLE001 - ValueError and whatever a hostile file triggers
            rec.update(status="error", error=f"cannot process: {type(exc).__name__}: {exc}")
        finally:
            made_image = data = None  # this output is gone before the next one is made


# Copies of a source are rendered in batches of up to this many output bytes before they are encoded:
# its pixels are then read while still in the caches (each encode in between would push them out).
# An output larger than this is made alone, so big images keep one output alive at a time.
RENDER_AHEAD_BYTES = 4 << 20


def _render_ahead(render, planned: list, todo: set, i: int, ahead: dict) -> None:
    """Render copy ``i`` and the copies after it that are to be made, while they fit the budget."""
    budget = RENDER_AHEAD_BYTES
    for j in range(i, len(planned)):
        k, _, steps, geometry = planned[j]
        if k is None or k not in todo:
            continue
        w, h = geometry[1]
        cost = 4 * w * h
        if j > i and cost > budget:
            return
        budget -= cost
        try:
            ahead[j] = render(steps, geometry)
        except Exception as exc:  # noqa: BLE001 - raised again at this copy's turn, and recorded there
            ahead[j] = exc


def _write_labels(files: Sequence[tuple[Path, bytes]], overwrite: bool) -> str | None:
    """Write label files atomically; the name of one that exists with other bytes, else None."""
    for path, payload in files:
        if not write_atomic(path, payload, overwrite=overwrite) and not _same_bytes(path, payload):
            return os.fsdecode(path)
    return None


def _output_exists(ctx: WorkContext, rel: str) -> bool:
    if ctx.outputs is None:
        return os.path.exists(fsnames.join(ctx.cfg.output_dir, rel))
    return ctx.outputs.exists(rel)


def _write_output(ctx: WorkContext, rel: str, data: Any) -> bool:
    """Write an output (bytes, or for local folders a function writing them into an open file)."""
    overwrite = ctx.cfg.on_exists == "overwrite"
    check_output_rel(rel)  # whatever the name was made from, it stays under the output folder
    if ctx.outputs is None:
        return write_atomic(fsnames.join(ctx.cfg.output_dir, rel), data, overwrite=overwrite)
    return ctx.outputs.write(rel, data, overwrite=overwrite)


def _same_output(ctx: WorkContext, rel: str, data: bytes) -> bool:
    if ctx.outputs is None:
        return _same_bytes(fsnames.join(ctx.cfg.output_dir, rel), data)
    return ctx.outputs.same_bytes(rel, data)


def _same_bytes(path: bytes | Path, data: bytes) -> bool:
    try:
        if os.stat(path).st_size != len(data):
            return False
        with open(path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


def _record(source, output, copy, ctx: WorkContext, *, status="ok", error=None, size=None,
            out_size=None, steps=(), matrix=None) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "source": source,
        "output": output,
        "copy": copy,
        "status": status,
        "error": error,
        "seed": ctx.root_seed,
        "item_key": stable_key(source),
        "size": list(size) if size else None,
        "output_size": list(out_size) if out_size else None,
        "ops": list(steps),
        "matrix": G.as_list(matrix, 2 if G.is_affine(matrix) else 3) if matrix is not None else None,
    }
    return rec


# worker-process state: the context arrives once, through the pool initializer
_CTX: WorkContext | None = None


def _init_worker(ctx: WorkContext) -> None:
    global _CTX
    _CTX = ctx
    # The parent handles Ctrl-C and stops the pool cleanly; workers finish their chunk.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    install_one_line_warnings()  # nothing raw on stderr, even outside a source's own capture


def _work_chunk(chunk: Sequence[SourceJob]) -> list[list[dict[str, Any]]]:
    assert _CTX is not None
    return [process_source_safely(_CTX, job) for job in chunk]


# ---------------------------------------------------------------------------------------------------
# scheduling


def _chunks(jobs: Iterable[SourceJob], size: int) -> Iterator[list[SourceJob]]:
    """Consecutive jobs, ``size`` at a time; each part of a split source is a chunk of its own, so
    the parts can run on different workers."""
    chunk: list[SourceJob] = []
    for job in jobs:
        if job.parts > 1:
            if chunk:
                yield chunk
                chunk = []
            yield [job]
            continue
        chunk.append(job)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


SPLIT_LOOKAHEAD = 32  # jobs whose file sizes are known before the first of them is cut or not


def _split_large(jobs: Iterable[SourceJob], ctx: WorkContext, workers: int, count: int) -> Iterator[SourceJob]:
    """Cut the outputs of a large source into parts (at least 2 outputs each, one part per worker at
    most), so that one big image among small ones (or a run of a few sources) keeps every worker busy
    instead of one. Each part decodes the source again, which is why only large files are cut: files
    at least twice the mean size of those seen so far and of the next ``SPLIT_LOOKAHEAD``, or every
    source of a run with fewer than 4 per worker. The bytes and the records are the same either way
    (_Joiner puts them back together)."""
    few = count < 4 * workers
    ahead: deque[tuple[SourceJob, int]] = deque()
    seen = total = 0
    it = iter(jobs)
    while True:
        while len(ahead) <= SPLIT_LOOKAHEAD and (job := next(it, None)) is not None:
            size = 0
            if len(job.outputs) >= 4 and ctx.sources is None:
                try:
                    size = os.stat(fsnames.join(ctx.cfg.input_dir, job.source)).st_size
                except OSError:
                    pass
            seen, total = seen + 1, total + size
            ahead.append((job, size))
        if not ahead:
            return
        job, size = ahead.popleft()
        n = len(job.outputs)
        parts = min(workers, n // 2) if size and (few or size * seen >= 2 * total) else 1
        if parts <= 1:
            yield job
            continue
        for i in range(parts):
            yield replace(job, outputs=job.outputs[i * n // parts:(i + 1) * n // parts], part=i, parts=parts)


class _Joiner:
    """The records of a split source's parts joined into one list, as if one worker had made them
    all: one error record when the source itself cannot be read (each part reports it), and every
    output's record carrying every warning the source raised."""

    def __init__(self) -> None:
        self._held: list[dict[str, Any]] = []

    def add(self, job: SourceJob, records: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        if job.parts == 1:
            return records
        if job.part == 0:
            self._held = []
        for rec in records:
            if rec["output"] is None and any(r["output"] is None and r["error"] == rec["error"]
                                             for r in self._held):
                continue  # the same failure to read the source, from another part
            self._held.append(rec)
        if job.part < job.parts - 1:
            return None
        return self.take()

    def held(self) -> bool:
        """Whether records of a source's first parts wait for its last part."""
        return bool(self._held)

    def take(self) -> list[dict[str, Any]]:
        """The records held so far, joined (all of a source's, or those made before a stop)."""
        joined, self._held = self._held, []
        warnings = list(dict.fromkeys(w for r in joined for w in r.get("warnings") or ()))
        for rec in joined:
            if warnings:
                rec["warnings"] = warnings
        return joined


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C inside process_source, carrying the records of the outputs already written."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__()
        self.records = records


def _results_in_process(ctx: WorkContext, jobs: Iterable[SourceJob]) -> Iterator[list[dict[str, Any]]]:
    for job in jobs:
        try:
            yield process_source_safely(ctx, job)
        except _Interrupted as exc:
            yield exc.records
            raise KeyboardInterrupt from None


def _pool_context():
    """How worker processes start. On Linux, fork while this process has one thread: a worker then
    starts with numpy, Pillow, the kernels and augcli already imported (about 0.3 s of CPU saved per
    worker, a quarter of a typical run's wall time on 2 cores). Anywhere else (macOS, Windows), or
    with other threads running (fork copies only the calling thread, and a lock another thread held
    would stay locked in the child), spawn: a fresh interpreter that imports for itself. Workers compute
    the same bytes either way."""
    import threading

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        from . import functional, kernels  # noqa: F401 - what every worker needs, imported once here

        # anything still buffered would otherwise be written again by each worker when it exits
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        return get_context("fork")
    return get_context("spawn")


# chunks in flight per worker, and the most chunks held (running, or done and waiting for an
# earlier one) per chunk in flight: a source much larger than the others does not idle the other
# workers while its results are awaited (records are small; only sources are bounded more tightly)
WINDOW_PER_WORKER = 3
HELD_PER_WINDOW = 4


def _results_in_pool(ctx: WorkContext, jobs: Iterable[SourceJob], workers: int,
                     warn: Callable[[str], None] = lambda msg: None,
                     work: Callable[[Sequence[SourceJob]], list[list[dict[str, Any]]]] | None = None,
                     total: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """Yield each job's records in job order, from a process pool fed through a bounded window (the
    jobs may be a stream: only the window's worth is ever held; ``total`` sizes the chunks). Chunks
    run in any order: up to ``WINDOW_PER_WORKER`` per worker are unfinished at a time, and the
    results of finished ones wait (at most ``HELD_PER_WINDOW`` windows' worth) for the earlier ones.

    A worker that dies (killed, out of memory) breaks the pool. The chunks that had not finished are
    then re-run one source at a time in a fresh pool: one that kills its worker again, alone, is
    reported as failed; every other source is still completed."""
    count = total if total is not None else len(jobs)  # type: ignore[arg-type]
    chunks = _chunks(_split_large(jobs, ctx, workers, count), max(1, min(4, count // (workers * 8))))
    joiner = _Joiner()
    window = workers * WINDOW_PER_WORKER
    held = window * HELD_PER_WINDOW
    # taken before new chunks: (sources, run alone?, results if already made before the pool broke)
    retry: deque[tuple[list[SourceJob], bool, list[list[dict[str, Any]]] | None]] = deque()
    broken = True
    while broken:
        broken = False
        executor = ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_init_worker,
                                       initargs=(ctx,))
        inflight: deque[tuple[list[SourceJob], bool, Future]] = deque()
        down = False  # the pool broke while taking a chunk: take no more, handle it at its turn

        def submit(part: list[SourceJob]) -> Future:
            nonlocal down
            try:
                return executor.submit(work or _work_chunk, part)
            except BrokenProcessPool as exc:
                down = True
                failed: Future = Future()
                failed.set_exception(exc)
                return failed

        try:
            while True:
                while not down and len(inflight) < held and not (inflight and inflight[-1][1]):
                    if retry:
                        if retry[0][1] and inflight:
                            break  # a suspect runs alone, so a death is its own
                        part, alone, made = retry.popleft()
                        if made is not None:
                            fut: Future = Future()
                            fut.set_result(made)
                        else:
                            fut = submit(part)
                        inflight.append((part, alone, fut))
                        continue
                    if sum(1 for _, _, f in inflight if not f.done()) >= window:
                        break
                    part = next(chunks, None)
                    if part is None:
                        break
                    inflight.append((part, False, submit(part)))
                if not inflight:
                    break
                part, alone, fut = inflight[0]
                try:
                    if not fut.done():
                        # wake for any chunk, so a finished one frees a place in the window
                        wait([f for _, _, f in inflight if not f.done()], return_when=FIRST_COMPLETED)
                        continue
                    results = fut.result()
                except KeyboardInterrupt:
                    # Stop cleanly: drop what has not started; what is running finishes (workers
                    # ignore SIGINT), and its records still reach the manifest.
                    for _, _, f in inflight:
                        f.cancel()
                    for p, _, f in inflight:
                        if not f.cancelled():
                            try:
                                for job, records in zip(p, f.result()):
                                    joined = joiner.add(job, records)
                                    if joined is not None:
                                        yield joined
                            except BrokenProcessPool:
                                pass
                    if joiner.held():  # the parts of a cut source that were made before the stop
                        yield joiner.take()
                    raise
                except BrokenProcessPool:
                    broken = True
                    if alone:  # it died running this one source alone: that source is the cause
                        reason = "worker process died (killed or out of memory)"
                        joined = joiner.add(part[0], [_record(part[0].source, None, None, ctx, status="error",
                                                              error=reason)])
                        if joined is not None:
                            yield joined
                    # back in order: what finished keeps its results, the rest runs again, each
                    # source alone (any of them may be the cause)
                    again: list[tuple[list[SourceJob], bool, list[list[dict[str, Any]]] | None]] = []
                    for p, _, f in list(inflight)[1:] if alone else inflight:
                        if f.done() and not f.cancelled() and f.exception() is None:
                            again.append((p, False, f.result()))
                        else:
                            again += [([job], True, None) for job in p]
                    if not alone:
                        rerun = sum(1 for _, again_alone, _ in again if again_alone)
                        warn(f"augcli: a worker process died; retrying its {rerun} unfinished sources one at a time")
                    retry.extendleft(reversed(again))
                    break
                inflight.popleft()
                for job, records in zip(part, results):
                    joined = joiner.add(job, records)
                    if joined is not None:
                        yield joined
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            if broken:  # a killed worker cannot remove its half-written temporary file
                remove_stale_temporaries(ctx.cfg.output_dir)


# ---------------------------------------------------------------------------------------------------
# the run


@dataclass
class Summary:
    discovered: int = 0
    planned: int = 0
    written: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # {"source", "output", "error"}
    seed: int = 0
    elapsed: float = 0.0
    dry_run: bool = False
    interrupted: bool = False
    fatal: str | None = None
    manifest: str | None = None
    outputs: list[tuple[str, str]] = field(default_factory=list)  # dry run: (source, output)
    labels: dict[str, int] | None = None  # object counts, when the run carries labels
    targets: dict[str, Any] | None = None  # the copy plan of --per-class / --total (CopyPlan.describe)
    warnings: int = 0  # files and folders passed over with a warning line (links not followed...)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if (self.failed or self.fatal) else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "augcli": __version__,
            "discovered": self.discovered,
            "planned": self.planned,
            "written": self.written,
            "skipped": self.skipped,
            "failed": len(self.failed),
            "failures": [fsnames.encode_fields(f, ("source", "output")) for f in self.failed],
            "warnings": self.warnings,
            "seed": self.seed,
            "elapsed": round(self.elapsed, 3),
            "dry_run": self.dry_run,
            "interrupted": self.interrupted,
            "fatal": self.fatal,
            "manifest": self.manifest,
            "exit_code": self.exit_code,
            **({"labels": self.labels} if self.labels is not None else {}),
            "targets": self.targets,
        }

    def line(self) -> str:
        verb = "would write" if self.dry_run else "written"
        count = self.planned if self.dry_run else self.written
        text = (f"augcli: {self.discovered} images, {count} {verb}, {self.skipped} skipped, "
                f"{len(self.failed)} failed, seed {self.seed}, {self.elapsed:.1f}s")
        if self.interrupted:
            text += " (interrupted)"
        if self.labels is not None and not self.dry_run:
            lab = self.labels
            text += (f"\naugcli: labels: {lab['label_files']} label files, {lab['masks']} masks, "
                     f"{lab['unlabeled']} outputs without labels, {lab['unpaired']} label files not paired")
        return text


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_folders(input_dir: Path, output_dir: Path, hint: str = "") -> tuple[Path, Path]:
    """The resolved input and output folders, or a UsageError: the input must be a folder, and the
    output must not be (or be inside) the input, nor be a file. ``hint`` ends the missing-input
    message."""
    inp = Path(input_dir).resolve()
    out = Path(output_dir).resolve()
    if not inp.is_dir():
        raise UsageError(f"input folder {str(input_dir)!r} does not exist or is not a folder{hint}")
    if out == inp or _inside(out, inp):
        raise UsageError(f"output folder {str(output_dir)!r} is inside input folder "
                         f"{str(input_dir)!r}; augcli never writes into its input")
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {str(output_dir)!r} exists and is not a folder")
    return inp, out


def _one_line(report: Callable[[str], None]) -> Callable[[str], None]:
    """``report`` for messages that quote names from the dataset (file names, ids): control
    characters are escaped, so no terminal escape in a name reaches the terminal."""
    return lambda msg: report(fsnames.one_line(msg))


def _refuse_labels_beyond_one_machine(cfg: RunConfig, report: Callable[[str], None]) -> None:
    """Labels do not travel through sharded, Dask or object-storage runs yet: a dataset that has them
    is refused (exit 2) rather than expanded without them."""
    if cfg.labels is None or cfg.labels.format == "none":
        return
    why = ("label files and masks are not carried by --shard, --executor dask or object storage yet; "
           "run on one machine, or pass --labels none to expand the images alone")
    if cfg.remote:
        if cfg.labels.format != "auto":
            raise UsageError(why)
        return
    from .labels.setup import resolve

    inp, out = check_folders(cfg.input_dir, cfg.output_dir)
    setup = resolve(cfg.labels, inp, out, cfg.pipeline, _one_line(report))
    if setup is not None and setup.carries:
        raise UsageError(why)


def _outside_links(inp: Path, links: Sequence[str]) -> tuple[str, ...]:
    return tuple(rel for rel in links if not _inside(Path(os.path.realpath(inp / rel)), inp))


def run(cfg: RunConfig, report: Callable[[str], None] | None = None) -> Summary:
    """Expand ``cfg.input_dir`` into ``cfg.output_dir``. Raises UsageError for run-level problems
    (nothing is written then); per-file problems are reported through ``report`` (default: a line
    on stderr), recorded in the manifest and counted in the returned Summary."""
    report = report or _stderr
    started = time.perf_counter()
    from . import kernels

    if kernels.env_error():
        raise UsageError(kernels.env_error())
    if cfg.shard is not None or cfg.executor != "local" or cfg.remote:
        from .run.driver import run_buckets  # sharded / bucketed runs: augcli/run/

        _refuse_labels_beyond_one_machine(cfg, report)
        return run_buckets(cfg, report)
    inp, out = check_folders(cfg.input_dir, cfg.output_dir)
    setup = None
    if cfg.labels is not None:
        from .labels.setup import resolve

        setup = resolve(cfg.labels, inp, out, cfg.pipeline, _one_line(report))
    skip_dir = setup.skip_dir if setup is not None else None
    if cfg.follow_outside is None:  # auto: a run that carries labels reads nothing outside INPUT_DIR
        carries = setup is not None and setup.carries
        links = _outside_links(inp, setup.image_links) if carries else ()
        for rel in links:
            report(f"augcli: labels: {fsnames.shown(rel)}/ links to a folder outside the input folder; followed, "
                   "as the label layout pairs it with its labels (--no-follow-outside refuses)")
        cfg = replace(cfg, follow_outside=not carries, linked_folders=links)
    folders: dict[str, bytes] = {}  # output folder -> its resolved path (one realpath per folder)
    inp_b, out_b = os.fsencode(inp), os.fsencode(out)
    summary = Summary(seed=cfg.seed if cfg.seed is not None else new_root_seed(), dry_run=cfg.dry_run)
    unlisted: list[tuple[str, str]] = []
    warned: list[tuple[str, str]] = []
    plan = None
    if cfg.targets is not None:  # names only: the sources of each class decide the copies of each source
        names = iter_jobs(replace(cfg, copies=0, include_originals=False, targets=None), skip_dir=skip_dir)
        plan = plan_copies((job.source for job in names), summary.seed, cfg.targets, cfg.include_originals)
    extras: dict[str, list[str]] = {}  # class -> its sources that get the extra copy
    # First pass, over names only: count, check, and refuse before anything is written.
    clash: list[str] = []
    for job in iter_jobs(cfg, lambda rel, why: unlisted.append((rel, why)), plan,
                         lambda rel, why: warned.append((rel, why)), skip_dir):
        summary.discovered += 1
        if plan is not None and plan.is_extra(job.source, sum(k is not None for k, _ in job.outputs)):
            extras.setdefault(class_of(job.source), []).append(job.source)
        summary.planned += len(job.outputs)
        for _, rel in job.outputs:
            target = fsnames.join(cfg.output_dir, rel)  # bytes: any name, in any locale
            parent = rel.rpartition("/")[0]
            if parent not in folders:
                folders[parent] = os.path.realpath(fsnames.join(out_b, parent))
            if fsnames.inside(os.path.join(folders[parent], os.path.basename(target)), inp_b):
                raise UsageError(f"output {rel!r} would land inside the input folder; choose another output folder")
            if cfg.on_exists == "error" and os.path.exists(target):
                clash.append(rel)
            if cfg.dry_run:
                summary.outputs.append((job.source, rel))
        if setup is not None:
            for path in setup.planned_files(job.source, [rel for _, rel in job.outputs]):
                if _inside(path.resolve(), inp):
                    raise UsageError(f"label file {str(path)!r} would land inside the input folder")
                if cfg.on_exists == "error" and path.exists():
                    clash.append(str(path.relative_to(cfg.output_dir)) if _inside(path, cfg.output_dir) else str(path))
                if cfg.dry_run:
                    summary.outputs.append((job.source, os.path.relpath(path, out) if _inside(path, out) else str(path)))
    run_files = setup.run_files() if setup is not None else []
    for path in [p for p, _ in run_files] + (setup.final_paths() if setup is not None else []):
        if _inside(path.resolve(), inp):  # e.g. OUTPUT/annotations linked to INPUT/annotations
            raise UsageError(f"label file {str(path)!r} would land inside the input folder; choose another "
                             "output folder")
        if cfg.on_exists == "error" and path.exists():
            clash.append(str(path))
        if cfg.dry_run:
            summary.outputs.append(("", os.path.relpath(path, out)))
    if setup is not None:
        summary.labels = {"objects_in": 0, "objects_out": 0, "unlabeled": 0, "label_files": 0, "masks": 0,
                          "unpaired": setup.unpaired}
    if clash:
        raise UsageError(f"{len(clash)} output file(s) already exist, e.g. "
                         f"{str(cfg.output_dir / clash[0])!r}; use --on-exists skip or overwrite")
    for rel, why in warned:
        report(f"augcli: {fsnames.shown(rel)}: warning: {why}")
    summary.warnings += len(warned)
    for rel, why in unlisted:
        report(f"augcli: {fsnames.shown(rel)}: {why}")
        summary.failed.append({"source": rel, "output": None, "error": why})
    if plan is not None:
        summary.targets = plan.describe(extras)
        for note in summary.targets["notes"]:
            report(f"augcli: note: {note}")
    if cfg.dry_run:
        summary.elapsed = time.perf_counter() - started
        return summary

    ctx = WorkContext(cfg, summary.seed, setup)
    collector = setup.collector() if setup is not None else None  # COCO: one JSON written at the end
    try:
        cfg.output_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(cfg.output_dir)
        manifest = ManifestWriter(cfg.manifest_path, header_line(cfg, summary.seed, summary.targets, setup)) \
            if cfg.manifest_path else None
        for path, payload in run_files:  # the dataset YAML
            _write_run_file(path, payload, cfg.on_exists != "error", inp)
    except OSError as exc:
        raise FatalWriteError(f"cannot write to {str(cfg.output_dir)!r}: {exc.strerror or exc}") from None
    bar = _progress(summary.discovered, cfg.progress)

    def say(msg: str) -> None:  # above the progress bar, when there is one
        if bar is not None:
            bar.write(msg, file=sys.stderr)
        else:
            report(msg)

    # Second pass: the same jobs again, streamed to the workers.
    jobs = iter_jobs(cfg, plan=plan, skip_dir=skip_dir)
    workers = min(cfg.effective_workers, max(1, summary.discovered))
    if workers <= 1:
        results: Iterator[list[dict[str, Any]]] = _results_in_process(ctx, jobs)
    else:
        results = _results_in_pool(ctx, jobs, workers, warn=say, total=summary.discovered)

    try:
        for records in results:
            for warning in (records[0].get("warnings") or []) if records else []:
                say(f"augcli: {fsnames.shown(records[0]['source'])}: warning: {warning}")
            for rec in records:
                if collector is not None:
                    collector.add(rec.get("labels") if rec["status"] in ("ok", "skipped") else None)
                    if rec.get("labels"):
                        rec["labels"].pop("_coco", None)
                if manifest:
                    try:
                        manifest.add(rec)
                    except OSError as exc:
                        summary.fatal = f"cannot write the manifest: {exc.strerror or exc}"
                        manifest.discard()
                        manifest = None
                if summary.labels is not None and rec.get("labels"):
                    _count_labels(summary.labels, rec["labels"])
                if rec.get("existing"):
                    summary.skipped += 1
                elif rec["status"] == "ok":
                    summary.written += 1
                elif rec["status"] == "skipped":
                    summary.skipped += 1
                elif rec.get("fatal"):
                    summary.fatal = rec["error"]
                else:
                    say(f"augcli: {fsnames.shown(rec['source'])}: {fsnames.one_line(rec['error'])}")
                    summary.failed.append({"source": rec["source"], "output": rec["output"], "error": rec["error"]})
            if bar is not None:
                bar.update(1)
            if summary.fatal or (cfg.strict and summary.failed):
                break
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if hasattr(results, "close"):
            results.close()  # stops the pool: in-flight chunks finish, queued ones are dropped
        if bar is not None:
            bar.close()
        if collector is not None and not summary.fatal:
            try:  # after the images: the COCO JSON lists exactly the outputs that were made
                for path, payload in collector.payloads():
                    _write_run_file(path, payload, True, inp)
            except OSError as exc:
                summary.fatal = f"cannot write {exc.filename}: {exc.strerror or exc}"
        if manifest:
            if summary.fatal:
                manifest.discard()
            else:
                try:
                    summary.manifest = str(manifest.close())
                except OSError as exc:
                    summary.fatal = f"cannot write the manifest: {exc.strerror or exc}"
        summary.elapsed = time.perf_counter() - started
        # A run on one machine leaves no bookkeeping folder: loaders that take every sub-folder of
        # OUTPUT_DIR as a class (torchvision ImageFolder, Keras image_dataset_from_directory) would
        # take .augcli/ for one. Its events are the summary line and --json; bucketed runs
        # (augcli/run/) write their stats, parts and markers under .augcli/ as they must.
    if summary.fatal:
        raise FatalWriteError(f"{summary.fatal}; stopped (outputs already written are complete)")
    return summary


def _write_run_file(path: Path, payload: bytes, overwrite: bool, inp: Path) -> None:
    """Write a file made once per run (dataset YAML, COCO JSON), checked again just before: a folder
    linked into the input since the run started must not turn the write into one of the input."""
    if _inside(Path(path).resolve(), inp):
        raise OSError(errno.EINVAL, "it would land inside the input folder; refused", str(path))
    write_atomic(path, payload, overwrite=overwrite)


def _count_labels(totals: dict[str, int], entry: dict[str, Any]) -> None:
    totals["objects_in"] += entry.get("in", 0)
    totals["objects_out"] += entry.get("out", 0)
    totals["unlabeled"] += 1 if entry.get("unlabeled") else 0
    totals["label_files"] += 1 if entry.get("file") else 0
    totals["masks"] += 1 if entry.get("mask") else 0


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm  # imported here: keeps `augcli --help` fast

    tqdm.monitor_interval = 0  # no monitor thread: worker pools are forked from a single-threaded parent
    return tqdm(total=total, unit="img", file=sys.stderr, disable=None, dynamic_ncols=True, leave=False)


def write_stats(cfg: RunConfig, summary: "Summary", workers: int, store: Any = None, **extra: Any) -> None:
    """Run events (host, workers, timing, counts) go to a stats file of their own under the output's
    hidden bookkeeping folder, never into the manifest. Best effort: a failure here loses no output."""
    from .run.buckets import write_stats as write

    write(cfg, summary, workers, store, **extra)
