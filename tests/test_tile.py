"""augcli tile: windows, names, exact pixels, labels mapped back by their windows, -j parity, errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from augcli.cli import cli
from augcli.tiles import Tiling, axis_starts, parse_size

from .conftest import pattern, records, tree_bytes

SIZE = (175, 140)  # the source images: tiles at x 0, 75 and y 0, 60
TILE = ["--size", "100x80", "--overlap", "0.25"]


def run(*args, expect=0, command="tile"):
    res = CliRunner().invoke(cli, [command, *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def test_windows_cover_every_pixel_last_at_the_edge_and_small_images_whole():
    t = Tiling((100, 80), 0.25)
    assert axis_starts(200, 100, 0.25) == [0, 75, 100]
    assert axis_starts(100, 100, 0.25) == [0] and axis_starts(60, 100, 0.25) == [0]
    for size in [(200, 150), (101, 81), (100, 80), (37, 300), (1, 1), (999, 7)]:
        cover = np.zeros(size[::-1], int)
        for x0, y0, x1, y1 in t.windows(size):
            assert 0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1]
            assert (x1 - x0, y1 - y0) == (min(100, size[0]), min(80, size[1]))
            cover[y0:y1, x0:x1] += 1
        assert cover.min() >= 1
    assert t.windows((60, 40)) == [(0, 0, 60, 40)]
    assert parse_size("640") == (640, 640) and parse_size("640x480") == (640, 480)


@pytest.mark.parametrize("args", [["--size", "0"], ["--size", "64x"], ["--size", "abc"], ["--size", "-5"],
                                  ["--size", "64", "--overlap", "1"], ["--size", "64", "--overlap", "-0.1"],
                                  ["--overlap", "0.2"]])
def test_bad_size_or_overlap_is_a_usage_error(tmp_path, args):
    (tmp_path / "in").mkdir()
    pattern(50, 40).save(tmp_path / "in/a.png")
    res = run(tmp_path / "in", tmp_path / "out", *args, expect=2)
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()


def test_pixels_are_exact_crops_names_and_windows_recorded(tmp_path):
    (tmp_path / "in/sub").mkdir(parents=True)
    src = pattern(*SIZE, seed=3)
    src.save(tmp_path / "in/sub/a.png")
    pattern(60, 40).save(tmp_path / "in/small.png")
    out = tmp_path / "out"
    run(tmp_path / "in", out, *TILE, "-j", "1", "--prefix", "t")
    recs = {r["output"]: r for r in records(out)}
    assert sorted(recs) == sorted([f"sub/t_a_x{x}_y{y}.png" for y in (0, 60) for x in (0, 75)]
                                  + ["t_small_x0_y0.png"])
    for name, rec in recs.items():
        x0, y0, x1, y1 = rec["window"]
        assert name.endswith(f"_x{x0}_y{y0}.png") and rec["output_size"] == [x1 - x0, y1 - y0]
        source = Image.open(tmp_path / "in" / rec["source"])
        assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(source.crop((x0, y0, x1, y1))))
    assert json.loads((out / "manifest.jsonl").read_text().splitlines()[0])["config"]["tile"] == \
        {"size": [100, 80], "overlap": 0.25}
    # a tile manifest is not replayed as if its windows were whole images
    assert "replay does not remake" in run(out / "manifest.jsonl", "--output", tmp_path / "again", expect=2,
                                           command="replay").output


# -- YOLO -------------------------------------------------------------------------------------------

BOXES = [(0, 10, 10, 40, 30), (1, 120, 20, 170, 60), (0, 60, 90, 95, 130),  # inside one tile each
         (1, 80, 62, 95, 78)]  # inside all four
CUT = (0, 20, 40, 150, 100)  # wider than a tile: clipped in the tiles it meets
POLY = (1, [(20, 90), (60, 85), (50, 135), (15, 130)])  # inside the x0_y60 tile only


def yolo_dataset(root: Path) -> Path:
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    w, h = SIZE
    pattern(*SIZE, seed=1).save(root / "images/train/a.png")
    lines = [f"{c} {(a + b) / 2 / w:.6f} {(t + d) / 2 / h:.6f} {(b - a) / w:.6f} {(d - t) / h:.6f}"
             for c, a, t, b, d in [*BOXES, CUT]]
    lines.append(f"{POLY[0]} " + " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in POLY[1]))
    (root / "labels/train/a.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images/train", "names": ["a", "b"]}))
    return root


def inside(box, window):
    return window[0] <= box[0] and window[1] <= box[1] and box[2] <= window[2] and box[3] <= window[3]


def mapped_back(out: Path) -> dict[str, list]:
    """Every tile's YOLO objects in source pixels, as (class, box (x0, y0, x1, y1), polygon points or
    None). A file that mixes boxes and polygons has its boxes written as 4-point polygons (augcli's
    YOLO rule), so each object is compared by its box and, for polygons, by its points."""
    found: dict[str, list] = {}
    for rec in records(out):
        x0, y0, x1, y1 = rec["window"]
        tw, th = x1 - x0, y1 - y0
        label = out / rec["output"].replace("images/", "labels/", 1).rsplit(".", 1)[0]
        for line in Path(f"{label}.txt").read_text().splitlines():
            c, *v = line.split()
            v = [float(x) for x in v]
            if len(v) == 4:
                cx, cy, w, h = v[0] * tw + x0, v[1] * th + y0, v[2] * tw, v[3] * th
                obj = (int(c), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), None)
            else:
                pts = np.array([(v[i] * tw + x0, v[i + 1] * th + y0) for i in range(0, len(v), 2)])
                obj = (int(c), (*pts.min(0), *pts.max(0)), pts)
            found.setdefault(rec["output"], []).append(obj)
    return found


def test_yolo_boxes_and_polygons_map_back_to_the_source(tmp_path):
    out = tmp_path / "out"
    run(yolo_dataset(tmp_path / "in"), out, *TILE, "-j", "1")
    windows = {r["output"]: r["window"] for r in records(out)}
    assert len(windows) == 4
    found = mapped_back(out)
    for c, *box in BOXES:
        holders = [o for o, w in windows.items() if inside(box, w)]
        assert holders
        for o in holders:  # every tile that holds the object whole carries it exactly
            assert any(b[0] == c and np.allclose(b[1], box, atol=1e-3) for b in found[o]), (o, box)
    assert sum(inside(BOXES[3][1:], w) for w in windows.values()) == 4
    # the polygon: its tile carries its points, mapped back exactly
    pts = np.array(POLY[1], float)
    holders = [o for o, w in windows.items() if inside((*pts.min(0), *pts.max(0)), w)]
    assert holders == ["images/train/a_x0_y60.png"]
    polys = [b for b in found[holders[0]] if b[0] == POLY[0] and b[2] is not None and len(b[2]) == 4
             and np.allclose(b[2], pts, atol=1e-3)]
    assert len(polys) == 1
    # the union, mapped back: every tile object is a source object clipped to its window (itself
    # where the tile holds it whole), and nothing else
    for o, objs in found.items():
        w = windows[o]
        for c, box, points in objs:
            if points is not None and np.allclose(points, pts, atol=1e-3):
                continue
            assert any(c == c2 and np.allclose(box, (max(b2[0], w[0]), max(b2[1], w[1]), min(b2[2], w[2]),
                                                     min(b2[3], w[3])), atol=1e-3)
                       for c2, *b2 in [*BOXES, CUT]), (o, c, box)
    assert sum(c == CUT[0] and box[2] - box[0] > 60 for objs in found.values() for c, box, _ in objs) == 4


def test_survival_rules_drop_objects_cut_by_a_tile_edge(tmp_path):
    out = tmp_path / "out"
    run(yolo_dataset(tmp_path / "in"), out, *TILE, "-j", "1", "--min-visibility", "0.99")
    kept = [c for objs in mapped_back(out).values() for c, box, _ in objs if box[2] - box[0] > 60]
    assert kept == []  # the wide object is less than 99 % inside every tile
    assert sum(len(objs) for objs in mapped_back(out).values()) == 1 + 1 + 1 + 4 + 1  # the others, whole


def test_j1_equals_j2_and_expand_chains_on_tiles(tmp_path):
    inp = yolo_dataset(tmp_path / "in")
    pattern(130, 90, seed=5).save(inp / "images/train/b.png")
    run(inp, tmp_path / "j1", *TILE, "-j", "1")
    run(inp, tmp_path / "j2", *TILE, "-j", "2")
    one, two = tree_bytes(tmp_path / "j1"), tree_bytes(tmp_path / "j2")
    assert one.pop("manifest.jsonl").splitlines()[1:] == two.pop("manifest.jsonl").splitlines()[1:]
    assert one == two
    # a tiled output is an ordinary dataset: expand reads it, labels and all
    res = run(tmp_path / "j1", tmp_path / "aug", "--hflip", "-n", "2", "-j", "1", "--seed", "1", command="expand")
    assert "labels: yolo" in res.output
    assert (tmp_path / "aug/labels/train/a_x0_y60_1.txt").exists()
    assert len(records(tmp_path / "aug")) == 2 * len(records(tmp_path / "j1"))


# -- VOC --------------------------------------------------------------------------------------------


def test_voc_boxes_map_back_to_the_source(tmp_path):
    root = tmp_path / "in"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    pattern(*SIZE).save(root / "JPEGImages/x.png")
    boxes = [(11, 11, 40, 30), (121, 21, 170, 60), (61, 91, 95, 130), (21, 41, 150, 100)]
    objs = "".join(f"<object><name>o{i}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
                   f"<ymax>{d}</ymax></bndbox></object>" for i, (a, b, c, d) in enumerate(boxes))
    (root / "Annotations/x.xml").write_text(f"<annotation><filename>x.png</filename><size><width>{SIZE[0]}</width>"
                                            f"<height>{SIZE[1]}</height><depth>3</depth></size>{objs}</annotation>")
    out = tmp_path / "out"
    run(root, out, *TILE, "-j", "1")
    seen = set()
    for rec in records(out):
        x0, y0, x1, y1 = rec["window"]
        xml = ET.parse(out / "Annotations" / (Path(rec["output"]).stem + ".xml")).getroot()
        assert xml.find("filename").text == Path(rec["output"]).name
        for o in xml.findall("object"):
            b = o.find("bndbox")
            a, t, c, d = (int(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            back = (a + x0, t + y0, c + x0, d + y0)
            if o.find("truncated") is None or o.find("truncated").text != "1":
                seen.add((o.find("name").text, back))
    # 1-based VOC pixels: a box inside the window [x0, x1) is whole in the tile
    expect = {(f"o{i}", b) for i, b in enumerate(boxes)
              if any(inside((b[0] - 1, b[1] - 1, b[2], b[3]), r["window"]) for r in records(out))}
    assert len(expect) == 3 and seen == expect


# -- COCO and masks ---------------------------------------------------------------------------------


def test_coco_maps_back_and_pycocotools_loads(tmp_path):
    COCO = pytest.importorskip("pycocotools.coco").COCO
    root = tmp_path / "in"
    (root / "annotations").mkdir(parents=True)
    (root / "train").mkdir()
    pattern(*SIZE).save(root / "train/x.png")
    bboxes = [[10, 10, 30, 20], [120, 20, 50, 40], [20, 40, 130, 60]]
    anns = [{"id": i + 1, "image_id": 7, "category_id": 1, "bbox": b, "area": b[2] * b[3], "iscrowd": 0,
             "segmentation": [[b[0], b[1], b[0] + b[2], b[1], b[0] + b[2], b[1] + b[3], b[0], b[1] + b[3]]]}
            for i, b in enumerate(bboxes)]
    doc = {"images": [{"id": 7, "file_name": "x.png", "width": SIZE[0], "height": SIZE[1]}], "annotations": anns,
           "categories": [{"id": 1, "name": "thing"}]}
    (root / "annotations/instances_train.json").write_text(json.dumps(doc))
    out = tmp_path / "out"
    run(root, out, *TILE, "-j", "2")
    coco = COCO(str(out / "annotations/instances_train.json"))
    windows = {Path(r["output"]).name: r["window"] for r in records(out)}
    assert sorted(im["file_name"] for im in coco.dataset["images"]) == sorted(windows)
    whole = set()
    for ann in coco.dataset["annotations"]:
        x0, y0 = windows[coco.imgs[ann["image_id"]]["file_name"]][:2]
        b = ann["bbox"]
        back = (round(b[0] + x0, 3), round(b[1] + y0, 3), round(b[2], 3), round(b[3], 3))
        seg = np.array(ann["segmentation"][0]).reshape(-1, 2) + [x0, y0]
        if list(back) in bboxes:
            whole.add(back)
            assert np.allclose(seg, np.array(anns[bboxes.index(list(back))]["segmentation"][0]).reshape(-1, 2))
    fits = {tuple(b) for b in bboxes if any(inside((b[0], b[1], b[0] + b[2], b[1] + b[3]), w)
                                            for w in windows.values())}
    assert len(fits) == 2 and whole == {tuple(float(v) for v in b) for b in fits}


def test_masks_are_tiled_exactly(tmp_path):
    root = tmp_path / "in"
    (root / "images/val").mkdir(parents=True)
    (root / "masks/val").mkdir(parents=True)
    pattern(*SIZE).save(root / "images/val/x.png")
    m = (np.arange(SIZE[0] * SIZE[1]) % 7).astype(np.uint8).reshape(SIZE[1], SIZE[0])
    Image.fromarray(m, "L").save(root / "masks/val/x.png")
    out = tmp_path / "out"
    run(root, out, *TILE, "-j", "1")
    recs = records(out)
    assert len(recs) == 4
    for rec in recs:
        x0, y0, x1, y1 = rec["window"]
        tile = np.asarray(Image.open(out / rec["output"].replace("images/", "masks/", 1)))
        assert np.array_equal(tile, m[y0:y1, x0:x1])


# -- layouts and engines ----------------------------------------------------------------------------


def test_shards_webdataset_and_hf_give_the_tiles_of_one_machine(tmp_path):
    import tarfile

    inp = yolo_dataset(tmp_path / "in")
    pattern(130, 90, seed=5).save(inp / "images/train/b.png")
    run(inp, tmp_path / "tree", *TILE, "-j", "2")
    ref = tree_bytes(tmp_path / "tree")
    ref_records = ref["manifest.jsonl"].splitlines()[1:]
    assert len(ref_records) == 4 + 4
    for i in range(2):
        run(inp, tmp_path / "shards", *TILE, "--shard", f"{i}/2", "--buckets", "4", "-j", "1")
    run(tmp_path / "shards", command="merge")
    sharded = tree_bytes(tmp_path / "shards")
    assert sharded.pop("manifest.jsonl").splitlines()[1:] == ref_records
    assert sharded == {k: v for k, v in ref.items() if k != "manifest.jsonl"}
    run(inp, tmp_path / "wds", *TILE, "--layout", "webdataset", "-j", "2")
    members = {}
    for shard in sorted((tmp_path / "wds").glob("*.tar")):
        with tarfile.open(shard) as tar:
            members.update({m.name: tar.extractfile(m).read() for m in tar.getmembers()})
    images = {k: v for k, v in ref.items() if k.startswith("images/")}
    assert {k: v for k, v in members.items() if k.endswith(".png")} == images
    assert json.loads(members["images/train/b_x30_y10.json"])["window"] == [30, 10, 130, 90]
    run(inp, tmp_path / "hf", *TILE, "--layout", "hf", "-j", "1")
    hf = tree_bytes(tmp_path / "hf")
    meta = [json.loads(x) for x in hf.pop("images/train/metadata.jsonl").splitlines()]
    assert sorted(m["file_name"] for m in meta) == sorted(Path(k).name for k in images)
    assert {k: v for k, v in hf.items() if k.startswith("images/")} == images


def test_dask_gives_the_tiles_of_one_machine(tmp_path):
    pytest.importorskip("distributed", reason="Dask is not installed (pip install 'augcli[dask]')")
    import os
    import subprocess
    import sys

    inp = yolo_dataset(tmp_path / "in")
    run(inp, tmp_path / "one", *TILE, "-j", "1")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    res = subprocess.run([sys.executable, "-m", "augcli", "tile", str(inp), str(tmp_path / "dask"), *TILE,
                          "--executor", "dask", "-j", "2", "-q"], env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    one, dask = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "dask")
    assert one.pop("manifest.jsonl").splitlines()[1:] == dask.pop("manifest.jsonl").splitlines()[1:]
    assert one == dask


def test_a_source_whose_size_changed_since_it_was_named_fails_alone(tmp_path):
    from augcli.config import RunConfig
    from augcli.run.discover import plan_outputs
    from augcli.run.work import WorkContext, process_source

    (tmp_path / "in").mkdir()
    pattern(60, 40).save(tmp_path / "in/a.png")
    cfg = RunConfig(tmp_path / "in", tmp_path / "out", seed=0, tile=Tiling((100, 80), 0.25))
    job = plan_outputs(["a.png"], cfg, sizes=lambda rel: (175, 140))[0]  # the header as the parent read it
    assert [out for _, out in job.outputs] == ["a_x0_y0.png", "a_x75_y0.png", "a_x0_y60.png", "a_x75_y60.png"]
    recs = process_source(WorkContext(cfg, 0), job)  # the file is 60x40 now
    assert [r["status"] for r in recs] == ["error"] and "60x40" in recs[0]["error"]
    assert not (tmp_path / "out").exists()


def test_an_unreadable_image_fails_alone_with_one_line(tmp_path):
    (tmp_path / "in").mkdir()
    pattern(60, 40).save(tmp_path / "in/a.png")
    (tmp_path / "in/broken.png").write_bytes(b"not an image")
    res = run(tmp_path / "in", tmp_path / "out", "--size", "32", "-j", "1", expect=1)
    assert "broken.png: cannot identify image file" in res.output and "Traceback" not in res.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == \
        ["a_x0_y0.png", "a_x0_y8.png", "a_x26_y0.png", "a_x26_y8.png", "a_x28_y0.png", "a_x28_y8.png"]
