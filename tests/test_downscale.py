"""--downscale's bilinear filter (augcli.kernels.downscale, resize.c): area averaging down, bilinear
up, against a float64 numpy reference of the same definition built from dense coverage and
interpolation matrices (an independent construction); the op on every mode."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from augcli import kernels as K
from augcli.ops import sensor_image as S

from .test_kernels_pixel import LAYOUTS, random_image


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


def coverage(n: int, m: int) -> np.ndarray:
    """(m, n): low-res pixel X is the mean over [X n / m, (X + 1) n / m) of the source pixels."""
    a = np.zeros((m, n))
    for X in range(m):
        lo, hi = X * n / m, (X + 1) * n / m
        for i in range(int(np.floor(lo)), int(np.ceil(hi))):
            a[X, i] = min(i + 1, hi) - max(i, lo)
    return a * m / n


def interpolation(n: int, m: int) -> np.ndarray:
    """(n, m): output x samples u = (x + 1/2) m / n - 1/2, clamped to [0, m - 1], bilinearly."""
    b = np.zeros((n, m))
    for x in range(n):
        u = min(max((x + 0.5) * m / n - 0.5, 0.0), m - 1.0)
        i = int(np.floor(u))
        b[x, i] += 1 - (u - i)
        if u > i:
            b[x, i + 1] += u - i
    return b


def reference(a: np.ndarray, small: tuple[int, int], whole: bool = True) -> np.ndarray:
    """a (h, w, c) shrunk to small (w, h) and enlarged back, float64; `whole`: the low-res image and
    the result rounded half up."""
    h, w = a.shape[:2]
    sw, sh = small
    low = np.einsum("Yj,jXc->YXc", coverage(h, sh), np.einsum("jic,Xi->jXc", a.astype(np.float64), coverage(w, sw)))
    low = np.floor(low + 0.5) if whole else low
    big = np.einsum("yY,Yxc->yxc", interpolation(h, sh), np.einsum("YXc,xX->Yxc", low, interpolation(w, sw)))
    return np.floor(big + 0.5) if whole else big


def small_of(size, scale):
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


SIZES = [(1, 1), (1, 7), (7, 1), (2, 3), (5, 5), (41, 29), (64, 48), (129, 5), (100, 75)]
SCALES = [0.05, 0.1, 0.25, 0.3, 0.5, 0.77, 0.97, 1.0]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_within_one_level_of_the_float_reference_and_alpha_kept(size, layout):
    bpp, nc = layout
    w, h = size
    rng = np.random.default_rng(w * 31 + h + bpp)
    src = random_image(rng, w, h, bpp)
    a = np.frombuffer(src, np.uint8).reshape(h, w, bpp)
    for scale in SCALES:
        small = small_of(size, scale)
        got = np.frombuffer(K.downscale(src, size, bpp, nc, small), np.uint8).reshape(h, w, bpp)
        diff = np.abs(got[..., :nc].astype(np.int64) - reference(a[..., :nc], small))
        assert diff.max() <= 1, (size, scale)
        assert (got[..., nc:] == a[..., nc:]).all()


@pytest.mark.parametrize("factor", [2, 4, 8, 16])
def test_exact_on_power_of_two_factors(factor):
    # every coverage and every fraction is a multiple of 2^-5 or coarser: the float reference is exact
    rng = np.random.default_rng(factor)
    for sw, sh in [(1, 1), (3, 2), (7, 5), (13, 9)]:
        w, h = sw * factor, sh * factor
        for bpp, nc in LAYOUTS:
            src = random_image(rng, w, h, bpp)
            a = np.frombuffer(src, np.uint8).reshape(h, w, bpp)
            got = np.frombuffer(K.downscale(src, (w, h), bpp, nc, (sw, sh)), np.uint8).reshape(h, w, bpp)
            assert (got[..., :nc] == reference(a[..., :nc], (sw, sh))).all(), (factor, sw, sh, bpp)


def test_the_shrink_is_the_exact_area_average():
    # a 1-pixel-wide target: every output pixel of a row is the row's exact mean, rounded half up
    rng = np.random.default_rng(3)
    for w in (2, 3, 7, 64, 97, 500):
        src = random_image(rng, w, 4, 1)
        a = np.frombuffer(src, np.uint8).reshape(4, w).astype(np.int64)
        got = np.frombuffer(K.downscale(src, (w, 4), 1, 1, (1, 4)), np.uint8).reshape(4, w)
        mean = (2 * a.sum(axis=1) + w) // (2 * w)  # half up, in integers
        assert (got == mean[:, None]).all(), w


@pytest.mark.parametrize("size", [(500, 375), (2003, 2500), (4999, 1202)])
def test_exact_rounding_with_every_divisor_form(size):
    # shrunk to 1x1, the image's mean rounded half up: the divisor is w h (the sides share no factor
    # with 1), which takes the 32-bit reciprocal, the 64-bit one and the integer division in turn
    w, h = size
    n = w * h
    rng = np.random.default_rng(n)
    for case in ("random", "tie", "below tie"):
        a = rng.integers(0, 256, n, dtype=np.uint8)
        if case != "random":  # mean exactly k + 1/2, or 1/n below it
            a = np.full(n, 100, np.uint8)
            a[: n // 2] = 101
            if case == "below tie":
                a[0] = 100
        total = int(a.astype(np.int64).sum())
        got = K.downscale(a.tobytes(), size, 1, 1, (1, 1))
        assert got == bytes([(2 * total + n) // (2 * n)]) * n, case


def test_constant_images_stay_constant():
    for size in [(1, 1), (9, 4), (100, 75), (257, 3)]:
        for scale in SCALES:
            for v in (0, 1, 128, 254, 255):
                src = bytes([v]) * (size[0] * size[1] * 4)
                assert K.downscale(src, size, 4, 3, small_of(size, scale)) == bytearray(src)


def test_every_path_gives_the_same_bytes_as_scalar(path_restored):
    rng = np.random.default_rng(11)
    for size in SIZES + [(500, 375), (333, 211)]:
        for bpp, nc in LAYOUTS:
            src = random_image(rng, *size, bpp)
            for scale in (0.05, 0.25, 0.37, 0.5, 0.9):
                small = small_of(size, scale)
                K.use("scalar")
                expected = K.downscale(src, size, bpp, nc, small)
                for path in K.available():
                    K.use(path)
                    assert K.downscale(src, size, bpp, nc, small) == expected, (path, size, bpp, scale)


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_stays_inside_buffers_placed_against_guard_pages(path_restored):
    from .test_kernels_pixel import Guarded

    g = Guarded()
    rng = np.random.default_rng(9)
    for path in K.available():
        K.use(path)
        for w, h in [(1, 1), (1, 7), (7, 1), (3, 5), (17, 3), (300, 9)]:
            for bpp, nc in LAYOUTS:
                n = w * h * bpp
                for at_end in (True, False):
                    src = g.buffer(n, at_end)
                    src[:] = random_image(rng, w, h, bpp)
                    dst = g.buffer(n, at_end)
                    for scale in (0.05, 0.3, 0.5, 1.0):
                        small = small_of((w, h), scale)
                        expected = K.downscale(bytes(src), (w, h), bpp, nc, small)
                        K.downscale(src, (w, h), bpp, nc, small, out=dst)
                        assert bytes(dst) == bytes(expected)


def test_refuses_bad_sizes():
    src = bytes(4 * 6)
    for small in [(0, 1), (1, 0), (4, 2), (3, 3)]:
        with pytest.raises(ValueError, match="downscale"):
            K.downscale(src, (3, 2), 4, 3, small)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_the_op_uses_the_kernel_on_8_bit_images(mode):
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (29, 41, 4), dtype=np.uint8), "RGBA").convert(mode)
    out = S.downscale(image, 0.3, "bilinear")
    a = np.asarray(image).reshape(29, 41, -1)
    nc = 3 if mode.startswith("RGB") else 1
    got = np.asarray(out).reshape(29, 41, -1)
    assert np.abs(got[..., :nc].astype(np.int64) - reference(a[..., :nc], (12, 9))).max() <= 1
    src, bpp = (image.tobytes(), a.shape[2])
    assert got.tobytes() == bytes(K.downscale(src, (41, 29), bpp, nc, (12, 9)))
    assert (np.asarray(out).reshape(29, 41, -1)[..., nc:] == a[..., nc:]).all()


@pytest.mark.parametrize("band", [None, 50])
def test_the_op_on_16_bit_and_float_data(band, monkeypatch):
    if band:  # the enlargement a few rows at a time
        monkeypatch.setattr(S, "_BAND_VALUES", band)
    rng = np.random.default_rng(2)
    a = rng.integers(0, 65536, (30, 40), dtype=np.uint16)
    image = Image.frombytes("I;16", (40, 30), a.astype("<u2").tobytes())
    out = S.downscale(image, 0.3, "bilinear")
    assert out.mode == "I;16"
    expected = reference(a[..., None], (12, 9))[..., 0]
    assert np.abs(np.asarray(out).astype(np.int64) - expected).max() <= 1
    f = Image.fromarray(a.astype(np.float32) / 7, "F")
    outf = np.asarray(S.downscale(f, 0.3, "bilinear"))
    assert np.abs(outf - reference(a[..., None] / 7, (12, 9), whole=False)[..., 0]).max() < 1e-3
