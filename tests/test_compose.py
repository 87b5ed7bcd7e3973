"""Outputs made from several images (augcli/compose.py): mosaic, mixup and cutmix, their labels,
their records, replay, and equality across engines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from augcli.compose import Compose, PartnerPlan, build_image, check_steps, plan_steps

from .conftest import records, tree_bytes
from .test_engines import DATASETS, augcli

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200),
           (120, 60, 10), (10, 60, 120), (90, 90, 90)]


def flat(root: Path, n: int = 9, size=(64, 48), folder: str = "") -> list[str]:
    (root / folder).mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        name = f"{folder}/f{i}.png" if folder else f"f{i}.png"
        Image.new("RGB", size, COLOURS[i % len(COLOURS)]).save(root / name)
        names.append(name)
    return names


def colour_of(rel: str) -> tuple[int, int, int]:
    return COLOURS[int(Path(rel).stem[1:]) % len(COLOURS)]


# ---------------------------------------------------------------------------------------------------
# known answers on flat-colour images


@pytest.mark.parametrize("grid", ["2x2", "3x3"])
def test_each_mosaic_tile_shows_its_sources_colour(tmp_path, grid):
    flat(tmp_path / "in")
    augcli("expand", "in", "out", "-n", "3", "--mosaic", "1", "--mosaic-grid", grid, "--seed", "3", "--format",
           "png", "-q", cwd=tmp_path)
    recs = records(tmp_path / "out")
    assert len(recs) == 27
    for rec in recs:
        (step,) = rec["compose"]
        assert step["op"] == "mosaic" and len(step["tiles"]) == int(grid[0]) ** 2
        assert rec["sources"][0] == rec["source"]
        primary = [t for t in step["tiles"] if t["source"] == rec["source"]]
        assert primary, "the primary is one of the tiles"
        px = np.asarray(Image.open(tmp_path / "out" / rec["output"]))
        for t in step["tiles"]:
            x0, y0, x1, y1 = t["region"]
            ax, ay = t["at"]
            tw, th = t["size"]
            # the part of the region the tile covers holds the source's colour; the rest is grey 114
            cx0, cy0, cx1, cy1 = max(x0, ax), max(y0, ay), min(x1, ax + tw), min(y1, ay + th)
            if cx1 - cx0 >= 3 and cy1 - cy0 >= 3:
                centre = px[(cy0 + cy1) // 2, (cx0 + cx1) // 2]
                assert tuple(int(v) for v in centre) == colour_of(t["source"])
            m = t["matrix"]
            assert m[0][2] == ax and m[1][2] == ay
        uncovered = np.ones(px.shape[:2], bool)
        for t in step["tiles"]:
            x0, y0, x1, y1 = t["region"]
            ax, ay = t["at"]
            tw, th = t["size"]
            uncovered[max(y0, ay):min(y1, ay + th), max(x0, ax):min(x1, ax + tw)] = False
        assert (px[uncovered] == 114).all()


def test_a_mixup_pixel_is_the_recorded_blend(tmp_path):
    flat(tmp_path / "in")
    augcli("expand", "in", "out", "-n", "4", "--mixup", "1", "--mixup-alpha", "0.5", "--seed", "5", "--format",
           "png", "-q", cwd=tmp_path)
    weights = set()
    for rec in records(tmp_path / "out"):
        (step,) = rec["compose"]
        w = step["weight"]
        weights.add(w)
        want = np.array(colour_of(rec["source"])) * w + np.array(colour_of(step["source"])) * (1 - w)
        px = np.asarray(Image.open(tmp_path / "out" / rec["output"]), dtype=float)
        assert np.abs(px - want).max() <= 1.0
    assert len(weights) > 10  # Beta(0.5, 0.5) draws spread out


def test_a_cutmix_region_holds_the_partners_colour(tmp_path):
    flat(tmp_path / "in")
    augcli("expand", "in", "out", "-n", "3", "--cutmix", "1", "--seed", "2", "--format", "png", "-q", cwd=tmp_path)
    for rec in records(tmp_path / "out"):
        (step,) = rec["compose"]
        x0, y0, x1, y1 = step["region"]
        area = (x1 - x0) * (y1 - y0) / (64 * 48)
        assert 0.08 <= area <= 0.52
        px = np.asarray(Image.open(tmp_path / "out" / rec["output"]))
        inside = np.zeros(px.shape[:2], bool)
        inside[y0:y1, x0:x1] = True
        assert (px[inside] == colour_of(step["source"])).all()
        assert (px[~inside] == colour_of(rec["source"])).all()


def test_the_pipeline_runs_on_the_composite(tmp_path):
    flat(tmp_path / "in", 4)
    augcli("expand", "in", "out", "-n", "1", "--mosaic", "1", "--hflip", "--p", "hflip=1", "--seed", "1",
           "--format", "png", "-q", cwd=tmp_path)
    rec = records(tmp_path / "out")[0]
    step = rec["compose"][0]
    steps = step["tiles"]
    canvas = {r: Image.new("RGB", (64, 48), colour_of(r)) for r in {t["source"] for t in steps}}
    built = build_image(rec["compose"], canvas[rec["source"]], canvas)
    out = Image.open(tmp_path / "out" / rec["output"])
    assert np.array_equal(np.asarray(out), np.asarray(built)[:, ::-1])


# ---------------------------------------------------------------------------------------------------
# partners


def test_partners_come_from_the_block_of_the_same_folder():
    names = [f"a/{i:02d}.png" for i in range(40)] + [f"b/{i:02d}.png" for i in range(5)]
    plan = PartnerPlan(Compose(mosaic=1.0, window=8), 7, names)
    for rel in names:
        for copy in range(3):
            picks = plan.draw(rel, copy)["mosaic"]
            assert len(picks) == 3
            folder, i = rel.split("/")[0], int(rel.split("/")[1][:2])
            for p in picks:
                assert p.split("/")[0] == folder and p != rel
                assert int(p.split("/")[1][:2]) // 8 == i // 8
    # a pure function of the listing and the seed
    again = PartnerPlan(Compose(mosaic=1.0, window=8), 7, names)
    assert [again.draw(r, 1) for r in names] == [plan.draw(r, 1) for r in names]
    assert len({plan.block(r) for r in names}) == 5 + 1


def test_probabilities_are_honoured():
    names = [f"{i:03d}.png" for i in range(500)]
    plan = PartnerPlan(Compose(mosaic=0.3, cutmix=0.6), 1, names)
    picks = [plan.draw(r, 0) or {} for r in names]
    assert 0.24 < sum("mosaic" in p for p in picks) / 500 < 0.36
    assert 0.54 < sum("cutmix" in p for p in picks) / 500 < 0.66
    assert not any("mixup" in p for p in picks)


def test_a_source_alone_in_its_folder_is_its_own_partner():
    plan = PartnerPlan(Compose(mixup=1.0), 1, ["solo/a.png", "other/b.png"])
    assert plan.draw("solo/a.png", 0) == {"mixup": ["solo/a.png"]}


def test_a_mosaic_of_tiny_images_stays_inside_the_canvas():
    sizes = {"a": (3, 2), "b": (1, 1), "c": (500, 2), "d": (2, 500)}
    steps = plan_steps(Compose(mosaic=1.0), 1, "a", 0, {"mosaic": ["b", "c", "d"]}, sizes)
    assert check_steps(steps, (3, 2), 10**8) == ["a", "b", "c", "d"]
    images = {k: Image.new("RGB", v, (9, 9, 9)) for k, v in sizes.items()}
    assert build_image(steps, images["a"], images).size == (3, 2)


# ---------------------------------------------------------------------------------------------------
# labels


def yolo_boxes(path: Path) -> list[tuple[int, float, float, float, float]]:
    if not path.exists():
        return []
    return [tuple([int(v.split()[0])] + [float(x) for x in v.split()[1:]]) for v in path.read_text().splitlines()]


def test_yolo_boxes_follow_their_tiles(tmp_path):
    root = tmp_path / "in"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(6):
        im = Image.new("RGB", (80, 60), (20, 20, 20))
        im.paste(COLOURS[i], (20, 15, 60, 45))  # the object: the middle half, labelled as class i
        im.save(root / "images" / f"f{i}.png")
        (root / "labels" / f"f{i}.txt").write_text(f"{i} 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images", "names": list("abcdef")}))
    augcli("expand", "in", "out", "-n", "3", "--mosaic", "1", "--seed", "4", "--format", "png", "-q", cwd=tmp_path)
    for rec in records(tmp_path / "out"):
        rows = yolo_boxes(tmp_path / "out" / "labels" / (Path(rec["output"]).stem + ".txt"))
        for c, x, y, w, h in rows:  # Ultralytics' row rules: every value in [0, 1], not empty
            assert all(0 <= v <= 1 for v in (x, y, w, h)) and w > 0 and h > 0 and 0 <= c < 6
            assert -1e-6 <= x - w / 2 and x + w / 2 <= 1 + 1e-6 and -1e-6 <= y - h / 2 and y + h / 2 <= 1 + 1e-6
        want = []
        for t in rec["compose"][0]["tiles"]:
            m = t["matrix"]
            x0, y0, x1, y1 = t["region"]
            bx0, by0 = m[0][0] * 20 + m[0][2], m[1][1] * 15 + m[1][2]
            bx1, by1 = m[0][0] * 60 + m[0][2], m[1][1] * 45 + m[1][2]
            cx0, cy0, cx1, cy1 = max(bx0, x0), max(by0, y0), min(bx1, x1), min(by1, y1)
            if cx1 - cx0 >= 1 and cy1 - cy0 >= 1:
                want.append((int(Path(t["source"]).stem[1:]), cx0, cy0, cx1, cy1))
        got = [(c, (x - w / 2) * 80, (y - h / 2) * 60, (x + w / 2) * 80, (y + h / 2) * 60) for c, x, y, w, h in rows]
        assert sorted(c for c, *_ in got) == sorted(c for c, *_ in want)
        for g in got:
            match = [w for w in want if w[0] == g[0] and np.allclose(w[1:], g[1:], atol=1e-3)]
            assert match, (g, want)
        # and the pixels agree: each box's middle holds its class's colour
        px = np.asarray(Image.open(tmp_path / "out" / rec["output"]))
        for c, a, b, x, y in got:
            assert tuple(px[int((b + y) / 2), int((a + x) / 2)]) == COLOURS[c]


def test_cutmix_drops_a_covered_object_and_adds_the_partners(tmp_path):
    root = tmp_path / "in"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(4):
        Image.new("RGB", (100, 100), COLOURS[i]).save(root / "images" / f"f{i}.png")
        (root / "labels" / f"f{i}.txt").write_text(f"{i} 0.5 0.5 0.04 0.04\n")  # a small box in the middle
    (root / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images", "names": list("abcd")}))
    augcli("expand", "in", "out", "-n", "8", "--cutmix", "1", "--seed", "1", "--format", "png", "-q", cwd=tmp_path)
    covered = 0
    for rec in records(tmp_path / "out"):
        (step,) = rec["compose"]
        x0, y0, x1, y1 = step["region"]
        inside = x0 <= 48 and y0 <= 48 and x1 >= 52 and y1 >= 52
        classes = sorted(c for c, *_ in yolo_boxes(tmp_path / "out" / "labels" / (Path(rec["output"]).stem + ".txt")))
        own, other = int(Path(rec["source"]).stem[1:]), int(Path(step["source"]).stem[1:])
        if inside:
            covered += 1
            assert classes == [other]  # the primary's box is under the patch; the partner's shows through it
            assert rec["labels"]["dropped"]["min_visibility"] >= 1
        elif x1 <= 48 or x0 >= 52 or y1 <= 48 or y0 >= 52:
            assert classes == [own]  # the partner's box lies outside the rectangle
    assert covered


@pytest.mark.parametrize("kind", ["yolo-detect", "yolo-segment", "yolo-pose", "yolo-obb", "voc", "coco", "masks"])
def test_every_label_kind_composes_and_replays(tmp_path, kind):
    make, extra = DATASETS[kind]
    make(tmp_path / "in")
    flags = ("--mosaic", "1", "--cutmix", "0.5", "--rotate", "10", "--seed", "9", "-q", *extra)
    augcli("expand", "in", "out", *flags, "-j", "2", cwd=tmp_path)
    ref = tree_bytes(tmp_path / "out")
    recs = records(tmp_path / "out")
    assert all(r["status"] == "ok" and r["compose"] for r in recs)
    labelled = [r for r in recs if r.get("labels")]
    assert labelled and any(len(r["sources"]) > 1 for r in labelled)
    if kind == "coco":
        from pycocotools.coco import COCO

        (ann,) = [k for k in ref if k.endswith(".json") and "manifest" not in k]
        coco = COCO(str(tmp_path / "out" / ann))
        assert len(coco.getImgIds()) == len(recs) and coco.getAnnIds()
    if kind == "masks":
        assert sum(k.startswith("masks/") for k in ref) == len(recs)
    # one worker, and the replay of the manifest, give the same bytes
    augcli("expand", "in", "one", *flags, "-j", "1", cwd=tmp_path)
    assert {k: v for k, v in tree_bytes(tmp_path / "one").items() if k != "manifest.jsonl"} == \
        {k: v for k, v in ref.items() if k != "manifest.jsonl"}
    augcli("replay", "out/manifest.jsonl", "--output", "again", "-q", cwd=tmp_path)
    again = tree_bytes(tmp_path / "again")
    assert again == {k: v for k, v in ref.items() if k != "manifest.jsonl"}


def test_shards_and_merge_equal_one_machine(tmp_path):
    make, extra = DATASETS["yolo-segment"]
    make(tmp_path / "in")
    flags = ("--mosaic", "0.7", "--mixup", "0.3", "--cutmix", "0.3", "--seed", "2", "--buckets", "4", "-q", *extra)
    augcli("expand", "in", "out", *flags, "-j", "2", cwd=tmp_path)
    ref = tree_bytes(tmp_path / "out")
    shutil.rmtree(tmp_path / "out")
    for i in range(2):
        augcli("expand", "in", "out", *flags, "--shard", f"{i}/2", cwd=tmp_path)
    augcli("merge", "out", "-q", cwd=tmp_path)
    assert tree_bytes(tmp_path / "out") == ref


# ---------------------------------------------------------------------------------------------------
# decodes, refusals, soft labels, untrusted records


def test_sources_are_decoded_about_once(tmp_path):
    flat(tmp_path / "in", 40, folder="a")
    res = augcli("expand", "in", "out", "-n", "4", "--mosaic", "1", "--mixup", "0.5", "--seed", "1", "-j", "2",
                 "--json", "-q", cwd=tmp_path)
    summary = json.loads(res.stdout)
    assert summary["written"] == 160
    assert summary["decoded"] >= 40 and summary["decodes_per_source"] <= 1.5
    assert "_decoded" not in (tmp_path / "out" / "manifest.jsonl").read_text()


def test_mixup_with_masks_is_refused(tmp_path):
    DATASETS["masks"][0](tmp_path / "in")
    res = augcli("expand", "in", "out", "--mixup", "1", "--seed", "1", cwd=tmp_path, expect=2)
    assert "mask cannot be blended" in res.stderr
    assert not (tmp_path / "out").exists()


def test_mixing_class_folders_needs_a_layout_that_holds_soft_labels(tmp_path):
    flat(tmp_path / "in", 4, folder="cats")
    flat(tmp_path / "in", 4, folder="dogs")
    res = augcli("expand", "in", "out", "--mixup", "1", "--mix-within", "dataset", "--seed", "1", cwd=tmp_path,
                 expect=2)
    assert "--layout hf" in res.stderr and not (tmp_path / "out").exists()
    augcli("expand", "in", "out", "--mixup", "1", "--mix-within", "dataset", "--seed", "1", "--layout",
           "webdataset", "--buckets", "1", "-q", cwd=tmp_path)
    import tarfile

    with tarfile.open(tmp_path / "out" / "shard-000000.tar") as tar:
        metas = [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json")]
    mixed = [m for m in metas if "class_weights" in m]
    assert mixed, "some outputs mix cats and dogs"
    for m in mixed:
        assert set(m["class_weights"]) == {"cats", "dogs"}
        assert abs(sum(m["class_weights"].values()) - 1) < 1e-5


def test_the_default_keeps_partners_in_their_class(tmp_path):
    flat(tmp_path / "in", 5, folder="cats")
    flat(tmp_path / "in", 5, folder="dogs")
    augcli("expand", "in", "out", "-n", "3", "--mosaic", "1", "--seed", "1", "-q", cwd=tmp_path)
    for rec in records(tmp_path / "out"):
        assert {Path(s).parent.name for s in rec["sources"]} == {Path(rec["source"]).parent.name}
        assert "class_weights" not in rec


@pytest.mark.parametrize("bad", [
    [{"op": "mosaic", "grid": 2, "tiles": []}],
    [{"op": "mixup", "source": "f1.png", "weight": 1.5}],
    [{"op": "cutmix", "source": "f1.png", "region": [0, 0, 999, 10]}],
    [{"op": "cutmix", "source": "../../etc/passwd", "region": [0, 0, 10, 10]}],
    [{"op": "explode"}],
    "mosaic",
])
def test_replay_refuses_a_composition_expand_cannot_make(tmp_path, bad):
    flat(tmp_path / "in", 3)
    augcli("expand", "in", "out", "--cutmix", "1", "--seed", "1", "-q", cwd=tmp_path)
    lines = (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()
    rec = json.loads(lines[1])
    rec["compose"] = bad
    (tmp_path / "m.jsonl").write_text("\n".join([lines[0], json.dumps(rec)]) + "\n")
    res = augcli("replay", "m.jsonl", "--output", "again", cwd=tmp_path, expect=1)
    assert "composition" in res.stderr or "composed source" in res.stderr
    assert not any((tmp_path / "again").rglob("*.png"))


def test_preview_shows_compositions_with_the_images_siblings(tmp_path):
    flat(tmp_path / "in", 4)
    augcli("preview", "in/f0.png", "--mosaic", "1", "--grid", "2x1", "--tile", "64", "--seed", "1", "-o", "p.png",
           cwd=tmp_path)
    sheet = np.asarray(Image.open(tmp_path / "p.png").convert("RGB")).reshape(-1, 3)
    present = {c for c in COLOURS[:4] if (sheet == c).all(axis=1).any()}
    assert COLOURS[0] in present and len(present) >= 3  # the image and partners from its folder
    assert (sheet == 114).all(axis=1).any() or len(present) == 4


# ---------------------------------------------------------------------------------------------------
# copy-paste


def segment_set(root: Path, n: int = 6) -> None:
    """Grey images, each with one square object of its own colour, labelled as a polygon."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        im = Image.new("RGB", (100, 80), (60, 60, 60))
        im.paste(COLOURS[i], (30, 20, 70, 60))
        im.save(root / "images" / f"f{i}.png")
        (root / "labels" / f"f{i}.txt").write_text(f"{i} 0.3 0.25 0.7 0.25 0.7 0.75 0.3 0.75\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images", "names": list("abcdef")}))


def test_a_pasted_polygon_holds_the_partners_object_and_is_labelled(tmp_path):
    segment_set(tmp_path / "in")
    augcli("expand", "in", "out", "-n", "4", "--copy-paste", "1", "--seed", "3", "--format", "png", "-q",
           cwd=tmp_path)
    pasted = 0
    for rec in records(tmp_path / "out"):
        (step,) = rec["compose"]
        assert step["op"] == "copy_paste" and rec["sources"] == [rec["source"], step["source"]]
        px = np.asarray(Image.open(tmp_path / "out" / rec["output"]))
        rows = yolo_boxes(tmp_path / "out" / "labels" / (Path(rec["output"]).stem + ".txt"))
        other = int(Path(step["source"]).stem[1:])
        for obj in step["objects"]:  # one object per partner here: the square (30, 20)-(70, 60)
            pasted += 1
            m = obj["matrix"]
            xs = sorted([m[0][0] * 30 + m[0][2], m[0][0] * 70 + m[0][2]])
            ys = [m[1][1] * 20 + m[1][2], m[1][1] * 60 + m[1][2]]
            inner = px[int(ys[0]) + 2:int(ys[1]) - 1, int(xs[0]) + 2:int(xs[1]) - 1]
            assert inner.size and (inner == COLOURS[other]).all()
            # its label is that square, in the output's pixels
            want = [other, (xs[0] + xs[1]) / 200, (ys[0] + ys[1]) / 160]
            assert any(r[0] == other and abs(np.mean(r[1::2]) - want[1]) < 1e-3 and
                       abs(np.mean(r[2::2]) - want[2]) < 1e-3 for r in rows), (rows, want)
    assert pasted


def test_copy_paste_hides_a_covered_object_and_replays(tmp_path):
    segment_set(tmp_path / "in")
    flags = ("-n", "6", "--copy-paste", "1", "--copy-paste-max", "1", "--seed", "1", "--min-visibility", "0.5",
             "--format", "png", "-q")
    augcli("expand", "in", "out", *flags, cwd=tmp_path)
    dropped = sum(r["labels"]["dropped"]["min_visibility"] for r in records(tmp_path / "out"))
    assert dropped, "some paste covers half the primary's square"
    for rec in records(tmp_path / "out"):
        n = len(yolo_boxes(tmp_path / "out" / "labels" / (Path(rec["output"]).stem + ".txt")))
        assert n == 2 - rec["labels"]["dropped"]["min_visibility"]
    augcli("replay", "out/manifest.jsonl", "--output", "again", "-q", cwd=tmp_path)
    ref = {k: v for k, v in tree_bytes(tmp_path / "out").items() if k != "manifest.jsonl"}
    assert tree_bytes(tmp_path / "again") == ref


def test_copy_paste_of_coco_polygons_loads_in_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    DATASETS["coco"][0](tmp_path / "in")
    augcli("expand", "in", "out", "-n", "2", "--copy-paste", "1", "--seed", "2", "-q", cwd=tmp_path)
    recs = records(tmp_path / "out")
    assert any(r["compose"][0]["objects"] for r in recs)
    coco = COCO(str(tmp_path / "out" / "annotations" / "instances_train.json"))
    assert len(coco.getImgIds()) == len(recs)
    assert len(coco.getAnnIds()) > 2 * len(recs)  # the images' own two objects, and pasted ones
    segmented = [a for a in coco.loadAnns(coco.getAnnIds()) if "segmentation" in a]
    assert len(segmented) > len(recs)
    for ann in segmented:
        assert coco.annToMask(ann).any()


def test_copy_paste_of_box_labels_says_it_pasted_nothing(tmp_path):
    """YOLO detect and COCO box labels pass the format check, but a box cannot be cut out: each
    output whose partner had nothing to paste is counted in the summary, never a quiet success."""
    segment_set(tmp_path / "in")
    for txt in (tmp_path / "in" / "labels").iterdir():  # the same squares as detect boxes
        txt.write_text(f"{txt.stem[1:]} 0.5 0.5 0.4 0.5\n")
    res = augcli("expand", "in", "out", "-n", "2", "--copy-paste", "1", "--seed", "1", "--json", cwd=tmp_path)
    summary = json.loads(res.stdout)
    assert summary["labels"]["paste_empty"] == 12 == summary["written"]
    res = augcli("expand", "in", "out2", "-n", "2", "--copy-paste", "1", "--seed", "1", cwd=tmp_path)
    assert "--copy-paste pasted nothing into 12 outputs" in res.stderr
    segment_set(tmp_path / "seg")
    res = augcli("expand", "seg", "out3", "-n", "2", "--copy-paste", "1", "--seed", "1", "--json", cwd=tmp_path)
    assert "paste_empty" not in json.loads(res.stdout)["labels"]


@pytest.mark.parametrize("kind", ["voc", "masks"])
def test_copy_paste_needs_outlines(tmp_path, kind):
    DATASETS[kind][0](tmp_path / "in")
    res = augcli("expand", "in", "out", "--copy-paste", "1", "--seed", "1", cwd=tmp_path, expect=2)
    assert "--copy-paste pastes whole objects" in res.stderr and not (tmp_path / "out").exists()


def test_hf_rows_carry_soft_labels_when_classes_mix(tmp_path):
    datasets = pytest.importorskip("datasets")
    flat(tmp_path / "in", 4, folder="cats")
    flat(tmp_path / "in", 4, folder="dogs")
    augcli("expand", "in", "out", "-n", "2", "--cutmix", "1", "--mix-within", "dataset", "--seed", "1",
           "--layout", "hf", "-q", cwd=tmp_path)
    ds = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "out"), split="train")
    assert len(ds) == 16
    mixed = [r["soft_label"] for r in ds if len(r["soft_label"]["classes"]) == 2]
    assert mixed and all(abs(sum(s["weights"]) - 1) < 1e-5 for s in mixed)
    assert {c for s in ds["soft_label"] for c in s["classes"]} == {"cats", "dogs"}


def test_require_with_compositions_is_refused(tmp_path):
    segment_set(tmp_path / "in")
    res = augcli("expand", "in", "out", "--mosaic", "1", "--require", "all", "--seed", "1", cwd=tmp_path, expect=2)
    assert "--require cannot be used with --mosaic" in res.stderr and not (tmp_path / "out").exists()


def test_dask_equals_one_machine(tmp_path):
    pytest.importorskip("distributed", reason="Dask is not installed (pip install 'augcli[dask]')")
    make, extra = DATASETS["coco"]
    make(tmp_path / "in")
    flags = ("--mosaic", "0.8", "--copy-paste", "0.5", "--seed", "4", "--buckets", "4", "-q", *extra)
    augcli("expand", "in", "out", *flags, "-j", "2", cwd=tmp_path)
    ref = tree_bytes(tmp_path / "out")
    augcli("expand", "in", "dask", *flags, "--executor", "dask", "-j", "2", cwd=tmp_path)
    got = tree_bytes(tmp_path / "dask")
    assert {k: v for k, v in got.items() if k != "manifest.jsonl"} == \
        {k: v for k, v in ref.items() if k != "manifest.jsonl"}


# ---------------------------------------------------------------------------------------------------
# every format: the labels written equal the labels recomputed from the record


def boxed_set(root: Path, fmt: str, n: int = 6) -> None:
    """Grey 80x60 images, each with one box (20, 15)-(60, 45) of its own colour, class i."""
    images = root / ("JPEGImages" if fmt == "voc" else "images")
    images.mkdir(parents=True)
    coco_images, coco_anns = [], []
    for i in range(n):
        im = Image.new("RGB", (80, 60), (60, 60, 60))
        im.paste(COLOURS[i], (20, 15, 60, 45))
        im.save(images / f"f{i}.png")
        if fmt == "voc":
            (root / "Annotations").mkdir(exist_ok=True)
            (root / "Annotations" / f"f{i}.xml").write_text(
                f"<annotation><filename>f{i}.png</filename><size><width>80</width><height>60</height><depth>3</depth>"
                f"</size><object><name>c{i}</name><bndbox><xmin>20</xmin><ymin>15</ymin><xmax>60</xmax>"
                f"<ymax>45</ymax></bndbox></object></annotation>")
        elif fmt == "masks":
            (root / "masks").mkdir(exist_ok=True)
            a = np.zeros((60, 80), np.uint8)
            a[15:45, 20:60] = i + 1
            Image.fromarray(a).save(root / "masks" / f"f{i}.png")
        else:
            coco_images.append({"id": i + 1, "file_name": f"f{i}.png", "width": 80, "height": 60})
            coco_anns.append({"id": i + 1, "image_id": i + 1, "category_id": i + 1, "bbox": [20, 15, 40, 30],
                              "area": 1200, "iscrowd": 0})
    if fmt == "coco":
        (root / "annotations").mkdir()
        (root / "annotations" / "instances.json").write_text(json.dumps(
            {"images": coco_images, "annotations": coco_anns,
             "categories": [{"id": i + 1, "name": f"c{i}"} for i in range(n)]}))


def expected_boxes(rec: dict) -> list[tuple[int, float, float, float, float]]:
    """Each tile's box through its placement, cut to its cell, then mirrored (--hflip at p 1)."""
    want = []
    w = rec["output_size"][0]
    for t in rec["compose"][0]["tiles"]:
        m = t["matrix"]
        x0, y0, x1, y1 = t["region"]
        bx0, by0, bx1, by1 = (max(m[0][0] * 20 + m[0][2], x0), max(m[1][1] * 15 + m[1][2], y0),
                              min(m[0][0] * 60 + m[0][2], x1), min(m[1][1] * 45 + m[1][2], y1))
        if bx1 - bx0 >= 1 and by1 - by0 >= 1:
            want.append((int(Path(t["source"]).stem[1:]), w - bx1, by0, w - bx0, by1))
    return sorted(want)


@pytest.mark.parametrize("fmt", ["voc", "coco", "masks"])
def test_labels_of_every_format_are_the_record_recomputed(tmp_path, fmt):
    import xml.etree.ElementTree as ET

    boxed_set(tmp_path / "in", fmt)
    augcli("expand", "in", "out", "-n", "3", "--mosaic", "1", "--hflip", "--p", "hflip=1", "--seed", "6",
           "--format", "png", "-q", cwd=tmp_path)  # masks/ beside images/: found as a mask layout
    recs = records(tmp_path / "out")
    coco = None
    if fmt == "coco":
        from pycocotools.coco import COCO

        coco = COCO(str(tmp_path / "out" / "annotations" / "instances.json"))
        names = {img["file_name"]: img["id"] for img in coco.loadImgs(coco.getImgIds())}
    for rec in recs:
        want = expected_boxes(rec)
        out = Path(rec["output"])
        if fmt == "voc":
            root = ET.parse(tmp_path / "out" / "Annotations" / (out.stem + ".xml")).getroot()
            got = sorted((int(o.findtext("name")[1:]), *(float(o.find("bndbox").findtext(k))
                          for k in ("xmin", "ymin", "xmax", "ymax"))) for o in root.iter("object"))
            tol = 1.01  # VOC keeps whole pixels (1-based)
        elif fmt == "coco":
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[names[rec["output"].split("/", 1)[1]]]))
            got = sorted((a["category_id"] - 1, a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                          a["bbox"][1] + a["bbox"][3]) for a in anns)
            tol = 1e-3
        else:
            mask = np.asarray(Image.open(tmp_path / "out" / "masks" / (out.stem + ".png")))
            assert mask.shape == (60, 80)
            for c in {w[0] for w in want}:
                boxes = [w[1:] for w in want if w[0] == c]
                for x0, y0, x1, y1 in boxes:  # each placed object's middle holds its class
                    assert mask[int((y0 + y1) / 2), int((x0 + x1) / 2)] == c + 1
                area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes)
                rim = sum(2 * (x1 - x0 + y1 - y0) for x0, y0, x1, y1 in boxes)
                assert abs(int((mask == c + 1).sum()) - area) <= rim / 2 + 2
            assert set(np.unique(mask)) - {0} == {w[0] + 1 for w in want}
            continue
        assert [g[0] for g in got] == [w[0] for w in want], (rec["output"], got, want)
        for g, w in zip(got, want):
            assert np.allclose(g[1:], w[1:], atol=tol), (rec["output"], g, w)


def test_preview_pastes_objects_as_expand_does(tmp_path):
    segment_set(tmp_path / "in")
    augcli("preview", "in/images/f0.png", "--copy-paste", "1", "--grid", "3x1", "--tile", "100", "--seed", "2",
           "-o", "p.png", cwd=tmp_path)
    sheet = np.asarray(Image.open(tmp_path / "p.png").convert("RGB")).reshape(-1, 3)
    assert any((sheet == c).all(axis=1).sum() > 50 for c in COLOURS[1:6])  # a partner's square was pasted
