"""The compositions of one source's outputs, in the worker: partners loaded through the worker's
recent sources, the recorded steps drawn from the sizes, the canvas and its labels built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable

from .. import compose as CP
from ..errors import InputError
from ..labels.compose import compose_labels, instances, merge_counts, paste_mask
from ..labels.errors import LabelError

__all__ = ["Composed", "merge_counts", "plan_compositions"]


@dataclass
class Composed:
    image: Any  # the canvas the pipeline runs on (None when the output is not made)
    labels: Any  # SourceLabels of the canvas, or None
    placed: Any  # labels.model.Stats of the placing
    sources: list[str]
    record: list[dict[str, Any]]
    class_weights: dict[str, float] | None


def class_weights(steps: list[dict[str, Any]], primary: str, canvas: tuple[int, int]) -> dict[str, float] | None:
    """Each class folder's share of the canvas (mosaic: the area each tile shows; mixup: its weight;
    cutmix: the rectangle's area), when the sources come from more than one folder."""
    share = {primary: 1.0}
    total = float(canvas[0] * canvas[1])
    for step in steps:
        if step["op"] == "mosaic":
            share = {}
            for src, size, at, (x0, y0, x1, y1) in CP.placements(step, canvas):
                w = max(0, min(x1, at[0] + size[0]) - max(x0, at[0]))
                h = max(0, min(y1, at[1] + size[1]) - max(y0, at[1]))
                share[src] = share.get(src, 0.0) + w * h / total
        elif step["op"] == "mixup":
            share = {s: v * step["weight"] for s, v in share.items()}
            share[step["source"]] = share.get(step["source"], 0.0) + 1.0 - step["weight"]
        elif step["op"] == "cutmix":
            x0, y0, x1, y1 = step["region"]
            a = (x1 - x0) * (y1 - y0) / total
            share = {s: v * (1.0 - a) for s, v in share.items()}
            share[step["source"]] = share.get(step["source"], 0.0) + a
    by_class: dict[str, float] = {}
    for src, v in share.items():
        cls = PurePosixPath(src).parent.name
        by_class[cls] = by_class.get(cls, 0.0) + v
    if len(by_class) < 2:
        return None
    norm = sum(by_class.values()) or 1.0
    return {c: round(v / norm, 6) for c, v in sorted(by_class.items())}


def plan_compositions(ctx: Any, job: Any, image: Any, size: tuple[int, int], todo: set,
                      labels: Any, load_kept: Callable[[Any, str], tuple[Any, Any, Any]]) -> dict[int, Any]:
    """``{index of the output in job.outputs: Composed, or the error that fails it}``.
    ``load_kept(ctx, rel)``: a partner's ``(image, size, labels)``, through the worker's recent sources."""
    out: dict[int, Any] = {}
    if not job.compose:
        return out
    cfg = ctx.cfg
    for i, ((k, _), picks) in enumerate(zip(job.outputs, job.compose)):
        if not picks:
            continue
        try:
            images, sizes, loaded = {job.source: image}, {job.source: tuple(size)}, {job.source: labels}
            for step_partners in picks.values():
                for rel in step_partners:
                    if rel not in sizes:
                        if k in todo:
                            images[rel], sizes[rel], loaded[rel] = load_kept(ctx, rel)
                        else:  # the output exists: its record needs the sizes alone
                            _, sizes[rel], loaded[rel] = load_kept(ctx, rel)
            steps = CP.plan_steps(cfg.compose, ctx.root_seed, job.source, k, picks, sizes,
                                  lambda rel: instances(loaded.get(rel)))
            canvas = tuple(size)
            comp_labels = placed = None
            if ctx.labels is not None:
                comp_labels, placed = compose_labels(ctx.labels, job.source, steps, loaded, sizes)
            made = None
            if k in todo and image is not None:
                for rel, im in images.items():
                    CP.check_mode(im, rel)
                made = CP.build_image(steps, image, images, lambda rel, obj: paste_mask(loaded[rel], obj, canvas),
                                      ctx.recent.scaled)
            out[i] = Composed(made, comp_labels, placed, CP.sources_of(steps, job.source),
                              CP.describe(steps, sizes, canvas), class_weights(steps, job.source, canvas))
        except (InputError, LabelError, ValueError) as exc:
            out[i] = InputError(f"cannot compose: {exc}")
        except MemoryError:
            out[i] = InputError("cannot compose: out of memory")
    return out
