"""augcli split: ratios, groups that never straddle splits, stratification, each layout, -j."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from .conftest import REPO, tree_bytes
from .splitdata import field, folders, records, reencode, save, split_of


def run(*args, expect=0):
    res = subprocess.run([sys.executable, "-m", "augcli", "split", *map(str, args)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == expect, res.stdout + res.stderr
    return res


def test_ratios_within_one_image_of_the_target(tmp_path):
    inp = folders(tmp_path / "in", {"a": 23})
    for ratios, n in (("0.8,0.1,0.1", 23), ("0.5,0.3,0.2", 23), ("0.7,0.3", 23)):
        out = tmp_path / f"out{ratios}"
        run(inp, out, "--ratios", ratios, "--seed", "3", "-j", "1")
        fr = [float(v) for v in ratios.split(",")]
        names = ["train", "val", "test"][:len(fr)]
        got = Counter(split_of(out).values())
        for name, f in zip(names, fr):
            assert abs(got[name] - f * n) < 1, (ratios, got)
            assert len(list((out / name / "a").glob("*.png"))) == got[name]


def test_copies_of_one_photo_land_together(tmp_path):
    inp = folders(tmp_path / "in", {"a": 12, "b": 12})
    photo = inp / "a" / "photo.jpg"  # a real photo (sample_images/, from scikit-image)
    shutil.copy(REPO / "sample_images" / "living" / "chelsea.jpg", photo)
    shutil.copy(photo, inp / "b" / "renamed.jpg")  # exact copy, another name and class
    im = Image.open(photo)
    save(im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), inp / "a" / "small.png")
    (inp / "b" / "again.jpg").write_bytes(reencode(photo, 75))
    for seed in range(4):
        out = tmp_path / f"out{seed}"
        run(inp, out, "--seed", seed, "--ratios", "0.4,0.3,0.3", "-j", "1")
        where = split_of(out)
        together = {where[r] for r in ("a/photo.jpg", "b/renamed.jpg", "a/small.png", "b/again.jpg")}
        assert len(together) == 1, where
        groups = {r["group"] for r in records(out) if r["source"] in ("a/photo.jpg", "a/small.png")}
        assert len(groups) == 1


def test_group_none_still_keeps_exact_copies_together_but_not_resized_ones(tmp_path):
    inp = folders(tmp_path / "in", {"a": 6})
    photo = save(field(999, 160, 120), inp / "a" / "photo.png")
    shutil.copy(photo, inp / "a" / "copy.png")
    save(Image.open(photo).resize((80, 60), Image.Resampling.LANCZOS), inp / "a" / "small.png")
    out = tmp_path / "out"
    run(inp, out, "--group", "none", "-j", "1")
    recs = {r["source"]: r for r in records(out)}
    assert recs["a/photo.png"]["group"] == recs["a/copy.png"]["group"]
    assert recs["a/small.png"]["group"] != recs["a/photo.png"]["group"]


def test_stem_and_regex_groups(tmp_path):
    inp = tmp_path / "in"
    for i in range(8):
        save(field(i), inp / "rgb" / f"s{i}.png")
        save(field(100 + i), inp / "depth" / f"s{i}.png")
        save(field(200 + i), inp / "cam" / f"patient{i % 4}_scan{i}.png")
    out = tmp_path / "out"
    run(inp, out, "--group", "stem", "--group", r"regex:patient(\d+)_", "--ratios", "0.5,0.5", "-j", "1")
    where = split_of(out)
    for i in range(8):
        assert where[f"rgb/s{i}.png"] == where[f"depth/s{i}.png"]
    for p in range(4):
        assert where[f"cam/patient{p}_scan{p}.png"] == where[f"cam/patient{p}_scan{p + 4}.png"]


def test_stratified_class_shares_within_one_image(tmp_path):
    sizes = {"a": 17, "b": 9, "c": 31}
    inp = folders(tmp_path / "in", sizes)
    out = tmp_path / "out"
    res = run(inp, out, "--stratify", "--ratios", "0.7,0.2,0.1", "--seed", "5", "-j", "1")
    where = split_of(out)
    fr = {"train": 0.7, "val": 0.2, "test": 0.1}
    for cls, n in sizes.items():
        got = Counter(s for r, s in where.items() if r.startswith(cls + "/"))
        for name, f in fr.items():
            assert abs(got[name] - f * n) < 1, (cls, got)
    total = Counter(where.values())
    for name, f in fr.items():
        assert abs(total[name] - f * sum(sizes.values())) < 1
    assert "class" in res.stdout and "a " in res.stdout  # the table


@pytest.mark.parametrize("layout", ["folders", "yolo"])
def test_byte_identical_for_any_workers_and_input_untouched(tmp_path, layout):
    if layout == "yolo":
        inp = _yolo(tmp_path / "in", 40)
        shutil.copy(inp / "images" / "im0.png", inp / "images" / "dup.png")
    else:
        inp = folders(tmp_path / "in", {"a": 10, "b": 7})
        shutil.copy(inp / "a" / "a000.png", inp / "b" / "dup.png")
    before = tree_bytes(inp, bookkeeping=True)
    run(inp, tmp_path / "o1", "-j", "1", "--seed", "9", "--stratify")
    run(inp, tmp_path / "o2", "-j", "2", "--seed", "9", "--stratify")
    assert tree_bytes(tmp_path / "o1") == tree_bytes(tmp_path / "o2")
    assert tree_bytes(inp, bookkeeping=True) == before
    assert not (inp / ".augcli").exists()


def test_link_hard_links(tmp_path):
    inp = folders(tmp_path / "in", {"a": 3})
    run(inp, tmp_path / "out", "--link", "--ratios", "1,0", "--names", "all,none", "-j", "1")
    assert (tmp_path / "out/all/a/a000.png").stat().st_ino == (inp / "a/a000.png").stat().st_ino


def _yolo(root: Path, n: int) -> Path:
    for i in range(n):
        save(field(i), root / "images" / f"im{i}.png")
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "labels" / f"im{i}.txt").write_text(f"{i % 2} 0.5 0.5 0.2 0.2\n{i % 3} 0.3 0.3 0.1 0.1\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"path": "/elsewhere", "train": "images", "val": "images",
                                                    "names": ["cat", "dog", "bird"]}))
    return root


def test_yolo_layout_loads(tmp_path):
    inp = _yolo(tmp_path / "in", 20)
    out = tmp_path / "out"
    res = run(inp, out, "--stratify", "-j", "1")
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == ["cat", "dog", "bird"] and "path" not in data
    assert [data[k] for k in ("train", "val", "test")] == ["images/train", "images/val", "images/test"]
    seen = 0
    for k in ("train", "val", "test"):
        assert (out / data[k]).is_dir()
        for img in (out / data[k]).glob("*.png"):
            lab = out / "labels" / k / (img.stem + ".txt")
            assert lab.read_bytes() == (inp / "labels" / (img.stem + ".txt")).read_bytes()
            seen += 1
    assert seen == 20
    assert "cat" in res.stdout and "/" in res.stdout  # images/objects per class
    # augcli itself reads the result as YOLO with three splits
    from augcli.labels.detect import resolve
    from augcli.labels.setup import LabelOptions
    from augcli.pipeline import Pipeline

    setup = resolve(LabelOptions(), out, tmp_path / "x", Pipeline(), lambda m: None)
    assert setup.format == "yolo" and setup.unpaired == 0


def test_coco_one_json_per_split_loads_with_pycocotools(tmp_path):
    pycoco = pytest.importorskip("pycocotools.coco")
    inp = tmp_path / "in"
    images, anns = [], []
    for i in range(12):
        save(field(i), inp / "train" / f"im{i}.png")
        images.append({"id": 10 + i, "file_name": f"im{i}.png", "width": 64, "height": 48})
        anns.append({"id": 100 + i, "image_id": 10 + i, "category_id": 1 + i % 2, "bbox": [5, 5, 20, 10],
                     "area": 200, "iscrowd": 0})
    doc = {"info": {"year": 2024}, "images": images, "annotations": anns,
           "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    save_json = inp / "annotations" / "instances_train.json"
    save_json.parent.mkdir(parents=True)
    save_json.write_text(json.dumps(doc))
    out = tmp_path / "out"
    run(inp, out, "--ratios", "0.5,0.25,0.25", "-j", "1")
    total_anns = 0
    for k in ("train", "val", "test"):
        c = pycoco.COCO(str(out / k / "_annotations.coco.json"))
        for img in c.dataset["images"]:
            assert (out / k / img["file_name"]).is_file()
        assert len(c.dataset["images"]) == len(list((out / k).rglob("*.png")))
        total_anns += len(c.getAnnIds())
        assert c.dataset["info"] == {"year": 2024}
    assert total_anns == 12


def test_voc_image_sets(tmp_path):
    inp = tmp_path / "in"
    for i in range(10):
        save(field(i), inp / "JPEGImages" / f"x{i}.jpg", quality=95)
        (inp / "Annotations").mkdir(exist_ok=True)
        (inp / "Annotations" / f"x{i}.xml").write_text(
            f"<annotation><size><width>64</width><height>48</height><depth>3</depth></size><object><name>c{i % 2}"
            "</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>")
    out = tmp_path / "out"
    run(inp, out, "--ratios", "0.6,0.2,0.2", "-j", "1")
    lists = {k: (out / "ImageSets/Main" / f"{k}.txt").read_text().split() for k in ("train", "val", "test")}
    assert sorted(sum(lists.values(), [])) == sorted(f"x{i}" for i in range(10))
    assert [len(v) for v in lists.values()] == [6, 2, 2]
    for i in range(10):
        assert (out / "Annotations" / f"x{i}.xml").read_bytes() == (inp / "Annotations" / f"x{i}.xml").read_bytes()
        assert (out / "JPEGImages" / f"x{i}.jpg").is_file()


def test_masks_go_beside_their_images(tmp_path):
    inp = tmp_path / "in"
    for i in range(6):
        save(field(i), inp / "images" / f"m{i}.png")
        a = np.zeros((48, 64), np.uint8)
        a[5:20, 5 + i:30] = 1 + i % 2
        save(Image.fromarray(a, "L"), inp / "masks" / f"m{i}.png")
    out = tmp_path / "out"
    run(inp, out, "--ratios", "0.5,0.5", "-j", "1")
    for src, name in split_of(out).items():
        stem = Path(src).stem
        assert (out / name / "images" / f"{stem}.png").is_file()
        assert (out / name / "masks" / f"{stem}.png").read_bytes() == (inp / "masks" / f"{stem}.png").read_bytes()


@pytest.mark.parametrize("args,message", [
    (["--ratios", "0.8,x"], "--ratios must be numbers"),
    (["--ratios", "0.5,0.3,0.1,0.1"], "give as many --names"),
    (["--names", "a,a,b"], "--names must be different"),
    (["--group", "regex:("], "not a regular expression"),
    (["--group", "colour"], "--group must be"),
])
def test_usage_errors_exit_2(tmp_path, args, message):
    inp = folders(tmp_path / "in", {"a": 2})
    res = run(inp, tmp_path / "out", *args, expect=2)
    assert message in res.stderr and "Traceback" not in res.stderr


def test_non_empty_output_is_refused(tmp_path):
    inp = folders(tmp_path / "in", {"a": 2})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    res = run(inp, tmp_path / "out", expect=2)
    assert "not an empty folder" in res.stderr
    res = run(inp, inp / "sub", expect=2)
    assert "must not contain each other" in res.stderr


def test_bad_label_and_broken_image_are_named_copied_unchanged_and_exit_1(tmp_path):
    inp = _yolo(tmp_path / "in", 4)
    (inp / "labels" / "im2.txt").write_text("0 0.5 0.5 0.1 0.1\nzz 1 2\n")
    (inp / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    (inp / "labels" / "broken.txt").write_text("1 0.5 0.5 0.1 0.1\n")
    out = tmp_path / "out"
    res = run(inp, out, "--ratios", "1,0", "-j", "1", expect=1)
    lines = [ln for ln in res.stderr.splitlines() if "im2" in ln or "broken" in ln]
    assert any("labels/im2.txt:2:" in ln for ln in lines) and any("images/broken.png: cannot decode" in ln for ln in lines)
    assert "Traceback" not in res.stderr and "BytesIO" not in res.stderr
    for rel in ("labels/train/im2.txt", "labels/train/broken.txt", "images/train/broken.png"):
        assert (out / rel).read_bytes() == (inp / rel.replace("/train", "")).read_bytes()


def test_link_across_file_systems_is_a_usage_error_before_anything_is_written(tmp_path, monkeypatch):
    import os as _os

    from augcli import split as S
    from augcli.errors import UsageError
    from augcli.splitplan import SplitOptions

    inp = folders(tmp_path / "in", {"a": 2})
    real = _os.stat

    def other(st):  # the same file, seen on another device
        fields = list(st)
        fields[2] += 1
        return _os.stat_result(fields)

    target = str(inp.resolve())
    monkeypatch.setattr(S.os, "stat", lambda p, *a, **k: other(real(p)) if str(p) == target else real(p, *a, **k))
    with pytest.raises(UsageError, match="another file system"):
        S.run_split(str(inp), str(tmp_path / "out"), SplitOptions(link=True, workers=1))
    assert not (tmp_path / "out").exists()


def test_tiles_stay_with_their_source(tmp_path):
    inp = folders(tmp_path / "in", {"a": 8})
    save(field(500), inp / "a" / "big.png")
    for k, (x, y) in enumerate(((0, 0), (32, 0), (0, 24), (32, 24))):
        save(field(600 + k), inp / "a" / f"big_{x}_{y}_{x + 32}_{y + 24}.png")
    for seed in range(3):
        out = tmp_path / f"out{seed}"
        run(inp, out, "--seed", seed, "--ratios", "0.5,0.5", "-j", "1")
        where = split_of(out)
        assert len({s for r, s in where.items() if "big" in r}) == 1
    run(inp, tmp_path / "none", "--group", "none", "-j", "1")
    assert len({r["group"] for r in records(tmp_path / "none") if "big" in r["source"]}) == 5


def test_two_images_with_one_destination_are_never_overwritten(tmp_path):
    inp = _yolo(tmp_path / "in", 2)
    save(field(50), inp / "im0.png")  # at the top, with its own label: YOLO puts it at images/<split>/im0.png too
    (inp / "im0.txt").write_text("2 0.5 0.5 0.1 0.1\n")
    out = tmp_path / "out"
    res = run(inp, out, "--ratios", "1,0", "-j", "1", expect=1)
    assert "already written for" in res.stderr and "Traceback" not in res.stderr
    assert (out / "images/train/im0.png").read_bytes() in ((inp / "im0.png").read_bytes(),
                                                           (inp / "images/im0.png").read_bytes())
    lab = (out / "labels/train/im0.txt").read_bytes()
    img = (out / "images/train/im0.png").read_bytes()
    pairs = {(inp / "im0.png").read_bytes(): (inp / "im0.txt").read_bytes(),
             (inp / "images/im0.png").read_bytes(): (inp / "labels/im0.txt").read_bytes()}
    assert pairs[img] == lab  # the image and its own label, from one source


def test_an_image_is_never_paired_with_another_images_label(tmp_path):
    inp = tmp_path / "in"
    save(field(1), inp / "im0.png")  # no label of its own
    save(field(2), inp / "images/im0.png")
    (inp / "labels").mkdir()
    (inp / "labels/im0.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (inp / "data.yaml").write_text("names: [a]\n")
    out = tmp_path / "out"
    run(inp, out, "--ratios", "1,0", "-j", "1", "--group", "none", expect=1)
    if (out / "labels/train/im0.txt").exists():
        assert (out / "images/train/im0.png").read_bytes() == (inp / "images/im0.png").read_bytes()


def test_a_mirrored_copy_lands_with_its_original(tmp_path):
    from PIL import ImageOps

    inp = folders(tmp_path / "in", {"a": 10})
    save(ImageOps.mirror(Image.open(inp / "a" / "a003.png")), inp / "a" / "mirrored.png")
    out = tmp_path / "out"
    run(inp, out, "--ratios", "0.5,0.5", "-j", "1")
    recs = {r["source"]: r["group"] for r in records(out)}
    assert recs["a/mirrored.png"] == recs["a/a003.png"]
