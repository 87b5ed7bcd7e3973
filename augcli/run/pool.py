"""augcli's own process pool: sources streamed to workers in small chunks through a bounded
window, results yielded in source order (so records stream out sorted and memory does not grow with
the dataset), large sources cut into parts, and workers that die survived."""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from multiprocessing import get_context
from typing import Any, Callable, Iterable, Iterator, Sequence

from .. import fsnames
from ..filewarnings import chunk_warnings, install_one_line_warnings
from ..imageio import remove_stale_temporaries
from ..tempfiles import folders_kept
from .discover import SourceJob
from .work import Interrupted, WorkContext, make_record, process_source_safely

_CTX: WorkContext | None = None


def init_worker(ctx: WorkContext) -> None:
    global _CTX
    _CTX = ctx
    # The parent handles Ctrl-C and stops the pool cleanly; workers finish their chunk.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    install_one_line_warnings()  # nothing raw on stderr, even outside a source's own capture


def work_chunk(chunk: Sequence[SourceJob]) -> list[list[dict[str, Any]]]:
    assert _CTX is not None
    # stderr and the warning filters switched once per chunk, not per source; the output folders
    # opened once per chunk (neighbouring sources share them)
    with chunk_warnings(), folders_kept():
        return [process_source_safely(_CTX, job) for job in chunk]


# ---------------------------------------------------------------------------------------------------
# scheduling


def in_chunks(jobs: Iterable[SourceJob], size: int, sizes: dict[int, int] | None = None,
              most: int | None = None) -> Iterator[list[SourceJob]]:
    """Consecutive jobs, ``size`` at a time; each part of a split source is a chunk of its own, so
    the parts can run on different workers. With ``sizes`` (``id(job)`` -> its file's bytes, as
    ``split_large`` measured them) a chunk of small files grows up to ``most`` jobs while it holds
    less than ``CHUNK_BYTES`` of them: a chunk costs the parent and the pool about as much as a
    small source costs a worker, so tiny images go out many at a time."""
    chunk: list[SourceJob] = []
    held = 0
    for job in jobs:
        if job.block >= 0:
            # compositions: a block of partners stays on one worker, whatever ``size`` says
            if sizes is not None:
                sizes.pop(id(job), None)
            if chunk and job.block != chunk[-1].block:
                yield chunk
                chunk = []
            chunk.append(job)
            continue
        if job.parts > 1:
            if chunk:
                yield chunk
                chunk, held = [], 0
            yield [job]
            continue
        chunk.append(job)
        # a file whose size is unknown (0: not measured) counts as large
        held += (sizes.pop(id(job), 0) or CHUNK_BYTES) if sizes is not None else CHUNK_BYTES
        if len(chunk) >= size and (most is None or len(chunk) >= most or held >= CHUNK_BYTES):
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


CHUNK_BYTES = 256 << 10  # chunks of small files grow until they hold this many bytes of them


SPLIT_LOOKAHEAD = 32  # jobs whose file sizes are known before the first of them is cut or not


def split_large(jobs: Iterable[SourceJob], ctx: WorkContext, workers: int, count: int,
                sizes: dict[int, int] | None = None) -> Iterator[SourceJob]:
    """Cut the outputs of a large source into parts (at least 2 outputs each, one part per worker at
    most), so that one big image among small ones (or a run of a few sources) keeps every worker busy
    instead of one. Each part decodes the source again, which is why only large files are cut: files
    at least twice the mean size of those seen so far and of the next ``SPLIT_LOOKAHEAD``, or every
    source of a run with fewer than 4 per worker. The bytes and the records are the same either way
    (Joiner puts them back together). ``sizes``, if given, receives ``id(job) -> file size`` of
    each job yielded whole (for ``in_chunks``)."""
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
        if parts <= 1 or job.block >= 0:  # a composing source stays whole, beside its partners
            if sizes is not None and size and job.block < 0:
                sizes[id(job)] = size
            yield job
            continue
        for i in range(parts):
            yield replace(job, outputs=job.outputs[i * n // parts:(i + 1) * n // parts], part=i, parts=parts)


class Joiner:
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


def results_in_process(ctx: WorkContext, jobs: Iterable[SourceJob]) -> Iterator[list[dict[str, Any]]]:
    for job in jobs:
        try:
            yield process_source_safely(ctx, job)
        except Interrupted as exc:
            yield exc.records
            raise KeyboardInterrupt from None


def engine_results(ctx: WorkContext, jobs: Iterable[SourceJob], workers: int,
                   warn: Callable[[str], None] = lambda msg: None, total: int | None = None,
                   partial: bool = True) -> Iterator[list[dict[str, Any]]]:
    """Each job's records in job order: in this process for one worker, else from augcli's pool
    (``results_in_pool``). ``partial``: a Ctrl-C inside a source in this process first yields the
    records of that source's outputs already written (a streamed manifest keeps them); without it
    the interruption propagates and they are dropped (a bucket is never finished from part of a
    source)."""
    if workers <= 1:
        if partial:
            return results_in_process(ctx, jobs)
        return (process_source_safely(ctx, job) for job in jobs)
    return results_in_pool(ctx, jobs, workers, warn=warn, total=total)


def pool_context():
    """How worker processes start. On Linux, fork while this process has one thread: a worker then
    starts with numpy, Pillow, the kernels and augcli already imported (about 0.3 s of CPU saved per
    worker, a quarter of a typical run's wall time on 2 cores). Anywhere else (macOS, Windows), or
    with other threads running (fork copies only the calling thread, and a lock another thread held
    would stay locked in the child), spawn: a fresh interpreter that imports for itself. Workers compute
    the same bytes either way."""
    import threading

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        from .. import functional, kernels, warping  # noqa: F401 - what every worker needs, imported once here

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
# sources in one chunk of small files: each chunk costs the parent's threads about a millisecond of
# CPU (the futures, the pipes, the wakeups), a cost the workers share on a 2-core machine; more would
# leave one worker a longer tail
MOST_PER_CHUNK = 48
HELD_PER_WINDOW = 4


def results_in_pool(ctx: WorkContext, jobs: Iterable[SourceJob], workers: int,
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
    sizes: dict[int, int] = {}
    chunks = in_chunks(split_large(jobs, ctx, workers, count, sizes), max(1, min(4, count // (workers * 8))),
                       sizes, max(1, min(MOST_PER_CHUNK, count // (workers * 8))))
    joiner = Joiner()
    window = workers * WINDOW_PER_WORKER
    held = window * HELD_PER_WINDOW
    # taken before new chunks: (sources, run alone?, results if already made before the pool broke)
    retry: deque[tuple[list[SourceJob], bool, list[list[dict[str, Any]]] | None]] = deque()
    broken = True
    while broken:
        broken = False
        executor = ProcessPoolExecutor(workers, mp_context=pool_context(), initializer=init_worker,
                                       initargs=(ctx,))
        inflight: deque[tuple[list[SourceJob], bool, Future]] = deque()
        down = False  # the pool broke while taking a chunk: take no more, handle it at its turn

        def submit(part: list[SourceJob]) -> Future:
            nonlocal down
            try:
                return executor.submit(work or work_chunk, part)
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
                        joined = joiner.add(part[0], [make_record(part[0].source, None, None, ctx, status="error",
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
