"""--policy (torchvision's RandAugment, TrivialAugment Wide, AugMix over augcli's ops) and --preset."""

from __future__ import annotations

import json
import math
import shlex
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli import geometry as G
from augcli.cli import build_pipeline, cli, expand
from augcli.ops import Policy, policies as P
from augcli.presets import PRESETS
from augcli.seeding import Stream, copy_key, source_key, stream_key, streams_for

from .conftest import pattern, tree_bytes

DRAWS = 20_000
SIZE = (96, 80)
RA_NAMES = ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
            "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"]  # torchvision's lists
AUGMIX_NAMES = ["ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Posterize", "Solarize", "AutoContrast",
                "Equalize", "Brightness", "Color", "Contrast", "Sharpness"]


def invoke(*args, expect=0):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == expect, res.output
    return res


def policy_stream(i: int) -> Stream:
    """The stream the policy of output i draws from: keyed as every op's (seed, source, copy, name)."""
    return Stream(copy_key(source_key(11, i), i % 3), stream_key("policy"))


def draws(spec: str, label_safe: bool = False):
    op = Policy(spec=spec, label_safe=label_safe)
    return [P.draw(policy_stream(i), op.kind, op.numbers, label_safe, SIZE) for i in range(DRAWS)]


def assert_uniform(counts: Counter, keys, total: int):
    """Every key within 5 binomial standard deviations of total / len(keys), and no other key."""
    assert set(counts) == set(keys), set(counts) ^ set(keys)
    p = 1 / len(keys)
    sd = math.sqrt(total * p * (1 - p))
    for key in keys:
        assert abs(counts[key] - total * p) < 5 * sd, (key, counts[key], total * p)


def the_value(record):
    return next(v for k, v in record.items() if k != "op")


# --- statistics over 20,000 draws (in-process, no images) ----------------------------------------


def test_randaugment_picks_its_14_ops_uniformly_at_magnitude_bin_m():
    made = draws("randaugment:2:9")
    names = Counter(n for _, ns in made for n in ns)
    assert_uniform(names, RA_NAMES, 2 * DRAWS)
    signs = Counter()
    for params, ns in made:
        assert len(params["ops"]) == 2
        for name, rec in zip(ns, params["ops"]):
            w, h = SIZE
            expected = {  # torchvision's tables at bin 9 of 31
                "ShearX": 0.3 * 9 / 30, "ShearY": 0.3 * 9 / 30, "Rotate": 30 * 9 / 30,
                "TranslateX": int(150 / 331 * w * 9 / 30), "TranslateY": int(150 / 331 * h * 9 / 30),
                "Brightness": 0.9 * 9 / 30, "Color": 0.9 * 9 / 30, "Contrast": 0.9 * 9 / 30,
                "Sharpness": 0.9 * 9 / 30,
            }
            if name == "Posterize":
                assert rec == {"op": "posterize", "bits": 7}  # 8 - round(9 / 7.5)
            elif name == "Solarize":
                assert rec == {"op": "solarize", "threshold": pytest.approx(255 * (1 - 9 / 30))}
            elif name in ("Identity", "AutoContrast", "Equalize"):
                assert rec == {"op": name.lower()}
            elif name.startswith("Translate"):
                moved = rec["dx"] if name == "TranslateX" else rec["dy"]
                assert abs(moved) == expected[name] and (rec["dy"] if name == "TranslateX" else rec["dx"]) == 0
                signs[moved > 0] += 1
            else:
                value = the_value(rec) - (1.0 if name in ("Brightness", "Color", "Contrast", "Sharpness") else 0.0)
                assert abs(value) == pytest.approx(expected[name]), (name, rec)
                signs[value > 0] += 1
    assert_uniform(signs, [True, False], sum(signs.values()))


def test_trivialaugment_picks_one_op_uniformly_and_a_bin_uniformly():
    made = draws("trivialaugment")
    assert all(len(params["ops"]) == 1 for params, _ in made)
    assert_uniform(Counter(ns[0] for _, ns in made), RA_NAMES, DRAWS)
    bins = Counter()
    for params, (name,) in made:
        rec = params["ops"][0]
        if name == "Rotate":
            b = abs(rec["angle"]) / (135 / 30)
        elif name in ("ShearX", "ShearY"):
            b = abs(rec["factor"]) / (0.99 / 30)
        elif name in ("Brightness", "Color", "Contrast", "Sharpness"):
            b = abs(rec["factor"] - 1) / (0.99 / 30)
        elif name == "Solarize":
            b = (255 - rec["threshold"]) / (255 / 30)
        elif name == "Posterize":
            assert rec["bits"] in {8 - round(b / 5) for b in range(31)}
            continue
        else:
            continue
        assert abs(b - round(b)) < 1e-9, (name, rec)
        bins[round(b)] += 1
    assert_uniform(bins, range(31), sum(bins.values()))


def test_augmix_chains_depths_bins_and_weights_are_as_documented():
    made = draws("augmix:3:3")
    names = Counter(n for _, ns in made for n in ns)
    assert_uniform(names, AUGMIX_NAMES, sum(names.values()))
    depths, bins, originals, firsts = Counter(), Counter(), [], []
    for params, _ in made:
        chains = params["chains"]
        assert len(chains) == 3
        assert params["original"] + sum(c["weight"] for c in chains) == pytest.approx(1.0)
        originals.append(params["original"])
        firsts.append(chains[0]["weight"] / (1 - params["original"]))
        for chain in chains:
            depths[len(chain["ops"])] += 1
            for rec in chain["ops"]:
                if rec["op"] == "rotate":
                    bins[round(abs(rec["angle"]) / (30 / 9))] += 1
                if rec["op"] == "posterize":
                    assert rec["bits"] in (4, 3)  # bins 0, 1, 2 of 4 - round(b / 2.25)
    assert_uniform(depths, [1, 2, 3], 3 * DRAWS)
    assert_uniform(bins, [0, 1, 2], sum(bins.values()))
    # Beta(1, 1) is uniform; a Dirichlet(1, 1, 1) share is Beta(1, 2): mean 1/3, P(< 1/2) = 3/4
    originals, firsts = np.array(originals), np.array(firsts)
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        assert abs((originals < q).mean() - q) < 0.015
    assert abs(firsts.mean() - 1 / 3) < 0.01 and abs((firsts < 0.5).mean() - 0.75) < 0.015


def test_with_labels_augmix_leaves_out_its_geometry_and_the_others_keep_theirs():
    made = draws("augmix:2:2", label_safe=True)
    names = Counter(n for _, ns in made for n in ns)
    assert_uniform(names, AUGMIX_NAMES[5:], sum(names.values()))
    assert Policy(spec="augmix").for_labels()[1].endswith(
        "leaves out ShearX, ShearY, TranslateX, TranslateY, Rotate (a blend of differently warped copies "
        "has no one geometry for the labels)")
    assert Policy(spec="randaugment").for_labels() == (Policy(spec="randaugment", label_safe=True), None)
    assert Policy(spec="trivialaugment").for_labels()[1] is None


def test_the_pipeline_draws_a_policy_from_its_own_stream(tmp_path):
    args = [str(tmp_path), str(tmp_path / "out"), "--policy", "trivialaugment"]
    pipeline = build_pipeline(dict(expand.make_context("expand", args).params))
    steps = pipeline.plan(streams_for(5, 123, 2), SIZE)
    rng = streams_for(5, 123, 2)("policy")
    assert rng.random() < 1.0  # the op's probability draw comes first, as for every op
    assert steps == [{"op": "policy", "applied": True, **pipeline.ops[0].sample(rng, SIZE)}]


@pytest.mark.parametrize("spec,message", [
    ("randomaugment", "must be one of randaugment, trivialaugment, augmix"),
    ("randaugment:2:31", "M must be a whole number from 0 to 30"),
    ("randaugment:x", "N must be a whole number"),
    ("trivialaugment:3", "expected trivialaugment"),
    ("augmix:0", "W must be a whole number from 1 to 10"),
])
def test_a_bad_policy_is_a_usage_error(dataset, tmp_path, spec, message):
    res = invoke("expand", dataset, tmp_path / "out", "--policy", spec, expect=2)
    assert message in res.output and "Traceback" not in res.output


# --- geometry ---------------------------------------------------------------------------------------


def test_shear_x_is_torchvisions_affine_about_the_top_left_corner():
    """torchvision's ShearX is PIL's transform data (1, f, 0, 0, 1, 0), read at pixel centres x + 0.5."""
    f = 0.27
    rows = P.rows([{"op": "shear_x", "factor": f}], SIZE)
    for x, y in [(0, 0), (10, 3), (95, 79)]:
        u = (x + 0.5) + f * (y + 0.5) - 0.5
        assert G.apply_points(G.rows_matrix(rows), np.array([[x, y]]))[0] == pytest.approx([u, y])
    rows = P.rows([{"op": "shear_y", "factor": f}], SIZE)
    assert G.apply_points(G.rows_matrix(rows), np.array([[10, 3]]))[0] == pytest.approx([10, 3 + f * 10.5])


def test_a_policys_geometry_is_in_the_outputs_one_matrix(dataset, tmp_path):
    out = tmp_path / "out"
    invoke("expand", dataset, out, "-n", 6, "--seed", 2, "-j", 1, "-q", "--policy", "randaugment:3:20",
           "--hflip", "--p", "hflip=1")
    seen = 0
    for rec in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()[1:]):
        size = tuple(rec["size"])
        step = next(s for s in rec["ops"] if s["op"] == "policy")
        expected = G.compose_rows(G.ROWS["hflip"]({}, size)[0], P.rows(step["ops"], size))
        assert np.allclose(rec["matrix"], G.rows_matrix(expected)[:2], atol=1e-9)
        seen += any(s["op"] in P.GEOMETRIC for s in step["ops"])
    assert seen > 5


# --- replay -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["randaugment:2:9", "trivialaugment", "augmix:3:3", "augmix:4:2"])
def test_replay_renders_the_recorded_sub_ops_byte_identically(dataset, tmp_path, spec):
    out = tmp_path / "out"
    invoke("expand", dataset, out, "-n", 4, "--seed", 7, "-j", 2, "-q", "--policy", spec, "--format", "png")
    again = tmp_path / "again"
    invoke("replay", out / "manifest.jsonl", "--output", again, "-q")
    first = {k: v for k, v in tree_bytes(out).items() if k != "manifest.jsonl"}
    assert len(first) == 16 and {k: v for k, v in tree_bytes(again).items() if k != "manifest.jsonl"} == first

    # replay draws nothing: a recorded sub-op edited (within the table) changes that output alone
    lines = (out / "manifest.jsonl").read_text().splitlines()
    rec = json.loads(lines[1])
    step = next(s for s in rec["ops"] if s["op"] == "policy")
    target = step["chains"][0]["ops"] if "chains" in step else step["ops"]
    target[:] = [{"op": "solarize", "threshold": 255.0}]
    if spec.startswith("randaugment"):
        target.append({"op": "identity"})
    lines[1] = json.dumps(rec)
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join(lines) + "\n")
    invoke("replay", edited, "--output", tmp_path / "third", "-q")
    third = {k: v for k, v in tree_bytes(tmp_path / "third").items() if k != "manifest.jsonl"}
    assert [k for k in first if third[k] != first[k]] == [rec["output"]]


def test_replay_refuses_a_sub_op_the_table_cannot_draw(dataset, tmp_path):
    out = tmp_path / "out"
    invoke("expand", dataset, out, "-n", 1, "--seed", 1, "-j", 1, "-q", "--policy", "randaugment:2:9")
    lines = (out / "manifest.jsonl").read_text().splitlines()
    rec = json.loads(lines[1])
    next(s for s in rec["ops"] if s["op"] == "policy")["ops"] = [{"op": "rotate", "angle": 30.0},
                                                                 {"op": "identity"}]  # bin 30, not 9
    lines[1] = json.dumps(rec)
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    res = invoke("replay", tmp_path / "m.jsonl", "--output", tmp_path / "x", expect=1)
    assert "m.jsonl:2:" in res.output and "outside the op's range" in res.output


# --- labels -----------------------------------------------------------------------------------------


def square_dataset(root: Path, n: int = 3) -> Path:
    """YOLO images of a flat grey square on a flat background, with the square's box as label."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names: [square]\n")
    for i in range(n):
        a = np.full((80, 96), 40, np.uint8)
        x0, y0, x1, y1 = 28 + 4 * i, 22 + 2 * i, 60 + 3 * i, 50 + i  # edges: pixels x0..x1-1
        a[y0:y1, x0:x1] = 200
        Image.fromarray(a).convert("RGB").save(root / "images" / f"s{i}.png")
        cx, cy, w, h = (x0 + x1) / 2 / 96, (y0 + y1) / 2 / 80, (x1 - x0) / 96, (y1 - y0) / 80
        (root / "labels" / f"s{i}.txt").write_text(f"0 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return root


@pytest.mark.parametrize("spec", ["randaugment:2:9", "trivialaugment"])
def test_yolo_boxes_follow_the_square_under_a_policy(tmp_path, spec):
    inp = square_dataset(tmp_path / "in")
    out = tmp_path / "out"
    res = invoke("expand", inp, out, "-n", 12, "--seed", 3, "-j", 1, "--policy", spec, "--fill-mode", "constant",
                 "--cval", "40", "--interpolation", "nearest")
    assert "policy" not in res.stderr  # nothing is left out
    checked = moved = 0
    for rec in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()[1:]):
        a = np.asarray(Image.open(out / rec["output"]).convert("L")).astype(int)
        background = np.bincount(a.ravel()).argmax()
        ys, xs = np.nonzero(np.abs(a - background) > 6)
        rows = (out / "labels" / (Path(rec["output"]).stem + ".txt")).read_text().split()
        if not rows:  # moved out of the picture altogether
            assert len(xs) == 0
            continue
        _, cx, cy, w, h = map(float, rows)
        box = np.array([(cx - w / 2) * 96, (cy - h / 2) * 80, (cx + w / 2) * 96, (cy + h / 2) * 80])
        if len(xs) == 0:  # a pixel op made the square the background's colour (e.g. contrast near 0)
            continue
        seen = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        assert np.abs(box - seen).max() <= 1.5, (rec["output"], rec["ops"], box, seen)
        checked += 1
        moved += not np.allclose(rec["matrix"], [[1, 0, 0], [0, 1, 0]])
    assert checked >= 24 and moved >= 8


def test_augmix_with_labels_says_once_what_it_leaves_out_and_keeps_the_boxes(tmp_path):
    inp = square_dataset(tmp_path / "in")
    out = tmp_path / "out"
    res = invoke("expand", inp, out, "-n", 4, "--seed", 3, "-j", 2, "--policy", "augmix")
    assert res.stderr.count("augcli: policy: labels are carried, so augmix leaves out ShearX, ShearY, "
                            "TranslateX, TranslateY, Rotate") == 1
    first = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert first["config"]["pipeline"]["ops"][0] == {"op": "policy", "spec": "augmix:3:3", "label_safe": True,
                                                     "p": 1.0}
    for rec in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()[1:]):
        step = rec["ops"][0]
        assert not {s["op"] for c in step["chains"] for s in c["ops"]} & P.GEOMETRIC
        stem = rec["source"].split("/")[-1][:-4]
        assert (out / "labels" / (Path(rec["output"]).stem + ".txt")).read_text() == \
            (inp / "labels" / f"{stem}.txt").read_text()


def test_augmix_blends_the_original_and_its_chains():
    image = pattern(40, 30, "RGB", 5)
    params = {"original": 0.25, "chains": [{"weight": 0.75, "ops": [{"op": "solarize", "threshold": 0.0}]}]}
    out = Policy(spec="augmix:1:1").apply(image, params)
    a = np.asarray(image).astype(float)
    assert np.array_equal(np.asarray(out), np.rint(0.25 * a + 0.75 * (255 - a)).astype(np.uint8))


# --- presets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_is_its_documented_flags(tmp_path, name):
    from .conftest import REPO

    line = invoke("ops", "--preset", name).output.strip()
    assert line == shlex.join(PRESETS[name].words)
    assert f"| `{name}` | `{line}` |" in (REPO / "README.md").read_text()

    def pipeline(*args):
        with expand.make_context("expand", [str(tmp_path), str(tmp_path / "o"), *args]) as ctx:
            return build_pipeline(dict(ctx.params))

    assert pipeline("--preset", name) == pipeline(*shlex.split(line))


def test_explicit_flags_override_the_presets_values(tmp_path):
    def pipeline(*args):
        with expand.make_context("expand", [str(tmp_path), str(tmp_path / "o"), *args]) as ctx:
            return build_pipeline(dict(ctx.params))

    got = {op.name: op for op in pipeline("--preset", "yolo", "--hue", "10", "--p", "hflip=0.2", "--blur", "1").ops}
    assert got["hue"].degree_range == (-10.0, 10.0) and got["hflip"].p == 0.2 and "blur" in got
    assert got["saturation"].factor_range == (0.3, 1.7) and got["zoom"].keep_aspect
    got = {op.name: op for op in pipeline("--preset", "imagenet", "--p", "erase=0.5", "--policy", "randaugment").ops}
    assert got["erase"].p == 0.5 and got["policy"].spec == "randaugment:2:9"


def test_preview_takes_a_preset(tmp_path):
    pattern(40, 30).save(tmp_path / "x.png")
    invoke("preview", tmp_path / "x.png", "--preset", "folio", "--seed", 1, "-o", tmp_path / "p.png", "--grid", "2x1")
    assert Image.open(tmp_path / "p.png").size[0] > 0


def test_a_preview_caption_names_the_sub_ops_applied():
    from augcli.preview import label

    assert label([{"op": "policy", "applied": True, "ops": [{"op": "rotate", "angle": -9.0},
                                                            {"op": "posterize", "bits": 7}]}]) == \
        "policy (rotate -9, posterize 7)"
    assert label([{"op": "policy", "applied": True, "original": 0.32,
                   "chains": [{"weight": 0.41, "ops": [{"op": "equalize"}]}]}]) == "policy 0.32 (0.41 (equalize))"


def test_the_sharpness_sub_op_is_pillows_image_enhance_and_keeps_alpha():
    from PIL import ImageEnhance

    rgba = pattern(40, 30, "RGBA", 3)
    for factor in (0.01, 0.5, 1.99):
        out = P.sharpness(rgba, factor)
        want = ImageEnhance.Sharpness(rgba.convert("RGB")).enhance(factor)
        assert np.array_equal(np.asarray(out)[..., :3], np.asarray(want))
        assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(rgba.getchannel("A")))
    grey16 = pattern(40, 30, "I;16", 3)
    out16 = np.asarray(P.sharpness(grey16, 1.8)).astype(float) / 257
    want8 = np.asarray(ImageEnhance.Sharpness(grey16.point(lambda v: v / 257).convert("L")).enhance(1.8)).astype(float)
    assert np.abs(out16 - want8).max() <= 1.5  # the same kernel and blend, at 16-bit precision
