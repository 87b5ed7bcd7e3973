"""How a composition's scaled sources are rendered: ``render: 2`` steps warp each source straight into
the canvas box it shows with augcli's kernel (augcli/compose_pixels.py); records made before that
(no ``render``) are replayed through Pillow's resize, as they were made."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augcli.compose import RENDER, build_image
from augcli.compose_pixels import box_matrix, reduction
from augcli.warping import warp

from .conftest import tree_bytes
from .test_compose import COLOURS, colour_of, flat, records
from .test_engines import augcli

FIXTURE = Path(__file__).resolve().parent / "data" / "compose_render1"


def test_a_record_made_before_render_2_replays_to_the_same_images(tmp_path):
    """tests/data/compose_render1: mosaics, mixups and cutmixes made by augcli 32624f2 (Pillow's
    resize, no ``render`` in the record), PNG outputs."""
    lines = (FIXTURE / "out" / "manifest.jsonl").read_text().splitlines()
    recs = [json.loads(line) for line in lines[1:]]
    assert not any("render" in step for rec in recs for step in rec["compose"])
    assert {step["op"] for rec in recs for step in rec["compose"]} == {"mosaic", "mixup", "cutmix"}
    shutil.copytree(FIXTURE / "in", tmp_path / "in")
    augcli("replay", FIXTURE / "out" / "manifest.jsonl", "--input", "in", "--output", "again", "-q", cwd=tmp_path)
    for rec in recs:
        with Image.open(FIXTURE / "out" / rec["output"]) as want, Image.open(tmp_path / "again" / rec["output"]) as got:
            assert got.mode == want.mode and got.size == want.size
            assert got.tobytes() == want.tobytes(), rec["output"]


def test_new_records_say_render_2_and_replay_byte_identically(tmp_path):
    flat(tmp_path / "in", 6, size=(64, 48))
    flat(tmp_path / "in", 3, size=(200, 90), folder="big")  # shrunk by more than 2: box-reduced first
    augcli("expand", "in", "out", "-n", "3", "--mosaic", "1", "--mixup", "0.5", "--cutmix", "0.5", "--rotate", "20",
           "--seed", "6", "--format", "png", "-q", cwd=tmp_path)
    recs = records(tmp_path / "out")
    steps = [step for rec in recs for step in rec["compose"]]
    assert {s["op"] for s in steps} == {"mosaic", "mixup", "cutmix"}
    assert all(s["render"] == RENDER for s in steps)
    augcli("replay", "out/manifest.jsonl", "--output", "again", "-q", cwd=tmp_path)
    assert tree_bytes(tmp_path / "again") == {k: v for k, v in tree_bytes(tmp_path / "out").items()
                                              if k != "manifest.jsonl"}


@pytest.mark.parametrize("render", [1, 3, "2", True])
def test_replay_refuses_a_render_it_does_not_know(tmp_path, render):
    flat(tmp_path / "in", 3)
    augcli("expand", "in", "out", "--mosaic", "1", "--seed", "1", "-q", cwd=tmp_path)
    lines = (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()
    rec = json.loads(lines[1])
    rec["compose"][0]["render"] = render
    (tmp_path / "m.jsonl").write_text("\n".join([lines[0], json.dumps(rec)]) + "\n")
    res = augcli("replay", "m.jsonl", "--output", "again", cwd=tmp_path, expect=1)
    assert "render" in res.stderr and "composition" in res.stderr
    assert not any((tmp_path / "again").rglob("*.png"))


def _gradient(w: int, h: int) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) % 7 * 30], -1).astype(np.uint8))


def test_a_tile_is_its_source_warped_into_the_box_it_shows():
    src = _gradient(90, 60)
    primary = Image.new("RGB", (64, 48), COLOURS[0])
    tiles = [{"source": "a", "size": [32, 21], "at": [-3, 5], "region": [0, 0, 29, 26]},
             {"source": "p", "size": [32, 24], "at": [29, 2], "region": [29, 0, 64, 26]},
             {"source": "a", "size": [32, 21], "at": [-3, 26], "region": [0, 26, 29, 48]},
             {"source": "a", "size": [32, 21], "at": [29, 26], "region": [29, 26, 64, 48]}]
    canvas = build_image([{"op": "mosaic", "grid": 2, "tiles": tiles, "render": RENDER}], primary,
                         {"a": src, "p": primary})
    px = np.asarray(canvas)
    assert reduction(src.size, (32, 21)) == 2  # 90 -> 32 shrinks by 2.8: a 2x2 box, then the warp
    want = warp(src.reduce(2), box_matrix(src.size, (32, 21), (-3, 5), (0, 5, 29, 26), 2), (29, 21),
                fill_mode="nearest", interpolation="bilinear")
    assert np.array_equal(px[5:26, 0:29], np.asarray(want))
    assert (px[0:5, 0:29] == 114).all()  # above the tile, inside its cell: grey
    assert (px[2:26, 29:61] == COLOURS[0]).all() and (px[0:2, 29:64] == 114).all()
    # the warp follows the recorded placement: the tile's left column is the source's left edge
    # (red 0 there), its right column the source's right edge, whatever the reduction
    assert px[30, 29, 0] <= 12 and px[30, 60, 0] >= 243


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA"])
def test_mosaics_of_every_8_bit_mode_show_their_sources(tmp_path, mode):
    (tmp_path / "in").mkdir()
    for i in range(4):
        Image.new("RGBA", (64, 48), COLOURS[i] + (255,)).convert(mode).save(tmp_path / "in" / f"f{i}.png")
    augcli("expand", "in", "out", "-n", "2", "--mosaic", "1", "--seed", "3", "--format", "png", "-q", cwd=tmp_path)
    for rec in records(tmp_path / "out"):
        px = np.asarray(Image.open(tmp_path / "out" / rec["output"]))
        for t in rec["compose"][0]["tiles"]:
            x0, y0, x1, y1 = t["region"]
            (ax, ay), (tw, th) = t["at"], t["size"]
            cx0, cy0, cx1, cy1 = max(x0, ax), max(y0, ay), min(x1, ax + tw), min(y1, ay + th)
            if cx1 - cx0 >= 3 and cy1 - cy0 >= 3:
                want = np.asarray(Image.new("RGBA", (1, 1), colour_of(t["source"]) + (255,)).convert(mode))[0, 0]
                assert np.array_equal(px[(cy0 + cy1) // 2, (cx0 + cx1) // 2], want)


def test_painting_in_place_gives_the_pixels_of_the_box_pasted():
    """``paint`` writes L and RGB canvases in their own memory; the same bytes as warping the box
    alone and pasting it (the path of the other modes), whatever the scale, crop or position."""
    from augcli.compose_pixels import paint, scaled_box

    rng = np.random.default_rng(0)
    checked = 0
    for mode in ("L", "RGB"):
        for _ in range(120):
            (sw, sh), (tw, th), (cw, ch) = rng.integers(1, 90, 2), rng.integers(1, 90, 2), rng.integers(1, 80, 2)
            src = Image.fromarray(rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8)).convert(mode)
            at = (int(rng.integers(-tw, cw)), int(rng.integers(-th, ch)))
            box = (max(0, at[0]), max(0, at[1]), min(int(cw), at[0] + tw), min(int(ch), at[1] + th))
            if box[0] >= box[2] or box[1] >= box[3]:
                continue
            a = Image.new(mode, (int(cw), int(ch)), 7)
            b = a.copy()
            paint(a, "s", src, (tw, th), at, box)
            b.paste(scaled_box("s", src, mode, (tw, th), at, box), box[:2])
            assert a.tobytes() == b.tobytes()
            checked += 1
    assert checked > 60


def test_the_kernel_writes_a_box_in_place_and_refuses_one_that_does_not_fit():
    from augcli import kernels

    src = bytes(range(16))  # 4x4, one byte a pixel
    out = bytearray(b"\xff" * 30)  # a 6x5 image
    kernels.warp(src, (4, 4), 1, np.eye(3), (2, 2), fill="nearest", interpolation="bilinear", cval=b"\0",
                 out=memoryview(out)[6 + 1:], out_stride=6)
    assert out[7:9] == bytes([0, 1]) and out[13:15] == bytes([4, 5])
    assert out.count(0xFF) == 26  # nothing else written
    with pytest.raises(ValueError, match="buffer"):
        kernels.warp(src, (4, 4), 1, np.eye(3), (2, 2), fill="nearest", interpolation="bilinear", cval=b"\0",
                     out=memoryview(out)[25:], out_stride=6)
    with pytest.raises(ValueError, match="buffer"):
        kernels.warp(src, (4, 4), 1, np.eye(3), (4, 2), fill="nearest", interpolation="bilinear", cval=b"\0",
                     out=out, out_stride=3)


def test_a_worker_keeps_no_more_prepared_sources_than_its_window():
    """Sources as loaded are the worker's recent sources (--mix-window + 1 of them): the scaled
    cache keeps only what it makes (converted or box-reduced sources), at most a window's worth."""
    from augcli.compose import Scaled
    from augcli.compose_pixels import paint

    cache = Scaled(4 * 17)  # what a worker with --mix-window 16 has
    canvas = Image.new("RGB", (64, 48))
    for i in range(40):  # as large as the canvas: placed at half size, nothing made
        paint(canvas, f"same{i}", Image.new("RGB", (64, 48), COLOURS[i % 9]), (32, 24), (0, 0), (0, 0, 32, 24), cache)
    assert not cache.sources and not cache.items
    for i in range(40):  # large (box-reduced) and grey (converted) sources: kept, the oldest dropped
        paint(canvas, f"big{i}", Image.new("RGB", (400, 300)), (32, 24), (0, 0), (0, 0, 32, 24), cache)
        paint(canvas, f"grey{i}", Image.new("L", (64, 48)), (32, 24), (32, 0), (32, 0, 64, 24), cache)
    assert len(cache.sources) == 17
    assert list(cache.sources)[-1] == ("grey39", "source", 1, "RGB")


def test_a_workers_canvas_is_made_when_its_output_is_rendered(monkeypatch):
    """plan_compositions asks for every output's record first; each canvas is made only when its
    output is rendered (while its pixels are still in the caches), and a canvas that cannot be made
    is the output's error as before ("cannot compose: ...")."""
    import augcli.compose as CP
    from augcli.errors import InputError
    from augcli.run.compose_work import compose_output

    images = {f"f{i}.png": Image.new("RGB", (64, 48), COLOURS[i]) for i in range(4)}
    get = lambda rel: (images[rel], images[rel].size, None)  # noqa: E731
    compose = CP.Compose(mosaic=1.0)
    picks = CP.PartnerPlan(compose, 1, sorted(images)).draw("f0.png", 0)
    built = []
    real = CP.build_image
    monkeypatch.setattr(CP, "build_image", lambda *a, **k: built.append(1) or real(*a, **k))
    made = compose_output(compose, 1, "f0.png", 0, picks, get, later=True)
    assert not built and made.record[0]["op"] == "mosaic"
    canvas = made.image
    assert built == [1] and made.image is canvas and canvas.size == (64, 48)
    assert compose_output(compose, 1, "f0.png", 0, picks, get).image is not None and built == [1, 1]

    def fails(*a, **k):
        raise ValueError("no room")

    monkeypatch.setattr(CP, "build_image", fails)
    made = compose_output(compose, 1, "f0.png", 0, picks, get, later=True)
    with pytest.raises(InputError, match="^cannot compose: no room$"):
        made.image
    with pytest.raises(ValueError, match="no room"):  # made at once (preview): the error as it is
        compose_output(compose, 1, "f0.png", 0, picks, get)
