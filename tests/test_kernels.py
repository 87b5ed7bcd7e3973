"""The native warp kernel (augcli.kernels): against scipy, exact known answers, every CPU path
byte-identical, golden digests, and no read or write outside the buffers for any matrix."""

from __future__ import annotations

import hashlib
import itertools
import mmap
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from augcli import geometry as G
from augcli import kernels as K
from augcli import warping as W

SCIPY_MODES = {"nearest": "nearest", "reflect": "reflect", "wrap": "grid-wrap", "constant": "grid-constant"}
FILLS = tuple(SCIPY_MODES)
LAYOUTS = [(1, False), (2, False), (4, False), (2, True)]  # (bytes per pixel, 16-bit)


@pytest.fixture(autouse=True)
def _restore_path():
    before = K.active()
    yield
    K.use(before)


def pattern(w: int, h: int, channels: int, wide: bool = False) -> np.ndarray:
    """A fixed, arithmetic test image (no random generator: the golden digests must not depend on
    numpy's version)."""
    y, x = np.mgrid[0:h, 0:w]
    planes = [((x * (7 + 3 * c) + y * (13 - 2 * c) + (x * y) % (31 + c) + 50 * c) % 256) for c in range(channels)]
    arr = np.stack(planes, axis=-1)
    if wide:
        arr = arr * 257 + (x * 11 + y * 5)[..., None] % 257
        return arr.astype("<u2")
    return arr.astype(np.uint8)


def to_bytes(arr: np.ndarray) -> bytes:
    return np.ascontiguousarray(arr).tobytes()


def kernel_warp(arr: np.ndarray, matrix, out_size, fill="nearest", interpolation="bilinear", cval=0.0,
                wide=False) -> np.ndarray:
    h, w = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    bpp = 2 if wide else channels
    if wide:
        cv = int(round(cval * 257)).to_bytes(2, "little")
    else:
        cv = bytes([int(round(cval))] * bpp)
    buf = K.warp(to_bytes(arr), (w, h), bpp, matrix, out_size, fill=fill, interpolation=interpolation, cval=cv,
                 wide=wide)
    dtype = "<u2" if wide else np.uint8
    shape = (out_size[1], out_size[0]) if wide else (out_size[1], out_size[0], channels)
    return np.frombuffer(bytes(buf), dtype).reshape(shape)


def scipy_warp(arr: np.ndarray, matrix, out_size, fill, order=1, cval=0.0) -> np.ndarray:
    """The float reference: scipy.ndimage.map_coordinates at the mapped points (projective divide)."""
    m = np.asarray(matrix, float)
    ow, oh = out_size
    ys, xs = np.mgrid[0:oh, 0:ow].astype(float)
    wgt = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
    u = (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]) / wgt
    v = (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]) / wgt
    a = arr.astype(float)
    planes = [a] if a.ndim == 2 else [a[..., c] for c in range(a.shape[2])]
    out = [ndimage.map_coordinates(p, [v, u], order=order, mode=SCIPY_MODES[fill], cval=cval, prefilter=False)
           for p in planes]
    return out[0] if a.ndim == 2 else np.stack(out, axis=-1)


def matrices(size):
    w, h = size
    yield "rotate", G.rotation(33, size)
    yield "zoom_0.25", G.zoom(0.25, 0.25, size)
    yield "zoom_4", G.zoom(4.0, 4.0, size) @ G.rotation(-12, size)
    yield "shear", G.shear(25, size) @ G.shift(3.3, -2.7)
    yield "anisotropic", G.zoom(0.6, 1.7, size) @ G.rotation(71, size)
    yield "hflip_rot", G.hflip(size) @ G.rotation(8, size)
    if min(size) > 1:  # four corners of a line do not define a homography
        corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float)
        yield "projective", G.homography(corners, corners + np.array([[2, 1], [-3, 2], [1, -2], [4, 3]], float))


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("bpp,wide", LAYOUTS, ids=["L", "LA", "RGBX", "I16"])
def test_bilinear_matches_scipy(fill, bpp, wide):
    arr = pattern(29, 19, 1 if wide else bpp, wide)
    if wide:
        arr = arr[..., 0] if arr.ndim == 3 else arr
    size = (29, 19)
    for name, m in matrices(size):
        for out_size in [size, (23, 31)]:
            ours = kernel_warp(arr, m, out_size, fill, cval=77, wide=wide).astype(float)
            ref = scipy_warp(arr, m, out_size, fill, cval=77 * (257 if wide else 1))
            diff = np.abs(ours - ref)
            assert diff.max() <= 1.0, f"{name} {out_size}: max {diff.max()}"
            assert diff.mean() < 0.3, f"{name} {out_size}: mean {diff.mean()} (rounded, not truncated)"


@pytest.mark.parametrize("fill", FILLS)
def test_nearest_matches_scipy_order0(fill):
    arr = pattern(31, 22, 4)
    size = (31, 22)
    for name, m in matrices(size):
        ours = kernel_warp(arr, m, size, fill, interpolation="nearest", cval=9)
        ref = scipy_warp(arr, m, size, fill, order=0, cval=9)
        # only where a point falls (within float noise) exactly between two source pixels may they differ
        assert np.mean(np.any(ours != ref, axis=-1)) < 0.01, name


@pytest.mark.parametrize("size", [(1, 1), (1, 9), (9, 1), (2, 2)])
@pytest.mark.parametrize("fill", FILLS)
def test_tiny_images_match_scipy(size, fill):
    arr = pattern(*size, 4)
    for name, m in matrices(size):
        ours = kernel_warp(arr, m, (5, 4), fill, cval=30).astype(float)
        ref = scipy_warp(arr, m, (5, 4), fill, cval=30)
        assert np.abs(ours - ref).max() <= 1.0, name


@pytest.mark.parametrize("bpp,wide", LAYOUTS, ids=["L", "LA", "RGBX", "I16"])
def test_identity_and_integer_moves_are_exact(bpp, wide):
    arr = pattern(23, 17, 1 if wide else bpp, wide)
    if wide:
        arr = arr[..., 0]
    size = (23, 17)
    for interp in ("bilinear", "nearest"):
        assert np.array_equal(kernel_warp(arr, G.identity(), size, interpolation=interp, wide=wide), arr.reshape(
            kernel_warp(arr, G.identity(), size, wide=wide).shape))
        flat = arr.reshape(17, 23, -1)
        got = kernel_warp(arr, G.hflip(size), size, interpolation=interp, wide=wide).reshape(flat.shape)
        assert np.array_equal(got, flat[:, ::-1])
        got = kernel_warp(arr, G.vflip(size), size, interpolation=interp, wide=wide).reshape(flat.shape)
        assert np.array_equal(got, flat[::-1])
        m, rsize = G.rot90(1, size)
        got = kernel_warp(arr, m, rsize, interpolation=interp, wide=wide).reshape(rsize[1], rsize[0], -1)
        assert np.array_equal(got, np.rot90(flat, 1))
        got = kernel_warp(arr, G.shift(3, -2), size, fill="wrap", interpolation=interp, wide=wide).reshape(flat.shape)
        assert np.array_equal(got, np.roll(flat, (-2, 3), axis=(0, 1)))


def random_case(rng: np.random.Generator):
    w, h = int(rng.integers(1, 90)), int(rng.integers(1, 60))
    angle = rng.uniform(-180, 180)
    m = (G.rotation(angle, (w, h)) @ G.zoom(rng.uniform(0.25, 4), rng.uniform(0.25, 4), (w, h))
         @ G.shift(rng.uniform(-w, w), rng.uniform(-h, h)))
    if rng.random() < 0.3:
        m = m @ np.array([[1, 0, 0], [0, 1, 0], [rng.uniform(-1e-3, 1e-3), rng.uniform(-1e-3, 1e-3), 1]])
    out = (int(rng.integers(1, 120)), int(rng.integers(1, 80)))
    return w, h, m, out


def test_every_path_gives_the_same_bytes():
    paths = K.available()
    assert paths[0] == "scalar"
    rng = np.random.default_rng(2026)
    for trial in range(60):
        w, h, m, out = random_case(rng)
        for bpp, wide in LAYOUTS:
            src = rng.integers(0, 256, w * h * bpp, dtype=np.uint8).tobytes()
            for fill in FILLS:
                for interp in ("bilinear", "nearest"):
                    results = set()
                    for p in paths:
                        K.use(p)
                        results.add(bytes(K.warp(src, (w, h), bpp, m, out, fill=fill, interpolation=interp,
                                                 cval=bytes(range(7, 7 + bpp)), wide=wide)))
                    assert len(results) == 1, f"paths differ: trial {trial} {w}x{h} bpp {bpp} {fill} {interp}"


def test_narrow_sources_and_fold_seams_give_the_same_bytes_on_every_path():
    # The SIMD rows read each tap pair as 8 bytes at the lower of two neighbouring columns (clamped to
    # w - 2) and pick the taps from it; wrap's seam (taps w - 1 and 0) takes the gather route. Sources
    # of 2 and 3 pixels, rows crossing folds and seams many times, every fill mode.
    rng = np.random.default_rng(77)
    paths = K.available()
    # (rows spanning one to two and a half source widths: reflect and wrap rows stay within the one
    # fold the SIMD rows take, so they do run there)
    out = (24, 13)
    for w, h in [(2, 2), (2, 9), (9, 2), (3, 3), (3, 40), (40, 3), (1, 20), (20, 1)]:
        for trial in range(12):
            s = rng.uniform(0.04, 0.1)
            m = (G.shift(rng.uniform(-w / 2, w / 2), rng.uniform(-h / 2, h / 2)) @ G.translation((w - 1) / 2, (h - 1) / 2)
                 @ G.rotation(rng.uniform(-180, 180), (1, 1)) @ np.diag([s * w * rng.uniform(0.5, 1.2), s * h, 1.0])
                 @ G.translation(-(out[0] - 1) / 2, -(out[1] - 1) / 2))
            src = rng.integers(0, 256, w * h * 4, dtype=np.uint8).tobytes()
            for fill in FILLS:
                results = {p: None for p in paths}
                for p in paths:
                    K.use(p)
                    results[p] = bytes(K.warp(src, (w, h), 4, m, out, fill=fill, interpolation="bilinear",
                                              cval=bytes([9, 99, 199, 0])))
                assert len(set(results.values())) == 1, f"paths differ: {w}x{h} trial {trial} {fill}"


# SHA-256 of fixed warps of a fixed image. A change here is a change of arithmetic: it must come with
# a new KERNEL_VERSION (augcli.kernels) and a line in the commit message.
GOLDEN = {
    "rgbx_rotate30_nearestfill": "d29c78950a8c53c48d8698518cce6c63263e53ef187a9a1cd5443b6b937b3cc6",
    "rgbx_zoom0.5_constant": "1b05462356dfe0991db1cc979cc2c3ef295e4f5b39da8a546ad352da105b2f56",
    "rgbx_projective_reflect": "7a8d459ff447e438ca431654483ff2a56ffd251afc1c998dc5b7a789ff3874a4",
    "l_shear_wrap": "e586cefcf92cfd08bfd74f8b2099a1e7d99f1ba49fb6573efe4fef41498d7eb1",
    "la_rotate_nearest_interp": "5ba6c9fe8a0cb11e8d1ee8d3d978f05ab1d9d3114f3387f7aad0586b41541414",
    "i16_zoom_reflect": "977bd13c377f259f482228df4e00fc3d3f365151febf4c1c303a8234918c7097",
}


def golden_cases():
    size = (64, 48)
    corners = np.array([[0, 0], [63, 0], [0, 47], [63, 47]], float)
    proj = G.homography(corners, corners + np.array([[5, 2], [-4, 3], [2, -5], [6, 4]], float))
    return {
        "rgbx_rotate30_nearestfill": (pattern(64, 48, 4), G.rotation(30, size), "nearest", "bilinear", False),
        "rgbx_zoom0.5_constant": (pattern(64, 48, 4), G.zoom(1.7, 1.3, size), "constant", "bilinear", False),
        "rgbx_projective_reflect": (pattern(64, 48, 4), proj, "reflect", "bilinear", False),
        "l_shear_wrap": (pattern(64, 48, 1), G.shear(20, size), "wrap", "bilinear", False),
        "la_rotate_nearest_interp": (pattern(64, 48, 2), G.rotation(-17, size), "nearest", "nearest", False),
        "i16_zoom_reflect": (pattern(64, 48, 1, True)[..., 0], G.zoom(0.7, 1.9, size), "reflect", "bilinear", True),
    }


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_digests(name):
    arr, m, fill, interp, wide = golden_cases()[name]
    for p in K.available():
        K.use(p)
        out = kernel_warp(arr, m, (64, 48), fill, interp, cval=100, wide=wide)
        assert hashlib.sha256(out.tobytes()).hexdigest() == GOLDEN[name], f"{name} on the {p} path"


def test_bad_arguments_are_value_errors():
    src = bytes(4 * 4 * 4)
    with pytest.raises(ValueError, match="bytes"):
        K.warp(src[:-1], (4, 4), 4, G.identity(), (4, 4), fill="nearest", interpolation="bilinear", cval=bytes(4))
    with pytest.raises(ValueError, match="finite"):
        K.warp(src, (4, 4), 4, [[float("nan"), 0, 0], [0, 1, 0], [0, 0, 1]], (4, 4), fill="nearest",
               interpolation="bilinear", cval=bytes(4))
    with pytest.raises(ValueError, match="positive"):
        K.warp(src, (4, 4), 4, G.identity(), (0, 4), fill="nearest", interpolation="bilinear", cval=bytes(4))
    with pytest.raises(ValueError, match="not supported"):
        K.warp(src, (4, 4), 3, G.identity(), (4, 4), fill="nearest", interpolation="bilinear", cval=bytes(3))
    # the C layer checks again, whatever a caller passes
    from augcli.kernels import _warp

    out = bytearray(16)
    with pytest.raises(ValueError, match="too small"):
        _warp.warp(src, 4, 4, 16, 4, 0, out, 4, 4, 16, (1, 0, 0, 0, 1, 0, 0, 0, 1), 0, 1, bytes(4))
    with pytest.raises(ValueError, match="too small"):
        _warp.warp(src[:10], 4, 4, 16, 4, 0, bytearray(64), 4, 4, 16, (1, 0, 0, 0, 1, 0, 0, 0, 1), 0, 1, bytes(4))
    with pytest.raises(TypeError):
        _warp.warp(src, 4, 4, 16, 4, 0, b"read-only output" * 4, 4, 4, 16, (1, 0, 0, 0, 1, 0, 0, 0, 1), 0, 1, bytes(4))


def test_unknown_or_unavailable_path_is_refused():
    with pytest.raises(ValueError, match="must be one of"):
        K.use("neon9000")
    missing = [p for p in K.PATHS if p not in K.available()]
    for p in missing:
        with pytest.raises(ValueError, match="cannot run"):
            K.use(p)


def test_env_variable_forces_a_path_and_version_names_it():
    env = {**os.environ, "AUGCLI_KERNELS": "scalar"}
    out = subprocess.run([sys.executable, "-m", "augcli", "--version"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "kernels v1 scalar" in out.stdout, out.stdout + out.stderr
    env["AUGCLI_KERNELS"] = "bogus"
    out = subprocess.run([sys.executable, "-m", "augcli", "--version"], env=env, capture_output=True, text=True)
    assert "AUGCLI_KERNELS='bogus'" in out.stdout + out.stderr


def test_functional_warp_uses_the_kernel_for_every_native_mode():
    rng = np.random.default_rng(5)
    for mode in ("L", "LA", "RGB", "RGBA", "I;16"):
        shape = (20, 30) if mode in ("L", "I;16") else (20, 30, len(mode))
        arr = rng.integers(0, 65536 if mode == "I;16" else 256, shape, dtype=np.uint16 if mode == "I;16" else np.uint8)
        image = Image.frombytes(mode, (30, 20), arr.astype("<u2").tobytes() if mode == "I;16" else arr.tobytes())
        out = W.warp(image, G.rotation(20, image.size), image.size, fill_mode="reflect")
        assert out.mode == mode and out.size == image.size


GUARD_SCRIPT = textwrap.dedent("""
    import ctypes, itertools, math, mmap, sys
    from augcli.kernels import _warp, available

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    PAGE = mmap.PAGESIZE

    def guarded(n, at_end):
        # n bytes flush against a PROT_NONE page (after them, or before them)
        pages = (n + PAGE - 1) // PAGE
        base = libc.mmap(None, (pages + 2) * PAGE, 3, 0x22, -1, 0)
        assert base not in (None, ctypes.c_void_p(-1).value)
        libc.mprotect(base, PAGE, 0)
        libc.mprotect(base + (pages + 1) * PAGE, PAGE, 0)
        start = base + PAGE + (pages * PAGE - n if at_end else 0)
        buf = (ctypes.c_char * n).from_address(start)
        for i in range(n):
            buf[i] = bytes([(i * 37) & 255])
        return buf

    big = 1e12
    mats = [
        (1, 0, 0, 0, 1, 0, 0, 0, 1), (1, 0, big, 0, 1, -big, 0, 0, 1), (1, 0, -big, 0, 1, big, 0, 0, 1),
        (1e9, 0, 0, 0, 1e9, 0, 0, 0, 1), (1e-9, 0, 0, 0, 1e-9, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 0, 0, 1),
        (1, 0, 0.9999999999, 0, 1, 0.9999999999, 0, 0, 1), (0.7, -0.7, 3.5, 0.7, 0.7, -2.5, 0, 0, 1),
        (-1, 0, 1e6, 0, -1, -1e6, 0, 0, 1), (1, 0, 0, 0, 1, 0, 0.3, 0.2, 0.0), (1, 2, 3, 4, 5, 6, -1, -1, -1),
        (float("nan"), 0, 0, 0, 1, 0, 0, 0, 1), (float("inf"), 0, 0, 0, 1, 0, 0, 0, 1), (0, 1e300, 0, 1e300, 0, 0, 0, 0, 1),
    ]
    count = 0
    for path in available():
        _warp.set_path(path)
        for (w, h) in [(1, 1), (1, 7), (7, 1), (2, 2), (5, 3), (19, 11)]:
            for bpp, wide in [(1, 0), (2, 0), (4, 0), (2, 1)]:
                for at_end in (True, False):
                    src = guarded(w * h * bpp, at_end)
                    for (ow, oh) in [(1, 1), (17, 5), (3, 9)]:
                        dst = guarded(ow * oh * bpp, not at_end)
                        for m, fill, interp in itertools.product(mats, range(4), range(2)):
                            _warp.warp(src, w, h, w * bpp, bpp, wide, dst, ow, oh, ow * bpp, m, fill, interp,
                                       bytes(bpp))
                            count += 1
            # packed RGB into RGBX: no slack (the scalar rows only) and the 2 bytes the SIMD rows need
            for slack, at_end in itertools.product((0, 1, 2), (True, False)):
                src = guarded(w * h * 3 + slack, at_end)
                for (ow, oh) in [(1, 1), (17, 5), (3, 9)]:
                    dst = guarded(ow * oh * 4, not at_end)
                    for m, fill, interp in itertools.product(mats, range(4), range(2)):
                        _warp.warp(src, w, h, w * 3, 4, 0, dst, ow, oh, ow * 4, m, fill, interp, bytes(4), 3)
                        count += 1
    print("warps", count)
""")


def test_no_access_outside_the_buffers_guard_pages():
    # a fault kills the child, not the test run; SIMD gathers are checked here (ASan cannot see them)
    out = subprocess.run([sys.executable, "-c", GUARD_SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-2000:]}"
    assert int(out.stdout.split()[-1]) > 10_000


def test_the_guard_pages_do_catch_an_overread():
    # the guard-page test above means something only if touching a guard page faults
    probe = GUARD_SCRIPT.split("big = 1e12")[0] + "buf = guarded(64, True)\nctypes.string_at(ctypes.addressof(buf) + 64, 1)\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    # killed by SIGSEGV (or, under `make asan`, reported as a SEGV by AddressSanitizer's handler)
    assert out.returncode < 0 or (out.returncode != 0 and "SEGV" in out.stderr), (out.returncode, out.stderr[-500:])


def test_pixels_is_pillows_own_memory_without_a_copy():
    rng = np.random.default_rng(1)
    for mode, raw in (("RGB", "RGBX"), ("L", "L"), ("I;16", "I;16")):
        image = Image.frombytes(mode, (13, 7), rng.integers(0, 256, 13 * 7 * (3 if mode == "RGB" else 1 if mode == "L"
                                                                              else 2), dtype=np.uint8).tobytes())
        view = K.pixels(image)
        assert view is not None and bytes(view) == image.tobytes("raw", raw)
        out = Image.new(mode, (13, 7))
        target = K.pixels(out, writable=True)
        target[:] = bytes(view)
        assert out.tobytes() == image.tobytes()  # written in place
    assert K.pixels(Image.new("RGBA", (3, 3))) is None  # RGBA goes through premultiplied RGBa instead


def test_projective_rows_are_the_same_bytes_on_every_path_even_across_the_horizon():
    # per-pixel coordinates are computed in SIMD on some paths: the same IEEE steps, the same integers,
    # also where w approaches 0 or changes sign (coordinates clamped) and far outside the image
    rng = np.random.default_rng(77)
    for trial in range(40):
        w, h = int(rng.integers(2, 70)), int(rng.integers(2, 50))
        src = rng.integers(0, 256, w * h * 4, dtype=np.uint8).tobytes()
        m = np.array([[rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-500, 500)],
                      [rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-500, 500)],
                      [rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(-1, 1)]])
        out = (int(rng.integers(1, 90)), int(rng.integers(1, 40)))
        for fill in FILLS:
            results = set()
            for p in K.available():
                K.use(p)
                results.add(bytes(K.warp(src, (w, h), 4, m, out, fill=fill, interpolation="bilinear",
                                         cval=bytes([9, 8, 7, 6]))))
            assert len(results) == 1, f"paths differ: trial {trial} {fill}"


def test_clamped_coordinates_are_the_same_bytes_on_every_path():
    # the SIMD coordinate fill clamps to +-2^29 px (NaN to -2^29) as clamp_coord does: at the limit
    # exactly, across it within a row, where w crosses 0 (inf, NaN), with overflowing products
    # (inf - inf: NaN) and with -0.0; the fill mode then reads the clamped value (wrap and reflect:
    # modulo the size)
    lim = 2.0**29
    mats = [((0, 0, lim), (0, 0, -lim)), ((0, 0, -lim), (0, 0, lim)),
            ((1e-7, 0, lim - 2e-6), (0, -1e-7, 2e-6 - lim)), ((3e-6, 1e-6, -lim - 3e-5), (0, 1, 0.5)),
            ((1, 0, 0), (0, 1, 0), (0.05, 0, -0.6)), ((1, 0, -0.0), (0, 1, -0.0), (0, -0.1, 0.35)),
            ((1e308, -1e308, 0), (0, 1, 0)), ((0, 0, 1e300), (0, 1e300, 0), (0, 1e-300, 1e-300)),
            ((-0.0, 0, -0.0), (0, -0.0, -0.0), (0, 0, -1))]
    rng = np.random.default_rng(29)
    for (w, h), bpp in itertools.product([(7, 5), (13, 3)], (1, 4)):
        src = rng.integers(0, 256, w * h * bpp, dtype=np.uint8).tobytes()
        for rows, ow in itertools.product(mats, (1, 3, 4, 7, 8, 9, 15, 16, 17, 33, 64)):
            m = [list(r) for r in rows] + ([[0, 0, 1]] if len(rows) == 2 else [])
            for fill, interp in itertools.product(FILLS, ("nearest", "bilinear")):
                outs = {}
                for p in K.available():
                    K.use(p)
                    outs[p] = bytes(K.warp(src, (w, h), bpp, m, (ow, 3), fill=fill, interpolation=interp,
                                           cval=bytes(range(3, 3 + bpp))))
                assert len(set(outs.values())) == 1, (rows, ow, bpp, fill, interp)


def test_a_packed_rgb_source_gives_the_bytes_of_its_rgbx_source_on_every_path():
    # A 3-byte RGB source warped into RGBX reads as the RGBX source with a pad byte of 255, on every
    # path, with no slack (the scalar rows) and with the 2 bytes the SIMD rows need (and more).
    rng = np.random.default_rng(303)
    paths = K.available()
    cases = [random_case(rng) for _ in range(40)] + [(w, h, G.rotation(rng.uniform(-180, 180), (w, h)), (23, 17))
                                                     for w, h in [(1, 1), (1, 5), (5, 1), (2, 2), (3, 2), (2, 3)]]
    for trial, (w, h, m, out) in enumerate(cases):
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        rgbx = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], axis=2).tobytes()
        for fill in FILLS:
            for interp in ("bilinear", "nearest"):
                cval = bytes(rng.integers(0, 256, 4, dtype=np.uint8))
                K.use("scalar")
                want = bytes(K.warp(rgbx, (w, h), 4, m, out, fill=fill, interpolation=interp, cval=cval))
                for p in paths:
                    K.use(p)
                    for slack in (0, 2, 7):
                        got = K.warp(rgb.tobytes() + bytes(slack), (w, h), 4, m, out, fill=fill,
                                     interpolation=interp, cval=cval, src_bpp=3)
                        assert bytes(got) == want, f"{p}: trial {trial} {w}x{h} {fill} {interp} slack {slack}"
    K.use(paths[-1])
    with pytest.raises(ValueError, match="cannot be warped"):
        K.warp(bytes(12), (2, 2), 2, G.identity(), (2, 2), fill="nearest", interpolation="bilinear", cval=bytes(2),
               src_bpp=3)
    with pytest.raises(ValueError, match="needs 12"):
        K.warp(bytes(11), (2, 2), 4, G.identity(), (2, 2), fill="nearest", interpolation="bilinear", cval=bytes(4),
               src_bpp=3)


@pytest.mark.parametrize("npx", [1, 2, 3, 4, 5, 7, 8, 9, 1001, 1 << 20])
def test_pack_rgb_packs_in_place_and_hands_the_rest_back(npx):
    rng = np.random.default_rng(npx)
    px = rng.integers(0, 256, (npx, 4), dtype=np.uint8)
    buf = bytearray(px.tobytes())
    released = K.pack_rgb(memoryview(buf))
    assert bytes(buf[:3 * npx]) == px[:, :3].tobytes()
    page = mmap.PAGESIZE
    assert released % page == 0 and released <= npx
    if sys.platform == "linux" and npx == 1 << 20:  # 4 MiB: the last quarter, less a page or two
        assert released >= npx - 2 * page - 8
    with pytest.raises(ValueError):
        K.pack_rgb(memoryview(bytearray(6)))
