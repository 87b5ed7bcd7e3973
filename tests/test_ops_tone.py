"""The tone ops (autocontrast, equalize, sharpen, posterize, solarize, invert): Pillow's exact bytes on
8-bit images, known answers, the same bytes on every kernel path with pinned digests, alpha kept,
16-bit and float data, the flags and the recorded params."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter, ImageOps

from augcli import tonal as TF
from augcli import kernels as K
from augcli.cli import cli
from augcli.ops import OPS, Autocontrast, Equalize, Invert, Posterize, Sharpen, Solarize, build
from augcli.pipeline import Pipeline

from .conftest import BENCH_IMAGES, pattern
from .test_kernels_pixel import generated

TONE = ("autocontrast", "equalize", "sharpen", "posterize", "solarize", "invert")

# each op as (augcli function, what Pillow gives on an L or RGB image)
CASES = {
    "autocontrast": (TF.autocontrast, ImageOps.autocontrast),
    "equalize": (TF.equalize, ImageOps.equalize),
    "invert": (TF.invert, ImageOps.invert),
    **{f"posterize {b}": (lambda im, b=b: TF.posterize(im, b), lambda im, b=b: ImageOps.posterize(im, b))
       for b in range(1, 9)},
    **{f"solarize {t}": (lambda im, t=t: TF.solarize(im, t), lambda im, t=t: ImageOps.solarize(im, t))
       for t in (0, 1, 37.5, 128, 200.25, 255, 256)},
    **{f"sharpen {a}": (lambda im, a=a: TF.sharpen(im, a),
                        lambda im, a=a: im.filter(ImageFilter.UnsharpMask(2, round(a * 100), 3)))
       for a in (0.3, 1.5, 4.0)},
}


def pillow(reference, image: Image.Image) -> Image.Image:
    """What Pillow gives for an image with alpha: ImageOps on its colour part, the alpha kept."""
    if image.mode not in ("LA", "RGBA"):
        return reference(image)
    colour = image.convert("L" if image.mode == "LA" else "RGB")
    return Image.merge(image.mode, (*reference(colour).split(), image.getchannel("A")))


def images(mode: str) -> list[Image.Image]:
    """Hard cases for the histogram ops: a pattern, uniform noise, a narrow band of values, one
    value, two values, a skewed histogram with a big top bin, and tiny images."""
    rng = np.random.default_rng(7)
    bands = len(mode)
    out = [pattern(37, 23, "RGBA", 1).convert(mode) if mode != "RGBA" else pattern(37, 23, "RGBA", 1)]
    arrays = [
        rng.integers(0, 256, (19, 31, bands)),
        rng.integers(90, 101, (25, 17, bands)),
        np.full((5, 7, bands), 77),
        rng.choice([3, 250], (9, 9, bands)),
        np.where(rng.random((40, 30, bands)) < 0.9, rng.integers(0, 20, (40, 30, bands)), 255),
        rng.integers(0, 256, (1, 1, bands)),
        rng.integers(0, 256, (1, 3, bands)),
    ]
    for a in arrays:
        a = a.astype(np.uint8)
        out.append(Image.fromarray(a[..., 0], "L") if mode == "L" else Image.frombytes(mode, a.shape[1::-1], a.tobytes()))
    return out


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_8_bit_results_are_pillows_bytes(name, mode):
    ours, reference = CASES[name]
    for image in images(mode):
        out = ours(image)
        assert out.mode == mode and out.size == image.size
        assert out.tobytes() == pillow(reference, image).tobytes(), (name, image.size)


def test_equalize_and_autocontrast_match_pillow_on_many_random_histograms():
    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(1, 3000))
        lo, hi = sorted(int(v) for v in rng.integers(0, 256, 2))
        k = int(rng.integers(1, 12))
        values = rng.choice(rng.integers(lo, hi + 1, k), n)
        if rng.random() < 0.3:  # a heavy top bin, where ImageOps' table runs past 255
            values[: int(n * rng.random())] = 255
        image = Image.fromarray(values.astype(np.uint8).reshape(1, n), "L")
        assert TF.equalize(image).tobytes() == ImageOps.equalize(image).tobytes()
        assert TF.autocontrast(image).tobytes() == ImageOps.autocontrast(image).tobytes()


def test_the_equalize_table_past_255_is_clipped_as_pillow_does():
    a = np.zeros(512, np.uint8)
    a[-1] = 255
    assert TF.equalize_table(np.bincount(a, minlength=256))[255] == 256  # ImageOps' own table says 256
    image = Image.fromarray(a.reshape(16, 32), "L")
    assert TF.equalize(image).tobytes() == ImageOps.equalize(image).tobytes()
    assert np.asarray(TF.equalize(image)).max() == 255


def test_autocontrast_tables_are_pillows_for_every_low_and_high():
    # one row holding every value from lo to hi: Pillow's table on exactly those values
    for lo in range(0, 256, 3):
        for hi in range(lo + 1, 256, 2):
            row = Image.fromarray(np.arange(lo, hi + 1, dtype=np.uint8)[None, :], "L")
            assert TF.autocontrast(row).tobytes() == ImageOps.autocontrast(row).tobytes(), (lo, hi)


@pytest.mark.skipif(not BENCH_IMAGES.is_dir(), reason="no bench photos here")
def test_a_photo_gives_pillows_bytes_for_every_op():
    path = sorted(BENCH_IMAGES.rglob("*.jpg"))[0]
    with Image.open(path) as im:
        photo = im.convert("RGB")
    for name, (ours, reference) in CASES.items():
        assert ours(photo).tobytes() == reference(photo).tobytes(), name


# --- known answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "I", "F"])
def test_identities(mode):
    image = pattern(41, 27, "RGBA" if mode in ("LA", "RGBA") else "RGB", 3)
    image = image.convert(mode) if mode not in ("RGBA", "I;16") else pattern(41, 27, mode, 3)
    before = image.tobytes()
    if mode == "F":  # 255 - (255 - v) is rounded twice to float32
        assert np.allclose(np.asarray(TF.invert(TF.invert(image))), np.asarray(image), rtol=0, atol=1e-4)
    else:
        assert TF.invert(TF.invert(image)).tobytes() == before
    if mode in ("L", "LA", "RGB", "RGBA"):  # 16-bit and float data keep 2^8 levels, as torchvision's posterize
        assert TF.posterize(image, 8).tobytes() == before
    assert TF.solarize(image, 256).tobytes() == before
    assert TF.solarize(image, 0).tobytes() == TF.invert(image).tobytes()
    assert TF.sharpen(image, 0.0).tobytes() == before
    assert TF.sharpen(image, 0.004).tobytes() == before  # rounds to 0 percent
    flat = Image.new(mode, (9, 5), 100 if mode != "RGBA" else (100, 50, 25, 7))
    for fn in (TF.autocontrast, TF.equalize, lambda im: TF.sharpen(im, 2.0)):
        assert fn(flat).tobytes() == flat.tobytes()
    assert image.tobytes() == before  # the input is never changed


def test_autocontrast_of_a_full_range_band_and_posterize_levels():
    ramp = Image.fromarray(np.arange(256, dtype=np.uint8)[None, :], "L")
    assert TF.autocontrast(ramp).tobytes() == ramp.tobytes()
    for bits in range(1, 9):
        values = set(np.asarray(TF.posterize(ramp, bits)).ravel().tolist())
        assert values == set(range(0, 256, 2 ** (8 - bits)))


def test_grey_rgb_stays_grey():
    grey = pattern(30, 20, "L", 2).convert("RGB")
    for fn in (TF.equalize, TF.autocontrast, lambda im: TF.sharpen(im, 1.2), lambda im: TF.solarize(im, 90)):
        r, g, b = fn(grey).split()
        assert r.tobytes() == g.tobytes() == b.tobytes()


# --- 16-bit and float data --------------------------------------------------------------------------


def sixteen(values: np.ndarray) -> Image.Image:
    return Image.frombytes("I;16", values.shape[::-1], values.astype("<u2").tobytes())


def test_16_bit_and_float_semantics():
    rng = np.random.default_rng(4)
    v = rng.integers(1000, 50000, (13, 17)).astype(np.int64)
    image = sixteen(v)
    as_array = lambda im: np.asarray(im).astype(np.int64)  # noqa: E731
    assert np.array_equal(as_array(TF.invert(image)), 65535 - v)
    assert np.array_equal(as_array(TF.posterize(image, 3)), v & ~(2**13 - 1))
    assert np.array_equal(as_array(TF.posterize(image, 8)), v & ~255)
    assert np.array_equal(as_array(TF.solarize(image, 100)), np.where(v < 100 * 257, v, 65535 - v))
    stretched = as_array(TF.autocontrast(image))
    assert stretched.min() == 0 and stretched.max() == 65535
    assert np.array_equal(stretched, np.trunc(v * (65535 / (v.max() - v.min())) - v.min() * (65535 / (v.max() - v.min()))))
    eq = as_array(TF.equalize(image))
    below = np.array([[np.sum(v < x) for x in row] for row in v])
    assert np.array_equal(eq, np.rint(65535 * below / (v.size - np.sum(v == v.max()))))
    f = Image.fromarray((v / 257.0).astype(np.float32), "F")
    assert np.allclose(np.asarray(TF.invert(f)), 255 - np.asarray(f))
    assert np.allclose(np.asarray(TF.posterize(f, 2)), np.floor(np.asarray(f) / 64) * 64)
    out = np.asarray(TF.autocontrast(f))
    assert out.min() == pytest.approx(0, abs=1e-3) and out.max() == pytest.approx(255, abs=1e-3)


def test_16_bit_sharpen_is_close_to_the_8_bit_one():
    # the same photo as 8 bits (Pillow's box-approximated blur) and as 16 bits (a true Gaussian)
    image = pattern(60, 40, "L", 5)
    eight = np.asarray(TF.sharpen(image, 1.0)).astype(np.float64)
    wide = np.asarray(TF.sharpen(pattern(60, 40, "I;16", 5), 1.0)).astype(np.float64) / 257
    assert wide.shape == eight.shape and np.mean(np.abs(wide - eight)) < 2.0
    assert not np.array_equal(np.asarray(TF.sharpen(pattern(60, 40, "I;16", 5), 1.0)),
                              np.asarray(pattern(60, 40, "I;16", 5)))


# --- every kernel path, pinned digests ----------------------------------------------------------------


def run_tone(image: Image.Image) -> dict[str, str]:
    out = {"autocontrast": TF.autocontrast(image), "equalize": TF.equalize(image), "invert": TF.invert(image),
           "posterize 3": TF.posterize(image, 3), "solarize 100.5": TF.solarize(image, 100.5),
           "sharpen 1.3": TF.sharpen(image, 1.3)}
    return {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in out.items()}


GOLDEN = {
    # SHA-256 of each op's output bytes on the fixed generated 61x43 RGBA image (test_kernels_pixel.generated)
    "autocontrast": "9b55b7777458df94613c100f55c45c42cf7f5fb945a5e0e4311498ce8e8cfbd9",
    "equalize": "8ad6f00259e5613473ac72b5a0927c9c7d5cdc0c5d5f9411fbbe490583537634",
    "invert": "04b5138f0ee5fe27105895878dc300cfdb7530cebfa7174adee902d5fc336120",
    "posterize 3": "da73001c0d5bcf945f754fd0258798e11bfef06429efdc115d8188df29dea4fa",
    "sharpen 1.3": "1ca1bfb99a01870e8dedba7d0f854f668c3c4927f5d2f0d5236aa54c5964f02f",
    "solarize 100.5": "5623835a92bd98bd1461c3bf83540e5663640efe1c3e758fc064b59273d9074f",
}


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_every_kernel_path_gives_the_same_bytes(mode, path_restored):
    image = Image.frombytes(mode, (61, 43), generated(61, 43, len(mode)))
    K.use("scalar")
    expected = run_tone(image)
    for path in K.available():
        K.use(path)
        assert run_tone(image) == expected, path


def test_golden_digests_on_every_path(path_restored):
    image = Image.frombytes("RGBA", (61, 43), generated(61, 43, 4))
    for path in K.available():
        K.use(path)
        assert run_tone(image) == GOLDEN, path


# --- the ops: draws, records, checks, flags -------------------------------------------------------------


def test_the_ops_sit_between_colour_and_the_sensor_ops():
    names = list(OPS)
    tone = names[names.index("grayscale") + 1:names.index("motion_blur")]
    assert [n for n in tone if n != "clahe"] == list(TONE)  # clahe: tests/test_ops_clahe.py


def test_posterize_and_solarize_take_a_single_value_as_itself():
    ops = {op.name: op for op in build(posterize=(4.0, 4.0), solarize=(128.0, 128.0), sharpen=(0.0, 1.5))}
    post, sol, sharp = ops["posterize"], ops["solarize"], ops["sharpen"]
    rng = np.random.default_rng(0)
    assert {post.sample(rng, (9, 9))["bits"] for _ in range(20)} == {4}
    assert {sol.sample(rng, (9, 9))["threshold"] for _ in range(20)} == {128.0}
    amounts = [sharp.sample(rng, (9, 9))["amount"] for _ in range(200)]
    assert 0 <= min(amounts) < 0.2 and 1.3 < max(amounts) <= 1.5
    drawn = {Posterize(bits_range=(2, 5)).sample(rng, (9, 9))["bits"] for _ in range(200)}
    assert drawn == {2, 3, 4, 5} and all(isinstance(b, int) for b in drawn)
    from augcli.cli_types import RangeType

    assert RangeType(fixed=True).convert("4", None, None) == (4.0, 4.0)
    assert RangeType(fixed=True).convert("2:6", None, None) == (2.0, 6.0)


@pytest.mark.parametrize("make,match", [
    (lambda: Posterize(bits_range=(0, 4)), "must be >= 1"),
    (lambda: Posterize(bits_range=(2, 9)), "must be <= 8"),
    (lambda: Posterize(bits_range=(2.5, 4)), "whole numbers"),
    (lambda: Solarize(threshold_range=(0, 300)), "must be <= 256"),
    (lambda: Solarize(threshold_range=(-1, 30)), "must be >= 0"),
    (lambda: Sharpen(amount_range=(0, 11)), "must be <= 10"),
    (lambda: Equalize(p=1.5), "between 0 and 1"),
])
def test_bad_settings_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_check_refuses_params_the_op_could_not_have_drawn():
    post, sol, sharp = Posterize(bits_range=(2, 5)), Solarize(threshold_range=(64, 128)), Sharpen(amount_range=(0, 1))
    post.check({"bits": 5}, (9, 9))
    sol.check({"threshold": 64.0}, (9, 9))
    sharp.check({"amount": 0.5}, (9, 9))
    for op, params in [(post, {"bits": 6}), (post, {"bits": 3.0}), (post, {"bits": True}), (post, {}),
                       (sol, {"threshold": 200.0}), (sol, {"threshold": "64"}), (sharp, {"amount": 1.5}),
                       (sharp, {"amount": 0.5, "extra": 1}), (Equalize(), {"x": 1}), (Invert(), {"bits": 2}),
                       (Autocontrast(), {"applied": True})]:
        with pytest.raises(ValueError):
            op.check(params, (9, 9))


@pytest.mark.parametrize("args,message", [
    (["--posterize", "0"], "must be >= 1"),
    (["--posterize", "2.5"], "whole numbers"),
    (["--posterize", "3:9"], "must be <= 8"),
    (["--solarize", "257"], "must be <= 256"),
    (["--sharpen", "-1"], "which is empty"),
    (["--equalize", "1.5"], "1.5 is not in the range"),
    (["--invert", "x"], "is not a valid float"),
    (["--autocontrast", "0.5", "--p", "invert=0.5"], "not enabled by its flag"),
])
def test_bad_flags_exit_2_with_a_message(dataset, tmp_path, args, message):
    res = CliRunner().invoke(cli, ["expand", str(dataset), str(tmp_path / "out"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_a_run_records_what_was_applied_and_writes_pillows_bytes(dataset, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["expand", str(dataset), str(out), "-n", "3", "--seed", "5", "-j", "1", "-q",
                                   "--format", "png", "--equalize", "0.5", "--posterize", "2:6", "--solarize", "200",
                                   "--invert", "1", "--autocontrast", "0.5", "--sharpen", "1"])
    assert res.exit_code == 0, res.output
    lines = (out / "manifest.jsonl").read_text().splitlines()
    config = json.loads(lines[0])["config"]["pipeline"]["ops"]
    assert {"op": "posterize", "p": 1.0, "bits_range": [2, 6]} in config
    assert {"op": "solarize", "p": 1.0, "threshold_range": [200.0, 200.0]} in config
    assert {"op": "invert", "p": 1.0} in config and {"op": "equalize", "p": 0.5} in config
    records = [json.loads(line) for line in lines[1:]]
    steps = [s for r in records for s in r["ops"]]
    assert {s["op"] for s in steps} == set(TONE)
    assert {s["applied"] for s in steps if s["op"] == "equalize"} == {True, False}
    assert all(s == {"op": "invert", "applied": True} for s in steps if s["op"] == "invert")
    assert all(s["threshold"] == 200.0 for s in steps if s["op"] == "solarize")
    assert {s["bits"] for s in steps if s["op"] == "posterize"} <= {2, 3, 4, 5, 6}

    # each output is the source through Pillow's calls in the recorded order
    record = next(r for r in records if r["source"] == "top.png")
    image = Image.open(dataset / "top.png").convert("RGB")
    for step in record["ops"]:
        if not step["applied"]:
            continue
        image = {"autocontrast": lambda im: ImageOps.autocontrast(im),
                 "equalize": lambda im: ImageOps.equalize(im),
                 "sharpen": lambda im: im.filter(ImageFilter.UnsharpMask(2, round(step["amount"] * 100), 3)),
                 "posterize": lambda im: ImageOps.posterize(im, step["bits"]),
                 "solarize": lambda im: ImageOps.solarize(im, step["threshold"]),
                 "invert": lambda im: ImageOps.invert(im)}[step["op"]](image)
    with Image.open(out / record["output"]) as written:
        assert written.convert("RGB").tobytes() == image.tobytes()


def test_pipeline_applies_the_family_in_canonical_order():
    image = pattern(30, 20, "RGB", 9)
    pipe = Pipeline((Invert(), Posterize(bits_range=(2, 2)), Solarize(threshold_range=(50, 50))))
    plan = pipe.plan(lambda name: np.random.default_rng(1), image.size)
    assert [s["op"] for s in plan] == ["posterize", "solarize", "invert"]
    expected = ImageOps.invert(ImageOps.solarize(ImageOps.posterize(image, 2), 50))
    assert pipe.apply(image, plan).tobytes() == expected.tobytes()


# --- a recorded setting no float can hold -------------------------------------------------------------


@pytest.mark.parametrize("op,options", [
    ("posterize", {"p": 1.0, "bits_range": [1, 10**400]}),
    ("solarize", {"p": 1.0, "threshold_range": [-10**400, 3]}),
    ("equalize", {"p": 10**400}),
    ("blur", {"p": 1.0, "sigma_range": [0, 10**400]}),
])
def test_a_recorded_number_too_large_for_a_float_is_a_value_error(op, options):
    # a manifest's JSON may hold such an integer; replay turns a ValueError into a one-line usage error
    from augcli.ops import from_record

    with pytest.raises(ValueError, match="too large|must be"):
        from_record(op, options)


def test_replay_of_such_a_manifest_is_a_usage_error_not_a_traceback(tmp_path):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["expand", str(tmp_path / "in"), str(out), "--posterize", "3", "-q", "-j", "1"])
    assert res.exit_code == 0, res.output
    lines = (out / "manifest.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    next(op for op in header["config"]["pipeline"]["ops"] if op["op"] == "posterize")["bits_range"] = [1, 10**400]
    (tmp_path / "m.jsonl").write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    res = CliRunner().invoke(cli, ["replay", str(tmp_path / "m.jsonl"), "--output", str(tmp_path / "again")])
    assert res.exit_code == 2 and "pipeline cannot be rebuilt" in res.output, res.output
    assert not isinstance(res.exception, OverflowError)
