"""The JPEG round trip kernel (jpegsim.c): byte for byte what Pillow gives for
``Image.open(save(image, "JPEG", quality=q))``, for L and RGB, every quality, sizes of every parity
around the 8- and 16-pixel blocks, noise, gradients, flat and binary images and real photos; the same
bytes on every kernel path; alpha and pad bytes kept; no byte read or written outside the buffers.

AUGCLI_JPEG_ALL=1 runs the slow check (every quality 1..100 on every width 1..70)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augcli import functional as F
from augcli import kernels as K
from .test_kernels_pixel import Guarded

PHOTOS = sorted((Path(__file__).resolve().parent.parent / "sample_images").rglob("*.jpg"))


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


def pillow(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    with Image.open(io.BytesIO(buf.getvalue())) as out:
        return out.tobytes()


def kernel(image: Image.Image, quality: int) -> bytes:
    bpp = {"L": 1, "RGB": 3}[image.mode]
    return bytes(K.jpeg(image.tobytes(), image.size, bpp, bpp, quality))


_photo_cache: list[np.ndarray] = []


def photo(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    if not _photo_cache:
        for path in PHOTOS:
            with Image.open(path) as im:
                _photo_cache.append(np.asarray(im.convert("RGB")))
    a = _photo_cache[int(rng.integers(len(_photo_cache)))]
    y, x = int(rng.integers(0, a.shape[0] - h + 1)), int(rng.integers(0, a.shape[1] - w + 1))
    return a[y:y + h, x:x + w]


def images(rng: np.random.Generator, w: int, h: int):
    """(name, RGB array): noise, a smooth gradient with a little noise, a flat colour, a binary
    checkerboard of 255 and 0 (the largest swings), rows of one colour each (blocks whose rows have
    no AC terms), and a crop of a real photo."""
    y, x = np.mgrid[0:h, 0:w]
    yield "noise", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    g = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(w + h - 2, 1)], -1)
    yield "gradient", np.clip(g + rng.integers(-2, 3, g.shape), 0, 255).astype(np.uint8)
    yield "flat", np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), (h, w, 3))
    yield "binary", np.where(((x // int(rng.integers(1, 3)) + y) % 2)[..., None] == 1, 255, 0).astype(np.uint8).repeat(3, -1)
    yield "rows", np.broadcast_to(rng.integers(0, 256, (h, 1, 3)).astype(np.uint8), (h, w, 3))
    if PHOTOS:
        yield "photo", photo(rng, w, h)


def check(w: int, h: int, qualities, rng: np.random.Generator) -> None:
    for name, a in images(rng, w, h):
        rgb = Image.fromarray(np.ascontiguousarray(a), "RGB")
        for image in (rgb, rgb.convert("L")):
            for q in qualities:
                assert kernel(image, q) == pillow(image, q), (name, image.mode, w, h, q)


SIDES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 16, 17, 18, 23, 24, 25, 31, 32, 33, 34, 47, 49, 63, 64, 66, 70]


@pytest.mark.parametrize("w", SIDES)
def test_the_round_trip_is_pillows_byte_for_byte(w):
    """Every width and height class (parities, 8- and 16-pixel multiples and their neighbours); each
    image at 4 qualities drawn from 1..100 plus the ends."""
    rng = np.random.default_rng(w)
    for h in SIDES:
        check(w, h, sorted({1, 100, *(int(v) for v in rng.integers(1, 101, 4))}), rng)


def test_every_quality_on_odd_sizes_and_large_images():
    rng = np.random.default_rng(24)
    for w, h in [(13, 11), (40, 21)]:
        check(w, h, range(1, 101), rng)
    larges = []
    for path in PHOTOS:
        with Image.open(path) as im:
            larges.append(im.convert("RGB"))
    if PHOTOS:  # a large one: the photos tiled, 4 x 3
        tiles = [np.asarray(im.resize((320, 240))) for im in larges]
        larges.append(Image.fromarray(np.vstack([np.hstack([tiles[(i + k) % len(tiles)] for i in range(4)]) for k in range(3)])))
    y, x = np.mgrid[0:777, 0:1031]
    g = np.stack([(x * 7 + y) % 256, (y * 3) % 256, (x + y * 5) // 8 % 256], -1) + rng.integers(-9, 10, (777, 1031, 3))
    larges.append(Image.fromarray(np.clip(g, 0, 255).astype(np.uint8)))
    for big in larges:
        for image in (big, big.convert("L")):
            for q in (2, 10, 35, 50, 75, 90, 95, 100):
                assert kernel(image, q) == pillow(image, q), (image.mode, image.size, q)


@pytest.mark.skipif(os.environ.get("AUGCLI_JPEG_ALL") != "1", reason="the slow check: AUGCLI_JPEG_ALL=1")
def test_every_quality_on_every_width():
    for w in range(1, 71):
        rng = np.random.default_rng(1000 + w)
        for h in (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 70):
            check(w, h, range(1, 101), rng)


def test_every_path_gives_the_same_bytes(path_restored):
    rng = np.random.default_rng(5)
    for w, h in [(1, 1), (5, 3), (16, 16), (37, 29), (131, 97)]:
        for name, a in images(rng, w, h):
            for bpp, nc, raw in [(3, 3, a.tobytes()), (1, 1, Image.fromarray(np.ascontiguousarray(a)).convert("L").tobytes())]:
                for q in (1, 7, 50, 93, 100):
                    outs = set()
                    for path in K.available():
                        K.use(path)
                        outs.add(bytes(K.jpeg(raw, (w, h), bpp, nc, q)))
                    assert len(outs) == 1, (name, w, h, bpp, q)


@pytest.mark.parametrize("bpp, nc", [(2, 1), (4, 3)])
def test_other_bytes_are_kept_and_the_colour_is_the_packed_round_trip(bpp, nc):
    """LA and RGBA/RGBX (Pillow keeps RGB as 4 bytes a pixel in memory): the colour bands are the
    round trip of the packed colour, the other byte is copied."""
    rng = np.random.default_rng(bpp)
    a = rng.integers(0, 256, (23, 19, bpp), dtype=np.uint8)
    out = np.frombuffer(bytes(K.jpeg(a.tobytes(), (19, 23), bpp, nc, 60)), np.uint8).reshape(a.shape)
    colour = bytes(K.jpeg(np.ascontiguousarray(a[..., :nc]).tobytes(), (19, 23), nc, nc, 60))
    assert out[..., :nc].tobytes() == colour
    assert np.array_equal(out[..., nc:], a[..., nc:])


def test_bad_arguments_are_value_errors():
    src = bytes(12)
    for args in [((2, 2), 3, 3, 0), ((2, 2), 3, 3, 101), ((2, 2), 3, 2, 50), ((2, 2), 3, 3, 50.5), ((3, 2), 3, 3, 50)]:
        with pytest.raises(ValueError):
            K.jpeg(src, *args)
    with pytest.raises(ValueError):
        K.jpeg(src, (2, 2), 3, 3, 50, out=bytearray(11))


@pytest.mark.skipif(not hasattr(os, "uname") or os.uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_the_kernel_stays_inside_buffers_placed_against_guard_pages(path_restored):
    g = Guarded()
    rng = np.random.default_rng(9)
    for path in K.available():
        K.use(path)
        for w, h in [(1, 1), (1, 9), (9, 1), (3, 5), (17, 3), (16, 16), (33, 17), (61, 43)]:
            for bpp, nc in [(1, 1), (2, 1), (3, 3), (4, 3)]:
                raw = rng.integers(0, 256, w * h * bpp, dtype=np.uint8).tobytes()
                expected = bytes(K.jpeg(raw, (w, h), bpp, nc, 80))
                for at_end in (True, False):
                    src = g.buffer(len(raw), at_end)
                    src[:] = raw
                    dst = g.buffer(len(raw), at_end)
                    K.jpeg(src, (w, h), bpp, nc, 80, out=dst)
                    assert bytes(dst) == expected


def pillow_op(image: Image.Image, quality: int) -> Image.Image:
    """--jpeg-artifacts as it was before the kernel: Pillow's round trip of the colour bands, alpha
    kept, 16-bit and float data through 8 bits."""
    colour, alpha = F.split_alpha(image)
    if colour.mode in ("L", "RGB"):
        return F.merge_alpha(Image.open(io.BytesIO(_saved(colour, quality))).convert(colour.mode), alpha)
    scale = F.value_scale(colour.mode)
    eight = Image.fromarray(np.clip(np.rint(np.asarray(colour).astype(np.float64) / scale), 0, 255).astype(np.uint8), "L")
    back = np.asarray(Image.open(io.BytesIO(_saved(eight, quality)))).astype(np.float64) * scale
    return F.from_array(back.astype(np.asarray(colour).dtype), colour.mode)


def _saved(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "I", "F"])
@pytest.mark.parametrize("path", K.PATHS)
def test_the_op_gives_pillows_bytes_in_every_working_mode(mode, path, path_restored):
    """On every path, through the kernel (the scalar build too: the bytes never depend on the
    JPEG library Pillow was built with)."""
    if path not in K.available():
        pytest.skip(f"this CPU has no {path} path")
    K.use(path)
    rng = np.random.default_rng(len(mode))
    base = Image.fromarray(rng.integers(0, 256, (37, 45, 4), dtype=np.uint8), "RGBA")
    if mode in ("I;16", "I", "F"):
        grey = np.asarray(base.convert("L")).astype(np.float64)
        values = grey * 257 + rng.integers(0, 257, grey.shape) if mode != "F" else grey + rng.random(grey.shape)
        image = F.from_array(values.astype({"I;16": "<u2", "I": "<i4", "F": "<f4"}[mode]), mode)
    else:
        image = base.convert(mode)
    for q in (1, 30, 75, 100):
        out = F.jpeg_round_trip(image, q)
        assert out.mode == mode and out.tobytes() == pillow_op(image, q).tobytes(), q


def test_pillow_makes_the_round_trips_the_kernel_leaves_undecided(monkeypatch, path_restored):
    K.use(K.available()[-1])
    calls = []

    def undecided(src, size, bpp, nc, quality, *, out=None):
        calls.append(quality)
        raise K.JpegUndecided("jpeg: undecided")

    monkeypatch.setattr(K, "jpeg", undecided)
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (21, 30, 4), dtype=np.uint8), "RGBA")
    for mode in ("L", "LA", "RGB", "RGBA", "I;16"):
        im = image.convert(mode) if mode != "I;16" else F.from_array(np.asarray(image.convert("L")).astype("<u2") * 257, mode)
        assert F.jpeg_round_trip(im, 40).tobytes() == pillow_op(im, 40).tobytes()
    assert calls == [40] * 5


def test_the_op_runs_the_kernel_on_every_path_and_not_pillows_encoder(monkeypatch, path_restored):
    image = Image.fromarray(np.random.default_rng(4).integers(0, 256, (19, 26, 3), dtype=np.uint8), "RGB")
    want = pillow_op(image, 55).tobytes()

    def no_pillow(*args, **kw):
        raise AssertionError("Pillow's JPEG encoder was called")

    monkeypatch.setattr(Image.Image, "save", no_pillow)
    for path in K.available():
        K.use(path)
        assert F.jpeg_round_trip(image, 55).tobytes() == want, path
