"""augcli's native kernels: the typed Python face of the C extension modules in this folder.

Every kernel has a portable scalar path and, on x86-64, AVX2 and AVX-512 paths chosen at import
(the best the CPU has). All paths compute exactly the same integers, so the same seed gives the same
bytes on every machine. ``AUGCLI_KERNELS=scalar|avx2|avx512`` forces a path; ``augcli --version``
says which one is active.

``KERNEL_VERSION`` changes whenever the arithmetic of any kernel changes (and so the bytes of any
output): it is recorded in the manifest, and ``augcli replay`` says so when it differs.

The callers here check every buffer against the sizes they pass; the C code checks them again.
"""

from __future__ import annotations

import math
import os
from array import array
from typing import Any, Sequence

from . import _pixel, _warp

KERNEL_VERSION = 1
PATHS = ("scalar", "avx2", "avx512")
ENV = "AUGCLI_KERNELS"
FILLS = {"nearest": 0, "reflect": 1, "wrap": 2, "constant": 3}
INTERPOLATIONS = {"nearest": 0, "bilinear": 1}

_MODULES = [_warp, _pixel]
_env_error: str | None = None


def available() -> list[str]:
    """The kernel paths this CPU can run, best last (``scalar`` always)."""
    return list(_warp.available())


def active() -> str:
    """The path the kernels use now."""
    return str(_warp.path())


def use(path: str) -> None:
    """Run every kernel on ``path``; ValueError if unknown or if this CPU cannot run it."""
    if path not in PATHS:
        raise ValueError(f"{ENV}={path!r}: the kernel path must be one of {', '.join(PATHS)}")
    if path not in available():
        raise ValueError(f"{ENV}={path}: this CPU cannot run the {path} kernels "
                         f"(it has: {', '.join(available())})")
    for module in _MODULES:
        module.set_path(path)


def env_error() -> str | None:
    """Why ``AUGCLI_KERNELS`` could not be honoured (None if it is unset or valid). The runner
    turns this into a usage error before any work starts."""
    return _env_error


def describe() -> dict[str, object]:
    """JSON-ready provenance: the kernel version and the path in use."""
    return {"version": KERNEL_VERSION, "path": active()}


def _apply_env() -> None:
    global _env_error
    wanted = os.environ.get(ENV, "").strip().lower()
    if wanted:
        try:
            use(wanted)
        except ValueError as exc:
            _env_error = str(exc)


_apply_env()


# Pillow modes whose memory the kernels read and write in place: (bytes per pixel, Arrow item size)
_IN_PLACE = {"L": (1, 1), "RGB": (4, 1), "I;16": (2, 2)}


def pixels(image, *, writable: bool = False) -> memoryview | None:
    """Pillow's own memory of an L, RGB (4 bytes per pixel, as Pillow keeps it) or I;16 image,
    without a copy (through Pillow's Arrow export); None when Pillow cannot export it in one piece
    (an image spread over several memory blocks, or an older Pillow)."""
    if image.mode not in _IN_PLACE:
        return None
    bpp, item = _IN_PLACE[image.mode]
    w, h = image.size
    try:
        _, array = image.__arrow_c_array__()
    except (AttributeError, ValueError):
        return None
    return memoryview(_warp.pixel_view(array, w * h * bpp, item, writable))


MAX_SIDE = 1 << 30  # widths and heights the warp kernel takes (warp.c MAX_SIDE)


def _checked_layout(what: str, src, size, bpp: int, out_size, cval: bytes, wide: bool,
                    src_bpp: int | None) -> tuple[int, int, int, int, int]:
    """The warp's and the remap's argument checks: (w, h, out w, out h, source bytes per pixel)."""
    w, h = (int(v) for v in size)
    ow, oh = (int(v) for v in out_size)
    if w < 1 or h < 1 or ow < 1 or oh < 1:
        raise ValueError(f"{what}: sizes must be positive, got {size} -> {out_size}")
    if max(w, h, ow, oh) > MAX_SIDE:  # the kernel's limit, checked before the output is allocated
        raise ValueError(f"{what}: image too large: {w}x{h} -> {ow}x{oh} (each side at most {MAX_SIDE})")
    if bpp not in (1, 2, 4) or (wide and bpp != 2):
        raise ValueError(f"{what}: {bpp} bytes per pixel is not supported")
    sbpp = bpp if src_bpp is None else src_bpp
    if sbpp != bpp and not (sbpp == 3 and bpp == 4 and not wide):
        raise ValueError(f"{what}: a source of {sbpp} bytes per pixel cannot be warped into {bpp}")
    if len(src) != w * h * sbpp and not (sbpp == 3 and len(src) > w * h * 3):
        raise ValueError(f"{what}: the source has {len(src)} bytes, {w}x{h}x{sbpp} needs {w * h * sbpp}")
    if len(cval) != bpp:
        raise ValueError(f"{what}: the fill pixel has {len(cval)} bytes, not {bpp}")
    return w, h, ow, oh, sbpp


def warp(src: bytes | bytearray | memoryview, size: tuple[int, int], bpp: int, matrix: Sequence[Sequence[float]],
         out_size: tuple[int, int], *, fill: str, interpolation: str, cval: bytes, wide: bool = False,
         out: bytearray | memoryview | None = None, src_bpp: int | None = None,
         out_stride: int | None = None) -> bytearray | memoryview:
    """Resample a packed, contiguous source of ``size`` (w, h) with ``bpp`` bytes per pixel (1, 2 or
    4; ``wide``: one 16-bit little-endian sample) through the 3x3 output -> input ``matrix`` (pixel
    centres at integers) into ``out`` (or a new buffer) of ``out_size``. ``cval`` is one pixel of
    the fill colour in the output's layout (used by the constant fill). ``out_stride``: the bytes
    from one output row to the next in ``out`` (default: packed rows), to write a box of a larger
    image in place (``out`` then starts at the box's first pixel).

    ``src_bpp=3`` with ``bpp=4``: the source is packed RGB, read as RGBX with a pad byte of 255 (the
    same output as from that RGBX source). Its buffer may be longer than ``3 w h`` bytes: with at
    least 2 bytes to spare the SIMD paths run (they read 4 or 8 bytes per pixel), else the scalar one."""
    w, h, ow, oh, sbpp = _checked_layout("warp", src, size, bpp, out_size, cval, wide, src_bpp)
    m = _finite_matrix([float(v) for row in matrix for v in row], matrix)
    if out_stride is None:
        out, out_stride = _output("warp", out, out_size, bpp), ow * bpp
    elif out is None or out_stride < ow * bpp or memoryview(out).nbytes < (oh - 1) * out_stride + ow * bpp:
        raise ValueError(f"warp: an output of {ow}x{oh} pixels {out_stride} bytes apart needs a buffer that holds them")
    _warp.warp(src, w, h, w * sbpp, bpp, int(wide), out, ow, oh, out_stride, tuple(m), FILLS[fill],
               INTERPOLATIONS[interpolation], bytes(cval), sbpp)
    return out


def _finite_matrix(m: list[float], given: Any) -> tuple[float, ...]:
    """The 9 entries of a 3x3 matrix (a 2x3 one gets the row 0, 0, 1), all finite, else ValueError."""
    if len(m) == 6:
        m = m + [0.0, 0.0, 1.0]
    # a sum of finite numbers is finite unless it overflows; any NaN or infinity makes it NaN or infinite
    if len(m) != 9 or not math.isfinite(sum(m)) and not all(math.isfinite(v) for v in m):
        raise ValueError(f"warp: the matrix must be 3x3 (or 2x3) finite numbers, got {given!r}")
    return tuple(m)


class WarpSource:
    """One source checked once for many ``warp`` calls into packed outputs (the copies of a source):
    each ``into`` then checks only what differs per output, the matrix and the output's size (the
    kernel checks every buffer's extent itself)."""

    __slots__ = ("src", "w", "h", "bpp", "sbpp", "wide", "fill", "interpolation", "cval")

    def __init__(self, src: bytes | bytearray | memoryview, size: tuple[int, int], bpp: int, *, fill: str,
                 interpolation: str, cval: bytes, wide: bool = False, src_bpp: int | None = None) -> None:
        self.w, self.h, _, _, self.sbpp = _checked_layout("warp", src, size, bpp, size, cval, wide, src_bpp)
        self.src, self.bpp, self.wide, self.cval = src, bpp, int(wide), bytes(cval)
        self.fill, self.interpolation = FILLS[fill], INTERPOLATIONS[interpolation]

    def into(self, out: bytearray | memoryview | None, out_size: tuple[int, int],
             matrix: Sequence[float]) -> bytearray | memoryview:
        """Warp into ``out`` (packed rows of ``out_size``; None: a new buffer) through the 9 numbers
        of a 3x3 ``matrix``, row by row (as ``warp``). Returns the buffer."""
        ow, oh = int(out_size[0]), int(out_size[1])
        m = _finite_matrix(list(matrix), matrix)
        out = _output("warp", out, out_size, self.bpp)
        _warp.warp(self.src, self.w, self.h, self.w * self.sbpp, self.bpp, self.wide, out, ow, oh, ow * self.bpp, m,
                   self.fill, self.interpolation, self.cval, self.sbpp)
        return out


def remap(src: bytes | bytearray | memoryview, size: tuple[int, int], bpp: int, grid: bytes,
          grid_size: tuple[int, int], shift: int, out_size: tuple[int, int], *, fill: str, interpolation: str,
          cval: bytes, wide: bool = False, out: bytearray | memoryview | None = None,
          src_bpp: int | None = None) -> bytearray | memoryview:
    """``warp`` through a per-pixel map: ``grid`` is ``grid_size`` (gw, gh) nodes, row-major, each two
    little-endian int64: the source (u, v) of output pixel (i 2^shift, k 2^shift) in 16.16 fixed
    point, within +-2^45; blended bilinearly in between (warp_scalar.c), so gw >= ((w - 1) >> shift) + 2."""
    w, h, ow, oh, sbpp = _checked_layout("remap", src, size, bpp, out_size, cval, wide, src_bpp)
    gw, gh = (int(v) for v in grid_size)
    if not 0 <= shift <= 8 or min(gw - ((ow - 1) >> shift), gh - ((oh - 1) >> shift)) < 2 or len(grid) != gw * gh * 16:
        raise ValueError(f"remap: {gw}x{gh} nodes ({len(grid)} bytes) every 2^{shift} px do not cover {ow}x{oh}")
    out = _output("remap", out, out_size, bpp)
    _warp.remap(src, w, h, w * sbpp, bpp, int(wide), out, ow, oh, ow * bpp, bytes(grid), gw, gh, shift,
                FILLS[fill], INTERPOLATIONS[interpolation], bytes(cval), sbpp)
    return out


def pack_rgb(pixels: memoryview) -> int:
    """Pack the RGBX pixels of a writable buffer (4 bytes each) in place to RGB, and hand the memory
    this frees, in whole pages, back to the system (Linux; elsewhere it stays allocated). The buffer
    is then a packed RGB source with slack for ``warp(..., src_bpp=3)``, and no longer RGBX.
    Returns the number of bytes handed back."""
    n = len(pixels)
    if n % 4 or not n:
        raise ValueError(f"pack_rgb: {n} bytes are not whole RGBX pixels")
    return _warp.pack_rgb(pixels, n // 4)


# ---------------------------------------------------------------------------------------------------
# 8-bit pixel kernels (module _pixel: pixel.c, filters.c)
#
# Images are packed 8-bit buffers of ``size`` (w, h) pixels with ``bpp`` bytes each (1-4), the first
# ``nc`` of them colour bands (L 1/1, LA 2/1, RGB 3/3, RGBA or RGBX 4/3); the other bytes (alpha) are
# copied unchanged. Each function writes into ``out`` (a writable buffer of the same size, not the
# source; e.g. a new Pillow image's memory, see ``pixels``) and returns it, or into a new buffer.
# The float parameters are turned into the fixed-point integers the C code uses here, with IEEE
# double arithmetic (the same on every platform); the C code is integer-only, so the bytes depend
# on neither the CPU nor numpy.

from .checks import Buffer, checked as _checked, output as _output  # noqa: E402

FIXED_32 = 1 << 32
HUE_SHIFT = 40  # the hue turn is passed in sixths of a circle, 24.40 fixed point
TAP_ONE = 1 << 16  # the blur taps sum to this exactly


def channel_sums(src: Buffer, size: tuple[int, int], bpp: int, nc: int) -> tuple[int, ...]:
    """The exact sum of each colour band over the image."""
    w, h = _checked("channel_sums", src, size, bpp, nc)
    return tuple(_pixel.channel_sums(src, w, h, bpp, nc))


def saturation(src: Buffer, size: tuple[int, int], bpp: int, factor: float, *,
               out: Buffer | None = None) -> Buffer:
    """Blend each RGB pixel with its 601 luma (weights 19595, 38470, 7471 / 2^16, unrounded):
    ``round(L + factor (c - L))``; ``factor`` in 16.16 fixed point."""
    w, h = _checked("saturation", src, size, bpp, 3, 3)
    f = round(float(factor) * 65536)
    if not abs(f) <= 1 << 36:
        raise ValueError(f"saturation: factor {factor!r} is out of range")
    out = _output("saturation", out, size, bpp)
    _pixel.saturation(src, out, w, h, bpp, 3, f)
    return out


def hue_turn(degrees: float) -> int:
    """A hue turn of ``degrees`` as the kernel takes it: sixths of a circle in [0, 6), 24.40 fixed
    point (colorsys' ``(h + degrees / 360) % 1``)."""
    d = float(degrees)
    if not math.isfinite(d):
        raise ValueError(f"hue: {degrees!r} is not a finite angle")
    return round(((d / 360.0) % 1.0) * 6.0 * (1 << HUE_SHIFT)) % (6 << HUE_SHIFT)


def hue(src: Buffer, size: tuple[int, int], bpp: int, degrees: float, *, out: Buffer | None = None) -> Buffer:
    """Turn the HSV hue of each RGB pixel by ``degrees`` (colorsys semantics, exact integer form:
    the only rounding is the final one; exact halves round down)."""
    w, h = _checked("hue", src, size, bpp, 3, 3)
    out = _output("hue", out, size, bpp)
    _pixel.hue(src, out, w, h, bpp, 3, hue_turn(degrees))
    return out


def lighting(src: Buffer, size: tuple[int, int], bpp: int, nc: int, gain0: float, gain_dx: float,
             gain_dy: float, *, out: Buffer | None = None) -> Buffer:
    """Multiply the colour bands by the linear gain ``gain0 + x gain_dx + y gain_dy`` (pixel (x, y),
    x = column); the gains in 32.32 fixed point, stepped exactly; ``round(c g)``, clamped."""
    w, h = _checked("lighting", src, size, bpp, nc)
    vals = [float(gain0), float(gain_dx), float(gain_dy)]
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"lighting: the gains must be finite, got {vals}")
    g0, gx, gy = (round(v * FIXED_32) for v in vals)
    if abs(g0) > 1 << 52 or abs(gx) > (1 << 53) // w or abs(gy) > (1 << 53) // h:  # so |c g| < 2^63
        raise ValueError(f"lighting: gains {vals} are out of range")
    out = _output("lighting", out, size, bpp)
    _pixel.lighting(src, out, w, h, bpp, nc, g0, gx, gy)
    return out


def gaussian_noise(src: Buffer, size: tuple[int, int], bpp: int, nc: int, sigma: float, seed: int, *,
                   out: Buffer | None = None) -> Buffer:
    """Add ``sigma`` z to each colour sample, ``round(c + sigma z)`` clamped; z is one of 4096 fixed
    standard-normal values (normal_table.py) chosen by a counter-based hash of (seed, pixel, band)
    (splitmix64's mix of the pixel index; 12 bits per band). sigma in 16.16 fixed point."""
    w, h = _checked("noise", src, size, bpp, nc)
    s = round(float(sigma) * 65536)
    if not 0 <= s <= 1 << 28:
        raise ValueError(f"noise: sigma {sigma!r} is out of range")
    out = _output("noise", out, size, bpp)
    _pixel.noise(src, out, w, h, bpp, nc, s, int(seed) & 0xFFFFFFFFFFFFFFFF)
    return out


def _probability(what: str, p: float) -> int:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{what}: {p!r} is not a probability")
    return round(p * FIXED_32)


def salt_pepper(src: Buffer, size: tuple[int, int], bpp: int, nc: int, amount: float, salt_ratio: float,
                seed: int, *, out: Buffer | None = None) -> Buffer:
    """Set each pixel, with probability ``amount``, to white (a fraction ``salt_ratio`` of them) or
    black in every colour band. One counter-based hash of (seed, pixel) per pixel: its high 32 bits
    below ``amount`` 2^32 make a hit, its low 32 bits below ``salt_ratio`` 2^32 make it salt."""
    w, h = _checked("salt_pepper", src, size, bpp, nc)
    out = _output("salt_pepper", out, size, bpp)
    _pixel.salt_pepper(src, out, w, h, bpp, nc, _probability("salt_pepper amount", amount),
                       _probability("salt_pepper salt ratio", salt_ratio), int(seed) & 0xFFFFFFFFFFFFFFFF)
    return out


def gaussian_taps(sigma: float) -> list[int]:
    """The blur's integer taps, centre first (t[0] .. t[r]): the normalised Gaussian truncated at
    4 sigma (scipy.ndimage's default radius, at least 1) in units of 2^-16, each tap within one unit
    of its exact value, with t[0] + 2 (t[1] + ... + t[r]) == 2^16 exactly: rounded to nearest, then
    the centre moved by one towards its exact value if the parity needs it, then the side taps
    furthest from their exact values moved by one each until the sum is exact."""
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"blur: sigma must be a positive number, got {sigma!r}")
    r = max(1, int(4.0 * sigma + 0.5))
    raw = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(r + 1)]
    norm = raw[0] + 2.0 * math.fsum(raw[1:])
    exact = [v / norm * TAP_ONE for v in raw]
    taps = [round(v) for v in exact]
    diff = TAP_ONE - (taps[0] + 2 * sum(taps[1:]))
    if diff % 2:  # only the centre tap has an odd weight: move it by one, towards its exact value
        taps[0] += 1 if exact[0] > taps[0] else -1
        diff = TAP_ONE - (taps[0] + 2 * sum(taps[1:]))
    sign = 1 if diff > 0 else -1
    order = sorted(range(1, r + 1), key=lambda i: sign * (taps[i] - exact[i]))
    for i in order[:abs(diff) // 2]:
        taps[i] += sign
    return taps


def blur(src: Buffer, size: tuple[int, int], bpp: int, nc: int, sigma: float, *, out: Buffer | None = None) -> Buffer:
    """Gaussian blur (scipy.ndimage.gaussian_filter, mode="nearest", truncate 4) with the integer
    taps of ``gaussian_taps``: a horizontal pass kept in units of 2^-8, then a vertical pass, each
    rounded half up (filters.c)."""
    w, h = _checked("blur", src, size, bpp, nc)
    taps = array("I", gaussian_taps(sigma))
    out = _output("blur", out, size, bpp)
    _pixel.blur(src, out, w, h, bpp, nc, taps.tobytes())
    return out


def lut(src: Buffer, size: tuple[int, int], bpp: int, nc: int, table: bytes, *, out: Buffer | None = None) -> Buffer:
    """Map colour band c through ``table[256 c:256 (c + 1)]`` (256 output values per band)."""
    w, h = _checked("lut", src, size, bpp, nc)
    if (bpp == 2 and nc != 1) or (bpp == 3 and nc != 3):  # the C loops take 2 and 3 bytes as LA and RGB
        raise ValueError(f"lut: {nc} colour bands in {bpp} bytes per pixel is not supported")
    if len(table) != 256 * nc:
        raise ValueError(f"lut: the table has {len(table)} bytes, {nc} bands need {256 * nc}")
    out = _output("lut", out, size, bpp)
    _pixel.lut(src, out, w, h, bpp, nc, bytes(table))
    return out


def bytemap(src: Buffer, size: tuple[int, int], bpp: int, nc: int, *, keep: int = 255, flip: int = 0,
            threshold: int = 0, out: Buffer | None = None) -> Buffer:
    """``(v & keep) ^ (flip if v >= threshold else 0)`` on each colour value v (threshold 0..256):
    posterize, invert and solarize without a table, the same bytes as ``lut`` with their tables.
    ``out`` may be ``src`` itself (so may ``lut``'s): each byte is read before it is overwritten."""
    w, h = _checked("bytemap", src, size, bpp, nc)
    if not (0 <= keep <= 255 and 0 <= flip <= 255 and 0 <= threshold <= 256):
        raise ValueError(f"bytemap: keep {keep} and flip {flip} must lie in 0..255, threshold {threshold} in 0..256")
    out = _output("bytemap", out, size, bpp)
    _pixel.bytemap(src, out, w, h, bpp, nc, int(keep), int(flip), int(threshold))
    return out


from .filters import (ISO_STREAM, LINE_MAX_N, LINE_MAX_R, MEDIAN_MAX_K, JpegUndecided, clahe, clahe_tile,  # noqa: E402
                      downscale, fill_noise, iso_noise, jpeg, line_mean, mean_divisor, median, median_network,
                      unsharp)
from .lattice import bilinear, smooth_lattice  # noqa: E402
