"""The sensor and occlusion ops (motion blur, median blur, downscale, ISO noise, coarse dropout,
GridMask): exact references (scipy.ndimage.median_filter, numpy), known answers, the same bytes on
every kernel path with pinned digests, statistics of the random draws, checked params, the CLI."""

from __future__ import annotations

import hashlib
import itertools
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import ndimage

from augcli import kernels as K
from augcli.cli import cli
from augcli.kernels import median_networks
from augcli.ops import OPS, CoarseDropout, Downscale, GridMask, IsoNoise, MedianBlur, MotionBlur, build
from augcli.ops import sensor_image as S

from .conftest import REPO, pattern, tree_bytes
from .test_kernels_pixel import LAYOUTS, Guarded, generated, random_image

MODES = ["L", "LA", "RGB", "RGBA"]


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


def image_of(mode: str, w: int = 41, h: int = 29, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    rgba = Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA")
    return rgba.convert(mode) if mode != "RGBA" else rgba


def bands(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(colour (h, w, c), alpha (h, w) or None) as arrays."""
    a = np.asarray(image)
    a = a.reshape(a.shape[0], a.shape[1], -1)
    if image.mode in ("LA", "RGBA"):
        return a[..., :-1], a[..., -1]
    return a, None


def edge_pad(a: np.ndarray, r: int) -> np.ndarray:
    return np.pad(a, ((r, r), (r, r), (0, 0)), mode="edge")


# --- median: exactly scipy.ndimage.median_filter(mode="nearest") ----------------------------------


@pytest.mark.parametrize("k", [3, 5, 7, 9, 15])
def test_median_networks_sort_every_binary_input_to_the_median(k):
    # the 0-1 principle: a comparator network selects the median of every input iff it does so for
    # every 0/1 input; all 2^9 for k = 3, random ones (with every count of ones) beyond
    pairs, slot = median_networks.network(k)
    n = k * k
    rng = np.random.default_rng(k)
    inputs = (itertools.product((0, 1), repeat=n) if n <= 9 else
              (rng.permutation(np.arange(n) < ones).astype(int) for ones in range(n + 1) for _ in range(40)))
    for values in inputs:
        v = list(values)
        for a, b in pairs:
            if v[a] > v[b]:
                v[a], v[b] = v[b], v[a]
        assert v[slot] == sorted(values)[n // 2]


def test_median_network_header_is_the_generated_networks():
    assert (REPO / "augcli" / "kernels" / "median_networks.h").read_text() == median_networks.header()


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (1, 9), (9, 1), (37, 23), (300, 4)])
@pytest.mark.parametrize("layout", LAYOUTS + [(4, 4)])
def test_median_kernel_is_scipy_median_filter_on_every_path(size, layout, path_restored):
    bpp, nc = layout
    w, h = size
    rng = np.random.default_rng(w * 7 + h + bpp)
    src = rng.integers(0, 256, (h, w, bpp), dtype=np.uint8)
    for k in (1, 3, 5, 7, 9, 11):
        ref = np.stack([ndimage.median_filter(src[..., c], size=k, mode="nearest") for c in range(nc)], -1)
        for path in K.available():
            K.use(path)
            out = np.frombuffer(bytes(K.median(src.tobytes(), size, bpp, nc, k)), np.uint8).reshape(h, w, bpp)
            assert (out[..., :nc] == ref).all(), (k, path)
            assert (out[..., nc:] == src[..., nc:]).all()


@pytest.mark.parametrize("layout", LAYOUTS + [(4, 4)])
def test_median_3_across_the_blocks_of_a_row(layout, path_restored):
    # the 3x3 kernel sorts columns a block of 2048 bytes of the row at a time: rows that end exactly
    # at, one pixel after and well past a block edge, each column shared across the edge
    bpp, nc = layout
    rng = np.random.default_rng(bpp * 10 + nc)
    for w in sorted({2048 // bpp, 2048 // bpp + 1, 4096 // bpp - 1, 4096 // bpp + 3, 5000 // bpp}):
        src = rng.integers(0, 256, (3, w, bpp), dtype=np.uint8)
        ref = np.stack([ndimage.median_filter(src[..., c], size=3, mode="nearest") for c in range(nc)], -1)
        guarded = Guarded() if __import__("sys").platform == "linux" else None
        for path in K.available():
            K.use(path)
            for at_end in (True, False):
                # the source and the output flush against no-access pages where mprotect is at hand
                into = guarded.buffer(src.nbytes, at_end) if guarded else bytearray(src.nbytes)
                source = guarded.buffer(src.nbytes, not at_end) if guarded else bytearray(src.nbytes)
                source[:] = src.tobytes()
                K.median(source, (w, 3), bpp, nc, 3, out=into)
                out = np.frombuffer(bytes(into), np.uint8).reshape(3, w, bpp)
                assert (out[..., :nc] == ref).all(), (w, path)
                assert (out[..., nc:] == src[..., nc:]).all()


def test_median_on_plateaus_and_extremes_and_the_widest_window(path_restored):
    # ties everywhere (few distinct values), 0 and 255, and k = 15 on a photo-sized row
    rng = np.random.default_rng(3)
    src = rng.choice(np.array([0, 1, 254, 255], dtype=np.uint8), (31, 211, 3))
    for k in (3, 5, 15):
        ref = np.stack([ndimage.median_filter(src[..., c], size=k, mode="nearest") for c in range(3)], -1)
        for path in K.available():
            K.use(path)
            out = np.frombuffer(bytes(K.median(src.tobytes(), (211, 31), 3, 3, k)), np.uint8).reshape(31, 211, 3)
            assert (out == ref).all(), (k, path)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "F"])
def test_median_blur_op_is_scipy_per_band_and_keeps_alpha(mode):
    if mode == "I;16":
        rng = np.random.default_rng(1)
        image = Image.frombytes("I;16", (33, 21), rng.integers(0, 65536, (21, 33), dtype=np.uint16).tobytes())
    elif mode == "F":
        image = Image.fromarray(np.random.default_rng(2).normal(100, 50, (21, 33)).astype(np.float32), "F")
    else:
        image = image_of(mode, 33, 21)
    out = S.median_blur(image, 5)
    assert out.mode == image.mode and out.size == image.size
    colour, alpha = bands(image)
    got, got_alpha = bands(out)
    ref = np.stack([ndimage.median_filter(colour[..., c], size=5, mode="nearest") for c in range(colour.shape[2])], -1)
    assert (got == ref).all()
    if alpha is not None:
        assert (got_alpha == alpha).all()


# --- motion blur ----------------------------------------------------------------------------------


def test_motion_line_known_answers():
    assert S.motion_line(7, 0) == [(0, 0), (1, 0), (-1, 0), (2, 0), (-2, 0), (3, 0), (-3, 0)]
    assert sorted(S.motion_line(7, 90)) == [(0, dy) for dy in range(-3, 4)]
    assert sorted(S.motion_line(5, 180)) == [(dx, 0) for dx in range(-2, 3)]
    # 45 degrees counter-clockwise on screen (y down): up and to the right; r cos 45 = 2.12 -> 2
    assert sorted(S.motion_line(7, 45)) == [(-2, 2), (-1, 1), (0, 0), (1, -1), (2, -2)]
    # 60 degrees, r = 3: r cos 60 is 1.5 exactly in theory (libm gives 1.5000000000000004): a half, away from 0
    assert max(abs(dx) for dx, _ in S.motion_line(7, 60)) == 2
    assert S.motion_line(1, 33.0) == [(0, 0)]


@pytest.mark.parametrize("length,angle", [(3, 10.0), (7, 45.0), (9, 123.4), (15, 170.0), (63, 77.7), (11, -30.0)])
def test_motion_line_is_a_symmetric_connected_line(length, angle):
    line = S.motion_line(length, angle)
    assert line[0] == (0, 0) and len(set(line)) == len(line)
    assert set(line) == {(-x, -y) for x, y in line}
    reach = max(max(abs(x), abs(y)) for x, y in line)
    assert len(line) == 2 * reach + 1 and reach <= (length - 1) // 2
    ordered = sorted(line, key=lambda p: (p[0], p[1]) if abs(math.cos(math.radians(angle))) > 0.5 else (p[1], p[0]))
    assert all(max(abs(a[0] - b[0]), abs(a[1] - b[1])) == 1 for a, b in zip(ordered, ordered[1:]))  # 8-connected
    ex, ey = line[-2]
    assert math.hypot(ex, ey) == pytest.approx((length - 1) / 2, abs=0.75)
    assert math.degrees(math.atan2(-ey, ex)) % 180 == pytest.approx(angle % 180, abs=90 / max(reach, 1))


def line_mean_reference(src: np.ndarray, line) -> np.ndarray:
    r = max(max(abs(x), abs(y)) for x, y in line)
    pad = edge_pad(src.astype(np.int64), r)
    h, w = src.shape[:2]
    total = sum(pad[r + dy:r + dy + h, r + dx:r + dx + w] for dx, dy in line)
    return (2 * total + len(line)) // (2 * len(line))


def test_mean_divisor_is_exact_for_every_sum():
    for n in range(1, K.LINE_MAX_N + 1):
        mult, shift = K.mean_divisor(n)
        x = np.arange(0, 255 * n + 1, dtype=np.int64) * 2 + n
        assert mult < 1 << 16 and int(x.max()) * mult < 1 << 32
        assert ((x * mult) >> shift == x // (2 * n)).all(), n


@pytest.mark.parametrize("layout", LAYOUTS)
def test_line_mean_kernel_is_the_rounded_mean_on_every_path(layout, path_restored):
    bpp, nc = layout
    rng = np.random.default_rng(bpp)
    src = rng.integers(0, 256, (23, 37, bpp), dtype=np.uint8)
    for length, angle in [(3, 0.0), (7, 45.0), (9, 100.0), (31, 12.0), (63, 89.0)]:
        line = S.motion_line(length, angle)
        ref = line_mean_reference(src[..., :nc], line)
        for path in K.available():
            K.use(path)
            out = np.frombuffer(bytes(K.line_mean(src.tobytes(), (37, 23), bpp, nc, line)), np.uint8)
            out = out.reshape(23, 37, bpp)
            assert (out[..., :nc] == ref).all(), (length, angle, path)
            assert (out[..., nc:] == src[..., nc:]).all()


def test_motion_blur_16_bit_and_float_follow_the_same_rule():
    rng = np.random.default_rng(4)
    values = rng.integers(0, 65536, (19, 27), dtype=np.uint16)
    image = Image.frombytes("I;16", (27, 19), values.tobytes())
    line = S.motion_line(9, 30.0)
    out = np.asarray(S.motion_blur(image, 9, 30.0))
    assert (out == line_mean_reference(values[..., None], line)[..., 0]).all()
    fimage = Image.fromarray(values.astype(np.float32), "F")
    r = 4
    pad = edge_pad(values[..., None].astype(np.float64), r)
    mean = sum(pad[r + dy:r + dy + 19, r + dx:r + dx + 27, 0] for dx, dy in line) / len(line)
    assert np.allclose(np.asarray(S.motion_blur(fimage, 9, 30.0)), mean, atol=1e-3)


def test_motion_blur_keeps_a_flat_image_and_blurs_along_the_line_only():
    flat = Image.new("RGB", (30, 20), (10, 200, 77))
    assert S.motion_blur(flat, 9, 37.0).tobytes() == flat.tobytes()
    # a horizontal stripe is unchanged by a horizontal blur and spread by a vertical one
    a = np.zeros((21, 21), np.uint8)
    a[10] = 255
    stripe = Image.fromarray(a, "L")
    assert S.motion_blur(stripe, 7, 0.0).tobytes() == stripe.tobytes()
    vertical = np.asarray(S.motion_blur(stripe, 7, 90.0))
    assert (vertical[7:14, 5] == 36).all() and vertical[6, 5] == 0  # 255 / 7 = 36.4


# --- ISO noise --------------------------------------------------------------------------------------


def test_iso_noise_has_the_documented_luma_dependent_spread_and_band_correlation():
    sigma, colour = 12.0, 0.5
    for level in (30, 128, 220):
        flat = Image.new("RGB", (400, 300), (level,) * 3)
        out = np.asarray(S.iso_noise(flat, sigma, colour, 99)).reshape(-1, 3).astype(np.float64) - level
        spread = sigma * math.sqrt(level / 255)
        assert abs(out.mean()) < 0.1
        for c in range(3):
            assert out[:, c].std() == pytest.approx(spread * math.sqrt(1 + colour ** 2), rel=0.03)
        corr = np.corrcoef(out.T)
        # bands share z0: correlation 1 / (1 + C^2) between any two
        assert corr[0, 1] == pytest.approx(1 / (1 + colour ** 2), abs=0.02)
    black = Image.new("RGB", (50, 40), 0)
    assert S.iso_noise(black, sigma, colour, 1).tobytes() == black.tobytes()  # sqrt(0 / 255) = 0


def test_iso_noise_brighter_pixels_are_noisier_and_grey_gets_luminance_noise_only():
    grey = Image.new("L", (300, 200), 64)
    bright = Image.new("L", (300, 200), 196)
    d_grey = np.asarray(S.iso_noise(grey, 10.0, 0.0, 5)).astype(float) - 64
    d_bright = np.asarray(S.iso_noise(bright, 10.0, 0.0, 5)).astype(float) - 196
    assert d_bright.std() / d_grey.std() == pytest.approx(math.sqrt(196 / 64), rel=0.05)
    la = S.iso_noise(Image.new("LA", (20, 10), (100, 37)), 10.0, 0.5, 5)
    assert la.mode == "LA" and set(np.asarray(la)[..., 1].ravel()) == {37}


def test_iso_noise_is_keyed_by_its_seed_and_kernel_matches_the_documented_tables(path_restored):
    image = image_of("RGB", 64, 48, 7)
    a, b, c = (S.iso_noise(image, 8.0, 0.5, s).tobytes() for s in (1, 1, 2))
    assert a == b != c
    lum, chroma = S.iso_sigmas(8.0, 0.5)
    assert lum[255] == round(8.0 * 65536) and lum[0] == 0 and chroma[255] == round(4.0 * 65536)
    with pytest.raises(ValueError):
        K.iso_noise(bytes(12), (2, 2), 3, 3, [1 << 25] * 256, [0] * 256, 1)


@pytest.mark.parametrize("mode", ["I;16", "F"])
def test_iso_noise_on_16_bit_and_float_data(mode):
    level = 128 * 257 if mode == "I;16" else 128.0
    image = Image.new(mode, (200, 150), level)
    out = np.asarray(S.iso_noise(image, 10.0, 0.5, 3)).astype(np.float64)
    scale = 257 if mode == "I;16" else 1
    assert out.std() / scale == pytest.approx(10.0 * math.sqrt(128 / 255) * math.sqrt(1.25), rel=0.05)


# --- downscale --------------------------------------------------------------------------------------


@pytest.mark.parametrize("filter", [f for f in S.DOWNSCALE_FILTERS if f != "bilinear"])  # bilinear: test_downscale
@pytest.mark.parametrize("mode", MODES)
def test_downscale_is_pillows_resize_down_and_up_on_the_colour_bands(filter, mode):
    image = image_of(mode, 40, 30, 3)
    out = S.downscale(image, 0.3, filter)
    resample = {"nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX,
                "bicubic": Image.Resampling.BICUBIC}[filter]
    colour = image.convert("RGB" if mode.startswith("RGB") else "L")
    expected = colour.resize((12, 9), resample).resize((40, 30), resample)
    got, alpha = bands(out)
    assert (got == bands(expected)[0]).all()
    if alpha is not None:
        assert (alpha == bands(image)[1]).all()


def test_downscale_known_answer_and_limits():
    a = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    out = np.asarray(S.downscale(Image.fromarray(a, "L"), 0.5, "nearest"))
    # nearest to 2x2 keeps the pixels (1, 1), (3, 1), (1, 3), (3, 3); back up, each fills a 2x2 block
    assert (out == np.kron(a[1::2, 1::2], np.ones((2, 2), np.uint8))).all()
    image = image_of("RGB", 10, 10)
    assert S.downscale(image, 0.97, "bilinear").tobytes() == image.tobytes()  # rounds to the same size
    assert S.downscale(image, 0.05, "nearest").size == (10, 10)  # via 1x1 (at least one pixel)
    sixteen = Image.frombytes("I;16", (8, 6), (np.arange(48, dtype=np.uint16) * 1300).tobytes())
    out16 = S.downscale(sixteen, 0.5, "bilinear")
    assert out16.mode == "I;16" and out16.size == (8, 6)
    with pytest.raises(ValueError, match="must be >= 0.05"):
        Downscale(scale_range=(0.01, 0.5))
    with pytest.raises(ValueError, match="downscale-filter"):
        Downscale(scale_range=(0.5, 0.5), filter="lanczos")


# --- coarse dropout ---------------------------------------------------------------------------------


def test_coarse_dropout_draws_counts_and_sizes_uniformly_inside_the_image():
    op = CoarseDropout(count_range=(1, 6), size_range=(0.1, 0.3))
    size = (200, 100)
    counts, widths, heights = [], [], []
    for seed in range(2000):
        params = op.sample(np.random.default_rng(seed), size)
        op.check(params, size)
        counts.append(len(params["holes"]))
        for x, y, w, h in params["holes"]:
            assert 0 <= x and x + w <= 200 and 0 <= y and y + h <= 100
            widths.append(w / 200)
            heights.append(h / 100)
    freq = np.bincount(counts, minlength=7)[1:] / len(counts)
    assert np.allclose(freq, 1 / 6, atol=0.03)
    for fractions in (widths, heights):
        assert min(fractions) >= 0.095 and max(fractions) <= 0.305
        assert np.mean(fractions) == pytest.approx(0.2, abs=0.01)
    assert abs(np.corrcoef(widths, heights)[0, 1]) < 0.05  # drawn apart


@pytest.mark.parametrize("mode", MODES + ["I;16", "F"])
@pytest.mark.parametrize("fill", S.DROPOUT_FILLS)
def test_coarse_dropout_fills_holes_only_and_keeps_alpha(mode, fill):
    if mode in ("I;16", "F"):
        base = image_of("L", 50, 40, 1)
        image = Image.frombytes("I;16", base.size, (np.asarray(base).astype(np.uint16) * 257).tobytes()) \
            if mode == "I;16" else base.convert("F")
    else:
        image = image_of(mode, 50, 40, 1)
    op = CoarseDropout(count_range=(3, 3), size_range=(0.2, 0.3), fill=fill)
    params = op.sample(np.random.default_rng(4), image.size)
    out = op.apply(image, params)
    colour, alpha = bands(image)
    got, got_alpha = bands(out)
    inside = np.zeros(colour.shape[:2], bool)
    for x, y, w, h in params["holes"]:
        inside[y:y + h, x:x + w] = True
    assert (got[~inside] == colour[~inside]).all()
    if alpha is not None:
        assert (got_alpha == alpha).all()
    scale = 257 if mode == "I;16" else 1
    last = params["holes"][-1]  # drawn on top of any hole it overlaps
    patch = got[last[1]:last[1] + last[3], last[0]:last[0] + last[2]]
    if fill in ("black", "grey", "white"):
        assert (patch == {"black": 0, "grey": 128, "white": 255}[fill] * scale).all()
    elif fill == "random":
        expected = np.asarray(params["colours"][-1][:colour.shape[2]]) * scale
        assert (patch == (expected.astype(np.float32) if mode == "F" else np.rint(expected))).all()
    else:
        assert (patch == S.noise_fill(params["noise_seed"], last, 50, colour.shape[2]).astype(np.float64) * scale).all()


def test_noise_fill_kernel_equals_the_numpy_reference_and_is_uniform():
    image = Image.new("RGB", (300, 200), 0)
    out = S.fill_holes(image, [[0, 0, 300, 200]], "noise", noise_seed=11)
    a = np.asarray(out)
    assert (a == S.noise_fill(11, (0, 0, 300, 200), 300, 3)).all()
    hist = np.bincount(a.ravel(), minlength=256) / a.size
    assert np.abs(hist - 1 / 256).max() < 0.0015
    # a pixel's values depend on its place and the seed only, not on the hole around it
    part = np.asarray(S.fill_holes(image, [[100, 50, 20, 30]], "noise", noise_seed=11))
    assert (part[50:80, 100:120] == a[50:80, 100:120]).all()


def test_coarse_dropout_check_refuses_params_it_could_not_have_drawn():
    op = CoarseDropout(count_range=(1, 2), fill="random")
    good = op.sample(np.random.default_rng(0), (40, 30))
    op.check(good, (40, 30))
    bad = [
        {"holes": good["holes"]},  # no colours
        {**good, "noise_seed": 3},  # a key of another fill
        {"holes": [[0, 0, 41, 5]], "colours": [[0, 0, 0]]},  # wider than the image
        {"holes": [[0, 0, 5, 5]] * 3, "colours": [[0, 0, 0]] * 3},  # more holes than 2
        {"holes": [[0, 0, 5, 5]], "colours": [[0, 0, 300]]},
        {"holes": [], "colours": []},
    ]
    for params in bad:
        with pytest.raises(ValueError):
            op.check(params, (40, 30))
    with pytest.raises(ValueError, match="whole numbers"):
        CoarseDropout(count_range=(1, 2.5))
    with pytest.raises(ValueError, match="dropout-fill"):
        CoarseDropout(fill="blue")


# --- GridMask ---------------------------------------------------------------------------------------


def test_grid_mask_known_answer():
    # cells of 4, squares of 2 (r = 0.5), grid shifted by (1, 0): dropped columns 1-2, 5-6, rows 0-1, 4-5
    image = Image.new("L", (8, 6), 200)
    out = np.asarray(GridMask(ratio=0.5).apply(image, {"unit": 4, "hole": 2, "dx": 1, "dy": 0}))
    cols = np.isin(np.arange(8), [1, 2, 5, 6])
    rows = np.isin(np.arange(6), [0, 1, 4, 5])
    assert (out == np.where(rows[:, None] & cols[None, :], 0, 200)).all()
    # a shift past the edge wraps: a square cut by the left border shows its right part
    out = np.asarray(GridMask(ratio=0.5).apply(image, {"unit": 4, "hole": 3, "dx": 2, "dy": 0}))
    assert (out[0] == [0, 200, 0, 0, 0, 200, 0, 0]).all()


@pytest.mark.parametrize("mode", MODES + ["I;16"])
def test_grid_mask_in_pillows_memory_equals_filling_its_squares(mode):
    image = image_of(mode if mode != "I;16" else "L", 53, 37, 5)
    if mode == "I;16":
        image = Image.frombytes("I;16", image.size, (np.asarray(image).astype(np.uint16) * 257).tobytes())
    for unit, hole, dx, dy in [(10, 4, 3, 7), (7, 6, 0, 0), (60, 20, 59, 1)]:
        expected = S.fill_holes(image, S.grid_holes(image.size, unit, hole, dx, dy), "black")
        assert S.grid_mask(image, unit, hole, dx, dy).tobytes() == expected.tobytes()
    before = image.tobytes()
    S.grid_mask(image, 10, 4, 3, 7)
    assert image.tobytes() == before  # the source is left alone


def test_grid_mask_drops_the_papers_share_and_draws_units_in_range():
    op = GridMask(ratio=0.6, unit_range=(0.2, 0.5))
    size = (240, 180)
    units, dropped = [], []
    flat = Image.new("L", size, 255)
    for seed in range(300):
        params = op.sample(np.random.default_rng(seed), size)
        op.check(params, size)
        units.append(params["unit"])
        assert params["hole"] == round(0.4 * params["unit"])
        assert 0 <= params["dx"] < params["unit"] and 0 <= params["dy"] < params["unit"]
        if seed < 60:
            dropped.append((np.asarray(op.apply(flat, params)) == 0).mean())
    assert min(units) >= 36 and max(units) <= 90 and len(set(units)) > 30
    # about (1 - r)^2 = 0.16 of the image (edges make single images vary)
    assert np.mean(dropped) == pytest.approx(0.16, abs=0.02)
    with pytest.raises(ValueError):
        op.check({"unit": 50, "hole": 10, "dx": 0, "dy": 0}, size)  # not (1 - r) x unit
    with pytest.raises(ValueError):
        op.check({"unit": 50, "hole": 20, "dx": 50, "dy": 0}, size)  # offset beyond the cell


# --- same bytes on every path; pinned digests ----------------------------------------------------------


def run_sensor_kernels(src: bytes, size, bpp: int, nc: int) -> dict[str, bytes]:
    out = {f"median {k}": K.median(src, size, bpp, nc, k) for k in (3, 5, 7, 9)}
    out["line 7/45"] = K.line_mean(src, size, bpp, nc, S.motion_line(7, 45.0))
    out["line 15/100"] = K.line_mean(src, size, bpp, nc, S.motion_line(15, 100.0))
    out["downscale 0.3"] = K.downscale(src, size, bpp, nc, (max(1, round(size[0] * 0.3)), max(1, round(size[1] * 0.3))))
    if nc in (1, 3):
        out["iso 9/0.5"] = K.iso_noise(src, size, bpp, nc, *S.iso_sigmas(9.0, 0.5), 12345)
    noisy = bytearray(src)
    x, y = min(1, size[0] - 1), min(2, size[1] - 1)
    K.fill_noise(noisy, size, bpp, nc, (x, y, max(1, size[0] - 3 * x), max(1, size[1] - 2 * y)), 77)
    out["fill noise"] = noisy
    return {k: bytes(v) for k, v in out.items()}


@pytest.mark.parametrize("size", [(1, 1), (7, 1), (2, 3), (37, 23), (129, 5)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_path_gives_the_same_bytes_as_scalar(size, layout, path_restored):
    bpp, nc = layout
    src = random_image(np.random.default_rng(size[0] * 100 + size[1] + bpp), *size, bpp)
    K.use("scalar")
    expected = run_sensor_kernels(src, size, bpp, nc)
    for path in K.available():
        K.use(path)
        assert run_sensor_kernels(src, size, bpp, nc) == expected, path


GOLDEN = {
    # SHA-256 of each kernel's output on the fixed generated 61x43 RGBA image (test_kernels_pixel.generated)
    "median 3": "0521d9488133ab01f1ad91c7b2d0a62d09dcaa05720f0aaea3af9d668eb20e55",
    "median 5": "7373281a766a66c6357babc7d92211f69c8c4c3c0510040db0b473e31934f9d4",
    "median 7": "8914423237e723ec5d8c5699b36473a9e7ab5af908cb95268d9e407c1b657205",
    "median 9": "960f7bf5e6b75611b42f75455cad7a3a01a9692050c37557a6475f36c6928dd5",
    "line 7/45": "183e6f61f506948806762b0f745670ca89a596a3976908cb5134923d05b1f868",
    "line 15/100": "07cca8be7de3654f963e278ae4410c71ed9f03dc0ec626d038fa30fee161ccf9",
    "downscale 0.3": "835591b22d979a10ea26c6187728c91496c75ebab7912c2c29808b3035e37b5c",
    "iso 9/0.5": "7a6d87e830cc7ad168ba900454a215fb790fedbae1eda46db5c0f72c789aefc0",
    "fill noise": "dee278fcec63da5de46c27a3ca1bb13be6cae3ea002a211ff0095a4c7a3b9bcf",
}


def digests() -> dict[str, str]:
    src = generated(61, 43, 4)
    return {name: hashlib.sha256(data).hexdigest() for name, data in run_sensor_kernels(src, (61, 43), 4, 3).items()}


def test_golden_digests_hold_on_every_path(path_restored):
    for path in K.available():
        K.use(path)
        assert digests() == GOLDEN, path


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_sensor_kernels_stay_inside_buffers_placed_against_guard_pages(path_restored):
    g = Guarded()
    rng = np.random.default_rng(9)
    for path in K.available():
        K.use(path)
        for w, h in [(1, 1), (1, 7), (7, 1), (3, 5), (17, 3), (300, 9)]:
            for bpp, nc in LAYOUTS:
                n = w * h * bpp
                for at_end in (True, False):
                    src = g.buffer(n, at_end)
                    src[:] = random_image(rng, w, h, bpp)
                    expected = run_sensor_kernels(bytes(src), (w, h), bpp, nc)
                    dst = g.buffer(n, at_end)
                    for k in (3, 5, 7, 9):
                        K.median(src, (w, h), bpp, nc, k, out=dst)
                        assert bytes(dst) == expected[f"median {k}"]
                    K.line_mean(src, (w, h), bpp, nc, S.motion_line(15, 100.0), out=dst)
                    assert bytes(dst) == expected["line 15/100"]
                    if nc in (1, 3):
                        K.iso_noise(src, (w, h), bpp, nc, *S.iso_sigmas(9.0, 0.5), 12345, out=dst)
                        assert bytes(dst) == expected["iso 9/0.5"]
                    x, y = min(1, w - 1), min(2, h - 1)
                    K.fill_noise(src, (w, h), bpp, nc, (x, y, max(1, w - 3 * x), max(1, h - 2 * y)), 77)
                    assert bytes(src) == expected["fill noise"]


# --- the Python face checks before the C code -----------------------------------------------------------


def test_kernels_refuse_bad_arguments_with_value_errors():
    src = bytes(4 * 6)
    with pytest.raises(ValueError, match="odd"):
        K.median(src, (3, 2), 4, 3, 4)
    with pytest.raises(ValueError, match="odd"):
        K.median(src, (3, 2), 4, 3, 17)
    with pytest.raises(ValueError):
        K.median(src[:-1], (3, 2), 4, 3, 3)
    with pytest.raises(ValueError, match="offsets"):
        K.line_mean(src, (3, 2), 4, 3, [(0, 0)] * 64)
    with pytest.raises(ValueError, match="offsets"):
        K.line_mean(src, (3, 2), 4, 3, [(300, 0)])
    with pytest.raises(ValueError, match="box"):
        K.fill_noise(bytearray(src), (3, 2), 4, 3, (2, 0, 2, 1), 1)
    from augcli.kernels import _pixel

    with pytest.raises(ValueError):
        _pixel.median(src, bytearray(24), 3, 2, 4, 3, 3, b"\x00\x00\x00\x00", 4)  # a pair of one slot
    with pytest.raises(ValueError):
        _pixel.line_mean(src, bytearray(24), 3, 2, 4, 3, bytes(8), 1 << 16, 1)
    with pytest.raises(ValueError):
        _pixel.fill_noise(bytearray(24), 3, 2, 4, 3, 0, 0, 4, 1, 1)


# --- ops: params, checks, CLI -------------------------------------------------------------------------


def test_window_sizes_are_odd_and_drawn_uniformly_over_the_odd_sizes():
    op = MedianBlur(size_range=(3, 9))
    draws = [op.sample(np.random.default_rng(s), (10, 10))["size"] for s in range(2000)]
    assert set(draws) == {3, 5, 7, 9}
    assert np.allclose(np.bincount(draws)[[3, 5, 7, 9]] / 2000, 0.25, atol=0.035)
    motion = MotionBlur(length_range=(3, 7), angle_range=(-10, 10))
    params = [motion.sample(np.random.default_rng(s), (10, 10)) for s in range(500)]
    assert {p["length"] for p in params} == {3, 5, 7}
    assert all(-10 <= p["angle"] <= 10 for p in params)
    for bad in [(2, 5), (3, 4), (3, 17)]:
        with pytest.raises(ValueError):
            MedianBlur(size_range=bad)
    with pytest.raises(ValueError):
        MotionBlur(length_range=(3, 65))
    with pytest.raises(ValueError, match="odd"):
        op.check({"size": 4}, (10, 10))
    with pytest.raises(ValueError):
        motion.check({"length": 5, "angle": 11.0}, (10, 10))


def test_iso_noise_and_grid_mask_options_are_checked():
    with pytest.raises(ValueError):
        IsoNoise(sigma_range=(0, 300))
    with pytest.raises(ValueError, match="iso-colour"):
        IsoNoise(sigma_range=(0, 10), colour=1.5)
    with pytest.raises(ValueError, match="grid-mask"):
        GridMask(ratio=1.0)


def test_build_and_the_adjusting_flags_need_their_op():
    ops = build(coarse_dropout=(1, 4), dropout_fill="noise", grid_mask=0.7, motion_blur=(3, 9))
    assert [o.name for o in ops] == ["motion_blur", "coarse_dropout", "grid_mask"]
    for key, value, needs in [("dropout_size", (0.1, 0.2), "--coarse-dropout"), ("iso_colour", 0.3, "--iso-noise"),
                              ("grid_unit", (0.1, 0.2), "--grid-mask"), ("downscale_filter", "box", "--downscale"),
                              ("motion_angle", (0, 10), "--motion-blur")]:
        with pytest.raises(ValueError, match=needs):
            build(**{key: value})


def test_expand_and_replay_give_the_same_bytes_and_labels_stay(tmp_path):
    src = tmp_path / "in"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    pattern(64, 48, "RGB", 1).save(src / "images" / "a.png")
    pattern(40, 40, "RGBA", 2).save(src / "images" / "b.png")
    (src / "labels" / "a.txt").write_text("0 0.5 0.5 0.4 0.3\n")
    (src / "labels" / "b.txt").write_text("1 0.3 0.3 0.2 0.2\n")
    out = tmp_path / "out"
    flags = ["--motion-blur", "9", "--median-blur", "5", "--downscale", "0.3", "--downscale-filter", "bilinear",
             "--iso-noise", "10", "--coarse-dropout", "6", "--dropout-size", "0.3:0.5", "--dropout-fill", "noise",
             "--grid-mask", "0.5", "--seed", "5", "-n", "3"]
    result = CliRunner().invoke(cli, ["expand", str(src), str(out), *flags])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()][1:]
    names = [op["op"] for op in records[0]["ops"]]
    assert names == ["motion_blur", "median_blur", "downscale", "iso_noise", "coarse_dropout", "grid_mask"]
    # the holes cover much of the image, and every label is written unchanged
    for stem, label in (("a", "0 0.5 0.5 0.4 0.3"), ("b", "1 0.3 0.3 0.2 0.2")):
        for copy in range(3):
            text = (out / "labels" / f"{stem}_{copy}.txt").read_text().split()
            assert [float(v) for v in text] == pytest.approx([float(v) for v in label.split()])
    again = tmp_path / "again"
    result = CliRunner().invoke(cli, ["replay", str(out / "manifest.jsonl"), "--output", str(again)])
    assert result.exit_code == 0, result.output
    first, second = tree_bytes(out), tree_bytes(again)
    assert {k: v for k, v in first.items() if k != "manifest.jsonl"} == \
        {k: v for k, v in second.items() if k != "manifest.jsonl"}


@pytest.mark.parametrize("args,message", [
    (["--median-blur", "4"], "odd"),
    (["--motion-blur", "65"], "63"),
    (["--dropout-size", "0.1:0.2"], "--coarse-dropout"),
    (["--coarse-dropout", "2.5"], "whole"),
    (["--grid-mask", "1.2"], "grid-mask"),
    (["--downscale-filter", "lanczos", "--downscale", "0.5"], "downscale-filter"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "in").mkdir()
    pattern(20, 10).save(tmp_path / "in" / "x.png")
    result = CliRunner().invoke(cli, ["expand", str(tmp_path / "in"), str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_the_ops_are_registered_between_colour_and_the_noise_family():
    names = list(OPS)
    assert names.index("grayscale") < names.index("motion_blur") < names.index("grid_mask") < names.index("blur")


def test_16_bit_median_and_motion_blur_agree_across_their_bands_of_rows():
    # wide enough that both work in several bands of rows
    rng = np.random.default_rng(12)
    values = rng.integers(0, 65536, (300, 4100), dtype=np.uint16)
    image = Image.frombytes("I;16", (4100, 300), values.tobytes())
    assert (np.asarray(S.median_blur(image, 5)) == ndimage.median_filter(values, size=5, mode="nearest")).all()
    line = S.motion_line(9, 30.0)
    assert (np.asarray(S.motion_blur(image, 9, 30.0)) == line_mean_reference(values[..., None], line)[..., 0]).all()


@pytest.mark.parametrize("mode", MODES)
def test_every_new_op_gives_the_same_bytes_on_every_path(mode, path_restored):
    image = image_of(mode, 67, 45, 9)
    ops = [MotionBlur(length_range=(3, 15)), MedianBlur(size_range=(3, 9)), Downscale(scale_range=(0.2, 0.6)),
           IsoNoise(sigma_range=(3, 20)), CoarseDropout(count_range=(1, 5), fill="noise"), GridMask(ratio=0.4)]
    plans = [(op, op.sample(np.random.default_rng(seed), image.size)) for op in ops for seed in range(4)]
    K.use("scalar")
    expected = [op.apply(image, params).tobytes() for op, params in plans]
    for path in K.available():
        K.use(path)
        assert [op.apply(image, params).tobytes() for op, params in plans] == expected, path
