"""A bucketed run: ``expand --shard I/N`` (or ``--executor dask``).

1. One walk of the input names every source (names depend on siblings, so the shard filter comes
   after naming) and keeps the jobs of the buckets this shard owns.
2. Buckets whose done marker matches (same recipe, same source list) are skipped without looking at
   their outputs; the stale marker of a bucket that must be redone is removed first.
3. ``--on-exists error`` looks only at the outputs of this shard's buckets still to do.
4. The executor runs the buckets; each writes its manifest part, then its done marker.
5. When every bucket of the output is done, the parts are merged into manifest.jsonl (the same
   bytes whichever shard gets there last, or ``augcli merge`` later).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ..config import RunConfig
from ..errors import UsageError
from ..imageio import remove_stale_temporaries
from ..runner import (FatalWriteError, Summary, WorkContext, _inside, _progress, check_folders, header_line,
                      iter_jobs, write_stats)
from .buckets import Layout, digest, read_marker, sources_digest
from .executors import BucketOutcome, BucketWork, make_executor
from .merge import merge
from .shard import Shard, bucket_of


def run_buckets(cfg: RunConfig, report: Callable[[str], None]) -> Summary:
    started = time.perf_counter()
    inp, out = check_folders(cfg.input_dir, cfg.output_dir)
    if cfg.seed is None:
        raise UsageError("a sharded or distributed run needs --seed: every shard must draw from the same seed")
    shard: Shard = cfg.shard if cfg.shard is not None else Shard(0, 1)
    layout = Layout(cfg.output_dir)
    header = header_line(cfg, cfg.seed)
    recipe = digest([header.encode("utf-8")])
    summary = Summary(seed=cfg.seed, dry_run=cfg.dry_run)
    if shard.index >= cfg.buckets:
        report(f"augcli: note: shard {shard} owns no bucket (there are {cfg.buckets}; use --buckets)")

    # 1. the jobs of this shard's buckets, named among all their siblings
    owned: dict[int, list] = {b: [] for b in range(shard.index, cfg.buckets, shard.count)}
    unlisted: list[tuple[str, str]] = []
    for job in iter_jobs(cfg, lambda rel, why: unlisted.append((rel, why))):
        b = bucket_of(job.source, cfg.buckets)
        if b in owned:
            owned[b].append(job)

    # 2. done buckets, from one listing of the done folder and one read per owned marker
    done_before: list[int] = []
    stale: list[Path] = []
    markers = layout.done_buckets()
    other = next((b for b in sorted(markers) if b not in owned), None)  # one other bucket tells B
    beyond = [b for b in markers if b >= cfg.buckets]
    if beyond or other is not None:
        marker = read_marker(markers[beyond[0] if beyond else other]) or {}
        if beyond or marker.get("buckets", cfg.buckets) != cfg.buckets:
            raise UsageError(f"{str(cfg.output_dir)!r} holds buckets of a run with --buckets "
                             f"{marker.get('buckets', 'another count')}, this run has {cfg.buckets}; use the "
                             "same --buckets (or another output folder)")
    for b, path in sorted(markers.items()):
        if b not in owned:
            continue
        marker = read_marker(path)
        if marker is None:
            stale.append(path)
            continue
        if marker.get("buckets") != cfg.buckets:
            raise UsageError(f"{str(cfg.output_dir)!r} holds buckets of a run with --buckets {marker.get('buckets')}, "
                             f"this run has {cfg.buckets}; use the same --buckets (or another output folder)")
        if cfg.on_exists == "overwrite":
            stale.append(path)
        elif marker.get("recipe_digest") != recipe:
            raise UsageError(f"bucket {b} of {str(cfg.output_dir)!r} was done with a different recipe (seed, "
                             "ops, output options or folders); use the same options, --on-exists overwrite, "
                             "or another output folder")
        elif marker.get("sources_digest") != sources_digest(j.source for j in owned[b]):
            stale.append(path)  # the input changed in this bucket: redo it
        else:
            done_before.append(b)
    for b in done_before:
        del owned[b]

    # 3. checks over the outputs still to make
    folders: dict[str, Path] = {}
    clash: list[str] = []
    for b, jobs in owned.items():
        for job in jobs:
            summary.discovered += 1
            summary.planned += len(job.outputs)
            for _, rel in job.outputs:
                parent = rel.rpartition("/")[0]
                if parent not in folders:
                    folders[parent] = (out / parent).resolve()
                if _inside(folders[parent] / rel.rpartition("/")[2], inp):
                    raise UsageError(f"output {rel!r} would land inside the input folder; choose another output folder")
                if cfg.on_exists == "error" and (cfg.output_dir / rel).exists():
                    clash.append(rel)
                if cfg.dry_run:
                    summary.outputs.append((job.source, rel))
    if clash:
        raise UsageError(f"{len(clash)} output file(s) of shard {shard} already exist, e.g. "
                         f"{str(cfg.output_dir / clash[0])!r}; use --on-exists skip or overwrite")
    for rel, why in unlisted:
        report(f"augcli: {rel}: {why}")
        summary.failed.append({"source": rel, "output": None, "error": why})
    if cfg.dry_run:
        summary.elapsed = time.perf_counter() - started
        return summary

    # 4. run the buckets
    try:
        cfg.output_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(cfg.output_dir)
        for path in stale:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise FatalWriteError(f"cannot write to {str(cfg.output_dir)!r}: {exc.strerror or exc}") from None
    plan = [BucketWork(b, tuple(jobs)) for b, jobs in sorted(owned.items())]
    workers = min(cfg.effective_workers, max(1, summary.discovered))
    executor = make_executor(cfg.executor, workers, cfg.scheduler)
    bar = _progress(summary.discovered, cfg.progress)
    finished: list[int] = []

    def say(msg: str) -> None:
        if bar is not None:
            bar.write(msg, file=sys.stderr)
        else:
            report(msg)

    def sink(outcome: BucketOutcome) -> bool:
        summary.written += outcome.written
        summary.skipped += outcome.skipped
        for failure in outcome.failed:
            say(f"augcli: {failure['source']}: {failure['error']}")
            summary.failed.append(failure)
        if outcome.fatal:
            summary.fatal = outcome.fatal
            return False
        if outcome.done:
            finished.append(outcome.bucket)
        return not (cfg.strict and summary.failed)

    def progress(n: int) -> None:
        if bar is not None:
            bar.update(n)

    try:
        executor.run(WorkContext(cfg, cfg.seed), header, plan, sink, say, progress)
    except KeyboardInterrupt:
        summary.interrupted = True
    except OSError as exc:
        summary.fatal = f"cannot write the bookkeeping of {str(cfg.output_dir)!r}: {exc.strerror or exc}"
    finally:
        if bar is not None:
            bar.close()
    extra: dict[str, Any] = {"buckets": cfg.buckets, "buckets_done_before": len(done_before),
                             "buckets_finished": len(finished), "buckets_owned": len(plan) + len(done_before)}
    # 5. the last shard to finish writes the manifest
    if not (summary.fatal or summary.interrupted) and cfg.manifest_path is not None:
        if len(layout.done_buckets()) >= cfg.buckets:
            try:
                summary.manifest = str(merge(cfg.output_dir, cfg.manifest_path).manifest)
            except UsageError as exc:  # e.g. a concurrent shard of another recipe: the parts say why
                say(f"augcli: note: the manifest was not merged: {exc}")
    summary.elapsed = time.perf_counter() - started
    write_stats(cfg, summary, workers, **extra)
    if summary.fatal:
        raise FatalWriteError(f"{summary.fatal}; stopped (outputs already written are complete)")
    return summary
