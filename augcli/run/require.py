"""``--require all|any|N``: redraw an output's plan until enough of its objects survive.

A plan is drawn for try 0 (the plan every run without ``--require`` draws); when too few of the
source's objects survive the label rules (clipping, ``--min-visibility``, ``--min-size``,
``--min-area``) under its geometry, the plan is drawn again from the same (seed, source, copy) key
with the next try index (augcli.seeding.try_key), up to ``max_tries`` tries. Only the labels are
transformed for each try, never the pixels. When no try holds, the try that kept the most objects
(the earliest of equals) is written and its record says ``require_met: false``. The record keeps
the try index; replay renders the recorded parameters, so it never redraws.
"""

from __future__ import annotations

from typing import Any

from ..render import plan_copy_with_geometry


def needed(require: str, objects: int) -> int:
    """How many of a source's ``objects`` must survive: all, one (any), or N (all of them when the
    source has fewer than N)."""
    if require == "all":
        return objects
    if require == "any":
        return min(1, objects)
    return min(int(require), objects)


def survivors(labels: Any, matrix: Any, out_size: tuple[int, int], out: str, window: Any = None) -> tuple[int, int]:
    """(objects kept, objects in) of one output by the run's label rules: the label transform
    alone (no files, no pixels). ``window``: the output pixels its image fills (``Pipeline.window``)."""
    entry = labels.render(matrix, out_size, out, files=False, window=window)[1]
    return int(entry.get("out", 0)), int(entry.get("in", 0))


def plan_output(cfg: Any, seed: int, source: str, copy: int | None, out: str, size: tuple[int, int],
                labels: Any, objects: Any = None) -> tuple[list, tuple[Any, tuple[int, int]], dict[str, Any]]:
    """``(steps, (matrix, output size), record fields)`` of one output: its plan as
    ``plan_copy_with_geometry`` draws it, redrawn under ``--require``. The record fields are
    ``try`` and ``require_met`` (none without ``--require``, for originals and sources without labels)."""
    if copy is None:
        return [], cfg.pipeline.geometry([], size), {}
    if cfg.require is None or labels is None:
        steps, geometry = plan_copy_with_geometry(cfg.pipeline, seed, source, copy, size, objects=objects)
        return steps, geometry, {}
    best = None
    for attempt in range(cfg.max_tries):
        steps, geometry = plan_copy_with_geometry(cfg.pipeline, seed, source, copy, size, attempt, objects)
        kept, present = survivors(labels, geometry[0], geometry[1], out, cfg.pipeline.window(steps))
        if kept >= needed(cfg.require, present):
            return steps, geometry, {"try": attempt, "require_met": True}
        if best is None or kept > best[0]:
            best = (kept, attempt, steps, geometry)
    assert best is not None
    _, attempt, steps, geometry = best
    return steps, geometry, {"try": attempt, "require_met": False}


def not_met_error(max_tries: int) -> str:
    """The error of an output whose requirement no try met, under ``--strict`` (nothing is written)."""
    return f"requirement not met: too few objects survive in each of {max_tries} tries (--strict)"
