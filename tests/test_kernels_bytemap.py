"""kernels.bytemap (posterize, invert, solarize without a table) and in-place lookups: the bytes of
ImageOps' tables on every path, every layout and every length around the vector blocks (192 bytes,
the pattern's period), in place as out of place, and no byte outside the buffers on any path."""

from __future__ import annotations

import numpy as np
import pytest

from augcli import kernels as K
from .test_kernels_pixel import Guarded, random_image

BYTEMAP_LAYOUTS = [(1, 1), (2, 1), (2, 2), (3, 3), (3, 1), (4, 3), (4, 4), (4, 1)]
# the layouts lut's C loops take (AUGCLI_BY_LAYOUT: 2 and 3 bytes a pixel are LA and RGB only)
LUT_LAYOUTS = [(1, 1), (2, 1), (3, 3), (4, 3), (4, 4), (4, 1)]
LENGTHS = list(range(1, 70)) + [95, 96, 97, 191, 192, 193, 383, 384, 385, 577, 1001]
V = np.arange(256)


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


def settings(rng: np.random.Generator) -> list[tuple[dict, np.ndarray]]:
    """(bytemap's arguments, the 256-entry table ImageOps would use) for invert, every posterize
    and solarize at the edges and a random threshold."""
    out: list[tuple[dict, np.ndarray]] = [(dict(flip=255), 255 - V)]
    for bits in range(1, 9):
        keep = (0xFF << (8 - bits)) & 0xFF
        out.append((dict(keep=keep), V & keep))
    for t in (0, 1, 127, 128, 255, 256, int(rng.integers(0, 257))):
        out.append((dict(flip=255, threshold=t), np.where(V < t, V, 255 - V)))
    return out


def reference(src: bytes, bpp: int, nc: int, table: np.ndarray) -> bytes:
    a = np.frombuffer(src, dtype=np.uint8).reshape(-1, bpp).copy()
    a[:, :nc] = table.astype(np.uint8)[a[:, :nc]]
    return a.tobytes()


@pytest.mark.parametrize("layout", BYTEMAP_LAYOUTS)
def test_bytemap_gives_the_tables_bytes_on_every_path_in_place_or_not(layout, path_restored):
    bpp, nc = layout
    rng = np.random.default_rng(bpp * 10 + nc)
    for npx in LENGTHS:
        src = random_image(rng, npx, 1, bpp)
        for args, table in settings(rng):
            expected = reference(src, bpp, nc, table)
            for path in K.available():
                K.use(path)
                assert bytes(K.bytemap(src, (npx, 1), bpp, nc, **args)) == expected, (path, npx, args)
                buf = bytearray(src)
                K.bytemap(buf, (npx, 1), bpp, nc, **args, out=buf)
                assert bytes(buf) == expected, (path, npx, args, "in place")


@pytest.mark.parametrize("layout", LUT_LAYOUTS)
def test_lut_in_place_gives_the_same_bytes_on_every_path(layout, path_restored):
    bpp, nc = layout
    rng = np.random.default_rng(bpp * 100 + nc)
    for npx in LENGTHS:
        src = random_image(rng, npx, 1, bpp)
        shared = rng.integers(0, 256, 256, dtype=np.uint8).tobytes()  # one table for every band
        per_band = rng.integers(0, 256, 256 * nc, dtype=np.uint8).tobytes()
        for table in (shared * nc, per_band):
            K.use("scalar")
            apart = bytes(K.lut(src, (npx, 1), bpp, nc, table))
            if table == shared * nc:
                assert apart == reference(src, bpp, nc, np.frombuffer(shared, np.uint8))
            for path in K.available():
                K.use(path)
                buf = bytearray(src)
                K.lut(buf, (npx, 1), bpp, nc, table, out=buf)
                assert bytes(buf) == apart, (path, npx)


@pytest.mark.parametrize("layout", [(2, 2), (3, 1), (3, 2)])
def test_lut_refuses_the_layouts_its_loops_would_run_as_la_or_rgb(layout):
    # a 3-byte pixel was looked up in 3 tables whatever nc said: reads past a table of 256 nc bytes
    bpp, nc = layout
    with pytest.raises(ValueError, match="not supported"):
        K.lut(bytes(4 * bpp), (4, 1), bpp, nc, bytes(256 * nc))
    with pytest.raises(ValueError, match="not supported"):
        K._pixel.lut(bytes(4 * bpp), bytearray(4 * bpp), 4, 1, bpp, nc, bytes(256 * nc))


def test_an_output_that_overlaps_the_source_only_in_part_is_refused():
    buf = bytearray(64)
    view = memoryview(buf)
    with pytest.raises(ValueError, match="overlaps"):
        K.bytemap(view[:32], (8, 1), 4, 3, flip=255, out=view[4:36])
    with pytest.raises(ValueError, match="overlaps"):
        K.lut(view[:32], (8, 1), 4, 3, bytes(768), out=view[4:36])
    with pytest.raises(ValueError, match="must not be the source"):  # the other kernels: never in place
        K.gaussian_noise(view[:32], (8, 1), 4, 3, 2.0, 1, out=view[:32])


@pytest.mark.parametrize("args", [dict(keep=256), dict(flip=-1), dict(threshold=257)])
def test_bytemap_settings_out_of_range_are_refused(args):
    with pytest.raises(ValueError, match="bytemap"):
        K.bytemap(bytes(4), (1, 1), 4, 3, **args)


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_bytemap_stays_inside_buffers_at_every_block_edge(path_restored):
    g = Guarded()
    rng = np.random.default_rng(8)
    for bpp, nc in BYTEMAP_LAYOUTS:
        for npx in list(range(1, 70)) + [95, 96, 97, 191, 192, 193]:
            data = random_image(rng, npx, 1, bpp)
            buffers = [(g.buffer(len(data), at_end), g.buffer(len(data), at_end)) for at_end in (True, False)]
            for args, table in settings(rng)[::3]:
                expected = reference(data, bpp, nc, table)
                for path in K.available():
                    K.use(path)
                    for src, dst in buffers:
                        src[:] = data
                        K.bytemap(src, (npx, 1), bpp, nc, **args, out=dst)
                        assert bytes(dst) == expected, (path, bpp, nc, npx, args)
                        K.bytemap(src, (npx, 1), bpp, nc, **args, out=src)
                        assert bytes(src) == expected, (path, bpp, nc, npx, args, "in place")
