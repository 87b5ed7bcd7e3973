"""--sharpen's own kernel (augcli/kernels/unsharp.c): the 16-bit form of Pillow's box pass checked on
every window sum, Pillow's exact UnsharpMask(2, percent, 3) bytes on many random images of every
layout, size and percent on every kernel path, no Pillow call, buffers against guard pages, bad
arguments refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageFilter

from augcli import tonal as F
from augcli import kernels as K
from augcli.kernels import _pixel
from augcli.ops import Sharpen

from .conftest import BENCH_IMAGES
from .test_kernels_pixel import Guarded

LAYOUTS = {"L": (1, 1), "LA": (2, 1), "RGB": (3, 3), "RGBA": (4, 3)}


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


def pillow_weights() -> tuple[int, int]:
    """(ww, fw) of one pass of Pillow's GaussianBlur(2) (3 passes), by its float32 arithmetic
    (BoxBlur.c _gaussian_blur_radius, ImagingHorizontalBoxBlur)."""
    f = np.float32
    sigma2 = f(f(2.0) * f(2.0) / f(3))
    big_l = f(math.sqrt(12.0 * float(sigma2) + 1.0))
    small_l = f(math.floor((float(big_l) - 1.0) / 2.0))
    a = f(f(f(2) * small_l + f(1)) * f(small_l * f(small_l + f(1)) - f(3) * sigma2))
    a = f(a / f(f(6) * f(sigma2 - f(small_l + f(1)) * f(small_l + f(1)))))
    radius = f(small_l + a)
    ww = int(f(f(1 << 24) / f(radius * f(2) + f(1))))
    return ww, ((1 << 24) - (2 * int(radius) + 1) * ww) // 2


def test_the_16_bit_box_pass_is_pillows_24_bit_pass_for_every_window_sum():
    ww, fw = pillow_weights()
    assert (ww, fw) == (4473924, 1677722)  # the constants unsharp.c's 16-bit form is derived from
    s3, s2 = (v.astype(np.int64) for v in np.meshgrid(np.arange(766), np.arange(511), indexing="ij"))
    pillow = (ww * s3 + fw * s2 + (1 << 23)) >> 24
    k = 8 * s3 + 3 * s2 + 15
    assert np.array_equal(k // 30 - ((k % 30 == 0) & (3 * s2 < 2 * s3)), pillow)
    assert np.array_equal((k - (3 * s2 < 2 * s3)) // 30, pillow)  # box5's form
    assert ((k % 30 == 0) & (3 * s2 < 2 * s3)).any() and ((k % 30 == 0) & (3 * s2 >= 2 * s3)).any()


def pillow_sharpen(image: Image.Image, percent: int) -> bytes:
    """Pillow's UnsharpMask on the colour bands, alpha kept (what --sharpen promises)."""
    if image.mode in ("L", "RGB"):
        return image.filter(ImageFilter.UnsharpMask(2, percent, 3)).tobytes()
    colour = image.convert("L" if image.mode == "LA" else "RGB")
    done = colour.filter(ImageFilter.UnsharpMask(2, percent, 3))
    return Image.merge(image.mode, (*done.split(), image.getchannel("A"))).tobytes()


def random_images(seed: int, count: int):
    """(image, percent): sizes 1x1 to 300x200, many narrower or shorter than the 5-tap window,
    uniform noise, coarse levels (big differences) and smooth ramps with noise (small ones);
    percents drawn as the op draws them (amount ~ U(0, 10), its limit) and the edges 0, 1, 500."""
    rng = np.random.default_rng(seed)
    edges = [0, 1, 500]
    for i in range(count):
        mode = ("L", "LA", "RGB", "RGBA")[i % 4]
        if i % 3 == 0:
            w, h = (int(v) for v in rng.integers(1, 6, 2))
        elif i % 3 == 1:
            w, h = int(rng.integers(1, 301)), int(rng.integers(1, 201))
        else:
            w, h = (int(v) for v in rng.integers(1, 40, 2))
        bands = len(mode)
        kind = i % 5
        if kind < 2:
            a = rng.integers(0, 256, (h, w, bands))
        elif kind == 2:
            a = rng.integers(0, 4, (h, w, bands)) * 85
        else:
            y, x = np.mgrid[0:h, 0:w]
            ramp = (x * 7 + y * 3)[..., None] % 256
            a = np.clip(ramp + rng.integers(-6, 7, (h, w, bands)), 0, 255)
        image = Image.frombytes(mode, (w, h), a.astype(np.uint8).tobytes())
        percent = edges[i] if i < len(edges) else F.unsharp_percent(rng.uniform(0.0, 10.0))
        yield image, percent


@pytest.mark.parametrize("path", ["scalar", "avx2", "avx512"])
def test_pillows_bytes_on_random_images_of_every_layout_on_every_path(path, path_restored):
    if path not in K.available():
        pytest.skip(f"this CPU has no {path} path")
    K.use(path)
    for image, percent in random_images(24, 160):
        expected = pillow_sharpen(image, percent)
        bpp, nc = LAYOUTS[image.mode]
        got = bytes(K.unsharp(image.tobytes(), image.size, bpp, nc, percent))
        assert got == expected, (image.mode, image.size, percent)
        assert F.sharpen(image, percent / 100).tobytes() == expected, (image.mode, image.size, percent)


def test_every_percent_the_op_can_draw_and_beyond(path_restored):
    rng = np.random.default_rng(3)
    image = Image.frombytes("RGB", (23, 17), rng.integers(0, 256, 23 * 17 * 3, dtype=np.uint8).tobytes())
    lo, hi = Sharpen.limits[:2]
    percents = range(round(lo * 100), round(hi * 100) + 1)
    for path in K.available():
        K.use(path)
        for percent in [*percents, 6399, 6400, 6401, 10_000, 1_000_000]:
            assert bytes(K.unsharp(image.tobytes(), image.size, 3, 3, percent)) == pillow_sharpen(image, percent), \
                (path, percent)


@pytest.mark.skipif(not BENCH_IMAGES.is_dir(), reason="no bench photos here")
def test_bench_photos_give_pillows_bytes(path_restored):
    for src in sorted(BENCH_IMAGES.rglob("*.jpg"))[:3]:
        with Image.open(src) as im:
            photo = im.convert("RGB")
        for path in K.available():
            K.use(path)
            for mode in ("RGB", "L"):
                image = photo.convert(mode)
                assert F.sharpen(image, 1.5).tobytes() == pillow_sharpen(image, 150), (src.name, path, mode)


def test_sharpen_is_augclis_own_kernel_not_a_pillow_filter(monkeypatch):
    image = Image.frombytes("RGB", (31, 9), bytes(range(256)) * 3 + bytes(31 * 9 * 3 - 768))
    expected = pillow_sharpen(image, 120)

    def refuse(*args, **kwargs):
        raise AssertionError("sharpen called Pillow's filter")

    monkeypatch.setattr(Image.Image, "filter", refuse)
    for mode in ("RGB", "RGBA", "L", "LA"):
        assert F.sharpen(image.convert(mode), 1.2).mode == mode
    assert F.sharpen(image, 1.2).tobytes() == expected


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_the_kernel_stays_inside_buffers_placed_against_guard_pages(path_restored):
    g = Guarded()
    rng = np.random.default_rng(10)
    for path in K.available():
        K.use(path)
        for w, h in [(1, 1), (1, 7), (7, 1), (2, 2), (3, 5), (17, 3), (61, 43), (129, 9)]:
            for bpp, nc in LAYOUTS.values():
                for at_end in (True, False):
                    src = g.buffer(w * h * bpp, at_end)
                    src[:] = rng.integers(0, 256, w * h * bpp, dtype=np.uint8).tobytes()
                    dst = g.buffer(w * h * bpp, at_end)
                    for percent in (1, 150, 6400):
                        K.unsharp(src, (w, h), bpp, nc, percent, out=dst)
                        assert bytes(dst) == bytes(K.unsharp(bytes(src), (w, h), bpp, nc, percent))


def test_bad_arguments_are_refused():
    src, dst = bytes(300), bytearray(300)
    for percent in (-1, 6401, 1 << 40):
        with pytest.raises((ValueError, OverflowError)):
            _pixel.unsharp(src, dst, 10, 10, 3, 3, percent)
    with pytest.raises(ValueError, match="299 bytes"):
        _pixel.unsharp(bytes(299), dst, 10, 10, 3, 3, 100)
    for w, h, bpp, nc in [(0, 10, 3, 3), (10, -10, 3, 3), (1 << 30, 1 << 30, 3, 3), ((1 << 31) - 1, 1, 3, 3),
                          (10, 6, 5, 3), (10, 10, 3, 4), (10, 10, 3, 0), (10, 10, 3, 3)]:
        with pytest.raises(ValueError):  # the last: an output one byte short
            _pixel.unsharp(src, bytearray(299 if (w, h, bpp, nc) == (10, 10, 3, 3) else 300), w, h, bpp, nc, 100)
    with pytest.raises(ValueError, match="must not be the source"):
        _pixel.unsharp(dst, dst, 10, 10, 3, 3, 100)
    for percent in (-1, 1.5):
        with pytest.raises(ValueError, match="percent"):
            K.unsharp(src, (10, 10), 3, 3, percent)
    with pytest.raises(ValueError, match="299 bytes"):
        K.unsharp(bytes(299), (10, 10), 3, 3, 100)
