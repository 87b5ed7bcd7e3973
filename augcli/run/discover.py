"""Discovery and naming: the sources under an input folder (or in an object-store listing), each
with its output names. Names depend on a source's siblings (``a.jpg`` + ``a.png`` -> ``a_jpg_0.png``),
so a shard or bucket filter always comes after naming."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable, Iterator, Sequence

from .. import fsnames
from ..config import RunConfig
from ..imageio import IMAGE_EXTENSIONS, LoadOptions, output_format, source_size
from ..safepaths import unsafe_part
from ..targets import CopyPlan
from ..tiles import tile_name
from ..walk import FolderWalk

IGNORED_NAMES = frozenset({"Thumbs.db", "thumbs.db", "desktop.ini", "Desktop.ini", "__MACOSX", "Icon\r"})


def is_candidate(name: str) -> bool:
    """Whether ``name`` has an image extension (``os.path.splitext``'s, in any case)."""
    dot = name.rfind(".")
    if dot <= 0 or "/" in name:
        return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
    # splitext ignores the leading dots of a name: "..png" has no extension
    return name[dot:].lower() in IMAGE_EXTENSIONS and name.lstrip(".").find(".") >= 0


def is_visible(name: str) -> bool:
    return not name.startswith(".") and name not in IGNORED_NAMES


def iter_jobs(cfg: RunConfig, on_error: Callable[[str, str], None] | None = None,
              plan: CopyPlan | None = None,
              on_warning: Callable[[str, str], None] | None = None,
              skip_dir: Callable[[str], bool] | None = None, partners: Any = None) -> Iterator["SourceJob"]:
    """The work of a run, one SourceJob per candidate image under the input folder, streamed in the
    order of their sorted relative paths (so only one folder's listing is held at a time).

    Names are read as bytes and carried in augcli's canonical text form (augcli.fsnames). Hidden
    files and folders and OS litter are skipped; symlinked files and folders are followed, each real
    folder read once (augcli.walk), except, with ``cfg.follow_outside`` False, those whose real path
    is outside the input folder. A folder that cannot be listed is passed to ``on_error``; a link
    loop, a second path to a folder, a broken link or a link not followed to ``on_warning``. With a copy ``plan``
    (dataset targets) each source gets the copies the plan gives it. A folder for which
    ``skip_dir(relative path)`` is true (labels, masks) is not walked."""
    walk = FolderWalk(cfg.input_dir, cfg.output_dir, on_error or (lambda rel, why: None),
                      on_warning or (lambda rel, why: None), is_visible, is_candidate,
                      follow_outside=cfg.follow_outside is not False, allowed_links=cfg.linked_folders)
    yield from _jobs_in(walk, "", cfg, plan, skip_dir, partners)


def header_size(cfg: RunConfig, rel: str, store: Any = None) -> tuple[int, int] | None:
    """The size a source has once loaded, from its header (an object-storage ``store``'s source is
    fetched for it); None if it cannot be read (the worker then reports why, as for any other source)."""
    load = LoadOptions(cfg.exif_transpose, cfg.max_pixels, cfg.resize)
    try:
        if store is None:
            return source_size(fsnames.join(cfg.input_dir, rel), load)
        path = store.fetch(rel, cfg.max_pixels)
        try:
            return source_size(path, load)
        finally:
            store.release(path)
    except Exception:  # noqa: BLE001 - a hostile header is the worker's to report, with its reason
        return None


def _jobs_in(walk: FolderWalk, rel: str, cfg: RunConfig, plan: CopyPlan | None = None,
             skip_dir: Callable[[str], bool] | None = None, partners: Any = None) -> Iterator["SourceJob"]:
    # ``rel``: the folder's relative POSIX path, "" for the root (plain strings: no path object per file)
    entries = walk.entries(rel)
    if entries is None:
        return
    prefix = f"{rel}/" if rel else ""
    if skip_dir is not None:
        entries = [e for e in entries if not (e[2] and skip_dir(prefix + e[1]))]
    named = iter(plan_outputs([prefix + name for _, name, folder in entries if not folder], cfg, plan, partners,
                              sizes=(lambda r: header_size(cfg, r)) if cfg.tile is not None else None))
    for _, name, folder in entries:
        if folder:
            yield from _jobs_in(walk, prefix + name, cfg, plan, skip_dir, partners)
        else:
            yield next(named)


@dataclass(frozen=True)
class SourceJob:
    source: str  # relative POSIX path
    outputs: tuple[tuple[int | None, str], ...]  # (copy index, or None for the original; output rel path)
    fmt: str
    # a large source's outputs may be cut into parts run by different workers (split_large)
    part: int = 0
    parts: int = 1
    # compositions (augcli.compose.PartnerPlan): per output, {step: [partners]} or None; and the
    # partner block the source belongs to (the pool keeps a block on one worker)
    compose: tuple = ()
    block: int = -1
    windows: tuple = ()  # tiles (augcli tile): each output's window (x0, y0, x1, y1), in output order


def _tile_job(rel: str, base: str, fmt: str, ext: str, cfg: RunConfig,
              sizes: Callable[[str], Any] | None) -> SourceJob:
    """A source's tiles, named after their windows; none when its size cannot be read."""
    size = sizes(rel) if sizes is not None else None
    windows = tuple(cfg.tile.windows(size)) if size is not None else ()
    parent = PurePosixPath(rel).parent
    outs = tuple((i, (parent / tile_name(base, w, ext)).as_posix()) for i, w in enumerate(windows))
    return SourceJob(rel, outs, fmt, windows=windows)


def plan_outputs(sources: Sequence[str], cfg: RunConfig, plan: CopyPlan | None = None,
                 partners: Any = None, sizes: Callable[[str], Any] | None = None) -> list[SourceJob]:
    """Deterministic output names: ``[{prefix}_]{stem}_{k}.{ext}`` (k zero-padded to the width of
    copies - 1) and ``[{prefix}_]{stem}_orig.{ext}`` for --include-originals, in the source's
    folder. Where two sources in one folder share a stem and would get the same extension (a.jpg and
    a.png with --format png), each of them keeps its source extension in the stem: a_jpg_0.png.
    With a copy ``plan`` each source gets its planned count and k is padded to ``plan.width``.
    Tiles (``cfg.tile``): ``[{prefix}_]{stem}_x{x0}_y{y0}.{ext}``, the windows of the size
    ``sizes(source)`` gives."""
    width = len(str(max(cfg.copies - 1, 0))) if plan is None else plan.width
    counts = plan.copies_in(sources) if plan is not None else None
    groups: dict[tuple[str, str, str], int] = {}
    parsed = []
    for rel in sources:
        fmt, ext = output_format(rel, cfg.format)
        folder, name = split_name(rel)
        stem, suffix = stem_suffix(name)
        group = (folder.lower(), stem.lower(), ext.lower())
        groups[group] = groups.get(group, 0) + 1
        parsed.append((rel, fmt, ext, folder, stem, suffix, group))
    prefix = f"{fsnames.canonical(cfg.prefix)}_" if cfg.prefix else ""
    jobs = []
    tails: dict[tuple[str, int], list[tuple[int, str]]] = {}  # (extension, copies) -> each copy's name ending
    for rel, fmt, ext, folder, stem, suffix, group in parsed:
        if groups[group] > 1:
            stem = f"{stem}_{suffix[1:].lower()}"
        if cfg.tile is not None:
            jobs.append(_tile_job(rel, f"{prefix}{stem}", fmt, ext, cfg, sizes))
            continue
        base = f"{folder}/{prefix}{stem}" if folder != "." else f"{prefix}{stem}"
        outs: list[tuple[int | None, str]] = []
        if cfg.include_originals:
            outs.append((None, f"{base}{ext}" if cfg.keep_names else f"{base}_orig{ext}"))
        copies = cfg.copies if counts is None else counts[rel]
        ends = tails.get((ext, copies))
        if ends is None:
            ends = tails[(ext, copies)] = [(k, f"_{k:0{width}d}{ext}") for k in range(copies)]
        outs += [(k, base + end) for k, end in ends]
        if partners is not None:
            picks = tuple(partners.draw(rel, k) if k is not None else None for k, _ in outs)
            jobs.append(SourceJob(rel, tuple(outs), fmt, compose=picks if any(picks) else (),
                                  block=partners.block(rel)))
        else:
            jobs.append(SourceJob(rel, tuple(outs), fmt))
    return jobs


def split_name(rel: str) -> tuple[str, str]:
    """``(folder, name)`` of a relative POSIX path as ``PurePosixPath`` gives them (``str(p.parent)``,
    ``p.name``): the folder of a top-level name is ``"."``."""
    if rel and "//" not in rel and rel[0] != "/" and rel[-1] != "/" and "." not in (rel[0], rel[-1]) \
            and "/." not in rel and "./" not in rel:
        folder, _, name = rel.rpartition("/")  # a canonical name (the walk's): no empty or "." segment
        return folder or ".", name
    parts = [p for p in rel.split("/") if p and p != "."]
    if not parts:
        return ".", ""
    return ("/".join(parts[:-1]) or "."), parts[-1]


def stem_suffix(name: str) -> tuple[str, str]:
    """``PurePosixPath(name).stem`` and ``.suffix`` (the rule of Python 3.10-3.13): the last dot
    starts the suffix unless it is the name's first or last character."""
    i = name.rfind(".")
    if 0 < i < len(name) - 1:
        return name[:i], name[i:]
    return name, ""


def listed_jobs(cfg: RunConfig, keys: list[str], on_warning: Callable[[str, str], None] = lambda rel, why: None,
                plan: CopyPlan | None = None, partners: Any = None,
                sizes: Callable[[str], Any] | None = None,
                skip_dir: Callable[[str], bool] | None = None) -> Iterator[SourceJob]:
    """The jobs of an object-store input from one sorted listing, named folder by folder exactly as
    the local walk names them (hidden parts and OS litter skipped, candidates by extension, folders
    ``skip_dir`` names (labels, masks) left out). A key with an empty, ``.`` or ``..`` segment
    (``in//etc/x.png``) would name an output outside the output folder: it is passed to
    ``on_warning`` and skipped. ``sizes``: as for plan_outputs."""
    folders: dict[str, list[str]] = {}
    for key in keys:
        why = unsafe_part(key)
        if why is not None:
            on_warning(key, f"object key with {why}; skipped")
            continue
        parts = key.split("/")
        if skip_dir is not None and any(skip_dir("/".join(parts[:i])) for i in range(1, len(parts))):
            continue
        if all(is_visible(p) for p in parts) and is_candidate(parts[-1]):
            folders.setdefault(str(PurePosixPath(key).parent), []).append(key)
    jobs = [job for rels in folders.values() for job in plan_outputs(sorted(rels), cfg, plan, partners, sizes)]
    return iter(sorted(jobs, key=lambda j: j.source))
