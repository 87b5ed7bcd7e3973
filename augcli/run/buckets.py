"""The bookkeeping folder of an output: per-bucket manifest parts, done markers, run stats.

    OUTPUT_DIR/.augcli/parts/b-00012.jsonl   the bucket's manifest part: the recipe line, then its
                                             records sorted by source (exactly the manifest's lines)
    OUTPUT_DIR/.augcli/done/b-00012.json     written last: counts and digests (sources, part, recipe)
    OUTPUT_DIR/.augcli/stats/HOST-PID-NS.json  one per run: host, shard, workers, timing, counts

The folder is hidden, so it is not an input when OUTPUT_DIR is expanded again, and everything
visible in OUTPUT_DIR stays the same as after a one-machine run. Markers and parts hold no host,
time or path of the machine that wrote them: two runs of one recipe write the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable

from ..storage import LocalStore
from ..tempfiles import host_name

BOOKKEEPING = ".augcli"
MARKER_VERSION = 1


def digest(chunks: Iterable[bytes]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def sources_digest(sources: Iterable[str]) -> str:
    """A digest of a bucket's (sorted) source list: a changed input invalidates only its buckets."""
    return digest(s.encode("utf-8") + b"\n" for s in sources)


def bucket_name(bucket: int) -> str:
    return f"b-{bucket:05d}"


def parse_bucket_name(name: str) -> int | None:
    stem = name.rsplit(".", 1)[0]
    if not stem.startswith("b-") or not stem[2:].isdigit():
        return None
    return int(stem[2:])


@dataclass(frozen=True)
class Layout:
    """Where the bookkeeping of one output lives, in its store (local folder or object storage);
    every name is relative to the output."""

    store: Any  # augcli.storage.LocalStore | RemoteStore

    @staticmethod
    def part(bucket: int) -> str:
        return f"{BOOKKEEPING}/parts/{bucket_name(bucket)}.jsonl"

    @staticmethod
    def labels_part(bucket: int) -> str:
        """A bucket's COCO entries (one JSON line per output, in source order), for the COCO JSON
        written once when every bucket is done."""
        return f"{BOOKKEEPING}/labels/{bucket_name(bucket)}.jsonl"

    @staticmethod
    def marker(bucket: int) -> str:
        return f"{BOOKKEEPING}/done/{bucket_name(bucket)}.json"

    def done_buckets(self) -> dict[int, str]:
        """Every bucket with a done marker, from one listing of the done folder."""
        found = {}
        for name in self.store.names(f"{BOOKKEEPING}/done"):
            b = parse_bucket_name(name) if name.endswith(".json") else None
            if b is not None:
                found[b] = f"{BOOKKEEPING}/done/{name}"
        return found

    def read_marker(self, rel: str) -> dict[str, Any] | None:
        """A done marker, or None if it cannot be read or is not one (then the bucket is not done)."""
        try:
            data = json.loads(self.store.read(rel).decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(data, dict) or data.get("kind") != "bucket-done":
            return None
        return data

    def remove(self, rel: str) -> None:
        self.store.remove(rel)


def finish_bucket(layout: Layout, bucket: int, buckets: int, header: str, sources: list[str],
                  lines: list[str], failed: int, labels: list[str] | None = None) -> dict[str, Any]:
    """Write a bucket's manifest part (and its COCO entries, ``labels``), then (last) its done
    marker; each appears whole. ``lines`` are the bucket's record lines in source order, exactly as
    the manifest holds them."""
    part = (header + "".join(lines)).encode("utf-8")
    marker = {
        "kind": "bucket-done",
        "version": MARKER_VERSION,
        "bucket": bucket,
        "buckets": buckets,
        "sources": len(sources),
        "records": len(lines),
        "failed": failed,
        "sources_digest": sources_digest(sources),
        "recipe_digest": digest([header.encode("utf-8")]),
        "part_digest": digest([part]),
    }
    if labels is not None:
        entries = "".join(labels).encode("utf-8")
        marker["labels_digest"] = digest([entries])
        layout.store.write(layout.labels_part(bucket), entries, overwrite=True)
    layout.store.write(layout.part(bucket), part, overwrite=True)
    layout.store.write(layout.marker(bucket), (json.dumps(marker, sort_keys=True) + "\n").encode("utf-8"),
                       overwrite=True)
    return marker


def write_stats(cfg, summary, workers: int, store: Any = None, **extra: Any) -> str | None:
    """One JSON file per run under .augcli/stats: the run's events. Best effort (None on failure)."""
    if cfg.dry_run:
        return None
    host = host_name()
    stats = {
        "kind": "run-stats",
        "host": host,
        "pid": os.getpid(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "shard": str(cfg.shard) if cfg.shard is not None else None,
        "executor": cfg.executor,
        "workers": workers,
        "on_exists": cfg.on_exists,
        "strict": cfg.strict,
        "seed": summary.seed,
        "discovered": summary.discovered,
        "written": summary.written,
        "skipped": summary.skipped,
        "failed": len(summary.failed),
        "interrupted": summary.interrupted,
        "fatal": summary.fatal,
        "elapsed": round(summary.elapsed, 3),
        # this process's object counts and label loss (the manifest's records hold each output's)
        **({"labels": summary.labels} if summary.labels is not None else {}),
        **extra,
    }
    rel = f"{BOOKKEEPING}/stats/{host}-{os.getpid()}-{time.time_ns()}.json"
    store = store if store is not None else LocalStore(cfg.output_dir)
    try:
        store.write(rel, (json.dumps(stats, sort_keys=True) + "\n").encode("utf-8"), overwrite=True)
    except Exception:  # best effort: the outputs are what matters
        return None
    return rel
