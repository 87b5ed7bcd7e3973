"""``expand`` on one machine: discovery, the copy plan, the checks before anything is written, the
engine (in-process or augcli's pool), the manifest, the COCO JSON and dataset YAML, and the tally.
Sharded, Dask and object-storage runs go to augcli/run/driver.py.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from typing import Any, Callable, Iterator

from . import fsnames
from .config import RunConfig
from .errors import FatalWriteError, UsageError
from .imageio import remove_stale_temporaries
from .manifest import ManifestWriter, header_line
from .run.discover import SourceJob, iter_jobs, plan_outputs  # noqa: F401 - public here too
from .run.places import check_folders, inside, outside_links, write_run_file
from .run.pool import results_in_pool, results_in_process
from .run.report import Summary, count_labels, one_line_reporter, progress_bar, stderr_report
from .run.work import WorkContext, process_source, process_source_safely  # noqa: F401 - public here too
from .seeding import new_root_seed
from .targets import class_of, plan_copies

__all__ = ["FatalWriteError", "SourceJob", "Summary", "WorkContext", "check_folders", "iter_jobs", "plan_outputs",
           "process_source", "process_source_safely", "run"]


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
    setup = resolve(cfg.labels, inp, out, cfg.pipeline, one_line_reporter(report))
    if setup is not None and setup.carries:
        raise UsageError(why)


def run(cfg: RunConfig, report: Callable[[str], None] | None = None) -> Summary:
    """Expand ``cfg.input_dir`` into ``cfg.output_dir``. Raises UsageError for run-level problems
    (nothing is written then); per-file problems are reported through ``report`` (default: a line
    on stderr), recorded in the manifest and counted in the returned Summary."""
    report = report or stderr_report
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

        setup = resolve(cfg.labels, inp, out, cfg.pipeline, one_line_reporter(report))
    skip_dir = setup.skip_dir if setup is not None else None
    if cfg.follow_outside is None:  # auto: a run that carries labels reads nothing outside INPUT_DIR
        carries = setup is not None and setup.carries
        links = outside_links(inp, setup.image_links) if carries else ()
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
                if inside(path.resolve(), inp):
                    raise UsageError(f"label file {str(path)!r} would land inside the input folder")
                if cfg.on_exists == "error" and path.exists():
                    clash.append(str(path.relative_to(cfg.output_dir)) if inside(path, cfg.output_dir) else str(path))
                if cfg.dry_run:
                    summary.outputs.append((job.source, os.path.relpath(path, out) if inside(path, out) else str(path)))
    run_files = setup.run_files() if setup is not None else []
    for path in [p for p, _ in run_files] + (setup.final_paths() if setup is not None else []):
        if inside(path.resolve(), inp):  # e.g. OUTPUT/annotations linked to INPUT/annotations
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
            write_run_file(path, payload, cfg.on_exists != "error", inp)
    except OSError as exc:
        raise FatalWriteError(f"cannot write to {str(cfg.output_dir)!r}: {exc.strerror or exc}") from None
    bar = progress_bar(summary.discovered, cfg.progress)

    def say(msg: str) -> None:  # above the progress bar, when there is one
        if bar is not None:
            bar.write(msg, file=sys.stderr)
        else:
            report(msg)

    # Second pass: the same jobs again, streamed to the workers.
    jobs = iter_jobs(cfg, plan=plan, skip_dir=skip_dir)
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
                if manifest:
                    try:
                        manifest.add(rec)
                    except OSError as exc:
                        summary.fatal = f"cannot write the manifest: {exc.strerror or exc}"
                        manifest.discard()
                        manifest = None
                if summary.labels is not None and rec.get("labels"):
                    count_labels(summary.labels, rec["labels"])
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
                    write_run_file(path, payload, True, inp)
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
