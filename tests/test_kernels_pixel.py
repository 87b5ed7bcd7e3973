"""The 8-bit pixel kernels (augcli.kernels._pixel): identical bytes on every path, fixed golden
digests, exact or bounded agreement with independent float references (colorsys, scipy), the noise
generator's statistics, and clear ValueErrors (never a crash) for buffers that do not fit."""

from __future__ import annotations

import colorsys
import hashlib
import math
from array import array

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from augcli import functional as F
from augcli import kernels as K
from augcli.kernels import _pixel, normal_table

LAYOUTS = [(1, 1), (2, 1), (3, 3), (4, 3)]  # L, LA, RGB, RGBA/RGBX
MODES = {(1, 1): "L", (2, 1): "LA", (3, 3): "RGB", (4, 3): "RGBA"}


def generated(w: int, h: int, bpp: int) -> bytes:
    """A fixed image made by integer arithmetic only (no random generator whose stream could change):
    gradients, a checkerboard and a multiplicative hash, so neighbouring values all differ."""
    y, x, c = np.mgrid[0:h, 0:w, 0:bpp].astype(np.int64)
    v = (x * 255 // max(w - 1, 1)) * (c == 0) + (y * 255 // max(h - 1, 1)) * (c == 1) + ((x // 5 + y // 5) % 2) * 150
    v = v + ((x * 2654435761 + y * 40503 + c * 97) % 4099) % 41 - 20
    return np.clip(v, 0, 255).astype(np.uint8).tobytes()


# a fixed table per band (band c: value v -> (v * (2c + 3) + 17 c) mod 256, a permutation)
LUT = bytes((v * (2 * c + 3) + 17 * c) % 256 for c in range(3) for v in range(256))


def random_image(rng: np.random.Generator, w: int, h: int, bpp: int) -> bytes:
    return rng.integers(0, 256, w * h * bpp, dtype=np.uint8).tobytes()


def run_all(src: bytes, size: tuple[int, int], bpp: int, nc: int) -> dict[str, bytes]:
    """Every pixel kernel on one image, a few settings each."""
    out = {
        "lighting": K.lighting(src, size, bpp, nc, 0.6, 0.013, -0.021),
        "noise": K.gaussian_noise(src, size, bpp, nc, 17.3, 12345),
        "salt_pepper": K.salt_pepper(src, size, bpp, nc, 0.3, 0.4, 99),
        "blur 0.6": K.blur(src, size, bpp, nc, 0.6),
        "blur 2.5": K.blur(src, size, bpp, nc, 2.5),
        "sums": repr(K.channel_sums(src, size, bpp, nc)).encode(),
        "lut": K.lut(src, size, bpp, nc, LUT[:256 * nc]),
    }
    if nc == 3:
        out.update({
            "saturation 0": K.saturation(src, size, bpp, 0.0),
            "saturation 1.7": K.saturation(src, size, bpp, 1.7),
            "hue 25": K.hue(src, size, bpp, 25.0),
            "hue -137.5": K.hue(src, size, bpp, -137.5),
        })
    return {k: bytes(v) for k, v in out.items()}


@pytest.fixture
def path_restored():
    before = K.active()
    yield
    K.use(before)


# --- paths ---------------------------------------------------------------------------------------


def test_use_switches_the_pixel_module_too(path_restored):
    for path in K.available():
        K.use(path)
        assert _pixel.path() == path == K.active()
    assert "scalar" in _pixel.available() and _pixel.available() == K.available()
    with pytest.raises(ValueError, match="unknown kernel path"):
        _pixel.set_path("sse9")


def test_the_environment_variable_forces_the_pixel_path_too():
    import os
    import subprocess
    import sys

    code = "from augcli.kernels import _pixel, _warp; print(_pixel.path(), _warp.path())"
    for path in K.available():
        env = {**os.environ, "AUGCLI_KERNELS": path}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.split() == [path, path]


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (7, 1), (2, 3), (37, 23), (64, 16), (129, 5)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_path_gives_the_same_bytes_as_scalar(size, layout, path_restored):
    bpp, nc = layout
    rng = np.random.default_rng(size[0] * 1000 + size[1] * 10 + bpp)
    src = random_image(rng, *size, bpp)
    K.use("scalar")
    expected = run_all(src, size, bpp, nc)
    for path in K.available():
        K.use(path)
        assert run_all(src, size, bpp, nc) == expected, path


def test_paths_agree_on_a_photo_sized_image_and_wide_blurs(path_restored):
    rng = np.random.default_rng(5)
    src = random_image(rng, 301, 77, 3)
    K.use("scalar")
    expected = [bytes(K.blur(src, (301, 77), 3, 3, s)) for s in (0.3, 1.1, 7.0, 30.0)]
    for path in K.available():
        K.use(path)
        assert [bytes(K.blur(src, (301, 77), 3, 3, s)) for s in (0.3, 1.1, 7.0, 30.0)] == expected, path


# --- golden digests: any change of the arithmetic must be deliberate (and bump KERNEL_VERSION) ----

GOLDEN = {
    # SHA-256 of each kernel's output on the fixed generated 61x43 RGBA image (see generated())
    "lighting": "2eea774abc27a7fcd86145cf429da9d4212fa7c29ae3736d7439140292bbe913",
    "noise": "fdf898db1a490301fcaf109630d94fbedca833c8782425ae303d8332601ae143",
    "salt_pepper": "1b1e7c0cac5af519ffe84649c44270342d40af7511feaa52aaf7e0508862554e",
    "blur 0.6": "f5ba26236742d12dd2dff5a3c2b6a704c2fc90bc9561a1ecc6f4eb771cab2a92",
    "blur 2.5": "b8654924a5024e5ff36a46a8d2c7278743bce4348e5bcd112c8a518671ddb729",
    "sums": "cb6dc15a54ae21c43b0a0ffdf2a560edb9a534e937991e22c50dfcc26493808e",
    "saturation 0": "6d176388fccf52f8a74a62c6717c77fd26eb2b9a796888ca1808977f27313860",
    "saturation 1.7": "c3e641b4836b03dca38a3c9082a3b4537a716771f2083a3cf91f792cc9b294b7",
    "hue 25": "451738ab251fe2f5334580bf86fad17d83db8429aff428797f76c0556be409a5",
    "hue -137.5": "e84066fe00c500b4f82a1579851dcd4d78a18fe41391a54e50ed369a99c5cd81",
    "lut": "08e7dabddb33abc3998043906240758ecef9081660e3998eeb42af98c614321e",
}


def digests() -> dict[str, str]:
    src = generated(61, 43, 4)
    return {name: hashlib.sha256(data).hexdigest() for name, data in run_all(src, (61, 43), 4, 3).items()}


def test_golden_digests_of_every_kernel_op():
    assert digests() == GOLDEN


def test_golden_digests_hold_on_every_path(path_restored):
    for path in K.available():
        K.use(path)
        assert digests() == GOLDEN, path


# --- agreement with independent float references ---------------------------------------------------


@pytest.mark.parametrize("degrees", [0.0, 25.0, -90.0, 180.0, 359.9, -0.001, 1e-9, 133.7])
def test_hue_is_colorsys_correctly_rounded_on_every_pixel(degrees):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    a[0, :6] = [[0, 0, 0], [255, 255, 255], [7, 7, 7], [255, 0, 0], [0, 255, 0], [0, 0, 255]]
    out = np.asarray(F.hue(Image.fromarray(a), degrees)).astype(float)
    ref = np.empty(a.shape)
    for y in range(a.shape[0]):
        for x in range(a.shape[1]):
            h, s, v = colorsys.rgb_to_hsv(*(a[y, x] / 255.0))
            ref[y, x] = np.array(colorsys.hsv_to_rgb((h + degrees / 360.0) % 1.0, s, v)) * 255
    assert np.abs(out - ref).max() <= 0.5 + 1e-6
    if degrees == 0.0:
        assert np.array_equal(out, a)


def test_saturation_is_the_documented_blend_within_its_fixed_point():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (40, 50, 3)).astype(np.float64)
    luma = (a @ np.array([19595, 38470, 7471], float) / 65536)[..., None]
    for f in (0.0, 0.37, 1.0, 1.9, 4.0):
        ref = np.clip(luma + f * (a - luma), 0, 255)
        out = np.asarray(F.saturation(Image.fromarray(a.astype(np.uint8)), f)).astype(float)
        assert np.abs(out - ref).max() <= 0.5 + 0.003  # f in 16.16: at most 255 * 2^-17 more
        if f == 1.0:
            assert np.array_equal(out, a)


def saturation_reference(rgb: np.ndarray, f: int) -> np.ndarray:
    """The documented integers, in int64: clamp((L 2^16 + 2^31 + f (c 2^16 - L)) >> 32)."""
    out = np.empty(rgb.shape, np.uint8)
    for lo in range(0, rgb.shape[0], 512):  # in slices: int64 temporaries of 2^24 colours are large
        c = rgb[lo:lo + 512].astype(np.int64)
        luma = (c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471)[..., None]
        out[lo:lo + 512] = np.clip((luma * 65536 + (1 << 31) + f * ((c << 16) - luma)) >> 32, 0, 255)
    return out


def test_saturation_in_32_bit_arithmetic_is_the_64_bit_formula_for_every_colour():
    # Factors up to 100 run a 32-bit form of the formula (pixel.c, saturation_pixels32); it must
    # give the 64-bit integers exactly: every one of the 2^24 colours, at the edges of the split
    # f = fh 2^16 + fl, and a few factors outside that range (the 64-bit loop).
    every = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([every >> 16, (every >> 8) & 255, every & 255], axis=-1).astype(np.uint8).reshape(4096, 4096, 3)
    rng = np.random.default_rng(5)
    some = rgb.reshape(-1, 3)[rng.integers(0, 1 << 24, 1 << 16)].reshape(256, 256, 3)
    cases = [(rgb, f) for f in (65535, 100 << 16)]
    cases += [(some, f) for f in (1, 65536, 65537, round(1.7 * 65536), round(0.37 * 65536), (100 << 16) - 1,
                                  (100 << 16) + 1, -1, -(1 << 20), 1 << 36, -(1 << 36))]
    for img, f in cases:
        h, w = img.shape[:2]
        expected = saturation_reference(img, f).tobytes()
        for path in K.available():
            K.use(path)
            assert bytes(K.saturation(img.tobytes(), (w, h), 3, f / 65536)) == expected, (path, f)
        if img is some:  # the 4-byte layout (pad byte kept) on every path
            rgbx = np.concatenate([img, np.full((h, w, 1), 77, np.uint8)], axis=-1)
            for path in K.available():
                K.use(path)
                got4 = np.frombuffer(bytes(K.saturation(rgbx.tobytes(), (w, h), 4, f / 65536)), np.uint8)
                assert got4.reshape(h, w, 4)[..., :3].tobytes() == expected and (got4[3::4] == 77).all(), (path, f)


def test_lighting_kernel_is_the_float_field_rounded():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)
    for angle, strength in [(0.0, 0.5), (30.0, 0.4), (200.0, 1.0), (-75.0, 0.05)]:
        gain = F.lighting_field((47, 33), angle, strength)[..., None]
        ref = np.clip(a * gain, 0, 255)
        out = np.asarray(F.lighting(Image.fromarray(a), angle, strength)).astype(float)
        assert np.abs(out - ref).max() <= 0.5 + 1e-6


def test_blur_taps_are_16_bit_and_sum_to_one_exactly():
    for sigma in (0.05, 0.3, 0.8, 1.0, 2.5, 7.3, 50.0):
        taps = K.gaussian_taps(sigma)
        exact = F.gaussian_kernel(sigma)
        r = len(exact) // 2
        assert len(taps) == r + 1 and taps[0] + 2 * sum(taps[1:]) == 65536
        assert np.abs(np.asarray(taps) - exact[r:] * 65536).max() <= 1.0  # floor or ceiling of the exact tap


@pytest.mark.parametrize("sigma", [0.3, 0.8, 1.5, 2.0, 3.2, 8.0, 20.0])
def test_blur_error_bound_against_scipy_on_hard_images(sigma):
    """The integer blur stays within 0.5 + 0.01 levels of scipy's float result (measured maximum
    0.006 beyond the rounding) on noise, black-and-white noise and a pattern, in every band."""
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (36, 45, 3), dtype=np.uint8),
              (rng.random((36, 45, 3)) < 0.5).astype(np.uint8) * 255,
              np.frombuffer(generated(45, 36, 3), np.uint8).reshape(36, 45, 3)]
    for a in images:
        ref = np.stack([ndimage.gaussian_filter(a[..., c].astype(float), sigma, mode="nearest", truncate=4.0)
                        for c in range(3)], -1)
        err = np.abs(np.asarray(F.blur(Image.fromarray(a), sigma)).astype(float) - ref)
        assert err.max() <= 0.5 + 0.01 and err.mean() < 0.27


def test_contrast_mean_comes_from_exact_band_sums():
    a = np.frombuffer(generated(50, 40, 3), np.uint8).reshape(40, 50, 3)
    sums = K.channel_sums(a.tobytes(), (50, 40), 3, 3)
    assert list(sums) == a.reshape(-1, 3).sum(axis=0).tolist()
    rgba = np.frombuffer(generated(50, 40, 4), np.uint8)
    assert list(K.channel_sums(rgba.tobytes(), (50, 40), 4, 3)) == rgba.reshape(-1, 4)[:, :3].sum(axis=0).tolist()



def test_band_sums_for_every_layout_block_edge_and_a_saturated_large_image():
    # the kernel adds in 32-bit blocks (256 pixels of 4 bytes, 65536 of 1-3): sizes around the
    # block edges, and an all-255 image large enough to overflow any block that was too long
    rng = np.random.default_rng(8)
    for bpp, nc in [(1, 1), (2, 1), (3, 3), (4, 3), (4, 4)]:
        for w, h in [(1, 1), (255, 1), (256, 1), (257, 1), (16, 16), (300, 219), (65537, 1)]:
            a = rng.integers(0, 256, (h * w, bpp), dtype=np.uint8)
            assert list(K.channel_sums(a.tobytes(), (w, h), bpp, nc)) == a[:, :nc].sum(axis=0).tolist(), (bpp, w, h)
        full = np.full((1100, 1000, bpp), 255, np.uint8)
        assert list(K.channel_sums(full.tobytes(), (1000, 1100), bpp, nc)) == [255 * 1100 * 1000] * nc, bpp

# --- the noise generator ---------------------------------------------------------------------------


def test_normal_table_header_is_the_generated_table():
    table = normal_table.table()
    assert len(table) == 4096 and table == sorted(table) and table == [-v for v in reversed(table)]
    assert sum(table) == 0
    var = sum(v * v for v in table) / len(table) / 65536 ** 2
    assert abs(var - 1.0) < 1e-6
    assert 3.6 < table[-1] / 65536 < 3.7  # the largest value, in sigmas (the quantile of 1 - 1/8192)
    header = (K.__file__.rsplit("/", 1)[0] + "/normal_table.h")
    with open(header) as fh:
        assert fh.read() == normal_table.header()


def test_noise_has_the_requested_mean_sigma_and_a_normal_shape():
    size = (400, 300)
    src = bytes([128]) * (size[0] * size[1] * 3)
    z = (np.frombuffer(K.gaussian_noise(src, size, 3, 3, 20.0, 7), np.uint8).astype(float) - 128) / 20.0
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    for k in (1, 2):  # within k sigma, after rounding to whole levels (1/20 sigma)
        assert abs(np.mean(np.abs(z) <= k) - math.erf((k + 0.025) / 2 ** 0.5)) < 0.005
    assert abs(np.mean(z ** 4) - 3.0) < 0.1  # kurtosis of a normal
    bands = z.reshape(-1, 3)
    assert abs(np.corrcoef(bands[:, 0], bands[:, 1])[0, 1]) < 0.01
    assert abs(np.corrcoef(bands[:, 1], bands[:, 2])[0, 1]) < 0.01
    assert abs(np.corrcoef(bands[:-1, 0], bands[1:, 0])[0, 1]) < 0.01  # neighbouring pixels
    rows = z.reshape(size[1], size[0], 3)[..., 0]
    assert abs(np.corrcoef(rows[:-1].ravel(), rows[1:].ravel())[0, 1]) < 0.01  # neighbouring rows


def test_noise_is_keyed_by_its_seed_only():
    src = generated(40, 30, 3)
    a = K.gaussian_noise(src, (40, 30), 3, 3, 9.0, 5)
    assert a == K.gaussian_noise(src, (40, 30), 3, 3, 9.0, 5)
    assert a != K.gaussian_noise(src, (40, 30), 3, 3, 9.0, 6)
    assert K.gaussian_noise(src, (40, 30), 3, 3, 0.0, 5) == bytearray(src)
    # the same seed gives the same draws whatever image or sigma it is applied to
    flat = bytes([100]) * (40 * 30 * 3)
    d1 = np.frombuffer(K.gaussian_noise(flat, (40, 30), 3, 3, 4.0, 5), np.uint8).astype(int) - 100
    d2 = np.frombuffer(K.gaussian_noise(flat, (40, 30), 3, 3, 8.0, 5), np.uint8).astype(int) - 100
    assert np.abs(2 * d1 - d2).max() <= 1


def test_salt_and_pepper_draws_are_fair_and_keyed():
    size = (300, 200)
    src = bytes([128, 7]) * (size[0] * size[1])  # LA: alpha 7 must stay
    out = np.frombuffer(K.salt_pepper(src, size, 2, 1, 0.2, 0.25, 3), np.uint8).reshape(-1, 2)
    assert np.all(out[:, 1] == 7)
    hit = out[:, 0] != 128
    n = hit.size
    assert abs(hit.sum() - 0.2 * n) < 4 * (n * 0.2 * 0.8) ** 0.5
    salt = (out[:, 0] == 255).sum()
    assert abs(salt - 0.25 * hit.sum()) < 4 * (hit.sum() * 0.25 * 0.75) ** 0.5
    assert set(np.unique(out[:, 0]).tolist()) == {0, 128, 255}
    assert K.salt_pepper(src, size, 2, 1, 0.0, 0.5, 3) == bytearray(src)
    assert set(np.frombuffer(K.salt_pepper(src, size, 2, 1, 1.0, 1.0, 3), np.uint8)[::2].tolist()) == {255}
    assert K.salt_pepper(src, size, 2, 1, 0.2, 0.25, 3) != K.salt_pepper(src, size, 2, 1, 0.2, 0.25, 4)


# --- misuse: clear ValueErrors, never a crash --------------------------------------------------------


def c_calls(src, dst, w, h, bpp, nc):
    """Every C entry point called directly (past the Python checks) with these buffers."""
    taps = array("I", K.gaussian_taps(1.0)).tobytes()
    return [
        lambda: _pixel.saturation(src, dst, w, h, bpp, nc, 65536),
        lambda: _pixel.hue(src, dst, w, h, bpp, nc, 1 << 40),
        lambda: _pixel.lighting(src, dst, w, h, bpp, nc, 1 << 32, 0, 0),
        lambda: _pixel.noise(src, dst, w, h, bpp, nc, 65536, 1),
        lambda: _pixel.salt_pepper(src, dst, w, h, bpp, nc, 1 << 31, 1 << 31, 1),
        lambda: _pixel.blur(src, dst, w, h, bpp, nc, taps),
    ]


@pytest.mark.parametrize("case", [
    ("short source", 10 * 10 * 3 - 1, 10 * 10 * 3, 10, 10, 3, 3),
    ("long source", 10 * 10 * 3 + 1, 10 * 10 * 3, 10, 10, 3, 3),
    ("short output", 300, 299, 10, 10, 3, 3),
    ("long output", 300, 301, 10, 10, 3, 3),
    ("zero width", 0, 0, 0, 10, 3, 3),
    ("negative height", 300, 300, 10, -10, 3, 3),
    ("huge size, small buffer", 300, 300, 1 << 30, 1 << 30, 3, 3),
    ("wider than 2^30", 300, 300, (1 << 31) - 1, 1, 3, 3),
    ("five bytes per pixel", 500, 500, 10, 10, 5, 3),
    ("more bands than bytes", 300, 300, 10, 10, 3, 4),
    ("no bands", 300, 300, 10, 10, 3, 0),
])
def test_buffers_that_do_not_fit_raise_value_error_in_c(case):
    _, ns, nd, w, h, bpp, nc = case
    for call in c_calls(bytes(ns), bytearray(nd), w, h, bpp, nc):
        with pytest.raises(ValueError):
            call()
    if not (w == 10 and h == 10 and 1 <= nc <= bpp <= 4 and ns == 300):  # a case about the source
        with pytest.raises(ValueError):
            _pixel.channel_sums(bytes(ns), w, h, bpp, nc)


def test_bad_parameters_raise_value_error_in_c():
    src, dst = bytes(300), bytearray(300)
    good = array("I", K.gaussian_taps(1.0))
    bad_taps = [b"", b"\x00\x00\x01", array("I", [65535]).tobytes(), array("I", [*good[:-1], good[-1] + 1]).tobytes()]
    for taps in bad_taps:
        with pytest.raises(ValueError, match="taps"):
            _pixel.blur(src, dst, 10, 10, 3, 3, taps)
    with pytest.raises(ValueError, match="turn"):
        _pixel.hue(src, dst, 10, 10, 3, 3, 6 << 40)
    with pytest.raises(ValueError, match="turn"):
        _pixel.hue(src, dst, 10, 10, 3, 3, -1)
    with pytest.raises(ValueError):
        _pixel.hue(src, dst, 10, 10, 3, 1, 0)  # hue needs 3 colour bands
    with pytest.raises(ValueError, match="thresholds"):
        _pixel.salt_pepper(src, dst, 10, 10, 3, 3, (1 << 32) + 1, 0, 1)
    with pytest.raises(ValueError, match="sigma"):
        _pixel.noise(src, dst, 10, 10, 3, 3, -1, 1)
    with pytest.raises(ValueError, match="gain"):
        _pixel.lighting(src, dst, 10, 10, 3, 3, 1 << 53, 0, 0)
    with pytest.raises(ValueError, match="gain"):
        _pixel.lighting(src, dst, 10, 10, 3, 3, 0, 1 << 51, 0)
    with pytest.raises(ValueError, match="must not be the source"):
        _pixel.noise(dst, dst, 10, 10, 3, 3, 65536, 1)
    with pytest.raises(TypeError):  # a read-only output
        _pixel.noise(src, bytes(300), 10, 10, 3, 3, 65536, 1)


def test_python_face_checks_before_the_c_code():
    src = bytes(299)
    for call in [lambda: K.saturation(src, (10, 10), 3, 1.0), lambda: K.hue(src, (10, 10), 3, 10.0),
                 lambda: K.lighting(src, (10, 10), 3, 3, 1.0, 0.0, 0.0), lambda: K.blur(src, (10, 10), 3, 3, 1.0),
                 lambda: K.gaussian_noise(src, (10, 10), 3, 3, 1.0, 1),
                 lambda: K.salt_pepper(src, (10, 10), 3, 3, 0.1, 0.5, 1), lambda: K.channel_sums(src, (10, 10), 3, 3)]:
        with pytest.raises(ValueError, match="299 bytes"):
            call()
    ok = bytes(300)
    for call, match in [(lambda: K.hue(ok, (10, 10), 3, math.nan), "finite"),
                        (lambda: K.blur(ok, (10, 10), 3, 3, 0.0), "positive"),
                        (lambda: K.blur(ok, (10, 10), 3, 3, math.inf), "positive"),
                        (lambda: K.salt_pepper(ok, (10, 10), 3, 3, 1.5, 0.5, 1), "probability"),
                        (lambda: K.gaussian_noise(ok, (10, 10), 3, 3, -2.0, 1), "sigma"),
                        (lambda: K.lighting(ok, (10, 10), 3, 3, math.inf, 0.0, 0.0), "finite"),
                        (lambda: K.saturation(ok, (10, 10), 3, 1e30), "factor")]:
        with pytest.raises(ValueError, match=match):
            call()


# --- the functional face keeps modes and alpha ------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_functional_ops_use_the_kernels_and_keep_alpha(layout):
    bpp, nc = layout
    mode = MODES[layout]
    raw = generated(33, 21, bpp)
    image = Image.frombytes(mode, (33, 21), raw)
    cases = [(F.blur(image, 1.3), K.blur(raw, (33, 21), bpp, nc, 1.3)),
             (F.gaussian_noise(image, 6.0, 42), K.gaussian_noise(raw, (33, 21), bpp, nc, 6.0, 42)),
             (F.salt_pepper(image, 0.1, 0.5, 42), K.salt_pepper(raw, (33, 21), bpp, nc, 0.1, 0.5, 42))]
    if nc == 3:
        cases += [(F.hue(image, 40.0), K.hue(raw, (33, 21), bpp, 40.0)),
                  (F.saturation(image, 0.3), K.saturation(raw, (33, 21), bpp, 0.3))]
    for out, expected in cases:
        assert out.mode == mode and out.tobytes() == bytes(expected)
        if bpp > nc:
            assert np.array_equal(np.asarray(out)[..., -1], np.asarray(image)[..., -1])


# --- guard pages: no read or write outside the buffers ----------------------------------------------


class Guarded:
    """Buffers placed flush against no-access pages (mmap + mprotect PROT_NONE on both sides), so
    any read or write one byte outside them faults (covers vectorised loads too)."""

    def __init__(self) -> None:
        import ctypes
        import ctypes.util
        import mmap

        self.page = mmap.PAGESIZE
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.mmap, self.ctypes = mmap, ctypes
        self.keep: list = []

    def buffer(self, n: int, at_end: bool) -> memoryview:
        """n writable bytes ending at a guard page (at_end) or starting right after one."""
        pages = (n + self.page - 1) // self.page + 2
        mm = self.mmap.mmap(-1, pages * self.page)
        base = self.ctypes.addressof(self.ctypes.c_char.from_buffer(mm))
        for guard in (base, base + (pages - 1) * self.page):
            assert self.libc.mprotect(guard, self.page, 0) == 0
        self.keep.append(mm)
        start = (pages - 1) * self.page - n if at_end else self.page
        return memoryview(mm)[start:start + n]


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="mprotect through ctypes is set up for Linux")
def test_kernels_stay_inside_buffers_placed_against_guard_pages(path_restored):
    g = Guarded()
    rng = np.random.default_rng(8)
    for path in K.available():
        K.use(path)
        for w, h in [(1, 1), (1, 7), (7, 1), (3, 5), (17, 3), (61, 43)]:
            for bpp, nc in LAYOUTS:
                n = w * h * bpp
                for at_end in (True, False):
                    src = g.buffer(n, at_end)
                    src[:] = random_image(rng, w, h, bpp)
                    expected = run_all(bytes(src), (w, h), bpp, nc)
                    dst = g.buffer(n, at_end)
                    for name, kernel, args in [("blur 2.5", _pixel.blur, (array("I", K.gaussian_taps(2.5)).tobytes(),)),
                                               ("noise", _pixel.noise, (round(17.3 * 65536), 12345)),
                                               ("lighting", _pixel.lighting, (round(0.6 * 2**32), round(0.013 * 2**32),
                                                                              round(-0.021 * 2**32)))]:
                        kernel(src, dst, w, h, bpp, nc, *args)
                        assert bytes(dst) == expected[name]
                    if nc == 3:
                        _pixel.hue(src, dst, w, h, bpp, nc, K.hue_turn(25.0))
                        assert bytes(dst) == expected["hue 25"]
                        _pixel.saturation(src, dst, w, h, bpp, nc, round(1.7 * 65536))
                        assert bytes(dst) == expected["saturation 1.7"]
                    _pixel.salt_pepper(src, dst, w, h, bpp, nc, round(0.3 * 2**32), round(0.4 * 2**32), 99)
                    assert bytes(dst) == expected["salt_pepper"]
                    _pixel.lut(src, dst, w, h, bpp, nc, LUT[:256 * nc])
                    assert bytes(dst) == expected["lut"]
                    _pixel.lut(src, dst, w, h, bpp, nc, LUT[:256] * nc)  # one table for every band
                    a = np.frombuffer(bytes(src), np.uint8).reshape(-1, bpp).copy()
                    a[:, :nc] = np.frombuffer(LUT[:256], np.uint8)[a[:, :nc]]
                    assert bytes(dst) == a.tobytes()
                    assert repr(tuple(_pixel.channel_sums(src, w, h, bpp, nc))).encode() == expected["sums"]


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_erase_on_8_bit_is_array_slicing_with_rounded_colours(mode):
    """Pillow's paste fills 8-bit boxes; the bytes are those of plain numpy slicing with the colour
    rounded half to even and clipped (boxes may run past the edge; alpha stays)."""
    rng = np.random.default_rng(6)
    image = Image.frombytes("RGBA", (41, 29), generated(41, 29, 4)).convert(mode)
    nc = 1 if mode in ("L", "LA") else 3
    for _ in range(60):
        boxes = [[int(rng.integers(0, 41)), int(rng.integers(0, 29)), int(rng.integers(1, 50)), int(rng.integers(1, 40))]
                 for _ in range(int(rng.integers(1, 4)))]
        colours = [[float(v) for v in rng.choice([0.5, 1.5, 2.5, 254.5, 255.5, -3.0, 300.0, 10.4], 3)] for _ in boxes]
        ref = np.asarray(image).copy()
        ref = ref if ref.ndim == 3 else ref[..., None]
        for (x, y, w, h), colour in zip(boxes, colours):
            ref[y:y + h, x:x + w, :nc] = np.clip(np.rint(colour[:nc]), 0, 255)
        out = np.asarray(F.erase(image, boxes, colours))
        assert np.array_equal(out.reshape(ref.shape), ref)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_lut_is_a_table_lookup_per_band_and_keeps_the_other_bytes(layout, path_restored):
    # on every path (the AVX-512 one with VBMI works 64 bytes at a time: sizes around that, and tails)
    bpp, nc = layout
    rng = np.random.default_rng(3)
    # one table per band, and one table shared by every band (invert, posterize, solarize: the
    # AVX-512 path then looks every colour byte up at once)
    for tables in (rng.integers(0, 256, (3, 256), dtype=np.uint8), np.tile(rng.integers(0, 256, 256, dtype=np.uint8), (3, 1))):
        for w, h in [(29, 13), (1, 1), (16, 1), (17, 1), (63, 1), (64, 1), (65, 3), (300, 7)]:
            raw = random_image(rng, w, h, bpp)
            a = np.frombuffer(raw, np.uint8).reshape(h, w, bpp)
            expected = a.copy()
            for c in range(nc):
                expected[..., c] = tables[c][a[..., c]]
            for path in K.available():
                K.use(path)
                assert bytes(K.lut(raw, (w, h), bpp, nc, tables[:nc].tobytes())) == expected.tobytes(), (path, w, h)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_value_maps_give_pillows_point_bytes(mode):
    image = Image.frombytes(mode, (33, 21), generated(33, 21, len(mode)))
    bands = 1 if mode in ("L", "LA") else 3
    tables = [np.arange(256) * 0.7 + 20 * c for c in range(bands)]
    lut = [int(v) for t in tables for v in np.clip(np.rint(t), 0, 255)] + list(range(256)) * (len(mode) - bands)
    assert F.map_values(image, per_band=tables).tobytes() == image.point(lut).tobytes()
    assert F.brightness(image, 1.3).tobytes() == image.point(
        [min(255, round(v * 1.3)) for v in range(256)] * bands + list(range(256)) * (len(mode) - bands)).tobytes()


def test_kernels_write_into_a_given_output_of_the_right_size_only():
    src = generated(9, 4, 4)
    out = bytearray(9 * 4 * 4)
    assert K.blur(src, (9, 4), 4, 3, 1.0, out=out) is out and bytes(out) == bytes(K.blur(src, (9, 4), 4, 3, 1.0))
    with pytest.raises(ValueError, match="the output has 35 bytes"):
        K.lut(src, (9, 4), 4, 3, LUT, out=bytearray(35))
    with pytest.raises(ValueError, match="must not be the source"):
        same = bytearray(src)
        K.gaussian_noise(same, (9, 4), 4, 3, 5.0, 1, out=same)
    with pytest.raises(ValueError, match="the table has 10 bytes"):
        K.lut(src, (9, 4), 4, 3, bytes(10))
