"""Seeded mutational fuzz test: broken variants of real images of every format, run in batches
through the real CLI. CI runs a fixed seed and a bounded count (about a minute); longer runs by hand:
``make fuzz SEED=7 N=5000``.

Invariants for every mutant: no traceback, exit 0 or 1, every input either written (and every
output decodes) or reported with a reason on stderr and in the manifest, no temporary file left,
no hang (each batch has a time bound)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from augcli.fsnames import shown

from .fuzzing import Mutant, mutants, seeds

SEED = int(os.environ.get("AUGCLI_FUZZ_SEED", "20261201"))
COUNT = int(os.environ.get("AUGCLI_FUZZ_N", "600"))
BATCH = int(os.environ.get("AUGCLI_FUZZ_BATCH", "100"))
BATCH_SECONDS = 240  # a spinning decoder shows up as a timeout, not as a stuck CI job
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
# each batch uses other flags, so mutants reach every encoder and both kinds of geometry
FLAG_SETS = [
    ["--rotate", "15", "--brightness", "0.3", "--noise", "5"],
    ["--format", "png", "--crop", "0.8", "--hue", "20", "--include-originals"],
    ["--format", "jpeg", "--perspective", "0.05", "--blur", "1", "--background", "black"],
    ["--format", "webp", "--rot90", "--gamma", "0.3", "--no-exif-transpose"],
    ["--format", "tiff", "--zoom", "0.3", "--channel-shift", "10", "--resize", "16x12"],
    ["--format", "bmp", "--hflip", "--erase", "1", "--jpeg-artifacts", "40"],
]


def test_every_seed_image_is_valid_and_processed_cleanly(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name, data in seeds().items():
        (src / name).write_bytes(data)
        with Image.open(src / name) as im:
            im.load()
    res = run_batch(src, tmp_path / "out", FLAG_SETS[0])
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["failed"] == 0


def test_mutants_are_deterministic():
    a, b = mutants(5, 30), mutants(5, 30)
    assert a == b and len({m.data for m in a}) > 25
    assert mutants(6, 30) != a
    hows = " ".join(m.how for m in mutants(SEED, 120))
    for kind in ("bit flips", "truncated", "duplicated", "dropped", "header"):
        assert kind in hows


def run_batch(src: Path, out: Path, flags: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "augcli", "expand", str(src), str(out), "-n", "2", "--seed", str(SEED), "-j", "2",
           "--max-pixels", "4000000", "--json", "-q", *flags]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=BATCH_SECONDS,
                              errors="backslashreplace")
    except subprocess.TimeoutExpired:
        pytest.fail(f"batch in {src} did not end within {BATCH_SECONDS} s (a decoder spinning?); "
                    f"mutants: {sorted(p.name for p in src.iterdir())}")


def check_batch(batch: list[Mutant], src: Path, out: Path, res: subprocess.CompletedProcess) -> None:
    how = {m.name: m.how for m in batch}
    context = f"seed {SEED}, mutants kept in {src}"
    assert res.returncode in (0, 1), f"exit {res.returncode}; {context}\n{res.stderr[-3000:]}"
    assert "Traceback" not in res.stderr, f"{context}\n{res.stderr[-3000:]}"
    lines = res.stderr.splitlines()
    stray = [line for line in lines if not line.startswith("augcli: ")]
    assert not stray, f"lines on stderr that are not augcli's: {stray[:5]}; {context}"
    summary = json.loads(res.stdout)
    assert summary["discovered"] == len(batch), context
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()[1:]]
    by_source: dict[str, list[dict]] = {}
    for rec in records:
        by_source.setdefault(rec["source"], []).append(rec)
    assert set(by_source) == set(how), f"sources missing from the manifest: {set(how) - set(by_source)}"
    for name, recs in by_source.items():
        errors = [r for r in recs if r["status"] == "error"]
        if errors:
            for r in errors:
                assert r["error"], f"{name} ({how[name]}): an error without a reason"
                assert f"augcli: {shown(name)}: {r['error']}" in lines, f"{name} ({how[name]}): not on stderr"
            continue
        assert all(r["status"] == "ok" for r in recs), (name, how[name], recs)
        for r in recs:
            try:
                with Image.open(out / r["output"]) as im:
                    im.load()
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"{name} ({how[name]}): output {r['output']} does not decode: {exc}")
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left: {leftovers[:5]}; {context}"


@pytest.mark.parametrize("batch_index", range(-(-COUNT // BATCH)))
def test_mutants_never_crash_hang_or_lose_a_file(tmp_path, batch_index):
    every = mutants(SEED, COUNT)
    batch = every[batch_index * BATCH:(batch_index + 1) * BATCH]
    src = tmp_path / "in"
    src.mkdir()
    for m in batch:
        (src / m.name).write_bytes(m.data)
    out = tmp_path / "out"
    res = run_batch(src, out, FLAG_SETS[batch_index % len(FLAG_SETS)])
    check_batch(batch, src, out, res)
