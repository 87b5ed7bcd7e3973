"""What a run tells its user: the Summary (the tally of records), the progress bar, report lines."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import fsnames
from ..labels import loss
from ..version import __version__


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
    labels: dict[str, Any] | None = None  # object counts (and label loss), when the run carries labels
    targets: dict[str, Any] | None = None  # the copy plan of --per-class / --total (CopyPlan.describe)
    warnings: int = 0  # files and folders passed over with a warning line (links not followed...)
    decoded: int | None = None  # compositions: source decodes in all (partners included)

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
            **({"decoded": self.decoded,
                "decodes_per_source": round(self.decoded / max(1, self.discovered), 3)}
               if self.decoded is not None else {}),
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
            if lab.get("loss"):
                text += f"\naugcli: labels: {loss.summary_line(lab['loss'])}"
            if lab.get("paste_empty"):
                text += (f"\naugcli: labels: warning: --copy-paste pasted nothing into {lab['paste_empty']} outputs: "
                         "their partner had no object with an outline to cut out (YOLO segment polygons, "
                         "COCO polygons or masks): an image without objects, or box labels only")
            if lab.get("require"):
                req = lab["require"]
                text += (f"\naugcli: labels: --require: {req['met']} outputs met it, {req['not_met']} requirement "
                         f"not met (best try written), {req['redrawn']} redrawn")
        return text


def stderr_report(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def one_line_reporter(report: Callable[[str], None]) -> Callable[[str], None]:
    """``report`` for messages that quote names from the dataset (file names, ids): control
    characters are escaped, so no terminal escape in a name reaches the terminal."""
    return lambda msg: report(fsnames.one_line(msg))


LABEL_COUNTS = ("objects_in", "objects_out", "unlabeled", "label_files", "masks")


def label_counts() -> dict[str, int]:
    return dict.fromkeys(LABEL_COUNTS, 0)


def count_labels(totals: dict[str, Any], entry: dict[str, Any], rec: dict[str, Any] | None = None) -> None:
    """Count one output's labels entry (``rec``: its record, for the ops applied and ``--require``)."""
    loss.tally(totals, entry, (rec or {}).get("ops") or [])
    if rec is not None and "require_met" in rec:
        req = totals.setdefault("require", {"met": 0, "not_met": 0, "redrawn": 0})
        req["met" if rec["require_met"] else "not_met"] += 1
        req["redrawn"] += 1 if rec.get("try") else 0
    if rec is not None and any(step.get("op") == "copy_paste" and not step.get("objects")
                               for step in rec.get("compose") or ()):
        # the partner had nothing to paste (box labels have no outline): said in the summary
        totals["paste_empty"] = totals.get("paste_empty", 0) + 1
    totals["objects_in"] += entry.get("in", 0)
    totals["objects_out"] += entry.get("out", 0)
    totals["unlabeled"] += 1 if entry.get("unlabeled") else 0
    totals["label_files"] += 1 if entry.get("file") else 0
    totals["masks"] += 1 if entry.get("mask") else 0


def tally(counts: Any, rec: dict[str, Any]) -> dict[str, Any] | None:
    """Count one record into ``counts`` (a Summary, or one bucket's outcome): written, skipped (an
    output that existed), failed, the fatal error, label counts. Returns the failure it adds, if any."""
    if counts.labels is not None and rec.get("labels"):
        count_labels(counts.labels, rec["labels"], rec)
    if "_decoded" in rec:
        counts.decoded = (getattr(counts, "decoded", None) or 0) + rec.pop("_decoded")
    if rec.get("fatal"):
        counts.fatal = rec["error"]
        return None
    if rec.get("existing") or rec["status"] == "skipped":
        counts.skipped += 1
    elif rec["status"] == "ok":
        counts.written += 1
    else:
        failure = {"source": rec["source"], "output": rec["output"], "error": rec["error"]}
        counts.failed.append(failure)
        return failure
    return None


def warning_line(source: str, warning: str) -> str:
    """A warning about one source (or a file passed over), for stderr."""
    return f"augcli: {fsnames.shown(source)}: warning: {warning}"


def failure_line(failure: dict[str, Any]) -> str:
    """A failure for stderr: names and errors escaped (no terminal escape from a file name)."""
    return f"augcli: {fsnames.shown(failure['source'])}: {fsnames.one_line(str(failure['error']))}"


class Progress:
    """The progress bar (tqdm, on stderr, when enabled) and report lines printed above it."""

    def __init__(self, total: int, enabled: bool, report: Callable[[str], None]) -> None:
        self.bar = progress_bar(total, enabled)
        self.report = report

    def say(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            self.report(msg)

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm  # imported here: keeps `augcli --help` fast

    tqdm.monitor_interval = 0  # no monitor thread: worker pools are forked from a single-threaded parent
    return tqdm(total=total, unit="img", file=sys.stderr, disable=None, dynamic_ncols=True, leave=False)
