"""Atomic writes through hidden temporary files, safe on shared file systems.

A temporary file is named ``.VISIBLE.HOST.PID.RANDOM.tmp`` beside its target:

- VISIBLE is the target's name, cut (at a UTF-8 character boundary) so that the whole temporary name
  never exceeds the file system's name limit (NAME_MAX, 255 bytes on most), whatever the target's name;
- HOST is the first 8 hex digits of blake2b(hostname): on a file system shared by several machines,
  a run only ever removes temporaries of its own machine;
- PID is the writing process, RANDOM 8 hex digits.

The file is created and renamed through a descriptor of its folder (``openat``/``linkat``), so only
the folder's path and the name must fit the system's limits, never folder + temporary name.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import secrets
import socket
from pathlib import Path
from typing import BinaryIO, Callable, Union

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

DEFAULT_NAME_MAX = 255
TEMP_PATTERN = re.compile(rb"^\.(?P<visible>.*)\.(?P<host>[0-9a-f]{8})\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$", re.DOTALL)
_DIR_FD = os.open in os.supports_dir_fd and os.link in os.supports_dir_fd and os.unlink in os.supports_dir_fd


class NameTooLong(OSError):
    """An output name longer than the file system allows (a per-file error, never fatal)."""

    def __init__(self, name: bytes, limit: int) -> None:
        super().__init__(errno.ENAMETOOLONG,
                         f"name too long: {len(name)} bytes, the file system allows {limit}")


@functools.lru_cache(maxsize=1)
def host_tag() -> str:
    """8 hex digits naming this machine: blake2b of its host name."""
    return hashlib.blake2b(socket.gethostname().encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()


def name_max(folder: PathLike | int) -> int:
    """The longest file name (bytes) the file system of ``folder`` (a path or a descriptor) allows."""
    try:
        limit = os.fpathconf(folder, "PC_NAME_MAX") if isinstance(folder, int) else os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return DEFAULT_NAME_MAX
    return limit if isinstance(limit, int) and limit > 0 else DEFAULT_NAME_MAX


def temp_name(name: bytes, limit: int = DEFAULT_NAME_MAX) -> bytes:
    """The temporary name for the target name ``name`` (bytes), at most ``limit`` bytes long."""
    tail = f".{host_tag()}.{os.getpid()}.{secrets.token_hex(4)}.tmp".encode("ascii")
    room = max(0, limit - 1 - len(tail))
    visible = name
    if len(visible) > room:
        cut = room
        while 0 < cut and (visible[cut] & 0xC0) == 0x80:  # do not split a UTF-8 character
            cut -= 1
        visible = visible[:cut]
    return b"." + visible + tail


def temp_path(path: PathLike):
    """A hidden temporary path beside ``path``, unique to this process, of the same type (bytes for
    bytes, else a Path)."""
    raw = os.fsencode(path)
    parent, name = os.path.split(raw)
    tmp = os.path.join(parent, temp_name(name, name_max(parent or b".")))
    return tmp if isinstance(path, bytes) else Path(os.fsdecode(tmp))


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended: a killed process whose parent has not yet
    reaped it (a zombie) still answers kill(pid, 0), but will never finish its temporary file."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]  # the field after "(command name)"
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(pid, 0) is all there is


def is_stale(name: bytes) -> bool:
    """True for a temporary name of THIS machine whose process no longer exists."""
    m = TEMP_PATTERN.match(name)
    return bool(m) and m.group("host").decode("ascii") == host_tag() and not _pid_alive(int(m.group("pid")))


def remove_stale_temporaries(root: PathLike) -> int:
    """Delete temporary files left under ``root`` by processes of this machine that no longer exist
    (a run killed with SIGKILL cannot clean up after itself). Temporaries of live processes, and
    every temporary of another machine sharing the folder, are left alone."""
    removed = 0
    for dirpath, _, filenames in os.walk(os.fsencode(root)):
        for name in filenames:
            if is_stale(name):
                try:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
                except OSError:
                    pass
    return removed


def write_atomic(path: PathLike, data: bytes | Callable[[BinaryIO], None], *, overwrite: bool) -> bool:
    """Write ``data`` (bytes, or a function writing them into an open file) to ``path`` through a
    temporary file in the same folder and a rename, so no reader ever sees a partial file under ``path``. Without ``overwrite``, an existing ``path``
    (perhaps created by a concurrent run) is left alone and False is returned. A name longer than the
    file system allows raises NameTooLong (an OSError with errno ENAMETOOLONG)."""
    parent, name = os.path.split(os.fsencode(path))
    parent = parent or b"."
    if not _DIR_FD:  # no *at() calls on this system: plain paths
        os.makedirs(parent, exist_ok=True)
        return _write_in(None, parent, name, data, overwrite)
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        folder = os.open(parent, flags)
    except FileNotFoundError:  # the first output of a folder (makedirs for every output cost 50 us)
        os.makedirs(parent, exist_ok=True)
        folder = os.open(parent, flags)
    try:
        return _write_in(folder, parent, name, data, overwrite)
    finally:
        os.close(folder)


def _write_in(folder: int | None, parent: bytes, name: bytes, data: bytes | Callable[[BinaryIO], None],
              overwrite: bool) -> bool:
    limit = name_max(folder if folder is not None else parent)
    if len(name) > limit:
        raise NameTooLong(name, limit)
    if folder is None:
        tmp, target, at = os.path.join(parent, temp_name(name, limit)), os.path.join(parent, name), {}
        pair: dict = {}
    else:
        tmp, target, at = temp_name(name, limit), name, {"dir_fd": folder}
        pair = {"src_dir_fd": folder, "dst_dir_fd": folder}
    # The open is inside the try: a Ctrl-C delivered as os.open returns (the interpreter checks
    # for signals there) must still remove the temporary. A name that exists is not ours to remove.
    ours = True
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666, **at)
        except FileExistsError:
            ours = False
            raise
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
        if overwrite:
            os.replace(tmp, target, **pair)
            return True
        try:
            os.link(tmp, target, **pair)  # atomic create-if-absent
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if _lexists(target, at):  # file system without hard links: best effort
                return False
            os.replace(tmp, target, **pair)
            return True
        return True
    finally:
        if ours:
            try:
                os.unlink(tmp, **at)
            except FileNotFoundError:
                pass


def _lexists(name: bytes, at: dict) -> bool:
    try:
        os.stat(name, follow_symlinks=False, **at)
    except OSError:
        return False
    return True
