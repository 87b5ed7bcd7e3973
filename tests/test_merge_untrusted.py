"""augcli merge reads done markers and manifest parts that anyone can edit: a bad one is a one-line
usage error (exit 2), never a traceback, a huge allocation, or a manifest written."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from augcli.run.buckets import digest

from .conftest import pattern

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def augcli(*args, memory: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=120, preexec_fn=limit)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> Path:
    """A finished two-shard run of 4 buckets, not merged."""
    here = tmp_path_factory.mktemp("sharded")
    (here / "in").mkdir()
    for i in range(4):
        pattern(16 + i, 12, seed=i).save(here / "in" / f"s{i}.png")
    for shard in ("0/2", "1/2"):
        res = augcli("expand", here / "in", here / "out", "-n", "1", "--seed", "1", "--buckets", "4", "--hue", "10",
                     "--shard", shard, "-j", "1", "-q")
        assert res.returncode == 0, res.stderr
    (here / "out" / "manifest.jsonl").unlink(missing_ok=True)  # the last shard merged: undo it
    return here / "out"


@pytest.fixture
def out(sharded, tmp_path) -> Path:
    import shutil

    copy = tmp_path / "out"
    shutil.copytree(sharded, copy)
    return copy


def edit_marker(out: Path, **changes) -> Path:
    marker = out / ".augcli" / "done" / "b-00001.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), **changes}))
    return marker


def test_the_untouched_run_merges(out):
    res = augcli("merge", out)
    assert res.returncode == 0, res.stderr
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 5


@pytest.mark.parametrize("buckets", [1_000_000_000, "12x", 0, -3, 2.5, True, None, [4]])
def test_a_bad_bucket_count_in_a_done_marker_is_a_usage_error(out, buckets):
    edit_marker(out, buckets=buckets)
    res = augcli("merge", out, memory=1 << 30)  # a billion-element list would not fit
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "b-00001.json" in res.stderr and "buckets must be" in res.stderr
    assert not (out / "manifest.jsonl").exists()


@pytest.mark.parametrize("records", ["3", -1, 1.5])
def test_a_bad_record_count_in_a_done_marker_is_a_usage_error(out, records):
    edit_marker(out, records=records)
    res = augcli("merge", out)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "records must be" in res.stderr


@pytest.mark.parametrize("line", [b"not json\n", b'{"source": 5}\n', b"[1]\n", b'{"output": "x"}\n', b"\xff\xfe\n"])
def test_a_part_that_matches_its_marker_but_holds_no_records_is_a_usage_error(out, line):
    part = out / ".augcli" / "parts" / "b-00001.jsonl"
    data = part.read_bytes() + line
    part.write_bytes(data)
    edit_marker(out, part_digest=digest([data]))  # the marker now describes the edited part
    res = augcli("merge", out)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "b-00001.jsonl" in res.stderr
