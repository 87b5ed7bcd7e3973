"""split, tile, expand and audit together: tiles stay with their source through split, the
split -> expand -> audit recipe, and --labels-output on tile and split."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from .splitdata import field, folders, records, save


def augcli(*args, expect=0):
    res = subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == expect, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    return res


def _tile_source(rel: str) -> str:
    stem = PurePosixPath(rel).stem
    return stem[: stem.index("_x")]


@pytest.mark.parametrize("manifest", [True, False])
def test_tiles_of_augcli_tile_stay_with_their_source(tmp_path, manifest):
    inp = folders(tmp_path / "in", {"a": 6})
    tiles = tmp_path / "tiles"
    augcli("tile", inp, tiles, "--size", "32", "--overlap", "0", "-j", "1", "-q",
           *(() if manifest else ("--no-manifest",)))
    assert len(list(tiles.rglob("*.png"))) == 24
    for seed in range(3):
        out = tmp_path / f"split{seed}"
        augcli("split", tiles, out, "--ratios", "0.5,0.5", "--seed", seed, "-j", "1")
        where: dict[str, set] = {}
        for r in records(out):
            where.setdefault(_tile_source(r["source"]), set()).add(r["split"])
        assert len(where) == 6 and all(len(s) == 1 for s in where.values()), where


def test_tile_manifest_names_the_source_when_the_names_do_not(tmp_path):
    # tiles of one source renamed so their names no longer say it: the manifest still does
    inp = folders(tmp_path / "in", {"a": 4})
    tiles = tmp_path / "tiles"
    augcli("tile", inp, tiles, "--size", "32", "--overlap", "0", "-j", "1", "-q", "--prefix", "t")
    man = tiles / "manifest.jsonl"
    lines = man.read_text().splitlines()
    renamed = [lines[0]]
    for k, line in enumerate(lines[1:]):
        rec = json.loads(line)
        new = f"a/tile{k:03d}.png"
        (tiles / rec["output"]).rename(tiles / new)
        rec["output"] = new
        renamed.append(json.dumps(rec, sort_keys=True))
    man.write_text("\n".join(renamed) + "\n")
    out = tmp_path / "split"
    augcli("split", tiles, out, "--ratios", "0.5,0.5", "-j", "1")
    by_output = {json.loads(x)["output"]: json.loads(x)["source"] for x in renamed[1:]}
    where: dict[str, set] = {}
    for r in records(out):
        where.setdefault(by_output[r["source"]], set()).add(r["split"])
    assert len(where) == 4 and all(len(s) == 1 for s in where.values()), where
    assert len({next(iter(s)) for s in where.values()}) == 2  # both splits got sources


def test_split_expand_audit_recipe(tmp_path):
    # the README recipe: split, expand the training split beside it, audit; then a planted leak
    inp = folders(tmp_path / "in", {"a": 6, "b": 6})
    splits = tmp_path / "splits"
    augcli("split", inp, splits, "--ratios", "0.5,0.25,0.25", "--seed", "1", "-j", "1")
    augcli("expand", splits / "train", splits / "train-aug", "-n", "2", "--hflip", "--rotate", "20", "--seed", "1",
           "-j", "1", "-q")
    res = augcli("audit", splits, "-j", "1", "--json")
    got = json.loads(res.stdout)
    assert got["leaks"] == [] and got["splits"] == {"test": 3, "train": 18, "val": 3}
    assert sum(p["kind"] == "source" for p in got["within"]) == 12  # every output found with its source
    augcli("expand", splits / "val", splits / "train-leak", "-n", "1", "--rotate", "20", "--seed", "2", "-j", "1",
           "-q")
    res = augcli("audit", splits, "-j", "1", "--json", expect=1)
    leaks = json.loads(res.stdout)["leaks"]
    assert {(p["split_a"], p["split_b"]) for p in leaks if p["kind"] == "source"} == {("train", "val")}
    assert sorted(p["a"] for p in leaks if p["kind"] == "source") == sorted(
        p.relative_to(splits).as_posix() for p in (splits / "train-leak").rglob("*.png"))


def _yolo_seg(root: Path, n: int) -> Path:
    """YOLO images 96x64 with a box row and a polygon row each (a polygon VOC cannot hold)."""
    for i in range(n):
        save(field(i, 96, 64), root / "images" / f"im{i}.png")
        lab = root / "labels" / f"im{i}.txt"
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text(f"{i % 2} 0.25 0.5 0.2 0.3\n1 0.6 0.3 0.9 0.3 0.75 0.8\n")
    (root / "data.yaml").write_text("names: [cat, dog]\n")
    return root


def _load_coco(path: Path):
    from pycocotools.coco import COCO

    coco = COCO(str(path))
    for ann in coco.loadAnns(coco.getAnnIds()):
        im = coco.imgs[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        assert 0 <= x and 0 <= y and x + w <= im["width"] + 1e-6 and y + h <= im["height"] + 1e-6
    return coco


def test_tile_labels_output_coco_loads_in_pycocotools(tmp_path):
    inp = _yolo_seg(tmp_path / "in", 3)
    out = tmp_path / "tiles"
    augcli("tile", inp, out, "--size", "48x32", "--overlap", "0", "-j", "1", "-q", "--labels-output", "coco")
    coco = _load_coco(out / "images" / "_annotations.coco.json")
    tiles = sorted(p.name for p in (out / "images").glob("*.png"))
    assert len(tiles) == 12 and sorted(im["file_name"] for im in coco.imgs.values()) == tiles
    kept = sum(json.loads(x)["labels"]["out"] for x in (out / "manifest.jsonl").read_text().splitlines()[1:])
    assert len(coco.getAnnIds()) == kept > 0
    assert not list(out.rglob("*.txt"))  # the labels are COCO's only


def test_tile_lossy_labels_output_needs_allow_lossy(tmp_path):
    inp = _yolo_seg(tmp_path / "in", 2)
    res = augcli("tile", inp, tmp_path / "voc", "--size", "48", "-j", "1", "-q", "--labels-output", "voc", expect=2)
    assert "--allow-lossy" in res.stderr and "polygons" in res.stderr
    assert not (tmp_path / "voc").exists() or not any((tmp_path / "voc").rglob("*.*"))
    augcli("tile", inp, tmp_path / "voc2", "--size", "48", "-j", "1", "-q", "--labels-output", "voc", "--allow-lossy")
    assert len(list((tmp_path / "voc2").rglob("*.xml"))) == len(list((tmp_path / "voc2").rglob("*.png"))) > 2


def test_split_writes_its_labels_in_another_format(tmp_path):
    inp = _yolo_seg(tmp_path / "in", 10)
    augcli("split", inp, tmp_path / "out", "--ratios", "0.6,0.2,0.2", "-j", "1", "--labels-output", "coco")
    sizes = {name: len(_load_coco(next((tmp_path / "out").rglob(f"{name}/**/_annotations.coco.json"))).imgs)
             for name in ("train", "val", "test")}
    assert sizes == {"train": 6, "val": 2, "test": 2}
    # every image as it was, under its own name; the assignment kept; no staging folder left
    for p in (tmp_path / "out").rglob("*.png"):
        assert p.read_bytes() == (inp / "images" / p.name).read_bytes()
    assert (tmp_path / "out" / "split.jsonl").exists() and not list(tmp_path.glob(".out.splitting-*"))
    # a lossy conversion is refused before anything stays behind
    res = augcli("split", inp, tmp_path / "voc", "--labels-output", "voc", expect=2)
    assert "--allow-lossy" in res.stderr and not any((tmp_path / "voc").rglob("*.png"))
    assert not list(tmp_path.glob(".voc.splitting-*"))
    res = augcli("split", inp, tmp_path / "x", "--allow-lossy", expect=2)
    assert "--allow-lossy needs --labels-output" in res.stderr


def test_split_says_when_a_large_group_keeps_it_off_its_ratios(tmp_path):
    import numpy as np
    from PIL import Image

    base = np.asarray(field(7)).astype(np.int16)
    rng = np.random.default_rng(0)
    for i in range(12):  # frames of one scene: all near duplicates, so one group
        im = np.clip(base + rng.integers(-2, 3, base.shape), 0, 255).astype(np.uint8)
        save(Image.fromarray(im), tmp_path / "in" / "scene" / f"f{i:02d}.png")
    folders(tmp_path / "in", {"other": 4}, start=50)
    res = augcli("split", tmp_path / "in", tmp_path / "out", "--ratios", "0.5,0.5", "-j", "1")
    line = next(x for x in res.stderr.splitlines() if "warning" in x)
    assert line.startswith("augcli: warning: split: groups are never divided, and the largest has 12 of 16 "
                           "images, so the splits are off their ratios (")
    assert "12 of 8" in line and "4 of 8" in line
    res = augcli("split", tmp_path / "in", tmp_path / "out2", "--ratios", "0.5,0.5", "--group", "none", "-j", "1")
    assert "warning" not in res.stderr


def test_audit_finds_tiles_of_one_source_in_two_splits(tmp_path):
    # a split made by a tool that knows nothing of tiles: overlapping tiles of one source on both sides
    inp = folders(tmp_path / "in", {"a": 3})
    tiles = tmp_path / "tiles"
    augcli("tile", inp, tiles, "--size", "40x30", "--overlap", "0.3", "-j", "1", "-q", "--no-manifest")
    ds = tmp_path / "ds"
    for k, p in enumerate(sorted((tiles / "a").glob("*.png"))):
        dest = ds / ("train" if k % 2 == 0 else "val") / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
    res = augcli("audit", ds, "-j", "1", "--json", expect=1)
    leaks = json.loads(res.stdout)["leaks"]
    tile_leaks = [p for p in leaks if p["kind"] == "tile"]
    assert tile_leaks and {_tile_source(p["a"]) for p in tile_leaks} == {"a000", "a001", "a002"}
    assert all(_tile_source(p["a"]) == _tile_source(p["b"]) and p["split_a"] != p["split_b"] for p in tile_leaks)
    # split keeps them together, and then the audit is clean
    augcli("split", tiles, tmp_path / "ok", "--ratios", "0.5,0.5", "-j", "1")
    got = json.loads(augcli("audit", tmp_path / "ok", "-j", "1", "--json").stdout)
    assert got["leaks"] == []


def test_split_of_an_expanded_dataset_keeps_each_sources_copies_together(tmp_path):
    # augmenting before splitting: the expand manifest says which outputs came from one source,
    # however far the augmentation moved them from it
    inp = folders(tmp_path / "in", {"a": 6, "b": 6})
    aug = tmp_path / "aug"
    augcli("expand", inp, aug, "-n", "3", "--include-originals", "--rotate", "90", "--vflip", "--zoom", "0.4",
           "--seed", "3", "-j", "1", "-q")
    source_of = {json.loads(x)["output"]: json.loads(x)["source"]
                 for x in (aug / "manifest.jsonl").read_text().splitlines()[1:]}
    for seed in range(3):
        out = tmp_path / f"split{seed}"
        augcli("split", aug, out, "--ratios", "0.5,0.25,0.25", "--seed", seed, "-j", "1")
        where: dict[str, set] = {}
        for r in records(out):
            where.setdefault(source_of[r["source"]], set()).add(r["split"])
        assert len(where) == 12 and all(len(s) == 1 for s in where.values()), where
    out = tmp_path / "nosource"
    augcli("split", aug, out, "--group", "near-duplicate", "--group", "tile", "--seed", "1", "-j", "1")
    assert json.loads((out / "split.jsonl").read_text().splitlines()[0])["group"] == ["near-duplicate", "tile"]


def test_split_joins_a_source_to_outputs_of_a_run_started_elsewhere(tmp_path):
    # the manifest's input folder is relative to where expand ran, not to the manifest
    ds = tmp_path / "ds"
    folders(ds / "orig", {"a": 8})
    subprocess.run([sys.executable, "-m", "augcli", "expand", "orig", "aug", "-n", "2", "--rotate", "90", "--seed",
                    "1", "-j", "1", "-q"], cwd=ds, check=True, timeout=300)
    assert json.loads((ds / "aug/manifest.jsonl").read_text().splitlines()[0])["config"]["input_dir"] == "orig"
    for seed in range(3):
        out = tmp_path / f"split{seed}"
        augcli("split", ds, out, "--ratios", "0.5,0.5", "--seed", seed, "-j", "1")
        where: dict[str, set] = {}
        for r in records(out):
            where.setdefault(PurePosixPath(r["source"]).stem.split("_")[0], set()).add(r["split"])
        assert len(where) == 8 and all(len(s) == 1 for s in where.values()), where
