"""Label loss: how many objects each output kept, clipped and dropped (and why), per class, and
the run's totals of those counts (per class, and per op: the counts of the outputs where that op
was applied, since one warp makes all of an output's geometry and no drop belongs to one op alone).

Counts are plain JSON-ready dicts of ints (nested), so totals add up in any order, across buckets
and processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REASONS = ("horizon", "outside", "min_visibility", "min_size", "min_area")


def new_class() -> dict[str, Any]:
    return {"in": 0, "kept": 0, "clipped": 0, "dropped": {}}  # reasons that occurred only


def count(classes: dict[str, Any], cls: Any, reason: str | None, clipped: bool) -> None:
    """One object of class ``cls`` into ``classes``: dropped for ``reason``, or kept (maybe clipped)."""
    c = classes.get(str(cls))
    if c is None:
        c = classes[str(cls)] = new_class()
    c["in"] += 1
    if reason is not None:
        c["dropped"][reason] = c["dropped"].get(reason, 0) + 1
    else:
        c["kept"] += 1
        c["clipped"] += 1 if clipped else 0


def add(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Add the counts of ``part`` into ``total`` (nested dicts of ints; keys missing are made)."""
    for key, value in part.items():
        if isinstance(value, dict):
            add(total.setdefault(key, {}), value)
        elif isinstance(value, bool):  # a flag, not a count
            continue
        elif isinstance(value, (int, float)):
            total[key] = total.get(key, 0) + value
    return total


def of_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """The loss counts of one output's manifest ``labels`` entry: in, kept, clipped, dropped by
    reason, and per class."""
    return {"in": entry.get("in", 0), "kept": entry.get("out", 0), "clipped": entry.get("clipped", 0),
            "dropped": dict(entry.get("dropped") or {}), "classes": entry.get("classes") or {}}


def tally(totals: dict[str, Any], entry: dict[str, Any], ops: list) -> None:
    """Count one output's labels entry into a run's ``totals``: overall, per class, and under each
    op applied to the output (``ops``: its plan's steps)."""
    if "in" not in entry:
        return
    one = of_entry(entry)
    add(totals.setdefault("loss", {}), one)
    per_op = totals.setdefault("loss_by_op", {})
    for step in ops:
        if isinstance(step, dict) and step.get("applied"):
            add(per_op.setdefault(str(step.get("op")), {}), {k: v for k, v in one.items() if k != "classes"})


def summary_line(loss: dict[str, Any]) -> str:
    """``12 objects: 10 kept (3 clipped), 2 dropped (1 outside, 1 min_area)``."""
    given = loss.get("dropped") or {}
    dropped = {k: given[k] for k in REASONS if given.get(k)}  # in the rules' order
    n = sum(dropped.values())
    why = f" ({', '.join(f'{v} {k}' for k, v in dropped.items())})" if n else ""
    n_in = loss.get("in", 0)
    return (f"{n_in} object{'' if n_in == 1 else 's'}: {loss.get('kept', 0)} kept ({loss.get('clipped', 0)} clipped), "
            f"{n} dropped{why}")


def manifest_totals(path: Path) -> dict[str, Any] | None:
    """The label loss of a run from its manifest (``augcli stats`` on an output): ``loss``,
    ``loss_by_op`` and, for a ``--require`` run, ``require`` ({met, not_met}) over the records of
    outputs that were made. None when no record carries label counts. Raises UsageError for a
    manifest that cannot be read or whose counts are not counts."""
    from ..errors import UsageError
    from ..manifest import read_manifest

    _, records = read_manifest(path)
    totals: dict[str, Any] = {}
    for number, rec in enumerate(records, 2):
        entry = rec.get("labels")
        if rec.get("status") != "ok" or not isinstance(entry, dict):
            continue
        try:
            tally(totals, entry, rec.get("ops") if isinstance(rec.get("ops"), list) else [])
        except (TypeError, AttributeError, KeyError, RecursionError) as exc:
            raise UsageError(f"{path.name}:{number}: label counts that are not counts ({exc})") from None
        if isinstance(rec.get("require_met"), bool):
            req = totals.setdefault("require", {"met": 0, "not_met": 0})
            req["met" if rec["require_met"] else "not_met"] += 1
    return totals or None
