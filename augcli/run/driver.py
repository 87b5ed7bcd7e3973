"""Records of a bucketed run: ``expand --shard I/N``, ``--executor dask``, object storage, or a
layout that packs outputs (webdataset). The orchestrator (augcli/run/orchestrate.py) lists, plans
and checks as for any run; here:

1. The listing names every source (names depend on siblings, so the shard filter comes after
   naming); this shard keeps the jobs of the buckets it owns.
2. Buckets whose done marker matches (same recipe, same source list) are skipped without looking at
   their outputs; the stale marker of a bucket that must be redone is removed first.
3. ``--on-exists error`` looks only at the outputs of this shard's buckets still to do (on object
   storage: one listing of the output, never a request per output).
4. The executor runs the buckets; each writes its manifest part, then its done marker.
5. When every bucket of the output is done, the parts are merged into manifest.jsonl (the same
   bytes whichever shard gets there last, or ``augcli merge`` later), after the COCO JSON and the
   layout's index; every run leaves its stats under .augcli/stats.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..config import RunConfig
from ..errors import UsageError
from ..imageio import remove_stale_temporaries
from ..labels.loss import add as add_counts
from .buckets import Layout, digest, sources_digest, write_stats
from .discover import SourceJob
from .executors import BucketOutcome, BucketWork, ExecutorError, make_executor
from .merge import merge, write_coco, write_image_sets
from .places import OutFiles, Placement
from .prepare import Checks
from .report import Progress, Summary, failure_line, warning_line
from .shard import Shard, bucket_of
from .work import WorkContext


class BucketedRecords:
    notes_early = True  # the copy plan's notes come with the recipe, before the resume checks
    shared = True  # other shards write the same run files (the dataset YAML)

    def reads_plans(self) -> bool:
        return True  # every bucket's manifest part records them, for the merge

    def __init__(self, cfg: RunConfig, place: Placement) -> None:
        if cfg.seed is None and cfg.shard is not None and cfg.shard.count > 1:
            raise UsageError("a sharded run needs --seed: every shard must draw from the same seed")
        self.cfg, self.place = cfg, place
        self.outputs, self.sink = place.outputs, place.sink
        self.exists = self.sink.exists
        self.shard: Shard = cfg.shard if cfg.shard is not None else Shard(0, 1)
        self.scope = f" of shard {self.shard}"
        self.layout = Layout(self.outputs)
        self.setup: Any = None
        self.owned: dict[int, list[SourceJob]] = {}
        self.planned: dict[int, list[str]] = {}  # every bucket's outputs in source order, for a sink that packs them
        self.done_before: list[int] = []
        self.stale: list[str] = []
        self.finished: list[int] = []
        self.buckets_run = 0
        self.all_done: bool | None = None
        self.files = OutFiles()

    def begin(self, cfg: RunConfig, setup: Any, report: Callable[[str], None]) -> None:
        self.cfg, self.setup = cfg, setup
        self.owned = {b: [] for b in range(self.shard.index, cfg.buckets, self.shard.count)}
        if self.shard.index >= cfg.buckets:
            report(f"augcli: note: shard {self.shard} owns no bucket (there are {cfg.buckets}; use --buckets)")

    def listed(self, job: SourceJob, checks: Checks) -> None:
        b = bucket_of(job.source, self.cfg.buckets)
        if b in self.owned:
            self.owned[b].append(job)
        if hasattr(self.sink, "plan"):
            self.planned.setdefault(b, []).extend(rel for _, rel in job.outputs)

    def resume(self, header: str, checks: Checks, report: Callable[[str], None]) -> bool:
        """Drop the buckets done before (done markers of this recipe and these sources), note the
        stale markers, then check the outputs still to make. True if the output holds done markers."""
        cfg, owned, outputs = self.cfg, self.owned, self.outputs
        if hasattr(self.sink, "plan"):
            self.sink.plan([(b, self.planned[b], b in owned) for b in sorted(self.planned)])
        recipe = digest([header.encode("utf-8")])
        markers = self.layout.done_buckets()  # one listing of the done folder, one read per owned marker
        other = next((b for b in sorted(markers) if b not in owned), None)  # one other bucket tells B
        beyond = [b for b in markers if b >= cfg.buckets]
        if beyond or other is not None:
            marker = self.layout.read_marker(markers[beyond[0] if beyond else other]) or {}
            if beyond or marker.get("buckets", cfg.buckets) != cfg.buckets:
                raise UsageError(f"{outputs.shown!r} holds buckets of a run with --buckets "
                                 f"{marker.get('buckets', 'another count')}, this run has {cfg.buckets}; use the "
                                 "same --buckets (or another output folder)")
        for b, rel in sorted(markers.items()):
            if b not in owned:
                continue
            marker = self.layout.read_marker(rel)
            if marker is None:
                self.stale.append(rel)
                continue
            if marker.get("buckets") != cfg.buckets:
                raise UsageError(f"{outputs.shown!r} holds buckets of a run with --buckets {marker.get('buckets')}, "
                                 f"this run has {cfg.buckets}; use the same --buckets (or another output folder)")
            if cfg.on_exists == "overwrite":
                self.stale.append(rel)
            elif marker.get("recipe_digest") != recipe:
                raise UsageError(f"bucket {b} of {outputs.shown!r} was done with a different recipe (seed, ops, "
                                 "output options or folders); use the same options, --on-exists overwrite, or "
                                 "another output folder")
            elif marker.get("sources_digest") != sources_digest(j.source for j in owned[b]):
                self.stale.append(rel)  # the input changed in this bucket: redo it
            else:
                self.done_before.append(b)
        for b in self.done_before:
            del owned[b]
        if outputs.remote and cfg.on_exists != "overwrite" and any(owned.values()):
            self.sink.list_once()  # one listing instead of a request per output
        for bucket_jobs in owned.values():
            for job in bucket_jobs:
                checks.job(job)
        return bool(markers)

    def clash_name(self, rel: str) -> str:
        return rel if rel.startswith("/") else self.outputs.shown.rstrip("/") + "/" + rel

    def prepare(self, header: str, files: OutFiles) -> None:
        self.header, self.files = header, files
        self.sink.prepare()
        if not self.outputs.remote:
            remove_stale_temporaries(self.cfg.output_dir)
        for rel in self.stale:
            self.layout.remove(rel)

    def run(self, ctx: WorkContext, again: Callable[[], Iterable[SourceJob]], workers: int, summary: Summary,
            progress: Progress) -> None:
        """The owned buckets through the executor; each outcome tallied as its bucket finishes."""
        cfg, say = self.cfg, progress.say
        plan = [BucketWork(b, tuple(bucket_jobs)) for b, bucket_jobs in sorted(self.owned.items())]
        self.buckets_run = len(plan)
        executor = make_executor(cfg.executor, workers, cfg.scheduler)

        def take(outcome: BucketOutcome) -> bool:
            summary.written += outcome.written
            summary.skipped += outcome.skipped
            if outcome.decoded is not None:
                summary.decoded = (summary.decoded or 0) + outcome.decoded
            for source, warning in outcome.warnings:
                say(warning_line(source, warning))
            if summary.labels is not None:
                add_counts(summary.labels, outcome.labels)
            for failure in outcome.failed:
                say(failure_line(failure))
                summary.failed.append(failure)
            if outcome.fatal:
                summary.fatal = outcome.fatal
                return False
            if outcome.done:
                self.finished.append(outcome.bucket)
            return not (cfg.strict and summary.failed)

        try:
            executor.run(ctx, self.header, plan, take, say, progress.update)
        except UsageError:
            self.all_done = False  # the engine did not start (no Dask): nothing to finish, no stats
            raise
        except ExecutorError as exc:
            summary.fatal = str(exc)
        except OSError as exc:
            summary.fatal = f"cannot write the bookkeeping of {self.outputs.shown!r}: {exc.strerror or exc}"

    def complete(self, summary: Summary) -> bool:
        """Every bucket of the output is done (by this shard or others): the last one writes the
        run's files."""
        if self.all_done is None:
            self.all_done = not (summary.fatal or summary.interrupted) and \
                len(self.layout.done_buckets()) >= self.cfg.buckets
        return self.all_done

    def write_collected(self, say: Callable[[str], None]) -> None:
        if self.setup is not None and self.setup.coco is not None:
            try:
                write_coco(self.layout, self.setup, self.cfg.buckets, self.place.inp, self.files)  # type: ignore[arg-type]
            except UsageError as exc:
                say(f"augcli: note: the COCO JSON was not written: {exc}")
        if self.setup is not None and self.setup.image_sets:
            try:
                write_image_sets(self.layout, self.setup, self.cfg.buckets, self.place.inp, self.files)  # type: ignore[arg-type]
            except UsageError as exc:
                say(f"augcli: note: the VOC image-set lists were not written: {exc}")

    def write_index(self) -> None:
        self.sink.finish(self.cfg.buckets)  # from every bucket's part

    def close_manifest(self, summary: Summary, say: Callable[[str], None]) -> None:
        if not (self.complete(summary) and self.cfg.write_manifest and not summary.fatal):
            return
        try:
            result = merge(self.outputs, self.cfg.manifest if self.cfg.manifest is not None else None, coco=False)
            summary.manifest = str(result.manifest)
        except UsageError as exc:  # e.g. a concurrent shard of another recipe: the parts say why
            say(f"augcli: note: the manifest was not merged: {exc}")

    def after(self, summary: Summary, workers: int) -> None:
        write_stats(self.cfg, summary, workers, store=self.outputs, buckets=self.cfg.buckets,
                    buckets_done_before=len(self.done_before), buckets_finished=len(self.finished),
                    buckets_owned=self.buckets_run + len(self.done_before))
