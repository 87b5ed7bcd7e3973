"""Where sources are read and outputs written: a local folder, or object storage through fsspec
(``s3://``, ``gs://``, ``memory://``...; ``file://`` is a local folder).

One small interface, two implementations:

- LocalStore keeps augcli's atomic writes: a hidden temporary file, then a link (create-if-absent)
  or a replace (overwrite), so no reader ever sees a partial file.
- RemoteStore writes each object to its final key in one request (objects appear whole or not at
  all; there is no rename), create-if-absent with mode ``"xb"`` where the store supports it (s3fs
  maps it to ``If-None-Match: *``). It lists a prefix once (``find``, sorted) instead of asking per
  key, and reads a source with one ``cat_file``.

Credentials come from the store library's usual environment and config files. They never reach a
manifest, a stats file, a log line or an error message: URLs are recorded without their user-info
part, and errors are reported by their reason only.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable

from .errors import InputError, UsageError
from .imageio import write_atomic
from .safefiles import FileRefused
from .safepaths import check_output_rel
from .tempfiles import same_bytes

LOCAL_SCHEMES = ("", "file", "local")
# user[:secret]@ after the scheme (a secret may hold a "/", a key without ":" may not)
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(?:[^@/:]*:[^@]*|[^@/:]*)@")


def scheme(location: str) -> str:
    return location.split("://", 1)[0].lower() if "://" in location else ""


def is_url(location: Any) -> bool:
    return isinstance(location, str) and "://" in location


def is_remote(location: str | None) -> bool:
    return location is not None and scheme(location) not in LOCAL_SCHEMES


def redact(location: str) -> str:
    """The location without credentials embedded in it (``scheme://user:secret@host/...``), in
    every part of an fsspec chained URL (``simplecache::s3://user:secret@bucket/...``)."""
    return "::".join(_USERINFO.sub(r"\1", part) for part in location.split("::"))


def local_path(location: str) -> Path:
    """The local path of a ``file://`` URL (or a plain path)."""
    return Path(location.split("://", 1)[1]) if is_url(location) else Path(location)


def reason(exc: BaseException) -> str:
    """An exception's reason, for a one-line error (never the request, its headers or signature)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


class LocalStore:
    """A local folder (today's behaviour)."""

    remote = False

    def __init__(self, root: Path, shown: str | None = None) -> None:
        self.root = Path(root)
        self.shown = shown or str(root)

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists()

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def write(self, rel: str, data: bytes | Callable[[BinaryIO], None], *, overwrite: bool) -> bool:
        return write_atomic(self.root / check_output_rel(rel), data, overwrite=overwrite)

    def same_bytes(self, rel: str, data: bytes) -> bool:
        return same_bytes(self.root / rel, data)

    def names(self, rel: str) -> list[str]:
        """The names in a folder ([] when it does not exist): one listing."""
        try:
            return os.listdir(self.root / rel)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def fetch(self, rel: str, max_pixels: int | None = None) -> Path:
        return self.root / rel

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink(missing_ok=True)

    def open_lines(self, rel: str, size: int | None = None):
        return open(self.root / rel, encoding="utf-8")

    def release(self, path: Path) -> None:
        pass

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)


FETCH_BLOCK = 1 << 20  # bytes of a remote source read at a time (the first block holds the header)
# Formats whose first block may not identify them although the file is good: a TIFF's first IFD
# may sit at its end, a JPEG may carry megabytes of APPn segments before its frame header.
_READ_ON = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+", b"\xff\xd8\xff")


def max_source_bytes(max_pixels: int | None) -> int:
    """The most a source within ``max_pixels`` may take: 16 bytes a pixel (twice 16-bit RGBA,
    more than any format's uncompressed or worst-case compressed data) plus 64 MiB of metadata."""
    from .imageio import DEFAULT_MAX_PIXELS

    return 16 * (DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels) + (64 << 20)


def _header_verdict(head: bytes, max_pixels: int | None) -> None:
    """Refuse a remote source from its first block, before the rest is read: bytes no image
    decoder recognises (``cannot identify image file``, as for a local file), or a header whose
    pixel count is over the limit (``too large``)."""
    import io

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # augcli's own limit is checked below, as for local files
    try:
        with Image.open(io.BytesIO(head)) as im:
            w, h = im.size
    except Image.UnidentifiedImageError:
        if head.startswith(_READ_ON):
            return
        raise InputError("cannot identify image file") from None
    except Exception:  # a header the first block cannot finish: the loader will say what is wrong
        return
    if max_pixels is not None and w * h > max_pixels:
        raise InputError(f"too large: {w * h} pixels > limit {max_pixels}")


class RemoteStore:
    """A prefix of an fsspec filesystem (object storage)."""

    remote = True

    def __init__(self, url: str) -> None:
        try:
            from fsspec.core import url_to_fs
        except ImportError:
            raise UsageError(f"{redact(url)!r} needs fsspec and the store's backend: "
                             "pip install 'augcli[s3]' (s3fs) or gcsfs for gs://") from None
        self.shown = redact(url)
        try:
            self.fs, root = url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise UsageError(f"cannot open {self.shown!r}: {reason(exc)} (for s3:// install augcli[s3])") from None
        self.root = root.rstrip("/")
        self.listing: set[str] | None = None  # relative keys, when listed once
        self.sizes: dict[str, int | None] = {}  # relative key -> its size, from the last find()

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def __getstate__(self) -> dict[str, Any]:
        # the sizes of the listing serve the parent's label mirror only: never shipped to workers
        return {**self.__dict__, "sizes": {}}

    def find(self) -> list[str]:
        """Every key under the prefix, relative and sorted: one listing (paged by the store)."""
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:  # the store's own errors (permissions, network): one clear line
            raise UsageError(f"cannot list {self.shown!r}: {reason(exc)}") from None
        prefix = self.root + "/"
        self.sizes = {k[len(prefix):]: (info or {}).get("size") for k, info in found.items() if k.startswith(prefix)}
        return sorted(self.sizes)

    def list_once(self) -> None:
        """Remember which keys exist (``--on-exists skip`` / ``error``), so no key is asked for."""
        self.listing = set(self.find())

    def exists(self, rel: str) -> bool:
        if self.listing is not None:
            return rel in self.listing
        return self.fs.exists(self.path(rel))

    def read(self, rel: str) -> bytes:
        return self.fs.cat_file(self.path(rel))

    def read_limited(self, rel: str, limit: int) -> bytes | None:
        """A small object (a label file) whole, or None if there is no such key; FileRefused when it
        is larger than ``limit`` bytes (never read further) or cannot be read."""
        try:
            data = self.fs.cat_file(self.path(rel), start=0, end=limit + 1)  # one ranged GET
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise FileRefused(f"cannot read: {reason(exc)}") from None
        if len(data) > limit:
            raise FileRefused(f"larger than {limit} bytes")
        return data

    def write(self, rel: str, data: bytes, *, overwrite: bool) -> bool:
        path = self.path(check_output_rel(rel))
        try:
            if overwrite:
                self.fs.pipe_file(path, data)
                return True
            try:
                with self.fs.open(path, "xb") as fh:  # one conditional PUT at close
                    fh.write(data)
            except (NotImplementedError, ValueError):  # no create-if-absent in this store: best effort
                if self.fs.exists(path):
                    return False
                self.fs.pipe_file(path, data)
            return True
        except FileExistsError:
            return False
        except OSError:
            raise
        except Exception as exc:
            raise OSError(f"{type(exc).__name__}: {reason(exc)}") from None

    def same_bytes(self, rel: str, data: bytes) -> bool:
        try:
            return self.read(rel) == data
        except Exception:
            return False

    def names(self, rel: str) -> list[str]:
        try:
            entries = self.fs.ls(self.path(rel), detail=False, refresh=True)
        except FileNotFoundError:
            return []
        return [PurePosixPath(e).name for e in entries]

    def fetch(self, rel: str, max_pixels: int | None = None) -> Path:
        """The source's bytes in a local temporary file, for the loader; ``release`` removes it
        once the image is decoded. The object is copied in ranges of FETCH_BLOCK bytes, never held
        whole in memory; after the first range its header decides whether the rest is read (see
        ``_header_verdict``), and at most ``max_source_bytes(max_pixels)`` bytes are read."""
        limit = max_source_bytes(max_pixels)
        fd, name = tempfile.mkstemp(prefix="augcli-src-")
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with self.fs.open(self.path(rel), "rb", block_size=FETCH_BLOCK, cache_type="none") as fh:
                        first = fh.read(FETCH_BLOCK)
                        out.write(first)
                        if len(first) == FETCH_BLOCK:  # more to come: is it worth reading?
                            _header_verdict(first, max_pixels)
                        got = len(first)
                        while True:
                            chunk = fh.read(min(FETCH_BLOCK, limit + 1 - got))
                            if not chunk:
                                break
                            got += len(chunk)
                            if got > limit:
                                raise InputError(f"larger than {limit} bytes, more than an image within the "
                                                 "pixel limit needs")
                            out.write(chunk)
                except InputError:
                    raise
                except Exception as exc:
                    raise InputError(f"cannot read: {reason(exc)}") from None
        except BaseException:
            self.release(Path(name))
            raise
        return Path(name)

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm_file(self.path(rel))
        except FileNotFoundError:
            pass

    def open_lines(self, rel: str, size: int | None = None):
        """Stream a text object in 1 MiB ranges (``size``, when known, saves asking for it)."""
        import io

        extra = {"size": size} if size is not None else {}
        return io.TextIOWrapper(self.fs.open(self.path(rel), "rb", block_size=2**20, **extra), encoding="utf-8")

    def release(self, path: Path) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass

    def prepare(self) -> None:
        pass


def open_store(location: str | Path) -> LocalStore | RemoteStore:
    text = str(location) if not isinstance(location, str) else location
    if is_remote(text):
        return RemoteStore(text)
    return LocalStore(local_path(text), shown=redact(text))
