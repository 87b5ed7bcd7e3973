"""One ``expand``, whatever the engine and placement: discover -> plan -> check -> schedule -> record.

Every run takes the same steps, here once: open the placement (input and output, local or object
storage, and the output's sink), resolve the labels, list the sources and plan their outputs (the
copy plan of dataset targets, the partners of compositions: pure functions of the listing and the
seed), check every planned output before anything is written (or list them, for --dry-run), write
the run files, run the engine, tally the records, then write the COCO JSON, the layout's index and
the manifest, which list exactly the outputs made.

What differs is where the records go, chosen once per run:

- ``StreamedRecords`` (run/stream.py): one machine into a local folder; one stream of jobs through
  the in-process engine or augcli's pool, the manifest written as the records arrive.
- ``BucketedRecords`` (run/driver.py): shards, Dask, object storage, packing layouts; the jobs in
  buckets (the unit of output and resume), each written as a manifest part and a done marker,
  resumed by those markers and merged once every bucket is done.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Protocol

from ..config import RunConfig
from ..errors import FatalWriteError, UsageError
from ..labels.voc_lists import ListUnreadable
from ..manifest import header_line
from ..seeding import new_root_seed
from .discover import SourceJob, header_size, iter_jobs, listed_jobs
from .places import OutFiles, Placement, open_placement, write_run_file
from .prepare import (Checks, check_compositions, check_require, copy_plan, partner_plan, report_listing,
                      resolve_labels, source_names)
from .report import Progress, Summary
from .shard import fit_buckets
from .stream import StreamedRecords
from .work import WorkContext


class Records(Protocol):
    """Where a run's records go, in the order the orchestrator calls it."""

    notes_early: bool  # the copy plan's notes before the resume checks, else after the listing's warnings
    shared: bool  # other shards write the same run files
    scope: str  # how a clash names the run (" of shard I/N")
    exists: Callable[[str], bool] | None  # whether an output exists (None: Checks looks locally)

    def reads_plans(self) -> bool: ...  # whether each output's plan (ops, matrix) is read from its record

    def begin(self, cfg: RunConfig, setup: Any, report: Callable[[str], None]) -> None: ...
    def listed(self, job: SourceJob, checks: Checks) -> None: ...
    def resume(self, header: str, checks: Checks, report: Callable[[str], None]) -> bool: ...
    def clash_name(self, rel: str) -> str: ...
    def prepare(self, header: str, files: OutFiles) -> None: ...
    def run(self, ctx: WorkContext, again: Callable[[], Iterable[SourceJob]], workers: int, summary: Summary,
            progress: Progress) -> None: ...
    def complete(self, summary: Summary) -> bool: ...
    def write_collected(self, say: Callable[[str], None]) -> None: ...
    def write_index(self) -> None: ...
    def close_manifest(self, summary: Summary, say: Callable[[str], None]) -> None: ...
    def after(self, summary: Summary, workers: int) -> None: ...


def bucketed(cfg: RunConfig) -> bool:
    """Whether the run's records go to buckets (parts, done markers, a merge) rather than to one
    stream: a shard, Dask, object storage, or a layout that packs outputs."""
    return cfg.shard is not None or cfg.executor != "local" or cfg.remote or cfg.layout == "webdataset"


def run_labels(cfg: RunConfig, place: Placement, keys: list[str], report: Callable[[str], None]
               ) -> tuple[RunConfig, Any]:
    """The label setup of any run: ``resolve_labels`` for local folders; with the input or the output
    on object storage, through a private mirror (augcli/run/mirror.py). ``keys``: the listing of an
    object-store input."""
    if place.inp is not None:
        cfg, setup = resolve_labels(cfg, place.inp, place.out, report)  # type: ignore[arg-type]
    else:
        from .mirror import remote_labels  # object storage only: a local run does not load it

        cfg, setup = remote_labels(cfg, place.sources, place.outputs, keys, report)
    check_require(cfg, setup)
    return cfg, setup


def expand(cfg: RunConfig, report: Callable[[str], None]) -> Summary:
    """Expand the input into the output (see augcli.runner.run)."""
    started = time.perf_counter()
    from .. import kernels

    if kernels.env_error():
        raise UsageError(kernels.env_error())
    place = open_placement(cfg)
    records: Records = StreamedRecords(cfg, place)
    if bucketed(cfg):
        from .driver import BucketedRecords  # shards, Dask, object storage: a local run does not load them

        records = BucketedRecords(cfg, place)
    seed = cfg.seed if cfg.seed is not None else new_root_seed()
    summary = Summary(seed=seed, dry_run=cfg.dry_run)
    keys: list[str] = []
    if place.sources.remote:
        keys = place.sources.find()
        if not keys:
            raise UsageError(f"input {place.sources.shown!r} does not exist or holds no objects")
    cfg, setup = run_labels(cfg, place, keys, report)

    # discover and plan: the copy plan and the partners are drawn from the whole listing, so every
    # shard draws the same ones
    unlisted: list[tuple[str, str]] = []
    warned: list[tuple[str, str]] = []
    skip_dir = setup.skip_dir if setup is not None else None
    plan, partners, jobs, again = _plan(cfg, seed, place, keys, skip_dir, unlisted, warned)
    check_compositions(cfg, setup, partners)
    if cfg.buckets is None:  # webdataset: buckets fitted to --shard-size, from the whole listing
        jobs = list(jobs)
        cfg = replace(cfg, buckets=fit_buckets([j.source for j in jobs], [len(j.outputs) for j in jobs],
                                               cfg.shard_size))
    records.begin(cfg, setup, report)

    # checks, over names only, before anything is written
    files = OutFiles(place.sink, setup.output_dir if setup is not None else None)  # label files beside the outputs
    checks = Checks(cfg, summary, plan, setup, place.inp, place.out, exists=records.exists, files=files)
    for job in jobs:
        checks.note_extra(job)
        records.listed(job, checks)
    notes = checks.describe_plan()
    header = header_line(cfg, seed, summary.targets, setup)
    if records.notes_early:
        for note in notes:
            report(note)
    resumed = records.resume(header, checks, report)
    run_files = checks.run_files(shared=records.shared, resumed=resumed)
    checks.refuse_clashes(records.clash_name, records.scope)
    report_listing(summary, report, warned, unlisted)
    if not records.notes_early:
        for note in notes:
            report(note)
    if cfg.dry_run:
        summary.elapsed = time.perf_counter() - started
        return summary

    try:
        records.prepare(header, files)
        for path, payload in run_files:  # the dataset YAML (every shard writes the same bytes)
            write_run_file(path, payload, cfg.on_exists != "error", place.inp, files)
    except OSError as exc:
        raise FatalWriteError(f"cannot write to {place.outputs.shown!r}: {exc.strerror or exc}") from None

    # schedule and record
    workers = min(cfg.effective_workers, max(1, summary.discovered))
    ctx = WorkContext(cfg, seed, setup, sources=place.sources if place.sources.remote else None, sink=place.sink,
                      plans=records.reads_plans())
    progress = Progress(summary.discovered, cfg.progress, report)
    try:
        records.run(ctx, again, workers, summary, progress)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        progress.close()
        close_run(records, summary, cfg.layout, place.outputs.shown, progress.say)
        summary.elapsed = time.perf_counter() - started
    records.after(summary, workers)
    if summary.fatal:
        raise FatalWriteError(f"{summary.fatal}; stopped (outputs already written are complete)")
    return summary


def _plan(cfg: RunConfig, seed: int, place: Placement, keys: list[str], skip_dir: Any,
          unlisted: list[tuple[str, str]], warned: list[tuple[str, str]]
          ) -> tuple[Any, Any, Iterable[SourceJob], Callable[[], Iterable[SourceJob]]]:
    """The copy plan, the partner plan, the jobs of the listing (with its warnings and unlisted
    folders collected), and a way to list the same jobs again without keeping them."""
    composing = cfg.compose is not None and cfg.compose.active
    names = None
    if place.sources.remote:
        sources = place.sources
        if cfg.targets is not None or composing:
            names = [j.source for j in listed_jobs(replace(cfg, copies=0, include_originals=False, targets=None), keys,
                                                   skip_dir=skip_dir)]
        plan = copy_plan(cfg, seed, names or ())
        partners = partner_plan(cfg, seed, names)
        sizes = (lambda rel: header_size(cfg, rel, sources)) if cfg.tile is not None else None  # names of tiles
        jobs = listed_jobs(cfg, keys, lambda rel, why: warned.append((rel, why)), plan, partners, sizes, skip_dir)
        return plan, partners, jobs, lambda: listed_jobs(cfg, keys, plan=plan, partners=partners, sizes=sizes,
                                                         skip_dir=skip_dir)
    if cfg.targets is not None or composing:
        names = list(source_names(cfg, skip_dir))
    plan = copy_plan(cfg, seed, names or ())
    partners = partner_plan(cfg, seed, names)
    jobs = iter_jobs(cfg, lambda rel, why: unlisted.append((rel, why)), plan,
                     lambda rel, why: warned.append((rel, why)), skip_dir, partners)
    return plan, partners, jobs, lambda: iter_jobs(cfg, plan=plan, skip_dir=skip_dir, partners=partners)


def close_run(records: Records, summary: Summary, layout: str, shown: str, say: Callable[[str], None]) -> None:
    """After the outputs, in this order: the files gathered from the records (the COCO JSON, VOC's
    image-set lists), the layout's own index (hf metadata.jsonl), then the manifest; each lists
    exactly the outputs made. A fatal error stops the ones after it (a manifest is then discarded
    rather than left claiming outputs); a list that cannot be read again is a failure of its own."""
    if records.complete(summary) and not summary.fatal:
        try:
            records.write_collected(say)
        except OSError as exc:
            summary.fatal = f"cannot write {exc.filename}: {exc.strerror or exc}"
        except ListUnreadable as exc:
            summary.failed.append({"source": exc.rel, "output": exc.rel, "error": exc.reason})
            say(f"augcli: {exc}")
    if records.complete(summary) and not summary.fatal:
        try:
            records.write_index()
        except OSError as exc:
            summary.fatal = f"cannot write the {layout} index of {shown!r}: {exc.strerror or exc}"
    try:
        records.close_manifest(summary, say)
    except OSError as exc:
        summary.fatal = f"cannot write the manifest: {exc.strerror or exc}"
