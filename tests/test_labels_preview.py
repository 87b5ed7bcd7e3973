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
    red = np.all(b == COLOURS[0], axis=-1)
    assert red.sum() > 100 and not np.all(a == COLOURS[0], axis=-1).any()
    # the mask overlay tints the 10x10 square on both tiles (the second is mirrored)
    tinted = np.abs(b - a).sum(-1) > 30
    assert tinted.sum() >= 2 * 100
