"""A bucketed run: ``expand --shard I/N``, ``--executor dask``, or object storage.

1. One listing of the input names every source (names depend on siblings, so the shard filter
   comes after naming) and keeps the jobs of the buckets this shard owns.
2. Buckets whose done marker matches (same recipe, same source list) are skipped without looking at
   their outputs; the stale marker of a bucket that must be redone is removed first.
3. ``--on-exists error`` looks only at the outputs of this shard's buckets still to do (on object
   storage: one listing of the output, never a request per output).
4. The executor runs the buckets; each writes its manifest part, then its done marker.
5. When every bucket of the output is done, the parts are merged into manifest.jsonl (the same
   bytes whichever shard gets there last, or ``augcli merge`` later).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable

from ..config import RunConfig
from ..errors import FatalWriteError, UsageError
from ..fsnames import shown
from ..imageio import remove_stale_temporaries
from ..labels.loss import add as add_counts
from ..manifest import header_line
from ..seeding import new_root_seed
from .buckets import Layout, digest, sources_digest, write_stats
from .discover import header_size, iter_jobs, listed_jobs
from .executors import BucketOutcome, BucketWork, ExecutorError, make_executor
from .merge import merge, write_coco
from .mirror import remote_labels
from .places import OutFiles, open_placement, write_run_file
from .prepare import (Checks, check_compositions, check_require, copy_plan, partner_plan, report_listing,
                      resolve_labels, source_names)
from .report import Progress, Summary, failure_line
from .shard import Shard, bucket_of
from .work import WorkContext

def _labels(cfg: RunConfig, place: Any, keys: list[str], report: Callable[[str], None]) -> tuple[RunConfig, Any]:
    """The label setup of a bucketed run: the same as one machine's for local folders; with the
    input or the output on object storage, see augcli.run.mirror."""
    if place.inp is not None:
        cfg, setup = resolve_labels(cfg, place.inp, place.out, report)
        return cfg, setup
    return remote_labels(cfg, place.sources, place.outputs, keys, report)


def run_buckets(cfg: RunConfig, report: Callable[[str], None]) -> Summary:
    started = time.perf_counter()
    place = open_placement(cfg)
    sources, outputs, inp, out, sink = place.sources, place.outputs, place.inp, place.out, place.sink
    if cfg.seed is None and cfg.shard is not None and cfg.shard.count > 1:
        raise UsageError("a sharded run needs --seed: every shard must draw from the same seed")
    seed = cfg.seed if cfg.seed is not None else new_root_seed()
    shard: Shard = cfg.shard if cfg.shard is not None else Shard(0, 1)
    layout = Layout(outputs)
    summary = Summary(seed=seed, dry_run=cfg.dry_run)
    keys: list[str] = []
    if sources.remote:
        keys = sources.find()
        if not keys:
            raise UsageError(f"input {sources.shown!r} does not exist or holds no objects")
    cfg, setup = _labels(cfg, place, keys, report)
    check_require(cfg, setup)
    skip_dir = setup.skip_dir if setup is not None else None
    if shard.index >= cfg.buckets:
        report(f"augcli: note: shard {shard} owns no bucket (there are {cfg.buckets}; use --buckets)")

    # 1. the jobs of this shard's buckets, named among all their siblings (and the copy plan, drawn
    # from the whole listing: every shard draws the same one)
    owned: dict[int, list] = {b: [] for b in range(shard.index, cfg.buckets, shard.count)}
    unlisted: list[tuple[str, str]] = []
    warned: list[tuple[str, str]] = []
    composing = cfg.compose is not None and cfg.compose.active
    names = None
    if sources.remote:
        if cfg.targets is not None or composing:
            names = [j.source for j in listed_jobs(replace(cfg, copies=0, include_originals=False, targets=None), keys,
                                                   skip_dir=skip_dir)]
        plan = copy_plan(cfg, seed, names or ())
        partners = partner_plan(cfg, seed, names)
        sizes = (lambda rel: header_size(cfg, rel, sources)) if cfg.tile is not None else None  # names of tiles
        jobs = listed_jobs(cfg, keys, lambda rel, why: warned.append((rel, why)), plan, partners, sizes, skip_dir)
    else:
        if cfg.targets is not None or composing:
            names = list(source_names(cfg, skip_dir))
        plan = copy_plan(cfg, seed, names or ())
        partners = partner_plan(cfg, seed, names)
        jobs = iter_jobs(cfg, lambda rel, why: unlisted.append((rel, why)), plan,
                         lambda rel, why: warned.append((rel, why)), skip_dir, partners)
    check_compositions(cfg, setup, partners)
    files = OutFiles(sink, setup.output_dir if setup is not None else None)  # label files beside the outputs
    checks = Checks(cfg, summary, plan, setup, inp, out, exists=sink.exists, files=files)
    planned: dict[int, list[str]] = {}  # every bucket's outputs in source order, for a sink that packs them
    for job in jobs:
        checks.note_extra(job)
        b = bucket_of(job.source, cfg.buckets)
        if b in owned:
            owned[b].append(job)
        if hasattr(sink, "plan"):
            planned.setdefault(b, []).extend(rel for _, rel in job.outputs)
    if hasattr(sink, "plan"):
        sink.plan([(b, planned[b], b in owned) for b in sorted(planned)])
    checks.describe_plan(report)
    header = header_line(cfg, seed, summary.targets, setup)
    recipe = digest([header.encode("utf-8")])

    # 2. done buckets, from one listing of the done folder and one read per owned marker
    done_before: list[int] = []
    stale: list[str] = []
    markers = layout.done_buckets()
    other = next((b for b in sorted(markers) if b not in owned), None)  # one other bucket tells B
    beyond = [b for b in markers if b >= cfg.buckets]
    if beyond or other is not None:
        marker = layout.read_marker(markers[beyond[0] if beyond else other]) or {}
        if beyond or marker.get("buckets", cfg.buckets) != cfg.buckets:
            raise UsageError(f"{outputs.shown!r} holds buckets of a run with --buckets "
                             f"{marker.get('buckets', 'another count')}, this run has {cfg.buckets}; use the "
                             "same --buckets (or another output folder)")
    for b, rel in sorted(markers.items()):
        if b not in owned:
            continue
        marker = layout.read_marker(rel)
        if marker is None:
            stale.append(rel)
            continue
        if marker.get("buckets") != cfg.buckets:
            raise UsageError(f"{outputs.shown!r} holds buckets of a run with --buckets {marker.get('buckets')}, "
                             f"this run has {cfg.buckets}; use the same --buckets (or another output folder)")
        if cfg.on_exists == "overwrite":
            stale.append(rel)
        elif marker.get("recipe_digest") != recipe:
            raise UsageError(f"bucket {b} of {outputs.shown!r} was done with a different recipe (seed, ops, output "
                             "options or folders); use the same options, --on-exists overwrite, or another "
                             "output folder")
        elif marker.get("sources_digest") != sources_digest(j.source for j in owned[b]):
            stale.append(rel)  # the input changed in this bucket: redo it
        else:
            done_before.append(b)
    for b in done_before:
        del owned[b]

    # 3. checks over the outputs still to make
    if outputs.remote and cfg.on_exists != "overwrite" and any(owned.values()):
        sink.list_once()  # one listing instead of a request per output
    for bucket_jobs in owned.values():
        for job in bucket_jobs:
            checks.job(job)
    run_files = checks.run_files(shared=True, resumed=bool(markers))
    checks.refuse_clashes(lambda rel: rel if rel.startswith("/") else outputs.shown.rstrip("/") + "/" + rel,
                          f" of shard {shard}")
    report_listing(summary, report, warned, unlisted)
    if cfg.dry_run:
        summary.elapsed = time.perf_counter() - started
        return summary

    # 4. run the buckets
    try:
        sink.prepare()
        if not outputs.remote:
            remove_stale_temporaries(cfg.output_dir)
        for rel in stale:
            layout.remove(rel)
        for path, payload in run_files:  # the dataset YAML: every shard writes the same bytes
            write_run_file(path, payload, cfg.on_exists != "error", inp, files)
    except OSError as exc:
        raise FatalWriteError(f"cannot write to {outputs.shown!r}: {exc.strerror or exc}") from None
    plan = [BucketWork(b, tuple(bucket_jobs)) for b, bucket_jobs in sorted(owned.items())]
    workers = min(cfg.effective_workers, max(1, summary.discovered))
    executor = make_executor(cfg.executor, workers, cfg.scheduler)
    progress = Progress(summary.discovered, cfg.progress, report)
    say = progress.say
    finished: list[int] = []

    def take(outcome: BucketOutcome) -> bool:
        summary.written += outcome.written
        summary.skipped += outcome.skipped
        if outcome.decoded is not None:
            summary.decoded = (summary.decoded or 0) + outcome.decoded
        for source, warning in outcome.warnings:
            say(f"augcli: {shown(source)}: warning: {warning}")
        if summary.labels is not None:
            add_counts(summary.labels, outcome.labels)
        for failure in outcome.failed:
            say(failure_line(failure))
            summary.failed.append(failure)
        if outcome.fatal:
            summary.fatal = outcome.fatal
            return False
        if outcome.done:
            finished.append(outcome.bucket)
        return not (cfg.strict and summary.failed)

    ctx = WorkContext(cfg, seed, setup, sources=sources if sources.remote else None, sink=sink)
    try:
        executor.run(ctx, header, plan, take, say, progress.update)
    except KeyboardInterrupt:
        summary.interrupted = True
    except ExecutorError as exc:
        summary.fatal = str(exc)
    except OSError as exc:
        summary.fatal = f"cannot write the bookkeeping of {outputs.shown!r}: {exc.strerror or exc}"
    finally:
        progress.close()
    extra: dict[str, Any] = {"buckets": cfg.buckets, "buckets_done_before": len(done_before),
                             "buckets_finished": len(finished), "buckets_owned": len(plan) + len(done_before)}
    # 5. the last shard to finish writes the COCO JSON and the manifest
    all_done = not (summary.fatal or summary.interrupted) and len(layout.done_buckets()) >= cfg.buckets
    if all_done and setup is not None and setup.coco is not None:
        try:
            write_coco(layout, setup, cfg.buckets, inp, files)  # type: ignore[arg-type]
        except UsageError as exc:
            say(f"augcli: note: the COCO JSON was not written: {exc}")
        except OSError as exc:
            summary.fatal = f"cannot write {exc.filename}: {exc.strerror or exc}"
    if all_done and not summary.fatal:
        try:  # the layout's own index (hf metadata.jsonl), from every bucket's part
            sink.finish(cfg.buckets)
        except OSError as exc:
            summary.fatal = f"cannot write the {cfg.layout} index of {outputs.shown!r}: {exc.strerror or exc}"
    if all_done and cfg.write_manifest and not summary.fatal:
        try:
            result = merge(outputs, cfg.manifest if cfg.manifest is not None else None, coco=False)
            summary.manifest = str(result.manifest)
        except UsageError as exc:  # e.g. a concurrent shard of another recipe: the parts say why
            say(f"augcli: note: the manifest was not merged: {exc}")
        except OSError as exc:
            summary.fatal = f"cannot write the manifest: {exc.strerror or exc}"
    summary.elapsed = time.perf_counter() - started
    write_stats(cfg, summary, workers, store=outputs, **extra)
    if summary.fatal:
        raise FatalWriteError(f"{summary.fatal}; stopped (outputs already written are complete)")
    return summary
