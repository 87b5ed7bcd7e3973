"""Output layouts read back with the real readers: ``--layout hf`` loads with
``datasets.load_dataset("imagefolder", data_dir=OUT)`` (row counts, class names, objects per image
equal to the tree layout's label files, image bytes identical to the tree run of the same seed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import cli

from .conftest import pattern, tree_bytes

datasets = pytest.importorskip("datasets")

ROWS = {"a": "0 0.2 0.25 0.2 0.3\n1 0.5 0.5 0.2 0.2\n", "b": "1 0.6 0.5 0.3 0.3\n", "c": "", "bg": None}


def run(*args, expect=0):
    res = CliRunner().invoke(cli, ["expand", *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def make_yolo(root: Path) -> Path:
    for sub in ("images/train", "labels/train"):
        (root / sub).mkdir(parents=True)
    for i, (name, text) in enumerate(ROWS.items()):
        pattern(100, 50, seed=i).save(root / "images/train" / f"{name}.png")
        if text is not None:
            (root / "labels/train" / f"{name}.txt").write_text(text)
    (root / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images/train", "val": "images/train",
                                                    "names": ["cat", "dog"]}))
    return root


def load(out: Path, tmp_path: Path):
    return datasets.load_dataset("imagefolder", data_dir=str(out), cache_dir=str(tmp_path / "hf-cache"))


def yolo_pixels(text: str, w: int, h: int) -> list[tuple[int, list[float]]]:
    rows = []
    for line in text.splitlines():
        c, cx, cy, bw, bh = line.split()
        cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
        rows.append((int(c), [cx - bw / 2, cy - bh / 2, bw, bh]))
    return rows


OPS = ("--rotate", "20", "--hflip", "-n", "2", "--seed", "3")


def test_hf_detection_loads_with_objects_equal_to_the_label_files(tmp_path):
    inp = make_yolo(tmp_path / "in")
    run(inp, tmp_path / "tree", *OPS, "-j", "1")
    run(inp, tmp_path / "hf", *OPS, "-j", "1", "--layout", "hf")
    run(inp, tmp_path / "hf2", *OPS, "-j", "2", "--layout", "hf")
    tree, hf = tree_bytes(tmp_path / "tree"), tree_bytes(tmp_path / "hf")
    meta = "images/train/metadata.jsonl"  # inside the split folder: a split sees only its own metadata
    assert set(hf) - set(tree) == {meta}
    assert all(hf[k] == v for k, v in tree.items() if k != "manifest.jsonl")  # image and label bytes
    hf2 = tree_bytes(tmp_path / "hf2")
    assert hf2.pop("manifest.jsonl") and {k: v for k, v in hf.items() if k != "manifest.jsonl"} == hf2  # -j1 = -j2
    lines = hf[meta].decode().splitlines()
    assert lines == sorted(lines) and all(line.startswith('{"file_name": ') for line in lines)

    ds = load(tmp_path / "hf", tmp_path)
    assert list(ds) == ["train"]
    rows = ds["train"]
    images = sorted(k for k in tree if k.endswith(".png"))
    assert len(rows) == len(images) == 8
    for row, rel in zip(rows, images):
        assert Path(row["image"].filename).as_posix().endswith(rel)
        w, h = row["image"].size
        label = tmp_path / "tree" / rel.replace("images/", "labels/", 1).replace(".png", ".txt")
        want = yolo_pixels(label.read_text(), w, h) if label.exists() else []
        got = list(zip(row["objects"]["categories"], row["objects"]["bbox"]))
        assert len(got) == len(want), rel
        for (c1, b1), (c2, b2) in zip(got, want):
            assert c1 == c2 and b1 == pytest.approx(b2, abs=0.01 * max(w, h))
    assert sum(len(r["objects"]["bbox"]) for r in rows) == 6  # a: 2, b: 1, per copy


def test_hf_bucketed_shards_write_the_same_metadata_as_one_machine(tmp_path):
    inp = make_yolo(tmp_path / "in")
    run(inp, tmp_path / "one", *OPS, "--layout", "hf")
    for i in (1, 0):
        run(inp, tmp_path / "sharded", *OPS, "--layout", "hf", "--shard", f"{i}/2", "--buckets", "4")
    one, sharded = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "sharded")
    assert sharded["images/train/metadata.jsonl"] == one["images/train/metadata.jsonl"]
    assert {k: v for k, v in sharded.items() if k != "manifest.jsonl"} == \
        {k: v for k, v in one.items() if k != "manifest.jsonl"}
    assert len(load(tmp_path / "sharded", tmp_path)["train"]) == 8


def test_hf_classification_folders_are_the_labels(tmp_path):
    inp = tmp_path / "in"
    for i, cls in enumerate(("cats", "dogs", "owls")):
        (inp / cls).mkdir(parents=True)
        for j in range(2):
            pattern(40, 30, seed=3 * i + j).save(inp / cls / f"{j}.jpg", quality=90)
    run(inp, tmp_path / "tree", *OPS)
    run(inp, tmp_path / "hf", *OPS, "--layout", "hf")
    hf = tree_bytes(tmp_path / "hf")
    assert not any(k.endswith("metadata.jsonl") for k in hf)  # a metadata file would hide the class folders
    assert {k: v for k, v in hf.items() if k != "manifest.jsonl"} == \
        {k: v for k, v in tree_bytes(tmp_path / "tree").items() if k != "manifest.jsonl"}
    rows = load(tmp_path / "hf", tmp_path)["train"]
    assert len(rows) == 12
    assert rows.features["label"].names == ["cats", "dogs", "owls"]
    assert sorted(rows["label"]) == [0] * 4 + [1] * 4 + [2] * 4


def test_the_manifest_never_holds_the_objects_handed_to_the_sink(tmp_path):
    inp = make_yolo(tmp_path / "in")
    run(inp, tmp_path / "tree", *OPS)
    run(inp, tmp_path / "hf", *OPS, "--layout", "hf")
    for out in ("tree", "hf"):
        assert b"_objects" not in (tmp_path / out / "manifest.jsonl").read_bytes()
