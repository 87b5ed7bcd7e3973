"""The compositions of one source's outputs, in the worker: partners loaded through the worker's
recent sources, the recorded steps drawn from the sizes, the canvas and its labels built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .. import compose as CP
from ..errors import InputError
from ..labels.compose import compose_labels, instances, merge_counts, paste_mask
from ..labels.errors import LabelError

__all__ = ["Composed", "compose_output", "merge_counts", "plan_compositions"]


@dataclass
class Composed:
    labels: Any  # SourceLabels of the canvas, or None
    placed: Any  # labels.model.Stats of the placing
    sources: list[str]
    record: list[dict[str, Any]]
    class_weights: dict[str, float] | None
    build: Callable[[], Any] | None = None  # makes the canvas; None when the output is not made
    made: Any = None

    @property
    def image(self) -> Any:
        """The canvas the pipeline runs on (None when the output is not made), made when first asked
        for: the worker asks just before rendering its output, while the canvas's pixels are still
        in the processor's caches (made with its source's other outputs, they were not)."""
        if self.made is None and self.build is not None:
            self.made, self.build = self.build(), None
        return self.made


def _as_input_error(build: Callable[[], Any]) -> Any:
    """What ``plan_compositions`` says of a canvas that cannot be made, when it is made later."""
    try:
        return build()
    except (InputError, LabelError, ValueError) as exc:
        raise InputError(f"cannot compose: {exc}") from None
    except MemoryError:
        raise InputError("cannot compose: out of memory") from None


def _folder(rel: str) -> str:
    """The name of the folder holding ``rel`` (PurePosixPath(rel).parent.name of a listed path)."""
    return rel.rpartition("/")[0].rpartition("/")[2]


def class_weights(steps: list[dict[str, Any]], primary: str, canvas: tuple[int, int]) -> dict[str, float] | None:
    """Each class folder's share of the canvas (mosaic: the area each tile shows; mixup: its weight;
    cutmix: the rectangle's area), when the sources come from more than one folder."""
    shown = [primary] + [t["source"] for s in steps if s["op"] == "mosaic" for t in s["tiles"]] + \
        [s["source"] for s in steps if s["op"] in ("mixup", "cutmix")]
    if len({_folder(src) for src in shown}) < 2:
        return None  # one folder: no shares to weigh (the common case, --mix-within class)
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
        cls = _folder(src)
        by_class[cls] = by_class.get(cls, 0.0) + v
    if len(by_class) < 2:
        return None
    norm = sum(by_class.values()) or 1.0
    return {c: round(v / norm, 6) for c, v in sorted(by_class.items())}


def compose_output(compose: Any, seed: int, primary: str, copy: int, picks: Any,
                   get: Callable[[str], tuple[Any, Any, Any]], setup: Any = None, make: bool = True,
                   scaled: Any = None, later: bool = False) -> Composed:
    """One output's composition: its steps drawn from the sizes, its canvas (with ``make``) and its
    labels (with a label ``setup``). ``get(rel)``: a source's ``(image, size, labels)``, the primary
    included. Raises InputError, LabelError or ValueError for a source that cannot be composed;
    with ``later`` the canvas is made when first asked for, and raises InputError then."""
    image, size, _ = get(primary)
    images, sizes, loaded = {}, {}, {}
    for rel in [primary, *(r for partners in picks.values() for r in partners)]:
        if rel not in sizes:
            images[rel], sizes[rel], loaded[rel] = get(rel)
            sizes[rel] = tuple(sizes[rel])
    steps = CP.plan_steps(compose, seed, primary, copy, picks, sizes, lambda rel: instances(loaded.get(rel)))
    canvas = tuple(size)
    comp_labels = placed = None
    if setup is not None:
        comp_labels, placed = compose_labels(setup, primary, steps, loaded, sizes)
    out = Composed(comp_labels, placed, CP.sources_of(steps, primary), CP.describe(steps, sizes, canvas),
                   class_weights(steps, primary, canvas))
    if make and image is not None:
        for rel, im in images.items():
            CP.check_mode(im, rel)

        def build() -> Any:
            return CP.build_image(steps, image, images, lambda rel, obj: paste_mask(loaded[rel], obj, canvas), scaled)

        out.build = (lambda: _as_input_error(build)) if later else build
        if not later:
            out.image  # noqa: B018 - made now: its errors are the caller's now
    return out


def plan_compositions(ctx: Any, job: Any, image: Any, size: tuple[int, int], todo: set,
                      labels: Any, load_kept: Callable[[Any, str], tuple[Any, Any, Any]]) -> dict[int, Any]:
    """``{index of the output in job.outputs: Composed, or the error that fails it}``.
    ``load_kept(ctx, rel)``: a partner's ``(image, size, labels)``, through the worker's recent sources."""
    out: dict[int, Any] = {}
    if not job.compose:
        return out
    cfg = ctx.cfg

    def get(rel: str) -> tuple[Any, Any, Any]:
        return (image, size, labels) if rel == job.source else load_kept(ctx, rel)

    for i, ((k, _), picks) in enumerate(zip(job.outputs, job.compose)):
        if not picks:
            continue
        try:
            # an output that exists needs its record alone: sizes and labels, no canvas
            out[i] = compose_output(cfg.compose, ctx.root_seed, job.source, k, picks, get, ctx.labels,
                                    make=k in todo, scaled=ctx.recent.scaled, later=True)
        except (InputError, LabelError, ValueError) as exc:
            out[i] = InputError(f"cannot compose: {exc}")
        except MemoryError:
            out[i] = InputError("cannot compose: out of memory")
    return out
