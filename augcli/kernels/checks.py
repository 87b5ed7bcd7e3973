"""The buffer checks every kernel wrapper makes before calling into C (which checks them again)."""

from __future__ import annotations

Buffer = bytes | bytearray | memoryview


def checked(what: str, src: Buffer, size: tuple[int, int], bpp: int, nc: int, want_nc: int = 0) -> tuple[int, int]:
    w, h = (int(v) for v in size)
    if w < 1 or h < 1:
        raise ValueError(f"{what}: the size must be positive, got {size}")
    if not (1 <= nc <= bpp <= 4) or (want_nc and nc != want_nc):
        raise ValueError(f"{what}: {nc} colour bands in {bpp} bytes per pixel is not supported")
    n = memoryview(src).nbytes
    if n != w * h * bpp:
        raise ValueError(f"{what}: the source has {n} bytes, {w}x{h}x{bpp} needs {w * h * bpp}")
    return w, h


def output(what: str, out: Buffer | None, size: tuple[int, int], bpp: int) -> Buffer:
    n = int(size[0]) * int(size[1]) * bpp
    if out is None:
        return bytearray(n)
    if memoryview(out).nbytes != n:
        raise ValueError(f"{what}: the output has {memoryview(out).nbytes} bytes, {size[0]}x{size[1]}x{bpp} needs {n}")
    return out
