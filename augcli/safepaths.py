"""Names that come from untrusted places (object-store keys, flags, links) checked before use.

- ``unsafe_part`` / ``check_output_rel``: an output's relative name must stay under the output
  folder: not absolute, no empty, ``.`` or ``..`` segment, no NUL. Every write of an output goes
  through ``check_output_rel`` (the runner's writes and the stores' ``write``), whatever the name was
  made from.
- ``check_name_piece``: a piece of a file name given as a flag (``--prefix``, ``--mask-suffix``)
  must not move the file to another folder.
- ``within``: a file's real path (links resolved) lies inside a folder; used for the files read
  once per run (the dataset YAML, the COCO JSON), as it already is for label files and masks.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Callable

from .fsnames import inside, shown


class UnsafeOutputName(OSError):
    """An output name that would leave the output folder (a per-file error, never fatal)."""

    def __init__(self, rel: str, why: str) -> None:
        super().__init__(errno.EINVAL, f"unsafe output name (with {why}); refused")
        self.rel = rel


def unsafe_part(rel: str) -> str | None:
    """Why the relative "/"-separated name ``rel`` could leave the folder it is joined to, or None."""
    framed = f"/{rel}/"
    if rel and "\0" not in rel and "//" not in framed and "/./" not in framed and "/../" not in framed:
        return None  # every output name passes here: the reasons below are for the rare one that fails
    if not rel:
        return "an empty name"
    if "\0" in rel:
        return "a NUL byte"
    parts = rel.split("/")
    if any(p == "" for p in parts):  # also an absolute name ("/etc/x")
        return "an empty path segment"
    if any(p in (".", "..") for p in parts):
        return "a '.' or '..' segment"
    return None


def check_output_rel(rel: str) -> str:
    """``rel`` itself if it is a safe relative output name, else UnsafeOutputName (an OSError, so
    the write's caller records a per-file failure)."""
    why = unsafe_part(rel)
    if why is not None:
        raise UnsafeOutputName(rel, why)
    return rel


def check_name_piece(value: str, flag: str) -> str:
    """``value`` if it can be put inside a file name, else ValueError naming ``flag``."""
    for bad, what in (("/", "'/'"), ("\\", "'\\'"), ("\0", "a NUL byte")):
        if bad in value:
            raise ValueError(f"{flag} {shown(value)!r} must not contain {what}: it is part of a file name")
    if ".." in value:
        raise ValueError(f"{flag} {shown(value)!r} must not contain '..': it is part of a file name")
    return value


def within(path: Path | str | bytes, root: Path | str | bytes) -> bool:
    """True if ``path``, links resolved, is ``root`` or lies under it (``root`` resolved too)."""
    return inside(os.path.realpath(os.fsencode(path)), os.path.realpath(os.fsencode(root)))


def read_inside(path: Path, root: Path, shown_name: str, report: Callable[[str], None]) -> bool:
    """Whether the run-level file ``path`` may be read: its real path lies inside ``root`` (the
    input folder). If not, one warning line says it is not read (nor copied)."""
    if within(path, root):
        return True
    report(f"augcli: warning: {shown(shown_name)}: resolves outside the input folder (a symbolic link); "
           "not read and not copied")
    return False
