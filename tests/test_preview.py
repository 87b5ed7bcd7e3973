"""augcli preview: the sheet's layout, its labels, and that its samples are expand's outputs."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from PIL import Image

from augcli.cli import build_pipeline, cli
from augcli.cli import preview as preview_cmd
from augcli.imageio import LoadOptions, load_image
from augcli.preview import _display, label, samples

from .conftest import pattern

FLAGS = ["--rotate", "20", "--rot90", "--crop", "0.7", "--blur", "1", "--noise", "8", "--grayscale", "0.5"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_preview_writes_a_grid_with_the_original_first(tmp_path):
    src = tmp_path / "cat.png"
    pattern(64, 40).save(src)
    out = tmp_path / "sheet.png"
    res = invoke("preview", src, *FLAGS, "--grid", "4x2", "--tile", 128, "--seed", 1, "-o", out)
    assert res.exit_code == 0, res.output
    assert "seed 1" in res.stderr
    sheet = np.asarray(Image.open(out).convert("RGB"))
    # 64x40 fits 128 twice: cells are 128 wide (the rot90 tiles are 80x128), 4 columns with 6 px gaps
    assert sheet.shape[1] == 4 * (128 + 6) + 6
    first = np.asarray(_display(pattern(64, 40), 128))
    y0 = 6 + (128 - 80) // 2
    assert np.array_equal(sheet[y0:y0 + 80, 6:6 + 128], first)


def test_preview_tiles_are_the_copies_expand_writes(tmp_path):
    """Same seed, same file name at the root of the input folder: tile k + 1 is expand's copy k."""
    inp = tmp_path / "in"
    inp.mkdir()
    pattern(50, 34, "RGBA").save(inp / "a.png")
    res = invoke("expand", inp, tmp_path / "out", "-n", 3, "--seed", 8, "-j", 1, "-q", *FLAGS)
    assert res.exit_code == 0, res.output
    image = load_image(inp / "a.png", LoadOptions())
    ctx = preview_cmd.make_context("preview", [str(inp / "a.png"), *FLAGS])  # the CLI's own flag parsing
    pipeline = build_pipeline(dict(ctx.params))
    for k, (made, _) in enumerate(samples(image, pipeline, 8, "a.png", 3)):
        assert np.array_equal(np.asarray(made), np.asarray(Image.open(tmp_path / "out" / f"a_{k}.png")))


def test_labels_name_the_applied_ops_only():
    steps = [{"op": "rot90", "applied": True, "k": 1}, {"op": "rotate", "applied": False},
             {"op": "crop", "applied": True, "box": [3, 4, 50, 40]},
             {"op": "noise", "applied": True, "sigma": 7.123, "noise_seed": 99}]
    assert label(steps) == "rot90 1, crop 3,4 50x40, noise 7.12"
    assert label([{"op": "hflip", "applied": False}]) == "no op applied"
    # a field's seed is a number no reader can use: left out like the noise seed
    assert label([{"op": "elastic", "applied": True, "alpha": 200.0, "sigma": 15.0, "seed": 2381902114}]) == \
        "elastic 200 15"


def test_preview_of_a_bad_file_exits_1(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    res = invoke("preview", bad, "--rotate", 5, "-o", tmp_path / "p.png")
    assert res.exit_code == 1 and "cannot identify" in res.output
    assert not (tmp_path / "p.png").exists()


def test_preview_handles_16_bit_and_grey(tmp_path):
    values = (np.asarray(pattern(30, 20, "L")).astype(np.uint16) * 257)
    src = tmp_path / "g16.png"
    Image.frombytes("I;16", (30, 20), values.tobytes()).save(src)
    res = invoke("preview", src, "--hue", 30, "--saturation", 0.5, "--gamma", 0.3, "--seed", 2,
                 "--grid", "2x2", "-o", tmp_path / "p.png")
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "p.png").mode == "RGB"
