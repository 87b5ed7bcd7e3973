"""--erase-dropped: the pixels of objects the survival rules drop are painted over (flat-colour
images: none keeps the object's colour), masks get the mask fill there, replay is byte-identical,
runs without the flag are unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli.cli import cli
from augcli.labels.setup import LabelOptions

from .conftest import pattern, records, tree_bytes

GREY, RED = (60, 60, 60), (220, 20, 20)


def run(*args, expect=0, command="expand"):
    res = CliRunner().invoke(cli, [command, *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def scene(root: Path, row: str, mask: bool = False) -> Path:
    """A 100x50 grey image with a red object at x 70-95, y 10-40 (and a second, blue one that
    stays), its YOLO row(s), and a mask marking the red object 3."""
    a = np.zeros((50, 100, 3), np.uint8)
    a[:] = GREY
    a[10:40, 70:95] = RED
    a[10:30, 5:25] = (20, 20, 220)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    Image.fromarray(a).save(root / "images/a.png")
    (root / "labels/a.txt").write_text(row + "0 0.150000 0.400000 0.200000 0.400000\n")
    if mask:
        m = np.zeros((50, 100), np.uint8)
        m[10:40, 70:95] = 3
        m[10:30, 5:25] = 1
        (root / "masks").mkdir()
        Image.fromarray(m).save(root / "masks/a.png")
    return root


BOX = "1 0.825000 0.500000 0.250000 0.600000\n"
POLY = "1 0.700000 0.200000 0.950000 0.200000 0.950000 0.800000 0.700000 0.800000\n"
# shifted 20 px right the red object is 5 / 25 inside: dropped by --min-visibility 0.5
SHIFT = ["--width-shift", "20:20", "--min-visibility", "0.5", "--seed", "1", "-j", "1"]


def reddish(a: np.ndarray) -> np.ndarray:
    return (a[..., 0] > 120) & (a[..., 1] < 100)


@pytest.mark.parametrize("row", [BOX, POLY], ids=["box", "polygon"])
@pytest.mark.parametrize("mode", ["fill", "mean"])
def test_no_pixel_of_a_dropped_object_keeps_its_colour(tmp_path, row, mode):
    inp = scene(tmp_path / "in", row)
    run(inp, tmp_path / "plain", *SHIFT)
    plain = np.asarray(Image.open(tmp_path / "plain/images/a_0.png"))
    assert reddish(plain).sum() >= 5 * 30  # without the flag the cut object shows, unlabelled
    run(inp, tmp_path / "out", *SHIFT, "--erase-dropped", mode)
    a = np.asarray(Image.open(tmp_path / "out/images/a_0.png"))
    assert not reddish(a).any()
    assert (a[10:30, 25:45] == (20, 20, 220)).all()  # the kept object is left alone
    rec = records(tmp_path / "out")[0]["labels"]
    assert rec["dropped"]["min_visibility"] == 1 and rec["out"] == 1 and rec["erased"] >= 1
    if mode == "fill":
        assert (a[10:40, 95:] == 0).all()  # --cval, 0 by default


def test_blur_changes_the_region_only(tmp_path):
    inp = scene(tmp_path / "in", BOX)
    pattern(100, 50).save(inp / "images/a.png")
    run(inp, tmp_path / "plain", *SHIFT)
    run(inp, tmp_path / "out", *SHIFT, "--erase-dropped", "blur")
    plain = np.asarray(Image.open(tmp_path / "plain/images/a_0.png")).astype(int)
    a = np.asarray(Image.open(tmp_path / "out/images/a_0.png")).astype(int)
    changed = (plain != a).any(axis=2)
    assert changed[12:38, 92:].mean() > 0.9
    assert not changed[:, :85].any()


def test_masks_get_the_mask_fill_where_the_object_was(tmp_path):
    inp = scene(tmp_path / "in", BOX, mask=True)
    run(inp, tmp_path / "out", *SHIFT, "--erase-dropped", "fill", "--mask-fill", "255")
    m = np.asarray(Image.open(tmp_path / "out/masks/a_0.png"))
    assert not (m == 3).any()
    assert (m[10:40, 90:] == 255).all() and (m[10:30, 25:45] == 1).all()


def test_replay_is_byte_identical_and_runs_without_the_flag_are_unchanged(tmp_path):
    inp = scene(tmp_path / "in", POLY, mask=True)
    out = tmp_path / "out"
    run(inp, out, "--width-shift", "30", "--rotate", "10", "--min-visibility", "0.6", "-n", "6", "--seed", "3",
        "-j", "1", "--erase-dropped", "mean")
    assert sum(r["labels"]["erased"] > 0 for r in records(out)) >= 1
    run(out / "manifest.jsonl", "--output", tmp_path / "again", command="replay")
    want = {k: v for k, v in tree_bytes(out).items() if k != "manifest.jsonl"}
    got = {k: v for k, v in tree_bytes(tmp_path / "again").items() if k in want}
    assert got == want and len(want) >= 18
    # the manifest of a run without the flag does not name it
    run(inp, tmp_path / "plain", "--hflip", "--seed", "3", "-j", "1")
    assert "erase_dropped" not in (tmp_path / "plain/manifest.jsonl").read_text()


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="erase dropped"):
        LabelOptions(erase_dropped="paint")
