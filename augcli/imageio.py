"""Reading sources and writing outputs: mode policy, EXIF, size limits, encoders, atomic writes."""

from __future__ import annotations

import io
import os
import stat
import sys
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
from PIL import Image, ImageOps

from .errors import InputError
# temporary files and atomic writes (names within NAME_MAX, host-tagged clean-up) live in tempfiles
from .tempfiles import TEMP_PATTERN, remove_stale_temporaries, temp_path, write_atomic  # noqa: F401

# Extension (lower case, with dot) -> the Pillow format we save as; "same" keeps these.
FORMATS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp", "tiff": ".tif"}
_SAVE_FORMAT_FOR_EXT = {
    ".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".jfif": "jpeg",
    ".png": "png", ".webp": "webp", ".bmp": "bmp", ".tif": "tiff", ".tiff": "tiff",
}
# Candidate inputs, by extension (case-insensitive). Content decides in the end.
IMAGE_EXTENSIONS = frozenset(
    [*_SAVE_FORMAT_FOR_EXT, ".gif", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".dib"]
)
DEFAULT_MAX_PIXELS = 100_000_000
LOSSY = ("jpeg", "webp")


@dataclass(frozen=True)
class LoadOptions:
    exif_transpose: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    resize: tuple[int, int] | None = None  # (width, height)


def output_format(source: Path | str, fmt: str) -> tuple[str, str]:
    """(Pillow format name, extension) an output of ``source`` is written in, for ``--format``.
    ``same`` keeps JPEG/PNG/WebP/BMP/TIFF (and the source's spelling of the extension); any other
    source format (GIF, PNM, ...) is written as PNG."""
    if fmt == "same":
        ext = Path(source).suffix
        name = _SAVE_FORMAT_FOR_EXT.get(ext.lower())
        return (name, ext) if name else ("png", ".png")
    return fmt, FORMATS[fmt]


def _check_regular(path: Path) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError("not a regular file")


def normalise_mode(image: Image.Image) -> Image.Image:
    """Bring any Pillow mode into one of the working modes L, LA, RGB, RGBA, I;16, I, F.

    1 -> L; P -> RGBA when it has transparency, else RGB; PA -> RGBA; CMYK/YCbCr/LAB/HSV -> RGB;
    La/RGBa/RGBX -> LA/RGBA/RGB; I;16B/I;16L/I;16N -> I;16. Everything else is kept.
    """
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA", "I;16", "I", "F"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if mode in ("PA", "RGBa", "RGBX"):
        return image.convert("RGBA" if mode != "RGBX" else "RGB")
    if mode == "La":
        return image.convert("LA")
    if mode.startswith("I;16"):
        return image.convert("I").convert("I;16") if mode != "I;16" else image
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    return image.convert("RGBA" if "A" in mode else "RGB")


@contextmanager
def opened(path: Path, options: LoadOptions) -> Iterator[Image.Image]:
    """Open ``path`` lazily (header only), refuse it if it is over the pixel limit, and turn every
    decoder failure inside the block into an InputError with a short reason."""
    _check_regular(path)
    # Our own limit, checked from the header before any pixel is decoded, replaces Pillow's global
    # one (which warns above its value and refuses at twice it).
    Image.MAX_IMAGE_PIXELS = None
    try:
        with open(path, "rb") as fh, Image.open(fh) as im:
            w, h = im.size
            if w * h > options.max_pixels:
                raise InputError(f"too large: {w * h} pixels > limit {options.max_pixels}")
            yield im
    except InputError:
        raise
    except Image.UnidentifiedImageError:
        raise InputError("cannot identify image file") from None
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg:
            raise InputError(f"truncated image ({msg})") from None
        raise InputError(f"cannot decode: {msg}") from None
    except MemoryError:
        raise InputError("out of memory while decoding") from None
    except (ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError, OverflowError,
            struct.error) as exc:  # what Pillow's plugins raise for malformed files
        raise InputError(f"cannot decode: {type(exc).__name__}: {exc}") from None


def contiguous_images() -> None:
    """Let Pillow keep every image in one piece of memory (it splits large ones into 16 MiB blocks
    by default; it allocates no more than an image needs either way), so augcli's kernels can read
    and write Pillow's own pixels without a copy."""
    if Image.core.get_block_size() < 1 << 30:
        Image.core.set_block_size(1 << 30)
        _reuse_freed_memory()


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")  # type: ignore[union-attr]
    except (ValueError, OSError, AttributeError):  # not glibc (musl), or no confstr
        return False


def _reuse_freed_memory() -> None:
    """Keep freed image-sized buffers (below 32 MiB) in the C heap for the next output instead of
    returning them to the system: on the VMs we measured, every fresh page costs a fault of about
    2.5 us, which was half the cost of a pixel op on a 500x375 image. glibc only (mallopt); a no-op
    elsewhere. Larger buffers (big images) are still mapped and unmapped one by one."""
    import ctypes

    if not sys.platform.startswith("linux") or not _glibc():
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def load_image(path: Path, options: LoadOptions) -> Image.Image:
    """Decode ``path`` (first frame of an animation or a multi-page file) into a working mode,
    EXIF orientation applied unless turned off. Raises InputError with a short reason."""
    contiguous_images()
    with opened(path, options) as im:
        if options.resize and im.format == "JPEG":
            # let libjpeg decode at 1/2, 1/4 or 1/8 scale when we shrink anyway (exact DCT scaling)
            tw, th = options.resize
            im.draft(im.mode, (th, tw) if swaps(im, options) else (tw, th))
        im.load()  # the pixels are in memory from here on; closing the file does not touch them
        if options.exif_transpose:
            ImageOps.exif_transpose(im, in_place=True)  # no copy when there is nothing to turn
        out = normalise_mode(im)
    if options.resize and out.size != tuple(options.resize):
        out = out.resize(tuple(options.resize), Image.Resampling.BILINEAR, reducing_gap=None)
    return out


def swaps(im: Image.Image, options: LoadOptions) -> bool:
    if not options.exif_transpose:
        return False
    try:
        return im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception:  # a broken EXIF block must not stop the decode
        return False


def source_size(path: Path, options: LoadOptions) -> tuple[int, int]:
    """The (width, height) of ``path`` as load_image would give it, read from the header only."""
    if options.resize:
        return tuple(options.resize)  # type: ignore[return-value]
    with opened(path, options) as im:
        w, h = im.size
        return (h, w) if swaps(im, options) else (w, h)


def _flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Composite an image with alpha over an opaque background colour."""
    colour_mode = "RGB" if image.mode == "RGBA" else "L"
    bg = background if colour_mode == "RGB" else round(sum(background) / 3)
    base = Image.new(colour_mode, image.size, bg)
    base.paste(image.convert(colour_mode), mask=image.getchannel("A"))
    return base


def _to_8bit(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I"):  # 16-bit data: divide by 257 (through 32-bit I)
        as_int = image if image.mode == "I" else image.convert("I")
        return as_int.point(lambda v: v / 257.0, "F").convert("L")
    if image.mode == "F":
        return image.convert("L")
    return image


def prepare_for_format(image: Image.Image, fmt: str, background: tuple[int, int, int]) -> Image.Image:
    """Convert to a mode ``fmt`` can hold, by the documented rules:
    - JPEG / BMP: no alpha -> composite on ``background``; 16-bit and float -> 8-bit (/257);
    - PNG: keeps L, LA, RGB, RGBA and 16-bit I;16; I is clipped to 16 bits; F -> 8-bit;
    - WebP: 8-bit RGB / RGBA (grey is expanded, 16-bit reduced);
    - TIFF: keeps every working mode.
    """
    mode = image.mode
    if fmt == "tiff":
        return image
    if fmt == "png":
        if mode == "I":  # 32-bit grey: clamp into 16 bits
            arr = np.clip(np.asarray(image), 0, 65535).astype("<u2")
            return Image.frombytes("I;16", image.size, arr.tobytes())
        if mode == "F":
            return _to_8bit(image)
        return image
    image = _to_8bit(image)
    if fmt in ("jpeg", "bmp"):
        return _flatten(image, background) if image.mode in ("RGBA", "LA") else image
    if fmt == "webp":
        if image.mode == "LA":
            return image.convert("RGBA")
        return image.convert("RGB") if image.mode == "L" else image
    return image


def encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    """Encode to bytes. No EXIF is written, so no stale orientation tag survives."""
    buf = io.BytesIO()
    encode_into(image, fmt, quality, buf)
    return buf.getvalue()


def encode_into(image: Image.Image, fmt: str, quality: int, fh: BinaryIO) -> None:
    """Encode into an open binary file: the same bytes as ``encode``, without holding them all."""
    kwargs: dict = {}
    if fmt == "jpeg":
        kwargs = {"quality": quality}
    elif fmt == "webp":
        kwargs = {"quality": quality, "method": 4}
    elif fmt == "png":
        kwargs = {"compress_level": 6}
    elif fmt == "tiff":
        kwargs = {"compression": "tiff_adobe_deflate"}
    image.save(fh, format=fmt.upper(), **kwargs)

