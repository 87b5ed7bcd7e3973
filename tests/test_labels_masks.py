"""Segmentation masks: nearest only, values/palette/16-bit kept, PNG always, pairing, errors; replay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from augcli import warping as W
from augcli import geometry as G
from augcli.cli import cli
from augcli.labels import masks as MK

from .conftest import pattern, tree_bytes


def run(*args, expect=0, command="expand"):
    res = CliRunner().invoke(cli, [command, *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def palette_mask(w=100, h=50) -> Image.Image:
    a = np.zeros((h, w), np.uint8)
    a[10:30, 20:60] = 3
    a[35:45, 70:95] = 255
    m = Image.fromarray(a, "L").convert("P")
    m = Image.frombytes("P", (w, h), a.tobytes())
    pal = [0, 0, 0] * 256
    pal[9:12] = [200, 10, 10]
    pal[765:768] = [255, 255, 255]
    m.putpalette(pal)
    return m


def make(root: Path, mask: Image.Image, layout=("images", "masks"), size=(100, 50)) -> Path:
    (root / layout[0] / "val").mkdir(parents=True)
    (root / layout[1] / "val").mkdir(parents=True)
    pattern(*size).save(root / layout[0] / "val" / "x.jpg", quality=95)
    mask.save(root / layout[1] / "val" / "x.png")
    return root


def test_palette_mask_rotate_30_nearest_and_png_whatever_the_format(tmp_path):  # 17
    m = palette_mask()
    inp = make(tmp_path / "in", m)
    res = run(inp, tmp_path / "out", "--rotate", "30:30", "--format", "jpeg", "--brightness", "0.5:0.5",
              "--noise", "20", "-j", "1", "--seed", "1")
    assert "masks/ beside images/" in res.output
    out = Image.open(tmp_path / "out/masks/val/x_0.png")
    assert out.format == "PNG" and out.mode == "P" and out.getpalette() == m.getpalette()
    vals = set(np.unique(np.asarray(out)).tolist())
    assert vals <= {0, 3, 255} and 3 in vals
    expected = W.warp(Image.frombytes("L", m.size, m.tobytes()), G.rotation(30, m.size), m.size,
                       fill_mode="constant", interpolation="nearest")
    assert np.array_equal(np.asarray(out) == 3, np.asarray(expected) == 3)
    # the mask folder is not a source; the image is JPEG
    recs = [json.loads(x) for x in (tmp_path / "out/manifest.jsonl").read_text().splitlines()[1:]]
    assert [r["source"] for r in recs] == ["images/val/x.jpg"]
    assert recs[0]["labels"]["mask"] == "masks/val/x_0.png"
    assert (tmp_path / "out/images/val/x_0.jpg").exists()


def test_16_bit_mask_value_survives_and_fill(tmp_path):  # 18
    a = np.zeros((50, 100), np.uint16)
    a[5:45, 5:95] = 26001
    m = Image.frombytes("I;16", (100, 50), a.tobytes())
    inp = make(tmp_path / "in", m, layout=("JPEGImages", "SegmentationClass"))
    res = run(inp, tmp_path / "out", "--width-shift", "20:20", "--mask-fill", "300", "-j", "1")
    assert "SegmentationClass/ beside JPEGImages/" in res.output
    out = np.asarray(Image.open(tmp_path / "out/SegmentationClass/val/x_0.png"))
    assert set(np.unique(out).tolist()) == {0, 300, 26001}
    assert (out[:, :20] == 300).all()


def test_mask_size_mismatch_fails_that_image(tmp_path):
    inp = make(tmp_path / "in", palette_mask(60, 40))
    pattern(100, 50).save(inp / "images/val/y.jpg")
    res = run(inp, tmp_path / "out", "-j", "1", expect=1)
    assert "masks/val/x.png: mask is 60x40, image is 100x50" in res.output
    assert not (tmp_path / "out/images/val/x_0.jpg").exists()
    assert (tmp_path / "out/images/val/y_0.jpg").exists() and not (tmp_path / "out/masks/val/y_0.png").exists()


def test_masks_dir_with_suffix_and_masks_output(tmp_path):
    inp = tmp_path / "imgs"
    (inp / "a").mkdir(parents=True)
    pattern(100, 50).save(inp / "a/x.png")
    gt = tmp_path / "gt"
    (gt / "a").mkdir(parents=True)
    palette_mask().save(gt / "a/x_mask.png")
    run(inp, tmp_path / "out", "--masks", gt, "--mask-suffix", "_mask", "--hflip", "--p", "hflip=1", "-j", "1",
        "--masks-output", tmp_path / "gt-out")
    got = np.asarray(Image.open(tmp_path / "gt-out/a/x_0_mask.png"))
    assert np.array_equal(got, np.asarray(palette_mask())[:, ::-1])


def test_resize_scales_mask_by_nearest(tmp_path):
    inp = make(tmp_path / "in", palette_mask())
    run(inp, tmp_path / "out", "--resize", "200x100", "-n", "0", "--include-originals", "-j", "1")
    got = Image.open(tmp_path / "out/masks/val/x_orig.png")
    assert got.size == (200, 100) and set(np.unique(np.asarray(got)).tolist()) == {0, 3, 255}


def test_warp_mask_exact_for_flips():
    m = palette_mask()
    out = MK.warp_mask(m, G.hflip(m.size), m.size, 0)
    assert out.mode == "P" and np.array_equal(np.asarray(out), np.asarray(m)[:, ::-1])


def test_replay_regenerates_labels_and_masks_byte_identically(tmp_path):
    inp = make(tmp_path / "in", palette_mask())
    (inp / "labels" / "val").mkdir(parents=True)
    (inp / "labels/val/x.txt").write_text("0 0.2 0.25 0.2 0.3\n1 0.1 0.2 0.7 0.2 0.4 0.8\n")
    (inp / "data.yaml").write_text("names: [a, b]\n")
    flags = ["--rotate", "20", "--hflip", "--zoom", "0.3", "-n", "3", "--seed", "4", "--perspective", "0.05"]
    run(inp, tmp_path / "a", *flags, "-j", "2")
    run(inp, tmp_path / "b", *flags, "-j", "1")
    ta, tb = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    ta.pop("manifest.jsonl"), tb.pop("manifest.jsonl")
    assert ta == tb and "labels/val/x_2.txt" in ta and "masks/val/x_2.png" in ta
    run(tmp_path / "a/manifest.jsonl", "--output", tmp_path / "again", command="replay")
    tc = tree_bytes(tmp_path / "again")
    for name in ("labels/val/x_0.txt", "labels/val/x_2.txt", "masks/val/x_1.png", "images/val/x_1.jpg"):
        assert tc[name] == ta[name], name


def test_dataset_targets_do_not_count_mask_folders(tmp_path):
    inp = make(tmp_path / "in", palette_mask())
    pattern(100, 50, seed=2).save(inp / "images/val/y.jpg")
    res = run(inp, tmp_path / "out", "--total", "4", "-j", "1", "--seed", "1", "--json", "-q")
    summary = json.loads(res.stdout)
    assert [c["class"] for c in summary["targets"]["classes"]] == ["images/val"]
    assert sorted(p.name for p in (tmp_path / "out/masks/val").iterdir()) == ["x_0.png", "x_1.png"]


def test_voc_segmentation_object_is_never_a_source_and_root_hint(tmp_path):
    inp = make(tmp_path / "in", palette_mask(), layout=("JPEGImages", "SegmentationObject"))
    res = run(inp, tmp_path / "out", "-j", "1", "--hflip", "--p", "hflip=1")
    assert "SegmentationObject/ beside JPEGImages/" in res.output
    recs = [json.loads(x) for x in (tmp_path / "out/manifest.jsonl").read_text().splitlines()[1:]]
    assert [r["source"] for r in recs] == ["JPEGImages/val/x.jpg"]
    got = np.asarray(Image.open(tmp_path / "out/SegmentationObject/val/x_0.png"))
    assert np.array_equal(got, np.asarray(palette_mask())[:, ::-1])
    res = run(inp / "JPEGImages", tmp_path / "out2", "-j", "1")
    assert "give the dataset root as INPUT_DIR" in res.output


def test_stats_does_not_count_mask_folders_as_images(tmp_path):
    inp = make(tmp_path / "in", palette_mask())
    res = run(inp, "--json", command="stats")
    report = json.loads(res.stdout)
    assert report["images"] == 1 and [c["class"] for c in report["classes"]] == ["images/val"]
