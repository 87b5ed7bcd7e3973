"""The staged 5x5 and 7x7 median kernels: each stage of the 7x7 network checked on every 0/1 input
its stage can see (the 0-1 principle), and the kernels exactly scipy.ndimage.median_filter on every
path, at widths around every vector width and block of a row, odd and even heights, with the
source and the output flush against no-access pages."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
from scipy import ndimage

from augcli import kernels as K
from augcli.kernels import median_networks

from .test_kernels_pixel import LAYOUTS, Guarded


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


def run(v: np.ndarray, pairs) -> np.ndarray:
    """A comparator network on every row of v (cases x slots) at once."""
    v = v.copy()
    for a, b in pairs:
        lo, hi = np.minimum(v[:, a], v[:, b]), np.maximum(v[:, a], v[:, b])
        v[:, a], v[:, b] = lo, hi
    return v


def sorted_binary(lengths: list[int]) -> np.ndarray:
    """Every concatenation of sorted 0/1 lists of the given lengths (each with every count of ones)."""
    rows = []
    for ones in itertools.product(*(range(n + 1) for n in lengths)):
        rows.append(np.concatenate([np.arange(n) >= n - m for n, m in zip(lengths, ones)]))
    return np.array(rows, dtype=np.uint8)


def test_staged_7x7_stages_are_exact_on_every_binary_input():
    # a comparator network leaves rank r in a slot for every input iff it does so for every 0/1
    # input (thresholding commutes with min and max, and keeps sorted lists sorted), so each stage
    # is checked on all of the 0/1 inputs that can reach it
    st = median_networks.staged7()
    cols = np.array(list(itertools.product((0, 1), repeat=6)), dtype=np.uint8)
    assert (run(cols, st["colsort"]) == np.sort(cols, axis=1)).all()
    pairs = sorted_binary([6, 6])
    assert (run(pairs, st["pair"])[:, st["pair_rank"]] == np.sort(pairs, axis=1)).all()
    core = sorted_binary([12, 12, 12, 6])
    assert len(core) == 13 ** 3 * 7
    want = np.sort(core, axis=1)[:, 17:25]
    assert (run(core, st["core"])[:, st["core_slots"]] == want).all()
    # the final stage: ranks 17 .. 24 of the 42 shared values (sorted), any 7 values of the own row;
    # its result must be the median of all 49, whatever the other 34 shared values were
    own = np.array(list(itertools.product((0, 1), repeat=7)), dtype=np.uint8)
    for shared_ones in range(43):
        shared = (np.arange(42) >= 42 - shared_ones).astype(np.uint8)
        v = np.concatenate([np.tile(shared[17:25], (len(own), 1)), own], axis=1)
        median = (shared_ones + own.sum(axis=1) >= 25).astype(np.uint8)
        assert (run(v, st["final"])[:, st["final_slot"]] == median).all(), shared_ones


def test_staged_7x7_stages_compose_to_the_median_of_two_rows_of_windows():
    # the four stages as median.c runs them, on 8 rows x 13 columns of few distinct values: the
    # windows of the two output rows at columns 0 .. 6
    st = median_networks.staged7()
    rng = np.random.default_rng(7)
    for _ in range(300):
        rows = rng.integers(0, 4, (8, 13)).astype(np.uint8)
        s = run(rows[1:7].T, st["colsort"])  # column c sorted, shape (13, 6)
        p = run(np.concatenate([s[:-1], s[1:]], axis=1), st["pair"])[:, st["pair_rank"]]  # (12, 12)
        core = run(np.concatenate([p[0:7], p[2:9], p[4:11], s[6:13]], axis=1), st["core"])[:, st["core_slots"]]
        for own, first in ((rows[0], 0), (rows[7], 1)):  # the window's rows: first .. first + 6
            v = np.concatenate([core, np.stack([own[x:x + 7] for x in range(7)])], axis=1)
            got = run(v, st["final"])[:, st["final_slot"]]
            want = [np.sort(rows[first:first + 7, x:x + 7], axis=None)[24] for x in range(7)]
            assert got.tolist() == want
    assert len(st["core"]) + len(st["pair"]) + len(st["colsort"]) + 2 * len(st["final"]) < len(median_networks.network(7)[0])


def widths(bpp: int) -> list[int]:
    """Rows of every byte count up to two 64-byte vectors, and pixels either side of the 512 and
    1024-byte blocks of the 7x7 and 5x5 kernels (and of two of them)."""
    around = {x for b in (512, 1024, 2048) for x in (b // bpp - 1, b // bpp, b // bpp + 1, b // bpp + 2)}
    return sorted(set(range(1, 130 // bpp + 2)) | around)


@pytest.mark.parametrize("layout", LAYOUTS + [(4, 4)])
def test_median_5_and_7_are_scipy_at_every_width_and_tail_on_every_path(layout, path_restored):
    bpp, nc = layout
    rng = np.random.default_rng(bpp * 10 + nc)
    guarded = Guarded() if sys.platform == "linux" else None
    for w in widths(bpp):
        h = int(rng.integers(1, 10))  # odd and even heights: the 7x7 kernel takes rows in pairs
        src = rng.integers(0, 256, (h, w, bpp), dtype=np.uint8)
        if w % 5 == 0:  # plateaus and extremes
            src = rng.choice(np.array([0, 1, 254, 255], dtype=np.uint8), (h, w, bpp))
        for k in (5, 7):
            ref = np.stack([ndimage.median_filter(src[..., c], size=k, mode="nearest") for c in range(nc)], -1)
            for path in K.available():
                K.use(path)
                at_end = bool(rng.integers(2))
                into = guarded.buffer(src.nbytes, at_end) if guarded else bytearray(src.nbytes)
                source = guarded.buffer(src.nbytes, not at_end) if guarded else bytearray(src.nbytes)
                source[:] = src.tobytes()
                K.median(source, (w, h), bpp, nc, k, out=into)
                out = np.frombuffer(bytes(into), np.uint8).reshape(h, w, bpp)
                assert (out[..., :nc] == ref).all(), (w, h, k, path)
                assert (out[..., nc:] == src[..., nc:]).all(), (w, h, k, path)


@pytest.mark.parametrize("h", [1, 2, 3, 4, 7, 8, 9, 10])
def test_median_7_every_small_height_on_every_path(h, path_restored):
    # the rows taken in pairs: heights below, at and past the window, an odd last row alone
    rng = np.random.default_rng(h)
    for w in (1, 2, 6, 23):
        src = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ref = np.stack([ndimage.median_filter(src[..., c], size=7, mode="nearest") for c in range(3)], -1)
        for path in K.available():
            K.use(path)
            out = np.frombuffer(bytes(K.median(src.tobytes(), (w, h), 3, 3, 7)), np.uint8).reshape(h, w, 3)
            assert (out == ref).all(), (w, path)
