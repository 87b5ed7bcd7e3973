"""--crop-mode bbox-safe and at-least-one: crops drawn from where the source's objects are.
Property tests on generated datasets (every format's shapes), the grown crop, no objects = random,
replay by the record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import cli
from augcli.ops import Crop

from .conftest import pattern, records, tree_bytes


def run(*args, expect=0, command="expand"):
    res = CliRunner().invoke(cli, [command, *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def _row(kind: str, rng: np.random.Generator) -> str:
    """One YOLO row of ``kind`` with a random small object somewhere in the image."""
    cx, cy = rng.uniform(0.12, 0.88, 2)
    w, h = rng.uniform(0.08, 0.2, 2)  # a few pixels at least: a sliver that fills no pixel is dropped anyway
    if kind == "detect":
        return f"{rng.integers(0, 3)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"
    if kind == "pose":
        kx, ky = cx + rng.uniform(-w, w) / 2, cy + rng.uniform(-h, h) / 2
        return f"0 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f} {kx:.6f} {ky:.6f} 2"
    angles = rng.uniform(0, 2 * np.pi) + np.arange(5) * 2 * np.pi / 5 + rng.uniform(-0.3, 0.3, 5)
    if kind == "obb":  # a rotated rectangle
        t = rng.uniform(0, np.pi)
        c, s = np.cos(t), np.sin(t)
        pts = [(cx + (dx * w * c - dy * h * s) / 2, cy + (dx * w * s + dy * h * c) / 2)
               for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    else:
        pts = [(cx + np.cos(a) * w / 2, cy + np.sin(a) * h / 2) for a in angles]
    return f"{rng.integers(0, 3)} " + " ".join(f"{x:.6f} {y:.6f}" for x, y in pts)


def make_dataset(root: Path, kind: str, seed: int, n_images: int = 6) -> Path:
    rng = np.random.default_rng(seed)
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    for i in range(n_images):
        size = (int(rng.integers(60, 140)), int(rng.integers(60, 140)))
        pattern(*size, seed=i).save(root / f"images/train/im{i}.png")
        rows = [_row(kind, rng) for _ in range(int(rng.integers(1, 6)))]
        (root / f"labels/train/im{i}.txt").write_text("\n".join(rows) + "\n")
    data = {"path": ".", "train": "images/train", "names": ["a", "b", "c"]}
    if kind == "pose":
        data["kpt_shape"], data["flip_idx"] = [1, 3], [0]
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    return root


@pytest.mark.parametrize("kind", ["detect", "segment", "obb", "pose"])
@pytest.mark.parametrize("seed", [1, 2])
def test_bbox_safe_keeps_every_object_whole_in_every_output(tmp_path, kind, seed):
    inp = make_dataset(tmp_path / "in", kind, seed)
    extra = ["--labels", "yolo-obb"] if kind == "obb" else []
    out = tmp_path / "out"
    run(inp, out, "--crop", "0.2:0.6", "--crop-mode", "bbox-safe", "--rot90", "--hflip", "-n", "4",
        "--seed", seed, "-j", "1", "--min-size", "0", *extra)
    recs = records(out)
    assert len(recs) == 24
    grown = 0
    for r in recs:
        lab = r["labels"]
        assert lab["out"] == lab["in"] > 0 and lab["clipped"] == 0, (r["output"], lab)
        assert not any(lab["dropped"].values())
        box = next(s for s in r["ops"] if s["op"] == "crop")["box"]
        canvas = r["size"] if r["ops"][0].get("k", 0) % 2 == 0 else r["size"][::-1]
        grown += box[2] > round(0.6 * canvas[0])
    assert grown < len(recs)  # most crops are of the drawn size: small objects fit


@pytest.mark.parametrize("kind", ["detect", "segment"])
def test_at_least_one_keeps_one_object_whole(tmp_path, kind):
    inp = make_dataset(tmp_path / "in", kind, 7)
    out = tmp_path / "out"
    run(inp, out, "--crop", "0.2:0.4", "--crop-mode", "at-least-one", "-n", "5", "--seed", "3", "-j", "1",
        "--min-size", "0")
    for r in records(out):
        lab = r["labels"]
        assert lab["out"] - lab["clipped"] >= 1, (r["output"], lab)


def test_an_object_larger_than_the_drawn_crop_grows_it_and_the_record_says_so(tmp_path):
    root = tmp_path / "in"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    pattern(100, 50).save(root / "images/a.png")
    (root / "labels/a.txt").write_text("0 0.500000 0.500000 0.600000 0.400000\n")  # 60x20 px at (20, 15)
    run(root, tmp_path / "out", "--crop", "0.3:0.3", "--crop-mode", "bbox-safe", "-n", "3", "--seed", "1",
        "-j", "1")
    for r in records(tmp_path / "out"):
        left, top, bw, bh = r["ops"][0]["box"]
        assert (bw, bh) == (60, 30)  # the smallest box of the image's aspect holding 60 x 20
        assert left <= 20 and left + bw >= 80 and top <= 15 and top + bh >= 35
        assert r["labels"]["clipped"] == 0


def test_without_objects_the_modes_are_random(tmp_path):
    root = tmp_path / "in"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    pattern(80, 60).save(root / "images/a.png")
    pattern(80, 60, seed=1).save(root / "images/b.png")
    (root / "labels/a.txt").write_text("")  # labelled, no objects; b has no label file
    plans = {}
    for mode in ("random", "bbox-safe", "at-least-one"):
        run(root, tmp_path / mode, "--crop", "0.5", "--crop-mode", mode, "-n", "3", "--seed", "5", "-j", "1")
        plans[mode] = [r["ops"] for r in records(tmp_path / mode)]
    assert plans["random"] == plans["bbox-safe"] == plans["at-least-one"]


def test_sample_without_objects_draws_as_random_and_with_them_holds_them():
    rng = lambda: np.random.default_rng(9)  # noqa: E731
    random = Crop(scale_range=(0.4, 0.9)).sample(rng(), (90, 70))
    assert Crop(scale_range=(0.4, 0.9), mode="bbox-safe").sample(rng(), (90, 70)) == random
    assert Crop(scale_range=(0.4, 0.9), mode="bbox-safe").sample(rng(), (90, 70), objects=[]) == random
    for seed in range(200):
        objs = [(10.2, 5.5, 20.7, 9.1), (40.0, 50.0, 44.5, 69.9)]
        left, top, bw, bh = Crop(scale_range=(0.1, 1.0), mode="bbox-safe").sample(
            np.random.default_rng(seed), (90, 70), objects=objs)["box"]
        assert 0 <= left and left + bw <= 90 and 0 <= top and top + bh <= 70
        assert left <= 10 and left + bw >= 45 and top <= 5 and top + bh >= 70


def test_replay_of_bbox_safe_is_byte_identical(tmp_path):
    inp = make_dataset(tmp_path / "in", "segment", 4, n_images=3)
    out = tmp_path / "out"
    run(inp, out, "--crop", "0.3:0.7", "--crop-mode", "bbox-safe", "--rotate", "5", "-n", "3", "--seed", "2",
        "-j", "1")
    run(out / "manifest.jsonl", "--output", tmp_path / "again", command="replay")
    want = {k: v for k, v in tree_bytes(out).items() if k != "manifest.jsonl"}
    got = {k: v for k, v in tree_bytes(tmp_path / "again").items() if k in want}
    assert got == want and len(want) >= 18


def test_bbox_safe_with_coco_polygons_keypoints_and_rle(tmp_path):
    from .test_labels_coco import make

    inp = make(tmp_path / "in", n_images=2)
    out = tmp_path / "out"
    run(inp, out, "--crop", "0.2:0.5", "--crop-mode", "bbox-safe", "--rot90", "-n", "4", "--seed", "8", "-j", "1")
    for r in records(out):
        lab = r["labels"]
        assert lab["out"] == lab["in"] == 3 and lab["clipped"] == 0 and lab["keypoints_hidden"] == 0, lab
