"""``augcli audit``: find what leaks between the splits of a dataset.

- exact duplicates: byte-identical files (SHA-256);
- near duplicates: dHash within ``--hash-distance`` (augcli.phash), a resize or a re-encode;
- mirrored copies: one dHash within that distance of the other's mirror dHash;
- augmented copies: ``expand`` outputs (found through the ``manifest.jsonl`` files under the
  dataset) whose source lies in another split;
- tiles: tiles named after one source (augcli tile's or SAHI's names), or a tile and its source,
  in different splits.

An image's split is the first folder on its path named like a split (``train``/``training``,
``val``/``valid``/``validation``/``dev``, ``test``/``testing``/``eval``, also with a separator or
digits around it, as Hugging Face reads folders; the names in a ``split.jsonl`` at the top count
too), else the VOC list (``ImageSets/Main/<split>.txt``) that names its stem. Pairs across splits
are leaks (exit 1); pairs inside one split are reported apart. Hashes are cached by content in
``DATASET/.augcli/hashes.jsonl`` (or ``--cache``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Sequence

from .errors import UsageError

SPLIT_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "dev": "val", "test": "test", "testing": "test", "eval": "test", "evaluation": "test"}
CACHE = ".augcli/hashes.jsonl"
SHOWN = 20  # pairs printed per kind; --json has them all
ALL_PAIRS = 50  # copies of one image up to which every pair of them is listed


@dataclass
class AuditResult:
    images: int
    splits: dict[str, int]
    leaks: list[dict[str, Any]] = field(default_factory=list)
    within: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.images, "splits": self.splits, "leaks": self.leaks, "within": self.within,
                "unreadable": self.unreadable}

    @property
    def exit_code(self) -> int:
        return 1 if self.leaks else 0

    def lines(self) -> list[str]:
        per = ", ".join(f"{k} {v}" for k, v in self.splits.items()) or "none found"
        out = [f"augcli: audit: {self.images} images; splits: {per}; {len(self.leaks)} leak(s) across splits, "
               f"{len(self.within)} duplicate pair(s) within a split"]
        for title, pairs in (("leak", self.leaks), ("within", self.within)):
            for p in pairs[:SHOWN]:
                dist = "-" if p["distance"] is None else str(p["distance"])
                out.append(f"{title}  {p['kind']:<6} {dist:>2}  {p['a']} [{p['split_a'] or '?'}]  "
                           f"{p['b']} [{p['split_b'] or '?'}]")
            if len(pairs) > SHOWN:
                out.append(f"{title}  ... and {len(pairs) - SHOWN} more (--json lists all)")
        return out


def _word_regex(words: Sequence[str]) -> re.Pattern:
    alt = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
    return re.compile(rf"(?:^|[-._ 0-9])({alt})(?:$|[-._ 0-9])", re.I)


def split_of_path(rel: str, pattern: re.Pattern, words: dict[str, str]) -> str | None:
    """The split named by the first folder of ``rel`` that names one (None: no such folder)."""
    for part in PurePosixPath(rel).parts[:-1]:
        m = pattern.search(part)
        if m:
            return words.get(m.group(1).lower(), m.group(1))
    return None


def _voc_lists(root: Path) -> dict[tuple[str, str], list[str]]:
    """{(VOC root rel, stem): [split, ...]} from ImageSets/Main/<split>.txt (class lists, named
    ``<class>_<split>.txt``, are not split lists)."""
    out: dict[tuple[str, str], list[str]] = {}
    for lst in sorted(root.rglob("ImageSets/Main/*.txt")):
        if "_" in lst.stem or any(p.startswith(".") for p in lst.relative_to(root).parts):
            continue
        base = lst.parent.parent.parent.relative_to(root).as_posix()
        try:
            text = lst.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if line.split():
                out.setdefault((base, line.split()[0]), []).append(lst.stem)
    return out


def _custom_names(root: Path) -> list[str]:
    try:
        with open(root / "split.jsonl", encoding="utf-8") as fh:
            head = json.loads(fh.readline(1 << 20) or "{}")
        names = head.get("names") if isinstance(head, dict) and head.get("kind") == "split" else None
        return [n for n in names if isinstance(n, str) and n] if isinstance(names, list) else []
    except (OSError, ValueError):
        return []


def _pair(kind: str, a: str, b: str, dist: int | None, splits: dict[str, str | None]) -> dict[str, Any]:
    a, b = sorted((a, b))
    return {"kind": kind, "distance": dist, "a": a, "b": b, "split_a": splits.get(a), "split_b": splits.get(b)}


def _firsts(rels: Sequence[str], splits: dict[str, str | None]) -> dict[str | None, str]:
    first: dict[str | None, str] = {}
    for r in rels:
        first.setdefault(splits.get(r), r)
    return first


def _pairs_among(rels: Sequence[str], splits: dict[str, str | None]) -> list[tuple[str, str]]:
    """Pairs of a set of copies: all of them for up to ALL_PAIRS copies; beyond, each copy with the
    first copy in its split and the firsts of the splits with each other (every copy and every split
    pair still named, without n² lines)."""
    if len(rels) <= ALL_PAIRS:
        return [(rels[i], rels[j]) for i in range(len(rels)) for j in range(i + 1, len(rels))]
    first = _firsts(rels, splits)
    out = [(first[splits.get(r)], r) for r in rels if first[splits.get(r)] != r]
    reps = list(first.values())
    return out + [(reps[i], reps[j]) for i in range(len(reps)) for j in range(i + 1, len(reps))]


def _pairs_between(xs: Sequence[str], ys: Sequence[str], splits: dict[str, str | None]) -> list[tuple[str, str]]:
    if len(xs) * len(ys) <= ALL_PAIRS * ALL_PAIRS:
        return [(a, b) for a in xs for b in ys]
    fx, fy = _firsts(xs, splits), _firsts(ys, splits)
    return [(a, b) for a in fx.values() for b in fy.values()]


def _manifest_pairs(root: Path, images: list[str], splits: dict[str, str | None],
                    report: Callable[[str], None]) -> list[dict[str, Any]]:
    """(output, source) pairs of the ``expand`` manifests under ``root`` whose source is an image of
    the dataset: by the recorded input folder, else by the one image whose path ends with the
    source's relative path."""
    from .manifest import manifests_under

    known = set(images)
    by_name: dict[str, list[str]] = {}
    for r in images:
        by_name.setdefault(PurePosixPath(r).name, []).append(r)
    pairs = []
    for rel_man, man, header, records in manifests_under(
            root, lambda rel, exc: report(f"augcli: warning: {rel}: {exc}; not read")):
        in_dir = str(header["config"].get("input_dir") or "")
        bases = [Path(in_dir)] if os.path.isabs(in_dir) else [Path.cwd() / in_dir, root / in_dir, root.parent / in_dir]
        for rec in records:
            src, outp = rec.get("source"), rec.get("output")
            if rec.get("status") != "ok" or not isinstance(src, str) or not isinstance(outp, str):
                continue
            out_rel = (PurePosixPath(rel_man).parent / outp).as_posix()
            if out_rel not in known:
                continue
            src_rel = None
            for base in bases:
                try:
                    cand = (base / src).resolve().relative_to(root).as_posix()
                except (ValueError, OSError):
                    continue
                if cand in known:
                    src_rel = cand
                    break
            if src_rel is None:
                ends = [r for r in by_name.get(PurePosixPath(src).name, ()) if r == src or r.endswith("/" + src)]
                src_rel = ends[0] if len(ends) == 1 else None
            if src_rel is not None and src_rel != out_rel:
                p = _pair("source", out_rel, src_rel, None, splits)
                pairs.append(p)
    return pairs


def _tile_pairs(images: list[str], splits: dict[str, str | None]) -> list[dict[str, Any]]:
    """Tiles of one source (named as augcli tile or SAHI name them, splitplan.TILE_NAME) and that
    source, in different splits: overlapping tiles share pixels that no hash sees. Keyed by stem
    alone, since a naive split moves tiles into other folders."""
    from .splitplan import TILE_NAME

    by_key: dict[str, list[str]] = {}
    tiled: set[str] = set()
    for rel in images:
        stem = PurePosixPath(rel).stem
        m = TILE_NAME.match(stem)
        if m:
            tiled.add(m.group(1))
        by_key.setdefault(m.group(1) if m else stem, []).append(rel)
    pairs = []
    for key in sorted(tiled):
        rels = by_key[key]
        if len({splits.get(r) for r in rels} - {None}) > 1:
            pairs.extend(_pair("tile", a, b, None, splits) for a, b in _pairs_among(rels, splits)
                         if splits.get(a) is not None and splits.get(b) is not None and splits[a] != splits[b])
    return pairs


def run_audit(dataset: str, distance_max: int = 8, workers: int = 0, cache: str | None = None,
              report: Callable[[str], None] = lambda msg: None) -> AuditResult:
    from .labels.detect import scan
    from .phash import HashCache, hash_files, mirror_links, near_links

    root = Path(dataset)
    if not root.is_dir():
        raise UsageError(f"{dataset}: not a folder")
    root = root.resolve()
    images = sorted(scan(root, lambda msg: None, None).tree.images)
    words = dict(SPLIT_WORDS)
    words.update({n.lower(): n for n in _custom_names(root)})
    pattern = _word_regex(list(words))
    lists = _voc_lists(root)
    splits: dict[str, str | None] = {}
    listed_twice: list[dict[str, Any]] = []
    for rel in images:
        s = split_of_path(rel, pattern, words)
        if s is None and lists:
            p = PurePosixPath(rel)
            names = sorted({x for (base, stem), v in lists.items() if stem == p.stem
                            and (base in ("", ".") or rel.startswith(base + "/")) for x in v})
            s = names[0] if names else None
            if len(names) > 1:  # one image in two lists is itself a leak
                listed_twice.append({"kind": "listed", "distance": None, "a": rel, "b": rel,
                                     "split_a": names[0], "split_b": names[1]})
        splits[rel] = s
    hc = HashCache(Path(cache) if cache else root / CACHE, report)
    hashes = hash_files(root, images, workers, hc)
    try:
        hc.save(None if cache else {os.path.join(str(root), rel) for rel in images})
    except OSError as exc:
        report(f"augcli: note: hash cache not written ({exc.strerror or exc})")
    counts: dict[str, int] = {}
    for s in splits.values():
        if s is not None:
            counts[s] = counts.get(s, 0) + 1
    result = AuditResult(len(images), dict(sorted(counts.items())))
    result.unreadable = [f"{h.rel}: {h.error}" for h in hashes if h.error]
    pairs: list[dict[str, Any]] = list(listed_twice)
    sha = {h.rel: h.sha256 for h in hashes if h.sha256}
    by_sha: dict[str, list[str]] = {}
    for rel, digest in sha.items():
        by_sha.setdefault(digest, []).append(rel)
    for rels in by_sha.values():
        pairs.extend(_pair("exact", a, b, 0, splits) for a, b in _pairs_among(rels, splits))
    lists, links = near_links([h.dhash for h in hashes], distance_max)
    for members in lists:  # equal hashes, not equal bytes
        rels = [images[i] for i in members]
        pairs.extend(_pair("near", a, b, 0, splits) for a, b in _pairs_among(rels, splits)
                     if sha.get(a) != sha.get(b))
    for x, y, d in links:
        pairs.extend(_pair("near", a, b, d, splits) for a, b in _pairs_between([images[i] for i in lists[x]],
                                                                                [images[i] for i in lists[y]], splits))
    seen = {(p["a"], p["b"]) for p in pairs}
    for xs, ys, d in mirror_links([h.dhash for h in hashes], [h.mirror for h in hashes], distance_max):
        for a, b in _pairs_between([images[i] for i in xs], [images[j] for j in ys], splits):
            p = _pair("mirror", a, b, d, splits)
            if a != b and (p["a"], p["b"]) not in seen:
                seen.add((p["a"], p["b"]))
                pairs.append(p)
    pairs.extend(_manifest_pairs(root, images, splits, report))
    pairs.extend(_tile_pairs(images, splits))
    order = {"listed": 0, "exact": 1, "source": 2, "near": 3, "mirror": 4, "tile": 5}
    pairs.sort(key=lambda p: (order[p["kind"]], p["distance"] or 0, p["a"], p["b"]))
    shown: set[tuple[str, str]] = set()
    for p in pairs:  # one line per pair of files, under its surest kind (listed, exact, source, near, mirror, tile)
        if p["a"] != p["b"] and (p["a"], p["b"]) in shown:
            continue
        shown.add((p["a"], p["b"]))
        cross = p["split_a"] is not None and p["split_b"] is not None and p["split_a"] != p["split_b"]
        (result.leaks if cross else result.within).append(p)
    return result
