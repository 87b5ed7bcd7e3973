"""The image code of the sensor and occlusion ops (``augcli.ops.sensor``): pure functions of an image
and the op's recorded parameters. 8-bit images go through augcli's integer kernels or integer numpy,
so the bytes depend on neither the CPU nor the kernel path; numpy and Pillow are imported inside the
functions, since ``augcli --help`` loads the ops."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from .base import F

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


def _colour_array(image: Image.Image) -> tuple[np.ndarray, Image.Image | None]:
    """The colour bands as a writable (h, w, bands) array in the mode's own units, and the alpha."""
    import numpy as np

    colour, alpha = F.split_alpha(image)
    arr = np.array(colour)
    return arr.reshape(arr.shape[0], arr.shape[1], -1), alpha


def _from_colour(arr: np.ndarray, mode: str, alpha: Image.Image | None) -> Image.Image:
    return F.merge_alpha(F.from_array(arr.reshape(arr.shape[:2]) if arr.shape[2] == 1 else arr, mode), alpha)


def _edge_window(a: np.ndarray, r: int) -> np.ndarray:
    """``a`` (h, w, bands) padded by r replicated pixels on every side."""
    import numpy as np

    return np.pad(a, ((r, r), (r, r), (0, 0)), mode="edge")


def motion_line(length: int, angle: float) -> list[tuple[int, int]]:
    """The motion-blur kernel: the (dx, dy) offsets of a digital line through the centre, ``length``
    pixels long (odd), at ``angle`` degrees counter-clockwise from the x axis (y points down). The
    end of the half-line is (round(r cos a), -round(r sin a)), r = (length - 1) / 2, halves rounded
    away from zero (values within 1e-9 of a half are taken as the half, so that libm's last bit cannot
    change the kernel); the line is Bresenham's from the centre to that end, mirrored through the
    centre, so it is symmetric and has 2 max(|x end|, |y end|) + 1 pixels, the centre first."""
    r = (int(length) - 1) / 2

    def rnd(v: float) -> int:
        twice = v * 2
        if abs(twice - round(twice)) < 1e-9:
            twice = round(twice)
        half = twice / 2
        return int(math.floor(abs(half) + 0.5)) * (1 if half >= 0 else -1)

    a = math.radians(float(angle))
    ex, ey = rnd(r * math.cos(a)), -rnd(r * math.sin(a))
    line = [(0, 0)]
    x = y = 0
    dx, dy = abs(ex), -abs(ey)
    sx, sy = (1 if ex > 0 else -1), (1 if ey > 0 else -1)
    err = dx + dy
    while (x, y) != (ex, ey):
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x += sx
        if e2 <= dx:
            err += dx
            y += sy
        line += [(x, y), (-x, -y)]
    return line


def motion_blur(image: Image.Image, length: int, angle: float) -> Image.Image:
    """The mean of the pixels on a line through each pixel (``motion_line``), edges replicated,
    rounded half up (``(2 sum + n) // 2n``; augcli.kernels.line_mean for 8-bit data); float data
    get the plain mean."""
    import numpy as np

    line = motion_line(length, angle)
    if len(line) == 1:
        return image.copy()
    if F.kernel_layout(image) is not None:
        from .. import kernels

        return F.run_kernel(image, kernels.line_mean, line)
    arr, alpha = _colour_array(image)
    r = max(max(abs(dx), abs(dy)) for dx, dy in line)
    pad = _edge_window(arr, r)
    h, w = arr.shape[:2]
    exact = arr.dtype.kind != "f"
    n = len(line)
    out = np.empty_like(arr)
    rows = max(1, (1 << 20) // (w * arr.shape[2]))  # a band of rows at a time: the sums are 8 bytes a value
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        acc = np.zeros((y1 - y0,) + arr.shape[1:], dtype=np.int64 if exact else np.float64)
        for dx, dy in line:
            acc += pad[r + dy + y0:r + dy + y1, r + dx:r + dx + w]
        out[y0:y1] = (2 * acc + n) // (2 * n) if exact else acc / n
    return _from_colour(out, F.split_alpha(image)[0].mode, alpha)


def median_blur(image: Image.Image, size: int) -> Image.Image:
    """The median of each size x size window per colour band, edges replicated: exactly
    ``scipy.ndimage.median_filter(band, size=size, mode="nearest")`` (augcli.kernels.median's
    comparator network for 8-bit data; numpy's median of the windows otherwise)."""
    import numpy as np

    if size <= 1:
        return image.copy()
    if F.kernel_layout(image) is not None:
        from .. import kernels

        return F.run_kernel(image, kernels.median, size)
    arr, alpha = _colour_array(image)
    r = size // 2
    pad = _edge_window(arr, r)
    h, w = arr.shape[:2]
    out = np.empty_like(arr)
    windows = np.lib.stride_tricks.sliding_window_view(pad, (size, size), axis=(0, 1))
    # a band of rows at a time (about 2^22 window values): the windows are copied to be partitioned
    rows = max(1, (1 << 22) // (w * arr.shape[2] * size * size))
    for y0 in range(0, h, rows):
        block = windows[y0:y0 + rows].reshape(*windows[y0:y0 + rows].shape[:3], size * size)
        out[y0:y0 + rows] = np.partition(block, size * size // 2, axis=-1)[..., size * size // 2]
    return _from_colour(out, F.split_alpha(image)[0].mode, alpha)


DOWNSCALE_FILTERS = ("nearest", "box", "bilinear", "bicubic")


_BAND_VALUES = 1 << 22  # float64 values of the enlargement the 16-bit/float downscale holds at a time


def _area_rows(n: int, m: int, a: np.ndarray) -> np.ndarray:
    """``a`` (n, ...) shrunk to m rows by area averaging: row X is the mean of the source rows
    under [X n / m, (X + 1) n / m), partly covered rows weighted by their cover (a few source rows
    at a time, so only the shrunk rows are held in float64)."""
    import numpy as np

    out = np.empty((m,) + a.shape[1:])
    for X in range(m):
        lo, hi = X * n / m, (X + 1) * n / m
        i0, i1 = int(math.floor(lo)), min(n, int(math.ceil(hi)))
        i = np.arange(i0, i1)
        cover = np.minimum(i + 1, hi) - np.maximum(i, lo)
        out[X] = np.tensordot(cover, a[i0:i1], axes=1) * (m / n)
    return out


def _lerp_rows(a: np.ndarray, n: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows start..stop of ``a`` (m, ...) enlarged to n rows bilinearly, pixel centres aligned,
    edges replicated."""
    import numpy as np

    m = a.shape[0]
    u = np.clip((np.arange(start, n if stop is None else stop) + 0.5) * m / n - 0.5, 0, m - 1)
    i = np.floor(u).astype(np.int64)
    f = (u - i).reshape((-1,) + (1,) * (a.ndim - 1))
    return a[i] * (1 - f) + a[np.minimum(i + 1, m - 1)] * f


def downscale(image: Image.Image, scale: float, filter: str) -> Image.Image:
    """Shrink the colour bands to round(scale * side) pixels (at least 1) and enlarge them back to
    the original size; alpha is kept as it was. ``bilinear``: area averaging down (each low-res
    pixel the mean of the source pixels it covers, partly covered ones weighted by their cover, as
    a low-resolution sensor integrates light), rounded half up, then bilinear up with pixel centres
    aligned and edges replicated (augcli.kernels.downscale on 8-bit data; the same in float64 numpy
    otherwise, rounded to whole values for integer data). The other filters: Pillow's resize both
    ways (16-bit data resized as 32-bit integers)."""
    from PIL import Image

    w, h = image.size
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    if small == (w, h):
        return image.copy()
    if filter == "bilinear" and F.kernel_layout(image) is not None:
        from .. import kernels

        return F.run_kernel(image, kernels.downscale, small)
    colour, alpha = F.split_alpha(image)
    if filter == "bilinear":
        import numpy as np

        arr, alpha = _colour_array(image)
        exact = arr.dtype.kind != "f"
        low = _area_rows(w, small[0], _area_rows(h, small[1], arr).swapaxes(0, 1)).swapaxes(0, 1)
        low = np.floor(low + 0.5) if exact else low
        out = np.empty_like(arr)
        rows = max(1, _BAND_VALUES // (w * arr.shape[2]))  # a band of output rows at a time
        for y0 in range(0, h, rows):
            band = _lerp_rows(_lerp_rows(low, h, y0, min(h, y0 + rows)).swapaxes(0, 1), w).swapaxes(0, 1)
            out[y0:y0 + rows] = np.floor(band + 0.5) if exact else band
        return _from_colour(out, colour.mode, alpha)
    resample = {"nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX,
                "bicubic": Image.Resampling.BICUBIC}[filter]
    work = colour.convert("I") if colour.mode == "I;16" else colour
    out = work.resize(small, resample).resize((w, h), resample)
    if colour.mode == "I;16":
        import numpy as np

        out = F.from_array(np.clip(np.asarray(out), 0, 65535).astype("<u2"), "I;16")
    return F.merge_alpha(out, alpha)


# sqrt(Y / 255) 2^16 for Y = 0..255: scaling by 2^16 is exact, so s sqrt(Y / 255) 2^16 rounds to the
# same double whichever product comes first
_ROOTS_16 = [math.sqrt(y / 255.0) * 65536.0 for y in range(256)]


def iso_sigmas(sigma: float, colour: float) -> tuple[list[int], list[int]]:
    """The ISO noise's standard deviations per luma Y = 0..255 in 16.16 fixed point (0-255 units):
    luminance ``sigma sqrt(Y / 255)`` and chroma ``colour`` times that (IEEE double, correctly
    rounded square roots, rounded half to even: the same integers everywhere)."""
    import numpy as np

    roots = np.array(_ROOTS_16)
    lum = np.rint(float(sigma) * roots).astype(np.int64).tolist()
    chroma = np.rint((float(colour) * float(sigma)) * roots).astype(np.int64).tolist()
    return lum, chroma


def iso_noise(image: Image.Image, sigma: float, colour: float, noise_seed: int) -> Image.Image:
    """Sensor (ISO) noise: with Y a pixel's luma in 0-255 units, every colour band gets
    ``sigma sqrt(Y / 255) z0`` (one z0 per pixel: luminance shot noise, brighter pixels noisier) plus
    ``colour sigma sqrt(Y / 255) zc`` (one zc per band: colour noise), rounded and clipped. 8-bit
    images: augcli.kernels.iso_noise (counter-based draws keyed by ``noise_seed``, luma with the
    601 integer weights); 16-bit and float data: numpy.random.default_rng(noise_seed), 601 luma."""
    import numpy as np

    layout = F.kernel_layout(image)
    if layout is not None:
        from .. import kernels

        return F.run_kernel(image, kernels.iso_noise, *iso_sigmas(sigma, colour), noise_seed)
    scale = F.value_scale(F.split_alpha(image)[0].mode)

    def add(a: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(noise_seed)
        luma = F.luma_of(a) / scale
        spread = sigma * np.sqrt(np.clip(luma, 0.0, 255.0) / 255.0) * scale
        z0 = rng.standard_normal(a.shape[:2] + (1,))
        zc = rng.standard_normal(a.shape)
        return a + spread * (z0 + colour * zc)

    return F.map_colour(image, add)


DROPOUT_FILLS = ("black", "grey", "white", "random", "noise")
_FILL_LEVELS = {"black": 0.0, "grey": 128.0, "white": 255.0}
_GOLDEN = 0x9E3779B97F4A7C15
FILL_STREAM = 0x66696C6C  # "fill"


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's output function on uint64 arrays (the kernels' counter-based generator)."""
    import numpy as np

    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def noise_fill(seed: int, box: Sequence[int], width: int, bands: int) -> np.ndarray:
    """Uniform 0..255 values for the pixels of ``box`` (x, y, w, h) of an image ``width`` wide:
    pixel i = y width + x takes band c from byte c of mix64(key + (i + 1) golden), key =
    mix64(seed golden + "fill"); each pixel's values depend only on the seed and its place."""
    import numpy as np

    x, y, bw, bh = (int(v) for v in box)
    with np.errstate(over="ignore"):
        key = _mix64(np.array([(int(seed) * _GOLDEN + FILL_STREAM) & (2**64 - 1)], dtype=np.uint64))[0]
        index = (np.arange(y, y + bh, dtype=np.uint64)[:, None] * np.uint64(width)
                 + np.arange(x, x + bw, dtype=np.uint64)[None, :] + np.uint64(1))
        r = _mix64(key + index * np.uint64(_GOLDEN))
    shifts = np.arange(bands, dtype=np.uint64) * np.uint64(8)
    return ((r[..., None] >> shifts) & np.uint64(255)).astype(np.uint8)


def fill_holes(image: Image.Image, holes: Sequence[Sequence[int]], fill: str,
               colours: Sequence[Sequence[float]] | None = None, noise_seed: int = 0) -> Image.Image:
    """Fill each (x, y, w, h) hole's colour bands: a level (black 0, grey 128, white 255), a solid
    colour per hole (``colours``, 0-255 units; both as ``functional.erase``: rounded half to even,
    scaled to 16-bit data), or per-pixel uniform noise (``noise_fill``; 8-bit images through
    augcli.kernels.fill_noise, the same values). Alpha is kept."""
    import numpy as np
    from PIL import Image

    if fill != "noise":
        solid = colours if fill == "random" else [[_FILL_LEVELS[fill]] * 3] * len(holes)
        return F.erase(image, holes, solid)
    layout = F.kernel_layout(image)
    if layout is not None:
        from .. import kernels

        out = image.copy()
        view = kernels.pixels(out, writable=True) if image.mode in ("L", "RGB") else None
        bpp, nc = (4 if image.mode == "RGB" else 1, layout[1]) if view is not None else layout
        buf = view if view is not None else bytearray(image.tobytes())
        for hole in holes:
            kernels.fill_noise(buf, image.size, bpp, nc, hole, noise_seed)
        return out if view is not None else Image.frombytes(image.mode, image.size, bytes(buf))
    arr, alpha = _colour_array(image)
    mode = F.split_alpha(image)[0].mode
    for x, y, w, h in holes:
        values = noise_fill(noise_seed, (x, y, w, h), image.size[0], arr.shape[2]).astype(np.float64) * F.value_scale(mode)
        arr[y:y + h, x:x + w] = values if arr.dtype.kind == "f" else np.rint(values)
    return _from_colour(arr, mode, alpha)


def grid_holes(size: tuple[int, int], unit: int, hole: int, dx: int, dy: int) -> list[list[int]]:
    """The squares GridMask drops on a canvas of ``size``: side ``hole``, one in the top-left corner
    of every ``unit`` x ``unit`` cell of a grid shifted by (dx, dy), clipped to the canvas."""
    w, h = size
    holes = []
    for y0 in range(dy - unit, h, unit):
        for x0 in range(dx - unit, w, unit):
            x1, y1 = min(x0 + hole, w), min(y0 + hole, h)
            xa, ya = max(x0, 0), max(y0, 0)
            if x1 > xa and y1 > ya:
                holes.append([xa, ya, x1 - xa, y1 - ya])
    return holes


def grid_mask(image: Image.Image, unit: int, hole: int, dx: int, dy: int) -> Image.Image:
    """Black out the colour bands of the ``grid_holes`` squares (alpha kept). L and RGB images are
    written in Pillow's own memory (RGB as whole 4-byte pixels, the fourth byte kept by a mask);
    other modes through ``fill_holes``."""
    import numpy as np

    from .. import kernels

    holes = grid_holes(image.size, unit, hole, dx, dy)
    out = image.copy() if image.mode in ("L", "RGB") else None
    view = kernels.pixels(out, writable=True) if out is not None else None
    if view is None:
        return fill_holes(image, holes, "black")
    w, h = image.size
    if image.mode == "L":
        pixels = np.frombuffer(view, dtype=np.uint8).reshape(h, w)
        for x, y, bw, bh in holes:
            pixels[y:y + bh, x:x + bw] = 0
        return out
    words = np.frombuffer(view, dtype=np.uint32).reshape(h, w)
    keep = np.frombuffer(bytes((0, 0, 0, 255)), dtype=np.uint32)[0]  # the pad byte, in this byte order
    for x, y, bw, bh in holes:
        words[y:y + bh, x:x + bw] &= keep
    return out


# ---------------------------------------------------------------------------------------------------
# the ops
