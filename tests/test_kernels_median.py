"""The staged 5x5 and 7x7 median kernels: each stage of their networks checked on every 0/1 input
it can see (the 0-1 principle), and the kernels exactly scipy.ndimage.median_filter on every
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


@pytest.mark.parametrize("k", median_networks.STAGED)
def test_staged_stages_are_exact_on_every_binary_input(k):
    # a comparator network leaves rank r in a slot for every input iff it does so for every 0/1
    # input (thresholding commutes with min and max, and keeps sorted lists sorted), so each stage
    # is checked on all of the 0/1 inputs that can reach it
    st = median_networks.staged(k)
    rows, m = k - 1, k * k // 2
    cols = np.array(list(itertools.product((0, 1), repeat=rows)), dtype=np.uint8)
    assert (run(cols, st["colsort"]) == np.sort(cols, axis=1)).all()
    pairs = sorted_binary([rows, rows])
    assert (run(pairs, st["pair"])[:, st["pair_rank"]] == np.sort(pairs, axis=1)).all()
    core = sorted_binary([2 * rows] * (k // 2) + [rows])
    assert len(core) == (2 * rows + 1) ** (k // 2) * k
    want = np.sort(core, axis=1)[:, m - k:m + 1]
    assert (run(core, st["core"])[:, st["core_slots"]] == want).all()
    # the final stage: ranks m - k .. m of the k (k - 1) shared values (sorted), any k values of the
    # own row; its result must be the window's median, whatever the other shared values were
    own = np.array(list(itertools.product((0, 1), repeat=k)), dtype=np.uint8)
    n = k * rows
    for shared_ones in range(n + 1):
        shared = (np.arange(n) >= n - shared_ones).astype(np.uint8)
        v = np.concatenate([np.tile(shared[m - k:m + 1], (len(own), 1)), own], axis=1)
        median = (shared_ones + own.sum(axis=1) >= m + 1).astype(np.uint8)
        assert (run(v, st["final"])[:, st["final_slot"]] == median).all(), shared_ones


@pytest.mark.parametrize("k", median_networks.STAGED)
def test_staged_stages_compose_to_the_median_of_two_rows_of_windows(k):
    # the four stages as median.c runs them, on k + 1 rows x 2k - 1 columns of few distinct values:
    # the windows of the two output rows at columns 0 .. k - 1
    st = median_networks.staged(k)
    rng = np.random.default_rng(k)
    for _ in range(300):
        rows = rng.integers(0, 4, (k + 1, 2 * k - 1)).astype(np.uint8)
        s = run(rows[1:k].T, st["colsort"])  # column c sorted, shape (2k - 1, k - 1)
        p = run(np.concatenate([s[:-1], s[1:]], axis=1), st["pair"])[:, st["pair_rank"]]
        core = np.concatenate([p[2 * q:2 * q + k] for q in range(k // 2)] + [s[k - 1:2 * k - 1]], axis=1)
        core = run(core, st["core"])[:, st["core_slots"]]
        for own, first in ((rows[0], 0), (rows[k], 1)):  # the window's rows: first .. first + k - 1
            v = np.concatenate([core, np.stack([own[x:x + k] for x in range(k)])], axis=1)
            got = run(v, st["final"])[:, st["final_slot"]]
            want = [np.sort(rows[first:first + k, x:x + k], axis=None)[k * k // 2] for x in range(k)]
            assert got.tolist() == want
    per_output = (len(st["colsort"]) + len(st["pair"]) + len(st["core"])) / 2 + len(st["final"])
    assert per_output < len(median_networks.network(k)[0]) / 2


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
