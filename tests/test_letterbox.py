"""--letterbox and --resize-mode fit|fill: the last matrix of the plan, known answers for every
label format, masks padded with the mask fill, replay by the record."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli.cli import cli

from .conftest import tree_bytes
from .test_labels_yolo import make_yolo

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402

RED = (200, 30, 30)


def run(*args, expect=0, command="expand"):
    res = CliRunner().invoke(cli, [command, *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def flat(root: Path, rel: str, size=(640, 480)) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, RED).save(path)
    return path


def rows(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


def ultralytics_rows_hold(table: list[list[float]], columns: int, kpts: int = 0) -> None:
    """Ultralytics' label checks (verify_image_label): the column count, every coordinate
    normalised in [0, 1] (keypoint visibilities aside), no duplicate rows."""
    assert table
    for row in table:
        assert len(row) == columns, row
        coords = row[1:5] + [v for i, v in enumerate(row[5:]) if i % 3 != 2] if kpts else row[1:]
        assert all(0.0 <= v <= 1.0 for v in coords), row
    assert len({tuple(r) for r in table}) == len(table)


def test_640x480_to_640x640_has_80_pixel_grey_bands_and_the_image_untouched(tmp_path):
    flat(tmp_path / "in", "a.png")
    run(tmp_path / "in", tmp_path / "out", "--letterbox", "640x640", "--seed", "1", "-j", "1")
    a = np.asarray(Image.open(tmp_path / "out/a_0.png"))
    assert a.shape == (640, 640, 3)
    assert (a[:80] == 114).all() and (a[560:] == 114).all()
    assert (a[80:560] == RED).all()
    rec = json.loads((tmp_path / "out/manifest.jsonl").read_text().splitlines()[1])
    assert rec["ops"] == [{"op": "letterbox", "applied": True, "box": [0, 80, 640, 480]}]


def test_cval_given_wins_and_top_left_puts_the_band_below(tmp_path):
    flat(tmp_path / "in", "a.png")
    run(tmp_path / "in", tmp_path / "out", "--letterbox", "640x640", "--letterbox-align", "top-left",
        "--cval", "0", "--seed", "1", "-j", "1")
    a = np.asarray(Image.open(tmp_path / "out/a_0.png"))
    assert (a[:480] == RED).all() and (a[480:] == 0).all()


def test_odd_pad_goes_right_and_scale_is_ultralytics(tmp_path):
    # 100x50 into 64x64: r = 0.64, 64x32, pad 16 above and below; 30x50 into 64x64: 38x64, pad 13 | 13
    flat(tmp_path / "in", "a.png", (100, 50))
    flat(tmp_path / "in", "b.png", (30, 50))
    run(tmp_path / "in", tmp_path / "out", "--letterbox", "64x64", "--seed", "1", "-j", "1")
    recs = [json.loads(x) for x in (tmp_path / "out/manifest.jsonl").read_text().splitlines()[1:]]
    boxes = {r["output"]: r["ops"][0]["box"] for r in recs}
    assert boxes == {"a_0.png": [0, 16, 64, 32], "b_0.png": [13, 0, 38, 64]}
    b = np.asarray(Image.open(tmp_path / "out/b_0.png"))
    # scaled up, the image's edge is repeated into its own border pixels (--fill-mode nearest), as a
    # resize does; the bands are the pad alone
    assert (b[:, :13] == 114).all() and (b[:, 51:] == 114).all() and (b[:, 13:51] == RED).all()


def test_yolo_detect_segment_known_answers_and_centre_stays(tmp_path):
    text = ("0 0.500000 0.500000 0.250000 0.250000\n"
            "1 0.250000 0.250000 0.200000 0.200000\n")
    seg = "0 0.400000 0.400000 0.600000 0.400000 0.600000 0.600000 0.400000 0.600000\n"
    inp = make_yolo(tmp_path / "in", {"a": text, "s": seg}, size=(640, 480))
    run(inp, tmp_path / "out", "--letterbox", "640x640", "--seed", "1", "-j", "1")
    a = rows(tmp_path / "out/labels/train/a_0.txt")
    assert a == [[0, 0.5, 0.5, 0.25, 0.1875], [1, 0.25, 0.3125, 0.2, 0.15]]
    ultralytics_rows_hold(a, 5)
    s = rows(tmp_path / "out/labels/train/s_0.txt")
    assert s == [[0, 0.4, 0.425, 0.6, 0.425, 0.6, 0.575, 0.4, 0.575]]
    ultralytics_rows_hold(s, 9)


def test_yolo_pose_and_obb_known_answers(tmp_path):
    pose = "0 0.500000 0.500000 0.250000 0.250000 0.500000 0.500000 2 0.450000 0.450000 1\n"
    inp = make_yolo(tmp_path / "in", {"p": pose}, size=(640, 480), extra={"kpt_shape": [2, 3]})
    run(inp, tmp_path / "out", "--letterbox", "640x640", "--seed", "1", "-j", "1")
    p = rows(tmp_path / "out/labels/train/p_0.txt")
    assert p == [[0, 0.5, 0.5, 0.25, 0.1875, 0.5, 0.5, 2, 0.45, 0.4625, 1]]
    ultralytics_rows_hold(p, 11, kpts=2)
    obb = "0 0.400000 0.400000 0.600000 0.400000 0.600000 0.600000 0.400000 0.600000\n"
    inp = make_yolo(tmp_path / "in2", {"o": obb}, size=(640, 480))
    run(inp, tmp_path / "out2", "--labels", "yolo-obb", "--letterbox", "640x640", "--seed", "1", "-j", "1")
    o = rows(tmp_path / "out2/labels/train/o_0.txt")
    assert sorted(map(tuple, np.array(o[0][1:]).reshape(4, 2).tolist())) == \
        [(0.4, 0.425), (0.4, 0.575), (0.6, 0.425), (0.6, 0.575)]
    ultralytics_rows_hold(o, 9)


def test_coco_and_voc_known_answers(tmp_path):
    root = tmp_path / "coco"
    flat(root, "train/im.png")
    (root / "annotations").mkdir()
    doc = {"images": [{"id": 1, "file_name": "im.png", "width": 640, "height": 480}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [280, 200, 80, 80], "area": 6400,
                            "iscrowd": 0, "segmentation": [[280, 200, 360, 200, 360, 280, 280, 280]]}],
           "categories": [{"id": 1, "name": "thing"}]}
    (root / "annotations/instances_train.json").write_text(json.dumps(doc))
    run(root, tmp_path / "cout", "--letterbox", "640x640", "--seed", "1", "-j", "1")
    coco = COCO(str(tmp_path / "cout/annotations/instances_train.json"))
    (ann,) = coco.dataset["annotations"]
    assert ann["bbox"] == [280, 280, 80, 80]  # the centre (320, 240) went to (320, 320)
    assert ann["segmentation"] == [[280, 280, 360, 280, 360, 360, 280, 360]]
    assert coco.dataset["images"][0]["height"] == 640

    voc = tmp_path / "voc"
    flat(voc, "JPEGImages/x.png")
    (voc / "Annotations").mkdir()
    (voc / "Annotations/x.xml").write_text(
        "<annotation><filename>x.png</filename><size><width>640</width><height>480</height><depth>3</depth>"
        "</size><object><name>cat</name><bndbox><xmin>281</xmin><ymin>201</ymin><xmax>360</xmax><ymax>280</ymax>"
        "</bndbox></object></annotation>")
    run(voc, tmp_path / "vout", "--letterbox", "640x640", "--seed", "1", "-j", "1")
    root_el = ET.parse(tmp_path / "vout/Annotations/x_0.xml").getroot()
    box = [int(float(root_el.find(f"object/bndbox/{k}").text)) for k in ("xmin", "ymin", "xmax", "ymax")]
    assert box == [281, 281, 360, 360]
    assert root_el.find("size/height").text == "640"


def test_masks_padded_with_the_mask_fill(tmp_path):
    root = tmp_path / "in"
    flat(root, "images/val/x.png")
    m = np.zeros((480, 640), np.uint8)
    m[200:280, 280:360] = 3
    (root / "masks/val").mkdir(parents=True)
    Image.fromarray(m).save(root / "masks/val/x.png")
    run(root, tmp_path / "out", "--letterbox", "640x640", "--mask-fill", "255", "--seed", "1", "-j", "1")
    out = np.asarray(Image.open(tmp_path / "out/masks/val/x_0.png"))
    assert out.shape == (640, 640)
    assert (out[:80] == 255).all() and (out[560:] == 255).all()
    assert (out[80:560] == m).all()


def test_resize_mode_fit_and_fill(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": "0 0.500000 0.500000 0.250000 0.250000\n"}, size=(640, 480))
    run(inp, tmp_path / "fit", "--resize", "320x320", "--resize-mode", "fit", "--seed", "1", "-j", "1")
    assert Image.open(tmp_path / "fit/images/train/a_0.png").size == (320, 240)
    assert rows(tmp_path / "fit/labels/train/a_0.txt") == [[0, 0.5, 0.5, 0.25, 0.25]]
    run(inp, tmp_path / "fill", "--resize", "320x320", "--resize-mode", "fill", "--seed", "1", "-j", "1")
    assert Image.open(tmp_path / "fill/images/train/a_0.png").size == (320, 320)
    # 640x480 x 2/3 = 427x320, the centre 320 columns from column 53: the box (107 wide) stays centred
    (row,) = rows(tmp_path / "fill/labels/train/a_0.txt")
    assert row[0] == 0 and abs(row[1] - 0.5) < 0.003 and row[2] == 0.5 and row[4] == 0.25
    assert abs(row[3] - 0.25 * 427 / 320) < 1e-5
    rec = json.loads((tmp_path / "fill/manifest.jsonl").read_text().splitlines()[0])
    assert rec["config"]["resize"] is None


def test_usage_errors(tmp_path):
    flat(tmp_path / "in", "a.png")
    res = run(tmp_path / "in", tmp_path / "o", "--resize-mode", "fit", expect=2)
    assert "--resize-mode fit needs --resize" in res.output
    res = run(tmp_path / "in", tmp_path / "o", "--resize", "9x9", "--resize-mode", "fill", "--letterbox", "8x8",
              expect=2)
    assert "both size the output" in res.output
    res = run(tmp_path / "in", tmp_path / "o", "--letterbox-align", "top-left", expect=2)
    assert "--letterbox-align needs --letterbox" in res.output
    res = run(tmp_path / "in", tmp_path / "o", "--letterbox", "0x5", expect=2)
    assert "0x5" in res.output
    assert not (tmp_path / "o").exists()


def test_replay_makes_the_same_bytes_with_other_geometry(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": "0 0.500000 0.500000 0.250000 0.250000\n"}, size=(120, 80))
    out = tmp_path / "out"
    run(inp, out, "--letterbox", "96x96", "--rotate", "20", "--crop", "0.7", "-n", "3", "--seed", "4", "-j", "1")
    run(out / "manifest.jsonl", "--output", tmp_path / "again", command="replay")
    want = {k: v for k, v in tree_bytes(out).items() if k != "manifest.jsonl"}
    got = {k: v for k, v in tree_bytes(tmp_path / "again").items() if k in want}
    assert got == want and len(want) >= 7


def test_bands_are_padding_after_other_geometry_and_objects_there_are_dropped(tmp_path):
    # a crop of the centre, resized back, then the letterbox: what lies above the crop would show in
    # the top band through the one matrix; the band is padding instead, and its object is dropped
    text = ("0 0.500000 0.213542 0.062500 0.052083\n"  # 40x25 px at y 90..115: above the crop (y >= 120)
            "1 0.500000 0.500000 0.125000 0.125000\n")  # the centre: kept
    inp = make_yolo(tmp_path / "in", {"a": text}, size=(640, 480))
    root = tmp_path / "in" / "images" / "train" / "a.png"
    Image.new("RGB", (640, 480), RED).save(root)
    m = np.zeros((480, 640), np.uint8)
    m[90:115, 300:340] = 5
    (tmp_path / "in/masks/train").mkdir(parents=True)
    Image.fromarray(m).save(tmp_path / "in/masks/train/a.png")
    out = tmp_path / "out"
    run(inp, out, "--crop", "0.5:0.5", "--crop-mode", "center", "--letterbox", "640x640", "--seed", "1", "-j", "1")
    a = np.asarray(Image.open(out / "images/train/a_0.png"))
    assert (a[:80] == 114).all() and (a[560:] == 114).all() and (a[80:560] == RED).all()
    assert rows(out / "labels/train/a_0.txt") == [[1, 0.5, 0.5, 0.25, 0.1875]]
    rec = json.loads((out / "manifest.jsonl").read_text().splitlines()[1])
    assert rec["labels"]["dropped"]["outside"] == 1
    mask = np.asarray(Image.open(out / "masks/train/a_0.png"))
    assert not (mask == 5).any() and (mask[:80] == 0).all()


def test_coco_boxes_keypoints_and_rle_stay_inside_the_image_window(tmp_path):
    from .test_labels_coco import make

    inp = make(tmp_path / "in", n_images=2)  # 100x50: boxes, keypoints, a polygon, an RLE mask
    out = tmp_path / "out"
    run(inp, out, "--zoom", "0.5:0.7", "--rotate", "20", "--letterbox", "64x64", "-n", "3", "--seed", "2", "-j", "1")
    coco = COCO(str(out / "annotations/instances_train.json"))
    recs = {json.loads(x).get("output"): json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()[1:]}
    assert coco.dataset["annotations"]
    for ann in coco.dataset["annotations"]:
        name = coco.imgs[ann["image_id"]]["file_name"]
        left, top, bw, bh = next(r for k, r in recs.items() if k.endswith(name))["ops"][-1]["box"]
        x, y, w, h = ann["bbox"]
        assert left - 1e-6 <= x and x + w <= left + bw + 1e-6 and top - 1e-6 <= y and y + h <= top + bh + 1e-6
        kp = np.array(ann.get("keypoints", []), float).reshape(-1, 3)
        seen = kp[kp[:, 2] > 0]
        assert ((seen[:, 0] >= left - 0.5) & (seen[:, 0] <= left + bw) & (seen[:, 1] >= top - 0.5)
                & (seen[:, 1] <= top + bh)).all()
        if "segmentation" in ann:  # polygons and the RLE mask: nothing in the bands
            m = coco.annToMask(ann)
            assert not m[:top].any() and not m[top + bh:].any()


def test_an_output_larger_than_max_pixels_is_refused_by_expand_preview_and_replay(tmp_path):
    flat(tmp_path / "in", "a.png", (40, 30))
    res = run(tmp_path / "in", tmp_path / "o", "--letterbox", "200x100", "--max-pixels", "10000", expect=2)
    assert "letterbox 200x100 is more than max_pixels (10000) pixels" in res.output
    assert not (tmp_path / "o").exists()
    res = run(tmp_path / "in/a.png", "--letterbox", "20000x20000", "-o", tmp_path / "p.png", command="preview",
              expect=2)
    assert "more than max_pixels" in res.output
    out = tmp_path / "out"
    run(tmp_path / "in", out, "--letterbox", "64x64", "--seed", "1", "-j", "1")
    text = (out / "manifest.jsonl").read_text()
    lines = text.splitlines()
    header = json.loads(lines[0])
    header["config"]["pipeline"]["ops"][0]["target"] = [60000, 60000]
    (out / "manifest.jsonl").write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    res = run(out / "manifest.jsonl", "--output", tmp_path / "again", command="replay", expect=2)
    assert "more than max_pixels" in res.output
    assert not (tmp_path / "again").exists()


def test_a_letterbox_or_erase_with_a_distortion_is_refused(tmp_path):
    import subprocess
    import sys

    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 30), (9, 9, 9)).save(tmp_path / "in" / "a.png")
    res = subprocess.run([sys.executable, "-m", "augcli", "expand", "in", "out", "--letterbox", "64x64", "--elastic",
                          "30:5"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "cannot be combined with --elastic" in res.stderr
    (tmp_path / "in" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    res = subprocess.run([sys.executable, "-m", "augcli", "expand", "in", "out", "--erase-dropped", "fill", "--lens",
                          "0.2", "--labels", "yolo"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--erase-dropped cannot be combined" in res.stderr, res.stderr
    assert not (tmp_path / "out").exists()
