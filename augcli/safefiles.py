"""Bounded reads of small files a user's dataset names (label files, COCO JSON, dataset YAML).

A path there may be a named pipe (reading it blocks until someone writes), a device such as
``/dev/zero`` (endless), or a regular file larger than anything the format needs. ``read_limited``
opens without blocking, refuses anything but a regular file, and never reads more than the limit
plus one byte, so neither a hang nor an allocation of the file's choosing is possible.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileRefused(Exception):
    """A file cannot be read within its limits: ``str(exc)`` is the reason (no file name; the
    caller adds the name it shows)."""


def read_limited(path: str | os.PathLike, limit: int) -> bytearray:
    """The bytes (at most ``limit``) of the regular file ``path``; FileRefused when it is not a
    regular file, is larger than ``limit``, or cannot be read (the reason, one line)."""
    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer; it is refused below
        fd = os.open(Path(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused("not a regular file")
        if st.st_size > limit:
            raise FileRefused(f"larger than {limit} bytes")
        # one buffer of the announced size (+1 to see growth), read in place: no second copy
        buf = bytearray(st.st_size + 1)
        got = 0
        with memoryview(buf) as view:
            while got < len(buf):
                n = os.readv(fd, [view[got:]])
                if not n:
                    break
                got += n
        if got > st.st_size:  # the file grew after fstat: at most limit + 1 bytes in all
            rest = os.read(fd, limit + 1 - got) if got <= limit else b""
            buf[got:] = rest
            got += len(rest)
            if got > limit:
                raise FileRefused(f"larger than {limit} bytes")
        del buf[got:]
        return buf
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
