"""``expand`` on one machine: discovery, the copy plan, the checks before anything is written, the
engine (in-process or augcli's pool), the manifest, the COCO JSON and dataset YAML, and the tally.
Sharded, Dask and object-storage runs go to augcli/run/driver.py.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

from . import fsnames
from .config import RunConfig
from .errors import FatalWriteError, UsageError
from .imageio import remove_stale_temporaries
from .manifest import ManifestWriter, header_line
from .run.discover import SourceJob, iter_jobs, plan_outputs  # noqa: F401 - public here too
from .run.places import check_folders, open_placement, write_run_file  # noqa: F401 - check_folders: public here too
from .run.prepare import Checks, check_compositions, copy_plan, partner_plan, report_listing, resolve_labels, source_names
from .run.pool import results_in_pool, results_in_process
from .run.sinks import take_objects
from .run.report import Progress, Summary, failure_line, stderr_report, tally
from .run.work import WorkContext, process_source, process_source_safely  # noqa: F401 - public here too
from .seeding import new_root_seed

__all__ = ["FatalWriteError", "SourceJob", "Summary", "WorkContext", "check_folders", "iter_jobs", "plan_outputs",
           "process_source", "process_source_safely", "run"]


def run(cfg: RunConfig, report: Callable[[str], None] | None = None) -> Summary:
    """Expand ``cfg.input_dir`` into ``cfg.output_dir``. Raises UsageError for run-level problems
    (nothing is written then); per-file problems are reported through ``report`` (default: a line
    on stderr), recorded in the manifest and counted in the returned Summary."""
    report = report or stderr_report
    started = time.perf_counter()
    from . import kernels

    if kernels.env_error():
        raise UsageError(kernels.env_error())
    if cfg.shard is not None or cfg.executor != "local" or cfg.remote or cfg.layout == "webdataset":
        from .run.driver import run_buckets  # sharded / bucketed runs: augcli/run/

        return run_buckets(cfg, report)
    place = open_placement(cfg)  # local folders (object storage goes to the driver above)
    inp, out = place.inp, place.out
    cfg, setup = resolve_labels(cfg, inp, out, report)
    skip_dir = setup.skip_dir if setup is not None else None
    summary = Summary(seed=cfg.seed if cfg.seed is not None else new_root_seed(), dry_run=cfg.dry_run)
    unlisted: list[tuple[str, str]] = []
    warned: list[tuple[str, str]] = []
    composing = cfg.compose is not None and cfg.compose.active
    names = list(source_names(cfg, skip_dir)) if cfg.targets is not None or composing else None
    plan = copy_plan(cfg, summary.seed, names or ())
    partners = partner_plan(cfg, summary.seed, names)
    check_compositions(cfg, setup, partners)
    checks = Checks(cfg, summary, plan, setup, inp, out)
    # First pass, over names only: count, check, and refuse before anything is written.
    for job in iter_jobs(cfg, lambda rel, why: unlisted.append((rel, why)), plan,
                         lambda rel, why: warned.append((rel, why)), skip_dir, partners):
        checks.note_extra(job)
        checks.job(job)
    run_files = checks.run_files()
    checks.refuse_clashes(lambda rel: str(cfg.output_dir / rel))
    report_listing(summary, report, warned, unlisted)
    checks.describe_plan(report)
    if cfg.dry_run:
        summary.elapsed = time.perf_counter() - started
        return summary

    ctx = WorkContext(cfg, summary.seed, setup, sink=place.sink)
    collector = setup.collector() if setup is not None else None  # COCO: one JSON written at the end
    try:
        cfg.output_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(cfg.output_dir)
        manifest = ManifestWriter(cfg.manifest_path, header_line(cfg, summary.seed, summary.targets, setup)) \
            if cfg.manifest_path else None
        for path, payload in run_files:  # the dataset YAML
            write_run_file(path, payload, cfg.on_exists != "error", inp)
    except OSError as exc:
        raise FatalWriteError(f"cannot write to {str(cfg.output_dir)!r}: {exc.strerror or exc}") from None
    progress = Progress(summary.discovered, cfg.progress, report)
    say = progress.say

    # Second pass: the same jobs again, streamed to the workers.
    jobs = iter_jobs(cfg, plan=plan, skip_dir=skip_dir, partners=partners)
    workers = min(cfg.effective_workers, max(1, summary.discovered))
    if workers <= 1:
        results: Iterator[list[dict[str, Any]]] = results_in_process(ctx, jobs)
    else:
        results = results_in_pool(ctx, jobs, workers, warn=say, total=summary.discovered)

    try:
        for records in results:
            for warning in (records[0].get("warnings") or []) if records else []:
                say(f"augcli: {fsnames.shown(records[0]['source'])}: warning: {warning}")
            for rec in records:
                if collector is not None:
                    collector.add(rec.get("labels") if rec["status"] in ("ok", "skipped") else None)
                    if rec.get("labels"):
                        rec["labels"].pop("_coco", None)
                take_objects(place.sink, rec)
                if manifest:
                    try:
                        manifest.add(rec)
                    except OSError as exc:
                        summary.fatal = f"cannot write the manifest: {exc.strerror or exc}"
                        manifest.discard()
                        manifest = None
                failure = tally(summary, rec)
                if failure is not None:
                    say(failure_line(failure))
            progress.update()
            if summary.fatal or (cfg.strict and summary.failed):
                break
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if hasattr(results, "close"):
            results.close()  # stops the pool: in-flight chunks finish, queued ones are dropped
        progress.close()
        if collector is not None and not summary.fatal:
            try:  # after the images: the COCO JSON lists exactly the outputs that were made
                for path, payload in collector.payloads():
                    write_run_file(path, payload, True, inp)
            except OSError as exc:
                summary.fatal = f"cannot write {exc.filename}: {exc.strerror or exc}"
        if not summary.fatal:
            try:  # after the images, like the COCO JSON: the layout's own index (hf metadata.jsonl)
                place.sink.finish()
            except OSError as exc:
                summary.fatal = f"cannot write the {cfg.layout} index of {str(cfg.output_dir)!r}: {exc.strerror or exc}"
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
