"""Engines that run buckets: ``local`` (augcli's own process pool) and ``dask`` (a Dask cluster).

An executor gets the plan (buckets in order, each with its sources' jobs) and reports one
BucketOutcome per finished bucket through ``take``; a bucket's manifest part and done marker are
written before its outcome is reported. Adding an engine means one class with ``run``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from ..errors import AugcliError
from ..manifest import record_line
from .buckets import Layout, finish_bucket
from .discover import SourceJob
from .pool import engine_results
from .report import label_counts, tally
from .sinks import take_objects
from .work import WorkContext, process_source_safely


class ExecutorError(AugcliError):
    """The engine could not run a bucket (the run stops; outputs already written are complete)."""


@dataclass(frozen=True)
class BucketWork:
    bucket: int
    jobs: tuple[SourceJob, ...]


@dataclass
class BucketOutcome:
    bucket: int
    sources: int = 0
    written: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)  # {"source", "output", "error"}
    fatal: str | None = None
    done: bool = False  # its part and done marker are written
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (source, warning line)
    labels: dict[str, int] = field(default_factory=label_counts)  # object counts, when the run carries labels
    decoded: int | None = None  # compositions: source decodes


Take = Callable[[BucketOutcome], bool]  # False: stop the run (--strict, a fatal write error)


class Executor(Protocol):
    def run(self, ctx: WorkContext, header: str, plan: Sequence[BucketWork], take: Take,
            warn: Callable[[str], None], progress: Callable[[int], None]) -> None: ...


class _Collector:
    """Gathers one bucket's records job by job; writes its part and marker once all are in."""

    def __init__(self, ctx: WorkContext, header: str, work: BucketWork) -> None:
        self.ctx, self.header, self.work = ctx, header, work
        self.lines: list[str] = []
        self.outcome = BucketOutcome(work.bucket, sources=len(work.jobs))
        self.seen = 0
        # COCO entries of the bucket's outputs, for the one COCO JSON written when all buckets are done
        self.coco: list[str] | None = [] if ctx.labels is not None and ctx.labels.coco is not None else None
        ctx.sink.open_bucket(work.bucket)

    def add(self, records: list[dict[str, Any]]) -> None:
        self.seen += 1
        out = self.outcome
        for warning in (records[0].get("warnings") or []) if records else []:
            out.warnings.append((records[0]["source"], warning))
        for rec in records:
            entry = take_objects(self.ctx.sink, rec)
            if entry is not None and self.coco is not None:
                self.coco.append(json.dumps(entry, ensure_ascii=False) + "\n")
            if not rec.get("fatal"):  # a fatal record ends the bucket unfinished: it is never written
                self.lines.append(record_line(rec))
            tally(out, rec)

    @property
    def complete(self) -> bool:
        return self.seen == len(self.work.jobs)

    def finish(self) -> BucketOutcome:
        if self.outcome.fatal is None:
            cfg = self.ctx.cfg
            self.ctx.sink.close_bucket(self.work.bucket)
            finish_bucket(Layout(self.ctx.sink.store), self.work.bucket, cfg.buckets, self.header,
                          [j.source for j in self.work.jobs], self.lines, len(self.outcome.failed), self.coco)
            self.outcome.done = True
        return self.outcome


def run_bucket(ctx: WorkContext, header: str, work: BucketWork) -> BucketOutcome:
    """Make every output of one bucket in this process, then write its part and done marker.
    This is the task a remote engine runs; it needs nothing but its arguments."""
    collector = _Collector(ctx, header, work)
    for job in work.jobs:
        collector.add(process_source_safely(ctx, job))
        if collector.outcome.fatal:
            return collector.outcome
    return collector.finish()


class LocalExecutor:
    """augcli's own pool (or in-process for one worker) over the buckets' jobs, one after the
    other; a bucket is finished the moment its last source's records arrive."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, ctx, header, plan, take, warn, progress) -> None:
        pending = list(plan)
        while pending and not pending[0].jobs:  # empty buckets are done at once
            if not take(_Collector(ctx, header, pending.pop(0)).finish()):
                return
        if not pending:
            return
        jobs = (job for work in pending for job in work.jobs)
        total = sum(len(w.jobs) for w in pending)
        # (a Ctrl-C inside a source propagates: its partial records never complete a bucket)
        results = engine_results(ctx, jobs, self.workers, warn=warn, total=total, partial=False)
        queue = iter(pending)
        current = _Collector(ctx, header, next(queue))
        try:
            for records in results:
                current.add(records)
                progress(1)
                if current.outcome.fatal:
                    take(current.outcome)
                    return
                while current.complete:
                    if not take(current.finish()):
                        return
                    work = next(queue, None)
                    if work is None:
                        return
                    current = _Collector(ctx, header, work)
        finally:
            if hasattr(results, "close"):
                results.close()


class DaskExecutor:
    """One Dask task per bucket, on an existing scheduler (``tcp://HOST:PORT``) or on a local
    cluster started for the run (loopback only). A task whose worker dies is re-run (``retries``);
    its outputs already written are found complete and recorded as ok, so the result is the same."""

    def __init__(self, workers: int, scheduler: str | None = None, retries: int = 3,
                 task: Callable[..., BucketOutcome] = run_bucket) -> None:
        self.workers, self.scheduler, self.retries, self.task = workers, scheduler, retries, task

    def run(self, ctx, header, plan, take, warn, progress) -> None:
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError:
            from ..errors import UsageError

            raise UsageError("--executor dask needs Dask: pip install 'augcli[dask]'") from None
        from ..errors import UsageError

        cluster = None
        try:
            if self.scheduler:
                client = Client(self.scheduler, timeout="20s")
            else:
                cluster = LocalCluster(n_workers=max(1, self.workers), threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
                client = Client(cluster)
        except (OSError, TimeoutError, ValueError) as exc:
            if cluster is not None:
                cluster.close()
            where = self.scheduler or "a local cluster"
            raise UsageError(f"cannot start Dask on {where}: {type(exc).__name__}: {exc}") from None
        try:
            # a bounded number of buckets in flight (twice the workers), the next submitted as one ends
            window = 2 * max(1, sum(client.nthreads().values()) or self.workers)
            todo = iter(plan)
            running = as_completed()

            def submit_next() -> bool:
                work = next(todo, None)
                if work is None:
                    return False
                running.add(client.submit(self.task, ctx, header, work, key=f"augcli-bucket-{work.bucket}",
                                          retries=self.retries, pure=False))
                return True

            for _ in range(window):
                if not submit_next():
                    break
            for future in running:
                try:
                    outcome = future.result()
                except Exception as exc:  # the task failed on every try (not a worker death)
                    raise ExecutorError(f"a Dask bucket task failed: {type(exc).__name__}: {exc}") from None
                progress(outcome.sources)
                if not take(outcome):
                    return
                submit_next()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def make_executor(name: str, workers: int, scheduler: str | None) -> Executor:
    if name == "dask":
        return DaskExecutor(workers or (os.cpu_count() or 1), scheduler)
    return LocalExecutor(workers)
