"""Seeded mutational fuzz test of ``augcli replay``: hostile variants of real manifests (see
tests/fuzz_manifests.py), replayed in one bounded subprocess. CI runs a fixed seed and a small count;
longer runs by hand: ``AUGCLI_FUZZ_SEED=7 AUGCLI_FUZZ_N=2000 pytest tests/test_fuzz_manifests.py``.

Invariants for every mutant: no traceback, exit 0, 1 or 2, every stderr line one of augcli's and
free of raw control characters, and nothing read or written outside the case's output folder (the
inputs, the other runs, the secret folder and the victim JSON are byte-identical afterwards)."""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys

from .conftest import tree_bytes
from .fuzz_manifests import make_bases, mutant

SEED = int(os.environ.get("AUGCLI_FUZZ_SEED", "20261207"))
COUNT = int(os.environ.get("AUGCLI_FUZZ_N", "60"))
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
MEMORY = 2 << 30  # address space of the fuzzing process: a recorded size that allocates gigabytes fails


def augcli(*args) -> None:
    res = subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], capture_output=True, text=True,
                         env=ENV, timeout=120)
    assert res.returncode == 0, res.stderr


def test_mutants_are_deterministic(tmp_path):
    base = tmp_path / "m.jsonl"
    base.write_text(json.dumps({"kind": "run", "config": {"pipeline": {"ops": [{"op": "blur", "p": 1.0}]}}})
                    + "\n" + json.dumps({"source": "a.png", "output": "a_0.png", "ops": [{"op": "blur"}]}) + "\n")
    make = lambda seed: [mutant(random.Random(seed * 1000 + i), base.read_text(), tmp_path) for i in range(30)]  # noqa: E731
    assert make(5) == make(5) and make(5) != make(6)


def test_hostile_manifests_never_escape_nor_crash(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    make_bases(work, augcli)
    before = tree_bytes(work, bookkeeping=True)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    proc = subprocess.run([sys.executable, "-m", "tests.fuzz_manifests", str(work), str(SEED), str(COUNT)],
                          capture_output=True, text=True, env=ENV, timeout=30 + 3 * COUNT, preexec_fn=limit,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and len(results) == COUNT, f"seed {SEED}: {proc.stderr[-3000:]}"
    exits = set()
    for r in results:
        context = f"seed {SEED}, case {r['case']} ({r['base']}: {r['how']}), kept in {work}/cases/{r['case']}"
        assert not r["traceback"], f"{r['error']}; {context}\n{r['stderr'][-2000:]}"
        assert r["exit"] in (0, 1, 2), f"exit {r['exit']}; {context}\n{r['stderr'][-2000:]}"
        lines = r["stderr"].splitlines()
        stray = [line for line in lines if line and not line.startswith(("augcli: ", "Usage: ", "Try ", "Error: "))]
        assert not stray, f"{stray[:3]}; {context}"
        assert not any(ch in r["stderr"] for ch in "\x1b\x07\r\x00"), f"{r['stderr']!r:.500}; {context}"
        exits.add(r["exit"])
    after = tree_bytes(work, bookkeeping=True)
    outside = {k for k in after if not k.startswith("cases/")}
    assert outside == set(before) and all(after[k] == before[k] for k in before), f"seed {SEED}"
    for k in after:
        if k.startswith("cases/"):
            assert k.split("/")[2] in ("m.jsonl", "out"), f"{k} written outside its output folder; seed {SEED}"
    assert len(exits) >= 2  # the mutants reach both refusals and replays
