"""Plan scheme 2 (augcli.seeding.Stream, geometry.compose_rows): what it draws, that the C stream is
the documented integer recipe, that the manifest records the scheme, and that a manifest written by
scheme 1 (before scheme 2 existed) still replays to the same pixels."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli import geometry as G
from augcli.cli import cli
from augcli.ops import Perspective, build
from augcli.pipeline import Pipeline
from augcli.render import PLAN_SCHEME, plan_copies, plan_copy, plan_copy_with_geometry
from augcli.replay import read_manifest
from augcli.seeding import Stream, copy_key, rng_for, source_key, stable_key, stream_key, streams_for

from .conftest import pattern

FIXTURE = Path(__file__).resolve().parent / "data" / "plan_scheme1"
M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


# -- the stream, against a plain Python rendering of its documented recipe --------------------------

def mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class Reference:
    """SplitMix64 from mix(key ^ salt); floats and integers formed as augcli.seeding.Stream says."""

    def __init__(self, key: int, salt: int = 0) -> None:
        self.state = mix(key ^ salt)

    def word(self) -> int:
        self.state = (self.state + GAMMA) & M64
        return mix(self.state)

    def random(self) -> float:
        return (self.word() >> 11) * 2.0 ** -53

    def uniform(self, lo: float, hi: float) -> float:
        lo, hi = float(lo), float(hi)
        return lo + (hi - lo) * self.random()

    def integers(self, lo: int, hi: int) -> int:
        n = hi - lo
        m = self.word() * n
        if (m & M64) < n:
            while (m & M64) < ((1 << 64) - n) % n:
                m = self.word() * n
        return lo + (m >> 64)


def test_stream_is_splitmix64():
    # SplitMix64 seeded with 0 (mix(0 ^ 0) = 0): its published first outputs
    s = Stream(0, 0)
    assert [s.word() for _ in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


RANGES = [(0, 1), (0, 3), (0, 4), (5, 17), (-10, 10), (0, 2**32), (0, 2**63 + 1), (0, 2**64 - 1), (0, 2**64),
          (2**70, 2**70 + 5), (-(2**63), 2**63 - 7)]


def test_stream_matches_the_reference_recipe():
    rng = np.random.default_rng(18)
    for _ in range(300):
        key, salt = int(rng.integers(0, 2**63)) * 2 + 1, int(rng.integers(0, 2**63))
        ours, ref = Stream(key, salt), Reference(key, salt)
        assert ours.word() == ref.word()
        assert ours.random() == ref.random()
        assert ours.uniform(-3.5, 7) == ref.uniform(-3.5, 7)
        assert ours.uniform(2, 2) == 2.0 and ref.word() is not None
        for lo, hi in RANGES:
            assert ours.integers(lo, hi) == ref.integers(lo, hi), (lo, hi)
        assert ours.integers(9) == ref.integers(0, 9)
        assert ours.uniform(0.0, 255.0, 3) == [ref.uniform(0.0, 255.0) for _ in range(3)]
        assert ours.integers(1, 7, size=4) == [ref.integers(1, 7) for _ in range(4)]
        assert ours.random(size=2) == [ref.random(), ref.random()]


def test_stream_integers_reject_the_biased_remainder():
    # n = 2**63 + 1: almost half of all words are rejected, so the retry path runs
    ours, ref = Stream(12345, 1), Reference(12345, 1)
    draws = [ours.integers(0, 2**63 + 1) for _ in range(200)]
    assert draws == [ref.integers(0, 2**63 + 1) for _ in range(200)]
    assert ours.word() == ref.word()  # both consumed the same number of words


def test_stream_values_are_in_range_and_floats_are_exact():
    s = Stream(99, 3)
    for _ in range(2000):
        u = s.random()
        assert 0.0 <= u < 1.0 and (u * 2**53).is_integer()
        assert 0 <= s.integers(0, 4) < 4
        assert -2.0 <= s.uniform(-2.0, 5.0) < 5.0


def test_stream_refuses_what_it_cannot_draw():
    s = Stream(1, 2)
    with pytest.raises(ValueError, match="above low"):
        s.integers(3, 3)
    with pytest.raises(ValueError, match="wider than 2\\*\\*64"):
        s.integers(0, 2**64 + 1)
    with pytest.raises(ValueError, match="2\\*\\*64 - 1"):
        Stream(-1, 0)
    with pytest.raises(ValueError, match="2\\*\\*64 - 1"):
        Stream(0, 2**64)
    with pytest.raises(TypeError):
        s.random(size=1.5)
    with pytest.raises(ValueError):
        copy_key(0, -1)
    with pytest.raises(ValueError):
        source_key(-1, 0)


def test_other_generator_methods_come_from_a_numpy_generator_seeded_by_the_stream():
    a, b = Stream(5, 6), Stream(5, 6)
    assert a.normal(0.0, 1.0, 4).tolist() == b.normal(0.0, 1.0, 4).tolist()
    assert a.permutation(10).tolist() == b.permutation(10).tolist()
    assert Stream(5, 7).normal() != Stream(5, 6).normal()
    with pytest.raises(AttributeError):
        a._private


# -- plans -----------------------------------------------------------------------------------------

EVERY_GEOMETRY = dict(rot90=True, crop=(0.5, 1.0), hflip=True, vflip=True, rotate=(-30, 30), shear=(-10, 10),
                      zoom=(0.8, 1.2), width_shift=(-0.1, 0.1), height_shift=(-3, 3))


def test_plan_scheme_2_values_are_pinned():
    """The draws of scheme 2 for one output: a change here changes every run's outputs, and needs a
    new scheme number (render.PLAN_SCHEME) so manifests say which scheme drew them."""
    ops = build(rotate=(-45, 45), width_shift=(-0.1, 0.1), height_shift=(-0.1, 0.1), zoom=(0.75, 1.25),
                hflip=True, rot90=True, crop=(0.5, 1.0), erase=2, noise=(0, 10), jpeg_artifacts=(50, 95))
    assert PLAN_SCHEME == 2
    assert plan_copy(Pipeline(ops), 7, "ants/x.png", 2, (40, 30)) == [
        {"op": "rot90", "applied": True, "k": 2},
        {"op": "crop", "applied": True, "box": [9, 0, 25, 19]},
        {"op": "hflip", "applied": True},
        {"op": "rotate", "applied": True, "angle": 9.761327834860218},
        {"op": "zoom", "applied": True, "zx": 0.9357624711821348, "zy": 0.931774804348018},
        {"op": "shift", "applied": True, "dx": 3.8729572619737755, "dy": 0.012064671849196351},
        {"op": "erase", "applied": True, "boxes": [[4, 2, 18, 12]],
         "colours": [[184.78640279397698, 13.64973350139839, 137.34060806617478]]},
        {"op": "noise", "applied": True, "sigma": 7.372268769047582, "noise_seed": 1797666337},
        {"op": "jpeg_artifacts", "applied": True, "quality": 70},
    ]


def test_scheme_2_streams_are_keyed_by_seed_source_copy_and_op():
    key = copy_key(source_key(7, stable_key("ants/x.png")), 2)
    assert Stream(key, stream_key("rotate")).word() == streams_for(7, stable_key("ants/x.png"), 2)("rotate").word()
    words = {Stream(copy_key(source_key(seed, stable_key(src)), copy), stream_key(op)).word()
             for seed in (0, 1, 2**63 - 1, 2**200) for src in ("a.png", "b.png", "a/b.png")
             for copy in range(4) for op in ("rotate", "zoom", "hflip")}
    assert len(words) == 4 * 3 * 4 * 3


def test_plan_copies_is_plan_copy_copy_by_copy_whatever_came_before():
    pipe = Pipeline(build(**EVERY_GEOMETRY, perspective=0.05))
    fresh = {(seed, src, k): plan_copy_with_geometry(pipe, seed, src, k, (31, 23))
             for seed in (1, 2) for src in ("a.png", "b.png") for k in range(3)}
    # interleaved sources and seeds (the per-source key is cached): the same plans
    for seed, src in [(2, "b.png"), (1, "b.png"), (1, "a.png"), (2, "a.png"), (1, "b.png")]:
        got = plan_copies(pipe, seed, src, range(3), (31, 23))
        for k, (steps, matrix, out_size) in enumerate(got):
            want_steps, (want_m, want_size) = fresh[(seed, src, k)]
            assert steps == want_steps and out_size == want_size
            assert np.array_equal(matrix, want_m)


def test_adding_an_op_does_not_change_another_ops_draws():
    small = Pipeline(build(rotate=(-20, 20), brightness=(0.8, 1.2)))
    big = Pipeline(build(rotate=(-20, 20), brightness=(0.8, 1.2), zoom=(0.9, 1.1), noise=(0, 5), hflip=True))
    for k in range(10):
        a = {s["op"]: s for s in plan_copy(small, 3, "x.png", k, (40, 30))}
        b = {s["op"]: s for s in plan_copy(big, 3, "x.png", k, (40, 30))}
        assert a["rotate"] == b["rotate"] and a["brightness"] == b["brightness"]


@pytest.mark.parametrize("extra", [{}, {"perspective": 0.08}])
def test_scheme_2_geometry_of_a_plan_is_the_matrix_it_was_drawn_with(extra):
    """Replay recomputes the matrix from the recorded steps: it must be the very same floats."""
    pipe = Pipeline(build(**EVERY_GEOMETRY, **extra))
    for k in range(40):
        steps, (m, size) = plan_copy_with_geometry(pipe, 11, "p.png", k, (37, 29))
        steps = json.loads(json.dumps(steps))  # as read back from a manifest
        m2, size2 = pipe.geometry(steps, (37, 29))
        assert size2 == size and m2.tolist() == m.tolist()
        # and it is the numpy composition of scheme 1 up to rounding
        m1, size1 = Pipeline(pipe.ops, plan_scheme=1).geometry(steps, (37, 29))
        assert size1 == size and np.allclose(m1, m, rtol=1e-12, atol=1e-9)


def test_compose_rows_is_the_matrix_product():
    rng = np.random.default_rng(4)
    for _ in range(50):
        a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
        got = np.array(G.compose_rows(tuple(a.ravel()), tuple(b.ravel()))).reshape(3, 3)
        assert np.allclose(got, a @ b, rtol=1e-13, atol=1e-13)
    aff = (2.0, 0.5, 1.0, -0.25, 3.0, 4.0, 0.0, 0.0, 1.0)
    assert G.compose_rows(aff, aff)[6:] == (0.0, 0.0, 1.0)


def test_perspective_draws_are_unchanged_for_numpy_generators():
    """Scheme 1 (numpy Generators) draws what it drew before Perspective.sample stopped using numpy
    arrays: the same eight values times the width and height."""
    op = Perspective(distortion=0.1)
    for seed in range(20):
        got = op.sample(rng_for(seed, 3, 1, "perspective"), (41, 27))
        d = rng_for(seed, 3, 1, "perspective").uniform(-0.1, 0.1, (4, 2)) * np.asarray((41, 27), dtype=float)
        assert got == {"corners": [[float(x), float(y)] for x, y in d]}


def test_a_pipeline_knows_its_scheme():
    assert Pipeline().plan_scheme == 2 and Pipeline().describe()["plan_scheme"] == 2
    desc = Pipeline(build(rotate=(-5, 5))).describe()
    assert Pipeline.from_description(desc).plan_scheme == 2
    del desc["plan_scheme"]  # a manifest from before plan schemes
    assert Pipeline.from_description(desc).plan_scheme == 1
    for bad in (0, 3, True, "2"):
        with pytest.raises(ValueError, match="plan scheme"):
            Pipeline(plan_scheme=bad)


# -- manifests -------------------------------------------------------------------------------------

def invoke(*args, expect=0):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == expect, res.output
    return res


def test_the_manifest_records_the_plan_scheme_and_replays(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pattern(30, 20).save(src / "a.png")
    out = tmp_path / "out"
    invoke("expand", src, out, "-n", 3, "--seed", 5, "-q", "--rotate", 20, "--zoom", 0.2, "--perspective", 0.05,
           "--hflip", "--format", "png")
    header, records = read_manifest(out / "manifest.jsonl")
    assert header["config"]["pipeline"]["plan_scheme"] == 2
    pipe = Pipeline.from_description(header["config"]["pipeline"])
    for rec in records:
        assert rec["ops"] == plan_copy(pipe, 5, "a.png", rec["copy"], (30, 20))
        # the README's recipe, from the record's own seed material
        assert rec["ops"] == pipe.plan(streams_for(rec["seed"], rec["item_key"], rec["copy"]), (30, 20))
    again = tmp_path / "again"
    invoke("replay", out / "manifest.jsonl", "--output", again, "-q")
    for k in range(3):
        assert (again / f"a_{k}.png").read_bytes() == (out / f"a_{k}.png").read_bytes()


def test_a_scheme_1_manifest_replays_to_the_same_pixels(tmp_path):
    """tests/data/plan_scheme1: a run made by augcli before plan scheme 2 (commit 122633a, every op,
    PNG outputs) and its outputs. Its header has no plan_scheme; replay must compose its recorded
    geometry as scheme 1 did (in numpy) and make the same images."""
    header, records = read_manifest(FIXTURE / "out" / "manifest.jsonl")
    assert "plan_scheme" not in header["config"]["pipeline"]
    assert any(len(r["matrix"]) == 3 for r in records)  # projective geometry is in it
    inp = tmp_path / "in"
    shutil.copytree(FIXTURE / "in", inp)
    again = tmp_path / "again"
    invoke("replay", FIXTURE / "out" / "manifest.jsonl", "--input", inp, "--output", again, "-q")
    made = sorted(p.relative_to(again).as_posix() for p in again.rglob("*.png"))
    assert made == sorted(r["output"] for r in records) and len(made) == 9
    for rel in made:
        with Image.open(FIXTURE / "out" / rel) as want, Image.open(again / rel) as got:
            assert got.mode == want.mode and got.size == want.size
            assert got.tobytes() == want.tobytes(), rel
    # the recorded matrices are the ones scheme 1 composes from the recorded steps
    pipe = Pipeline.from_description(header["config"]["pipeline"])
    for rec in records:
        m, size = pipe.geometry(rec["ops"], tuple(rec["size"]))
        assert list(size) == rec["output_size"]
        assert G.as_list(m, len(rec["matrix"])) == rec["matrix"]
        assert math.isfinite(m[0][0])
