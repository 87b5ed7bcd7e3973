"""augcli.labels.model: known answers of LABELS.md section 7 and property tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from augcli import warping as W
from augcli import geometry as G
from augcli.labels import model as L
from augcli.labels import polygons as PG

S = (100, 50)
BOX = (10.0, 5.0, 30.0, 20.0)


def moved(matrix, out_size=S, objs=None, **params):
    f = L.edge_map(matrix, out_size)
    return L.transform(objs if objs is not None else [L.Obj(0, box=BOX)], f, out_size, L.Params(**params))


def boxes(matrix, out_size=S, **params):
    return [o.box for o in moved(matrix, out_size, **params)[0]]


@pytest.mark.parametrize("matrix,size,expected", [
    (G.hflip(S), S, (70, 5, 90, 20)),                      # 1: never [69, 89]
    (G.vflip(S), S, (10, 30, 30, 45)),                     # 2
    (*G.rot90(1, S), (5, 70, 20, 90)),                     # 3
    (*G.rot90(2, S), (70, 30, 90, 45)),                    # 4
    (*G.rot90(3, S), (30, 10, 45, 30)),                    # 5
    (G.shift(10, 0), S, (20, 5, 40, 20)),                  # 9
])
def test_exact_maps_known_answers(matrix, size, expected):
    assert boxes(matrix, size) == [tuple(float(v) for v in expected)]


def test_rot90_matches_numpy_rot90_raster():
    mask = np.zeros((50, 100), bool)
    mask[5:20, 10:30] = True
    r = np.rot90(mask)
    ys, xs = np.nonzero(r)
    m, size = G.rot90(1, S)
    assert size == (50, 100)
    assert boxes(m, size) == [(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))]


def test_rotate_90_same_canvas_clips_and_visibility():  # 6
    out, st = moved(G.rotation(90, S))
    assert [o.box for o in out] == [(30.0, 45.0, 45.0, 50.0)] and st.clipped == 1
    assert moved(G.rotation(90, S), min_visibility=0.24)[1].objects_out == 1
    _, st = moved(G.rotation(90, S), min_visibility=0.3)
    assert st.objects_out == 0 and st.dropped["min_visibility"] == 1


def test_rotate_30_corners_polygon_and_ellipse():  # 7
    m = G.rotation(30, S)
    assert boxes(m) == [pytest.approx((5.358984, 17.679492, 30.179492, 40.669873), abs=1e-6)]
    poly = PG.box_corners(BOX)
    out, _ = moved(m, objs=[L.Obj(0, polygons=[poly])])
    expected = [(5.358984, 27.679492), (22.679492, 17.679492), (30.179492, 30.669873), (12.858984, 40.669873)]
    got = out[0].polygons[0]
    # independent formula on centre coordinates
    cx, cy = (S[0] - 1) / 2, (S[1] - 1) / 2
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    for (ex, ey), (gx, gy) in zip(poly, got):
        dx, dy = ex - 0.5 - cx, ey - 0.5 - cy
        assert gx - 0.5 == pytest.approx(cx + c * dx + s * dy, abs=1e-12)
        assert gy - 0.5 == pytest.approx(cy - s * dx + c * dy, abs=1e-12)
    assert sorted(map(tuple, np.round(got, 6).tolist())) == sorted(expected)
    assert boxes(m, box_method="ellipse") == [pytest.approx((8.3319, 20.9779, 27.2065, 37.3715), abs=1e-4)]


def test_rotate_45_square_box():  # 8
    size = (200, 200)
    objs = [L.Obj(0, box=(90.0, 90.0, 110.0, 110.0))]
    corners = moved(G.rotation(45, size), size, objs)[0][0].box
    ell = moved(G.rotation(45, size), size, objs, box_method="ellipse")[0][0].box
    assert corners[2] - corners[0] == pytest.approx(28.2843, abs=1e-4)
    assert ell[2] - ell[0] == pytest.approx(20.0, abs=1e-9)


def test_zoom_half_clips_visibility():  # 10
    out, st = moved(G.zoom(0.5, 0.5, S))
    assert out[0].box == (0.0, 0.0, 10.0, 15.0)
    assert moved(G.zoom(0.5, 0.5, S), min_visibility=0.125)[1].objects_out == 1
    assert moved(G.zoom(0.5, 0.5, S), min_visibility=0.126)[1].dropped["min_visibility"] == 1


def test_crop_resized():  # 11
    (box,) = boxes(G.box_to_canvas((20, 10, 60, 30), S))
    assert box == pytest.approx((0, 0, 16.6666667, 16.6666667), abs=1e-6)


def test_sutherland_hodgman_polygon():  # 12
    tri = np.array([[10, 10], [70, 10], [40, 40]], float)
    out, st = moved(G.shift(-30, 0), objs=[L.Obj(0, polygons=[tri])])
    poly = out[0].polygons[0]
    assert poly.tolist() == [[0.0, 30.0], [0.0, 10.0], [40.0, 10.0], [10.0, 40.0]]
    assert PG.area(poly) == pytest.approx(700) and PG.area(poly) / 900 == pytest.approx(0.7778, abs=1e-4)
    assert out[0].box == (0.0, 10.0, 40.0, 40.0) and st.clipped == 1
    # pointwise clamping would give another shape (the Ultralytics bug): 3 vertices, not 4
    clamped = np.clip(tri - [30, 0], 0, [100, 50])
    assert len(clamped) != len(poly)
    assert moved(G.shift(-30, 0), objs=[L.Obj(0, polygons=[tri])], min_visibility=0.78)[1].objects_out == 0


def test_clip_concave_polygon_and_entirely_outside():
    u = np.array([[-10, 0], [20, 0], [20, 30], [10, 30], [10, 10], [-10, 10]], float)
    cut = PG.clip_polygon(u, 100, 50)
    assert cut[:, 0].min() == 0.0 and PG.area(cut) == pytest.approx(PG.area(u) - 100)
    assert len(PG.clip_polygon(u + [200, 0], 100, 50)) == 0
    _, st = moved(G.shift(500, 0))
    assert st.dropped["outside"] == 1 and st.objects_out == 0


def test_min_size_and_min_area():
    tiny = [L.Obj(0, box=(10, 10, 10.5, 20))]
    assert moved(G.identity(), objs=tiny)[1].dropped["min_size"] == 1
    assert moved(G.identity(), objs=tiny, min_size=0.4)[1].objects_out == 1
    assert moved(G.identity(), min_area=301)[1].dropped["min_area"] == 1
    assert moved(G.identity(), min_area=300)[1].objects_out == 1


def test_keypoints_flip_idx():  # 15
    k = np.array([[9.5 + 0.5, 5, 2], [20, 5, 2], [30, 5, 1]], float)  # centre (10, 5), (20, 5), (30, 5)
    obj = L.Obj(0, box=BOX, keypoints=k)
    out, st = moved(G.hflip(S), objs=[obj], flip_idx=(0, 2, 1))
    assert st.mirrored
    assert out[0].keypoints.tolist() == [[89, 5, 2], [69, 5, 1], [79, 5, 2]]
    vout, vst = moved(G.vflip(S), objs=[obj], flip_idx=(0, 2, 1))
    assert vst.mirrored and vout[0].keypoints[:, 0].tolist() == [10, 30, 20]
    m, size = G.rot90(2, S)
    rout, rst = moved(m, size, objs=[obj], flip_idx=(0, 2, 1))
    assert not rst.mirrored and rout[0].keypoints[:, 0].tolist() == [89, 79, 69]


def test_keypoint_leaving_the_image_is_kept_as_zero():  # 16
    k = np.array([[10, 5, 2], [3, 5, 2]], float)
    obj = L.Obj(0, box=(0, 0, 20, 20), keypoints=k)
    out, st = moved(G.shift(95, 0), objs=[L.Obj(0, box=(0, 0, 100, 20), keypoints=k)])
    assert out[0].keypoints.tolist() == [[0, 0, 0], [98, 5, 2]] and st.keypoints_hidden == 1
    assert len(out[0].keypoints) == 2 and obj.keypoints is k


def test_perspective_horizon_drops_and_counts():
    # a projective map whose horizon line crosses the image: w' = 1 - x/50
    f = np.array([[1, 0, 0], [0, 1, 0], [-1 / 50, 0, 1.0]])
    objs = [L.Obj(0, box=(10, 10, 20, 20)), L.Obj(1, box=(40, 10, 60, 20))]
    out, st = L.transform(objs, f, S)
    assert st.dropped["horizon"] == 1 and [o.cls for o in out] == [0]


def test_obb_inside_kept_and_outside_refit_inside_image():
    quad = np.array([[40, 10], [60, 20], [50, 40], [30, 30]], float)
    out, _ = moved(G.identity(), objs=[L.Obj(0, obb=quad)])
    assert out[0].obb.tolist() == quad.tolist()
    out, st = moved(G.shift(50, 0), objs=[L.Obj(0, obb=quad)])
    q = out[0].obb
    assert st.clipped == 1 and q[:, 0].max() <= 100 and q[:, 0].min() >= 0


# ---------------------------------------------------------------------------------------------------
# properties

def _random_matrix(rng, size):
    """A random composition as augcli builds it (rot90, flips, rotate, shear, zoom, shift)."""
    m, size2 = G.rot90(int(rng.integers(4)), size)
    if rng.random() < 0.5:
        m = m @ G.hflip(size2)
    if rng.random() < 0.5:
        m = m @ G.vflip(size2)
    m = m @ G.rotation(rng.uniform(-40, 40), size2) @ G.shear(rng.uniform(-15, 15), size2)
    m = m @ G.zoom(rng.uniform(0.7, 1.3), rng.uniform(0.7, 1.3), size2) @ G.shift(*rng.uniform(-8, 8, 2))
    return m, size2


def _exact_matrix(rng, size):
    m, size2 = G.rot90(int(rng.integers(4)), size)
    if rng.random() < 0.5:
        m = m @ G.hflip(size2)
    if rng.random() < 0.5:
        m = m @ G.vflip(size2)
    return m @ G.shift(*rng.integers(-6, 7, 2)), size2


def _warped_box(box, matrix, size, out_size):
    mask = np.zeros((size[1], size[0]), np.uint8)
    x0, y0, x1, y1 = (int(v) for v in box)
    mask[y0:y1, x0:x1] = 255
    out = np.asarray(W.warp(Image.fromarray(mask), matrix, out_size, interpolation="nearest", fill_mode="constant"))
    ys, xs = np.nonzero(out)
    if not len(xs):
        return None
    return (xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0)


@pytest.mark.parametrize("exact", [False, True])
def test_nearest_warped_raster_lies_in_label_box(exact):
    rng = np.random.default_rng(7 + exact)
    size = (60, 40)
    checked = 0
    for _ in range(60):
        m, out_size = (_exact_matrix if exact else _random_matrix)(rng, size)
        x0, y0 = rng.integers(0, 40), rng.integers(0, 25)
        box = (float(x0), float(y0), float(x0 + rng.integers(3, 20)), float(y0 + rng.integers(3, 15)))
        labelled = boxes(m, out_size, objs=[L.Obj(0, box=box)], min_size=0)
        raster = _warped_box(box, m, size, out_size)
        if raster is None or not labelled:
            continue
        (lb,) = labelled
        checked += 1
        if exact:
            assert raster == lb
        else:
            assert raster[0] >= lb[0] - 0.5 and raster[1] >= lb[1] - 0.5
            assert raster[2] <= lb[2] + 0.5 and raster[3] <= lb[3] + 0.5
    assert checked > 30


def test_ellipse_inside_corners_and_equal_for_axis_aligned():
    rng = np.random.default_rng(3)
    for i in range(200):
        m, out_size = _random_matrix(rng, (80, 60)) if i % 2 else _exact_matrix(rng, (80, 60))
        if i % 7 == 0:
            m = m @ G.homography(np.array([[0, 0], [79, 0], [79, 59], [0, 59]], float),
                                 np.array([[2, 1], [77, 3], [78, 57], [1, 58]], float))
        f = L.edge_map(m, out_size)
        box = tuple(float(v) for v in (*rng.uniform(0, 40, 2), *rng.uniform(45, 80, 2)))
        corners = PG.enclosing(L.apply(f, PG.box_corners(box))[0])
        ell, ok = L.ellipse_box(f, box)
        assert ok
        assert ell[0] >= corners[0] and ell[1] >= corners[1] and ell[2] <= corners[2] and ell[3] <= corners[3]
        if i % 2 == 0 and i % 7:
            assert ell == corners


def test_flip_flip_and_four_quarter_turns_are_exact_identities():
    rng = np.random.default_rng(11)
    for _ in range(50):
        size = (int(rng.integers(20, 200)), int(rng.integers(20, 200)))
        box = tuple(float(v) for v in rng.uniform(0, 1, 4) * [size[0] / 2, size[1] / 2, 0, 0] + [0, 0, size[0] / 2, size[1] / 2])
        poly = rng.uniform(0, 1, (7, 2)) * size
        kp = np.c_[rng.uniform(0, 1, (5, 2)) * [size[0] - 1, size[1] - 1], np.full(5, 2.0)]
        obj = L.Obj(0, box=box, keypoints=kp)
        pobj = L.Obj(1, polygons=[poly])
        composed = [G.hflip(size) @ G.hflip(size), G.vflip(size) @ G.vflip(size)]
        m, s = G.identity(), size
        for _ in range(4):
            r, s = G.rot90(1, s)
            m = m @ r
        composed.append(m)
        for mat in composed:
            f = L.edge_map(mat, size)
            out, _ = L.transform([obj, pobj], f, size, L.Params(min_size=0, flip_idx=(0, 1, 2, 3, 4)))
            assert out[0].box == box and out[0].keypoints.tolist() == kp.tolist()
            assert out[1].polygons[0].tolist() == poly.tolist()
        # applied one after the other (two outputs' maps in a row), exact too for flips
        f = L.edge_map(G.hflip(size), size)
        once, _ = L.transform([obj], f, size, L.Params(min_size=0))
        twice, _ = L.transform(once, f, size, L.Params(min_size=0))
        assert twice[0].box == pytest.approx(box, abs=1e-9)


def test_keypoint_only_objects_are_not_filtered_by_shape():
    obj = L.Obj(0, keypoints=np.array([[10, 5, 2], [200, 5, 2]], float))
    out, st = moved(G.hflip(S), objs=[obj], min_area=50, min_visibility=0.9, min_size=5)
    assert st.objects_out == 1 and out[0].keypoints.tolist() == [[89, 5, 2], [0, 0, 0]]


def test_the_plain_box_path_gives_the_array_paths_boxes_and_reasons_exactly():
    # transform() moves a box alone through an affine map in Python floats; the general path
    # (_one, numpy) is the reference: the same boxes to the last bit, the same drop reasons
    rng = np.random.default_rng(31)
    for trial in range(3000):
        w, h = float(rng.integers(1, 400)), float(rng.integers(1, 300))
        f = G.rotation(rng.uniform(-180, 180), (w, h)) @ G.zoom(rng.uniform(0.3, 3), rng.uniform(0.3, 3), (w, h)) @ \
            G.shift(rng.uniform(-w / 2, w / 2), rng.uniform(-h / 2, h / 2))
        if rng.random() < 0.3:
            f = np.diag([rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 3), rng.uniform(0.2, 3), 1.0]) @ f
        x0, y0 = rng.uniform(-50, w), rng.uniform(-50, h)
        obj = L.Obj(int(rng.integers(0, 5)), (x0, y0, x0 + rng.uniform(0, 200), y0 + rng.uniform(0, 200)))
        params = L.Params(min_visibility=float(rng.choice([0.0, 0.3, 0.9])), min_size=float(rng.choice([0.0, 1.0, 8.0])),
                          min_area=float(rng.choice([0.0, 50.0])))
        coef = f[:2].ravel().tolist()
        fast = L._plain_box(obj, coef, w, h, params)
        slow = L._one(obj, f, w, h, params, L.Stats())
        assert fast[1] == slow[1], trial
        if fast[0] is not None:
            assert fast[0].box == slow[0].box and fast[0].clipped == slow[0].clipped, trial
    moved, stats = L.transform([L.Obj(0, (10.0, 10.0, 50.0, 30.0))], G.rotation(30, (100, 80)), (100, 80))
    assert len(moved) == 1 and stats.objects_out == 1
