"""augcli.seeding: every generator is numpy's PCG64 seeded by numpy's SeedSequence of (root seed,
spawn key (item key, copy, stream key)); the seed sequence's hash runs in augcli's C kernel."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from augcli.kernels import _seed
from augcli.seeding import rng_for, stable_key


def numpy_route(root: int, item: int, copy: int, stream: str) -> np.random.Generator:
    seq = np.random.SeedSequence(root, spawn_key=(item, copy, stable_key(stream)))
    return np.random.Generator(np.random.PCG64(seq))


EDGES = [(0, 0, 0, "rotate"), (1, 1, 1, "zoom"), (2**32 - 1, 2**32, 2**32 + 1, "hflip"),
         (2**63 - 1, 2**64 - 1, 10**6, "noise"), (2**200 + 5, 3, 0, "a"), (7, 0, 0, ""), (123, 2**96, 5, "é/ü")]


@pytest.mark.parametrize("case", EDGES)
def test_edge_cases_are_numpys_seed_sequence(case):
    ours, ref = rng_for(*case), numpy_route(*case)
    assert ours.bit_generator.state == ref.bit_generator.state
    assert ours.random(5).tolist() == ref.random(5).tolist()
    assert ours.integers(0, 10**9, 7).tolist() == ref.integers(0, 10**9, 7).tolist()


def test_random_cases_give_numpys_streams():
    rng = np.random.default_rng(2026)
    for _ in range(2000):
        case = (int(rng.integers(0, 2**63)), int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2)),
                int(rng.integers(0, 1000)), f"op{int(rng.integers(0, 40))}")
        ours, ref = rng_for(*case), numpy_route(*case)
        assert ours.bit_generator.state == ref.bit_generator.state, case
        assert ours.uniform(-3, 3) == ref.uniform(-3, 3), case


def test_seed_state_is_generate_state_of_the_assembled_words():
    rng = np.random.default_rng(3)
    for n in range(1, 12):  # fewer words than the pool, as many, more
        words = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
        seq = np.random.SeedSequence(words)  # no spawn key: the entropy is the words themselves
        expected = seq.generate_state(4, np.uint64).astype("<u8").tobytes()
        assert _seed.seed_state(words.astype("<u4").tobytes()) == expected, n


def test_seed_state_refuses_what_is_not_whole_words():
    for bad in (b"", b"abc", b"12345"):
        with pytest.raises(ValueError, match="32-bit words"):
            _seed.seed_state(bad)
    with pytest.raises(TypeError):
        _seed.seed_state("text")
    with pytest.raises(ValueError, match="non-negative"):
        rng_for(-1, 0, 0, "rotate")


def test_numpy_random_is_loaded_only_when_a_numpy_generator_is_made():
    # start-up: a run of plan scheme 2 rarely needs numpy.random (about 9 ms to import)
    code = ("import sys, augcli.cli, augcli.run.orchestrate, augcli.run.work\n"
            "print('numpy.random' in sys.modules)\n"
            "from augcli.seeding import rng_for\n"
            "print(rng_for(1, 2, 3, 'x').integers(0, 1 << 30) >= 0, 'numpy.random' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True"]


def test_a_local_run_without_a_seed_loads_neither_numpy_random_nor_the_bucketed_engines(tmp_path):
    # start-up: what a plain local run imports is what it needs (shards, Dask and object storage
    # load their modules when asked for, webdataset its tar writer, --erase-dropped and --copy-paste
    # Pillow's drawing; the root seed comes from os.urandom)
    from PIL import Image

    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 6), (9, 9, 9)).save(tmp_path / "in" / "a.png")
    code = ("import sys\nfrom augcli import cli\ntry:\n"
            f"    cli.cli.main(args=['expand', {str(tmp_path / 'in')!r}, {str(tmp_path / 'out')!r}, '-q', '-j', '1', "
            "'--rotate', '5'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('numpy.random', 'augcli.run.driver', 'augcli.run.merge', 'augcli.run.mirror', "
            "'augcli.run.executors', 'tarfile', 'PIL.ImageDraw') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "a_0.png").exists()
