"""Gaussian noise's SIMD paths (noise.c): the same bytes as the scalar build for every layout (1 to 4
colour bands), sigmas from 0 to past the +-256 clamp, random seeds, every pixel count around the
blocks (8 and 16 pixels, RGB stopping a block early), and no byte outside the buffers on any path."""

from __future__ import annotations

import numpy as np
import pytest

from augcli import kernels as K
from .test_kernels_pixel import Guarded, random_image

NOISE_LAYOUTS = [(1, 1), (2, 1), (2, 2), (3, 3), (3, 1), (4, 3), (4, 4), (4, 1)]


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


@pytest.mark.parametrize("layout", NOISE_LAYOUTS)
def test_every_path_gives_the_scalar_bytes(layout, path_restored):
    bpp, nc = layout
    rng = np.random.default_rng(bpp * 10 + nc)
    sizes = [(n, 1) for n in range(1, 42)] + [(7, 3), (255, 3), (501, 7)]
    for i, (w, h) in enumerate(sizes):
        src = random_image(rng, w, h, bpp)
        sigma = [0.0, 0.4, 17.3, 90.0, 300.0, 4000.0][i % 6]
        seed = int(rng.integers(0, 2**63)) * 2 + i % 2
        K.use("scalar")
        expected = bytes(K.gaussian_noise(src, (w, h), bpp, nc, sigma, seed))
        for path in K.available():
            K.use(path)
            assert bytes(K.gaussian_noise(src, (w, h), bpp, nc, sigma, seed)) == expected, (path, w, h, sigma)


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_every_path_stays_inside_buffers_at_every_block_edge(path_restored):
    g = Guarded()
    rng = np.random.default_rng(6)
    for bpp, nc in NOISE_LAYOUTS:
        for npx in list(range(1, 36)) + [63, 64, 65]:
            data = random_image(rng, npx, 1, bpp)
            K.use("scalar")
            expected = bytes(K.gaussian_noise(data, (npx, 1), bpp, nc, 25.0, 5))
            for path in K.available():
                K.use(path)
                for at_end in (True, False):
                    src, dst = g.buffer(len(data), at_end), g.buffer(len(data), at_end)
                    src[:] = data
                    K.gaussian_noise(src, (npx, 1), bpp, nc, 25.0, 5, out=dst)
                    assert bytes(dst) == expected, (path, bpp, nc, npx)
