"""The elastic lattice's smoothing kernel (lattice.c) gives the bits of the numpy form it replaced:
one float64 multiply and add per tap, rows then columns, on the same noise, for every sigma's tap
count and lattice shapes from one node to wider than the taps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from augcli import distort
from augcli import kernels as K


def smooth_numpy(noise: np.ndarray, ny: int, nx: int, taps: list[float]) -> np.ndarray:
    """The numpy form: per tap one product and one sum, in tap order."""
    across = taps[0] * noise[:, :, 0:nx]
    for k in range(1, len(taps)):
        across = across + taps[k] * noise[:, :, k:k + nx]
    smooth = taps[0] * across[:, 0:ny, :]
    for k in range(1, len(taps)):
        smooth = smooth + taps[k] * across[:, k:k + ny, :]
    return smooth


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 1.7, 2.5, 3.99, 7.5])
def test_the_kernel_gives_the_numpy_bits_on_every_path(sigma, path_restored):
    rng = np.random.default_rng(int(sigma * 100))
    taps = distort.gaussian_taps(sigma)
    r = len(taps) // 2
    for ny, nx in [(1, 1), (1, 9), (7, 1), (3, 17), (48, 64), (13, 200), (5, 33)]:
        noise = rng.random((2, ny + 2 * r, nx + 2 * r)) * 2.0 - 1.0
        want = smooth_numpy(noise, ny, nx, taps).view(np.uint64)
        for path in K.available():
            K.use(path)
            out = np.empty((2, ny, nx))
            K.smooth_lattice(noise, 2, ny, nx, taps, out=out)
            assert np.array_equal(out.view(np.uint64), want), (path, ny, nx)


def test_elastic_lattice_is_the_numpy_form_scaled():
    for alpha, sigma, seed, size in [(300.0, 20.0, 7, (500, 375)), (34.0, 4.0, 1, (61, 43)), (1.0, 90.0, 3, (9, 700))]:
        lattice, c = distort.elastic_lattice(alpha, sigma, seed, size)
        taps = distort.gaussian_taps(sigma / c)
        r = len(taps) // 2
        w, h = size
        nx, ny = int((w - 1) // c) + 2, int((h - 1) // c) + 2
        noise = np.random.Generator(np.random.PCG64(seed)).random((2, ny + 2 * r, nx + 2 * r)) * 2.0 - 1.0
        smooth = smooth_numpy(noise, ny, nx, taps)
        scale = alpha / (2.0 * math.sqrt(math.pi) * sigma * math.fsum(t * t for t in taps))
        assert np.array_equal(lattice, np.stack([smooth[0], smooth[1]], axis=-1) * scale)


def test_bad_shapes_are_value_errors():
    with pytest.raises(ValueError):
        K.smooth_lattice(np.zeros((2, 4, 4)), 2, 3, 3, [0.5, 0.5, 0.5])  # needs 5 x 5 noise for 3 taps
    with pytest.raises(ValueError):
        K.smooth_lattice(np.zeros((2, 5, 5)), 2, 3, 3, [])
    from augcli.kernels import _pixel

    with pytest.raises(ValueError):
        _pixel.smooth_lattice(bytes(8 * 2 * 25), bytearray(8 * 2 * 8), 2, 3, 3, bytes(24))  # out too small
