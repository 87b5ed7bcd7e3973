"""augcli replay: every output of a run remade from its manifest alone, byte for byte."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli.cli import cli
from augcli.ops import OPS

from .conftest import pattern, tree_bytes

EVERY_OP = ["--rot90", "--crop", "0.7", "--crop-mode", "corners", "--hflip", "--vflip", "--rotate", "20",
            "--shear", "8", "--zoom", "0.2", "--width-shift", "0.1", "--height-shift", "3", "--perspective", "0.08",
            "--policy", "randaugment:2:12", "--elastic", "200:10", "--grid-distort", "0.2", "--lens", "0.2",
            "--brightness", "0.2", "--contrast", "0.3", "--saturation", "0.5", "--hue", "20", "--gamma", "0.3",
            "--lighting", "0.4", "--channel-shift", "15", "--grayscale", "0.3", "--autocontrast", "0.5",
            "--equalize", "0.5", "--clahe", "3", "--clahe-tiles", "4", "--sharpen", "0.5:1.5", "--posterize", "3:7",
            "--solarize", "100:256",
            "--invert", "0.4",
            "--motion-blur", "7", "--motion-angle", "0:90", "--median-blur", "3:5", "--downscale", "0.4",
            "--downscale-filter", "box", "--iso-noise", "8", "--iso-colour", "0.3", "--coarse-dropout", "3",
            "--dropout-size", "0.1:0.3", "--dropout-fill", "random", "--grid-mask", "0.6", "--grid-unit", "0.2:0.4",
            "--blur", "1.5", "--erase", "2",
            "--noise", "10", "--salt-pepper", "0.03", "--salt-ratio", "0.4", "--jpeg-artifacts", "20:80",
            "--p", "blur=0.6", "--p", "rotate=0.8"]
# a letterbox does not go with the distortions (the pipeline refuses the pair): its own run
DISTORTIONS = ("--elastic", "--grid-distort", "--lens")
LETTERBOX = [f for i, f in enumerate(EVERY_OP) if f not in DISTORTIONS and EVERY_OP[i - 1] not in DISTORTIONS] + \
    ["--letterbox", "96x80", "--letterbox-align", "top-left"]


def invoke(*args, expect=0):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == expect, res.output
    return res


def outputs(root):
    return {k: v for k, v in tree_bytes(root).items() if k != "manifest.jsonl"}


@pytest.fixture
def rich_dataset(dataset):
    """The shared dataset plus a 16-bit grey image and an LA image."""
    values = np.asarray(pattern(34, 26, "L")).astype(np.uint16) * 257
    Image.frombytes("I;16", (34, 26), values.tobytes()).save(dataset / "dogs" / "d16.png")
    pattern(28, 28, "RGBA").convert("LA").save(dataset / "dogs" / "la.png")
    return dataset


def test_every_op_flag_is_exercised():
    flags = {f.split()[0] for cls in OPS.values() for f in cls.flag.split(", ")}
    assert flags <= set(EVERY_OP) | set(LETTERBOX)


@pytest.mark.parametrize("fmt,flags", [("png", EVERY_OP), ("jpeg", EVERY_OP), ("same", EVERY_OP),
                                       ("png", LETTERBOX)], ids=["png", "jpeg", "same", "letterbox"])
def test_replay_with_every_op_is_byte_identical(rich_dataset, tmp_path, fmt, flags):
    out = tmp_path / "out"
    invoke("expand", rich_dataset, out, "-n", 3, "--seed", 4, "-j", 2, "-q", "--format", fmt,
           "--include-originals", *flags)
    lines = (out / "manifest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines[1:]]
    applied = {s["op"] for r in records for s in r["ops"] if s["applied"]}
    # every op really ran somewhere
    assert applied == set(OPS) - ({"letterbox"} if flags is EVERY_OP else {"elastic", "grid_distort", "lens"})
    assert any(len(r["matrix"]) == 3 for r in records if r["copy"] is not None)  # projective maps recorded

    again = tmp_path / "again"
    res = invoke("replay", out / "manifest.jsonl", "--output", again)
    original = outputs(out)
    assert len(original) == 6 * 4 and outputs(again) == original
    assert "24 written, 0 skipped, 0 failed" in res.stderr


def test_replay_defaults_to_the_recorded_folders_and_honours_on_exists(dataset, tmp_path):
    out = tmp_path / "out"
    invoke("expand", dataset, out, "-n", 2, "--seed", 1, "-j", 1, "-q", "--blur", 2, "--noise", 5, "--rot90")
    first = tree_bytes(out)
    res = invoke("replay", out / "manifest.jsonl", expect=2)  # every output exists: refuse, write nothing
    assert "already exist" in res.output and tree_bytes(out) == first
    victim = sorted(k for k in first if k.endswith(".png"))[0]
    (out / victim).unlink()
    res = invoke("replay", out / "manifest.jsonl", "--on-exists", "skip")
    assert "1 written, 7 skipped" in res.stderr and tree_bytes(out) == first
    (out / victim).write_bytes(b"stale")
    invoke("replay", out / "manifest.jsonl", "--on-exists", "overwrite")
    assert tree_bytes(out) == first


def test_replay_from_a_moved_input_folder(dataset, tmp_path):
    out = tmp_path / "out"
    invoke("expand", dataset, out, "-n", 2, "--seed", 2, "-j", 1, "-q", "--crop", "0.5", "--hue", 40)
    moved = tmp_path / "moved"
    shutil.move(str(dataset), moved)
    invoke("replay", out / "manifest.jsonl", "--output", tmp_path / "x", expect=2)  # recorded input is gone
    invoke("replay", out / "manifest.jsonl", "--input", moved, "--output", tmp_path / "x")
    assert outputs(tmp_path / "x") == outputs(out)


def test_failed_sources_are_noted_and_a_changed_source_fails(dataset, tmp_path):
    (dataset / "cats" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "out"
    invoke("expand", dataset, out, "-n", 1, "--seed", 3, "-j", 1, "-q", "--rotate", 10, expect=1)
    res = invoke("replay", out / "manifest.jsonl", "--output", tmp_path / "a")
    assert "cats/broken.jpg: not replayed (status error" in res.stderr
    assert outputs(tmp_path / "a") == outputs(out)

    pattern(20, 20).save(dataset / "top.png")  # a different picture under the same name
    res = invoke("replay", out / "manifest.jsonl", "--output", tmp_path / "b", expect=1)
    assert "top_0.png" in res.stderr and "not the same source" in res.stderr
    assert (tmp_path / "b" / "cats" / "a_0.jpg").exists()  # the others are still made


def test_replay_rejects_a_file_that_is_not_a_manifest(tmp_path):
    bogus = tmp_path / "m.jsonl"
    bogus.write_text('{"hello": 1}\n')
    res = invoke("replay", bogus, expect=2)
    assert "not an augcli manifest" in res.output



def test_every_drawn_plan_passes_the_pipelines_check_and_an_edited_one_does_not(tmp_path):
    """Pipeline.check (what replay applies to recorded steps) accepts every plan the pipeline draws,
    whatever the canvas, and refuses a param moved past its op's range."""
    from augcli.cli import build_pipeline, expand

    pipelines = [build_pipeline(dict(expand.make_context("expand", [str(tmp_path), str(tmp_path / "o"), *flags]).params))
                 for flags in (EVERY_OP, LETTERBOX)]
    rng = np.random.default_rng(7)
    checked = set()
    for n in range(600):
        pipeline = pipelines[n % 2]
        size = (int(rng.integers(1, 300)), int(rng.integers(1, 300)))
        seed = int(rng.integers(0, 2**32))
        plan = json.loads(json.dumps(pipeline.plan(lambda name: np.random.default_rng([seed, len(name)]), size)))
        pipeline.check(plan, size)
        for i, step in enumerate(plan):
            keys = [k for k in step if k not in ("op", "applied")]
            if not keys or step["op"] in checked:
                continue
            checked.add(step["op"])
            edited = json.loads(json.dumps(plan))
            value = step[keys[0]]
            edited[i][keys[0]] = [[10**9] * 4] * 3 if isinstance(value, list) else 10**9
            with pytest.raises(ValueError):
                pipeline.check(edited, size)
    no_params = ("hflip", "vflip", "grayscale", "autocontrast", "equalize", "invert")
    assert checked == {name for name in OPS if name not in no_params}
