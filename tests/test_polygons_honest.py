"""Clipped polygons stay honest: no zero-area bridges or dangling connectors in boxes, multi-part
objects kept as parts, objects whose remnant fills no pixel dropped and counted. Checked against
pycocotools' own rasteriser (the masks trainers build from these labels)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli import geometry as G
from augcli.cli import cli
from augcli.labels import model as L
from augcli.labels import polygons as PG
from augcli.labels import yolo as Y

from .conftest import pattern

mask_api = pytest.importorskip("pycocotools.mask")
from pycocotools.coco import COCO  # noqa: E402

S = (100, 50)

# a concave band looping around the top-left corner: one arm enters the image from the top, the
# other pokes 0.3 px in from the left (no pixel); they meet outside, beyond the corner, so the clip
# runs along both borders to the corner and back
CORNER_LOOP = np.array([(20, 10), (30, 10), (30, -10), (-10, -10), (-10, 30), (0.3, 30), (0.3, 20), (-5, 20),
                        (-5, -5), (20, -5)], float)
# two squares joined as Ultralytics' merge_multi_segment joins them: a zero-width connector walked
# there and back between their closest vertices
SQ_A = np.array([(10, 10), (30, 10), (30, 30), (10, 30)], float)
SQ_B = np.array([(60, 10), (80, 10), (80, 30), (60, 30)], float)
MERGED = np.array([(10, 10), (30, 10), (60, 10), (80, 10), (80, 30), (60, 30), (60, 10), (30, 10), (30, 30),
                   (10, 30)], float)
# a triangle whose remnant after the left border is 1.6 x 1.25 px and holds no pixel
SLIVER = np.array([(-8, 10.6), (1.6, 10.6), (-8, 18.1)], float)


def coco_extent(polys, size=S):
    """The edge-coordinate extent of pycocotools' mask of an annotation's polygons, or None."""
    rles = mask_api.frPyObjects([np.asarray(p, float).ravel().tolist() for p in polys], size[1], size[0])
    m = mask_api.decode(mask_api.merge(rles))
    ys, xs = np.nonzero(m)
    return None if not len(xs) else (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def moved(matrix, objs, size=S, **params):
    return L.transform(objs, L.edge_map(matrix, size), size, L.Params(**params))


def assert_box_matches_mask(obj, size=S):
    ext = coco_extent(obj.polygons, size)
    assert ext is not None, "kept object rasterises to nothing"
    assert np.allclose(obj.box, ext, atol=1.0), (obj.box, ext)


def test_corner_loop_bridges_do_not_stretch_the_box():
    out, st = moved(G.identity(), [L.Obj(0, polygons=[CORNER_LOOP])])
    (o,) = out
    assert o.box == (20.0, 0.0, 30.0, 10.0) and st.clipped == 1
    assert [sorted(map(tuple, p.tolist())) for p in o.polygons] == [[(20, 0), (20, 10), (30, 0), (30, 10)]]
    assert_box_matches_mask(o)


def test_corner_loop_with_both_arms_inside_keeps_two_parts():
    loop = CORNER_LOOP.copy()
    loop[5:7, 0] = 10  # the left arm now reaches x = 10
    (o,), _ = moved(G.identity(), [L.Obj(0, polygons=[loop])])
    assert len(o.polygons) == 2 and sum(PG.area(p) for p in o.polygons) == pytest.approx(200)
    assert o.box == (0.0, 0.0, 30.0, 30.0)
    assert_box_matches_mask(o)


def test_connector_to_a_cut_away_part_is_dropped():
    (o,), st = moved(G.shift(40, 0), [L.Obj(0, polygons=[MERGED])])
    assert o.box == (50.0, 10.0, 70.0, 30.0) and st.clipped == 1
    assert len(o.polygons) == 1 and PG.area(o.polygons[0]) == pytest.approx(400)
    assert_box_matches_mask(o)


def test_connector_between_surviving_parts_is_kept_as_parts():
    (o,), _ = moved(G.shift(30, 0), [L.Obj(0, polygons=[MERGED])])  # B is cut, not gone
    assert len(o.polygons) == 2 and sum(PG.area(p) for p in o.polygons) == pytest.approx(400 + 200)
    assert o.box == (40.0, 10.0, 100.0, 30.0)
    assert_box_matches_mask(o)
    ring = PG.join_parts(o.polygons)  # one YOLO row: rejoined by a connector walked there and back
    edges = list(zip(map(tuple, ring.tolist()), map(tuple, np.roll(ring, -1, 0).tolist())))
    bridges = [(p, q) for p, q in edges if (q, p) in edges]
    assert len(bridges) == 2 and PG.area(ring) == pytest.approx(600)


def test_sliver_that_fills_no_pixel_is_dropped_and_counted():
    assert coco_extent([PG.clip_polygon(SLIVER, *S)]) is None  # pycocotools: empty mask
    out, st = moved(G.identity(), [L.Obj(0, polygons=[SLIVER]), L.Obj(1, polygons=[SQ_A])])
    assert [o.cls for o in out] == [1] and st.dropped["outside"] == 1 and st.objects_in == 2


def test_whole_object_that_fills_no_pixel_is_dropped_and_counted():
    speck = np.array([(10, 10.6), (11.6, 10.6), (10, 11.85)], float)  # 1.6 x 1.25, no pixel
    assert coco_extent([speck]) is None
    out, st = moved(G.identity(), [L.Obj(0, polygons=[speck]), L.Obj(1, polygons=[speck, SQ_A])])
    assert [o.cls for o in out] == [1] and st.dropped["outside"] == 1
    assert len(out[0].polygons) == 2  # an unclipped polygon is never edited


def test_unclipped_polygons_are_left_as_they_are():
    (o,), st = moved(G.identity(), [L.Obj(0, polygons=[MERGED])])
    assert o.polygons[0].tolist() == MERGED.tolist() and o.box == (10.0, 10.0, 80.0, 30.0) and not o.clipped


def test_raster_extent_is_pycocotools_rule():
    rng = np.random.default_rng(5)
    for _ in range(300):
        w, h = (int(v) for v in rng.integers(4, 30, 2))
        pts = np.abs(rng.uniform(0, 1, 2) * (w, h) + rng.normal(0, rng.uniform(0.3, 5), (int(rng.integers(3, 8)), 2)))
        assert PG.raster_extent(pts, w, h) == coco_extent([pts], (w, h))
        assert PG.fills_pixel(pts, w, h) == (coco_extent([pts], (w, h)) is not None)
    for _ in range(200):  # larger shapes take the quick inside-a-pixel path
        c = rng.uniform(20, 80, 2)
        pts = c + rng.normal(0, rng.uniform(0.5, 15), (int(rng.integers(3, 12)), 2))
        assert PG.fills_pixel(pts, 100, 100) == (coco_extent([pts], (100, 100)) is not None)


# ---------------------------------------------------------------------------------------------------
# end to end


def run(*args):
    res = CliRunner().invoke(cli, ["expand", *map(str, args)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


def _coco_input(root: Path) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "train").mkdir()
    pattern(*S).save(root / "train/im.png")
    segs = [[CORNER_LOOP], [MERGED], [SLIVER], [SQ_A, SQ_B + (5, 10)]]
    anns = [{"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 1.0, "bbox": [0, 0, 1, 1],
             "segmentation": [p.ravel().tolist() for p in seg]} for i, seg in enumerate(segs)]
    doc = {"images": [{"id": 1, "file_name": "im.png", "width": S[0], "height": S[1],
                       "coco_url": "http://images.example/im.png", "flickr_url": "http://farm.example/im.png"}],
           "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}
    (root / "annotations/instances_train.json").write_text(json.dumps(doc))
    return root


# (shifts that leave the sliver whole would show its own sharp tip, a rasterisation error of the
# source, not of the clip)
@pytest.mark.parametrize("shift", ["0:0", "-5:-5", "-25:-25"])
def test_coco_boxes_agree_with_annToMask(tmp_path, shift):
    inp = _coco_input(tmp_path / "in")
    out = tmp_path / "out"
    run(inp, out, "--width-shift", shift, "-n", "1", "-j", "1", "--seed", "1")
    coco = COCO(str(out / "annotations/instances_train.json"))
    rec = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()[1:]][0]["labels"]
    assert rec["in"] == 4 and rec["out"] + sum(rec["dropped"].values()) == 4
    assert rec["out"] == len(coco.anns) >= 2
    for ann in coco.anns.values():
        m = coco.annToMask(ann)
        ys, xs = np.nonzero(m)
        assert len(xs), ann
        x, y, w, h = ann["bbox"]
        assert np.allclose([x, y, x + w, y + h], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1.0), ann
        assert ann["area"] == pytest.approx(sum(PG.area(np.reshape(p, (-1, 2))) for p in ann["segmentation"]))


def test_yolo_seg_connector_to_cut_away_part(tmp_path):
    inp = tmp_path / "in"
    (inp / "images/train").mkdir(parents=True)
    (inp / "labels/train").mkdir(parents=True)
    pattern(*S).save(inp / "images/train/a.png")
    row = "0 " + " ".join(f"{x / S[0]:.6f} {y / S[1]:.6f}" for x, y in MERGED) + "\n"
    (inp / "labels/train/a.txt").write_text(row)
    (inp / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images/train", "names": ["t"]}))
    out = tmp_path / "out"
    run(inp, out, "--width-shift", "40:40", "-n", "1", "-j", "1", "--seed", "1")
    vals = [float(v) for v in (out / "labels/train/a_0.txt").read_text().split()[1:]]
    pts = np.array(vals).reshape(-1, 2) * S
    # the box a trainer takes from the row's vertices (Ultralytics segment2box) is the object's
    assert pts.min(0).tolist() == [50, 10] and pts.max(0).tolist() == [70, 30]
    # two surviving parts are one row, joined by a connector inside their hull
    run(inp, tmp_path / "o2", "--width-shift", "30:30", "-n", "1", "-j", "1", "--seed", "1")
    kind = Y.parse((tmp_path / "o2/labels/train/a_0.txt").read_text(), "a.txt", Y.YoloSpec(), S)
    (obj,) = kind.objects
    assert PG.area(obj.polygons[0]) == pytest.approx(600, abs=0.01)
    assert obj.polygons[0].min(0).tolist() == [40, 10] and obj.polygons[0].max(0).tolist() == [100, 30]


def test_coco_urls_describe_the_output(tmp_path):
    inp = _coco_input(tmp_path / "in")
    run(inp, tmp_path / "out", "-n", "1", "-j", "1", "--seed", "1")
    (image,) = json.loads((tmp_path / "out/annotations/instances_train.json").read_text())["images"]
    assert "coco_url" not in image and "flickr_url" not in image and image["file_name"] == "im_0.png"
