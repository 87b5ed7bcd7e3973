"""A dataset YAML (Ultralytics' data.yaml): read with limits on size, nesting and aliases, and
rewritten for the output when it holds absolute paths into the input folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..safefiles import FileRefused, read_limited

MAX_YAML_BYTES = 1 << 20
MAX_YAML_DEPTH = 64  # nesting of a dataset YAML (a real one is 2 or 3 levels deep)
MAX_YAML_NODES = 1_000_000  # values of a dataset YAML, counting each alias as what it stands for


def _yaml_bytes(raw: bytes | bytearray, shown: str) -> Any:
    """``yaml.safe_load`` of a dataset YAML, after a pass over its events that refuses nesting
    deeper than MAX_YAML_DEPTH (PyYAML builds nodes recursively) and more than MAX_YAML_NODES
    values once aliases are expanded (an alias bomb: each level repeating the one before)."""
    import yaml  # PyYAML, safe_load only

    text = raw.decode("utf-8")
    weights: dict[str, int] = {}  # anchor -> values under it, aliases expanded
    stack: list[list] = []  # open collections: [anchor, values so far]
    total = 0
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(stack) >= MAX_YAML_DEPTH:
                raise UsageError(f"{shown}: YAML nested deeper than {MAX_YAML_DEPTH}; refused")
            stack.append([ev.anchor, 1])
            continue
        if isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, n = stack.pop()
        elif isinstance(ev, yaml.ScalarEvent):
            anchor, n = ev.anchor, 1
        elif isinstance(ev, yaml.AliasEvent):
            anchor, n = None, weights.get(ev.anchor, 1)
        else:
            continue
        if anchor is not None:
            weights[anchor] = n
        if stack:
            stack[-1][1] += n
        else:
            total += n
        if total + sum(c[1] for c in stack) > MAX_YAML_NODES:
            raise UsageError(f"{shown}: YAML with more than {MAX_YAML_NODES} values (aliases expanded); refused")
    return yaml.safe_load(text)


def brief(v: Any) -> str:
    """A value from a YAML for a message: a few items and levels only (aliases may make it huge)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxstring, r.maxother = 2, 4, 4, 4, 40, 40
    return r.repr(v)


def read_yaml(path: Path, shown: str) -> Any:
    import yaml

    try:
        return _yaml_bytes(read_limited(path, MAX_YAML_BYTES), shown)
    except FileRefused as exc:
        if str(exc).startswith("larger"):
            raise UsageError(f"{shown}: dataset YAML {exc}; refused") from None
        raise UsageError(f"{shown}: cannot read the dataset YAML: {exc}") from None
    except UsageError:
        raise
    except RecursionError:
        raise UsageError(f"{shown}: YAML nested too deeply; refused") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{shown}: cannot read the dataset YAML: {reason[:200]}") from None


def rewrite_yaml(path: Path, inp: Path, out: Path | str) -> bytes:
    """The dataset YAML for the output: its bytes verbatim, unless ``path``/``train``/``val``/``test``
    hold absolute paths into the input folder: those are rewritten to the output folder (or URL)."""
    import yaml

    raw = path.read_bytes()
    data = yaml.safe_load(raw.decode("utf-8"))
    changed = False

    def fix(v: Any) -> Any:
        nonlocal changed
        if isinstance(v, str) and os.path.isabs(v):
            try:
                rel = Path(v).resolve().relative_to(inp)
            except ValueError:
                return v  # outside the input: not read, not rewritten
            changed = True
            if isinstance(out, str):  # an object-store output
                return out if str(rel) == "." else f"{out}/{rel.as_posix()}"
            return str(out / rel) if str(rel) != "." else str(out)
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    for key in ("path", "train", "val", "test"):
        if key in data:
            data[key] = fix(data[key])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode() if changed else raw


def names_key(path: Path) -> bool:
    """Whether a YAML that could not be read has a top-level ``names:`` key, as a dataset YAML must
    (a broken one is worth a warning; a conda environment or a CI file beside the images is not)."""
    import re

    try:
        text = bytes(read_limited(path, MAX_YAML_BYTES))
    except (OSError, FileRefused):
        return True  # unreadable or too large: say so
    return re.search(rb"(?m)^names[ \t]*:", text) is not None

