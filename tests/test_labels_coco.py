"""COCO instances JSON: known answers, ids, RLE against pycocotools, -j parity, replay, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli import warping as W
from augcli.cli import cli
from augcli.labels import coco as C
from augcli.labels import rle as RLE

from .conftest import pattern

mask_api = pytest.importorskip("pycocotools.mask")
from pycocotools.coco import COCO  # noqa: E402


def run(*args, expect=0, command="expand"):
    res = CliRunner().invoke(cli, [command, *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def blob(w=100, h=50):
    m = np.zeros((h, w), np.uint8)
    m[20:40, 50:80] = 1
    m[25:30, 60:90] = 1
    return m


def make(root: Path, n_images=2, size=(100, 50)) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "train").mkdir()
    images, anns = [], []
    for i in range(n_images):
        pattern(*size, seed=i).save(root / f"train/im{i}.png")
        images.append({"id": 10 + i, "file_name": f"im{i}.png", "width": size[0], "height": size[1], "license": 3})
        base = 100 * i
        rle = mask_api.encode(np.asfortranarray(blob(*size)))
        rle["counts"] = rle["counts"].decode()
        anns += [
            {"id": base + 1, "image_id": 10 + i, "category_id": 1, "bbox": [10, 5, 20, 15], "area": 300, "iscrowd": 0,
             "keypoints": [10, 5, 2, 20, 5, 2, 30, 5, 1], "num_keypoints": 3, "track_id": 7},
            {"id": base + 2, "image_id": 10 + i, "category_id": 2, "iscrowd": 0, "area": 900, "bbox": [10, 10, 60, 30],
             "segmentation": [[10, 10, 70, 10, 40, 40]]},
            {"id": base + 3, "image_id": 10 + i, "category_id": 2, "iscrowd": 1, "area": int(blob().sum()),
             "bbox": [50, 20, 40, 20], "segmentation": rle},
        ]
    cats = [{"id": 1, "name": "person", "supercategory": "p", "keypoints": ["nose", "left_eye", "right_eye"],
             "skeleton": [[1, 2]]}, {"id": 2, "name": "thing", "supercategory": "t"}]
    doc = {"info": {"year": 2024}, "licenses": [{"id": 3}], "images": images, "annotations": anns, "categories": cats,
           "extra_field": [1, 2]}
    (root / "annotations/instances_train.json").write_text(json.dumps(doc))
    return root


def out_doc(out: Path) -> dict:
    return json.loads((out / "annotations/instances_train.json").read_text())


def test_rle_string_codec_matches_pycocotools():
    rng = np.random.default_rng(0)
    for _ in range(30):
        m = (rng.random((int(rng.integers(1, 40)), int(rng.integers(1, 40)))) < rng.random()).astype(np.uint8)
        ref = mask_api.encode(np.asfortranarray(m))
        ours = RLE.mask_to_rle(m, True)
        assert ours["counts"] == ref["counts"].decode() and ours["size"] == list(ref["size"])
        assert np.array_equal(RLE.rle_to_mask(ours, "t"), m)
        assert np.array_equal(RLE.rle_to_mask(RLE.mask_to_rle(m, False), "t"), m)


def test_hflip_known_answers_keypoints_and_pycocotools_loads(tmp_path):  # 1, 15
    inp = make(tmp_path / "in")
    res = run(inp, tmp_path / "out", "--hflip", "--p", "hflip=1", "-j", "1")
    assert "labels: coco (annotations/instances_train.json)" in res.output
    doc = out_doc(tmp_path / "out")
    a = doc["annotations"][0]
    assert a["bbox"] == [70, 5, 20, 15] and a["track_id"] == 7 and a["category_id"] == 1
    # centre keypoints: (10,5) -> (89,5); left/right eyes swapped by name (det < 0)
    assert a["keypoints"] == [89, 5, 2, 69, 5, 1, 79, 5, 2] and a["num_keypoints"] == 3
    assert doc["categories"][0]["skeleton"] == [[1, 2]] and doc["info"] == {"year": 2024}
    assert doc["extra_field"] == [1, 2] and doc["licenses"] == [{"id": 3}]
    coco = COCO(str(tmp_path / "out/annotations/instances_train.json"))
    assert len(coco.getImgIds()) == 2 and len(coco.getAnnIds()) == 6
    # the RLE object: mirrored exactly
    rle = doc["annotations"][2]
    assert np.array_equal(coco.annToMask(rle), blob()[:, ::-1]) and rle["area"] == int(blob().sum())
    assert doc["images"][0]["file_name"] == "im0_0.png" and doc["images"][0]["license"] == 3


def test_ids_renumbered_and_j1_equals_j2_byte_for_byte(tmp_path):  # 21
    inp = make(tmp_path / "in")
    flags = ["--rotate", "25", "--zoom", "0.3", "--hflip", "--width-shift", "0.2", "-n", "2", "--seed", "5"]
    run(inp, tmp_path / "a", *flags, "-j", "1")
    run(inp, tmp_path / "b", *flags, "-j", "2")
    ja = (tmp_path / "a/annotations/instances_train.json").read_bytes()
    assert ja == (tmp_path / "b/annotations/instances_train.json").read_bytes()
    doc = json.loads(ja)
    assert [im["id"] for im in doc["images"]] == [1, 2, 3, 4]
    ids = [a["id"] for a in doc["annotations"]]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) <= 12
    assert [im["file_name"] for im in doc["images"]] == ["im0_0.png", "im0_1.png", "im1_0.png", "im1_1.png"]
    assert doc["categories"] == json.loads((inp / "annotations/instances_train.json").read_text())["categories"]
    COCO(str(tmp_path / "a/annotations/instances_train.json"))
    # replay regenerates the JSON byte for byte
    run(tmp_path / "a/manifest.jsonl", "--output", tmp_path / "c", command="replay")
    assert (tmp_path / "c/annotations/instances_train.json").read_bytes() == ja


def test_annToMask_of_transformed_polygon_matches_nearest_warp(tmp_path):
    """Tolerance: IoU >= 0.9 between pycocotools' raster of the transformed polygon and augcli's
    nearest warp of the raster of the input polygon (both are rasterisations of one shape)."""
    inp = make(tmp_path / "in", n_images=1)
    run(inp, tmp_path / "out", "--rotate", "20", "--zoom", "0.2", "--shear", "5", "-n", "3", "--seed", "2", "-j", "1")
    doc = out_doc(tmp_path / "out")
    coco = COCO(str(tmp_path / "out/annotations/instances_train.json"))
    src = coco_in = COCO(str(inp / "annotations/instances_train.json"))
    in_mask = coco_in.annToMask(src.anns[2])
    recs = [json.loads(x) for x in (tmp_path / "out/manifest.jsonl").read_text().splitlines()[1:]]
    checked = 0
    for rec in recs:
        m = np.array(rec["matrix"] + ([[0, 0, 1]] if len(rec["matrix"]) == 2 else []), float)
        warped = np.asarray(W.warp(Image.fromarray(in_mask * 255), m, tuple(rec["output_size"]),
                                    fill_mode="constant", interpolation="nearest")) > 0
        image = next(im for im in doc["images"] if im["file_name"] == rec["output"].split("/")[-1])
        ann = next(a for a in doc["annotations"] if a["image_id"] == image["id"] and a["category_id"] == 2
                   and isinstance(a["segmentation"], list))
        got = coco.annToMask(ann) > 0
        iou = (got & warped).sum() / (got | warped).sum()
        assert iou >= 0.9, iou
        checked += 1
    assert checked == 3


def test_keypoint_leaving_updates_num_keypoints(tmp_path):  # 16
    inp = make(tmp_path / "in", n_images=1)
    run(inp, tmp_path / "out", "--width-shift", "75:75", "-j", "1")
    doc = out_doc(tmp_path / "out")
    a = [x for x in doc["annotations"] if x["category_id"] == 1]
    # the box [10,30] moves to [85,105] -> clipped [85,100]; keypoints 10,20,30 -> 85,95,(105 outside)
    assert a[0]["keypoints"] == [85, 5, 2, 95, 5, 2, 0, 0, 0] and a[0]["num_keypoints"] == 2
    assert a[0]["bbox"] == [85, 5, 15, 15]


def test_file_name_outside_the_input_is_refused(tmp_path):
    inp = make(tmp_path / "in")
    (tmp_path / "secret.png").write_bytes(b"x")
    doc = json.loads((inp / "annotations/instances_train.json").read_text())
    doc["images"][1]["file_name"] = "../../secret.png"
    (inp / "annotations/instances_train.json").write_text(json.dumps(doc))
    res = run(inp, tmp_path / "out", "-j", "1")
    assert "file_name '../../secret.png' points outside the input folder; refused" in res.output
    assert [im["file_name"] for im in out_doc(tmp_path / "out")["images"]] == ["im0_0.png"]


def test_duplicate_image_ids_fail_those_images(tmp_path):
    inp = make(tmp_path / "in")
    doc = json.loads((inp / "annotations/instances_train.json").read_text())
    doc["images"][1]["id"] = doc["images"][0]["id"]
    (inp / "annotations/instances_train.json").write_text(json.dumps(doc))
    res = run(inp, tmp_path / "out", "-j", "1", expect=1)
    assert "image id 10 appears 2 times" in res.output


def test_huge_and_deep_json_are_refused(tmp_path, monkeypatch):
    inp = make(tmp_path / "in")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(Exception, match="nested"):
        C.load_json(deep, "deep.json")
    medium = tmp_path / "medium.json"
    medium.write_text("[" * 50 + "]" * 50)
    with pytest.raises(Exception, match="nested deeper than 32"):
        C.load_json(medium, "medium.json")
    monkeypatch.setattr(C, "MAX_JSON_BYTES", 100)
    res = run(inp, tmp_path / "out", expect=2)
    assert "JSON larger than 100 bytes; refused" in res.output


def test_swapped_size_in_json_hints_at_exif(tmp_path):
    inp = make(tmp_path / "in", n_images=1)
    doc = json.loads((inp / "annotations/instances_train.json").read_text())
    doc["images"][0]["width"], doc["images"][0]["height"] = 50, 100
    (inp / "annotations/instances_train.json").write_text(json.dumps(doc))
    res = run(inp, tmp_path / "out", "-j", "1", expect=1)
    assert "is 50x100 in the JSON but 100x50 decoded (EXIF? try --labels-frame stored)" in res.output


def test_rot90_updates_width_height(tmp_path):  # 3
    inp = make(tmp_path / "in", n_images=1)
    run(inp, tmp_path / "out", "--rot90", "--p", "rot90=1", "--seed", "1", "-n", "4", "-j", "1")
    recs = [json.loads(x) for x in (tmp_path / "out/manifest.jsonl").read_text().splitlines()[1:]]
    doc = out_doc(tmp_path / "out")
    for rec, im in zip(recs, doc["images"]):
        assert [im["width"], im["height"]] == rec["output_size"]
        k = next(s["k"] for s in rec["ops"] if s["op"] == "rot90")
        box = next(a for a in doc["annotations"] if a["image_id"] == im["id"])["bbox"]
        assert box == {0: [10, 5, 20, 15], 1: [5, 70, 15, 20], 2: [70, 30, 20, 15], 3: [30, 10, 15, 20]}[k]


def test_resize_then_hflip_scales_boxes_polygons_and_rle(tmp_path):  # 13
    inp = make(tmp_path / "in", n_images=1)
    run(inp, tmp_path / "out", "--resize", "200x100", "--hflip", "--p", "hflip=1", "-j", "1")
    doc = out_doc(tmp_path / "out")
    box, poly, rle = doc["annotations"]
    assert box["bbox"] == [140, 10, 40, 30] and doc["images"][0]["width"] == 200
    assert poly["segmentation"] == [[180, 20, 60, 20, 120, 80]] and poly["area"] == 3600
    coco = COCO(str(tmp_path / "out/annotations/instances_train.json"))
    big = np.kron(blob(), np.ones((2, 2), np.uint8))[:, ::-1]
    assert np.array_equal(coco.annToMask(rle), big)


def test_duplicate_annotation_ids_warn_and_are_renumbered(tmp_path):
    inp = make(tmp_path / "in")
    doc = json.loads((inp / "annotations/instances_train.json").read_text())
    doc["annotations"][3]["id"] = doc["annotations"][0]["id"]
    (inp / "annotations/instances_train.json").write_text(json.dumps(doc))
    res = run(inp, tmp_path / "out", "-j", "1")
    assert "annotation id 1 appears twice (pycocotools would keep one; ids are renumbered" in res.output
    ids = [a["id"] for a in out_doc(tmp_path / "out")["annotations"]]
    assert ids == list(range(1, 7))


def test_replay_with_skip_keeps_the_kept_outputs_in_the_coco_json(tmp_path):
    import shutil

    inp = make(tmp_path / "in")
    flags = ["--rotate", "25", "--hflip", "-n", "2", "--seed", "5"]
    run(inp, tmp_path / "a", *flags, "-j", "1")
    ja = (tmp_path / "a/annotations/instances_train.json").read_bytes()
    shutil.copytree(tmp_path / "a", tmp_path / "c")
    (tmp_path / "c/annotations/instances_train.json").unlink()
    (tmp_path / "c/train/im0_1.png").unlink()  # one output to remake, three kept as they are
    res = run(tmp_path / "a/manifest.jsonl", "--output", tmp_path / "c", "--on-exists", "skip", command="replay")
    assert (tmp_path / "c/annotations/instances_train.json").read_bytes() == ja, res.output
    assert (tmp_path / "c/train/im0_1.png").read_bytes() == (tmp_path / "a/train/im0_1.png").read_bytes()


def test_sources_cut_into_parts_give_the_json_of_one_worker(tmp_path):
    # two images and six copies each: with 2 workers every source is cut into two parts
    inp = make(tmp_path / "in")
    flags = ["--rotate", "25", "--zoom", "0.3", "--hflip", "-n", "6", "--seed", "5"]
    run(inp, tmp_path / "a", *flags, "-j", "1")
    run(inp, tmp_path / "b", *flags, "-j", "2")
    ja = (tmp_path / "a/annotations/instances_train.json").read_bytes()
    assert ja == (tmp_path / "b/annotations/instances_train.json").read_bytes()
    names = [im["file_name"] for im in json.loads(ja)["images"]]
    assert names == [f"im{i}_{k}.png" for i in range(2) for k in range(6)]
