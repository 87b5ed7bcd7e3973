"""The remap kernel (warp_scalar.c run_remap): per-pixel coordinates from a coarse node grid, sampled by
the warp's own rows. Identity grids copy exactly, affine grids agree with the warp, every path gives
the same bytes, and no buffer is read or written outside its bounds."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from augcli import kernels as K

from .test_kernels import GUARD_SCRIPT


@pytest.fixture(autouse=True)
def _restore_path():
    before = K.active()
    yield
    K.use(before)


def node_grid(size, shift, fn):
    """The grid of ``fn(xs, ys) -> (u, v)`` (float pixel coordinates) at the nodes, as the kernel takes it."""
    w, h = size
    gw, gh = ((w - 1) >> shift) + 2, ((h - 1) >> shift) + 2
    ys, xs = np.mgrid[0:gh, 0:gw].astype(float) * (1 << shift)
    u, v = fn(xs, ys)
    return np.rint(np.stack([u, v], -1) * 65536).astype("<i8").tobytes(), (gw, gh)


def source(w, h, bpp, seed=0):
    return np.random.default_rng(seed).integers(0, 256, w * h * bpp, dtype=np.uint8).tobytes()


LAYOUTS = [(1, False), (2, False), (4, False), (2, True)]


@pytest.mark.parametrize("bpp,wide", LAYOUTS)
def test_an_identity_grid_copies_every_byte(bpp, wide):
    w, h = 37, 23
    src = source(w, h, bpp)
    for shift in (0, 3, 5):
        grid, gsize = node_grid((w, h), shift, lambda x, y: (x, y))
        for path, fill, interp in itertools.product(K.available(), K.FILLS, K.INTERPOLATIONS):
            K.use(path)
            out = K.remap(src, (w, h), bpp, grid, gsize, shift, (w, h), fill=fill, interpolation=interp,
                          cval=bytes(bpp), wide=wide)
            assert bytes(out) == src, (shift, path, fill, interp)


@pytest.mark.parametrize("fill", list(K.FILLS))
def test_an_affine_grid_is_the_warp_within_one_level(fill):
    w, h = 61, 40
    src = source(w, h, 4, 1)
    # coefficients with no exact .5 ties at whole pixels (nearest rounds ties up; the warp's doubles may not)
    m = np.array([[0.9137, 0.2113, 1.3171], [-0.1571, 1.0533, -2.2219], [0, 0, 1]])
    grid, gsize = node_grid((w, h), 3, lambda x, y: (m[0, 0] * x + m[0, 1] * y + m[0, 2],
                                                     m[1, 0] * x + m[1, 1] * y + m[1, 2]))
    for interp in K.INTERPOLATIONS:
        a = np.frombuffer(K.remap(src, (w, h), 4, grid, gsize, 3, (w, h), fill=fill, interpolation=interp,
                                  cval=bytes([9, 8, 7, 6])), np.uint8)
        b = np.frombuffer(K.warp(src, (w, h), 4, m, (w, h), fill=fill, interpolation=interp,
                                 cval=bytes([9, 8, 7, 6])), np.uint8)
        # the grid holds 16.16 coordinates, the warp steps 32.32 ones: a rare last-bit difference
        assert np.abs(a.astype(int) - b).max() <= (1 if interp == "bilinear" else 255)
        assert (a != b).mean() < 0.01


def test_every_path_gives_the_same_bytes():
    rng = np.random.default_rng(5)
    for case in range(40):
        w, h = int(rng.integers(1, 90)), int(rng.integers(1, 60))
        ow, oh = int(rng.integers(1, 700)), int(rng.integers(1, 50))  # wider than one tile (512)
        bpp, wide = LAYOUTS[case % 4]
        shift = int(rng.integers(0, 6))
        scale = float(rng.choice([0.5, 3.0, 40.0]))
        grid, gsize = node_grid((ow, oh), shift, lambda x, y: (
            x * w / ow + rng.normal(0, scale, x.shape), y * h / oh + rng.normal(0, scale, y.shape)))
        src = source(w, h, bpp, case)
        packed = bpp == 4 and case % 8 == 6
        if packed:  # packed RGB with the slack the SIMD rows need
            src = np.frombuffer(src, np.uint8).reshape(-1, 4)[:, :3].tobytes() + b"\0\0"
        for fill, interp in itertools.product(K.FILLS, K.INTERPOLATIONS):
            outs = set()
            for path in K.available():
                K.use(path)
                outs.add(bytes(K.remap(src, (w, h), bpp, grid, gsize, shift, (ow, oh), fill=fill,
                                       interpolation=interp, cval=bytes(range(1, bpp + 1)), wide=wide,
                                       src_bpp=3 if packed else None)))
            assert len(outs) == 1, (case, fill, interp)


def test_bad_grids_are_value_errors():
    src = source(8, 8, 1)
    grid, gsize = node_grid((8, 8), 2, lambda x, y: (x, y))
    with pytest.raises(ValueError, match="do not cover"):
        K.remap(src, (8, 8), 1, grid, gsize, 2, (9, 8), fill="nearest", interpolation="nearest", cval=b"\0")
    with pytest.raises(ValueError, match="do not cover"):
        K.remap(src, (8, 8), 1, grid[:-16], gsize, 2, (8, 8), fill="nearest", interpolation="nearest", cval=b"\0")
    far, gsize = node_grid((8, 8), 2, lambda x, y: (x + 2.0**30, y))
    with pytest.raises(ValueError, match="beyond"):
        K.remap(src, (8, 8), 1, far, gsize, 2, (8, 8), fill="nearest", interpolation="nearest", cval=b"\0")


REMAP_GUARD = GUARD_SCRIPT.split("big = 1e12")[0] + textwrap.dedent("""
    import struct
    LIMIT = 1 << 45
    def grid(ow, oh, s, fn):
        gw, gh = ((ow - 1) >> s) + 2, ((oh - 1) >> s) + 2
        vals = []
        for k in range(gh):
            for i in range(gw):
                u, v = fn(i << s, k << s)
                vals += [max(-LIMIT, min(LIMIT, int(u * 65536))), max(-LIMIT, min(LIMIT, int(v * 65536)))]
        return struct.pack("<%dq" % len(vals), *vals), gw, gh
    fns = [lambda x, y: (x, y), lambda x, y: (-x * 3.7 - 5, y * 0.3 + 2), lambda x, y: (1e9, -1e9),
           lambda x, y: (-1e9, 1e9), lambda x, y: (x * 1e5, y * -1e5), lambda x, y: ((x * 7919) % 13 - 4, (y * 31) % 11 - 3)]
    count = 0
    for path in available():
        _warp.set_path(path)
        for (w, h) in [(1, 1), (1, 7), (7, 1), (2, 2), (5, 3), (19, 11)]:
            for bpp, wide, sbpp, slack in [(1, 0, 1, 0), (2, 0, 2, 0), (4, 0, 4, 0), (2, 1, 2, 0), (4, 0, 3, 0), (4, 0, 3, 2)]:
                for at_end in (True, False):
                    src = guarded(w * h * sbpp + slack, at_end)
                    for (ow, oh) in [(1, 1), (17, 5), (3, 9)]:
                        dst = guarded(ow * oh * bpp, not at_end)
                        for fn, s in itertools.product(fns, (0, 2)):
                            g, gw, gh = grid(ow, oh, s, fn)
                            gbuf = guarded(len(g), at_end)
                            ctypes.memmove(gbuf, g, len(g))
                            for fill, interp in itertools.product(range(4), range(2)):
                                _warp.remap(src, w, h, w * sbpp, bpp, wide, dst, ow, oh, ow * bpp, gbuf, gw, gh, s,
                                            fill, interp, bytes(bpp), sbpp)
                                count += 1
    print("remaps", count)
""")


def test_no_access_outside_the_buffers_guard_pages():
    out = subprocess.run([sys.executable, "-c", REMAP_GUARD], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-2000:]}"
    assert int(out.stdout.split()[-1]) > 10_000


def golden_grid(size, w, h, shift=3):
    """A fixed wavy grid, integer arithmetic and exact float steps only (no libm, so no CPU differences)."""
    ow, oh = size
    gw, gh = ((ow - 1) >> shift) + 2, ((oh - 1) >> shift) + 2
    ys, xs = np.mgrid[0:gh, 0:gw].astype(float) * (1 << shift)
    u = xs * w / ow + ((ys * 7 + xs * 3) % 11 - 5) * 0.73
    v = ys * h / oh + ((xs * 5 + ys) % 13 - 6) * 0.61
    return np.rint(np.stack([u, v], -1) * 65536).astype("<i8").tobytes(), (gw, gh)


GOLDEN = {
    ("nearest", "nearest"): "c7566dec9bc2d6d6", ("nearest", "bilinear"): "3b3f57dd6d4e5d6d",
    ("reflect", "nearest"): "84bafab4ddd0cc9d", ("reflect", "bilinear"): "635afd6370a48b87",
    ("wrap", "nearest"): "8a43b7dab87caf5a", ("wrap", "bilinear"): "37bb16fc336c1b3d",
    ("constant", "nearest"): "cd4d55097506f29c", ("constant", "bilinear"): "2ac9abee3fff5d27",
}


@pytest.mark.parametrize("fill,interp", list(GOLDEN))
def test_golden_digests(fill, interp):
    import hashlib

    w, h = 97, 61
    src = np.random.default_rng(2024).integers(0, 256, w * h * 4, dtype=np.uint8).tobytes()
    grid, gsize = golden_grid((120, 80), w, h)
    for path in K.available():
        K.use(path)
        out = K.remap(src, (w, h), 4, grid, gsize, 3, (120, 80), fill=fill, interpolation=interp,
                      cval=bytes([1, 2, 3, 4]))
        assert hashlib.sha256(bytes(out)).hexdigest()[:16] == GOLDEN[fill, interp], path


CELL_WIDTHS = [1, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 191, 200, 255, 257, 383, 500, 511, 512, 513, 640, 1100]


def test_the_cell_rows_give_the_same_bytes_on_every_path():
    """The SIMD remap rows make their coordinates in registers from the cells (8 px cells: 128 or 64
    px at a time, transposed; other sizes: 16 or 8 lanes); every width around those blocks and the
    512 px tiles, every fill mode, RGBX and packed RGB, grids near and beyond 2^15 px (where the
    rows fall back to the per-pixel coordinates), all equal to the scalar path."""
    rng = np.random.default_rng(11)
    w, h = 83, 57
    for case, ow in enumerate(CELL_WIDTHS):
        oh = int(rng.integers(1, 20))
        shift = (3, 3, 0, 1, 2, 4, 5)[case % 7]
        kind = case % 4
        amp = float(rng.choice([0.3, 4.0, 60.0]))
        def fn(x, y, kind=kind, amp=amp):
            if kind == 3:  # beyond 2^15 px in one part of the output only
                return x * 0.7 + np.where(x > 300, 40000.0, 0.0), y * 1.1 - 3
            u = x * w / ow + amp * np.sin(x / 13.0 + y / 7.0)
            v = y * h / oh + amp * np.cos(x / 9.0 - y / 11.0)
            if kind == 2:
                u, v = u + rng.normal(0, amp, x.shape), v + rng.normal(0, amp, y.shape)
            return u, v
        grid, gsize = node_grid((ow, oh), shift, fn)
        for packed in (False, True):
            src = source(w, h, 4, case)
            if packed:
                src = np.frombuffer(src, np.uint8).reshape(-1, 4)[:, :3].tobytes() + b"\0\0"
            for fill in K.FILLS:
                outs = {}
                for path in K.available():
                    K.use(path)
                    outs[path] = bytes(K.remap(src, (w, h), 4, grid, gsize, shift, (ow, oh), fill=fill,
                                               interpolation="bilinear", cval=bytes([7, 8, 9, 10]),
                                               src_bpp=3 if packed else None))
                for path, out in outs.items():
                    assert out == outs["scalar"], (ow, oh, shift, kind, packed, fill, path)


CELL_GUARD = GUARD_SCRIPT.split("big = 1e12")[0] + textwrap.dedent("""
    import struct
    def grid(ow, oh, s, fn):
        gw, gh = ((ow - 1) >> s) + 2, ((oh - 1) >> s) + 2
        vals = []
        for k in range(gh):
            for i in range(gw):
                u, v = fn(i << s, k << s)
                vals += [int(u * 65536), int(v * 65536)]
        return struct.pack("<%dq" % len(vals), *vals), gw, gh
    fns = [lambda x, y: (x * 0.31, y * 0.29), lambda x, y: (-x * 3.7 - 5, y * 0.3 + 2),
           lambda x, y: ((x * 7919) % 23 - 6, (y * 31) % 17 - 5), lambda x, y: (x * 90.0 - 2000, -y * 70.0),
           lambda x, y: (x + (40000.0 if x > 200 else 0.0), y)]
    count = 0
    for path in available():
        _warp.set_path(path)
        for (w, h) in [(2, 2), (9, 5), (23, 13)]:
            for sbpp, slack in [(4, 0), (3, 2)]:
                for at_end in (True, False):
                    src = guarded(w * h * sbpp + slack, at_end)
                    for (ow, oh) in [(64, 2), (65, 1), (129, 2), (200, 3), (513, 1)]:
                        dst = guarded(ow * oh * 4, not at_end)
                        for fn, s in itertools.product(fns, (3, 1)):
                            g, gw, gh = grid(ow, oh, s, fn)
                            gbuf = guarded(len(g), at_end)
                            ctypes.memmove(gbuf, g, len(g))
                            for fill in range(4):
                                _warp.remap(src, w, h, w * sbpp, 4, 0, dst, ow, oh, ow * 4, gbuf, gw, gh, s,
                                            fill, 1, bytes(4), sbpp)
                                count += 1
    print("remaps", count)
""")


def test_the_cell_rows_stay_inside_the_buffers_guard_pages():
    out = subprocess.run([sys.executable, "-c", CELL_GUARD], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-2000:]}"
    assert int(out.stdout.split()[-1]) > 1_000
