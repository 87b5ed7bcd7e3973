"""Segmentation masks: paired by relative path and stem, warped with the image's matrix by nearest
neighbour only, values and palette kept, always written as PNG, never touched by pixel ops."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image

from .. import warping as W
from .errors import LabelError

MASK_EXTENSIONS = (".png", ".tif", ".tiff", ".bmp", ".gif")
LOSSY_EXTENSIONS = (".jpg", ".jpeg", ".webp")


def find_mask(folder: Path, stem: str, suffix: str = "") -> Path | None:
    """The mask ``folder/stem{suffix}{ext}`` for a lossless extension (then a lossy one), or None."""
    for ext in (*MASK_EXTENSIONS, *LOSSY_EXTENSIONS):
        p = folder / f"{stem}{suffix}{ext}"
        try:
            if stat.S_ISREG(os.stat(p).st_mode):
                return p
        except OSError:
            continue
    return None


def load_mask(path: Path, shown: str, max_pixels: int, expect: tuple[int, int] | None = None) -> Image.Image:
    """A mask in a mode whose values are labels: P (palette kept), L, I;16, or RGB colour maps.
    No colour conversion of P, no 16-bit cut, no EXIF. With ``expect`` (the image's size) a mask
    of another size is refused from its header, before its pixels are decoded."""
    try:
        with open(path, "rb") as fh, Image.open(fh) as im:
            if im.size[0] * im.size[1] > max_pixels:
                raise LabelError(f"{shown}: mask too large: {im.size[0] * im.size[1]} pixels > limit {max_pixels}")
            if expect is not None and im.size != tuple(expect):
                raise LabelError(f"{shown}: mask is {im.size[0]}x{im.size[1]}, image is {expect[0]}x{expect[1]}")
            im.load()
            mode = im.mode
            if mode in ("P", "L", "I;16", "RGB"):
                out = im.copy()
            elif mode == "1":
                out = im.convert("L")
            elif mode.startswith("I;16"):
                out = Image.frombytes("I;16", im.size, np.asarray(im).astype("<u2").tobytes())
            elif mode == "I":
                arr = np.asarray(im)
                if arr.min() < 0 or arr.max() > 65535:
                    raise LabelError(f"{shown}: 32-bit mask values outside 0..65535 are not supported")
                out = Image.frombytes("I;16", im.size, arr.astype("<u2").tobytes())
            elif mode in ("RGBA", "LA", "PA"):
                out = im.convert("RGB" if mode != "LA" else "L")
            else:
                raise LabelError(f"{shown}: mask mode {mode} is not supported")
            if mode == "P":
                out.info.pop("transparency", None)
            return out
    except LabelError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise LabelError(f"{shown}: cannot read mask: {exc}") from None


def warp_mask(mask: Image.Image, matrix: np.ndarray, size: tuple[int, int], fill: int) -> Image.Image:
    """``mask`` through the output's (output -> input) matrix by nearest neighbour; pixels from
    outside the mask take ``fill``. The mode, the values and a palette are kept."""
    m = np.asarray(matrix, dtype=float)
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    if mask.mode == "P":
        raw = Image.frombytes("L", mask.size, mask.tobytes())
        out = W.warp(raw, m, size, fill_mode="constant", cval=float(fill), interpolation="nearest")
        res = Image.frombytes("P", size, out.tobytes())
        palette = mask.getpalette()
        if palette is not None:
            res.putpalette(palette)
        return res
    # warping.warp takes the fill in 0-255 units; 16-bit data is 257 units per unit
    cval = fill / 257.0 if mask.mode == "I;16" else float(fill)
    return W.warp(mask, m, size, fill_mode="constant", cval=cval, interpolation="nearest")


def resize_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """--resize for a mask: nearest neighbour only."""
    if mask.size == tuple(size):
        return mask
    out = mask.resize(tuple(size), Image.Resampling.NEAREST)
    if mask.mode == "P" and mask.getpalette() is not None:
        out.putpalette(mask.getpalette())
    return out


def encode_mask(mask: Image.Image) -> bytes:
    buf = io.BytesIO()
    mask.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
