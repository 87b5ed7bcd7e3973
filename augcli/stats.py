"""``augcli stats``: a report of a dataset (or of an output): images per class folder, formats and
modes, size range and median, unreadable files with their reasons.

Files are found exactly as ``expand`` finds them (same candidates, same hidden/litter rules, same
symlink policy), and a class is what ``--per-class`` calls one: a folder that holds images directly
(its relative path; ``.`` for the root). Only headers are read unless ``decode`` is asked for, so a
report of a large dataset is quick; a file whose header is fine but whose data is truncated is only
found with ``decode``.

The JSON schema (``STATS_SCHEMA`` below, documented in the README) is exact and stable: CI jobs may
compare it field by field.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from . import fsnames
from .version import __version__
from .errors import AugcliError, InputError, UsageError
from .imageio import DEFAULT_MAX_PIXELS, LoadOptions, opened, swaps, write_atomic
from .targets import class_of

# Labels hook: a function (dataset root, relative paths of its readable images) -> {label class:
# object count}. When the labels issue lands, its reader plugs in here (``collect(...,
# count_objects=...)``) and ``objects`` in the report is filled; until then it is null.
ObjectCounter = Callable[[Path, Sequence[str]], dict[str, int]]

STATS_SCHEMA = {
    "augcli": "version that wrote the report",
    "root": "the folder, as given",
    "decoded": "true if every image was decoded (--decode), false if only headers were read",
    "files": "candidate image files found (by extension)",
    "images": "files that could be read",
    "classes": "[{class, images, unreadable}] sorted by class; class = folder path, '.' = the root",
    "formats": "{Pillow format: count} of the readable images, sorted by name",
    "modes": "{Pillow mode of the file: count}, sorted by name",
    "width": "{min, median, max} in pixels (median = lower median), or null without images",
    "height": "the same for heights",
    "unreadable": "[{file, error}] sorted by file",
    "objects": "{label class: objects} when label files are found (augcli.labels.counts); null otherwise",
    "label_loss": "on an expand output: the run's label loss from its manifest.jsonl (loss, loss_by_op, require); "
                  "null otherwise",
}


@dataclass(frozen=True)
class FileInfo:
    rel: str
    format: str | None = None
    mode: str | None = None
    size: tuple[int, int] | None = None  # as expand loads it (EXIF orientation applied)
    error: str | None = None


def _candidates(root: Path, on_error: Callable[[str, str], None]) -> list[str]:
    """The candidate files under ``root``, found by expand's own discovery (names only)."""
    from .config import RunConfig
    from .run.discover import iter_jobs

    from .labels.counts import label_folders

    cfg = RunConfig(input_dir=root, output_dir=root, copies=0)
    # label and mask folders are not images (as for expand --labels auto)
    return [job.source for job in iter_jobs(cfg, on_error, skip_dir=label_folders(root))]


def inspect_file(root: Path, rel: str, decode: bool = False) -> FileInfo:
    """Format, mode and size of one file from its header (or a full decode), or the reason it
    cannot be read, worded as ``expand`` words it."""
    limit = DEFAULT_MAX_PIXELS if decode else 2**62  # a header costs nothing, whatever its size
    options = LoadOptions(max_pixels=limit)
    try:
        with opened(fsnames.join(root, rel), options) as im:  # bytes: any name, in any locale
            w, h = im.size
            info = FileInfo(rel, im.format, im.mode, (h, w) if swaps(im, options) else (w, h))
            if decode:
                im.load()
        return info
    except InputError as exc:
        return FileInfo(rel, error=str(exc))
    except MemoryError:
        return FileInfo(rel, error="out of memory while decoding")


def _range(values: list[int]) -> dict[str, int] | None:
    if not values:
        return None
    return {"min": min(values), "median": statistics.median_low(values), "max": max(values)}


def collect(root: Path | str, decode: bool = False, count_objects: ObjectCounter | None = None,
            report: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The report of one folder (see STATS_SCHEMA). Unreadable files are listed in the report and
    passed to ``report`` as one line each."""
    root_given = str(root)
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"input folder {root_given!r} does not exist or is not a folder")
    listing_errors: list[FileInfo] = []
    rels = _candidates(root, lambda rel, why: listing_errors.append(FileInfo(rel, error=why)))
    infos = [inspect_file(root, rel, decode) for rel in rels]
    good = [i for i in infos if i.error is None]
    bad = sorted([i for i in infos if i.error is not None] + listing_errors, key=lambda i: i.rel)
    if report is not None:
        for i in bad:
            report(f"augcli: {fsnames.shown(fsnames.canonical(root) + '/' + i.rel)}: {i.error}")
    per_class: dict[str, list[int]] = {}
    for i in infos:
        counts = per_class.setdefault(class_of(i.rel), [0, 0])
        counts[0 if i.error is None else 1] += 1
    return {
        "augcli": __version__,
        "root": root_given,
        "decoded": decode,
        "files": len(infos),
        "images": len(good),
        "classes": [fsnames.encode_fields({"class": name, "images": n, "unreadable": u}, ("class",))
                    for name, (n, u) in sorted(per_class.items())],
        "formats": dict(sorted(Counter(i.format or "?" for i in good).items())),
        "modes": dict(sorted(Counter(i.mode or "?" for i in good).items())),
        "width": _range([i.size[0] for i in good if i.size]),
        "height": _range([i.size[1] for i in good if i.size]),
        "unreadable": [fsnames.encode_fields({"file": i.rel, "error": i.error}, ("file",)) for i in bad],
        "objects": count_objects(root, [i.rel for i in good]) if count_objects is not None else None,
        "label_loss": _label_loss(root, report),
    }


def _label_loss(root: Path, report: Callable[[str], None] | None) -> dict[str, Any] | None:
    """The label loss recorded in ``root/manifest.jsonl`` (an expand output), or None."""
    from .labels.loss import manifest_totals

    path = root / "manifest.jsonl"
    if not path.is_file():
        return None
    try:
        return manifest_totals(path)
    except UsageError as exc:
        if report is not None:
            report(f"augcli: note: label loss not reported: {exc}")
        return None


def run_stats(input_dir: Path | str, compare: Path | str | None = None, decode: bool = False,
              plot: Path | str | None = None, count_objects: ObjectCounter | None = None,
              report: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``augcli stats``: the report of ``input_dir`` with, under ``compare``, the report of
    ``compare`` (null without it); writes the class-count chart to ``plot`` (a PNG) if given."""
    if plot is not None and Path(plot).suffix.lower() != ".png":
        raise UsageError(f"--plot writes a PNG: give a path ending in .png, not {str(plot)!r}")
    result = collect(input_dir, decode, count_objects, report)
    result["compare"] = None
    if compare is not None:
        result["compare"] = {**collect(compare, decode, count_objects, report), "compare": None}
    if plot is not None:
        from .plot import class_chart

        series = [(result["root"], _class_counts(result))]
        if result["compare"] is not None:
            series.append((result["compare"]["root"], _class_counts(result["compare"])))
        image = class_chart(series)
        try:
            import io

            buf = io.BytesIO()
            image.save(buf, format="PNG")
            write_atomic(Path(plot), buf.getvalue(), overwrite=True)
        except OSError as exc:
            raise AugcliError(f"cannot write {str(plot)!r}: {exc.strerror or exc}") from None
    return result


def exit_code(result: dict[str, Any]) -> int:
    """1 if any file (of either folder) could not be read, else 0."""
    other = result.get("compare") or {}
    return 1 if result["unreadable"] or other.get("unreadable") else 0


def _class_counts(one: dict[str, Any]) -> dict[str, int]:
    return {fsnames.decode_fields(c, ("class",))["class"]: c["images"] for c in one["classes"]}


def _mapping(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def _dims(r: dict[str, int] | None) -> str:
    return "none" if r is None else f"min {r['min']}, median {r['median']}, max {r['max']}"


def format_stats(result: dict[str, Any]) -> list[str]:
    """The report as text lines (what ``augcli stats`` prints without --json)."""
    from .labels.loss import summary_line

    other = result.get("compare")
    lines: list[str] = []
    for one in [result] + ([other] if other else []):
        how = "decoded" if one["decoded"] else "headers read"
        lines.append(f"{one['root']}: {one['images']} images in {len(one['classes'])} classes "
                     f"({one['files']} files, {len(one['unreadable'])} unreadable; {how})")
    a = _class_counts(result)
    if other:
        b = _class_counts(other)
        names = sorted(set(a) | set(b))
        rows = [("class", result["root"], other["root"], "change")]
        rows += [(fsnames.shown(n), str(a.get(n, 0)), str(b.get(n, 0)), f"{b.get(n, 0) - a.get(n, 0):+d}")
                 for n in names]
        rows.append(("total", str(sum(a.values())), str(sum(b.values())), f"{sum(b.values()) - sum(a.values()):+d}"))
    else:
        rows = [("class", "images")] + [(fsnames.shown(n), str(v)) for n, v in a.items()] + \
            [("total", str(sum(a.values())))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines.append("")
    for r in rows:
        lines.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
    for one in [result] + ([other] if other else []):
        prefix = f"{one['root']}: " if other else ""
        lines.append("")
        lines.append(f"{prefix}formats: {_mapping(one['formats'])}")
        lines.append(f"{prefix}modes:   {_mapping(one['modes'])}")
        lines.append(f"{prefix}width:   {_dims(one['width'])}")
        lines.append(f"{prefix}height:  {_dims(one['height'])}")
        if one["objects"] is not None:
            lines.append(f"{prefix}objects: {_mapping(one['objects'])}")
        if one.get("label_loss") and one["label_loss"].get("loss"):
            lines.append(f"{prefix}label loss: {summary_line(one['label_loss']['loss'])} (manifest.jsonl)")
        if one["unreadable"]:
            lines.append(f"{prefix}unreadable:")
            lines += [f"  {fsnames.shown(fsnames.decode_fields(u, ('file',))['file'])}: {u['error']}"
                      for u in one["unreadable"]]
    return lines
