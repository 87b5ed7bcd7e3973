"""The distortion fields' bilinear lookup at points (kernels.bilinear, lattice.c) gives the bits of
the numpy form it replaced in augcli.distort._bilinear: every lattice shape from one node, one and
two value columns, points inside, on the nodes, beyond the lattice, -0.0 and infinities, with and
without the edge cells extended."""

from __future__ import annotations

import numpy as np
import pytest

from augcli import distort


def bilinear_numpy(values: np.ndarray, fx: np.ndarray, fy: np.ndarray, extend: bool = False) -> np.ndarray:
    """The numpy form."""
    ny, nx = values.shape[:2]
    if not extend:
        fx = np.clip(fx, 0.0, nx - 1.0)
        fy = np.clip(fy, 0.0, ny - 1.0)
    ix = np.clip(np.floor(fx), 0, max(nx - 2, 0)).astype(np.int64)
    iy = np.clip(np.floor(fy), 0, max(ny - 2, 0)).astype(np.int64)
    tx, ty = fx - ix, fy - iy
    dx, dy = np.minimum(ix + 1, nx - 1) - ix, (np.minimum(iy + 1, ny - 1) - iy) * nx
    flat = values.reshape(ny * nx, -1)
    i00 = iy * nx + ix
    tx, ty = tx[:, None], ty[:, None]
    top = np.take(flat, i00, axis=0) * (1.0 - tx) + np.take(flat, i00 + dx, axis=0) * tx
    bot = np.take(flat, i00 + dy, axis=0) * (1.0 - tx) + np.take(flat, i00 + dy + dx, axis=0) * tx
    out = top * (1.0 - ty) + bot * ty
    return out if values.ndim == 3 else out[:, 0]


def points(rng: np.random.Generator, ny: int, nx: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    fx = rng.uniform(-3, nx + 2, n)
    fy = rng.uniform(-3, ny + 2, n)
    k = n // 5
    fx[:k], fy[:k] = rng.integers(-1, nx + 1, k), rng.integers(-1, ny + 1, k)  # on the nodes and past them
    fx[k:k + 4] = [-0.0, 0.0, np.inf, -np.inf]
    fy[k:k + 4] = [0.0, -0.0, -np.inf, np.inf]
    return fx, fy


@pytest.mark.parametrize("extend", [False, True])
def test_the_kernel_gives_the_numpy_bits(extend):
    rng = np.random.default_rng(int(extend))
    with np.errstate(invalid="ignore"):
        for ny, nx in [(1, 1), (1, 5), (6, 1), (2, 2), (6, 6), (48, 64)]:
            for shape in [(ny, nx), (ny, nx, 1), (ny, nx, 2)]:
                values = rng.normal(0, 40, shape)
                values.flat[:3] = [0.0, -0.0, 1e300]
                fx, fy = points(rng, ny, nx, 500)
                got, want = distort._bilinear(values, fx, fy, extend), bilinear_numpy(values, fx, fy, extend)
                assert got.shape == want.shape
                assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), (ny, nx, shape)


def test_the_fields_are_unchanged_on_every_point_kind():
    rng = np.random.default_rng(3)
    size = (500, 375)
    lattice, c = distort.elastic_lattice(300.0, 20.0, 11, size)
    p = rng.uniform(-20, 520, (4000, 2))
    field = distort.elastic_field(300.0, 20.0, 11, size)
    assert np.array_equal(field(p), p + bilinear_numpy(lattice, p[:, 0] / c, p[:, 1] / c))


def test_a_nan_coordinate_is_a_value_error():
    with pytest.raises(ValueError, match="NaN"):
        distort._bilinear(np.zeros((3, 3, 2)), np.array([1.0, np.nan]), np.array([1.0, 1.0]))
