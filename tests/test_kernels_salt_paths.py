"""Salt-and-pepper's SIMD paths (salt.c): the same bytes as the scalar build for every layout, hit and
salt thresholds from 0 to 2^32 (none, some, all), random seeds, every pixel count around the 8-pixel
blocks (RGB stopping a block early), and no byte outside the buffers on any path."""

from __future__ import annotations

import numpy as np
import pytest

from augcli import kernels as K
from augcli.kernels import _pixel
from .test_kernels_pixel import Guarded, random_image

SALT_LAYOUTS = [(1, 1), (2, 1), (2, 2), (3, 3), (3, 1), (4, 3), (4, 4), (4, 1)]
TOP = 1 << 32


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


def salted(src, w: int, h: int, bpp: int, nc: int, hit: int, salt: int, seed: int) -> bytes:
    dst = bytearray(len(src))
    _pixel.salt_pepper(src, dst, w, h, bpp, nc, hit, salt, seed)
    return bytes(dst)


@pytest.mark.parametrize("layout", SALT_LAYOUTS)
def test_every_path_gives_the_scalar_bytes(layout, path_restored):
    bpp, nc = layout
    rng = np.random.default_rng(bpp * 10 + nc)
    thresholds = [(0, 0), (TOP, TOP), (TOP, 0), (0, TOP), (TOP - 1, 1), (1 << 31, 1 << 31)]
    for i, (w, h) in enumerate([(n, 1) for n in range(1, 30)] + [(7, 3), (255, 3), (501, 7)]):
        src = random_image(rng, w, h, bpp)
        hit, salt = thresholds[i % len(thresholds)] if i % 2 else (int(rng.integers(0, TOP + 1)), int(rng.integers(0, TOP + 1)))
        seed = int(rng.integers(0, 2**63)) * 2 + i % 2
        K.use("scalar")
        expected = salted(src, w, h, bpp, nc, hit, salt, seed)
        for path in K.available():
            K.use(path)
            assert salted(src, w, h, bpp, nc, hit, salt, seed) == expected, (path, w, h, hit, salt)


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_every_path_stays_inside_buffers_at_every_block_edge(path_restored):
    g = Guarded()
    rng = np.random.default_rng(8)
    for bpp, nc in SALT_LAYOUTS:
        for npx in list(range(1, 27)) + [63, 64, 65]:
            data = random_image(rng, npx, 1, bpp)
            K.use("scalar")
            expected = salted(data, npx, 1, bpp, nc, 1 << 31, 1 << 31, 3)
            for path in K.available():
                K.use(path)
                for at_end in (True, False):
                    src, dst = g.buffer(len(data), at_end), g.buffer(len(data), at_end)
                    src[:] = data
                    _pixel.salt_pepper(src, dst, npx, 1, bpp, nc, 1 << 31, 1 << 31, 3)
                    assert bytes(dst) == expected, (path, bpp, nc, npx)
