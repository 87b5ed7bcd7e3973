"""augcli preview --labels: the labels are drawn on every tile."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from PIL import Image

from augcli.cli import cli
from augcli.labels.draw import COLOURS


def test_preview_draws_boxes_and_mask(tmp_path):
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "masks").mkdir()
    Image.new("RGB", (100, 50), (128, 128, 128)).save(root / "images/a.png")
    (root / "labels/a.txt").write_text("0 0.5 0.5 0.4 0.5\n")
    m = np.zeros((50, 100), np.uint8)
    m[5:15, 5:15] = 1
    Image.fromarray(m).save(root / "masks/a.png")
    plain, drawn = tmp_path / "p.png", tmp_path / "d.png"
    args = ["preview", root / "images/a.png", "--hflip", "--grid", "2x1", "--seed", "1", "--tile", "100"]
    assert CliRunner().invoke(cli, [*map(str, args), "-o", str(plain), "--labels", "none"]).exit_code == 0
    res = CliRunner().invoke(cli, [*map(str, args), "-o", str(drawn), "--labels", "auto"])
    assert res.exit_code == 0, res.output
    assert "labels: yolo" in res.output
    a, b = np.asarray(Image.open(plain)).astype(int), np.asarray(Image.open(drawn)).astype(int)
    b = b[:a.shape[0]]  # the labelled sheet's captions end with the label counts: one more line
    red = np.all(b == COLOURS[0], axis=-1)
    assert red.sum() > 100 and not np.all(a == COLOURS[0], axis=-1).any()
    # the mask overlay tints the 10x10 square on both tiles (the second is mirrored)
    tinted = np.abs(b - a).sum(-1) > 30
    assert tinted.sum() >= 2 * 100


def test_preview_draws_dropped_and_clipped_objects_dashed_and_counts_them(tmp_path):
    from augcli.labels.draw import CLIPPED_COLOUR, DROPPED_COLOUR

    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    Image.new("RGB", (100, 60), (128, 128, 128)).save(root / "images/a.png")
    # shifted right by 45-50 px: the first stays whole, the second is cut (over half of it kept),
    # the third keeps at most a quarter (dropped by --min-visibility 0.5), the fourth leaves
    (root / "labels/a.txt").write_text("0 0.15 0.5 0.2 0.3\n0 0.48 0.5 0.2 0.3\n1 0.6 0.5 0.2 0.3\n"
                                       "1 0.85 0.5 0.2 0.3\n")
    out = tmp_path / "sheet.png"
    args = ["preview", root / "images/a.png", "--width-shift", "0.45:0.5", "--grid", "2x1", "--seed", "1",
            "--tile", "200", "--min-visibility", "0.5", "-o", out]
    res = CliRunner().invoke(cli, [*map(str, args)])
    assert res.exit_code == 0, res.output
    sheet = np.asarray(Image.open(out).convert("RGB")).astype(int)
    half = sheet.shape[1] // 2
    dropped = np.all(sheet == DROPPED_COLOUR, axis=-1)
    clipped = np.all(sheet == CLIPPED_COLOUR, axis=-1)
    assert dropped[:, half:].sum() > 20 and not dropped[:, :half].any()  # on the sample only
    assert clipped[:, half:].sum() > 20 and not clipped[:, :half].any()
    # the caption's counts, for a shift of 47 px
    from augcli import geometry as G
    from augcli.imageio import LoadOptions
    from augcli.labels.draw import loss_overlay
    from augcli.pipeline import Pipeline
    from augcli.preview import preview_labels

    labels = preview_labels(root / "images/a.png", "auto", None, Pipeline(), LoadOptions(), lambda msg: None,
                            min_visibility=0.5)
    image = Image.open(root / "images/a.png")
    _, caption = loss_overlay(image, labels, G.shift(47, 0), (100, 60))
    assert caption == "4 objects: 2 kept (1 clipped), 2 dropped (1 outside, 1 min_visibility)"
