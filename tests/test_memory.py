"""A worker that runs out of memory on one huge or hostile file reports that file, and the run
goes on. The run is started under a lowered RLIMIT_AS (address space), so allocations fail for real."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from .conftest import pattern

resource = pytest.importorskip("resource")
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux (not on macOS)")

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
LIMIT = 600 * 2**20  # far above what augcli needs for small images, far below the files below


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def grey_png(path: Path, width: int, height: int, rows: int | None = None) -> None:
    """An 8-bit grey PNG of ``width`` x ``height`` zeros, written row by row (the test never holds
    the picture); with ``rows``, only that many rows of data follow the header (a hostile file)."""
    z = zlib.compressobj(1)
    line = bytes(width + 1)
    parts = [z.compress(line) for _ in range(height if rows is None else rows)]
    parts.append(z.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts))
                     + _chunk(b"IEND", b""))


def limited(*args) -> subprocess.CompletedProcess:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

    return subprocess.run([sys.executable, "-m", "augcli", "expand", *map(str, args)], capture_output=True,
                          text=True, env=ENV, timeout=300, preexec_fn=lower)


@pytest.fixture(scope="module")
def heavy(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("mem") / "in"
    src.mkdir()
    grey_png(src / "huge.png", 26000, 26000)           # a real image: 676 MB once decoded
    grey_png(src / "hostile.png", 30000, 30000, rows=2)  # claims 900 MB, holds two rows
    grey_png(src / "wide.png", 17000, 17000)             # 289 MB: decodes, but its warp needs more
    for name in ("a.png", "m.png", "z.png"):
        pattern(40, 30).save(src / name)
    return src


@pytest.mark.parametrize("workers", ["1", "2"])
def test_out_of_memory_on_one_file_is_reported_and_the_run_goes_on(heavy, tmp_path, workers):
    # under the same limit, a run over the small images alone is fine: the limit is not the problem
    small = tmp_path / "small"
    small.mkdir()
    for name in ("a.png", "m.png", "z.png"):
        (small / name).write_bytes((heavy / name).read_bytes())
    ok = limited(small, tmp_path / "ok", "--rotate", "10", "-j", workers, "--seed", "0")
    assert ok.returncode == 0, ok.stderr

    out = tmp_path / "out"
    res = limited(heavy, out, "--rotate", "10", "-j", workers, "--seed", "0", "--max-pixels", "1000000000",
                  "--json")
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert all(line.startswith("augcli: ") for line in res.stderr.splitlines()), res.stderr
    summary = json.loads(res.stdout)
    failed = {f["source"]: f["error"] for f in summary["failures"]}
    # wide.png fails today (measured: out of memory in the warp); a leaner warp may one day make it
    assert set(failed) - {"wide.png"} == {"huge.png", "hostile.png"}
    assert summary["written"] == 3 + ("wide.png" not in failed) and summary["failed"] == len(failed)
    assert all(error.startswith(("out of memory", "worker process died")) for error in failed.values()), failed
    for name in ("a_0.png", "m_0.png", "z_0.png"):
        assert (out / name).exists()
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()[1:]]
    assert {r["source"] for r in records if r["status"] == "error"} == set(failed)
    assert not list(out.rglob("*.tmp"))
