"""Seeded mutational fuzz test: broken variants of real images of every format, run in batches
through the real CLI. CI runs a fixed seed and a bounded count (about a minute); longer runs by hand:
``make fuzz SEED=7 N=5000``.

Invariants for every mutant: no traceback, exit 0 or 1, every input either written (and every
output decodes) or reported with a reason on stderr and in the manifest, no temporary file left,
no hang (each batch has a time bound).

COCO JSON mutants (``fuzzing.coco_mutants``, N/15 of them, or AUGCLI_FUZZ_COCO_N) go through expand
and stats: no traceback, exit 0, 1 or 2, and only augcli's own one-line messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from augcli.fsnames import shown

from .fuzzing import Mutant, coco_mutants, mutants, seeds

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


# --- COCO JSON --------------------------------------------------------------------------------------

COCO_COUNT = int(os.environ.get("AUGCLI_FUZZ_COCO_N", max(COUNT // 15, 1)))  # 40 for CI's 600 image mutants
COCO_SECONDS = 60 + COCO_COUNT  # a run takes about 0.1 s
# Runs every dataset through expand and stats in one process (a process per file would spend the
# time budget on start-ups), and prints one JSON line per run.
COCO_DRIVER = """
import json, sys, traceback
from click.testing import CliRunner
from augcli.cli import cli
for d in sys.argv[1:]:
    for args in (["expand", d + "/in", d + "/out", "-n", "1", "-j", "1", "--rotate", "20", "--hflip"],
                 ["stats", d + "/in"]):
        res = CliRunner().invoke(cli, args)
        exc = res.exception
        crash = None if exc is None or isinstance(exc, SystemExit) else "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))
        print(json.dumps({"dir": d, "command": args[0], "exit": res.exit_code, "stderr": res.stderr,
                          "crash": crash}), flush=True)
"""


def test_coco_mutants_are_deterministic():
    a = coco_mutants(5, 30)
    assert a == coco_mutants(5, 30) and a != coco_mutants(6, 30) and len({m.data for m in a}) > 25


def test_coco_mutants_end_in_success_or_one_line_errors(tmp_path):
    batch = coco_mutants(SEED, COCO_COUNT)
    dirs = []
    for m in batch:
        d = tmp_path / m.name[:-5]
        (d / "in/annotations").mkdir(parents=True)
        (d / "in/train").mkdir()
        for i, name in enumerate(("a.png", "b.png")):
            (d / "in/train" / name).write_bytes(seeds()["rgb.png"] if i == 0 else seeds()["rgba.png"])
        (d / "in/annotations/instances_train.json").write_bytes(m.data)
        dirs.append(str(d))
    try:
        res = subprocess.run([sys.executable, "-c", COCO_DRIVER, *dirs], capture_output=True, text=True, env=ENV,
                             timeout=COCO_SECONDS, errors="backslashreplace")
    except subprocess.TimeoutExpired as exc:
        done = (exc.stdout or b"").count(b"\n") if isinstance(exc.stdout, bytes) else (exc.stdout or "").count("\n")
        pytest.fail(f"COCO fuzz did not end within {COCO_SECONDS} s; stuck after {done} runs (seed {SEED})")
    assert res.returncode == 0, res.stderr[-3000:]
    runs = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(runs) == 2 * len(batch)
    how = {str(tmp_path / m.name[:-5]): m.how for m in batch}
    for r in runs:
        context = f"{r['command']} of {r['dir']} ({how[r['dir']]}), seed {SEED}"
        assert r["crash"] is None, f"{context}:\n{r['crash']}"
        assert r["exit"] in (0, 1, 2), f"{context}: exit {r['exit']}\n{r['stderr']}"
        # a usage error (exit 2) comes with click's usage lines
        lines = [line for line in r["stderr"].splitlines() if line and not line.startswith(("Usage: ", "Try '"))]
        stray = [line for line in lines if not line.startswith(("augcli: ", "Error: "))]
        assert not stray, f"{context}: lines that are not augcli's: {stray[:3]}"
        assert all(len(line) < 1000 for line in lines), f"{context}: a line of {max(map(len, lines))} characters"
        if r["exit"]:
            assert any(("error" in line.lower() or "augcli: " in line) for line in lines), context
