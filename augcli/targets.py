"""Dataset targets: how many augmented copies each source gets under ``--per-class N`` or ``--total N``.

A *class* is a folder that holds images directly (its relative POSIX path; the input root is ``.``).
The copy plan is a pure function of (the sorted source paths, the root seed, the flags): it is
computed from the names alone, before any work is dispatched, so every worker (and, later, every
independent shard process) that sees the same listing computes exactly the same plan.

How copies are spread:

- a class's copies go to its sources as evenly as possible: every source gets ``base`` or
  ``base + 1`` copies; the ``extra`` sources that get ``base + 1`` are the first ones when the
  class's sources are ranked by ``rank_key(seed, path)`` (a keyed blake2b of the relative path), so
  the seed alone decides them;
- ``--total N``: the whole dataset reaches N; every source gets ``base`` or ``base + 1`` copies; the
  extra copies are shared between the classes in proportion to their sizes (largest remainder, ties
  ranked by ``rank_key(seed, "class:" + name)``), then spread inside each class as above;
- ``--total N --balance``: water-filling on the class counts: the smallest classes are lifted first,
  up to a common level; the level rises until the classes add up to N (the few classes that get one
  more than the level are ranked by the seed as above);
- ``--max-copies K`` caps every source at K copies; a class that cannot reach its target then stops
  at ``originals + K x sources`` and a note says so.

Copy indices stay 0..k-1 per source. Their zero-padding is the width of (the largest copy count of
any source in the run) - 1, so it depends on the plan alone (never on workers or shards).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Iterable, Mapping, Sequence

RULE = ("extras: sources ranked by blake2b(path, key=seed as 8 little-endian bytes, digest_size=8), "
        "smallest first; classes by the same hash of 'class:' + name")


@dataclass(frozen=True)
class Targets:
    """What a run aims for: exactly one of ``per_class`` and ``total``; ``balance`` only with
    ``total``; ``max_copies`` caps the copies of any one source."""

    per_class: int | None = None
    total: int | None = None
    balance: bool = False
    max_copies: int | None = None

    def __post_init__(self) -> None:
        if self.per_class is None and self.total is None:
            if self.balance:
                raise ValueError("--balance needs --total N")
            raise ValueError("--max-copies needs --per-class N or --total N")
        if self.per_class is not None and self.total is not None:
            raise ValueError("--per-class and --total cannot be used together")
        if self.balance and self.total is None:
            raise ValueError("--balance needs --total N (--per-class already balances the classes)")
        for name in ("per_class", "total", "max_copies"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"--{name.replace('_', '-')} must be a whole number >= 1, not {value!r}")

    @property
    def mode(self) -> str:
        return "per_class" if self.per_class is not None else "total"

    def describe(self) -> dict[str, Any]:
        return {"per_class": self.per_class, "total": self.total, "balance": self.balance,
                "max_copies": self.max_copies}


def class_of(source: str) -> str:
    """The class of a source: its folder's relative path (``.`` for the input root)."""
    return str(PurePosixPath(source).parent)


def rank_key(seed: int, text: str) -> bytes:
    """The seed-keyed hash that orders sources (and classes) when extra copies are handed out."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=int(seed).to_bytes(8, "little")).digest()


@dataclass(frozen=True)
class ClassPlan:
    name: str  # the folder's relative path, "." for the input root
    sources: int
    originals: int  # originals that count towards the target (--include-originals), else 0
    target: int  # the count this class was planned to reach
    copies: int  # augmented copies it gets
    base: int  # copies of every source ...
    extra: int  # ... plus one for this many of them

    @property
    def final(self) -> int:
        return self.originals + self.copies

    @property
    def short(self) -> int:
        return max(0, self.target - self.final)

    @property
    def largest(self) -> int:
        return self.base + (1 if self.extra else 0)


@dataclass(frozen=True)
class CopyPlan:
    targets: Targets
    seed: int
    include_originals: bool
    classes: tuple[ClassPlan, ...]  # sorted by name

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.classes})

    def get(self, name: str) -> ClassPlan | None:
        return self._by_name.get(name)  # type: ignore[attr-defined]

    @property
    def width(self) -> int:
        """Zero-padding of copy indices: the width of the largest copy count in the run, minus one."""
        return len(str(max(max((c.largest for c in self.classes), default=0) - 1, 0)))

    @property
    def final(self) -> int:
        return sum(c.final for c in self.classes)

    @property
    def short(self) -> int:
        if self.targets.total is not None:
            return max(0, self.targets.total - self.final)
        return sum(c.short for c in self.classes)

    def copies_in(self, sources: Sequence[str]) -> dict[str, int]:
        """Copies of each of ``sources`` (one folder's full listing, or several folders'). Sources
        of a folder the plan does not know get none."""
        by_class: dict[str, list[str]] = {}
        for rel in sources:
            by_class.setdefault(class_of(rel), []).append(rel)
        counts: dict[str, int] = {}
        for name, rels in by_class.items():
            cp = self.get(name)
            if cp is None:
                counts.update((rel, 0) for rel in rels)
                continue
            ranked = sorted(rels, key=lambda rel: (rank_key(self.seed, rel), rel))
            for i, rel in enumerate(ranked):
                counts[rel] = cp.base + (1 if i < cp.extra else 0)
        return counts

    def is_extra(self, source: str, copies: int) -> bool:
        """Whether a source with ``copies`` copies is one of its class's extras (base + 1)."""
        cp = self.get(class_of(source))
        return cp is not None and cp.extra > 0 and copies == cp.base + 1

    def notes(self) -> list[str]:
        """What the user must know: classes at or above their target, targets not reached."""
        t = self.targets
        out: list[str] = []
        if t.per_class is not None:
            for c in self.classes:
                if c.originals >= c.target:
                    out.append(f"class {c.name!r} already has {c.originals} originals, at or above "
                               f"--per-class {c.target}: no copies")
                elif c.short:
                    out.append(f"class {c.name!r} cannot reach {c.target}: {c.sources} source(s) x "
                               f"--max-copies {t.max_copies} = {c.copies} copies, {c.final} images "
                               f"({c.short} short)")
            return out
        originals = sum(c.originals for c in self.classes)
        if not self.classes:
            out.append(f"the input holds no images: --total {t.total} cannot be reached")
        elif originals >= t.total:  # type: ignore[operator]
            out.append(f"the dataset already has {originals} originals, at or above --total {t.total}: no copies")
        elif self.short:
            out.append(f"the dataset cannot reach --total {t.total} under --max-copies {t.max_copies}: "
                       f"{self.final} images ({self.short} short)")
        if t.balance:
            for c in self.classes:
                if c.short and not self.short:
                    out.append(f"class {c.name!r} stops at {c.final} under --max-copies {t.max_copies} "
                               f"(the level is {c.target}); the other classes take the rest")
        return out

    def describe(self, extra_sources: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
        """The plan as JSON-ready values (the manifest's first line and ``--json``). ``extra_sources``
        maps a class to the sources that got ``base + 1`` copies, when they are known."""
        extra_sources = extra_sources or {}
        return {
            **self.targets.describe(),
            "include_originals": self.include_originals,
            "seed": self.seed,
            "rule": RULE,
            "width": self.width,
            "sources": sum(c.sources for c in self.classes),
            "copies": sum(c.copies for c in self.classes),
            "final": self.final,
            "short": self.short,
            "notes": self.notes(),
            "classes": [
                {"class": c.name, "sources": c.sources, "originals": c.originals, "target": c.target,
                 "copies": c.copies, "base": c.base, "extra": c.extra, "final": c.final, "short": c.short,
                 "extra_sources": list(extra_sources.get(c.name, ()))}
                for c in self.classes
            ],
        }


def _spread(name: str, sources: int, originals: int, target: int, copies: int) -> ClassPlan:
    return ClassPlan(name, sources, originals, target, copies, copies // sources, copies % sources)


def _ranked_classes(seed: int, names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda n: (rank_key(seed, "class:" + n), n))


def plan_copies(sources: Iterable[str], seed: int, targets: Targets, include_originals: bool = False) -> CopyPlan:
    """The copy plan of a run, from its source paths (relative POSIX paths; only their folders and
    how many each holds matter here), the root seed and the flags."""
    sizes: dict[str, int] = {}
    for rel in sources:
        name = class_of(rel)
        sizes[name] = sizes.get(name, 0) + 1
    names = sorted(sizes)
    orig = {n: sizes[n] if include_originals else 0 for n in names}
    cap = {n: None if targets.max_copies is None else targets.max_copies * sizes[n] for n in names}

    def capped(n: str, copies: int) -> int:
        return copies if cap[n] is None else min(copies, cap[n])  # type: ignore[type-var]

    classes: list[ClassPlan] = []
    if targets.per_class is not None:
        n_target = targets.per_class
        for n in names:
            classes.append(_spread(n, sizes[n], orig[n], n_target, capped(n, max(0, n_target - orig[n]))))
    elif not targets.balance:
        total_sources = sum(sizes.values())
        wanted = max(0, targets.total - sum(orig.values())) if total_sources else 0  # type: ignore[operator]
        base, extra = divmod(wanted, total_sources) if total_sources else (0, 0)
        share = {n: extra * sizes[n] // total_sources for n in names}
        remainder = {n: extra * sizes[n] % total_sources for n in names}
        left = extra - sum(share.values())
        by_remainder = sorted(_ranked_classes(seed, names), key=lambda n: -remainder[n])  # stable: seed breaks ties
        for n in by_remainder[:left]:
            share[n] += 1
        for n in names:
            copies = base * sizes[n] + share[n]
            classes.append(_spread(n, sizes[n], orig[n], orig[n] + copies, capped(n, copies)))
    else:
        classes = _balance(names, sizes, orig, cap, targets.total, seed)  # type: ignore[arg-type]
    return CopyPlan(targets, seed, include_originals, tuple(classes))


def _balance(names: list[str], sizes: dict[str, int], orig: dict[str, int], cap: dict[str, int | None],
             total: int, seed: int) -> list[ClassPlan]:
    """Water-filling: class c ends with min(limit_c, max(originals_c, level)), limit_c being its
    originals plus max-copies x sources; the level is the highest whole number whose classes add up
    to at most ``total``, and the remaining few images go, one each, to classes at the level."""
    limit = {n: orig[n] + cap[n] if cap[n] is not None else None for n in names}

    def at(n: str, level: int) -> int:
        v = max(orig[n], level)
        return v if limit[n] is None else min(v, limit[n])  # type: ignore[type-var]

    def filled(level: int) -> int:
        return sum(at(n, level) for n in names)

    if not names or filled(0) >= total:
        return [_spread(n, sizes[n], orig[n], orig[n], 0) for n in names]
    if all(limit[n] is not None for n in names) and sum(limit.values()) <= total:  # type: ignore[arg-type]
        level = max(limit.values())  # type: ignore[type-var, assignment]
        return [_spread(n, sizes[n], orig[n], max(orig[n], level), limit[n] - orig[n]) for n in names]  # type: ignore[operator]
    lo, hi = 0, total  # filled(lo) <= total < filled(hi + 1) somewhere in between
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if filled(mid) <= total:
            lo = mid
        else:
            hi = mid - 1
    level = lo
    left = total - filled(level)
    can_rise = [n for n in _ranked_classes(seed, names)
                if orig[n] <= level and (limit[n] is None or level < limit[n])]  # type: ignore[operator]
    lifted = set(can_rise[:left])
    out = []
    for n in names:
        own_level = level + (1 if n in lifted else 0)
        final = at(n, own_level)
        out.append(_spread(n, sizes[n], orig[n], max(orig[n], own_level), final - orig[n]))
    return out


def format_plan(plan: Mapping[str, Any]) -> list[str]:
    """The plan (as ``CopyPlan.describe`` gives it) as text lines for ``--dry-run``, each starting
    with ``#`` so that the ``source<TAB>output`` lines that follow stay easy to filter."""
    if plan["per_class"] is not None:
        head = f"--per-class {plan['per_class']}"
    else:
        head = f"--total {plan['total']}" + (" --balance" if plan["balance"] else "")
    if plan["max_copies"] is not None:
        head += f" --max-copies {plan['max_copies']}"
    head += ", originals " + ("counted" if plan["include_originals"] else "not counted")
    rows = [("class", "sources", "copies each", "generated", "final")]
    for c in plan["classes"]:
        each = str(c["base"]) if not c["extra"] else f"{c['base']} or {c['base'] + 1} ({c['extra']} get {c['base'] + 1})"
        rows.append((c["class"], str(c["sources"]), each, str(c["copies"]), str(c["final"])))
    rows.append(("total", str(plan["sources"]), "", str(plan["copies"]), str(plan["final"])))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"# plan: {head}, seed {plan['seed']}"]
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].rjust(widths[1]), r[2].ljust(widths[2]), r[3].rjust(widths[3]),
                 r[4].rjust(widths[4])]
        lines.append(("# " + "  ".join(cells)).rstrip())
    lines += [f"# note: {note}" for note in plan["notes"]]
    return lines
