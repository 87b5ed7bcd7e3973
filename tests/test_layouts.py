"""Dataset layouts found in the wild (README, "Supported dataset layouts"): each fixture is a small
generated copy of a public dataset's tree. Labels are carried, or the run exits 2 naming what to do;
never a silent exit 0. ``preview`` finds labels by the same detection and draws them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli.cli import cli
from augcli.labels.draw import COLOURS

from .conftest import voc_xml

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")

GREY = (128, 128, 128)


def run(*args, expect=0, command="expand"):
    res = CliRunner().invoke(cli, [command, *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def summary_of(res) -> dict:
    return json.loads(res.stdout)


def grey(path: Path, size=(100, 50)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, GREY).save(path)


def red_pixels(sheet: Path) -> int:
    return int(np.all(np.asarray(Image.open(sheet).convert("RGB")) == COLOURS[0], axis=-1).sum())


# -- lightly-ai/coco128_yolo: task folders whose images/ link to one shared folder ------------------

def coco128(root: Path) -> Path:
    for split in ("train2017", "val2017"):
        grey(root / f"images/{split}/000000000009.jpg")
        grey(root / f"images/{split}/000000000025.jpg")
    for task, row in (("object_detection", "0 0.5 0.5 0.4 0.5\n"),
                      ("instance_segmentation", "1 0.3 0.3 0.7 0.3 0.7 0.7 0.3 0.7\n")):
        (root / task / "labels/train2017").mkdir(parents=True)
        (root / task / "labels/val2017").mkdir()
        os.symlink("../images", root / task / "images")
        (root / task / "config.yaml").write_text("path: .\ntrain: images/train2017\nval: images/val2017\n"
                                                 "names:\n  0: person\n  1: bicycle\n")
        for split in ("train2017", "val2017"):
            (root / task / f"labels/{split}/000000000009.txt").write_text(row)
    return root


def test_coco128_root_exits_2_naming_the_task_folders(tmp_path):
    inp = coco128(tmp_path / "coco128")
    res = run(inp, tmp_path / "out", "-j", "1", expect=2)
    assert "instance_segmentation/ and object_detection/" in res.output and "task folder" in res.output
    assert "--labels none" in res.output
    assert not (tmp_path / "out").exists()
    run(inp, tmp_path / "plain", "-j", "1", "--labels", "none", "--no-manifest")  # the images alone: said so


def test_coco128_task_folder_carries_its_labels_through_the_link(tmp_path):
    inp = coco128(tmp_path / "coco128")
    res = run(inp / "object_detection", tmp_path / "out", "-j", "1", "--hflip", "--json", "--seed", "1")
    out = tmp_path / "out"
    assert (out / "labels/train2017/000000000009_0.txt").read_text().startswith("0 0.5")
    assert (out / "config.yaml").exists() and (out / "images/val2017/000000000025_0.jpg").exists()
    s = summary_of(res)["labels"]
    assert s["label_files"] == 2 and s["unlabeled"] == 2 and s["unpaired"] == 0
    assert "images/ links to a folder outside the input folder; followed" in res.stderr
    quiet = run(inp / "object_detection", tmp_path / "out2", "-j", "1", "-q")
    assert quiet.output == "" and (tmp_path / "out2/labels/train2017/000000000009_0.txt").exists()


def test_preview_of_an_image_through_the_task_link_draws_its_labels(tmp_path):
    inp = coco128(tmp_path / "coco128")
    image = inp / "object_detection/images/train2017/000000000009.jpg"
    for extra in ([], ["--dataset", inp / "object_detection"]):
        sheet = tmp_path / f"p{len(extra)}.png"
        res = run(image, "--labels", "auto", "--grid", "2x1", "--seed", "1", "-o", sheet, *extra,
                  command="preview")
        assert "000000000009.jpg: 1 object drawn" in res.output
        assert red_pixels(sheet) > 100
    res = run(inp / "object_detection/images/train2017/000000000025.jpg", "--labels", "auto", "-o",
              tmp_path / "none.png", command="preview")
    assert "this image has no labels" in res.output


# -- datitran/raccoon_dataset: images/ + annotations/*.xml, paired by stem ----------------------------

def raccoon(root: Path) -> Path:
    for i in (1, 2, 3):
        grey(root / f"images/raccoon-{i}.jpg")
        # the XML's <filename> may name another extension (an old revision said .png): pair by stem
        (root / "annotations").mkdir(exist_ok=True)
        (root / f"annotations/raccoon-{i}.xml").write_text(voc_xml(f"raccoon-{i}.png"))
    (root / "data").mkdir()
    (root / "data/raccoon_labels.csv").write_text("filename,width,height,class,xmin,ymin,xmax,ymax\n")
    return root


@pytest.mark.parametrize("flag", [[], ["--labels", "voc"]])
def test_raccoon_images_plus_annotations_carries_the_xml(tmp_path, flag):
    inp = raccoon(tmp_path / "raccoon")
    res = run(inp, tmp_path / "out", "-j", "1", "--hflip", "--json", "--seed", "3", *flag)
    assert "labels: voc (annotations/ beside images/)" in res.output
    assert sorted(p.name for p in (tmp_path / "out/annotations").iterdir()) == [
        "raccoon-1_0.xml", "raccoon-2_0.xml", "raccoon-3_0.xml"]
    assert "<filename>raccoon-1_0.jpg</filename>" in (tmp_path / "out/annotations/raccoon-1_0.xml").read_text()
    assert summary_of(res)["labels"]["label_files"] == 3


def test_unpaired_xml_is_counted_and_named(tmp_path):
    inp = raccoon(tmp_path / "raccoon")
    (inp / "annotations/raccoon-9.xml").write_text(voc_xml("raccoon-9.jpg"))
    res = run(inp, tmp_path / "out", "-j", "1", "--json")
    assert "1 label file that no image pairs with is not carried: annotations/raccoon-9.xml" in res.output
    assert summary_of(res)["labels"]["unpaired"] == 1
    assert "1 label files not paired" in run(inp, tmp_path / "out2", "-j", "1").output  # the summary line


def test_xml_in_labels_beside_images_is_voc(tmp_path):
    root = tmp_path / "in"
    grey(root / "images/a.jpg")
    (root / "labels").mkdir()
    (root / "labels/a.xml").write_text(voc_xml("a.jpg"))
    res = run(root, tmp_path / "out", "-j", "1")
    assert "labels: voc (labels/ beside images/)" in res.output
    assert (tmp_path / "out/labels/a_0.xml").exists()


def test_xml_next_to_the_images(tmp_path):
    root = tmp_path / "in"
    grey(root / "train/a.jpg")
    (root / "train/a.xml").write_text(voc_xml("a.jpg"))
    res = run(root, tmp_path / "out", "-j", "1")
    assert "labels: voc (<stem>.xml next to the images in train/)" in res.output
    assert (tmp_path / "out/train/a_0.xml").exists()


# -- explicit formats that pair fewer images than they should ---------------------------------------

def test_explicit_format_that_pairs_none_exits_2(tmp_path):
    inp = raccoon(tmp_path / "raccoon")
    res = run(inp, tmp_path / "out", "-j", "1", "--labels", "yolo", expect=2)
    assert "labels: yolo: none of the 3 images has a label" in res.output
    assert not (tmp_path / "out").exists()


def test_explicit_format_names_the_unlabelled_images(tmp_path):
    inp = raccoon(tmp_path / "raccoon")
    grey(inp / "images/raccoon-4.jpg")
    res = run(inp, tmp_path / "out", "-j", "1", "--labels", "voc", "--json")
    assert "labels: voc: 1 of 4 images have no label file and are written without labels: images/raccoon-4.jpg" \
        in res.output
    assert summary_of(res)["labels"]["unlabeled"] == 1


# -- SegNet CamVid: <split>/ + <split>annot/ grey class-index PNGs -----------------------------------

def camvid(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, names in (("train", ["0001TP_006690", "0001TP_006720"]), ("val", ["0016E5_07959"])):
        for name in names:
            grey(root / f"CamVid/{split}/{name}.png", (48, 36))
            (root / f"CamVid/{split}annot").mkdir(parents=True, exist_ok=True)
            cls = np.kron(rng.integers(0, 12, (6, 8)), np.ones((6, 6), int)).astype(np.uint8)  # 0..11, blocks
            Image.fromarray(cls, "L").save(root / f"CamVid/{split}annot/{name}.png")
    (root / "CamVid/train.txt").write_text("/SegNet/CamVid/train/0001TP_006690.png "
                                           "/SegNet/CamVid/trainannot/0001TP_006690.png\n")
    return root


def test_camvid_annot_folders_are_masks_warped_nearest(tmp_path):
    inp = camvid(tmp_path / "seg")
    res = run(inp, tmp_path / "out", "-j", "1", "--rotate", "30", "--zoom", "0.2", "--seed", "5", "--json")
    assert "CamVid/trainannot/ beside CamVid/train/" in res.output and "CamVid/valannot/ beside CamVid/val/" \
        in res.output
    out = tmp_path / "out/CamVid"
    assert sorted(p.name for p in (out / "trainannot").iterdir()) == ["0001TP_006690_0.png", "0001TP_006720_0.png"]
    for name in ("0001TP_006690", "0001TP_006720"):
        src = np.asarray(Image.open(inp / f"CamVid/trainannot/{name}.png"))
        got = Image.open(out / f"trainannot/{name}_0.png")
        assert got.mode == "L" and set(np.unique(got)) <= set(np.unique(src)) | {0}  # no resampled classes
    s = summary_of(res)["labels"]
    assert s["masks"] == 3 and s["unpaired"] == 0
    assert summary_of(res)["discovered"] == 3  # the annot PNGs are not sources


def test_preview_of_a_camvid_image_draws_its_mask(tmp_path):
    inp = camvid(tmp_path / "seg")
    res = run(inp / "CamVid/train/0001TP_006690.png", "--labels", "auto", "--grid", "2x1", "-o",
              tmp_path / "p.png", command="preview")
    assert "0001TP_006690.png: a mask drawn" in res.output


def test_a_mask_folder_with_no_images_is_not_expanded_as_photos(tmp_path):
    root = tmp_path / "semantic_segmentation"
    (root / "masks/train2017").mkdir(parents=True)
    Image.fromarray(np.kron(np.arange(6, dtype=np.uint8).reshape(2, 3), np.ones((8, 8), np.uint8)), "L").save(
        root / "masks/train2017/000000000009.png")
    res = run(root, tmp_path / "out", "-j", "1", expect=2)
    assert "masks/ looks like segmentation masks" in res.output and "--labels none" in res.output
    assert not (tmp_path / "out").exists()
    run(root, tmp_path / "photos", "-j", "1", "--labels", "none", "--no-manifest")
    assert (tmp_path / "photos/masks/train2017/000000000009_0.png").exists()


def test_grey_photos_in_a_mask_named_folder_stay_photos(tmp_path):
    root = tmp_path / "in"
    rng = np.random.default_rng(1)
    (root / "gt_photos").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8), "L").save(root / "gt_photos/a.png")
    res = run(root, tmp_path / "out", "-j", "1", "--json")
    assert summary_of(res)["written"] == 1 and "labels:" not in res.output


# -- COCO: annotations/instances_*.json beside train2017/ ----------------------------------------------

def coco(root: Path) -> Path:
    grey(root / "train2017/000000000009.jpg")
    grey(root / "train2017/000000000025.jpg")
    (root / "annotations").mkdir()
    (root / "annotations/instances_train2017.json").write_text(json.dumps({
        "images": [{"id": 9, "file_name": "000000000009.jpg", "width": 100, "height": 50}],
        "annotations": [{"id": 1, "image_id": 9, "category_id": 1, "bbox": [20, 10, 40, 30], "area": 1200,
                         "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person"}]}))
    return root


def test_coco_annotations_beside_train2017(tmp_path):
    inp = coco(tmp_path / "coco")
    res = run(inp, tmp_path / "out", "-j", "1", "--json")
    assert "labels: coco (annotations/instances_train2017.json)" in res.output
    data = json.loads((tmp_path / "out/annotations/instances_train2017.json").read_text())
    assert [im["file_name"] for im in data["images"]] == ["000000000009_0.jpg"] and len(data["annotations"]) == 1


def test_preview_of_a_coco_image_without_dataset_draws_it(tmp_path):
    inp = coco(tmp_path / "coco")
    sheet = tmp_path / "p.png"
    res = run(inp / "train2017/000000000009.jpg", "--labels", "auto", "--grid", "2x1", "-o", sheet,
              command="preview")
    assert "000000000009.jpg: 1 object drawn" in res.output
    assert sum(np.all(np.asarray(Image.open(sheet).convert("RGB")) == c, axis=-1).sum() for c in COLOURS) > 100
    res = run(inp / "train2017/000000000025.jpg", "--labels", "auto", "-o", tmp_path / "q.png",
              command="preview")
    assert "000000000025.jpg: this image has no labels" in res.output


def test_palette_masks_in_split_masks_folder(tmp_path):
    root = tmp_path / "in"
    grey(root / "train/a.jpg")
    (root / "train_masks").mkdir()
    m = Image.frombytes("P", (100, 50), np.kron(np.array([[0, 1], [2, 0]], np.uint8), np.ones((25, 50), np.uint8))
                        .tobytes())
    m.putpalette([0, 0, 0, 200, 10, 10, 10, 200, 10] + [0] * 759)
    m.save(root / "train_masks/a.png")
    res = run(root, tmp_path / "out", "-j", "1", "--hflip", "--seed", "2")
    assert "masks (class-index images) in train_masks/ beside train/" in res.output
    got = Image.open(tmp_path / "out/train_masks/a_0.png")
    assert got.mode == "P" and got.getpalette()[:9] == [0, 0, 0, 200, 10, 10, 10, 200, 10]


def test_cityscapes_gtfine_is_refused_not_resampled(tmp_path):
    root = tmp_path / "cityscapes"
    grey(root / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png")
    (root / "gtFine/train/aachen").mkdir(parents=True)
    Image.new("L", (100, 50), 7).save(root / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png")
    res = run(root, tmp_path / "out", "-j", "1", expect=2)
    assert "gtFine/ looks like segmentation masks" in res.output


KITTI_ROW = "Car 0.00 0 -1.58 20.0 10.0 60.0 40.0 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59\n"


@pytest.mark.parametrize("images, labels, row, what", [
    ("training/image_2", "training/label_2", KITTI_ROW, "KITTI object labels"),
    ("images", "labelTxt", "10 10 50 10 50 40 10 40 plane 0\n", "DOTA oriented-box labels")])
def test_label_folders_of_formats_augcli_does_not_read_are_refused(tmp_path, images, labels, row, what):
    root = tmp_path / "data"
    grey(root / images / "000000.png")
    (root / labels).mkdir(parents=True)
    (root / labels / "000000.txt").write_text(row)
    res = run(root, tmp_path / "out", "-j", "1", expect=2)
    assert f"{labels}/ holds {what}" in res.output and "--labels none" in res.output
    assert not (tmp_path / "out").exists()  # nothing written
    run(root, tmp_path / "out", "-j", "1", "--labels", "none")  # the images alone, when asked
    assert (tmp_path / "out" / images / "000000_0.png").exists()


def test_dota_labeltxt_beside_yolo_obb_labels_is_counted_and_the_labels_read(tmp_path):
    root = tmp_path / "dota"
    grey(root / "images" / "P0001.png")
    (root / "labelTxt").mkdir()
    (root / "labelTxt" / "P0001.txt").write_text("10 10 50 10 50 40 10 40 plane 0\n")
    (root / "labels").mkdir()
    (root / "labels" / "P0001.txt").write_text("0 0.1 0.2 0.5 0.2 0.5 0.8 0.1 0.8\n")
    res = run(root, tmp_path / "out", "-j", "1", "--labels", "yolo-obb", "--json")
    assert (tmp_path / "out" / "labels" / "P0001_0.txt").exists()
    assert "labelTxt/P0001.txt" in res.stderr and summary_of(res)["labels"]["unpaired"] == 1


def test_txt_in_an_unknown_label_folder_is_counted_not_dropped_silently(tmp_path):
    root = tmp_path / "data"
    grey(root / "images" / "a.png")
    (root / "labels_yolo").mkdir()
    (root / "labels_yolo" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    res = run(root, tmp_path / "out", "-j", "1", "--json")
    assert "1 .txt file in labels_yolo/, a folder augcli does not read labels from, is not carried: " \
           "labels_yolo/a.txt" in res.stderr
    assert summary_of(res)["labels"]["unpaired"] == 1


def test_mot_and_wider_face_box_lists_are_counted_not_dropped_silently(tmp_path):
    # box lists in .txt files outside any label folder: MOT's gt/gt.txt and det/det.txt,
    # WIDER FACE's wider_face_split/*_bbx_gt.txt; prose and class lists beside them are not labels
    mot = tmp_path / "mot" / "MOT17-02"
    for i in (1, 2):
        grey(mot / "img1" / f"{i:06d}.jpg")
    (mot / "gt").mkdir()
    (mot / "gt" / "gt.txt").write_text("1,1,912,484,97,109,0,7,1\n2,1,912,484,97,109,0,7,1\n")
    (mot / "det").mkdir()
    (mot / "det" / "det.txt").write_text("1,-1,1359.1,413.27,120.26,362.77,2.3092,-1,-1,-1\n")
    (mot / "notes.txt").write_text("Recorded in 2017.\n1 2 3 4 are the cameras\n")
    res = run(tmp_path / "mot", tmp_path / "out_mot", "-j", "1", "--json")
    assert "2 files of label formats augcli does not read (MOT boxes (2)) are not carried: " \
           "MOT17-02/det/det.txt, MOT17-02/gt/gt.txt" in res.stderr
    assert summary_of(res)["labels"]["unpaired"] == 2

    wider = tmp_path / "wider"
    grey(wider / "WIDER_train" / "images" / "0--Parade" / "0_Parade_1.jpg")
    (wider / "wider_face_split").mkdir()
    (wider / "wider_face_split" / "wider_face_train_bbx_gt.txt").write_text(
        "0--Parade/0_Parade_1.jpg\n1\n10 12 20 22 0 0 0 0 0 0 \n")
    (wider / "wider_face_split" / "readme.txt").write_text("Attached the mappings between attribute names.\n")
    (wider / "classes.txt").write_text("face\n")
    res = run(wider, tmp_path / "out_wider", "-j", "1", "--json")
    assert "1 file of label formats augcli does not read (WIDER FACE boxes (1)) is not carried: " \
           "wider_face_split/wider_face_train_bbx_gt.txt" in res.stderr
    assert summary_of(res)["labels"]["unpaired"] == 1


def test_prose_and_plain_lists_beside_images_say_nothing(tmp_path):
    root = tmp_path / "data"
    grey(root / "cats" / "a.png")
    (root / "README.txt").write_text("Photos of cats, 2019.\n")
    (root / "train.txt").write_text("cats/a.png\n")
    (root / "sizes.txt").write_text("100 50\n")  # two numbers: no box
    res = run(root, tmp_path / "out", "-j", "1", "--json")
    assert "warning" not in res.stderr and summary_of(res).get("labels") is None  # no labels, nothing counted


def test_image_set_lists_a_run_cannot_rewrite_are_counted_not_dropped_silently(tmp_path):
    # lists beside a YOLO tree name ids no VOC output has (carried lists: test_labels_voc_lists.py)
    root = tmp_path / "data"
    grey(root / "images" / "2007_000001.jpg")
    (root / "labels").mkdir()
    (root / "labels" / "2007_000001.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("2007_000001\n")
    (root / "ImageSets" / "Main" / "cat_train.txt").write_text("2007_000001  1\n")
    res = run(root, tmp_path / "out", "-j", "1", "--json")
    assert "2 VOC image-set lists (ImageSets/) are not carried: they name the sources, not the outputs" in res.stderr
    assert "ImageSets/Main/cat_train.txt" in res.stderr and "ImageSets/Main/train.txt" in res.stderr
    assert summary_of(res)["labels"]["unpaired"] == 2
    assert (tmp_path / "out" / "labels" / "2007_000001_0.txt").exists()  # the labels carried


@pytest.mark.parametrize("name, text, what", [
    ("a.json", '{"version": "5.0.1", "shapes": [{"label": "cat", "points": [[1, 1], [9, 9]]}], "imagePath": "a.png"}',
     "LabelMe JSON"),
    ("_annotations.createml.json",
     '[{"image": "a.png", "annotations": [{"label": "cat", "coordinates": {"x": 5, "y": 5, "width": 4, "height": 4}}]}]',
     "CreateML JSON"),
    ("_annotations.csv", "filename,width,height,class,xmin,ymin,xmax,ymax\na.png,100,50,cat,1,1,9,9\n", "CSV boxes")])
def test_label_files_of_formats_augcli_does_not_read_are_counted(tmp_path, name, text, what):
    root = tmp_path / "data"
    grey(root / "train" / "a.png")
    (root / "train" / name).write_text(text)
    (root / "train" / "notes.json").write_text('{"author": "x"}')  # not labels: not counted
    res = run(root, tmp_path / "out", "-j", "1", "--json")
    assert f"label formats augcli does not read ({what} (1)) is not carried: train/{name}" in res.stderr
    assert summary_of(res)["labels"]["unpaired"] == 1


def test_stats_on_a_refused_layout_still_reports_the_images(tmp_path):
    inp = coco128(tmp_path / "coco128")
    res = CliRunner().invoke(cli, ["stats", str(inp)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "objects not counted" in res.output and "4 images" in res.output


def test_preview_finds_labels_by_default_as_expand_does(tmp_path):
    inp = coco128(tmp_path / "coco128")
    sheet = tmp_path / "p.png"
    res = run(inp / "object_detection/images/train2017/000000000009.jpg", "--grid", "2x1", "--seed", "1",
              "-o", sheet, command="preview")
    assert "000000000009.jpg: 1 object drawn" in res.output and red_pixels(sheet) > 100
    res = run(inp / "object_detection/images/train2017/000000000009.jpg", "--labels", "none", "--grid", "2x1",
              "--seed", "1", "-o", tmp_path / "q.png", command="preview")
    assert "drawn" not in res.output and red_pixels(tmp_path / "q.png") == 0


def test_a_task_folder_follows_its_images_link_but_no_other_link_out(tmp_path):
    inp = coco128(tmp_path / "coco128")
    grey(tmp_path / "elsewhere/secret.jpg")
    os.symlink(tmp_path / "elsewhere", inp / "object_detection/images/train2017/extra")
    res = run(inp / "object_detection", tmp_path / "out", "-j", "1", "--seed", "1")
    assert "images/ links to a folder outside the input folder; followed" in res.output
    assert "images/train2017/extra/: warning: symbolic link to outside the input folder" in res.output
    out = tmp_path / "out"
    assert (out / "images/train2017/000000000009_0.jpg").exists()
    assert not list(out.rglob("secret*"))
    res = run(inp / "object_detection", tmp_path / "refused", "-j", "1", "--no-follow-outside")
    assert "images/: warning: symbolic link to outside the input folder" in res.output
    assert not list((tmp_path / "refused").rglob("*.jpg"))


@pytest.mark.parametrize("images,labels,name", [("images/train", "labels/train", "a.txt"),
                                                 ("JPEGImages", "Annotations", "a.xml")])
def test_an_image_folder_whose_labels_lie_outside_the_input_is_refused(tmp_path, images, labels, name):
    import subprocess
    import sys

    from PIL import Image

    (tmp_path / "d" / images).mkdir(parents=True)
    (tmp_path / "d" / labels).mkdir(parents=True)
    Image.new("RGB", (20, 20)).save(tmp_path / "d" / images / "a.png")
    (tmp_path / "d" / labels / name).write_text("0 0.5 0.5 0.2 0.2\n" if name.endswith(".txt") else "<annotation/>")
    run = [sys.executable, "-m", "augcli", "expand", f"d/{images}", "out", "--seed", "1"]
    res = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and f"{labels}, outside INPUT_DIR" in res.stderr and "--labels none" in res.stderr
    assert not (tmp_path / "out").exists()
    res = subprocess.run(run + ["--labels", "none", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and (tmp_path / "out" / "a_0.png").exists()
