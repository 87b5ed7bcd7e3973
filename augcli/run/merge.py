"""``augcli merge OUTPUT_DIR``: the per-bucket manifest parts -> OUTPUT_DIR/manifest.jsonl.

The merge refuses (UsageError, naming what is wrong) unless every bucket 0..B-1 has a done marker,
all markers agree on B, every part is the one its marker describes, and all parts start with the
same recipe line. Parts are sorted by source, so a k-way merge gives exactly the lines, in exactly
the order, that a one-machine run writes. Merging again changes nothing (an identical manifest is
left untouched).
"""

from __future__ import annotations

import filecmp
import heapq
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import UsageError
from ..imageio import temp_path
from .buckets import Layout, bucket_name, digest, read_marker


@dataclass
class MergeResult:
    manifest: Path
    buckets: int
    records: int
    changed: bool


def _names(buckets: list[int], limit: int = 8) -> str:
    shown = ", ".join(bucket_name(b) for b in buckets[:limit])
    return shown + (f" and {len(buckets) - limit} more" if len(buckets) > limit else "")


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    diffs = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += _differences(va, vb, f"{prefix}{k}.")
        elif va != vb:
            diffs.append(f"{prefix}{k}: {json.dumps(va)} vs {json.dumps(vb)}")
    return diffs


def _lines(path: Path) -> Iterator[tuple[str, str]]:
    with open(path, encoding="utf-8") as fh:
        next(fh, None)  # the recipe line
        for line in fh:
            yield json.loads(line)["source"], line


def merge(output_dir: Path | str, manifest: Path | str | None = None) -> MergeResult:
    output_dir = Path(output_dir)
    layout = Layout(output_dir)
    target = Path(manifest) if manifest is not None else output_dir / "manifest.jsonl"
    found = layout.done_buckets()
    if not found:
        raise UsageError(f"{str(output_dir)!r} has no finished buckets ({layout.root.name}/done is empty or "
                         "missing): run `augcli expand ... --shard I/N` first")
    markers = {}
    for b, path in found.items():
        m = read_marker(path)
        if m is None:
            raise UsageError(f"done marker {str(path)!r} cannot be read; run the shard that owns bucket {b} again")
        markers[b] = m
    counts: dict[int, list[int]] = {}
    for b, m in sorted(markers.items()):
        counts.setdefault(int(m.get("buckets", -1)), []).append(b)
    if len(counts) > 1:
        parts = "; ".join(f"{n} buckets ({_names(bs, 3)})" for n, bs in sorted(counts.items()))
        raise UsageError(f"the done markers disagree on the bucket count: {parts}; every shard must use the "
                         "same --buckets")
    total = next(iter(counts))
    missing = [b for b in range(total) if b not in markers]
    extra = [b for b in markers if b >= total]
    if extra:
        raise UsageError(f"done markers for buckets beyond the bucket count {total}: {_names(sorted(extra))}")
    if missing:
        raise UsageError(f"{len(missing)} of {total} buckets are not done: {_names(missing)} (bucket b belongs "
                         "to shard b % N); run those shards again (--on-exists skip), then merge")

    headers: dict[str, list[int]] = {}
    for b in range(total):
        part = layout.part(b)
        try:
            data = part.read_bytes()
        except OSError as exc:
            raise UsageError(f"manifest part {str(part)!r} of a done bucket cannot be read: "
                             f"{exc.strerror or exc}; run its shard again") from None
        if digest([data]) != markers[b].get("part_digest"):
            raise UsageError(f"manifest part {str(part)!r} is not the one its done marker describes (written "
                             "by another run since?); run its shard again with --on-exists overwrite")
        first = data.split(b"\n", 1)[0].decode("utf-8")
        headers.setdefault(first, []).append(b)
    if len(headers) > 1:
        (h1, b1), (h2, b2) = sorted(headers.items(), key=lambda kv: kv[1][0])[:2]
        diffs = _differences(json.loads(h1), json.loads(h2))
        raise UsageError(f"the parts have {len(headers)} different recipes: {_names(b1, 3)} and {_names(b2, 3)} "
                         f"differ in {'; '.join(diffs[:5])}; every shard must run the same command")
    header = next(iter(headers))

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    records = 0
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(header + "\n")
            streams = [_lines(layout.part(b)) for b in range(total)]
            for _, line in heapq.merge(*streams, key=lambda item: item[0]):
                fh.write(line)
                records += 1
        if target.exists() and filecmp.cmp(tmp, target, shallow=False):
            return MergeResult(target, total, records, changed=False)
        os.replace(tmp, target)
        return MergeResult(target, total, records, changed=True)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
