"""Atomic writes through hidden temporary files, safe on shared file systems.

A temporary file is named ``.VISIBLE.HOST.PID.RANDOM.tmp`` beside its target:

- VISIBLE is the target's name, cut (at a UTF-8 character boundary) so that the whole temporary name
  never exceeds the file system's name limit (NAME_MAX, 255 bytes on most), whatever the target's name;
- HOST is the first 8 hex digits of blake2b(hostname): on a file system shared by several machines,
  a run only ever removes temporaries of its own machine;
- PID is the writing process, RANDOM 8 hex digits: a per-process counter from a random start, so
  a name left by an earlier process with the same (reused) PID is unlikely to be met, and skipped if it is.

The file is created and renamed through a descriptor of its folder (``openat``/``renameat2`` or
``linkat``), so only the folder's path and the name must fit the system's limits, never folder +
temporary name. Without overwrite, the temporary is renamed with RENAME_NOREPLACE where the kernel and
file system have it (one change to the folder instead of a link and an unlink), else linked then removed:
either way an existing target is never replaced. Inside ``folders_kept()`` each folder is opened (and
asked its name limit) once rather than per file.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import itertools
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Union

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

DEFAULT_NAME_MAX = 255
TEMP_PATTERN = re.compile(rb"^\.(?P<visible>.*)\.(?P<host>[0-9a-f]{8})\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$", re.DOTALL)
_DIR_FD = os.open in os.supports_dir_fd and os.link in os.supports_dir_fd and os.unlink in os.supports_dir_fd


class NameTooLong(OSError):
    """An output name longer than the file system allows (a per-file error, never fatal)."""

    def __init__(self, name: bytes, limit: int) -> None:
        super().__init__(errno.ENAMETOOLONG,
                         f"name too long: {len(name)} bytes, the file system allows {limit}")


def host_name() -> str:
    """This machine's name, as socket.gethostname() gives it (without importing socket at start-up)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


@functools.lru_cache(maxsize=1)
def host_tag() -> str:
    """8 hex digits naming this machine: blake2b of its host name."""
    return hashlib.blake2b(host_name().encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()


def name_max(folder: PathLike | int) -> int:
    """The longest file name (bytes) the file system of ``folder`` (a path or a descriptor) allows."""
    try:
        limit = os.fpathconf(folder, "PC_NAME_MAX") if isinstance(folder, int) else os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return DEFAULT_NAME_MAX
    return limit if isinstance(limit, int) and limit > 0 else DEFAULT_NAME_MAX


class _Process:
    """This process's id and temporary-name counter, made again in a forked child."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.counter = itertools.count(int.from_bytes(os.urandom(4), "little"))
        self.head = b".%s.%d." % (host_tag().encode("ascii"), self.pid)

    def tail(self) -> bytes:
        return self.head + b"%08x.tmp" % (next(self.counter) & 0xFFFFFFFF)


_PROCESS = _Process()


def _after_fork() -> None:
    global _PROCESS
    _PROCESS = _Process()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def temp_name(name: bytes, limit: int = DEFAULT_NAME_MAX) -> bytes:
    """The temporary name for the target name ``name`` (bytes), at most ``limit`` bytes long."""
    tail = _PROCESS.tail()
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


def pid_alive(pid: int) -> bool:
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
    return bool(m) and m.group("host").decode("ascii") == host_tag() and not pid_alive(int(m.group("pid")))


def private_folder(prefix: str) -> Path:
    """A new private folder in the system's temporary folder, named ``PREFIX<host>-<pid>-<random>``;
    folders of that prefix left by dead processes of this machine and this user (a run killed with
    SIGKILL) are removed first."""
    import shutil
    import tempfile

    base = Path(tempfile.gettempdir())
    pattern = re.compile(re.escape(prefix) + r"(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[^/]+$")
    try:
        with os.scandir(base) as entries:
            for entry in entries:
                m = pattern.match(entry.name)
                if m and m.group("host") == host_tag() and not pid_alive(int(m.group("pid"))) and \
                        entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.getuid():
                    shutil.rmtree(entry.path, ignore_errors=True)
    except OSError:
        pass  # a temporary folder we cannot list: nothing of ours to sweep
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{host_tag()}-{os.getpid()}-"))


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


_KEPT = threading.local()  # .folders: {parent path: _Folder} inside folders_kept(), else absent/None
_KEEP_AT_MOST = 8
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_NAME_TRIES = 4  # temporary names tried before a name that exists is an error


class _Folder:
    """An open output folder: its descriptor, its name limit, and whether RENAME_NOREPLACE works in it
    (None: not tried yet)."""

    __slots__ = ("fd", "limit", "noreplace")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.limit = name_max(fd)
        self.noreplace: bool | None = None


@contextmanager
def folders_kept() -> Iterator[None]:
    """Inside the block, ``write_atomic`` keeps the last few folders it wrote into open and reuses
    them (and their name limits): the outputs of one source usually share a folder. A folder removed
    meanwhile is noticed (creating a file in it fails) and opened again by path. Nested blocks share
    the outer one's folders; each thread has its own."""
    if getattr(_KEPT, "folders", None) is not None:
        yield
        return
    folders: dict[bytes, _Folder] = {}
    _KEPT.folders = folders
    try:
        yield
    finally:
        _KEPT.folders = None
        for folder in folders.values():
            os.close(folder.fd)


def _open_folder(parent: bytes) -> _Folder:
    try:
        fd = os.open(parent, _DIR_FLAGS)
    except FileNotFoundError:  # the first output of a folder (makedirs for every output cost 50 us)
        os.makedirs(parent, exist_ok=True)
        fd = os.open(parent, _DIR_FLAGS)
    try:
        return _Folder(fd)
    except BaseException:
        os.close(fd)
        raise


def write_atomic(path: PathLike, data: bytes | Callable[[BinaryIO], None], *, overwrite: bool) -> bool:
    """Write ``data`` (bytes, or a function writing them into an open file) to ``path`` through a
    temporary file in the same folder and a rename, so no reader ever sees a partial file under ``path``. Without ``overwrite``, an existing ``path``
    (perhaps created by a concurrent run) is left alone and False is returned. A name longer than the
    file system allows raises NameTooLong (an OSError with errno ENAMETOOLONG)."""
    parent, name = os.path.split(os.fsencode(path))
    return write_atomic_in(parent or b".", name, data, overwrite=overwrite)


def write_atomic_in(parent: bytes, name: bytes, data: bytes | Callable[[BinaryIO], None], *, overwrite: bool) -> bool:
    """``write_atomic`` of the file ``name`` in the folder ``parent`` (both bytes)."""
    if not _DIR_FD:  # no *at() calls on this system: plain paths
        os.makedirs(parent, exist_ok=True)
        return _write_in(None, parent, name, data, overwrite)
    kept = getattr(_KEPT, "folders", None)
    if kept is None:
        folder = _open_folder(parent)
        try:
            return _write_in(folder, parent, name, data, overwrite)
        finally:
            os.close(folder.fd)
    folder = kept.get(parent)
    if folder is not None:
        try:
            return _write_in(folder, parent, name, data, overwrite)
        except FileNotFoundError:  # the folder was removed since it was opened: open it again below
            del kept[parent]
            os.close(folder.fd)
    folder = _open_folder(parent)
    if len(kept) >= _KEEP_AT_MOST:
        os.close(kept.pop(next(iter(kept))).fd)
    kept[parent] = folder
    return _write_in(folder, parent, name, data, overwrite)


def _write_in(folder: _Folder | None, parent: bytes, name: bytes, data: bytes | Callable[[BinaryIO], None],
              overwrite: bool) -> bool:
    limit = folder.limit if folder is not None else name_max(parent)
    if len(name) > limit:
        raise NameTooLong(name, limit)
    # names relative to the folder's descriptor, or (without one) paths; dir_fd=None is "no folder"
    dfd = folder.fd if folder is not None else None
    target = name if folder is not None else os.path.join(parent, name)
    # The open is inside the try: a Ctrl-C delivered as os.open returns (the interpreter checks
    # for signals there) must still remove the temporary. A name that exists is not ours to remove.
    tmp = None
    try:
        for attempt in range(_NAME_TRIES):
            name_tried = temp_name(name, limit)
            if folder is None:
                name_tried = os.path.join(parent, name_tried)
            tmp = name_tried
            try:
                fd = os.open(name_tried, _TMP_FLAGS, 0o666, dir_fd=dfd)
            except FileExistsError:  # left by an earlier process that had our PID, or another writer's
                tmp = None
                if attempt + 1 == _NAME_TRIES:
                    raise
                continue
            break
        if callable(data):
            with os.fdopen(fd, "wb") as fh:
                data(fh)
        else:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        if overwrite:
            os.replace(tmp, target, src_dir_fd=dfd, dst_dir_fd=dfd)
            tmp = None
            return True
        if folder is not None and folder.noreplace is not False:
            moved = _rename_noreplace(folder, tmp, target)
            if moved is not None:
                if moved:
                    tmp = None
                return moved
        try:
            os.link(tmp, target, src_dir_fd=dfd, dst_dir_fd=dfd)  # atomic create-if-absent
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if _lexists(target, dfd):  # file system without hard links: best effort
                return False
            os.replace(tmp, target, src_dir_fd=dfd, dst_dir_fd=dfd)
            tmp = None
            return True
        return True
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except FileNotFoundError:
                pass


_RENAME_NOREPLACE = 1
_renameat2: Callable | None | bool = False  # False: not looked up yet; None: the C library has none


def _libc_renameat2():
    global _renameat2
    if _renameat2 is False:
        _renameat2 = None
        if os.name == "posix":
            try:
                import ctypes  # here: keeps `augcli --help` fast

                fn = ctypes.CDLL(None, use_errno=True).renameat2
                fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
                fn.restype = ctypes.c_int
                _renameat2 = fn
            except (OSError, AttributeError, ImportError):
                pass
    return _renameat2


def _rename_noreplace(folder: _Folder, tmp: bytes, target: bytes) -> bool | None:
    """Rename ``tmp`` to ``target`` in ``folder`` unless ``target`` exists: True if renamed, False if
    it exists, None if the system or the folder's file system cannot (the caller links instead)."""
    fn = _libc_renameat2()
    if fn is None:
        folder.noreplace = False
        return None
    if fn(folder.fd, tmp, folder.fd, target, _RENAME_NOREPLACE) == 0:
        folder.noreplace = True
        return True
    import ctypes

    err = ctypes.get_errno()
    if err == errno.EEXIST:
        return False
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        folder.noreplace = False  # this file system (or kernel) has no RENAME_NOREPLACE
        return None
    raise OSError(err, os.strerror(err), os.fsdecode(target))


def same_bytes(path: bytes | os.PathLike, data: bytes) -> bool:
    """Whether the file at ``path`` holds exactly ``data`` (False if it cannot be read)."""
    try:
        if os.stat(path).st_size != len(data):
            return False
        with open(path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


def _lexists(name: bytes, dfd: int | None) -> bool:
    try:
        os.stat(name, follow_symlinks=False, dir_fd=dfd)
    except OSError:
        return False
    return True
