"""Records of a run on one machine into a local folder: one stream of jobs through the in-process
engine or augcli's pool, each source's records taken in source order as they arrive, the manifest
written as they come, and no bookkeeping folder left behind (loaders that take every sub-folder of
OUTPUT_DIR as a class, such as torchvision ImageFolder, would take .augcli/ for one).

The steps around it (listing, plans, checks, the COCO JSON, the layout's index, the summary) are
the orchestrator's (augcli/run/orchestrate.py), the same as for a bucketed run.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..config import RunConfig
from ..imageio import remove_stale_temporaries
from ..manifest import ManifestWriter
from .discover import SourceJob
from .places import OutFiles, Placement, write_run_file
from .pool import engine_results
from .prepare import Checks
from .report import Progress, Summary, failure_line, tally, warning_line
from .sinks import TreeSink, take_objects
from .work import WorkContext


class StreamedRecords:
    notes_early = False  # the copy plan's notes follow the listing's warnings
    shared = False  # no other shard writes the same run files
    exists = None  # Checks looks at the local output folder itself (one look per folder)
    scope = ""  # a clash is named without a shard

    def __init__(self, cfg: RunConfig, place: Placement) -> None:
        self.cfg, self.place = cfg, place
        self.setup: Any = None
        self.manifest: ManifestWriter | None = None
        self.collector: Any = None  # COCO: one JSON written at the end
        self.lists: Any = None  # VOC's image-set lists, written at the end
        self.files = OutFiles()

    def begin(self, cfg: RunConfig, setup: Any, report: Callable[[str], None]) -> None:
        self.cfg, self.setup = cfg, setup

    def reads_plans(self) -> bool:
        """Only the manifest, the labels' tally and a layout that writes records read the plans."""
        return self.cfg.manifest_path is not None or self.setup is not None or type(self.place.sink) is not TreeSink

    def listed(self, job: SourceJob, checks: Checks) -> None:
        checks.job(job)  # every source is this run's: checked as it is listed, not kept

    def resume(self, header: str, checks: Checks, report: Callable[[str], None]) -> bool:
        return False  # nothing to resume: a second run checks the outputs themselves

    def clash_name(self, rel: str) -> str:
        return str(self.cfg.output_dir / rel)

    def prepare(self, header: str, files: OutFiles) -> None:
        cfg, self.files = self.cfg, files
        self.collector = self.setup.collector() if self.setup is not None else None
        self.lists = self.setup.image_set_lists() if self.setup is not None else None
        cfg.output_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(cfg.output_dir)
        self.manifest = ManifestWriter(cfg.manifest_path, header) if cfg.manifest_path else None

    def run(self, ctx: WorkContext, again: Callable[[], Iterable[SourceJob]], workers: int, summary: Summary,
            progress: Progress) -> None:
        """The jobs listed again, streamed to the engine; each source's records recorded in order.
        Stops at a fatal write error, or at the first failure under --strict."""
        cfg, say, sink = self.cfg, progress.say, self.place.sink
        results = engine_results(ctx, again(), workers, warn=say, total=summary.discovered)
        try:
            for records in results:
                for warning in (records[0].get("warnings") or []) if records else []:
                    say(warning_line(records[0]["source"], warning))
                for rec in records:
                    entry = take_objects(sink, rec)
                    if entry is not None and self.collector is not None:
                        self.collector.add({"_coco": entry})
                    if self.lists is not None:
                        self.lists.add(rec)
                    self._add(rec, summary)
                    failure = tally(summary, rec)
                    if failure is not None:
                        say(failure_line(failure))
                progress.update()
                if summary.fatal or (cfg.strict and summary.failed):
                    break
        finally:
            if hasattr(results, "close"):
                results.close()  # stops the pool: in-flight chunks finish, queued ones are dropped

    def _add(self, rec: dict[str, Any], summary: Summary) -> None:
        if self.manifest is None:
            return
        try:
            self.manifest.add(rec)
        except OSError as exc:
            summary.fatal = f"cannot write the manifest: {exc.strerror or exc}"
            self.manifest.discard()
            self.manifest = None

    def complete(self, summary: Summary) -> bool:
        return True  # the COCO JSON and the index list exactly the outputs made, interrupted or not

    def write_collected(self, say: Callable[[str], None]) -> None:
        for collected in (self.collector, self.lists):
            if collected is not None:
                for path, payload in collected.payloads():
                    write_run_file(path, payload, True, self.place.inp, self.files)

    def write_index(self) -> None:
        self.place.sink.finish()

    def close_manifest(self, summary: Summary, say: Callable[[str], None]) -> None:
        if self.manifest is None:
            return
        if summary.fatal:
            self.manifest.discard()
        else:
            summary.manifest = str(self.manifest.close())

    def after(self, summary: Summary, workers: int) -> None:
        pass  # the run's events are the summary line and --json: no stats file
