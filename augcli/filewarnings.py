"""Python warnings raised while a file is read or made become one line about that file.

Pillow reports some oddities of a file through ``warnings.warn`` (``Corrupt EXIF data.``, a
truncated EXIF block, a palette with too many colours...), and numpy through RuntimeWarning. Raw,
they would reach the user as two lines naming Pillow's source file and not the image. Inside
``file_warnings()`` each such warning is caught and kept as a short message, so the caller can print
``augcli: <file>: warning: <what>`` and record it. Dropped, because augcli already handles the
condition: Pillow's DecompressionBombWarning (``--max-pixels`` is checked from the header first).
Warnings about code rather than the file (deprecations, unclosed resources) are not about the image
and are dropped too. ``install_one_line_warnings`` makes any other warning print as one line.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from typing import Iterator

from .fsnames import one_line

DROPPED = ("DecompressionBombWarning",)  # class names: Pillow need not be imported here
_NATIVE_LIMIT = 64 * 1024  # bytes of native stderr kept per file
NOT_ABOUT_THE_FILE = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning, ImportWarning)


def describe(warning: warnings.WarningMessage) -> str | None:
    """The one-line text of a caught warning, or None if it is dropped."""
    category = warning.category
    if category.__name__ in DROPPED or issubclass(category, NOT_ABOUT_THE_FILE):
        return None
    text = one_line(str(warning.message).strip()) or category.__name__
    return text


class _Chunk:
    """The capture shared by the sources of one chunk (see ``chunk_warnings``)."""

    def __init__(self, caught: list, spool: int) -> None:
        self.caught = caught  # the warnings recorded since the chunk began, emptied after each source
        self.spool = spool  # file descriptor 2 points here for the whole chunk


_CHUNK: _Chunk | None = None


@contextmanager
def chunk_warnings() -> Iterator[None]:
    """For a worker making several sources in a row with nothing else printing in between: the
    warning filters and file descriptor 2 are switched once for the whole block rather than once
    per source. Each ``file_warnings`` block inside it still gets exactly its own source's messages
    (Python warnings recorded during it, native stderr written during it)."""
    global _CHUNK
    if _CHUNK is not None:
        yield
        return
    native: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _native_stderr(native) as spool:
            if spool is None:  # no stderr to point elsewhere: each source captures alone
                yield
                return
            _CHUNK = _Chunk(caught, spool)
            try:
                yield
            finally:
                _CHUNK = None


@contextmanager
def file_warnings() -> Iterator[list[str]]:
    """Catch every warning raised inside the block, and every line a C library (libtiff, say)
    writes straight to the process's stderr meanwhile; the list it yields is filled, on exit, with
    the distinct messages (in order), dropped ones left out."""
    messages: list[str] = []
    native: list[str] = []
    chunk = _CHUNK
    if chunk is not None:
        del chunk.caught[:]  # anything from between sources is not this source's
        try:
            yield messages
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            if os.lseek(chunk.spool, 0, os.SEEK_CUR):  # something was written: the rare case
                _take_spool(chunk.spool, native)
            for text in [describe(w) for w in chunk.caught] + native:
                if text is not None and text not in messages:
                    messages.append(text)
            del chunk.caught[:]
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every file gets its own warnings, not once per process
        try:
            with _native_stderr(native):
                yield messages
        finally:
            for text in [describe(w) for w in caught] + native:
                if text is not None and text not in messages:
                    messages.append(text)


@contextmanager
def _native_stderr(lines: list[str]) -> Iterator[int | None]:
    """Point file descriptor 2 at a temporary file (yielded; None if there is no stderr) inside the
    block; its lines go to ``lines``. (Decoders such as libtiff print their complaints with
    fprintf(stderr), not through Python.)"""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no stderr at all: nothing to catch
        yield None
        return
    try:
        spool = _spool()
        os.dup2(spool, 2)
        try:
            yield spool
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            _take_spool(spool, lines)
    finally:
        os.close(saved)


def _take_spool(spool: int, lines: list[str]) -> None:
    """Move the lines written into the spool to ``lines`` and empty it."""
    os.lseek(spool, 0, os.SEEK_SET)
    text = os.read(spool, _NATIVE_LIMIT).decode("utf-8", "backslashreplace")
    os.lseek(spool, 0, os.SEEK_SET)  # emptied for the next source (no os.pread on Windows)
    os.ftruncate(spool, 0)
    # a progress bar refreshed from another thread meanwhile is not the file's
    lines.extend(one_line(line.strip()) for line in text.split("\n") if line.strip() and "\r" not in line)


_SPOOL: tuple[int, int] | None = None  # (process id, file descriptor)


def _spool() -> int:
    """This process's file for native stderr, emptied after each use: one per process rather than
    one per source, since creating and deleting a file per image made the file system's inode
    allocator a measurable share of a run (ext4 scans past recently deleted inodes). In memory
    (memfd) where the system has it. A forked child makes its own: the parent's is shared with it."""
    global _SPOOL
    if _SPOOL is None or _SPOOL[0] != os.getpid():
        memfd = getattr(os, "memfd_create", None)
        if memfd is not None:
            try:
                fd = memfd("augcli-stderr", getattr(os, "MFD_CLOEXEC", 0))
            except OSError:
                fd = -1
        else:
            fd = -1
        if fd < 0:
            import tempfile  # here: keeps `augcli --help` fast

            fd = os.dup(tempfile.TemporaryFile().fileno())
            os.set_inheritable(fd, False)
        _SPOOL = (os.getpid(), fd)
    return _SPOOL[1]


def install_one_line_warnings() -> None:
    """Print every warning that escapes a ``file_warnings`` block as ``augcli: warning: <what>``."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = describe(warnings.WarningMessage(message, category, filename, lineno))
        if text is not None:
            try:
                print(f"augcli: warning: {text}", file=file or sys.stderr, flush=True)
            except (OSError, ValueError):
                pass

    warnings.showwarning = show
