"""--elastic, --grid-distort and --lens: identities, labels that land where the pixels go, replay and
kernel-path equality end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from augcli import distort as D
from augcli.cli import cli
from augcli.kernels import available
from augcli.ops import Elastic, GridDistort, Lens
from augcli.pipeline import Pipeline

from .conftest import pattern, tree_bytes

DISTORTIONS = {
    "elastic": ["--elastic", "400:12"],
    "grid": ["--grid-distort", "0.25"],
    "lens": ["--lens", "0.3"],
    "all": ["--elastic", "600:15", "--grid-distort", "0.2", "--lens", "0.3", "--rotate", "10"],
}


def invoke(*args, expect=0):
    res = CliRunner().invoke(cli, [*map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


@pytest.mark.parametrize("op,params", [(Elastic(alpha_sigma=(0.0, 20.0)), {"alpha": 0.0, "sigma": 20.0, "seed": 7}),
                                       (Elastic(alpha_sigma=(0.0, 3.0)), {"alpha": 0.0, "sigma": 3.0, "seed": 7}),
                                       (Lens(limit=0.3), {"k": 0.0}),
                                       (GridDistort(limit=0.2), {"offsets": [[0.0, 0.0]] * 16})])
@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA"])
def test_a_zero_field_is_the_identity_byte_for_byte(op, params, mode):
    image = pattern(61, 37, mode)
    pipe = Pipeline((op,))
    plan = [{"op": op.name, "applied": True, **params}]
    out = pipe.apply(image, plan)
    assert out.mode == image.mode and out.tobytes() == image.tobytes()


def test_params_are_small_json_and_checked():
    pipe = Pipeline((Elastic(alpha_sigma=(300.0, 20.0)), GridDistort(limit=0.2), Lens(limit=0.2)))
    rngs = {}
    plan = pipe.plan(lambda name: rngs.setdefault(name, np.random.default_rng(len(rngs))), (200, 100))
    text = json.dumps(plan)
    assert len(text) < 2000
    pipe.check(json.loads(text), (200, 100))
    bad = json.loads(text)
    bad[1]["offsets"][0][0] = 0.35
    with pytest.raises(ValueError, match="outside the op's range"):
        pipe.check(bad, (200, 100))


def test_the_field_is_smooth_and_of_simards_size():
    # Simard's field: std alpha / sqrt(3) / (2 sqrt(pi) sigma) per axis
    lattice, _ = D.elastic_lattice(1000.0, 10.0, 3, (2000, 2000))
    want = 1000.0 / np.sqrt(3.0) / (2.0 * np.sqrt(np.pi) * 10.0)
    assert 0.8 * want < lattice.std() < 1.2 * want


def dots(root: Path, size=(240, 180), n=14, seed=0) -> list[tuple[float, float]]:
    """A black image with small bright dots at random sub-pixel places, and a YOLO pose label with
    one keypoint on each dot. (Gaussian dots of 2 px: a field that halves them still samples them.)"""
    w, h = size
    rng = np.random.default_rng(seed)
    pts = [(float(rng.uniform(30, w - 30)), float(rng.uniform(30, h - 30))) for _ in range(n)]
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w), float)
    for x, y in pts:
        img = np.maximum(img, np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0 ** 2)))
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    Image.fromarray(np.rint(img * 255).astype(np.uint8)).convert("RGB").save(root / "images/train/d.png")
    kp = " ".join(f"{(x + 0.5) / w:.6f} {(y + 0.5) / h:.6f} 2" for x, y in pts)
    (root / "labels/train/d.txt").write_text(f"0 0.5 0.5 0.8 0.8 {kp}\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images/train", "names": ["d"],
                                                    "kpt_shape": [n, 3]}))
    return pts


@pytest.mark.parametrize("which", list(DISTORTIONS))
def test_each_keypoint_lands_on_its_dot(tmp_path, which):
    dots(tmp_path / "in")
    out = tmp_path / "out"
    invoke("expand", tmp_path / "in", out, "-n", "3", "--seed", "4", "--fill-mode", "constant", *DISTORTIONS[which])
    checked = 0
    for k in range(3):
        img = np.asarray(Image.open(out / f"images/train/d_{k}.png").convert("L"), float)
        h, w = img.shape
        vals = (out / f"labels/train/d_{k}.txt").read_text().split()[5:]
        for i in range(0, len(vals), 3):
            if vals[i + 2] == "0":
                continue
            x, y = float(vals[i]) * w - 0.5, float(vals[i + 1]) * h - 0.5
            x0, y0 = int(round(x)) - 5, int(round(y)) - 5
            if x0 < 0 or y0 < 0 or x0 + 11 > w or y0 + 11 > h:
                continue
            win = img[y0:y0 + 11, x0:x0 + 11]
            # the dot is where its peak is (the pixels put the dot's centre at the keypoint's place;
            # its outline, stretched unevenly by the field, need not be centred there): the brightest
            # pixel, refined by a parabola through it and its neighbours on each axis
            py, px = np.unravel_index(np.argmax(win), win.shape)
            assert win[py, px] > 100 and 0 < px < 10 and 0 < py < 10, (k, i)

            def vertex(a, b, c):
                return 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0

            cx = x0 + px + vertex(win[py, px - 1], win[py, px], win[py, px + 1])
            cy = y0 + py + vertex(win[py - 1, px], win[py, px], win[py + 1, px])
            assert np.hypot(cx - x, cy - y) <= 1.0, (which, k, i // 3, cx - x, cy - y)
            checked += 1
    assert checked >= 20


def test_forward_map_inverts_the_backward_map():
    size = (300, 200)
    for op, params in [(Elastic(alpha_sigma=(400.0, 15.0)), {"alpha": 400.0, "sigma": 15.0, "seed": 11}), (Lens(limit=0.3), {"k": -0.3}),
                       (GridDistort(limit=0.25), {"offsets": [[0.24, -0.24], [-0.24, 0.24]] * 8})]:
        nodes = D.Nodes(op.field(params, size), size, op.grid_shift())
        # points of the affine output that the output shows (those have a place in it)
        p0 = np.random.default_rng(0).uniform([0, 0], [299, 199], (500, 2))
        q = nodes.backward(p0)
        p, err = nodes.forward(q)
        assert np.abs(p - p0).max() < 1e-6 and err.max() < 1e-6, op.name
    # a corner a pincushion pulls out of view has no place in the output: it is put outside it
    nodes = D.Nodes(Lens(limit=0.3).field({"k": -0.3}, size), size)
    out = nodes.forward_edges(np.array([[0.5, 0.5], [150.0, 100.0]]))
    # (the centre stays where it is, up to the node grid's interpolation of the exact field)
    assert out[0, 0] < -100 and out[0, 1] < -100 and np.abs(out[1] - [150.0, 100.0]).max() < 1e-2


def _reference_newton(nodes, q, p):
    """Nodes._newton as first written: every point iterated until all are solved."""
    s = float(1 << nodes.shift)
    res = nodes.backward(p) - q
    err = np.hypot(res[:, 0], res[:, 1])
    for _ in range(D.NEWTON_STEPS):
        if not np.any(err > 1e-9):
            break
        a, b, c, d, tx, ty = nodes._cells(p)
        jx = ((b - a) * (1.0 - ty) + (d - c) * ty) / s
        jy = ((c - a) * (1.0 - tx) + (d - b) * tx) / s
        det = jx[:, 0] * jy[:, 1] - jy[:, 0] * jx[:, 1]
        det = np.where(np.abs(det) > 1e-12, det, 1e-12)
        step = np.stack([(jy[:, 1] * res[:, 0] - jy[:, 0] * res[:, 1]) / det,
                         (jx[:, 0] * res[:, 1] - jx[:, 1] * res[:, 0]) / det], axis=1)
        step = np.clip(step, -4.0 * s, 4.0 * s)
        for _ in range(8):
            cand = p - step
            cres = nodes.backward(cand) - q
            cerr = np.hypot(cres[:, 0], cres[:, 1])
            better = cerr <= err
            p = np.where(better[:, None], cand, p)
            res = np.where(better[:, None], cres, res)
            err = np.where(better, cerr, err)
            if better.all():
                break
            step = np.where(better[:, None], 0.0, step / 2.0)
    return p, err


def test_newton_skips_settled_points_and_gives_the_same_bits():
    """Points an iteration leaves where they were are not iterated again: the same bits as
    iterating every point (folds, points with no place, points far outside, exact zeros)."""
    size = (320, 240)
    rng = np.random.default_rng(3)
    fields = [(Elastic(alpha_sigma=(1000.0, 20.0)), {"alpha": 1000.0, "sigma": 20.0, "seed": 5}),
              (Elastic(alpha_sigma=(34.0, 4.0)), {"alpha": 34.0, "sigma": 4.0, "seed": 6}),
              (Lens(limit=0.3), {"k": -0.3}), (Lens(limit=0.3), {"k": 0.3}),
              (GridDistort(limit=0.25), {"offsets": rng.uniform(-0.25, 0.25, (16, 2)).tolist()})]
    moved = 0
    for op, params in fields:
        nodes = D.Nodes(op.field(params, size), size, op.grid_shift())
        for n in (1, 7, 60, 400):
            q = rng.uniform([-80, -80], [400, 320], (n, 2))
            q[:2] = [[0.0, -0.0], [-0.0, 0.0]][:n]
            start = 2.0 * q - nodes.backward(q) + rng.choice([0.0, 16.0, -8.0], (n, 1))
            want = _reference_newton(nodes, q, start.copy())
            got = nodes._newton(q, start.copy())
            for w, g in zip(want, got):
                assert w.tobytes() == g.tobytes(), (op.name, params, n)
            moved += int((got[1] > 1e-6).sum())
    assert moved > 0  # some points had no place (the case the skipping is for)


def test_boxes_follow_their_densified_edges(tmp_path):
    root = tmp_path / "in"
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    pattern(200, 160).save(root / "images/train/a.png")
    (root / "labels/train/a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images/train", "names": ["a"]}))
    invoke("expand", root, tmp_path / "out", "-n", "1", "--seed", "1", "--lens", "0.3",
           "--p", "lens=1")
    cx, cy, bw, bh = (float(v) for v in (tmp_path / "out/labels/train/a_0.txt").read_text().split()[1:])
    rec = json.loads((tmp_path / "out/manifest.jsonl").read_text().splitlines()[1])
    k = next(s for s in rec["ops"] if s["op"] == "lens")["k"]
    # the box's edges bow with the lens: its new box is the one around the mapped outline, which
    # for a centred box differs from the map of its corners alone
    nodes = D.Nodes(Lens(limit=0.3).field({"k": k}, (200, 160)), (200, 160))
    corners = nodes.forward_edges(np.array([[50.0, 40.0], [150.0, 40.0], [150.0, 120.0], [50.0, 120.0]]))
    mid = nodes.forward_edges(np.array([[100.0, 40.0], [150.0, 80.0]]))
    top = min(corners[:, 1].min(), mid[0, 1])
    assert abs((cy - bh / 2) * 160 - top) < 0.01
    assert abs(mid[0, 1] - corners[0, 1]) > 0.3  # the edge did bow


def test_a_labelled_output_works_out_its_field_once(tmp_path, monkeypatch):
    """The pixels and the labels of an output share its node grid (the elastic lattice is the
    costly part): one nodes_for a made output, not one for the image and another for its labels."""
    root = tmp_path / "in"
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    for name in "ab":
        pattern(120, 90, seed=ord(name)).save(root / f"images/train/{name}.png")
        (root / f"labels/train/{name}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images/train", "names": ["a"]}))
    calls = []
    real = D.nodes_for
    monkeypatch.setattr(D, "nodes_for", lambda *a, **k: calls.append(1) or real(*a, **k))
    invoke("expand", root, tmp_path / "out", "-n", "3", "--seed", "1", "--elastic", "400:12", "-j", "1")
    assert len(calls) == 6
    for rec in [json.loads(line) for line in (tmp_path / "out/manifest.jsonl").read_text().splitlines()[1:]]:
        assert rec["status"] == "ok" and rec["labels"]["out"] == 1


def test_replay_and_every_kernel_path_give_the_same_bytes(tmp_path):
    dots(tmp_path / "in")
    args = ["-m", "augcli", "expand", str(tmp_path / "in"), "", "-n", "2", "--seed", "9", *DISTORTIONS["all"],
            "--fill-mode", "reflect"]
    trees = []
    for path in available():
        out = tmp_path / f"out_{path}"
        args[4] = str(out)
        env = {**os.environ, "AUGCLI_KERNELS": path}
        res = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)
        assert res.returncode == 0, res.stderr
        trees.append({k: v for k, v in tree_bytes(out).items() if k != "manifest.jsonl"})
    assert all(t == trees[0] for t in trees)
    out = tmp_path / f"out_{available()[0]}"
    invoke("replay", out / "manifest.jsonl", "--output", tmp_path / "again")
    again = {k: v for k, v in tree_bytes(tmp_path / "again").items() if k != "manifest.jsonl"}
    assert again == {k: v for k, v in trees[0].items() if k in again} and len(again) >= 2


def test_bicubic_with_a_distortion_is_a_usage_error(tmp_path):
    dots(tmp_path / "in")
    res = invoke("expand", tmp_path / "in", tmp_path / "out", "--lens", "0.2", "--interpolation", "bicubic",
                 expect=2)
    assert "bicubic" in res.output


def test_masks_follow_the_field_by_nearest():
    mask = Image.fromarray((np.arange(60 * 40).reshape(40, 60) % 5).astype(np.uint8), "L").convert("P")
    mask.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9] + [0] * 753)
    op, params = Elastic(alpha_sigma=(500.0, 8.0)), {"alpha": 500.0, "sigma": 8.0, "seed": 1}
    nodes = D.Nodes(op.field(params, (60, 40)), (60, 40), op.grid_shift())
    out = D.remap_mask(mask, nodes, np.eye(3), 0)
    assert out.mode == "P" and out.getpalette()[:15] == mask.getpalette()[:15]
    assert set(np.unique(np.asarray(out))) <= set(range(5))  # nearest: no value is made up
    assert out.tobytes() != mask.tobytes()


@pytest.mark.parametrize("fill", ["nearest", "reflect", "wrap", "constant"])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_32_bit_images_follow_the_kernels_coordinates(fill, interpolation):
    # an I image holding 8-bit values gives the kernel's bytes for the L image, within the rounding
    image = pattern(45, 31, "L")
    op, params = Lens(limit=0.3), {"k": 0.25}
    nodes = D.Nodes(op.field(params, image.size), image.size)
    m = np.array([[0.95, 0.1, 2.3], [-0.1, 1.02, -1.7], [0, 0, 1]])
    want = np.asarray(D.remap(image, nodes, m, fill_mode=fill, cval=77, interpolation=interpolation), float)
    got = np.asarray(D.remap(image.convert("F"), nodes, m, fill_mode=fill, cval=77, interpolation=interpolation))
    # (the 8-bit kernel is within 0.61 levels of the float result: README "Native kernels")
    assert np.abs(got - want).max() <= (0.0 if interpolation == "nearest" else 0.62)


FIELD_DIGESTS = {"elastic": "3d143e0dd934395b", "grid_distort": "88121c4c14c63744", "lens": "c1a141760033113f"}


@pytest.mark.parametrize("name", list(FIELD_DIGESTS))
def test_field_digests(name):
    # the node grids the remap gets: pins the fields (numpy's PCG64, the smoothing, the maps) everywhere
    import hashlib

    op, params = {"elastic": (Elastic(alpha_sigma=(300.0, 20.0)), {"alpha": 300.0, "sigma": 20.0, "seed": 77}),
                  "grid_distort": (GridDistort(limit=0.2), {"offsets": [[0.1, -0.2], [0.05, 0.15]] * 8}),
                  "lens": (Lens(limit=0.3), {"k": -0.27})}[name]
    nodes = D.Nodes(op.field(params, (640, 480)), (640, 480), op.grid_shift())
    assert hashlib.sha256(nodes.grid(np.eye(3))).hexdigest()[:16] == FIELD_DIGESTS[name]


def test_coco_polygons_follow_the_pixels_and_rle_masks_are_remapped(tmp_path):
    """IoU >= 0.9 between pycocotools' raster of a polygon carried by the forward map and the input
    polygon's raster remapped with the output's own map (nearest); the RLE mask is remapped too."""
    from pycocotools.coco import COCO

    from .test_labels_coco import make

    inp = make(tmp_path / "in", n_images=1, size=(160, 120))
    invoke("expand", inp, tmp_path / "out", "--elastic", "300:16", "--lens", "0.3", "--rotate", "10", "-n", "3",
           "--seed", "2", "-j", "1")
    lines = (tmp_path / "out/manifest.jsonl").read_text().splitlines()
    pipe = Pipeline.from_description(json.loads(lines[0])["config"]["pipeline"])
    coco = COCO(str(tmp_path / "out/annotations/instances_train.json"))
    in_mask = COCO(str(inp / "annotations/instances_train.json")).annToMask(
        COCO(str(inp / "annotations/instances_train.json")).anns[2])
    for line in lines[1:]:
        rec = json.loads(line)
        matrix, size = pipe.geometry(rec["ops"], (160, 120))
        nodes = pipe.distortion(rec["ops"], size)
        assert nodes is not None
        want = np.asarray(D.remap_mask(Image.fromarray(in_mask * 255), nodes, matrix, 0)) > 0
        image = next(im for im in coco.dataset["images"] if im["file_name"] == rec["output"].split("/")[-1])
        anns = [a for a in coco.dataset["annotations"] if a["image_id"] == image["id"] and a["category_id"] == 2]
        poly = next(a for a in anns if isinstance(a["segmentation"], list))
        got = coco.annToMask(poly) > 0
        assert (got & want).sum() / (got | want).sum() >= 0.9
        assert any(isinstance(a["segmentation"], dict) and a["area"] > 0 for a in anns)  # the RLE mask


@pytest.mark.parametrize("value,message", [("abc", "not a number"), ("300:0", "SIGMA=0 must be between"),
                                           ("300:20:5", "not a number"), ("-1", "ALPHA=-1 must be between")])
def test_bad_elastic_values_are_usage_errors(tmp_path, value, message):
    dots(tmp_path / "in")
    res = invoke("expand", tmp_path / "in", tmp_path / "out", "--elastic", value, expect=2)
    assert message in res.output and not (tmp_path / "out").exists()


def test_elastic_sigma_defaults_to_50(tmp_path):
    dots(tmp_path / "in")
    invoke("expand", tmp_path / "in", tmp_path / "out", "--elastic", "300", "-n", "1")
    rec = json.loads((tmp_path / "out/manifest.jsonl").read_text().splitlines()[1])
    step = next(s for s in rec["ops"] if s["op"] == "elastic")
    assert (step["alpha"], step["sigma"]) == (300.0, 50.0)


def test_densify_all_edges_at_once_matches_edge_by_edge():
    from augcli.labels import distorted as DD

    rng = np.random.default_rng(0)
    for trial in range(500):
        ring = rng.uniform(-50, 700, (int(rng.integers(1, 40)), 2)) * rng.choice([1.0, 1e-3, 1e3])
        if trial % 5 == 0 and len(ring) > 2:
            ring[1] = ring[0]  # a zero-length edge
        got, want = DD.densify(ring), DD._densify_edges(ring)
        assert got.shape == want.shape and got.tobytes() == want.tobytes(), trial
    assert len(DD.densify([[0, 0], [10, 0], [10, 10]])) == 4 + 4 + 4  # at least 4 per edge
