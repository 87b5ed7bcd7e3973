"""The warp against independent references: scipy.ndimage and exact pixel permutations."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from augcli import warping as W
from augcli import geometry as G

from .conftest import pattern, smooth

SCIPY_MODE = {"nearest": "nearest", "reflect": "reflect", "wrap": "grid-wrap", "constant": "grid-constant"}


def scipy_warp(image: Image.Image, matrix: np.ndarray, size, mode: str, cval: float = 0.0, order: int = 1) -> np.ndarray:
    """The reference: scipy.ndimage.affine_transform on each band, driven by the same matrix
    (converted from augcli's (x, y) convention to scipy's (row, col))."""
    arr = np.asarray(image).astype(np.float64)
    if arr.ndim == 2:
        arr = arr[..., None]
    rc = np.array([[matrix[1, 1], matrix[1, 0]], [matrix[0, 1], matrix[0, 0]]])
    offset = np.array([matrix[1, 2], matrix[0, 2]])
    out = np.stack([
        ndimage.affine_transform(arr[..., c], rc, offset, output_shape=(size[1], size[0]),
                                 order=order, mode=SCIPY_MODE[mode], cval=cval)
        for c in range(arr.shape[-1])
    ], axis=-1)
    return out


def random_affine(rng, size):
    w, h = size
    return (G.rotation(rng.uniform(-40, 40), size) @ G.shear(rng.uniform(-15, 15), size)
            @ G.zoom(rng.uniform(0.7, 1.3), rng.uniform(0.7, 1.3), size)
            @ G.shift(rng.uniform(-0.2, 0.2) * w, rng.uniform(-0.2, 0.2) * h))


@pytest.mark.parametrize("mode", ["nearest", "reflect", "wrap", "constant"])
@pytest.mark.parametrize("trial", range(4))
def test_bilinear_warp_matches_scipy(mode, trial):
    rng = np.random.default_rng(trial)
    image = smooth(48, 32)
    m = random_affine(rng, image.size)
    ours = np.asarray(W.warp(image, m, image.size, fill_mode=mode, cval=77, interpolation="bilinear")).astype(float)
    ref = scipy_warp(image, m, image.size, mode, cval=77)
    diff = np.abs(ours - ref)
    assert diff.max() <= 1.0 + 1e-9, f"max abs diff {diff.max()}"
    # Pillow's 8-bit bilinear truncates instead of rounding: a mean error just under 0.5, not 0.25
    assert diff.mean() < 0.6


@pytest.mark.parametrize("mode", ["nearest", "reflect", "wrap", "constant"])
def test_zoom_out_far_beyond_the_border(mode):
    # zoom factor 2.5: three quarters of the output comes from the fill rule
    image = pattern(30, 20)
    m = G.zoom(2.5, 2.5, image.size) @ G.rotation(10, image.size)
    ours = np.asarray(W.warp(image, m, image.size, fill_mode=mode, cval=200)).astype(float)
    ref = scipy_warp(image, m, image.size, mode, cval=200)
    assert np.abs(ours - ref).max() <= 1.0 + 1e-9


def test_nearest_interpolation_matches_scipy_order0():
    image = pattern(40, 30)
    m = G.rotation(33, image.size) @ G.zoom(0.8, 1.1, image.size)
    ours = np.asarray(W.warp(image, m, image.size, interpolation="nearest")).astype(float)
    ref = scipy_warp(image, m, image.size, "nearest", order=0)
    # round-half differences are allowed on a few pixels exactly between two source pixels
    assert np.mean(ours != ref) < 0.01


def test_rotate_90_on_non_square_image_equals_transpose_where_defined():
    image = pattern(41, 25)  # same parity: the rotated grid lands on pixel centres
    out = np.asarray(W.warp(image, G.rotation(90, image.size), image.size))
    ref = np.asarray(image.transpose(Image.Transpose.ROTATE_90))  # 25 x 41, counter-clockwise
    # the central 25 x 25 square of the output is the centre of the transposed image
    w, h = image.size
    ox = (w - h) // 2
    assert np.array_equal(out[:, ox:ox + h], ref[(w - h) // 2:(w - h) // 2 + h, :])


@pytest.mark.parametrize("k,transpose", [(1, Image.Transpose.ROTATE_90), (2, Image.Transpose.ROTATE_180),
                                         (3, Image.Transpose.ROTATE_270)])
def test_rot90_matrix_is_exact(k, transpose):
    image = pattern(37, 22, "RGBA")
    m, size = G.rot90(k, image.size)
    assert np.array_equal(np.asarray(W.warp(image, m, size)), np.asarray(image.transpose(transpose)))
    assert np.array_equal(np.asarray(W.warp(image, m, size)), np.rot90(np.asarray(image), k))


def test_flips_are_exact():
    image = pattern(23, 17)
    arr = np.asarray(image)
    assert np.array_equal(np.asarray(W.warp(image, G.hflip(image.size), image.size)), arr[:, ::-1])
    assert np.array_equal(np.asarray(W.warp(image, G.vflip(image.size), image.size)), arr[::-1])
    both = G.hflip(image.size) @ G.vflip(image.size)
    assert np.array_equal(np.asarray(W.warp(image, both, image.size)), arr[::-1, ::-1])


def _marker(w=60, h=40, at=(20, 15), r=2):
    arr = np.zeros((h, w), np.uint8)
    arr[at[1] - r:at[1] + r + 1, at[0] - r:at[0] + r + 1] = 255
    return Image.fromarray(arr)


def _centroid(arr):
    ys, xs = np.nonzero(np.asarray(arr) > 127)
    return xs.mean(), ys.mean(), len(xs)


@pytest.mark.parametrize("dx,dy", [(7, 0), (0, -5), (-11, 4), (3, 9)])
def test_shift_moves_a_marker_by_exactly_the_pixels_asked(dx, dy):
    image = _marker()
    out = W.warp(image, G.shift(dx, dy), image.size, fill_mode="constant")
    x0, y0, n0 = _centroid(image)
    x1, y1, n1 = _centroid(out)
    assert (x1 - x0, y1 - y0) == (dx, dy) and n0 == n1
    assert np.array_equal(np.asarray(out), np.roll(np.asarray(image), (dy, dx), axis=(0, 1)))


def test_zoom_half_doubles_a_marker():
    # a 6x6 block centred on the image centre (odd-sized image: centre on a pixel corner region)
    arr = np.zeros((40, 40), np.uint8)
    arr[17:23, 17:23] = 255
    image = Image.fromarray(arr)
    out = np.asarray(W.warp(image, G.zoom(0.5, 0.5, image.size), image.size, interpolation="nearest"))
    ys, xs = np.nonzero(out > 127)
    assert xs.max() - xs.min() + 1 == 12 and ys.max() - ys.min() + 1 == 12


def test_positive_rotation_is_counter_clockwise_on_screen():
    # a marker right of the centre must move up (smaller y) for +90
    image = _marker(41, 41, at=(30, 20), r=1)
    out = W.warp(image, G.rotation(90, image.size), image.size, fill_mode="constant")
    x, y, _ = _centroid(out)
    assert (round(x), round(y)) == (20, 10)


def test_rgba_is_resampled_premultiplied():
    # a transparent red half next to an opaque blue half: no red may bleed into the blend
    arr = np.zeros((10, 20, 4), np.uint8)
    arr[:, :10] = (255, 0, 0, 0)
    arr[:, 10:] = (0, 0, 255, 255)
    image = Image.fromarray(arr)
    out = np.asarray(W.warp(image, G.shift(0.5, 0), image.size))
    blended = out[:, 10]
    assert 0 < blended[0, 3] < 255 and blended[0, 0] <= 1 and blended[0, 2] >= 254


@pytest.mark.parametrize("mode", ["nearest", "reflect", "wrap", "constant"])
def test_strong_zoom_out_in_tiles_matches_scipy(monkeypatch, mode):
    # force tiling (7 px tiles): the extended source of a 9x zoom-out is ~80x the image
    monkeypatch.setattr(W, "TILE_MIN_PIXELS", 16)
    monkeypatch.setattr(W, "TILE", 7)
    image = smooth(40, 30)
    m = G.zoom(9.0, 9.0, image.size) @ G.rotation(17, image.size)
    ours = np.asarray(W.warp(image, m, image.size, fill_mode=mode, cval=50)).astype(float)
    ref = scipy_warp(image, m, image.size, mode, cval=50)
    assert np.abs(ours - ref).max() <= 1.0 + 1e-9


def test_16_bit_warp_matches_scipy():
    image = pattern(40, 30, "I;16")
    m = random_affine(np.random.default_rng(3), image.size)
    ours = np.asarray(W.warp(image, m, image.size, fill_mode="reflect")).astype(float)
    ref = scipy_warp(image, m, image.size, "reflect")[..., 0]
    assert np.asarray(W.warp(image, m, image.size)).dtype == np.uint16
    assert np.abs(ours - ref).max() <= 1.0 + 1e-9


def test_constant_fill_on_rgba_is_cval_in_every_band():
    image = pattern(20, 20, "RGBA")
    out = np.asarray(W.warp(image, G.shift(10, 0), image.size, fill_mode="constant", cval=128))
    # (8-bit premultiplication rounds: colour may come back one level off at partial alpha)
    assert out[5, 2, 3] == 128 and np.abs(out[5, 2, :3].astype(int) - 128).max() <= 1


def _reference_extend(arr, x0, y0, x1, y1, mode):
    """Index folding, the textbook way (scipy.ndimage's boundary rules)."""
    h, w = arr.shape[:2]

    def fold(idx, n):
        if mode == "nearest":
            return np.clip(idx, 0, n - 1)
        if mode == "wrap":
            return np.mod(idx, n)
        m = np.mod(idx, 2 * n)  # reflect: half-sample symmetric
        return np.where(m >= n, 2 * n - 1 - m, m)

    return arr[np.ix_(fold(np.arange(y0, y1), h), fold(np.arange(x0, x1), w))]


@pytest.mark.parametrize("mode", ["nearest", "reflect", "wrap"])
@pytest.mark.parametrize("img_mode", ["RGB", "L", "I"])
def test_extend_matches_index_folding_for_any_box(mode, img_mode):
    rng = np.random.default_rng(0)
    image = pattern(13, 9, "L" if img_mode == "I" else img_mode)
    if img_mode == "I":
        image = image.convert("I")
    arr = np.asarray(image)
    for _ in range(150):
        x0, y0 = (int(v) for v in rng.integers(-40, 40, 2))
        x1, y1 = x0 + int(rng.integers(1, 50)), y0 + int(rng.integers(1, 40))  # boxes anywhere, even far outside
        got = np.asarray(W._extend(image, x0, y0, x1, y1, mode, 0))
        assert np.array_equal(got, _reference_extend(arr, x0, y0, x1, y1, mode)), (mode, x0, y0, x1, y1)
