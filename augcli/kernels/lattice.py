"""The distortion fields' lattice kernels (lattice.c, in module _pixel): the elastic lattice's smoothing
and the bilinear lookup at points; their typed Python face."""

from __future__ import annotations

from array import array
from typing import Sequence

from ._pixel import bilinear as c_bilinear, smooth_lattice as c_smooth_lattice
from .checks import Buffer


def smooth_lattice(noise: Buffer, planes: int, ny: int, nx: int, taps: Sequence[float], *,
                   out: Buffer | None = None) -> Buffer:
    """Each of ``planes`` planes of float64 ``noise``, (ny + k - 1) x (nx + k - 1), smoothed by the k
    ``taps`` along the rows, then down the columns, into ny x nx: every output the sum of its taps'
    products in tap order, t0 v0 + t1 v1 + ... added left to right in float64, exactly the values of
    one numpy multiply and add per tap (augcli.distort.elastic_lattice)."""
    k = len(taps)
    if not (1 <= planes <= 16 and ny >= 1 and nx >= 1 and 1 <= k <= 4097):
        raise ValueError("smooth_lattice: 1 to 16 planes, ny, nx >= 1, 1 to 4097 taps")
    need = planes * (ny + k - 1) * (nx + k - 1) * 8
    if memoryview(noise).nbytes != need:
        raise ValueError(f"smooth_lattice: the noise has {memoryview(noise).nbytes} bytes, not {need}")
    if out is None:
        out = bytearray(planes * ny * nx * 8)
    c_smooth_lattice(noise, out, planes, ny, nx, array("d", [float(t) for t in taps]).tobytes())
    return out


def bilinear(values: Buffer, shape: tuple[int, int, int], fx: Buffer, fy: Buffer, extend: bool, *,
             out: Buffer | None = None) -> Buffer:
    """``values`` (float64, ny x nx x nc, C order) at the points (fx[i], fy[i]) (float64, lattice
    units) into n x nc float64: augcli.distort._bilinear's float operations, element by element
    (lattice.c). ValueError for a NaN coordinate."""
    ny, nx, nc = (int(v) for v in shape)
    n = memoryview(fx).nbytes // 8
    if memoryview(fy).nbytes != n * 8 or memoryview(values).nbytes != ny * nx * nc * 8:
        raise ValueError("bilinear: ny x nx x nc float64 values and as many y as x coordinates")
    if out is None:
        out = bytearray(n * nc * 8)
    c_bilinear(values, out, ny, nx, nc, fx, fy, bool(extend))
    return out
