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
from typing import Sequence

from . import _warp

KERNEL_VERSION = 1
PATHS = ("scalar", "avx2", "avx512")
ENV = "AUGCLI_KERNELS"
FILLS = {"nearest": 0, "reflect": 1, "wrap": 2, "constant": 3}
INTERPOLATIONS = {"nearest": 0, "bilinear": 1}

_MODULES = [_warp]
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


def warp(src: bytes | bytearray | memoryview, size: tuple[int, int], bpp: int, matrix: Sequence[Sequence[float]],
         out_size: tuple[int, int], *, fill: str, interpolation: str, cval: bytes, wide: bool = False,
         out: bytearray | memoryview | None = None) -> bytearray | memoryview:
    """Resample a packed, contiguous source of ``size`` (w, h) with ``bpp`` bytes per pixel (1, 2 or
    4; ``wide``: one 16-bit little-endian sample) through the 3x3 output -> input ``matrix`` (pixel
    centres at integers) into ``out`` (or a new buffer) of ``out_size``. ``cval`` is one pixel of
    the fill colour in the source's layout (used by the constant fill)."""
    w, h = (int(v) for v in size)
    ow, oh = (int(v) for v in out_size)
    if w < 1 or h < 1 or ow < 1 or oh < 1:
        raise ValueError(f"warp: sizes must be positive, got {size} -> {out_size}")
    if bpp not in (1, 2, 4) or (wide and bpp != 2):
        raise ValueError(f"warp: {bpp} bytes per pixel is not supported")
    if len(src) != w * h * bpp:
        raise ValueError(f"warp: the source has {len(src)} bytes, {w}x{h}x{bpp} needs {w * h * bpp}")
    if len(cval) != bpp:
        raise ValueError(f"warp: the fill pixel has {len(cval)} bytes, not {bpp}")
    m = [float(v) for row in matrix for v in row]
    if len(m) == 6:
        m += [0.0, 0.0, 1.0]
    if len(m) != 9 or not all(math.isfinite(v) for v in m):
        raise ValueError(f"warp: the matrix must be 3x3 (or 2x3) finite numbers, got {matrix!r}")
    if out is None:
        out = bytearray(ow * oh * bpp)
    elif len(out) != ow * oh * bpp:
        raise ValueError(f"warp: the output has {len(out)} bytes, {ow}x{oh}x{bpp} needs {ow * oh * bpp}")
    _warp.warp(src, w, h, w * bpp, bpp, int(wide), out, ow, oh, ow * bpp, tuple(m), FILLS[fill],
               INTERPOLATIONS[interpolation], bytes(cval))
    return out
