"""``augcli preview``: a contact sheet of one image and augmented samples of it, labelled.

The samples are made by the same plan and apply calls as ``expand``: with the same seed, tile k + 1
is copy k of an input file of the same name at the root of an ``expand`` input folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from .filewarnings import file_warnings
from .fsnames import canonical, shown
from .imageio import LoadOptions, load_image, prepare_for_format
from .pipeline import Pipeline, Step
from .render import describe_step, make_output, plan_copy

PAD = 6


def samples(image: Image.Image, pipeline: Pipeline, seed: int, key: str, count: int,
            objects=None) -> list[tuple[Image.Image, list[Step]]]:
    """``count`` augmented copies (copy indices 0..count-1) of ``image``, keyed by ``key`` as expand
    keys a source by its relative path, with their plans (``objects``: its object boxes, for
    object-aware ops)."""
    out = []
    for k in range(count):
        steps = plan_copy(pipeline, seed, key, k, image.size, objects)
        out.append((make_output(pipeline, image, steps, k), steps))
    return out


def label(steps: Sequence[Step]) -> str:
    """The applied ops of a plan, comma-separated; ``no op applied`` if none was."""
    applied = [describe_step(s) for s in steps if s["applied"]]
    return ", ".join(applied) if applied else "no op applied"


def _font(size: int = 12) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _display(image: Image.Image, tile: int) -> Image.Image:
    """8-bit RGB (transparency flattened on white, 16-bit reduced) scaled to fit ``tile`` pixels:
    shrunk smoothly, or enlarged by a whole factor with visible pixels when the image is small."""
    rgb = prepare_for_format(image, "jpeg", (255, 255, 255)).convert("RGB")
    w, h = rgb.size
    if max(w, h) > tile:
        f = tile / max(w, h)
        return rgb.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.LANCZOS)
    k = max(1, tile // max(w, h))
    return rgb.resize((w * k, h * k), Image.Resampling.NEAREST) if k > 1 else rgb


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Greedy wrap of a comma-separated label into lines no wider than ``width`` pixels."""
    lines: list[str] = []
    for word in text.split(", "):
        trial = f"{lines[-1]}, {word}" if lines else word
        if lines and draw.textlength(trial, font=font) <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def contact_sheet(tiles: Sequence[tuple[Image.Image, str]], columns: int, tile: int = 256) -> Image.Image:
    """Lay out (image, label) pairs row by row, ``columns`` per row, each scaled to fit ``tile``
    pixels and captioned underneath."""
    font = _font()
    shown = [_display(im, tile) for im, _ in tiles]
    cell_w = max(max(im.width for im in shown), 64)
    cell_h = max(im.height for im in shown)
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    wrapped = [_wrap(scratch, text, font, cell_w) for _, text in tiles]
    line_h = int(font.getbbox("Ag")[3]) + 2
    label_h = max(len(lines) for lines in wrapped) * line_h
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (cell_w + PAD) + PAD, rows * (cell_h + label_h + 2 * PAD) + PAD), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (im, lines) in enumerate(zip(shown, wrapped)):
        x0 = PAD + (i % columns) * (cell_w + PAD)
        y0 = PAD + (i // columns) * (cell_h + label_h + 2 * PAD)
        sheet.paste(im, (x0 + (cell_w - im.width) // 2, y0 + (cell_h - im.height) // 2))
        for j, line in enumerate(lines):
            draw.text((x0, y0 + cell_h + PAD // 2 + j * line_h), line, fill=(0, 0, 0), font=font)
    return sheet


def preview(path: Path, pipeline: Pipeline, seed: int, grid: tuple[int, int], tile: int = 256,
            load: LoadOptions = LoadOptions(), labels=None, compose=None) -> Image.Image:
    """The contact sheet for ``path``: the image as loaded first, then columns x rows - 1 samples.
    ``labels`` (augcli.labels.source.SourceLabels) are drawn on every tile. ``compose``
    (augcli.compose.Compose): samples are compositions with partners from the image's folder, as
    expand draws them for a file of that name among those siblings. Raises
    augcli.errors.InputError when the image cannot be read."""
    columns, rows = grid
    with file_warnings() as caught:
        image = load_image(Path(path), load)
    for warning in caught:
        print(f"augcli: {shown(str(path))}: warning: {warning}", file=sys.stderr, flush=True)
    key = canonical(Path(path).name)  # the name's bytes, as expand keys a source at an input's root
    objects = None
    if labels is not None and pipeline.uses_objects:
        from .labels.extents import source_extents

        objects = source_extents(labels)
    if compose is not None and compose.active:
        made = _composed(Path(path), image, pipeline, seed, key, columns * rows - 1, compose, load, labels)
    else:
        made = [(im, label(steps), steps, labels) for im, steps in samples(image, pipeline, seed, key,
                                                                             columns * rows - 1, objects)]
    tiles = [(image, f"original {image.width}x{image.height}"), *((im, text) for im, text, _, _ in made)]
    if labels is not None:
        from .labels.draw import loss_overlay

        drawn_with = [(labels, [])] + [(lab, steps) for _, _, steps, lab in made]
        drawn = [loss_overlay(im, lab, *_geometry(pipeline, steps, image.size))
                 for (im, _), (lab, steps) in zip(tiles, drawn_with)]
        # a sample's caption says what its labels lost (the original's objects are all there)
        tiles = [(im, text if i == 0 or lab.parsed is None else f"{text}, {counts}")
                 for i, ((_, text), (im, counts), (lab, _)) in enumerate(zip(tiles, drawn, drawn_with))]
    return contact_sheet(tiles, columns, tile)


def _geometry(pipeline, steps, size):
    """A plan's matrix, output size, letterbox window and distortion (what its labels go through)."""
    matrix, out_size = pipeline.geometry(steps, size)
    return matrix, out_size, pipeline.window(steps), pipeline.distortion(steps, out_size)


def _composed(path: Path, image: Image.Image, pipeline: Pipeline, seed: int, key: str, count: int, compose,
              load: LoadOptions, labels) -> list:
    """``(image, caption, steps, labels)`` of each sample, compositions with the image's siblings."""
    from . import compose as CP
    from .run.compose_work import compose_output
    from .run.discover import is_candidate, is_visible

    folder = path.parent
    try:
        names = sorted(canonical(n) for n in os.listdir(folder)
                       if is_candidate(n) and is_visible(n) and (folder / n).is_file())
    except OSError:
        names = []
    plan = CP.PartnerPlan(compose, seed, sorted(set(names) | {key}))
    kept: dict[str, tuple] = {key: (image, labels)}
    out = []
    for k in range(count):
        steps = plan_copy(pipeline, seed, key, k, image.size)
        picks = plan.draw(key, k)
        if not picks:
            out.append((make_output(pipeline, image, steps, k), label(steps), steps, labels))
            continue
        for rel in {r for partners in picks.values() for r in partners} - set(kept):
            im = load_image(folder / rel, load)
            lab = None
            if labels is not None:
                where = Path(labels.source).parent / rel
                lab = labels.setup.load(where.as_posix(), im.size, load.exif_transpose, load.max_pixels, load.resize)
            kept[rel] = (im, lab)
        made = compose_output(compose, seed, key, k, picks, lambda rel: (kept[rel][0], kept[rel][0].size, kept[rel][1]),
                              labels.setup if labels is not None else None)
        csteps, canvas, lab = made.record, made.image, made.labels
        partners = ", ".join(f"{step['op']} with {', '.join(shown(s) for s in CP.sources_of([step], key)[1:]) or 'itself'}"
                             for step in csteps)
        out.append((make_output(pipeline, canvas, steps, k), f"{partners}, {label(steps)}", steps, lab))
    return out


LABEL_FOLDERS = ("labels", "Annotations", "annotations", "xml", "masks", "SegmentationClass", "SegmentationObject")


def dataset_root(path: Path) -> Path:
    """The dataset root ``preview`` guesses for an image (as given, links not resolved): the folder
    above the nearest ``images``/``JPEGImages``; else the folder above the image's folder when a
    label folder is beside it (``annotations/`` beside ``train2017/``, ``trainannot/`` beside
    ``train/``); else the image's own folder."""
    from .labels.layouts import mask_named

    for parent in path.parents:
        if parent.name in ("images", "JPEGImages"):
            return parent.parent
    folder = path.parent
    above = folder.parent
    if above != folder:
        try:
            siblings = [n for n in os.listdir(above) if n != folder.name and (above / n).is_dir()]
        except OSError:
            siblings = []
        if any(n in LABEL_FOLDERS or (mask_named(n) and n.lower().startswith(folder.name.lower()))
               for n in siblings):
            return above
    return path.parent


def preview_labels(path: Path, fmt: str, dataset: Path | None, pipeline: Pipeline, load: LoadOptions,
                   report, **options):
    """The SourceLabels of one image for preview, found by the same detection as ``expand`` run on
    the dataset root (``dataset``, or ``dataset_root``), with the image named by its path as given
    (through symlinked folders, as expand's walk names it). Says in one line what this image has,
    or that it has no labels. None when the dataset has none. Raises UsageError or InputError."""
    from .errors import UsageError
    from .imageio import source_size
    from .labels.detect import resolve
    from .labels.setup import LabelOptions

    path = Path(os.path.abspath(path))
    root = Path(os.path.abspath(dataset)) if dataset else dataset_root(path)
    rel = os.path.relpath(path, root)
    if rel.startswith(".." + os.sep) or rel == ".." or os.path.isabs(rel):
        raise UsageError(f"{path} is not inside the dataset folder {root}")
    rel = Path(rel).as_posix()
    setup = resolve(LabelOptions(format=fmt, **options), root, root.parent / ".augcli-preview", pipeline, report)
    if setup is None or not setup.carries:
        report(f"augcli: preview: {shown(rel)}: no labels found in {shown(str(root))}")
        return None
    size = source_size(path, load)
    labels = setup.load(rel, size, load.exif_transpose, load.max_pixels, load.resize)
    parsed = labels.parsed
    objects = (len(parsed[1]) if setup.format == "coco" else len(parsed.objects)) if parsed is not None else 0
    if parsed is None and labels.mask is None:
        where = setup.label_rel(rel) or setup.mask_key(rel)
        report(f"augcli: preview: {shown(rel)}: this image has no labels"
               + (f" (no {shown(where)})" if where and setup.format != "coco" else ""))
    else:
        drawn = ([f"{objects} object{'s' if objects != 1 else ''}"] if parsed is not None else []) \
            + (["a mask"] if labels.mask is not None else [])
        report(f"augcli: preview: {shown(rel)}: {' and '.join(drawn)} drawn")
    return labels
