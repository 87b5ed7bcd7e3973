"""VOC's image-set lists (ImageSets/<task>/<name>.txt) carried to the output: each id becomes the
ids of its image's outputs written, so a loader that reads the lists (torchvision's VOCDetection:
JPEGImages/<id>.jpg and Annotations/<id>.xml of every id of ImageSets/Main/<set>.txt) finds
exactly the outputs. Shards, Dask and object storage: tests/test_engines.py, test_storage_labels.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import pattern, tree_bytes, voc_xml

ROOT = "VOCdevkit/VOC2012"


def augcli(*args, expect: int = 0) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], capture_output=True, text=True,
                         timeout=240)
    assert res.returncode == expect, res.stderr
    assert "Traceback" not in res.stderr
    return res


def voc(top: Path, broken: bool = False) -> Path:
    root = top / ROOT
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    for i in range(3):
        pattern(48, 36, seed=i).save(root / "JPEGImages" / f"2007_00000{i}.jpg", quality=90)
        (root / "Annotations" / f"2007_00000{i}.xml").write_text(
            voc_xml(f"2007_00000{i}.jpg", box=(4, 5, 30, 25), size=(48, 36), name="cat"))
    if broken:
        (root / "JPEGImages" / "2007_000002.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    sets = root / "ImageSets"
    (sets / "Main").mkdir(parents=True)
    (sets / "Segmentation").mkdir()
    (sets / "Main" / "train.txt").write_text("2007_000000\n2007_000001\n2008_999999\n")  # an id with no image
    (sets / "Main" / "val.txt").write_bytes(b"\xef\xbb\xbf2007_000002\r\n")  # saved by Notepad: a BOM, CRLF
    (sets / "Main" / "cat_train.txt").write_text("2007_000000 -1\n\n2007_000001  1\n2007_000002  0\n")
    (sets / "Segmentation" / "train.txt").write_text("2007_000001\n")
    return top


def lists_of(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out / ROOT)): p.read_text() for p in sorted((out / ROOT / "ImageSets").rglob("*.txt"))}


def test_each_id_becomes_the_ids_of_its_outputs_and_a_loader_finds_them_all(tmp_path):
    inp = voc(tmp_path / "in")
    res = augcli("expand", inp, tmp_path / "out", "-n", "2", "--include-originals", "--rotate", "10", "--seed", "3",
                 "-j", "2", "--json")
    assert "image-set" not in res.stderr  # carried: no warning
    lists = lists_of(tmp_path / "out")
    assert lists == {
        "ImageSets/Main/cat_train.txt": "2007_000000_orig -1\n2007_000000_0 -1\n2007_000000_1 -1\n"
                                        "2007_000001_orig  1\n2007_000001_0  1\n2007_000001_1  1\n"
                                        "2007_000002_orig  0\n2007_000002_0  0\n2007_000002_1  0\n",
        "ImageSets/Main/train.txt": "2007_000000_orig\n2007_000000_0\n2007_000000_1\n"
                                    "2007_000001_orig\n2007_000001_0\n2007_000001_1\n",
        "ImageSets/Main/val.txt": "2007_000002_orig\n2007_000002_0\n2007_000002_1\n",
        "ImageSets/Segmentation/train.txt": "2007_000001_orig\n2007_000001_0\n2007_000001_1\n",
    }
    out = tmp_path / "out" / ROOT
    for name in ("train", "val"):  # what torchvision's VOCDetection opens for every id of the set
        ids = (out / "ImageSets" / "Main" / f"{name}.txt").read_text().split()
        assert ids and all((out / "JPEGImages" / f"{i}.jpg").is_file() and (out / "Annotations" / f"{i}.xml").is_file()
                           for i in ids)
    # one worker, the same lists; and replay remakes them with the rest of the tree
    augcli("expand", inp, tmp_path / "one", "-n", "2", "--include-originals", "--rotate", "10", "--seed", "3", "-j", "1")
    assert lists_of(tmp_path / "one") == lists
    augcli("replay", tmp_path / "out" / "manifest.jsonl", "--output", tmp_path / "again")
    got, want = tree_bytes(tmp_path / "again"), tree_bytes(tmp_path / "out")
    del want["manifest.jsonl"]  # replay writes no manifest of its own
    assert got == want


def test_a_source_that_fails_is_in_no_list(tmp_path):
    inp = voc(tmp_path / "in", broken=True)
    res = augcli("expand", inp, tmp_path / "out", "-n", "1", "--seed", "3", "-j", "1", expect=1)
    assert "2007_000002.jpg" in res.stderr
    lists = lists_of(tmp_path / "out")
    assert lists["ImageSets/Main/val.txt"] == ""
    assert lists["ImageSets/Main/cat_train.txt"] == "2007_000000_0 -1\n2007_000001_0  1\n"


@pytest.mark.parametrize("flags", [("--labels-output", "yolo"), ("--layout", "webdataset")])
def test_outputs_without_a_voc_tree_say_the_lists_are_not_carried(tmp_path, flags):
    inp = voc(tmp_path / "in")
    res = augcli("expand", inp, tmp_path / "out", "-n", "1", "--seed", "3", "-j", "1", *flags)
    assert "4 VOC image-set lists (ImageSets/) are not carried" in res.stderr
    assert not list((tmp_path / "out").rglob("ImageSets"))


def test_a_list_replaced_by_a_fifo_during_the_run_is_a_failure_not_a_hang(tmp_path, monkeypatch):
    from augcli.labels import voc_lists as VL

    inp = voc(tmp_path / "in")
    lists = VL.ImageSets([f"{ROOT}/ImageSets/Main/val.txt"], inp, tmp_path / "out")
    lists.add({"source": f"{ROOT}/JPEGImages/2007_000002.jpg", "output": f"{ROOT}/JPEGImages/2007_000002_0.jpg",
               "status": "ok"})
    target = inp / ROOT / "ImageSets" / "Main" / "val.txt"
    target.unlink()
    import os

    os.mkfifo(target)
    with pytest.raises(VL.ListUnreadable, match="val.txt: not a regular file"):
        lists.payloads()


def test_split_says_the_input_lists_are_replaced_by_its_own(tmp_path):
    inp = voc(tmp_path / "in")
    res = augcli("split", inp, tmp_path / "sp", "--ratios", "0.7,0.3", "-j", "1", "--hash-distance", "0")
    assert "the input's 4 VOC image-set lists" in res.stderr and "are replaced by ImageSets/Main/<split>.txt" in res.stderr
    made = lists_of(tmp_path / "sp")
    assert sorted(made) == ["ImageSets/Main/train.txt", "ImageSets/Main/val.txt"]
    assert sorted("".join(made.values()).split()) == ["2007_000000", "2007_000001", "2007_000002"]


def test_tiles_are_listed_under_their_image_id(tmp_path):
    inp = voc(tmp_path / "in")
    augcli("tile", inp, tmp_path / "out", "--size", "24", "-j", "1")
    out = tmp_path / "out" / ROOT
    ids = (out / "ImageSets" / "Main" / "val.txt").read_text().split()
    assert ids and all(i.startswith("2007_000002_x") for i in ids)
    assert sorted(ids) == sorted(p.stem for p in (out / "JPEGImages").glob("2007_000002_*.jpg"))
    assert all((out / "Annotations" / f"{i}.xml").is_file() for i in ids)


def test_a_list_replaced_before_the_merge_is_named_by_augcli_merge(tmp_path):
    import os

    inp = voc(tmp_path / "in")
    for i in range(2):
        augcli("expand", inp, tmp_path / "out", "-n", "1", "--seed", "3", "-j", "1", "--buckets", "4",
               "--shard", f"{i}/2", "-q")
    assert lists_of(tmp_path / "out")["ImageSets/Main/val.txt"] == "2007_000002_0\n"  # the last shard wrote them
    target = inp / ROOT / "ImageSets" / "Main" / "val.txt"
    target.unlink()
    os.mkfifo(target)
    res = augcli("merge", tmp_path / "out", expect=2)
    assert "ImageSets/Main/val.txt: not a regular file; the image-set list is not written" in res.stderr
