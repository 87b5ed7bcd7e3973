"""CLAHE's SIMD paths (clahe.c): the same bytes as the scalar build on random images of every layout,
widths around the 8-pixel blocks (RGB stopping a block early at the end of the buffer), tile grids
that do and do not divide the image, and no byte read or written outside the buffers on any path."""

from __future__ import annotations

import numpy as np
import pytest

from augcli import kernels as K
from .test_kernels_pixel import LAYOUTS, Guarded, random_image

CLAHE_LAYOUTS = [(bpp, nc) for bpp, nc in LAYOUTS] + [(4, 1)]


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


def smooth_image(rng: np.random.Generator, w: int, h: int, bpp: int) -> bytes:
    """Gradients plus a little noise: neighbouring pixels share histogram bins, as in photos."""
    y, x, c = np.mgrid[0:h, 0:w, 0:bpp]
    v = (x * 3 + y * 2 + c * 40) % 256 + rng.integers(-3, 4, (h, w, bpp))
    return np.clip(v, 0, 255).astype(np.uint8).tobytes()


@pytest.mark.parametrize("layout", CLAHE_LAYOUTS)
def test_every_path_gives_the_scalar_bytes(layout, path_restored):
    bpp, nc = layout
    rng = np.random.default_rng(bpp * 10 + nc)
    sizes = [(w, 3) for w in range(1, 27)] + [(61, 43), (129, 7), (500, 11), (7, 130)]
    for i, (w, h) in enumerate(sizes):
        src = (random_image if i % 2 else smooth_image)(rng, w, h, bpp)
        tiles = [(1, 1), (8, 8), (3, 5), (int(rng.integers(1, 20)), int(rng.integers(1, 20)))][i % 4]
        clip = int(rng.integers(1, 40))
        K.use("scalar")
        expected = bytes(K.clahe(src, (w, h), bpp, nc, clip, tiles))
        for path in K.available():
            K.use(path)
            assert bytes(K.clahe(src, (w, h), bpp, nc, clip, tiles)) == expected, (path, w, h, tiles, clip)


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_every_path_stays_inside_buffers_placed_against_guard_pages(path_restored):
    g = Guarded()
    rng = np.random.default_rng(12)
    for w, h in [(1, 1), (7, 1), (8, 1), (9, 2), (10, 1), (11, 3), (16, 2), (17, 1), (26, 2), (61, 5)]:
        for bpp, nc in CLAHE_LAYOUTS:
            data = random_image(rng, w, h, bpp)
            K.use("scalar")
            expected = bytes(K.clahe(data, (w, h), bpp, nc, 3, (3, 2)))
            for path in K.available():
                K.use(path)
                for at_end in (True, False):
                    src, dst = g.buffer(len(data), at_end), g.buffer(len(data), at_end)
                    src[:] = data
                    K.clahe(src, (w, h), bpp, nc, 3, (3, 2), out=dst)
                    assert bytes(dst) == expected, (path, w, h, bpp)
