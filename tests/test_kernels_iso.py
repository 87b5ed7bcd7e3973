"""ISO noise's SIMD paths (iso.c): the same bytes as the scalar build for random sigma tables (the
extremes 0 and 2^24 included), random keys, every layout and every pixel count around the block
sizes (8 and 16 pixels, RGB stopping a block early), and no byte read or written outside the buffers."""

from __future__ import annotations

import numpy as np
import pytest

from augcli import kernels as K
from .test_kernels_pixel import LAYOUTS, Guarded, random_image

SIGMA_MAX = 256 << 16


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


def random_tables(rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """Random sigmas, a few pinned to the extremes so the products reach their largest magnitude."""
    lum, chroma = (rng.integers(0, SIGMA_MAX + 1, 256) for _ in range(2))
    for t in (lum, chroma):
        t[rng.integers(0, 256, 40)] = SIGMA_MAX
        t[rng.integers(0, 256, 10)] = 0
    return [int(v) for v in lum], [int(v) for v in chroma]


@pytest.mark.parametrize("layout", LAYOUTS + [(3, 1), (4, 1)])
def test_every_path_gives_the_scalar_bytes_for_random_tables_keys_and_sizes(layout, path_restored):
    bpp, nc = layout
    if nc not in (1, 3):
        pytest.skip("ISO noise takes 1 or 3 colour bands")
    rng = np.random.default_rng(bpp)
    sizes = [(n, 1) for n in range(1, 50)] + [(7, 3), (13, 5), (255, 3), (501, 7)]
    for w, h in sizes:
        src = random_image(rng, w, h, bpp)
        lum, chroma = random_tables(rng)
        key = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))
        K.use("scalar")
        expected = bytes(K.iso_noise(src, (w, h), bpp, nc, lum, chroma, key))
        for path in K.available():
            K.use(path)
            assert bytes(K.iso_noise(src, (w, h), bpp, nc, lum, chroma, key)) == expected, (path, w, h)


def test_saturated_images_and_largest_sigmas_agree_on_every_path(path_restored):
    """Black and white pixels with sigma 256 everywhere: every clamp, both directions."""
    rng = np.random.default_rng(3)
    src = rng.choice(np.array([0, 255], dtype=np.uint8), 97 * 5 * 3).tobytes()
    table = [SIGMA_MAX] * 256
    K.use("scalar")
    expected = bytes(K.iso_noise(src, (97, 5), 3, 3, table, table, 2**64 - 1))
    assert expected != src and {0, 255} <= set(expected)
    for path in K.available():
        K.use(path)
        assert bytes(K.iso_noise(src, (97, 5), 3, 3, table, table, 2**64 - 1)) == expected, path


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_iso_noise_stays_inside_buffers_at_every_block_edge(path_restored):
    g = Guarded()
    rng = np.random.default_rng(4)
    lum, chroma = random_tables(rng)
    for bpp, nc in [(1, 1), (2, 1), (3, 3), (4, 3), (3, 1), (4, 1)]:
        for npx in list(range(1, 42)) + [63, 64, 65]:
            data = random_image(rng, npx, 1, bpp)
            K.use("scalar")
            expected = bytes(K.iso_noise(data, (npx, 1), bpp, nc, lum, chroma, 9))
            for path in K.available():
                K.use(path)
                for at_end in (True, False):
                    src, dst = g.buffer(len(data), at_end), g.buffer(len(data), at_end)
                    src[:] = data
                    K.iso_noise(src, (npx, 1), bpp, nc, lum, chroma, 9, out=dst)
                    assert bytes(dst) == expected, (path, bpp, npx)


def test_iso_sigmas_are_the_per_luma_formula_rounded_half_to_even():
    """The tables from the precomputed roots equal round(sigma sqrt(Y / 255) 2^16) and
    round(colour sigma sqrt(Y / 255) 2^16) computed directly, for random and round sigmas."""
    import math
    import random

    from augcli.ops import sensor_image as S

    r = random.Random(2)
    cases = [(s, c) for s in (0.0, 0.5, 1.0, 2.0, 10.0, 255.9999, 256.0) for c in (0.0, 0.5, 1.0)]
    cases += [(r.uniform(0, 256), r.uniform(0, 1)) for _ in range(3000)]
    for sigma, colour in cases:
        lum = [round(sigma * math.sqrt(y / 255.0) * (1 << 16)) for y in range(256)]
        chroma = [round(colour * sigma * math.sqrt(y / 255.0) * (1 << 16)) for y in range(256)]
        assert S.iso_sigmas(sigma, colour) == (lum, chroma), (sigma, colour)


def test_the_sigma_tables_are_checked_whatever_their_type():
    src = bytes(12)
    assert bytes(K.iso_noise(src, (2, 2), 3, 3, [3.0] * 256, [0] * 256, 1)) == bytes(
        K.iso_noise(src, (2, 2), 3, 3, [3] * 256, [0] * 256, 1))
    for lum in ([1 << 25] * 256, [-1] * 256, [1 << 70] * 256, [0] * 255, ["x"] * 256, [float("nan")] * 256):
        with pytest.raises(ValueError):
            K.iso_noise(src, (2, 2), 3, 3, lum, [0] * 256, 1)
