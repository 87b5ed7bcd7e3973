"""Every feature on every engine: for each kind of labelled dataset and for dataset targets, a run on
one machine, the union of shards after ``augcli merge``, and a Dask run, each into the same output
path, give the same bytes in every file (the manifest included)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from augcli.labels.loss import add as add_counts

from .conftest import pattern, tree_bytes, voc_xml

ENV = None  # inherit (PYTHONPATH points at the worktree)
SHARDS = 3
BUCKETS = 8


def augcli(*args, cwd: Path, expect: int = 0) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], cwd=cwd, capture_output=True,
                         text=True, timeout=240)
    assert res.returncode == expect, res.stderr
    assert "Traceback" not in res.stderr
    return res


def yolo(root: Path, rows: list[str], extra: dict | None = None) -> None:
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    for i, row in enumerate(rows * 3):
        pattern(40 + i, 30, seed=i).save(root / "images" / "train" / f"s{i}.png")
        if i % 4 != 3:  # some images without a label file
            (root / "labels" / "train" / f"s{i}.txt").write_text(row)
    data = {"path": ".", "train": "images/train", "names": ["cat", "dog"], **(extra or {})}
    (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def voc(root: Path) -> None:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    for i in range(7):
        pattern(50, 40, seed=i).save(root / "JPEGImages" / f"v{i}.jpg", quality=90)
        (root / "Annotations" / f"v{i}.xml").write_text(
            voc_xml(f"v{i}.jpg", box=(5 + i, 6, 30, 20 + i), size=(50, 40), name="cat"))
    (root / "ImageSets" / "Main").mkdir(parents=True)  # lists: gathered from every bucket's records
    (root / "ImageSets" / "Main" / "train.txt").write_text("v0\nv1\nv2\nv3\nv4\nmissing\n")
    (root / "ImageSets" / "Main" / "val.txt").write_text("v6\nv5\n")
    (root / "ImageSets" / "Main" / "cat_trainval.txt").write_text("".join(f"v{i} {1 - 2 * (i % 2)}\n" for i in range(7)))


def masks(root: Path) -> None:
    (root / "images" / "val").mkdir(parents=True)
    (root / "masks" / "val").mkdir(parents=True)
    for i in range(7):
        pattern(44, 32, seed=i).save(root / "images" / "val" / f"m{i}.jpg", quality=90)
        a = np.zeros((32, 44), np.uint8)
        a[4 + i:20, 6:30 - i] = 1 + i % 3
        Image.fromarray(a, "L").save(root / "masks" / "val" / f"m{i}.png")


def coco(root: Path) -> None:
    """A COCO split with boxes, keypoints and polygons (no RLE: pycocotools is a test extra)."""
    (root / "annotations").mkdir(parents=True)
    (root / "train").mkdir()
    images, anns = [], []
    for i in range(7):
        pattern(60, 40, seed=i).save(root / "train" / f"c{i}.png")
        images.append({"id": 10 + i, "file_name": f"c{i}.png", "width": 60, "height": 40})
        anns += [{"id": 100 * i + 1, "image_id": 10 + i, "category_id": 1, "bbox": [5, 5, 20, 15], "area": 300,
                  "iscrowd": 0, "keypoints": [8, 6, 2, 20, 6, 2, 14, 15, 1], "num_keypoints": 3},
                 {"id": 100 * i + 2, "image_id": 10 + i, "category_id": 2, "iscrowd": 0, "area": 450,
                  "bbox": [10, 10, 30, 20], "segmentation": [[10, 10, 40, 10, 25, 30]]}]
    cats = [{"id": 1, "name": "person", "keypoints": ["nose", "left_eye", "right_eye"]}, {"id": 2, "name": "thing"}]
    (root / "annotations" / "instances_train.json").write_text(json.dumps(
        {"info": {"year": 2024}, "images": images, "annotations": anns, "categories": cats}))


def classes(root: Path) -> None:
    for cls, n in (("one", 1), ("three", 3), ("five", 5)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            pattern(24 + i, 20, seed=i + 7 * n).save(root / cls / f"{cls}{i}.png")


DATASETS = {
    "yolo-detect": (lambda r: yolo(r, ["0 0.5 0.5 0.4 0.3\n1 0.2 0.3 0.1 0.2\n"]), ("-n", "2")),
    "yolo-segment": (lambda r: yolo(r, ["0 0.1 0.1 0.8 0.2 0.6 0.9 0.2 0.7\n"]), ("-n", "2")),
    "yolo-pose": (lambda r: yolo(r, ["0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.4 2 0.5 0.6 1\n"],
                                 {"kpt_shape": [3, 3], "flip_idx": [0, 2, 1]}), ("-n", "2")),
    "yolo-obb": (lambda r: yolo(r, ["1 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4\n"]), ("--labels", "yolo-obb", "-n", "2")),
    "voc": (voc, ("-n", "2")),
    "coco": (coco, ("-n", "2")),
    "masks": (masks, ("-n", "2")),
    "per-class": (classes, ("--per-class", "4")),
    "total": (classes, ("--total", "20", "--include-originals")),
}
FLAGS = ("--hflip", "--rotate", "25", "--zoom", "0.8:1.2", "--seed", "11", "--buckets", BUCKETS, "-q")


def one_machine(work: Path, extra) -> dict[str, bytes]:
    augcli("expand", "in", "out", *FLAGS, *extra, "-j", "2", cwd=work)
    got = tree_bytes(work / "out")
    shutil.rmtree(work / "out")
    return got


@pytest.mark.parametrize("kind", sorted(DATASETS))
def test_shards_and_merge_equal_one_machine(tmp_path, kind):
    make, extra = DATASETS[kind]
    make(tmp_path / "in")
    reference = one_machine(tmp_path, extra)
    assert any(k.endswith((".txt", ".xml", ".json")) or k.startswith("masks/") for k in reference) \
        or kind in ("per-class", "total")
    if kind == "voc":  # each id becomes its outputs' ids, in the list's order; an id without an image goes
        assert reference["ImageSets/Main/val.txt"] == b"v6_0\nv6_1\nv5_0\nv5_1\n"
        assert reference["ImageSets/Main/cat_trainval.txt"].startswith(b"v0_0 1\nv0_1 1\nv1_0 -1\n")
    for i in range(SHARDS):
        augcli("expand", "in", "out", *FLAGS, *extra, "--shard", f"{i}/{SHARDS}", "-j", 1 + i % 2, cwd=tmp_path)
    augcli("merge", "out", "-q", cwd=tmp_path)
    assert tree_bytes(tmp_path / "out") == reference


@pytest.mark.parametrize("kind", ["yolo-pose", "coco", "voc", "masks", "per-class"])
def test_dask_equals_one_machine(tmp_path, kind):
    pytest.importorskip("distributed", reason="Dask is not installed (pip install 'augcli[dask]')")
    make, extra = DATASETS[kind]
    make(tmp_path / "in")
    reference = one_machine(tmp_path, extra)
    augcli("expand", "in", "out", *FLAGS, *extra, "--executor", "dask", "-j", "2", cwd=tmp_path)
    assert tree_bytes(tmp_path / "out") == reference


def test_label_counts_of_a_sharded_run_add_up_to_one_machine(tmp_path):
    yolo(tmp_path / "in", ["0 0.5 0.5 0.4 0.3\n"])
    ref = json.loads(augcli("expand", "in", "out", *FLAGS, "--json", "-n", "2", "-j", "1", cwd=tmp_path).stdout)
    shutil.rmtree(tmp_path / "out")
    totals: dict[str, Any] = {}
    for i in range(2):
        got = json.loads(augcli("expand", "in", "out", *FLAGS, "--json", "-n", "2", "--shard", f"{i}/2",
                                cwd=tmp_path).stdout)
        unpaired = got["labels"].pop("unpaired")
        add_counts(totals, got["labels"])  # nested counts (label loss per class and op) add up too
        totals["unpaired"] = unpaired
    assert totals == ref["labels"] and ref["labels"]["label_files"] > 0


def test_a_sharded_yaml_written_by_another_shard_is_no_clash(tmp_path):
    yolo(tmp_path / "in", ["0 0.5 0.5 0.4 0.3\n"])
    augcli("expand", "in", "out", *FLAGS, "--shard", "0/2", cwd=tmp_path)
    assert (tmp_path / "out" / "data.yaml").exists()
    augcli("expand", "in", "out", *FLAGS, "--shard", "1/2", cwd=tmp_path)  # --on-exists error: still fine
    shutil.rmtree(tmp_path / "out" / ".augcli" / "done")
    # rerun: its own images clash, the YAML with the same bytes does not; a YAML that differs does
    same = augcli("expand", "in", "out", *FLAGS, "--shard", "1/2", cwd=tmp_path, expect=2).stderr
    (tmp_path / "out" / "data.yaml").write_text("names: [other]\n")
    other = augcli("expand", "in", "out", *FLAGS, "--shard", "1/2", cwd=tmp_path, expect=2).stderr
    count = [int(e.split(" output file(s) of shard 1/2 already exist")[0].rsplit(" ", 1)[-1]) for e in (same, other)]
    assert count[1] == count[0] + 1, (same, other)
    assert (tmp_path / "out" / "data.yaml").read_text() == "names: [other]\n"  # nothing written


def test_the_coco_json_is_written_once_by_the_shard_that_finishes_last(tmp_path):
    coco(tmp_path / "in")
    reference = one_machine(tmp_path, ("-n", "2"))
    made = tmp_path / "out" / "annotations" / "instances_train.json"
    augcli("expand", "in", "out", *FLAGS, "-n", "2", "--shard", "1/2", cwd=tmp_path)
    assert not made.exists()  # bucket parts of shard 0 are missing: not yet
    augcli("expand", "in", "out", *FLAGS, "-n", "2", "--shard", "0/2", cwd=tmp_path)
    assert made.read_bytes() == reference["annotations/instances_train.json"]
    doc = json.loads(made.read_bytes())
    assert len(doc["images"]) == 14 and len(doc["annotations"]) > 0
    # a shard run again (all its buckets done) finds the JSON its run wrote: no clash, same bytes
    augcli("expand", "in", "out", *FLAGS, "-n", "2", "--shard", "0/2", cwd=tmp_path)
    assert tree_bytes(tmp_path / "out") == reference


def test_augcli_merge_writes_the_coco_json_when_the_last_shard_did_not(tmp_path):
    coco(tmp_path / "in")
    reference = one_machine(tmp_path, ("-n", "2"))
    for i in range(2):  # --no-manifest: no shard merges, so none writes the COCO JSON either
        augcli("expand", "in", "out", *FLAGS, "-n", "2", "--shard", f"{i}/2", "--no-manifest", cwd=tmp_path)
    made = tmp_path / "out" / "annotations" / "instances_train.json"
    made.unlink()
    augcli("merge", "out", "-q", cwd=tmp_path)
    assert tree_bytes(tmp_path / "out") == reference
    # the input's annotations gone: the manifest is still merged, the error says why the JSON is not
    made.unlink()
    (tmp_path / "in" / "annotations" / "instances_train.json").rename(tmp_path / "elsewhere.json")
    res = augcli("merge", "out", "-q", cwd=tmp_path, expect=2)
    assert "the COCO JSON needs the input's annotations" in res.stderr and not made.exists()
    assert (tmp_path / "out" / "manifest.jsonl").read_bytes() == reference["manifest.jsonl"]
