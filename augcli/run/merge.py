"""``augcli merge OUTPUT_DIR``: the per-bucket manifest parts -> OUTPUT_DIR/manifest.jsonl.

The merge refuses (UsageError, naming what is wrong) unless every bucket 0..B-1 has a done marker,
all markers agree on B, every part is the one its marker describes, and all parts start with the
same recipe line. Parts are sorted by source, so a k-way merge gives exactly the lines, in exactly
the order, that a one-machine run writes. Merging again changes nothing (an identical manifest is
left untouched).
"""

from __future__ import annotations

import filecmp
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import UsageError
from ..imageio import temp_path
from ..labels.voc_lists import ListUnreadable
from ..manifest import merged_lines, part_records, recipe_differences
from ..storage import open_store
from .buckets import BOOKKEEPING, Layout, bucket_name, digest
from .places import write_run_file
from .shard import MAX_BUCKETS


@dataclass
class MergeResult:
    manifest: Path | str
    buckets: int
    records: int
    changed: bool


def _names(buckets: list[int], limit: int = 8) -> str:
    shown = ", ".join(bucket_name(b) for b in buckets[:limit])
    return shown + (f" and {len(buckets) - limit} more" if len(buckets) > limit else "")


def _lines(store, rel: str, size: int) -> Iterator[tuple[str, str]]:
    def bad(number: int) -> UsageError:
        return UsageError(f"manifest part {rel!r} line {number} is not a record of a source; "
                          "run its shard again with --on-exists overwrite")

    with store.open_lines(rel, size) as fh:
        next(fh, None)  # the recipe line
        yield from part_records(fh, bad)


def _check_marker(rel: str, marker: dict[str, Any]) -> None:
    """A done marker's counts must be whole numbers in range (a marker is a file anyone can edit)."""
    total = marker.get("buckets")
    if isinstance(total, bool) or not isinstance(total, int) or not 1 <= total <= MAX_BUCKETS:
        raise UsageError(f"done marker {rel!r}: buckets must be a whole number from 1 to {MAX_BUCKETS}, not "
                         f"{json.dumps(total)[:40]}; run the shard that owns it again")
    records = marker.get("records", 0)
    if isinstance(records, bool) or not isinstance(records, int) or records < 0:
        raise UsageError(f"done marker {rel!r}: records must be a whole number >= 0, not "
                         f"{json.dumps(records)[:40]}; run the shard that owns it again")


def merge(output: Path | str | Any, manifest: Path | str | None = None, coco: bool = True) -> MergeResult:
    """Merge the parts of ``output`` (a folder, a URL, or an augcli.storage store) into
    ``manifest`` (default: the output's manifest.jsonl); with ``coco``, also write the COCO JSON of
    a run that carries COCO labels (from the buckets' entries under .augcli/labels/) and the VOC
    image-set lists of one that carries them (from the buckets' records)."""
    store = output if hasattr(output, "names") else open_store(output)
    layout = Layout(store)
    shown = store.shown
    found = layout.done_buckets()
    if not found:
        raise UsageError(f"{shown!r} has no finished buckets ({BOOKKEEPING}/done is empty or missing): "
                         "run `augcli expand ... --shard I/N` first")
    markers = {}
    for b, rel in found.items():
        m = layout.read_marker(rel)
        if m is None:
            raise UsageError(f"done marker {rel!r} of {shown!r} cannot be read; run the shard that owns bucket {b} again")
        _check_marker(rel, m)
        markers[b] = m
    counts: dict[int, list[int]] = {}
    for b, m in sorted(markers.items()):
        counts.setdefault(m["buckets"], []).append(b)
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
    sizes: dict[int, int] = {}
    for b in range(total):
        rel = layout.part(b)
        try:
            data = store.read(rel)
        except Exception as exc:
            raise UsageError(f"manifest part {rel!r} of a done bucket cannot be read ({type(exc).__name__}); "
                             "run its shard again") from None
        if digest([data]) != markers[b].get("part_digest"):
            raise UsageError(f"manifest part {rel!r} is not the one its done marker describes (written by "
                             "another run since?); run its shard again with --on-exists overwrite")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"manifest part {rel!r} is not UTF-8 text; run its shard again with "
                             "--on-exists overwrite") from None
        sizes[b] = len(data)
        first = data.split(b"\n", 1)[0].decode("utf-8")
        headers.setdefault(first, []).append(b)
    if len(headers) > 1:
        (h1, b1), (h2, b2) = sorted(headers.items(), key=lambda kv: kv[1][0])[:2]
        diffs = recipe_differences(h1, h2)
        raise UsageError(f"the parts have {len(headers)} different recipes: {_names(b1, 3)} and {_names(b2, 3)} "
                         f"differ in {'; '.join(diffs[:5])}; every shard must run the same command")
    header = next(iter(headers)) + "\n"

    def merged() -> Iterator[str]:
        return merged_lines(header, [_lines(store, layout.part(b), sizes[b]) for b in range(total)])

    records = sum(m.get("records", 0) for m in markers.values())
    if manifest is not None or not store.remote:
        target = Path(manifest) if manifest is not None else Path(store.root) / "manifest.jsonl"
        result = MergeResult(target, total, records, _write_local(target, merged()))
    else:
        result = MergeResult(f"{shown}/manifest.jsonl", total, records,
                             _write_remote(store, "manifest.jsonl", merged))
    if coco:  # after the manifest: a COCO JSON that cannot be made does not cost the manifest
        _collected_of(header, store, layout, total)
        if (_recipe_of(header).get("config") or {}).get("layout") == "hf":
            from .sinks import HfSink

            try:  # the ImageFolder metadata from the buckets' rows
                HfSink(store).finish(total)
            except (OSError, ValueError, KeyError) as exc:
                raise UsageError(f"the hf metadata.jsonl cannot be made from {BOOKKEEPING}/hf/ "
                                 f"({type(exc).__name__}); run the shards again with --on-exists overwrite") from None
    return result


def _bucket_values(layout: Layout, bucket: int, rel: str, key: str, skip: int = 0) -> list[Any]:
    """The JSON value of each line of a done bucket's file ``rel`` (after the first ``skip``), the
    file checked against its done marker's digest ``key`` (UsageError naming it otherwise)."""
    marker = layout.read_marker(layout.marker(bucket)) or {}
    try:
        data = layout.store.read(rel)
    except OSError:
        data = None
    if data is None or digest([data]) != marker.get(key):
        raise UsageError(f"{rel!r} is missing or not the one its done marker describes; run the shard that "
                         "owns it again with --on-exists overwrite")
    try:
        return [json.loads(line) for line in data.decode("utf-8").splitlines()[skip:]]
    except (ValueError, RecursionError):
        raise UsageError(f"{rel!r} cannot be read; run the shard that owns it again with --on-exists "
                         "overwrite") from None


def write_coco(layout: Layout, setup: Any, buckets: int, inp: Path | None, files: Any = None) -> None:
    """The COCO JSON(s) from every bucket's entries: the same bytes as a one-machine run (the
    collector sorts images by name), written once, after the images."""
    collector = setup.collector()
    for b in range(buckets):
        for entry in _bucket_values(layout, b, layout.labels_part(b), "labels_digest"):
            collector.add({"_coco": entry})
    for path, payload in collector.payloads():
        write_run_file(path, payload, True, inp, files)


def write_image_sets(layout: Layout, setup: Any, buckets: int, inp: Path | None, files: Any = None) -> None:
    """VOC's image-set lists from every bucket's records (its manifest part: the recipe, then the
    records in source order): the same bytes as a one-machine run, written once, after the images."""
    lists = setup.image_set_lists()
    if lists is None:
        return
    for b in range(buckets):
        for record in _bucket_values(layout, b, layout.part(b), "part_digest", skip=1):
            if isinstance(record, dict):
                lists.add(record)
    for path, payload in lists.payloads():
        write_run_file(path, payload, True, inp, files)


def _collected_of(header: str, store: Any, layout: Layout, total: int) -> bool:
    """Write the COCO JSON, or VOC's image-set lists, of a run whose header says it carries them
    (the label setup is rebuilt from the recorded description and the input folder it names, where
    they are read). Whether they were written."""
    recipe = _recipe_of(header)
    labels = recipe.get("labels")
    if not isinstance(labels, dict) or not (labels.get("format") == "coco" or labels.get("image_sets")):
        return False
    from ..fsnames import decode_fields
    from .mirror import described_setup
    from .places import OutFiles
    from .sinks import TreeSink

    config = decode_fields(recipe.get("config") or {}, ("input_dir", "output_dir", "prefix"))
    what = "the COCO JSON needs the input's annotations" if labels.get("format") == "coco" else \
        "the VOC image-set lists need the input's lists"
    try:  # on object storage the input's files are copied first, the output gets a stand-in folder
        setup, inp = described_setup(labels, str(config.get("input_dir")), store)
    except Exception as exc:  # the input moved, or its JSON changed since: the manifest is merged all the same
        raise UsageError(f"{what} ({exc}); run `augcli merge` where INPUT_DIR is reachable as the shards saw "
                         "it") from None
    files = OutFiles(TreeSink(store), setup.output_dir)
    if setup.coco is not None:
        write_coco(layout, setup, total, inp, files)
    try:
        write_image_sets(layout, setup, total, inp, files)
    except ListUnreadable as exc:  # replaced since the shards ran: the merge says so (exit 2), as for a part
        raise UsageError(str(exc)) from None
    return True


def _recipe_of(line: str) -> dict:
    try:
        recipe = json.loads(line)
    except (ValueError, RecursionError):
        return {}
    return recipe if isinstance(recipe, dict) else {}


def _write_local(target: Path, lines: Iterator[str]) -> bool:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line)
        if target.exists() and filecmp.cmp(tmp, target, shallow=False):
            return False
        os.replace(tmp, target)
        return True
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _write_remote(store, rel: str, lines) -> bool:
    """Stream the manifest to its key (one object, whole or absent) unless it already holds
    exactly these bytes (checked by digest, streaming, first)."""
    try:
        with store.open_lines(rel) as fh:
            existing = digest(line.encode("utf-8") for line in fh)
    except FileNotFoundError:
        existing = None
    if existing is not None and existing == digest(line.encode("utf-8") for line in lines()):
        return False
    with store.fs.open(store.path(rel), "wb") as fh:
        for line in lines():
            fh.write(line.encode("utf-8"))
    return True
