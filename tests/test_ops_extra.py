"""Known answers and statistics for the ops beyond Keras (issue #3), checked against independent
computations: numpy.rot90, plain array slicing, scipy.ndimage, colorsys, PIL ImageEnhance, Pillow's
own JPEG codec."""

from __future__ import annotations

import colorsys
import io
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageEnhance
from scipy import ndimage

from augcli import functional as F
from augcli import geometry as G
from augcli import warping as W
from augcli.cli import cli
from augcli.ops import (OPS, Contrast, Crop, Erase, Gamma, Grayscale, Hue, JpegArtifacts, Lighting, Noise,
                        Perspective, Rot90, SaltPepper, Saturation, build)
from augcli.pipeline import Pipeline
from augcli.seeding import rng_for

from .conftest import REPO, pattern, smooth
from .test_ops import EXAMPLES

SIZE = (40, 30)


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.float64)


def grey16(values: np.ndarray) -> Image.Image:
    h, w = values.shape
    return Image.frombytes("I;16", (w, h), values.astype(np.uint16).tobytes())


def flat(value, size=(200, 150), mode="RGB") -> Image.Image:
    return Image.new(mode, size, value)


# --- order and streams ---------------------------------------------------------------------------


def test_canonical_order_is_geometry_colour_tone_filters_noise_compression():
    assert list(OPS) == [
        "rot90", "crop", "hflip", "vflip", "rotate", "shear", "zoom", "shift", "perspective", "policy", "letterbox",
        "elastic", "grid_distort", "lens",
        "brightness", "contrast", "saturation", "hue", "gamma", "lighting", "channel_shift", "grayscale",
        "autocontrast", "equalize", "clahe", "sharpen", "posterize", "solarize", "invert",
        "motion_blur", "median_blur", "downscale", "iso_noise", "coarse_dropout", "grid_mask",
        "blur", "erase", "noise", "salt_pepper",
        "jpeg_artifacts",
    ]
    geometric = [name for name, cls in OPS.items() if cls.geometric]
    assert geometric == list(OPS)[:11]  # the policy's geometry is in the warp too, the letterbox last


def test_flag_order_does_not_matter_and_new_ops_do_not_reshuffle_old_draws():
    ops = [EXAMPLES[n] for n in ("jpeg_artifacts", "blur", "rotate", "noise", "crop", "hue")]
    assert [o.name for o in Pipeline(tuple(ops)).ops] == ["crop", "rotate", "hue", "blur", "noise", "jpeg_artifacts"]
    small = Pipeline((EXAMPLES["rotate"], EXAMPLES["zoom"]))
    big = Pipeline(tuple(EXAMPLES[n] for n in OPS if n not in ("rot90", "letterbox")))  # rot90 changes the canvas others see; a letterbox does not go with distortions
    for copy in range(10):
        p1 = small.plan(lambda name: rng_for(3, 42, copy, name), SIZE)
        p2 = big.plan(lambda name: rng_for(3, 42, copy, name), SIZE)
        assert [s for s in p2 if s["op"] in ("rotate", "zoom")] == p1


@pytest.mark.parametrize("name,p", [("blur", 0.3), ("noise", 0.05), ("jpeg_artifacts", 0.7), ("crop", 0.15)])
def test_probability_is_exact_for_the_new_ops(name, p):
    """Within 4 binomial standard deviations; a 0.1-grid rounding (+0.05) would be far outside."""
    n = 8000
    pipe = Pipeline((type(EXAMPLES[name])(**{**EXAMPLES[name].options(), "p": p}),))
    hits = sum(pipe.plan(lambda op: rng_for(9, i, 0, op), SIZE)[0]["applied"] for i in range(n))
    assert abs(hits - n * p) < 4 * (n * p * (1 - p)) ** 0.5, hits / n


def test_grayscale_flag_is_its_probability():
    (op,) = build(grayscale=0.2)
    assert isinstance(op, Grayscale) and op.p == 0.2
    (op,) = build(grayscale=0.2, probabilities={"grayscale": 0.9})
    assert op.p == 0.9


# --- rot90 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 2, 3])
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "I;16"])
def test_rot90_is_numpy_rot90_exactly(k, mode):
    image = pattern(37, 22, mode)
    out = Pipeline((Rot90(),)).apply(image, [{"op": "rot90", "applied": True, "k": k}])
    assert np.array_equal(np.asarray(out), np.rot90(np.asarray(image), k))
    assert out.size == (image.size if k % 2 == 0 else image.size[::-1]) and out.mode == image.mode


def test_rot90_draws_each_quarter_turn_equally():
    rng = np.random.default_rng(0)
    ks = np.bincount([Rot90().sample(rng, SIZE)["k"] for _ in range(8000)], minlength=4)
    assert ks.tolist() and all(abs(c - 2000) < 4 * (8000 * 0.25 * 0.75) ** 0.5 for c in ks)


# --- crop ------------------------------------------------------------------------------------------


def test_crop_boxes_in_corners_mode_are_the_five_crop_positions():
    w, h = SIZE
    op = Crop(scale_range=(0.5, 0.5), mode="corners")
    expected = {(0, 0), (20, 0), (0, 15), (20, 15), (10, 7)}  # 20x15 boxes: 4 corners + centre (rounded down)
    seen = set()
    rng = np.random.default_rng(1)
    for _ in range(200):
        left, top, bw, bh = op.sample(rng, SIZE)["box"]
        assert (bw, bh) == (20, 15)
        seen.add((left, top))
    assert seen == expected


def test_crop_center_and_random_boxes():
    rng = np.random.default_rng(2)
    assert Crop(scale_range=(0.75, 0.75), mode="center").sample(rng, (40, 32))["box"] == [5, 4, 30, 24]
    op = Crop(scale_range=(0.3, 0.9))
    for _ in range(500):
        left, top, bw, bh = op.sample(rng, SIZE)["box"]
        f = bw / SIZE[0]
        assert 0.3 - 0.02 <= f <= 0.9 + 0.02 and abs(bh - f * SIZE[1]) <= 1  # one fraction for both sides
        assert 0 <= left <= SIZE[0] - bw and 0 <= top <= SIZE[1] - bh


def test_crop_pixels_are_the_box_enlarged():
    """A 20x15 box of a 40x30 image, nearest interpolation: each box pixel becomes a 2x2 block."""
    image = pattern(40, 30)
    op = Crop(scale_range=(0.5, 0.5))
    m, size = op.matrix({"box": [10, 6, 20, 15]}, image.size)
    out = np.asarray(W.warp(image, m, size, interpolation="nearest"))
    box = np.asarray(image)[6:21, 10:30]
    assert np.array_equal(out, box.repeat(2, axis=0).repeat(2, axis=1))
    # the canvas edges land exactly on the box edges (pixel (10, 6) spans 9.5..10.5 in centre coordinates)
    assert np.allclose(G.apply_points(m, [(-0.5, -0.5), (39.5, 29.5)]), [(9.5, 5.5), (29.5, 20.5)])


def test_crop_of_the_whole_image_is_the_identity():
    image = pattern(40, 30, "RGBA")
    out = Crop(scale_range=(1.0, 1.0)).apply(image, {"box": [0, 0, 40, 30]})
    assert np.array_equal(np.asarray(out), np.asarray(image))


def test_crop_after_rot90_draws_its_box_on_the_turned_canvas():
    pipe = Pipeline((Rot90(), Crop(scale_range=(0.5, 0.5), mode="center")))
    for copy in range(8):
        steps = pipe.plan(lambda name: rng_for(1, 2, copy, name), (40, 30))
        k = steps[0]["k"]
        assert steps[1]["box"] == ([10, 7, 20, 15] if k % 2 == 0 else [7, 10, 15, 20])
        assert pipe.geometry(steps, (40, 30))[1] == ((40, 30) if k % 2 == 0 else (30, 40))


# --- perspective -----------------------------------------------------------------------------------


def test_perspective_maps_canvas_corners_onto_the_moved_corners():
    op = Perspective(distortion=0.2)
    params = op.sample(np.random.default_rng(4), SIZE)
    d = np.asarray(params["corners"])
    assert np.all(np.abs(d) <= 0.2 * np.asarray(SIZE) + 1e-9)
    m, size = op.matrix(params, SIZE)
    corners = np.array([(-0.5, -0.5), (39.5, -0.5), (39.5, 29.5), (-0.5, 29.5)])
    assert size == SIZE and not G.is_affine(m)
    assert np.allclose(G.apply_points(m, corners), corners + d)


def test_perspective_warp_matches_an_independent_bilinear_sampler():
    image = smooth(48, 32)
    op = Perspective(distortion=0.15)
    m, size = op.matrix(op.sample(np.random.default_rng(7), image.size), image.size)
    ours = arr(W.warp(image, m, size, fill_mode="nearest"))
    ys, xs = np.mgrid[0:size[1], 0:size[0]]
    uv = G.apply_points(m, np.c_[xs.ravel(), ys.ravel()])
    ref = np.stack([ndimage.map_coordinates(arr(image)[..., c], [uv[:, 1], uv[:, 0]], order=1, mode="nearest")
                    for c in range(3)], -1).reshape(ours.shape)
    assert np.abs(ours - ref).max() <= 1.5 and np.abs(ours - ref).mean() < 0.6


def test_perspective_composes_with_the_affine_geometry_into_one_warp():
    image = smooth(48, 32)
    pipe = Pipeline((EXAMPLES["rotate"], Perspective(distortion=0.1)))
    steps = pipe.plan(lambda name: rng_for(5, 1, 0, name), image.size)
    m, size = pipe.geometry(steps, image.size)
    expected = G.rotation(steps[0]["angle"], image.size) @ Perspective().matrix(steps[1], image.size)[0]
    assert np.allclose(m, expected)
    assert np.array_equal(np.asarray(pipe.apply(image, steps)), np.asarray(W.warp(image, m, size)))


def test_perspective_stays_a_proper_quadrilateral_at_the_limit():
    op = Perspective(distortion=0.3)
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[-0.5:30:2.5, -0.5:40:2.5]
    for _ in range(300):
        m, _ = op.matrix(op.sample(rng, SIZE), SIZE)
        w = np.c_[xs.ravel(), ys.ravel(), np.ones(xs.size)] @ m[2]
        assert np.all(w > 0)  # no point of the canvas maps through infinity


# --- colour ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.0, 0.5, 1.0, 1.6])
def test_contrast_matches_pil_imageenhance(factor):
    image = pattern(40, 30)
    ref = arr(ImageEnhance.Contrast(image).enhance(factor))
    # PIL rounds the mean to an integer; ours does not: at most |1 - f| / 2 + 1 apart
    assert np.abs(arr(F.contrast(image, factor)) - ref).max() <= abs(1 - factor) / 2 + 1


@pytest.mark.parametrize("factor", [0.0, 0.4, 1.0, 1.7])
def test_saturation_matches_pil_imageenhance_color(factor):
    image = pattern(40, 30)
    ref = arr(ImageEnhance.Color(image).enhance(factor))
    assert np.abs(arr(F.saturation(image, factor)) - ref).max() <= 2
    if factor == 0.0:
        out = arr(F.saturation(image, 0.0))
        assert np.abs(out[..., 0] - out[..., 1]).max() <= 1 and np.abs(out[..., 1] - out[..., 2]).max() <= 1


@pytest.mark.parametrize("degrees", [0.0, 25.0, -90.0, 180.0])
def test_hue_matches_colorsys(degrees):
    image = pattern(20, 12)
    out = arr(F.hue(image, degrees))
    for (y, x) in [(0, 0), (3, 7), (11, 19), (6, 10), (9, 2)]:
        r, g, b = (np.asarray(image)[y, x] / 255.0).tolist()
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        ref = np.array(colorsys.hsv_to_rgb((h + degrees / 360.0) % 1.0, s, v)) * 255
        assert np.abs(out[y, x] - ref).max() <= 0.5 + 1e-9


def test_hue_and_saturation_are_documented_no_ops_on_grey():
    for mode in ("L", "LA", "I;16"):
        image = pattern(20, 12, "RGBA").convert(mode) if mode == "LA" else pattern(20, 12, mode)
        for out in (F.hue(image, 90), F.saturation(image, 0.2), F.grayscale(image)):
            assert out.mode == mode and np.array_equal(np.asarray(out), np.asarray(image))


@pytest.mark.parametrize("g", [0.5, 1.0, 2.2])
def test_gamma_known_answer_8_and_16_bit(g):
    ramp = np.tile(np.arange(256, dtype=np.uint8), (2, 1))
    out = arr(F.gamma(Image.fromarray(ramp), g))
    assert np.array_equal(out[0], np.rint(255 * (np.arange(256) / 255.0) ** g))
    v16 = np.array([[0, 1000, 30000, 65535]])
    out16 = arr(F.gamma(grey16(v16), g))
    assert np.array_equal(out16, np.rint(65535 * (v16 / 65535.0) ** g))


def test_lighting_is_a_linear_gradient_towards_its_angle():
    image = flat((100, 100, 100), (41, 21))
    right = arr(F.lighting(image, 0.0, 0.5))
    assert np.all(right[:, 0] == 50) and np.all(right[:, -1] == 150) and np.all(right[:, 20] == 100)
    assert np.all(np.diff(right[0, :, 0]) >= 0)  # brighter towards the right
    up = arr(F.lighting(image, 90.0, 0.5))
    assert np.all(up[0] == 150) and np.all(up[-1] == 50)  # 90 degrees = brighter at the top
    gain = F.lighting_field((41, 21), 33.0, 0.4)
    assert np.isclose(gain.min(), 0.6) and np.isclose(gain.max(), 1.4)  # t spans exactly -1..1


def test_lighting_is_not_a_uniform_brightness_change():
    out = arr(F.lighting(flat((120, 120, 120)), 200.0, 0.3))
    assert out.std() > 10


def test_grayscale_is_pillow_luma_in_every_band_and_keeps_alpha():
    image = pattern(30, 20, "RGBA")
    out = np.asarray(F.grayscale(image))
    luma = np.asarray(image.convert("RGB").convert("L"))
    assert out.shape == (20, 30, 4)
    assert all(np.array_equal(out[..., c], luma) for c in range(3))
    assert np.array_equal(out[..., 3], np.asarray(image)[..., 3])


@pytest.mark.parametrize("cls,key,lo,hi", [(Contrast, "factor", 0.6, 1.3), (Saturation, "factor", 0.2, 1.9),
                                           (Gamma, "gamma", 0.7, 1.5), (Hue, "degrees", -20, 20),
                                           (Lighting, "strength", 0.1, 0.4)])
def test_factors_land_in_their_range_and_cover_it(cls, key, lo, hi):
    field = {Contrast: "factor_range", Saturation: "factor_range", Gamma: "gamma_range", Hue: "degree_range",
             Lighting: "strength_range"}[cls]
    op = cls(**{field: (lo, hi)})
    rng = np.random.default_rng(0)
    values = np.array([op.sample(rng, SIZE)[key] for _ in range(4000)])
    assert values.min() >= lo and values.max() <= hi
    assert values.min() < lo + 0.02 * (hi - lo) and values.max() > hi - 0.02 * (hi - lo)
    assert abs(values.mean() - (lo + hi) / 2) < 0.02 * (hi - lo)


# --- blur ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.3, 0.8, 1.5, 3.2])
def test_blur_matches_scipy_gaussian_filter(sigma):
    """Same Gaussian (truncated at 4 sigma, edges replicated). 8-bit images use the integer kernel
    (16-bit taps, an intermediate in units of 2^-8): within 0.5 + 0.01 of the float result (the
    largest excess measured is 0.006, tests/test_kernels_pixel.py); only the rounding differs."""
    image = pattern(48, 32)
    ref = np.stack([ndimage.gaussian_filter(arr(image)[..., c], sigma, mode="nearest", truncate=4.0)
                    for c in range(3)], -1)
    assert np.abs(arr(F.blur(image, sigma)) - ref).max() <= 0.5 + 0.01


def test_blur_on_16_bit_and_alpha_untouched():
    values = np.asarray(pattern(30, 20, "L")).astype(np.uint16) * 257
    ref = ndimage.gaussian_filter(values.astype(float), 1.2, mode="nearest", truncate=4.0)
    assert np.abs(arr(F.blur(grey16(values), 1.2)) - ref).max() <= 0.5 + 1e-6
    rgba = pattern(30, 20, "RGBA")
    assert np.array_equal(np.asarray(F.blur(rgba, 2.0))[..., 3], np.asarray(rgba)[..., 3])
    assert np.array_equal(np.asarray(F.blur(rgba, 0.0)), np.asarray(rgba))


# --- occlusion and noise ---------------------------------------------------------------------------


def test_erase_fills_exactly_its_boxes():
    image = pattern(40, 30, "RGBA")
    boxes, colours = [[3, 4, 10, 5], [30, 20, 10, 10]], [[255.0, 0.0, 10.4], [7.0, 8.0, 9.0]]
    out, before = np.asarray(F.erase(image, boxes, colours)), np.asarray(image)
    assert np.all(out[4:9, 3:13, :3] == (255, 0, 10)) and np.all(out[20:30, 30:40, :3] == (7, 8, 9))
    mask = np.ones((30, 40), bool)
    mask[4:9, 3:13] = mask[20:30, 30:40] = False
    assert np.array_equal(out[mask], before[mask])
    assert np.array_equal(out[..., 3], before[..., 3])


def test_erase_boxes_respect_count_area_and_bounds():
    op = Erase(max_count=3)
    rng = np.random.default_rng(0)
    counts = set()
    for _ in range(500):
        params = op.sample(rng, (100, 80))
        counts.add(len(params["boxes"]))
        for x, y, w, h in params["boxes"]:
            assert 0 <= x and x + w <= 100 and 0 <= y and y + h <= 80
            assert 0.02 * 8000 * 0.8 <= w * h <= 0.2 * 8000 * 1.2  # area 2-20% (whole pixels, clipped)
    assert counts == {1, 2, 3}


@pytest.mark.parametrize("sigma", [3.0, 10.0, 25.0])
def test_noise_sigma_is_measured_as_requested(sigma):
    out = arr(F.gaussian_noise(flat((128, 128, 128), (300, 200)), sigma, noise_seed=11)) - 128
    assert abs(out.std() - sigma) < 0.02 * sigma and abs(out.mean()) < 0.2
    assert np.abs(np.corrcoef(out[..., 0].ravel(), out[..., 1].ravel())[0, 1]) < 0.02  # independent bands


def test_noise_on_16_bit_uses_0_255_units_and_is_deterministic():
    image = grey16(np.full((200, 200), 30000))
    out = arr(F.gaussian_noise(image, 8.0, noise_seed=5)) - 30000
    assert abs(out.std() - 8.0 * 257) < 0.03 * 8.0 * 257
    assert np.array_equal(np.asarray(F.gaussian_noise(image, 8.0, 5)), np.asarray(F.gaussian_noise(image, 8.0, 5)))
    assert not np.array_equal(np.asarray(F.gaussian_noise(image, 8.0, 5)), np.asarray(F.gaussian_noise(image, 8.0, 6)))


@pytest.mark.parametrize("amount,ratio", [(0.02, 0.5), (0.1, 0.3), (0.5, 0.9)])
def test_salt_and_pepper_fraction_is_as_requested(amount, ratio):
    n_px = 300 * 200
    out = np.asarray(F.salt_pepper(flat((128, 128, 128), (300, 200)), amount, ratio, noise_seed=3))
    white = np.all(out == 255, axis=-1).sum()
    black = np.all(out == 0, axis=-1).sum()
    untouched = np.all(out == 128, axis=-1).sum()
    assert white + black + untouched == n_px  # whole pixels, every band together
    sd = (n_px * amount * (1 - amount)) ** 0.5
    assert abs(white + black - n_px * amount) < 4 * sd
    hit = white + black
    assert abs(white - hit * ratio) < 4 * (hit * ratio * (1 - ratio)) ** 0.5


def test_salt_and_pepper_on_16_bit_uses_its_white():
    out = np.asarray(F.salt_pepper(grey16(np.full((100, 100), 1000)), 0.2, 1.0, noise_seed=1))
    assert set(np.unique(out).tolist()) == {1000, 65535}


# --- compression -----------------------------------------------------------------------------------


def _pillow_jpeg(image: Image.Image, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf))


@pytest.mark.parametrize("quality", [10, 50, 90])
def test_jpeg_artifacts_is_a_pillow_round_trip(quality):
    image = smooth(48, 32)
    out = F.jpeg_round_trip(image, quality)
    assert np.array_equal(np.asarray(out), _pillow_jpeg(image, quality))
    assert np.array_equal(np.asarray(out), np.asarray(F.jpeg_round_trip(image, quality)))  # deterministic


def test_jpeg_artifacts_get_stronger_as_quality_drops_and_keep_alpha():
    image = pattern(48, 32, "RGBA")
    errors = [np.abs(arr(F.jpeg_round_trip(image, q))[..., :3] - arr(image)[..., :3]).mean() for q in (95, 50, 10)]
    assert errors[0] < errors[1] < errors[2]
    assert np.array_equal(np.asarray(F.jpeg_round_trip(image, 10))[..., 3], np.asarray(image)[..., 3])


def test_jpeg_artifacts_on_16_bit_round_trip_at_8_bit_precision():
    values = np.asarray(smooth(48, 32).convert("L")).astype(np.uint16) * 257
    out = np.asarray(F.jpeg_round_trip(grey16(values), 60))
    assert out.dtype == np.uint16 and np.all(out % 257 == 0)
    assert np.array_equal(out // 257, _pillow_jpeg(Image.fromarray((values // 257).astype(np.uint8)), 60))


def test_jpeg_quality_is_a_whole_number_in_range():
    rng = np.random.default_rng(0)
    qs = {JpegArtifacts(quality_range=(30, 33)).sample(rng, SIZE)["quality"] for _ in range(300)}
    assert qs == {30, 31, 32, 33}
    with pytest.raises(ValueError, match="whole numbers"):
        JpegArtifacts(quality_range=(30.5, 40))


# --- every op on every working mode ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("mode", ["I", "F"])
def test_every_op_keeps_32_bit_modes(name, mode):
    image = pattern(40, 30, "L").convert(mode)
    op = EXAMPLES[name]
    params = op.sample(np.random.default_rng(1), image.size)
    out = op.apply(image, params)
    assert out.mode == mode and out.size == (op.matrix(params, image.size)[1] if op.geometric else image.size)


@pytest.mark.parametrize("name", [n for n in OPS if not OPS[n].geometric and not OPS[n].displaces])
@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_pixel_ops_leave_alpha_untouched(name, mode):
    image = pattern(40, 30, "RGBA")
    image = image.convert(mode) if mode == "LA" else image
    op = EXAMPLES[name]
    out = op.apply(image, op.sample(np.random.default_rng(2), image.size))
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(image.getchannel("A")))


def test_noise_ops_record_a_seed_not_an_array():
    for op in (Noise(sigma_range=(1, 2)), SaltPepper(amount_range=(0.1, 0.2))):
        params = op.sample(np.random.default_rng(0), SIZE)
        assert isinstance(params["noise_seed"], int) and 0 <= params["noise_seed"] < 2**32
        assert all(not isinstance(v, list) for v in params.values())


# --- CLI parsing of the new flags ------------------------------------------------------------------


def test_single_values_mean_from_unchanged_to_the_value():
    ops = {o.name: o for o in build(crop=(0.8, 1.0), blur=(0.0, 2.0))}
    assert ops["crop"].scale_range == (0.8, 1.0)
    from augcli.cli_types import RangeType

    assert RangeType(end=1.0).convert("0.8", None, None) == (0.8, 1.0)
    assert RangeType(start=0.0).convert("2", None, None) == (0.0, 2.0)
    assert RangeType(end=100.0).convert("30", None, None) == (30.0, 100.0)
    assert RangeType(start=0.0).convert("1:3", None, None) == (1.0, 3.0)


@pytest.mark.parametrize("args,message", [
    (["--crop-mode", "corners"], "--crop-mode needs --crop"),
    (["--salt-ratio", "0.2"], "--salt-ratio needs --salt-pepper"),
    (["--crop", "1.5"], "a single value means 1.5:1"),
    (["--crop", "0:0.5"], "must be > 0"),
    (["--perspective", "0.5"], "0.5 is not in the range"),
    (["--jpeg-artifacts", "0:50"], "must be >= 1"),
    (["--hue", "200"], "must be >= -180"),
    (["--erase", "0"], "0 is not in the range"),
    (["--blur", "1", "--p", "noise=0.5"], "not enabled by its flag"),
])
def test_bad_new_flags_exit_2_with_a_message(dataset, tmp_path, args, message):
    res = CliRunner().invoke(cli, ["expand", str(dataset), str(tmp_path / "out"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output


# --- augcli ops and the README ---------------------------------------------------------------------


def test_ops_command_lists_every_op_with_flag_default_and_scheme():
    out = CliRunner().invoke(cli, ["ops"]).output
    for name, cls in OPS.items():
        assert re.search(rf"^{name}\s+{re.escape(cls.flag)}\s", out, re.M), name
        assert f"default: {cls.default}; scheme: {cls.summary}" in out
    names = [line.split()[0] for line in out.split("\n\n")[0].splitlines() if line and not line.startswith(" ")]
    assert names == list(OPS)  # printed in canonical order
    assert "mosaic" in out.split("\n\n")[1] and "--copy-paste P" in out  # then the compositions


def test_readme_op_table_is_the_ops_command_output():
    readme = (REPO / "README.md").read_text()
    table = CliRunner().invoke(cli, ["ops", "--markdown"]).output.strip().splitlines()
    assert len(table) == len(OPS) + 2
    start = readme.index(table[0])
    assert readme[start:].splitlines()[:len(table)] == table, "README op table differs from `augcli ops --markdown`"
