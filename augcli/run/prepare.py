"""What every run does before it writes anything, on any engine and placement: resolve the label
setup, draw the copy plan of dataset targets, and check every planned output (count it, refuse one
that would land inside the input or that exists under ``--on-exists error``, list it for a dry run).

A sharded run checks only the outputs of its own buckets, and the copy plan is a pure function of
the listing and the seed, so every shard draws the same plan without talking to the others.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import fsnames
from ..config import RunConfig
from ..errors import UsageError
from ..targets import CopyPlan, class_of, plan_copies
from .discover import SourceJob, iter_jobs
from .places import OutFiles, inside, outside_links
from .report import Summary, label_counts, one_line_reporter, warning_line
from .sinks import WITH_OBJECTS


def resolve_labels(cfg: RunConfig, inp: Path, out: Path, report: Callable[[str], None]) -> tuple[RunConfig, Any]:
    """The run's label setup (augcli.labels.setup.LabelSetup or None), and the config with
    ``follow_outside`` decided: a run that carries labels reads nothing outside INPUT_DIR, except the
    image folders its label layout pairs with labels (each named in one line)."""
    setup = None
    said = one_line_reporter(report)
    info = said if cfg.progress else lambda msg: None  # the lines saying what was found: -q drops them
    if cfg.labels is not None:
        from ..labels.detect import resolve

        setup = resolve(cfg.labels, inp, out, cfg.pipeline, said, info=info, lists=cfg.layout != "webdataset")
        if setup is not None and cfg.layout in WITH_OBJECTS:
            setup = replace(setup, objects=True)
        if setup is not None and setup.carries:  # a policy keeps to the ops labels can follow
            pipeline, notes = cfg.pipeline.for_labels()
            for note in notes:
                report(note)
            cfg = replace(cfg, pipeline=pipeline)
        if cfg.labels.output and (setup is None or setup.format is None):
            report(f"augcli: note: --labels-output {cfg.labels.output}: no YOLO, COCO or VOC labels were found; "
                   "the images are written without labels")
    check_require(cfg, setup)
    if cfg.labels is not None and cfg.labels.format == "auto" and (setup is None or not setup.carries):
        from ..labels.layouts import labels_outside

        beside = labels_outside(inp)
        if beside is not None:  # labels the user has, that this run would not carry: never silently
            raise UsageError(f"the labels of these images are in {fsnames.shown(str(beside))}, outside INPUT_DIR, so "
                             "they would not be carried: run on the dataset's root folder (and take the split "
                             "from the output), or pass --labels none to expand the images alone")
    if setup is not None and getattr(cfg.labels, "erase_dropped", None) and \
            any(op.displaces for op in cfg.pipeline.ops):
        raise UsageError("--erase-dropped cannot be combined with --elastic, --grid-distort or --lens yet: "
                         "it paints the objects' undistorted outlines")
    if cfg.follow_outside is None:
        carries = setup is not None and setup.carries
        links = outside_links(inp, setup.image_links) if carries else ()
        for rel in links:
            info(f"augcli: labels: {fsnames.shown(rel)}/ links to a folder outside the input folder; followed, "
                 "as the label layout pairs it with its labels (--no-follow-outside refuses)")
        cfg = replace(cfg, follow_outside=not carries, linked_folders=links)
    return cfg, setup


def check_require(cfg: RunConfig, setup: Any) -> None:
    """--require counts objects of label files: a run that carries none is a usage error."""
    if cfg.require is not None and (setup is None or setup.format is None):
        raise UsageError("--require needs label files (boxes, polygons, keypoints) to count objects in; "
                         "none were found (masks alone are not counted)")


def copy_plan(cfg: RunConfig, seed: int, names: Iterable[str]) -> CopyPlan | None:
    """The copies of each source under --per-class / --total, from the names of every source."""
    if cfg.targets is None:
        return None
    return plan_copies(names, seed, cfg.targets, cfg.include_originals)


def partner_plan(cfg: RunConfig, seed: int, names: Iterable[str] | None) -> Any:
    """The partners of each output's compositions (augcli.compose.PartnerPlan), or None."""
    if cfg.compose is None or not cfg.compose.active:
        return None
    from ..compose import PartnerPlan

    return PartnerPlan(cfg.compose, seed, names if names is not None else [])


def check_compositions(cfg: RunConfig, setup: Any, partners: Any) -> None:
    """Refuse (exit 2) compositions whose output this run cannot hold."""
    if partners is None:
        return
    if cfg.compose.mixup > 0 and setup is not None and setup.mask_layout is not None:
        raise UsageError("--mixup blends pixels, and a class-index mask cannot be blended: use --mosaic or "
                         "--cutmix with masks, or --labels none")
    if cfg.require is not None:
        raise UsageError("--require cannot be used with --mosaic, --mixup, --cutmix or --copy-paste yet: it redraws "
                         "an output's steps against one image's labels")
    if cfg.compose.copy_paste > 0 and (setup is None or setup.format not in ("yolo", "coco")):
        raise UsageError("--copy-paste pastes whole objects, and needs their outlines: YOLO segment polygons or "
                         "COCO polygons / RLE masks (this run carries "
                         f"{'no labels' if setup is None or setup.format is None else setup.format + ' labels'})")
    classified = setup is None or setup.format is None
    folders = {name.rpartition("/")[0] for name in partners.where}
    if cfg.compose.within == "dataset" and classified and cfg.layout == "tree" and len(folders) > 1:
        raise UsageError("--mix-within dataset mixes images of different class folders, which gives soft labels "
                         "(each output's class weights) that the tree layout cannot hold: use --layout hf or "
                         "--layout webdataset (they write them), or --mix-within class")


def source_names(cfg: RunConfig, skip_dir: Callable[[str], bool] | None = None) -> Iterable[str]:
    """The sources of a local input, names only (the first pass of a copy plan)."""
    names = iter_jobs(replace(cfg, copies=0, include_originals=False, targets=None), skip_dir=skip_dir)
    return (job.source for job in names)


class Checks:
    """The checks over every planned output, made before anything is written. ``inp``/``out``: the
    resolved local folders (None for object storage, where nothing can land inside the input);
    ``exists(rel)``: whether an output exists (default: the local output folder)."""

    def __init__(self, cfg: RunConfig, summary: Summary, plan: CopyPlan | None = None, setup: Any = None,
                 inp: Path | None = None, out: Path | None = None,
                 exists: Callable[[str], bool] | None = None, files: OutFiles | None = None) -> None:
        self.cfg, self.summary, self.plan, self.setup = cfg, summary, plan, setup
        self.inp, self.out = inp, out
        self.files = files or OutFiles()  # label files: local, or on object storage beside the outputs
        self.labels_out = out if out is not None else (setup.output_dir if setup is not None else None)
        self.exists = exists or self._exists_locally
        self.present: dict[str, bool] = {}  # output folder -> whether it exists (a new folder holds no output)
        self.folders: dict[str, bool | bytes] = {}  # output folder -> _lands (one realpath per folder)
        self.label_folders: dict[Path, Path] = {}  # the same for label and mask files
        self.inp_b = os.fsencode(inp) if inp is not None else None
        self.out_b = os.fsencode(out) if out is not None else None
        self.clash: list[str] = []
        self.extras: dict[str, list[str]] = {}  # class -> its sources that get the extra copy

    def _exists_locally(self, rel: str) -> bool:
        parent = rel.rpartition("/")[0]
        if parent not in self.present:
            self.present[parent] = os.path.isdir(fsnames.join(self.cfg.output_dir, parent))
        return self.present[parent] and os.path.exists(fsnames.join(self.cfg.output_dir, rel))

    def note_extra(self, job: SourceJob) -> None:
        """Count a source among the extra copies of its class (every source of the listing, so the
        plan's description is the same in every shard)."""
        if self.plan is not None and self.plan.is_extra(job.source, sum(k is not None for k, _ in job.outputs)):
            self.extras.setdefault(class_of(job.source), []).append(job.source)

    def job(self, job: SourceJob) -> None:
        cfg, summary = self.cfg, self.summary
        summary.discovered += 1
        summary.planned += len(job.outputs)
        for _, rel in job.outputs:
            if self.inp_b is not None:
                parent, _, name = rel.rpartition("/")
                lands = self.folders.get(parent)
                if lands is None:
                    lands = self.folders[parent] = self._lands(parent)
                if lands is True or (lands and fsnames.to_bytes(name) == lands):
                    raise UsageError(f"output {rel!r} would land inside the input folder; choose another "
                                     "output folder")
            if cfg.on_exists == "error" and self.exists(rel):
                self.clash.append(rel)
            if cfg.dry_run:
                summary.outputs.append((job.source, rel))
        if self.setup is not None:
            inp = self.inp
            for path in self.setup.planned_files(job.source, [rel for _, rel in job.outputs]):
                if inside(self._resolved(path), inp):
                    raise UsageError(f"label file {str(path)!r} would land inside the input folder")
                if cfg.on_exists == "error" and self.files.exists(path):
                    self.clash.append(self.files.rel(path) or (str(path.relative_to(cfg.output_dir))
                                                                if inside(path, cfg.output_dir) else str(path)))
                if cfg.dry_run:
                    summary.outputs.append((job.source, self._shown(path)))

    def _lands(self, parent: str) -> bool | bytes:
        """Whether the outputs in the output folder ``parent`` land inside the input: True (all),
        False (none), or the one name that would (the folder holding the input folder itself). A
        file is written by a rename, which replaces a link in its place rather than writing through it."""
        folder = os.path.realpath(fsnames.join(self.out_b, parent))
        if fsnames.inside(folder, self.inp_b):  # type: ignore[arg-type]
            return True
        head, name = os.path.split(self.inp_b.rstrip(b"/"))  # type: ignore[union-attr]
        return name if head == folder else False

    def _resolved(self, path: Path) -> Path:
        """``path`` with its folder resolved, one realpath per folder (a file there is written by a
        rename, which replaces a link in its place rather than writing through it)."""
        parent = self.label_folders.get(path.parent)
        if parent is None:
            parent = self.label_folders[path.parent] = path.parent.resolve()
        return parent / path.name

    def _shown(self, path: Path) -> str:
        out = self.labels_out
        return os.path.relpath(path, out) if inside(path, out) else str(path)

    def run_files(self, shared: bool = False, resumed: bool = False) -> list[tuple[Path, bytes]]:
        """Check the files written once per run (dataset YAML, COCO JSON) and return the YAMLs with
        their bytes. ``shared``: other shards write the same files, so a YAML that exists with exactly
        these bytes is not a clash, nor is a COCO JSON in an output that already holds done buckets
        (``resumed``: the shard that finished the last bucket wrote it)."""
        if self.setup is None:
            return []
        cfg, inp = self.cfg, self.inp
        run_files = self.setup.run_files()
        payloads = dict(run_files)
        finals = self.setup.final_paths()
        for path in [p for p, _ in run_files] + finals:
            if inside(path.resolve(), inp):  # e.g. OUTPUT/annotations linked to INPUT/annotations
                raise UsageError(f"label file {str(path)!r} would land inside the input folder; choose another "
                                 "output folder")
            ours = shared and (self._holds(path, payloads.get(path)) or (resumed and path in finals))
            if cfg.on_exists == "error" and self.files.exists(path) and not ours:
                self.clash.append(self.files.rel(path) or str(path))
            if cfg.dry_run:
                self.summary.outputs.append(("", os.path.relpath(path, self.labels_out)))
        self.summary.labels = {**label_counts(), "unpaired": self.setup.unpaired}
        return run_files

    def refuse_clashes(self, first: Callable[[str], str], scope: str = "") -> None:
        if self.clash:
            raise UsageError(f"{len(self.clash)} output file(s){scope} already exist, e.g. "
                             f"{first(self.clash[0])!r}; use --on-exists skip or overwrite")

    def describe_plan(self) -> list[str]:
        """Set the copy plan's description (``summary.targets``, from the extras noted over the whole
        listing) and return its notes; the manifest's run line holds the description."""
        if self.plan is None:
            return []
        self.summary.targets = self.plan.describe(self.extras)
        return [f"augcli: note: {note}" for note in self.summary.targets["notes"]]


    def _holds(self, path: Path, payload: bytes | None) -> bool:
        if payload is None:
            return False
        if self.files.rel(path) is not None:
            return self.files.holds(path, payload)
        try:
            return path.stat().st_size == len(payload) and path.read_bytes() == payload
        except OSError:
            return False


def report_listing(summary: Summary, report: Callable[[str], None], warned: list[tuple[str, str]],
                   unlisted: list[tuple[str, str]]) -> None:
    """Files passed over with a warning, and folders that could not be listed (failures)."""
    for rel, why in warned:
        report(warning_line(rel, why))
    summary.warnings += len(warned)
    for rel, why in unlisted:
        report(f"augcli: {fsnames.shown(rel)}: {fsnames.one_line(why)}")
        summary.failed.append({"source": rel, "output": None, "error": why})
