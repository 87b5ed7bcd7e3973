"""Pure image functions: PIL image (plus plain parameters) in, new PIL image out. Here: value
ranges, the colour / alpha plumbing and the photometric, noise and compression ops; the warp is in
``augcli.warping``, the ImageOps tone ops in ``augcli.tonal``.

No randomness here: every random choice arrives as an argument, so each function can be tested
with fixed values and any output can be recomputed from a manifest.

Working modes (see ``augcli.imageio.normalise_mode``): L, LA, RGB, RGBA (8 bits per band),
I;16 (16-bit grey), I (32-bit int grey, treated as 16-bit data) and F (32-bit float grey).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from PIL import Image

from . import geometry
from . import kernels

# ---------------------------------------------------------------------------------------------------
# value ranges


def max_value(mode: str) -> float:
    """The white level of a mode, in its own units: 65535 for 16-bit data (I;16, and I, which holds
    16-bit data here), 255 otherwise (F is taken to be in 0-255 units)."""
    return 65535.0 if mode in ("I;16", "I") else 255.0


def value_scale(mode: str) -> float:
    """Mode units per 0-255 unit (257 for 16-bit data, 1 otherwise)."""
    return max_value(mode) / 255.0


def clip_limits(mode: str) -> tuple[float, float] | None:
    return None if mode == "F" else (0.0, max_value(mode))


def from_array(arr: np.ndarray, mode: str) -> Image.Image:
    """An image of ``mode`` from an array laid out as ``np.asarray`` gives it (mode kept exactly)."""
    h, w = arr.shape[:2]
    return Image.frombytes(mode, (w, h), np.ascontiguousarray(arr).tobytes())


# ---------------------------------------------------------------------------------------------------
# photometric: these act on the colour bands only; alpha passes through untouched


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if image.mode in ("RGBA", "LA"):
        bands = image.split()
        colour = Image.merge("RGB", bands[:3]) if image.mode == "RGBA" else bands[0]
        return colour, bands[-1]
    return image, None


def merge_alpha(colour: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return colour
    if colour.mode == "L":
        return Image.merge("LA", (colour, alpha))
    return Image.merge("RGBA", (*colour.split(), alpha))


# 8-bit modes the pixel kernels take: (bytes per pixel, colour bands first); alpha bytes are kept
KERNEL_LAYOUTS = {"L": (1, 1), "LA": (2, 1), "RGB": (3, 3), "RGBA": (4, 3), "RGBX": (4, 3)}


def kernel_layout(image: Image.Image) -> tuple[int, int] | None:
    return KERNEL_LAYOUTS.get(image.mode)


# modes whose Pillow memory the kernels read and write without a copy: RGB is kept as 4 bytes a pixel
_VIEW_LAYOUTS = {"L": (1, 1), "RGB": (4, 3)}


def _source_pixels(image: Image.Image) -> tuple[Any, int, int]:
    """An 8-bit image's pixels as the kernels read them: (buffer, bytes per pixel, colour bands),
    Pillow's own memory where it can be viewed, else a packed copy."""
    view = kernels.pixels(image) if image.mode in _VIEW_LAYOUTS else None
    if view is not None:
        return (view, *_VIEW_LAYOUTS[image.mode])
    return (image.tobytes(), *KERNEL_LAYOUTS[image.mode])


def run_kernel(image: Image.Image, kernel, *args, in_place: bool = False) -> Image.Image:
    """``kernel(src, size, bpp, nc, *args, out=...)`` on an 8-bit image, as a new image: read from
    and written into Pillow's own memory (L, RGB), or through packed copies (LA, RGBA).
    ``in_place``: the caller owns ``image`` and gives it up, and the kernel may write over its own
    source (``kernels.lut``, ``kernels.bytemap``): an L or RGB image is then written in its own
    memory and returned itself."""
    if in_place and image.mode in _VIEW_LAYOUTS and not image.readonly:  # readonly: a caller's buffer
        target = kernels.pixels(image, writable=True)
        if target is not None:
            kernel(target, image.size, *_VIEW_LAYOUTS[image.mode], *args, out=target)
            return image
    src, bpp, nc = _source_pixels(image)
    if isinstance(src, memoryview):
        out = Image.new(image.mode, image.size, None)  # not cleared: the kernel writes every byte
        target = kernels.pixels(out, writable=True)
        if target is not None:
            kernel(src, image.size, bpp, nc, *args, out=target)
            return out
        src, (bpp, nc) = image.tobytes(), KERNEL_LAYOUTS[image.mode]
    return Image.frombytes(image.mode, image.size, kernel(src, image.size, bpp, nc, *args))


def map_values(image: Image.Image, per_band: Sequence[np.ndarray] | None = None, fn=None, *,
               in_place: bool = False) -> Image.Image:
    """Apply a value map to the colour bands. 8-bit images use one lookup-table pass over every band
    (``per_band`` tables of 256 entries, or ``fn`` evaluated on 0..255; alpha is kept); other modes
    evaluate ``fn`` on the pixel values. ``in_place``: as ``run_kernel``'s."""
    layout = kernel_layout(image)
    if layout is None:
        return map_colour(image, fn)
    nc = layout[1]
    if per_band is None:
        table = np.asarray(fn(np.arange(256, dtype=np.float64)))
        per_band = [table] * nc
    lut = np.clip(np.rint(np.asarray(per_band[:nc], dtype=np.float64)), 0, 255).astype(np.uint8).tobytes()
    return run_kernel(image, kernels.lut, lut, in_place=in_place)


# The value maps below take ``in_place`` (map_values'): the caller gives ``image`` up, so it may be
# written over and returned.


def brightness(image: Image.Image, factor: float, *, in_place: bool = False) -> Image.Image:
    """Multiply the colour values by ``factor`` (PIL ImageEnhance.Brightness: 0 black, 1 unchanged)."""
    return map_values(image, fn=lambda v: v * factor, in_place=in_place)


def channel_shift(image: Image.Image, offsets: Sequence[float], *, in_place: bool = False) -> Image.Image:
    """Add ``offsets[i]`` (0-255 units) to colour band i, clipped to the valid range.
    Greyscale images use the first offset only."""
    colour, _ = split_alpha(image)
    if colour.mode in ("L", "RGB"):
        ramp = np.arange(256, dtype=np.float64)
        return map_values(image, per_band=[ramp + offsets[i] for i in range(len(colour.getbands()))],
                          in_place=in_place)
    return map_values(image, fn=lambda v: v + offsets[0] * value_scale(colour.mode), in_place=in_place)


# ---------------------------------------------------------------------------------------------------
# more photometric ops, noise and compression (colour bands only; alpha passes through untouched)

_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, as Pillow's convert("L")


def map_colour(image: Image.Image, fn) -> Image.Image:
    """Apply ``fn`` to the colour bands as a float array of shape (h, w, bands) in the mode's own
    units; the result is rounded and clipped to the mode's range (F is neither) and alpha is kept."""
    colour, alpha = split_alpha(image)
    arr = np.asarray(colour)
    # float32 is exact for 8-bit values and halves the memory traffic; 16-bit and float keep float64
    work = np.float32 if arr.dtype == np.uint8 else np.float64
    out = fn(arr.astype(work).reshape(arr.shape[0], arr.shape[1], -1))
    limits = clip_limits(colour.mode)
    if limits is not None:
        out = np.clip(np.rint(out), *limits)
    return merge_alpha(from_array(out.reshape(arr.shape).astype(arr.dtype), colour.mode), alpha)


def luma_of(arr: np.ndarray) -> np.ndarray:
    """Per-pixel luma (h, w, 1) of an (h, w, bands) array: 601-2 weights for RGB, the value for grey."""
    return arr @ _LUMA[:, None].astype(arr.dtype) if arr.shape[-1] == 3 else arr[..., :1]


def contrast(image: Image.Image, factor: float, *, in_place: bool = False) -> Image.Image:
    """Scale the distance of every colour value from the image's mean luma by ``factor``
    (PIL ImageEnhance.Contrast, with an unrounded mean: 0 = flat mean grey, 1 = unchanged)."""
    layout = kernel_layout(image)
    if layout is not None:  # exact band sums
        src, bpp, nc = _source_pixels(image)
        sums = kernels.channel_sums(src, image.size, bpp, nc)
        n = image.size[0] * image.size[1]
        mean = (float(_LUMA @ np.asarray(sums, dtype=np.float64)) if len(sums) == 3 else float(sums[0])) / n
    else:
        colour, _ = split_alpha(image)
        values = np.asarray(colour).astype(np.float64)
        mean = float((values @ _LUMA).mean() if values.ndim == 3 else values.mean())
    return map_values(image, fn=lambda v: mean + factor * (v - mean), in_place=in_place)


def saturation(image: Image.Image, factor: float) -> Image.Image:
    """Blend each pixel with its own luma (PIL ImageEnhance.Color): 0 = grey, 1 = unchanged.
    Grey images have no saturation: returned unchanged. 8-bit images use the integer kernel (luma
    with Pillow's 601 weights 19595, 38470, 7471 / 2^16, unrounded; see augcli.kernels.saturation);
    16-bit and float data use numpy with the 0.299, 0.587, 0.114 weights."""
    layout = kernel_layout(image)
    if layout is not None:
        if layout[1] != 3:
            return image.copy()
        return run_kernel(image, lambda src, size, bpp, nc, out=None:
                           kernels.saturation(src, size, bpp, factor, out=out))
    if len(split_alpha(image)[0].getbands()) != 3:
        return image.copy()
    def blend(a: np.ndarray) -> np.ndarray:
        luma = luma_of(a)
        return luma + a.dtype.type(factor) * (a - luma)

    return map_colour(image, blend)


def _rgb_to_hsv(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """colorsys.rgb_to_hsv on every pixel of an (h, w, 3) array (hue and saturation in 0..1)."""
    r, g, b = (np.ascontiguousarray(a[..., i]) for i in range(3))
    v = np.maximum(np.maximum(r, g), b)
    delta = v - np.minimum(np.minimum(r, g), b)
    s = np.divide(delta, v, out=np.zeros_like(v), where=v > 0)
    d = np.where(delta > 0, delta, 1.0)
    h = np.where(v == r, (g - b) / d, np.where(v == g, 2.0 + (b - r) / d, 4.0 + (r - g) / d))
    h = np.where(delta > 0, np.mod(h / 6.0, 1.0), 0.0)
    return h, s, v


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The closed form of the HSV cone: band n is v - v s clip(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6."""
    vs = v * s
    bands = []
    for n in (5.0, 3.0, 1.0):
        k = np.mod(n + 6.0 * h, 6.0)
        bands.append(v - vs * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))
    return np.stack(bands, axis=-1)


def hue(image: Image.Image, degrees: float) -> Image.Image:
    """Turn the hue of every pixel by ``degrees`` (HSV hue, as colorsys; saturation and value kept).
    Grey images have no hue: returned unchanged. 8-bit images use the exact integer kernel
    (augcli.kernels.hue); 16-bit and float data use numpy."""
    layout = kernel_layout(image)
    if layout is not None:
        if layout[1] != 3:
            return image.copy()
        return run_kernel(image, lambda src, size, bpp, nc, out=None: kernels.hue(src, size, bpp, degrees, out=out))
    if len(split_alpha(image)[0].getbands()) != 3:
        return image.copy()

    def turn(a: np.ndarray) -> np.ndarray:
        h, s, v = _rgb_to_hsv(a)
        return _hsv_to_rgb((h + degrees / 360.0) % 1.0, s, v)

    return map_colour(image, turn)


def gamma(image: Image.Image, g: float, *, in_place: bool = False) -> Image.Image:
    """Power curve on values normalised to 0..1: ``out = white * (in / white) ** g``
    (g > 1 darkens the mid-tones, g < 1 brightens them; black and white stay)."""
    white = max_value(image.mode)
    return map_values(image, fn=lambda v: white * (np.clip(v, 0, None) / white) ** g, in_place=in_place)


def lighting_field(size: geometry.Size, angle: float, strength: float) -> np.ndarray:
    """The (h, w) gain ``1 + strength * t``, where t runs linearly from -1 to +1 across the image
    towards direction ``angle`` (degrees; 0 = towards the right, 90 = towards the top)."""
    w, h = size
    cx, cy = geometry.centre(size)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    # an outer sum of a column term and a row term (no full-size coordinate grids)
    proj = ((np.arange(w) - cx) * c)[None, :] - ((np.arange(h) - cy) * s)[:, None]
    half = (abs(c) * (w - 1) + abs(s) * (h - 1)) / 2.0
    return 1.0 + strength * (proj / half if half > 0 else np.zeros_like(proj))


def _lighting_plane(size: geometry.Size, angle: float, strength: float) -> tuple[float, float, float]:
    """lighting_field as a plane: (gain at pixel (0, 0), gain step per column, per row)."""
    w, h = size
    cx, cy = geometry.centre(size)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    half = (abs(c) * (w - 1) + abs(s) * (h - 1)) / 2.0
    k = strength / half if half > 0 else 0.0
    return 1.0 + k * (-cx * c + cy * s), k * c, -k * s


def lighting(image: Image.Image, angle: float, strength: float) -> Image.Image:
    """Multiply the colour values by a smooth linear illumination gradient (see lighting_field).
    8-bit images use the fixed-point kernel (the same linear gain, 32.32, stepped exactly; see
    augcli.kernels.lighting); 16-bit and float data use numpy."""
    if kernel_layout(image) is not None:
        return run_kernel(image, kernels.lighting, *_lighting_plane(image.size, angle, strength))
    gain = lighting_field(image.size, angle, strength)[..., None]
    return map_colour(image, lambda a: a * gain.astype(a.dtype))


def grayscale(image: Image.Image) -> Image.Image:
    """Replace colour by its 601-2 luma in every colour band (Pillow's convert("L")), keeping the
    number of bands and the alpha. Grey images are returned unchanged."""
    colour, alpha = split_alpha(image)
    if len(colour.getbands()) != 3:
        return image.copy()
    grey = colour.convert("L")
    return merge_alpha(Image.merge("RGB", (grey, grey, grey)), alpha)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps, truncated at 4 sigma (scipy.ndimage's default)."""
    radius = max(1, int(4.0 * sigma + 0.5))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def convolve_axis(a: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Convolve along ``axis`` with a symmetric kernel and edge replication: the centre tap, then
    each pair of mirrored taps at once (a fixed order of operations, so results are reproducible)."""
    r = len(kernel) // 2
    n = a.shape[axis]
    first = np.take(a, [0], axis=axis)
    last = np.take(a, [n - 1], axis=axis)
    reps = [1] * a.ndim
    reps[axis] = r
    padded = np.concatenate((np.tile(first, reps), a, np.tile(last, reps)), axis=axis)

    def view(offset: int) -> np.ndarray:
        return padded[(slice(None),) * axis + (slice(r + offset, r + offset + n),)]

    out = a * a.dtype.type(kernel[r])
    pair = np.empty_like(a)
    for i in range(1, r + 1):
        np.add(view(-i), view(i), out=pair)
        pair *= a.dtype.type(kernel[r + i])
        out += pair
    return out


def blur(image: Image.Image, sigma: float) -> Image.Image:
    """True Gaussian blur of standard deviation ``sigma`` pixels (separable, truncated at 4 sigma,
    edges replicated: scipy.ndimage.gaussian_filter(mode="nearest")). Alpha is not blurred.
    8-bit images use the separable integer kernel (taps in units of 2^-16 summing exactly to 1; see
    augcli.kernels.blur); 16-bit and float data use numpy in float."""
    if sigma <= 0.0:
        return image.copy()
    if kernel_layout(image) is not None:
        return run_kernel(image, kernels.blur, sigma)
    kernel = gaussian_kernel(sigma)
    return map_colour(image, lambda a: convolve_axis(convolve_axis(a, kernel, 0), kernel, 1))


def gaussian_noise(image: Image.Image, sigma: float, noise_seed: int) -> Image.Image:
    """Add N(0, sigma) noise (0-255 units), drawn independently per pixel and colour band; clipped to
    the valid range. 8-bit images draw from augcli's own counter-based generator keyed by
    ``noise_seed`` (a fixed 4096-entry normal table, see augcli.kernels.gaussian_noise), so the bytes
    depend on neither numpy nor the CPU; 16-bit and float data still draw from
    ``numpy.random.default_rng(noise_seed).standard_normal``."""
    if kernel_layout(image) is not None:
        return run_kernel(image, kernels.gaussian_noise, sigma, noise_seed)
    scale = value_scale(image.mode)

    def add(a: np.ndarray) -> np.ndarray:
        noise = np.random.default_rng(noise_seed).standard_normal(a.shape, dtype=a.dtype)
        noise *= a.dtype.type(sigma * scale)
        return a + noise

    return map_colour(image, add)


def salt_pepper(image: Image.Image, amount: float, salt_ratio: float, noise_seed: int) -> Image.Image:
    """Set each pixel, with probability ``amount``, to white (a fraction ``salt_ratio`` of them) or
    black, in every colour band. 8-bit images draw from augcli's own counter-based generator keyed
    by ``noise_seed`` (see augcli.kernels.salt_pepper); 16-bit and float data draw from
    ``numpy.random.default_rng(noise_seed)``."""
    if kernel_layout(image) is not None:
        return run_kernel(image, kernels.salt_pepper, amount, salt_ratio, noise_seed)
    white = max_value(image.mode)

    def sprinkle(a: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(noise_seed)
        hit = rng.random(a.shape[:2]) < amount
        salt = rng.random(a.shape[:2]) < salt_ratio
        out = a.copy()
        out[hit & salt] = white
        out[hit & ~salt] = 0.0
        return out

    return map_colour(image, sprinkle)


def erase(image: Image.Image, boxes: Sequence[Sequence[int]], colours: Sequence[Sequence[float]]) -> Image.Image:
    """Fill each rectangle ``(left, top, width, height)`` (pixels) with a solid colour (0-255 units;
    grey images use the first value). Alpha is untouched. 8-bit images are filled by Pillow (the
    colour rounded half to even, as np.rint, and clipped: the same bytes as the array path)."""
    layout = kernel_layout(image)
    if layout is not None:
        bpp, nc = layout
        out = image.copy()
        for (x, y, w, h), colour in zip(boxes, colours):
            if w <= 0 or h <= 0:
                continue
            fill = tuple(int(v) for v in np.clip(np.rint(np.asarray(colour[:nc], dtype=np.float64)), 0, 255))
            box = (int(x), int(y), int(x) + int(w), int(y) + int(h))
            if bpp > nc:  # keep the box's own alpha
                patch = Image.new(image.mode, (int(w), int(h)), fill + (0,))
                patch.putalpha(image.crop(box).getchannel("A"))
                out.paste(patch, box)
            else:
                out.paste(fill if nc > 1 else fill[0], box)
        return out
    scale = value_scale(image.mode)

    def fill(a: np.ndarray) -> np.ndarray:
        out = a.copy()
        for (x, y, w, h), colour in zip(boxes, colours):
            out[y:y + h, x:x + w] = np.asarray(colour[:a.shape[-1]], dtype=np.float64) * scale
        return out

    return map_colour(image, fill)


def jpeg_round_trip(image: Image.Image, quality: int) -> Image.Image:
    """Encode the colour bands as a baseline JPEG at ``quality`` in memory and decode them again
    (Pillow's defaults: 4:2:0 chroma subsampling for RGB). Alpha is kept as it was. 16-bit and
    float data make the round trip at 8-bit precision (divided by 257, then multiplied back).
    The pixels are Pillow's (libjpeg-turbo's), computed by kernels.jpeg without the entropy coder on
    every kernel path, so they depend on neither the CPU nor the JPEG library Pillow was built with;
    Pillow makes only the rare round trip the kernel cannot decide."""
    if kernel_layout(image) is not None:
        return _jpeg_8bit(image, quality)
    colour, _ = split_alpha(image)
    scale = value_scale(colour.mode)
    arr = np.asarray(colour).astype(np.float64) / scale
    decoded = _jpeg_8bit(Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L"), quality)
    back = np.asarray(decoded).astype(np.float64) * scale
    return from_array(back.astype(np.asarray(colour).dtype), colour.mode)


def _jpeg_8bit(image: Image.Image, quality: int) -> Image.Image:
    try:
        return run_kernel(image, kernels.jpeg, int(quality))
    except kernels.JpegUndecided:
        pass
    import io

    colour, alpha = split_alpha(image)
    buf = io.BytesIO()
    colour.save(buf, format="JPEG", quality=int(quality))
    decoded = Image.open(io.BytesIO(buf.getvalue()))
    decoded.load()
    return merge_alpha(decoded, alpha)
