"""Lighting's SIMD paths (lighting.c: the 32.32 gain clamped to [0, 2^40] and split into 16-bit
halves, exact in uint32 lanes): the same bytes as the scalar build's 64-bit form for every layout,
gains that cross 0 and 2^40 pixel by pixel, random gains at every scale up to the kernel's limits,
every width around the 8-pixel blocks, and no byte outside the buffers on any path."""

from __future__ import annotations

import numpy as np
import pytest

from augcli import kernels as K
from augcli.kernels import _pixel
from .test_kernels_pixel import Guarded, random_image

LIGHT_LAYOUTS = [(1, 1), (2, 1), (3, 3), (4, 3), (4, 4), (4, 1)]
TOP = 1 << 40


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


def lit(src, w: int, h: int, bpp: int, nc: int, g0: int, gx: int, gy: int) -> bytes:
    dst = bytearray(len(src))
    _pixel.lighting(src, dst, w, h, bpp, nc, g0, gx, gy)
    return bytes(dst)


def gains(rng: np.random.Generator, w: int, h: int) -> list[tuple[int, int, int]]:
    """Crossing 0 and 2^40 one step a pixel, plus random gains of every magnitude within the limits."""
    out = [(-5, 1, 0), (TOP - 6, 1, 1), (TOP - 3 * w, 3, -1), (-(1 << 33), 1 << 28, 1 << 27), (1 << 32, 0, 0)]
    for _ in range(6):
        bits = int(rng.integers(0, 53))
        g0 = int(rng.integers(-(1 << bits), (1 << bits) + 1))
        gx = int(rng.integers(-(1 << 53) // w, (1 << 53) // w + 1)) >> int(rng.integers(0, 50))
        gy = int(rng.integers(-(1 << 53) // h, (1 << 53) // h + 1)) >> int(rng.integers(0, 50))
        out.append((g0, gx, gy))
    return out


@pytest.mark.parametrize("layout", LIGHT_LAYOUTS)
def test_every_path_gives_the_scalar_bytes(layout, path_restored):
    bpp, nc = layout
    rng = np.random.default_rng(bpp * 10 + nc)
    for w, h in [(n, 2) for n in range(1, 27)] + [(257, 3), (501, 7)]:
        src = random_image(rng, w, h, bpp)
        for g0, gx, gy in gains(rng, w, h):
            K.use("scalar")
            expected = lit(src, w, h, bpp, nc, g0, gx, gy)
            for path in K.available():
                K.use(path)
                assert lit(src, w, h, bpp, nc, g0, gx, gy) == expected, (path, w, h, g0, gx, gy)


def test_every_value_at_the_clamp_edges_on_every_path(path_restored):
    """All 256 sample values against gains just below, at and above 0 and 2^40."""
    src = bytes(range(256)) * 8  # 2048 L pixels: each value at every gain below
    for g0 in (-9, TOP - 9, (1 << 32) - 9, 12345):
        K.use("scalar")
        expected = lit(src, 2048, 1, 1, 1, g0, 0, 0), lit(src, 256, 8, 1, 1, g0, 0, 2)
        for path in K.available():
            K.use(path)
            assert (lit(src, 2048, 1, 1, 1, g0, 0, 0), lit(src, 256, 8, 1, 1, g0, 0, 2)) == expected, (path, g0)


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_every_path_stays_inside_buffers_placed_against_guard_pages(path_restored):
    g = Guarded()
    rng = np.random.default_rng(7)
    for w, h in [(1, 1), (7, 1), (8, 1), (9, 2), (10, 1), (11, 3), (16, 2), (17, 1), (26, 2)]:
        for bpp, nc in LIGHT_LAYOUTS:
            data = random_image(rng, w, h, bpp)
            K.use("scalar")
            expected = lit(data, w, h, bpp, nc, 1 << 32, 1 << 26, -(1 << 27))
            for path in K.available():
                K.use(path)
                for at_end in (True, False):
                    src, dst = g.buffer(len(data), at_end), g.buffer(len(data), at_end)
                    src[:] = data
                    _pixel.lighting(src, dst, w, h, bpp, nc, 1 << 32, 1 << 26, -(1 << 27))
                    assert bytes(dst) == expected, (path, w, h, bpp)
