"""Reading a manifest for ``augcli replay``, trusting nothing in it: the header's recipe checked as
expand checks its flags (``read_settings``), and each record checked before anything of it is
written (``read_records``: relative paths, the output's extension and place, steps the recorded
pipeline could have drawn). A bad record is a BadRecord named by its manifest line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from . import fsnames
from .compose import check_steps
from .errors import UsageError
from .imageio import FORMATS, LoadOptions, output_format
from .manifest import MAX_LINE_BYTES, raw_lines, skip_header
from .pipeline import Pipeline

REPLAYED = ("ok", "skipped")  # statuses whose records describe an output


@dataclass(frozen=True)
class Settings:
    """The header's recipe, checked."""

    pipeline: Pipeline
    load: LoadOptions
    format: str
    quality: int
    background: tuple[int, int, int]
    copy_originals: bool = False  # augcli convert: originals are the sources' own bytes


@dataclass
class Record:
    """One checked record that describes an output to make."""

    line: int
    source: str
    output: str
    copy: int | None
    ops: list
    size: tuple[int, int]
    compose: list | None = None  # the recorded composition (augcli.compose), for outputs of several sources


class BadRecord(Exception):
    """A record that cannot be replayed as it is (the reason is the message)."""


def read_settings(config: dict[str, Any]) -> Settings:
    """The recorded recipe, checked as expand checks its flags (UsageError otherwise)."""
    def bad(what: str) -> UsageError:
        return UsageError(f"the manifest's {what}")

    if config.get("tile") is not None:  # a tile's plan is its window, which a replay does not read
        raise bad("run is augcli tile, which replay does not remake: run the same tile command again")
    try:
        pipeline = Pipeline.from_description(config["pipeline"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad(f"pipeline cannot be rebuilt: {type(exc).__name__}: {fsnames.one_line(str(exc))}") from None
    max_pixels = config.get("max_pixels", 100_000_000)
    if not _whole(max_pixels) or max_pixels < 1:
        raise bad(f"max_pixels must be a positive whole number, not {short(max_pixels)}")
    try:
        pipeline.check_pixels(max_pixels)
    except ValueError as exc:
        raise bad(str(exc)) from None
    resize = config.get("resize")
    if resize is not None:
        if not (isinstance(resize, list) and len(resize) == 2 and all(_whole(v) and v >= 1 for v in resize)):
            raise bad(f"resize must be [width, height] in whole pixels, not {short(resize)}")
        if resize[0] * resize[1] > max_pixels:  # the resized image counts against the pixel limit too
            raise bad(f"resize {resize[0]}x{resize[1]} is more than max_pixels ({max_pixels}) pixels")
    exif = config.get("exif_transpose", True)
    if not isinstance(exif, bool):
        raise bad(f"exif_transpose must be true or false, not {short(exif)}")
    fmt = config.get("format", "same")
    if not isinstance(fmt, str) or (fmt != "same" and fmt not in FORMATS):
        raise bad(f"format must be 'same' or one of {', '.join(FORMATS)}, not {short(fmt)}")
    quality = config.get("quality", 95)
    if not _whole(quality) or not 1 <= quality <= 100:
        raise bad(f"quality must be a whole number from 1 to 100, not {short(quality)}")
    background = config.get("background", [255, 255, 255])
    if not (isinstance(background, list) and len(background) == 3
            and all(_whole(v) and 0 <= v <= 255 for v in background)):
        raise bad(f"background must be [r, g, b] from 0 to 255, not {short(background)}")
    return Settings(pipeline, LoadOptions(exif, max_pixels, tuple(resize) if resize else None), fmt, quality,
                    tuple(background), config.get("copy_originals") is True)  # type: ignore[arg-type]


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return fsnames.one_line(text if len(text) <= 80 else text[:77] + "...")


def check_relative(value: Any, what: str) -> str:
    """``value`` if it is a relative POSIX path of named parts (no empty, ``.`` or ``..`` part, no
    NUL or backslash), else BadRecord."""
    if not isinstance(value, str):
        raise BadRecord(f"{what} must be a relative path, not {short(value)}")
    parts = value.split("/")
    if (not value or "\0" in value or "\\" in value or any(p in ("", ".", "..") for p in parts)):
        raise BadRecord(f"{what} {fsnames.shown(value)!r} is not a relative path inside its folder "
                        "(no leading /, no empty, . or .. parts, no backslash)")
    return value


class Places:
    """Where outputs may go: inside the output folder (symlinks resolved), never inside the input.
    One realpath per output sub-folder (the most recent folders are remembered)."""

    def __init__(self, inp: Path, out: Path, masks_output: Path | None = None) -> None:
        self.inp, self.out = os.fsencode(inp), os.fsencode(out)
        # label and mask files may also go to the --masks-output folder replay is given
        self.roots = [self.out] + ([os.fsencode(Path(masks_output).resolve())] if masks_output is not None else [])
        self.folders: dict[str, bytes] = {}

    def may_write(self, path: Path | bytes) -> bool:
        """Whether a label or mask file lands (symlinks resolved) inside the output folder (or the
        --masks-output folder) and not in the input."""
        real = os.path.realpath(os.fsencode(path))
        return any(fsnames.inside(real, root) for root in self.roots) and not fsnames.inside(real, self.inp)

    def check_output(self, rel: str) -> None:
        parent, _, name = rel.rpartition("/")
        real = self.folders.get(parent)
        if real is None:
            if len(self.folders) > 4096:
                self.folders.clear()
            real = self.folders[parent] = os.path.realpath(fsnames.join(self.out, parent))
        target = os.path.join(real, fsnames.to_bytes(name))
        if os.path.islink(target):  # the folder is resolved already: only the name itself may be a link
            target = os.path.realpath(target)
        if not fsnames.inside(target, self.out) or fsnames.inside(target, self.inp) or target == self.out:
            raise BadRecord(f"output {fsnames.shown(rel)!r} resolves outside the output folder (or into the input); "
                            "refused")


def _record(rec: Any, settings: Settings, places: Places, number: int) -> Record | dict[str, Any]:
    """The checked output record, the record itself if it describes no output (a failed source),
    or BadRecord."""
    if not isinstance(rec, dict):
        raise BadRecord("not a JSON object")
    try:
        rec = fsnames.decode_fields(rec, ("source", "output"))
    except ValueError as exc:
        raise BadRecord(str(exc)) from None
    if rec.get("status") not in REPLAYED or not rec.get("output"):
        return rec
    source = check_relative(rec.get("source"), "source")
    output = check_relative(rec.get("output"), "output")
    ext = output_format(source, settings.format)[1]
    if PurePosixPath(output).suffix != ext:
        raise BadRecord(f"output {fsnames.shown(output)!r} does not end in {ext}, as the outputs of "
                        f"{fsnames.shown(source)!r} do")
    places.check_output(output)
    copy = rec.get("copy")
    if copy is not None and not (_whole(copy) and copy >= 0):
        raise BadRecord(f"copy must be null or a whole number >= 0, not {short(copy)}")
    size = rec.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(_whole(v) and v >= 1 for v in size)):
        raise BadRecord(f"size must be [width, height] in whole pixels, not {short(size)}")
    if size[0] * size[1] > settings.load.max_pixels:
        raise BadRecord(f"size {size[0]}x{size[1]} is over the run's pixel limit {settings.load.max_pixels}")
    ops = rec.get("ops")
    if ops is None:
        ops = []
    if copy is None:
        if ops:
            raise BadRecord("an original (copy null) has no steps")
    else:
        try:
            settings.pipeline.check(ops, (size[0], size[1]))
        except (ValueError, TypeError, KeyError) as exc:
            raise BadRecord(f"its steps are not the pipeline's: {fsnames.one_line(str(exc))}") from None
    compose = rec.get("compose")
    if compose is not None:
        if copy is None:
            raise BadRecord("an original (copy null) has no composition")
        try:
            for partner in check_steps(compose, (size[0], size[1]), settings.load.max_pixels):
                check_relative(partner, "a composed source")
        except ValueError as exc:
            raise BadRecord(f"its composition is not one expand makes: {fsnames.one_line(str(exc))}") from None
    return Record(number, source, output, copy, ops, (size[0], size[1]), compose)


def read_records(path: Path, settings: Settings, places: Places,
             ) -> Iterator[tuple[int, Record | dict | BadRecord]]:
    """Each record line, in order: (line number, a checked Record | the raw record of a failed
    source | the BadRecord that refuses it)."""
    with open(path, "rb") as fh:
        skip_header(fh)
        for number, raw in raw_lines(fh):
            number += 1  # the header is line 1
            if raw is None:
                yield number, BadRecord(f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                yield number, BadRecord(f"not a JSON record: {fsnames.one_line(str(exc))}")
                continue
            try:
                yield number, _record(rec, settings, places, number)
            except BadRecord as exc:
                yield number, exc
