"""--labels-output and augcli convert: round trips between YOLO, COCO and VOC, the loss report, the
class lists written for the target, and images untouched by the conversion."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from augcli.cli import cli

from .conftest import pattern


def run(*args, expect=0):
    res = CliRunner().invoke(cli, [*map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def yolo_dataset(root: Path) -> Path:
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    pattern(100, 50).save(root / "images/train/a.png")
    pattern(80, 60, seed=1).save(root / "images/train/b.png")
    pattern(64, 64, seed=2).save(root / "images/train/c.png")
    # a: polygons (a box row in a segment file is its 4-corner polygon); b: boxes; c: no objects
    (root / "labels/train/a.txt").write_text("0 0.1 0.2 0.7 0.2 0.4 0.8\n2 0.123457 0.25 0.9 0.31 0.5 0.999999 0.2 0.7\n"
                                             "1 0.2 0.25 0.2 0.3\n")
    (root / "labels/train/b.txt").write_text("1 0.5 0.5 0.25 0.1\n0 0.333333 0.666667 0.2 0.123457\n")
    (root / "labels/train/c.txt").write_text("")
    (root / "data.yaml").write_text("names: [cat, dog, bird]\n")
    return root


def rows(path: Path) -> list[tuple[int, np.ndarray]]:
    out = []
    for line in path.read_text().splitlines():
        v = line.split()
        out.append((int(v[0]), np.array(v[1:], float)))
    return out


def test_yolo_to_coco_to_yolo_round_trip_keeps_boxes_polygons_and_names(tmp_path):
    from pycocotools.coco import COCO

    inp = yolo_dataset(tmp_path / "in")
    run("convert", inp, tmp_path / "coco", "--to", "coco", "-j", "1")
    js = tmp_path / "coco/images/train/_annotations.coco.json"
    coco = COCO(str(js))  # pycocotools loads it
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["cat", "dog", "bird"]
    assert sorted(im["file_name"] for im in coco.dataset["images"]) == ["a.png", "b.png", "c.png"]
    assert len(coco.getAnnIds()) == 5
    a = coco.imgToAnns[next(i["id"] for i in coco.dataset["images"] if i["file_name"] == "a.png")]
    assert coco.annToMask(a[0]).shape == (50, 100) and coco.annToMask(a[0]).sum() > 0
    assert not (tmp_path / "coco/labels").exists() and not (tmp_path / "coco/data.yaml").exists()

    res = run("convert", tmp_path / "coco", tmp_path / "back", "--to", "yolo", "-j", "1")
    data = yaml.safe_load((tmp_path / "back/data.yaml").read_text())
    assert data["names"] == ["cat", "dog", "bird"] and data["train"] == data["val"] == "images/train"
    assert "no validation folder, so val lists the training folders (images/train)" in res.output
    for stem in "abc":
        before = rows(inp / f"labels/train/{stem}.txt")
        after = rows(tmp_path / f"back/labels/train/{stem}.txt")
        assert [c for c, _ in before] == [c for c, _ in after]
        for (_, v0), (_, v1) in zip(before, after):
            if len(v0) == 4 and len(v1) == 8:  # a box row of a segment file comes back as its polygon
                cx, cy, w, h = v0
                v0 = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy - h / 2, cx + w / 2, cy + h / 2,
                               cx - w / 2, cy + h / 2])
            assert v0.shape == v1.shape and np.abs(v0 - v1).max() <= 1e-6  # of the image size
    assert (tmp_path / "back/labels/train/c.txt").read_bytes() == b""


def test_a_yolo_background_image_is_listed_in_the_coco_json_with_no_annotations(tmp_path):
    from pycocotools.coco import COCO

    inp = yolo_dataset(tmp_path / "in")
    pattern(40, 30, seed=3).save(inp / "images/train/d.png")  # no label file: a background image to YOLO
    res = run("convert", inp, tmp_path / "coco", "--to", "coco", "-j", "1")
    assert "1 outputs without labels" in res.output  # counted, as every image without a label file
    coco = COCO(str(tmp_path / "coco/images/train/_annotations.coco.json"))
    d = next(i for i in coco.dataset["images"] if i["file_name"] == "d.png")
    assert (d["width"], d["height"]) == (40, 30) and coco.getAnnIds(imgIds=[d["id"]]) == []
    assert len(coco.dataset["images"]) == 4 and len(coco.getAnnIds()) == 5
    res = run("expand", inp, tmp_path / "aug", "-n", "2", "--labels-output", "coco", "--rotate", "10", "-j", "2")
    names = [i["file_name"] for i in json.loads((tmp_path / "aug/images/train/_annotations.coco.json")
                                                 .read_text())["images"]]
    assert len(names) == 8 and sum(n.startswith("d") for n in names) == 2


def test_images_are_the_bytes_of_a_run_without_labels_output_and_convert_is_the_expand_recipe(tmp_path):
    inp = yolo_dataset(tmp_path / "in")
    run("expand", inp, tmp_path / "plain", "-n", "2", "--rotate", "20", "--hflip", "--seed", "3", "-j", "1")
    run("expand", inp, tmp_path / "conv", "-n", "2", "--rotate", "20", "--hflip", "--seed", "3", "-j", "1",
        "--labels-output", "voc", "--allow-lossy")
    for p in sorted((tmp_path / "plain/images").rglob("*.png")):
        assert (tmp_path / "conv" / p.relative_to(tmp_path / "plain")).read_bytes() == p.read_bytes()
    assert len(list((tmp_path / "conv/images/train").glob("*.xml"))) == 6

    # convert: expand's labels on the originals, but each image copied byte for byte under its own name
    run("convert", inp, tmp_path / "c1", "--to", "coco", "-j", "1", "--no-manifest")
    run("expand", inp, tmp_path / "c2", "-n", "0", "--include-originals", "--labels-output", "coco", "-j", "1",
        "--no-manifest")
    images = sorted(p.relative_to(inp) for p in inp.rglob("*.png"))
    assert images and all((tmp_path / "c1" / f).read_bytes() == (inp / f).read_bytes() for f in images)
    one = json.loads(next((tmp_path / "c1").rglob("*.coco.json")).read_text())
    two = json.loads(next((tmp_path / "c2").rglob("*.coco.json")).read_text())
    for image in two["images"]:
        image["file_name"] = image["file_name"].replace("_orig", "")
    assert one == two


def voc_dataset(root: Path) -> Path:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    pattern(100, 50).save(root / "JPEGImages/x.jpg", quality=95)
    objs = "".join(f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
                   f"<ymax>{d}</ymax></bndbox></object>" for n, (a, b, c, d) in
                   (("zebra", (11, 6, 30, 20)), ("ant", (1, 1, 100, 50)), ("zebra", (51, 26, 53, 27))))
    (root / "Annotations/x.xml").write_text(f"<annotation><filename>x.jpg</filename><size><width>100</width>"
                                            f"<height>50</height><depth>3</depth></size>{objs}</annotation>")
    return root


def test_voc_to_yolo_is_exact_with_sorted_names(tmp_path):
    inp = voc_dataset(tmp_path / "in")
    res = run("convert", inp, tmp_path / "out", "--to", "yolo", "-j", "1")
    # Ultralytics refuses a data.yaml without train and val: a dataset without split folders lists
    # its image folder as both, and says so
    assert yaml.safe_load((tmp_path / "out/data.yaml").read_text()) == {
        "train": "JPEGImages", "val": "JPEGImages", "nc": 2, "names": ["ant", "zebra"]}
    assert "no train/val folders, so train and val both list JPEGImages" in res.output
    # VOC 11 6 30 20 = edges [10, 30] x [5, 20] on 100x50 (LABELS.md section 7)
    assert (tmp_path / "out/JPEGImages/x.txt").read_text().splitlines() == [
        "1 0.200000 0.250000 0.200000 0.300000", "0 0.500000 0.500000 1.000000 1.000000",
        "1 0.515000 0.520000 0.030000 0.040000"]
    run("convert", inp, tmp_path / "coco", "--to", "coco", "-j", "1")
    doc = json.loads((tmp_path / "coco/JPEGImages/_annotations.coco.json").read_text())
    assert [(c["id"], c["name"]) for c in doc["categories"]] == [(1, "ant"), (2, "zebra")]
    assert [a["bbox"] for a in doc["annotations"]] == [[10.0, 5.0, 20.0, 15.0], [0.0, 0.0, 100.0, 50.0],
                                                      [50.0, 25.0, 3.0, 2.0]]


def test_voc_difficult_flags_go_to_coco_and_are_counted_into_yolo(tmp_path):
    inp = voc_dataset(tmp_path / "in")
    xml = inp / "Annotations/x.xml"
    xml.write_text(xml.read_text().replace("<name>ant</name>", "<name>ant</name><difficult>1</difficult>"))
    res = run("convert", inp, tmp_path / "out", "--to", "yolo", "-j", "1", expect=2)
    assert "would lose the difficult flags of 1 object (ant 1), which yolo detect rows cannot hold" in res.output
    run("convert", inp, tmp_path / "coco", "--to", "coco", "-j", "1")
    doc = json.loads((tmp_path / "coco/JPEGImages/_annotations.coco.json").read_text())
    assert [a.get("difficult") for a in doc["annotations"]] == [None, 1, None]
    run("convert", tmp_path / "coco", tmp_path / "voc", "--to", "voc", "-j", "1")
    root = ET.parse(tmp_path / "voc/Annotations/x.xml").getroot()
    assert [o.findtext("difficult") for o in root.findall("object")] == ["0", "1", "0"]


def coco_dataset(root: Path) -> Path:
    (root / "train").mkdir(parents=True)
    (root / "annotations").mkdir()
    pattern(100, 50).save(root / "train/a.png")
    pattern(80, 60, seed=1).save(root / "train/b.png")
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50},
                      {"id": 2, "file_name": "b.png", "width": 80, "height": 60}],
           "categories": [{"id": 1, "name": "person", "keypoints": ["nose", "left_eye", "right_eye"],
                           "skeleton": [[1, 2]]}, {"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}],
           "annotations": [
               {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 5, 20, 15], "iscrowd": 0,
                "segmentation": [[10, 5, 30, 5, 20, 20]], "keypoints": [15, 8, 2, 20, 9, 2, 0, 0, 0]},
               {"id": 2, "image_id": 1, "category_id": 3, "bbox": [40, 10, 20, 20], "iscrowd": 0,
                "segmentation": [[40, 10, 60, 10, 60, 30, 40, 30]]},  # a rectangle: nothing lost
               {"id": 3, "image_id": 2, "category_id": 3, "bbox": [5, 5, 30, 30], "iscrowd": 0,
                "segmentation": [[5, 5, 35, 5, 20, 35]]},
               {"id": 4, "image_id": 2, "category_id": 1, "bbox": [1, 1, 10, 10], "iscrowd": 0,
                "keypoints": [2, 2, 2, 0, 0, 0, 0, 0, 0]},
               {"id": 5, "image_id": 2, "category_id": 7, "bbox": [50, 20, 10, 10], "iscrowd": 0}]}
    (root / "annotations/instances_train.json").write_text(json.dumps(doc))
    return root


def test_loss_report_into_voc_counts_polygons_and_keypoints_per_class(tmp_path):
    inp = coco_dataset(tmp_path / "in")
    res = run("convert", inp, tmp_path / "out", "--to", "voc", "-j", "1", expect=2)
    err = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert err == ["Error: labels: writing the coco labels as voc would lose the polygons of 2 objects (cat 1, "
                   "person 1) and keypoints of 2 objects (person 2), which voc cannot hold; pass --allow-lossy to "
                   "write their boxes anyway"]
    assert not (tmp_path / "out").exists()  # refused before anything was written

    res = run("convert", inp, tmp_path / "out", "--to", "voc", "-j", "1", "--allow-lossy")
    assert ("augcli: warning: labels: voc cannot hold the polygons of 2 objects (cat 1, person 1) and keypoints "
            "of 2 objects (person 2); their boxes are written (--allow-lossy)") in res.output
    root = ET.parse(tmp_path / "out/train/b.xml").getroot()
    assert [(o.find("name").text, [int(o.find("bndbox").find(t).text) for t in ("xmin", "ymin", "xmax", "ymax")])
            for o in root.findall("object")] == [("cat", [6, 6, 35, 35]), ("person", [2, 2, 11, 11]),
                                                 ("dog", [51, 21, 60, 30])]
    records = [json.loads(line) for line in (tmp_path / "out/manifest.jsonl").read_text().splitlines()[1:]]
    assert sorted(r["labels"]["lost"] == {"polygons": 1, "keypoints": 1} for r in records) == [True, True]


def test_coco_to_yolo_pose_keeps_keypoints_and_names_the_lost_polygons(tmp_path):
    inp = coco_dataset(tmp_path / "in")
    res = run("convert", inp, tmp_path / "out", "--to", "yolo", "-j", "1", expect=2)
    assert "lose the polygons of 2 objects (cat 1, person 1), which yolo pose rows cannot hold" in res.output
    run("convert", inp, tmp_path / "out", "--to", "yolo", "-j", "1", "--allow-lossy")
    data = yaml.safe_load((tmp_path / "out/data.yaml").read_text())
    assert data == {"train": "train", "val": "train", "nc": 3, "names": ["person", "cat", "dog"], "kpt_shape": [3, 3],
                    "flip_idx": [0, 2, 1]}
    first = (tmp_path / "out/train/a.txt").read_text().splitlines()[0]
    # keypoint centre (15, 8) -> edge (15.5, 8.5) / (100, 50)
    assert first == "0 0.200000 0.250000 0.200000 0.300000 0.155000 0.170000 2 0.205000 0.190000 2 " \
                    "0.000000 0.000000 0"


def test_yolo_pose_round_trip_through_coco_keeps_keypoints_and_flip_idx(tmp_path):
    inp = tmp_path / "in"
    (inp / "images/train").mkdir(parents=True)
    (inp / "labels/train").mkdir(parents=True)
    pattern(100, 50).save(inp / "images/train/a.png")
    (inp / "data.yaml").write_text("names: [person]\nkpt_shape: [3, 3]\nflip_idx: [0, 2, 1]\n")
    line = "0 0.500000 0.500000 0.400000 0.400000 0.500000 0.500000 2 0.123457 0.400000 1 0.000000 0.000000 0"
    (inp / "labels/train/a.txt").write_text(line + "\n")
    run("convert", inp, tmp_path / "coco", "--to", "coco", "-j", "1")
    doc = json.loads((tmp_path / "coco/images/train/_annotations.coco.json").read_text())
    assert doc["categories"][0]["keypoints"] == ["kpt_0", "left_kpt_1", "right_kpt_1"]
    run("convert", tmp_path / "coco", tmp_path / "back", "--to", "yolo", "-j", "1")
    data = yaml.safe_load((tmp_path / "back/data.yaml").read_text())
    assert data["kpt_shape"] == [3, 3] and data["flip_idx"] == [0, 2, 1] and data["names"] == ["person"]
    got = (tmp_path / "back/labels/train/a.txt").read_text().split()
    assert got[0] == "0" and [g[-1:] for g in got[7::3]] == ["2", "1", "0"]
    assert np.abs(np.array(got[1:], float) - np.array(line.split()[1:], float)).max() <= 1e-6


def test_yolo_segment_into_voc_counts_only_polygons_that_are_not_boxes(tmp_path):
    inp = yolo_dataset(tmp_path / "in")
    res = run("expand", inp, tmp_path / "out", "-n", "0", "--include-originals", "--labels-output", "voc",
              "-j", "1", expect=2)
    assert "lose the polygons of 2 objects (bird 1, cat 1)" in res.output  # the dog is a box row


def test_hf_layout_gets_the_target_classes(tmp_path):
    inp = voc_dataset(tmp_path / "in")
    run("convert", inp, tmp_path / "out", "--to", "yolo", "--layout", "hf", "-j", "1")
    rows_ = [json.loads(line) for line in (tmp_path / "out/metadata.jsonl").read_text().splitlines()]
    assert rows_[0]["objects"]["categories"] == [1, 0, 1]
    assert rows_[0]["objects"]["bbox"][0] == [10.0, 5.0, 20.0, 15.0]


def test_labels_output_is_refused_where_one_process_cannot_write_the_class_list(tmp_path):
    inp = yolo_dataset(tmp_path / "in")
    res = run("expand", inp, tmp_path / "out", "--labels-output", "coco", "--shard", "0/2", expect=2)
    assert "--labels-output runs on one machine into a local folder" in res.output
    assert not (tmp_path / "out").exists()


def test_replay_rewrites_the_converted_labels(tmp_path):
    inp = yolo_dataset(tmp_path / "in")
    run("expand", inp, tmp_path / "out", "-n", "1", "--rotate", "10", "--seed", "1", "-j", "1",
        "--labels-output", "coco")
    run("replay", tmp_path / "out/manifest.jsonl", "--output", tmp_path / "again")
    rel = "images/train/_annotations.coco.json"
    assert (tmp_path / "again" / rel).read_bytes() == (tmp_path / "out" / rel).read_bytes()


def test_a_label_file_changed_after_the_up_front_read_fails_its_image_naming_the_file(tmp_path, monkeypatch):
    from augcli.labels import convert_plan as CP

    inp = voc_dataset(tmp_path / "in")
    pattern(100, 50, seed=3).save(inp / "JPEGImages/y.jpg", quality=95)
    (inp / "Annotations/y.xml").write_text((inp / "Annotations/x.xml").read_text())
    read = CP._source_objects

    def then_changed(setup, found):  # the file gets a class the run has no id for
        got = read(setup, found)
        xml = inp / "Annotations/y.xml"
        xml.write_text(xml.read_text().replace("ant", "bee"))
        return got

    monkeypatch.setattr(CP, "_source_objects", then_changed)
    res = run("convert", inp, tmp_path / "out", "--to", "yolo", "-j", "1", expect=1)
    assert "augcli: JPEGImages/y.jpg: Annotations/y.xml: class 'bee' is not among the 2 classes found when the run " \
           "started" in res.output
    assert (tmp_path / "out/JPEGImages/x.txt").exists() and not (tmp_path / "out/JPEGImages/y.txt").exists()
    assert not (tmp_path / "out/JPEGImages/y.jpg").exists()


def test_labels_output_without_labels_says_so(tmp_path):
    (tmp_path / "in/cats").mkdir(parents=True)
    pattern(40, 30).save(tmp_path / "in/cats/a.png")
    res = run("convert", tmp_path / "in", tmp_path / "out", "--to", "coco", "-j", "1")
    assert "augcli: note: --labels-output coco: no YOLO, COCO or VOC labels were found; the images are written " \
           "without labels" in res.output
    assert (tmp_path / "out/cats/a.png").exists()


def test_convert_copies_images_as_they_are_and_replay_does_too(tmp_path):
    inp = tmp_path / "in"
    (inp / "images").mkdir(parents=True)
    (inp / "labels").mkdir()
    pattern(60, 40).save(inp / "images" / "a.jpg", quality=70)
    (inp / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (inp / "data.yaml").write_text("names: [cat]\n")
    run("convert", inp, tmp_path / "out", "--to", "coco", "-j", "1")
    assert (tmp_path / "out/images/a.jpg").read_bytes() == (inp / "images/a.jpg").read_bytes()  # not re-encoded
    run("replay", tmp_path / "out/manifest.jsonl", "--output", tmp_path / "again")
    for f in ("images/a.jpg", "images/_annotations.coco.json"):
        assert (tmp_path / "again" / f).read_bytes() == (tmp_path / "out" / f).read_bytes()
