"""Where a run may read and write: the input and output folders checked before anything is
written, and the files written once per run (dataset YAML, COCO JSON) checked again just before."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Sequence

from ..errors import UsageError
from ..imageio import write_atomic


def inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def check_folders(input_dir: Path, output_dir: Path, hint: str = "") -> tuple[Path, Path]:
    """The resolved input and output folders, or a UsageError: the input must be a folder, and the
    output must not be (or be inside) the input, nor be a file. ``hint`` ends the missing-input
    message."""
    inp = Path(input_dir).resolve()
    out = Path(output_dir).resolve()
    if not inp.is_dir():
        raise UsageError(f"input folder {str(input_dir)!r} does not exist or is not a folder{hint}")
    if out == inp or inside(out, inp):
        raise UsageError(f"output folder {str(output_dir)!r} is inside input folder "
                         f"{str(input_dir)!r}; augcli never writes into its input")
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {str(output_dir)!r} exists and is not a folder")
    return inp, out


def outside_links(inp: Path, links: Sequence[str]) -> tuple[str, ...]:
    return tuple(rel for rel in links if not inside(Path(os.path.realpath(inp / rel)), inp))


def write_run_file(path: Path, payload: bytes, overwrite: bool, inp: Path) -> None:
    """Write a file made once per run (dataset YAML, COCO JSON), checked again just before: a folder
    linked into the input since the run started must not turn the write into one of the input."""
    if inside(Path(path).resolve(), inp):
        raise OSError(errno.EINVAL, "it would land inside the input folder; refused", str(path))
    write_atomic(path, payload, overwrite=overwrite)
