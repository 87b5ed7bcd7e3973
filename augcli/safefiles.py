"""Bounded reads of small files a user's dataset names (label files, COCO JSON, dataset YAML).

A path there may be a named pipe (reading it blocks until someone writes), a device such as
``/dev/zero`` (endless), or a regular file larger than anything the format needs. ``read_limited``
opens without blocking, refuses anything but a regular file, and never reads more than the limit
plus one byte, so neither a hang nor an allocation of the file's choosing is possible.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path


class FileRefused(Exception):
    """A file cannot be read within its limits: ``str(exc)`` is the reason (no file name; the
    caller adds the name it shows)."""


def open_regular(path: str | os.PathLike) -> io.FileIO:
    """The regular file ``path`` opened for reading (unbuffered); FileRefused when it is anything
    else (a FIFO is opened without waiting for a writer, then refused) or cannot be opened."""
    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer; it is refused below
        fd = os.open(Path(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileRefused("not a regular file")
        return io.FileIO(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def read_head(path: str | os.PathLike, size: int) -> bytes:
    """At most the first ``size`` bytes of the regular file ``path`` (FileRefused otherwise)."""
    try:
        with open_regular(path) as fh:
            return fh.read(size) or b""
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror or exc}") from None


def read_limited(path: str | os.PathLike, limit: int) -> bytearray:
    """The bytes (at most ``limit``) of the regular file ``path``; FileRefused when it is not a
    regular file, is larger than ``limit``, or cannot be read (the reason, one line)."""
    with open_regular(path) as fh:
        try:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise FileRefused(f"larger than {limit} bytes")
            # one buffer of the announced size (+1 to see growth), read in place: no second copy
            buf = bytearray(size + 1)
            got = 0
            with memoryview(buf) as view:
                while got < len(buf):
                    n = fh.readinto(view[got:])
                    if not n:
                        break
                    got += n
            if got > size:  # the file grew after fstat: at most limit + 1 bytes in all
                rest = fh.read(limit + 1 - got) if got <= limit else b""
                buf[got:] = rest or b""
                got += len(rest or b"")
                if got > limit:
                    raise FileRefused(f"larger than {limit} bytes")
            del buf[got:]
            return buf
        except OSError as exc:
            raise FileRefused(f"cannot read: {exc.strerror or exc}") from None
