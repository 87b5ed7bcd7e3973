"""CLAHE (--clahe): within 1 level of OpenCV's createCLAHE on the same channel (synthetic images and
the bench photos), the kernel equal to the numpy form of its rules, known answers, RGB moved by the
luma's change with alpha kept, the same bytes on every kernel path with a pinned digest, 16-bit and
float data, the flags, and replay."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli import kernels as K
from augcli.cli import cli
from augcli.ops import OPS, Clahe, build
from augcli.ops.tone_image import clahe, clahe_levels

from .conftest import BENCH_IMAGES
from .test_kernels_pixel import Guarded, generated


def cv2_clahe(a: np.ndarray, clip: float, tiles: tuple[int, int]) -> np.ndarray:
    cv2 = pytest.importorskip("cv2")  # a test-only reference
    return cv2.createCLAHE(clipLimit=clip, tileGridSize=tiles).apply(a)


def grey(a: np.ndarray, clip: float, tiles: tuple[int, int]) -> np.ndarray:
    return np.asarray(clahe(Image.fromarray(a, "L"), clip, tiles))


def assert_within_one(ours: np.ndarray, ref: np.ndarray) -> None:
    diff = np.abs(ours.astype(np.int64) - ref.astype(np.int64))
    assert diff.max() <= 1, f"{(diff > 1).sum()} values differ by up to {diff.max()}"


def synthetic(rng: np.random.Generator, h: int, w: int, kind: int) -> np.ndarray:
    if kind == 0:
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    if kind == 1:  # a smooth ramp
        return (np.add.outer(np.arange(h), np.arange(w)) * 255 // max(h + w - 2, 1)).astype(np.uint8)
    if kind == 2:  # a narrow band of values: strong clipping
        return rng.integers(40, 90, (h, w), dtype=np.uint8)
    return np.where(np.add.outer(np.arange(h) // 7, np.arange(w) // 5) % 2 == 1, 200, 30).astype(np.uint8)


def test_within_one_level_of_opencv_on_synthetic_images():
    rng = np.random.default_rng(24)
    for trial in range(240):
        h, w = (int(v) for v in rng.integers(1, 150, 2))
        tiles = tuple(int(v) for v in rng.integers(1, 12, 2))
        clip = float(rng.uniform(0.3, 50))
        a = synthetic(rng, h, w, trial % 4)
        assert_within_one(grey(a, clip, tiles), cv2_clahe(a, clip, tiles))


def test_within_one_level_of_opencv_on_the_bench_photos():
    photos = sorted(p for p in BENCH_IMAGES.rglob("*.jpg"))[:12]
    if not photos:
        pytest.skip(f"no bench photos in {BENCH_IMAGES}")
    for path in photos:
        a = np.asarray(Image.open(path).convert("L"))
        for clip, tiles in ((1.0, (8, 8)), (2.5, (8, 8)), (4.0, (5, 3)), (40.0, (8, 8))):
            assert_within_one(grey(a, clip, tiles), cv2_clahe(a, clip, tiles))


def test_16_bit_data_are_within_one_level_of_opencv():
    rng = np.random.default_rng(3)
    a = (rng.integers(0, 2**16, (37, 53)) // 4 + 9000).astype(np.uint16)
    ours = np.asarray(clahe(Image.fromarray(a), 3.0, (4, 4)))
    assert_within_one(ours, cv2_clahe(a, 3.0, (4, 4)))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux (not on macOS)")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer reserves terabytes of address space: no RLIMIT_AS fits (make asan)")
def test_16_bit_data_on_the_finest_grid_fit_in_little_memory(tmp_path):
    """The tables are evaluated where pixels need them: 64 x 64 tiles of 65536 levels would be 2^28
    entries (2 GiB) if built whole."""
    resource = pytest.importorskip("resource")
    code = ("import numpy as np; from PIL import Image; from augcli.ops.tone_image import clahe; "
            "a = (np.arange(90 * 70).reshape(70, 90) * 7919 % 65536).astype(np.uint16); "
            "out = np.asarray(clahe(Image.fromarray(a), 40.0, (64, 64))); print(out.shape)")

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (700 * 2**20, 700 * 2**20))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          preexec_fn=lower, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "(70, 90)", done.stderr[-2000:]


def test_the_kernel_is_the_numpy_form_of_its_rules_exactly():
    rng = np.random.default_rng(5)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        tiles = tuple(int(v) for v in rng.integers(1, 10, 2))
        clip = float(rng.uniform(0.5, 30))
        a = synthetic(rng, h, w, trial % 4)
        assert np.array_equal(grey(a, clip, tiles), clahe_levels(a.astype(np.int64), 256, clip, tiles))


def test_the_whole_tables_and_the_tables_where_needed_give_the_same_numbers():
    rng = np.random.default_rng(11)
    for trial in range(40):
        levels = (256, 65536)[trial % 2]
        h, w = (int(v) for v in rng.integers(1, 60, 2))
        tiles = tuple(int(v) for v in rng.integers(1, 9, 2))
        top = int(rng.integers(1, levels + 1))
        a = rng.integers(max(0, top - int(rng.integers(1, levels + 1))), top, (h, w)).astype(np.int64)
        clip = float(rng.uniform(0.01, 60))
        assert np.array_equal(clahe_levels(a, levels, clip, tiles, dense=True),
                              clahe_levels(a, levels, clip, tiles, dense=False)), trial


def test_known_answers():
    # one tile, every value once, no clipping: v -> round half up of 255 (v + 1) / 256
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expected = np.where(ramp < 128, ramp.astype(np.int64) + 1, ramp)
    assert np.array_equal(grey(ramp, 256.0, (1, 1)), expected)
    # a flat image without clipping: every pixel is at the top of its tile's histogram, so white
    flat = np.full((24, 40), 77, np.uint8)
    assert np.all(grey(flat, 1000.0, (4, 3)) == 255)
    for a, clip, tiles in ((ramp, 256.0, (1, 1)), (flat, 1000.0, (4, 3))):
        assert_within_one(grey(a, clip, tiles), cv2_clahe(a, clip, tiles))


def test_rgb_moves_every_band_by_the_lumas_change_and_keeps_alpha():
    image = Image.frombytes("RGBA", (61, 43), generated(61, 43, 4))
    out = clahe(image, 3.0, (4, 4))
    rgb = image.convert("RGB")
    y = np.asarray(rgb.convert("L")).astype(np.int64)  # Pillow's 601 luma
    y2 = np.asarray(clahe(rgb.convert("L"), 3.0, (4, 4))).astype(np.int64)
    expected = np.clip(np.asarray(rgb).astype(np.int64) + (y2 - y)[..., None], 0, 255)
    assert np.array_equal(np.asarray(out)[..., :3], expected)
    assert out.getchannel("A").tobytes() == image.getchannel("A").tobytes()
    assert clahe(rgb, 3.0, (4, 4)).tobytes() == out.convert("RGB").tobytes()


def test_float_data_use_256_levels():
    a = np.linspace(-20, 300, 30 * 20, dtype=np.float32).reshape(20, 30)
    out = np.asarray(clahe(Image.fromarray(a, "F"), 2.0, (2, 2)))
    levels = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    assert out.dtype == np.float32
    assert np.array_equal(out, grey(levels, 2.0, (2, 2)).astype(np.float32))


def test_float_nan_stays_nan_and_infinities_are_the_ends():
    a = np.full((20, 30), 100.0, np.float32)
    a[0, 0], a[1, 1], a[2, 2] = np.nan, np.inf, -np.inf
    out = np.asarray(clahe(Image.fromarray(a, "F"), 2.0, (8, 8)))
    levels = np.clip(np.rint(np.nan_to_num(a, nan=0.0)), 0, 255).astype(np.uint8)
    expected = grey(levels, 2.0, (8, 8)).astype(np.float32)
    assert np.isnan(out[0, 0]) and np.array_equal(out[~np.isnan(a)], expected[~np.isnan(a)])


GOLDEN = "0e8f9902afec7fbe9e81644e5035f24508d375d5513a1dc96ffe28b515023e11"  # RGBA 61x43, clip 2.5, 3x2 tiles


def test_the_same_bytes_on_every_kernel_path_and_a_pinned_digest():
    image = Image.frombytes("RGBA", (61, 43), generated(61, 43, 4))
    before = K.active()
    try:
        for path in K.available():
            K.use(path)
            assert hashlib.sha256(clahe(image, 2.5, (3, 2)).tobytes()).hexdigest() == GOLDEN, path
    finally:
        K.use(before)


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_the_kernel_stays_inside_buffers_placed_against_guard_pages():
    g = Guarded()
    rng = np.random.default_rng(9)
    for w, h in [(1, 1), (1, 7), (7, 1), (3, 5), (17, 3), (61, 43)]:
        for bpp, nc in ((1, 1), (2, 1), (3, 3), (4, 3)):
            for at_end in (True, False):
                src = g.buffer(w * h * bpp, at_end)
                src[:] = rng.integers(0, 256, w * h * bpp, dtype=np.uint8).tobytes()
                dst = g.buffer(w * h * bpp, at_end)
                for tiles in ((1, 1), (8, 8), (3, 5)):
                    K.clahe(src, (w, h), bpp, nc, 2, tiles, out=dst)
                    assert bytes(dst) == bytes(K.clahe(bytes(src), (w, h), bpp, nc, 2, tiles))
                    a = np.frombuffer(bytes(src), np.uint8).reshape(h, w, bpp)
                    if nc == 1:  # the grey result is the numpy form's (a clip limit giving 2), alpha kept
                        clip = 2.5 * 256 / int(np.prod(K.clahe_tile((w, h), tiles)))
                        ref = clahe_levels(a[..., 0].astype(np.int64), 256, clip, tiles)
                        out = np.frombuffer(bytes(dst), np.uint8).reshape(h, w, bpp)
                        assert np.array_equal(out[..., 0], ref) and np.array_equal(out[..., 1:], a[..., 1:])


def test_the_kernel_refuses_bad_arguments():
    for args in ((b"\0" * 12, (2, 2), 3, 3, 0, (8, 8)), (b"\0" * 12, (2, 2), 3, 2, 1, (8, 8)),
                 (b"\0" * 12, (2, 2), 3, 3, 1, (0, 8)), (b"\0" * 12, (2, 2), 3, 3, 1, (8, 65)),
                 (b"\0" * 11, (2, 2), 3, 3, 1, (8, 8))):
        with pytest.raises(ValueError):
            K.clahe(*args)


# --- the op -----------------------------------------------------------------------------------------------


def test_the_op_draws_the_clip_limit_and_sits_after_equalize():
    names = list(OPS)
    assert names.index("clahe") == names.index("equalize") + 1
    (op,) = build(clahe=(1.0, 4.0), clahe_tiles=4)
    assert op.tiles == 4 and op.clip_range == (1.0, 4.0)
    rng = np.random.default_rng(0)
    clips = [op.sample(rng, (9, 9))["clip"] for _ in range(200)]
    assert 1.0 <= min(clips) and max(clips) <= 4.0 and max(clips) - min(clips) > 2
    op.check({"clip": 2.0}, (9, 9))
    for bad in ({"clip": 5.0}, {"clip": "2"}, {}, {"clip": 2.0, "tiles": 3}):
        with pytest.raises(ValueError):
            op.check(bad, (9, 9))
    for kwargs in ({"tiles": 0}, {"tiles": 65}, {"tiles": 2.5}, {"tiles": True}, {"clip_range": (0.0, 2.0)}):
        with pytest.raises(ValueError):
            Clahe(**kwargs)


@pytest.mark.parametrize("args,message", [
    (["--clahe", "0:2"], "must be > 0"),
    (["--clahe", "2", "--clahe-tiles", "0"], "0 is not in the range"),
    (["--clahe-tiles", "4"], "--clahe-tiles needs --clahe"),
])
def test_bad_flags_exit_2_with_a_message(dataset, tmp_path, args, message):
    res = CliRunner().invoke(cli, ["expand", str(dataset), str(tmp_path / "out"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_a_run_records_the_clip_and_replays_to_the_same_bytes(dataset, tmp_path):
    out, again = tmp_path / "out", tmp_path / "again"
    res = CliRunner().invoke(cli, ["expand", str(dataset), str(out), "-n", "2", "--seed", "3", "-j", "1", "-q",
                                   "--format", "png", "--clahe", "2:6", "--clahe-tiles", "3"])
    assert res.exit_code == 0, res.output
    lines = (out / "manifest.jsonl").read_text().splitlines()
    assert {"op": "clahe", "p": 1.0, "clip_range": [2.0, 6.0], "tiles": 3} in json.loads(lines[0])["config"]["pipeline"]["ops"]
    records = [json.loads(line) for line in lines[1:]]
    assert all(2.0 <= s["clip"] <= 6.0 for r in records for s in r["ops"] if s["op"] == "clahe")
    record = next(r for r in records if r["source"] == "dogs/c.png")
    step = next(s for s in record["ops"] if s["op"] == "clahe")
    with Image.open(dataset / "dogs" / "c.png") as source, Image.open(out / record["output"]) as written:
        assert written.tobytes() == clahe(source.convert("L"), step["clip"], (3, 3)).tobytes()
    res = CliRunner().invoke(cli, ["replay", str(out / "manifest.jsonl"), "--output", str(again)])
    assert res.exit_code == 0, res.output
    for r in records:
        assert (again / r["output"]).read_bytes() == (out / r["output"]).read_bytes()
