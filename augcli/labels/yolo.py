"""YOLO (Ultralytics) label files: detection, segmentation, pose and oriented-box rows.

Rows are normalised edge coordinates (see LABELS.md 3.1). Pairing is Ultralytics'
``img2label_paths``: the LAST ``/images/`` component becomes ``/labels/`` and the extension
``.txt`` (with no ``/images/`` component, the ``.txt`` next to the image); it is applied to paths
relative to INPUT_DIR (and to OUTPUT_DIR for the outputs), so nothing outside them is touched.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import LabelError
from .model import Obj
from .polygons import box_corners, join_parts

TOLERANCE = 0.01  # Ultralytics accepts [-0.01, 1.01] on read
MAX_LABEL_BYTES = 64 << 20
KINDS = ("detect", "segment", "pose", "obb")


def label_path(image_rel: str) -> str:
    """Ultralytics' pairing on a relative POSIX path: ``images/train/a.jpg`` -> ``labels/train/a.txt``."""
    p = "/" + image_rel
    if "/images/" in p:
        head, tail = p.rsplit("/images/", 1)
        p = head + "/labels/" + tail
    stem = p.rsplit(".", 1)[0] if "." in p.rsplit("/", 1)[-1] else p
    return stem[1:] + ".txt"


@dataclass(frozen=True)
class YoloSpec:
    """What the dataset YAML (or the flags) say about the rows."""

    nc: int | None = None  # number of names, if known
    kpt_shape: tuple[int, int] | None = None  # (K, 2 or 3): pose
    obb: bool = False
    precision: int = 6


@dataclass
class Parsed:
    kind: str  # detect, segment, pose, obb
    objects: list[Obj]
    clipped_input: int


# Limits for a label file a dataset may hold (README: "Untrusted manifests and label files"):
# Ultralytics-scale datasets have at most a few thousand objects in an image.
MAX_LINES = 10_000  # lines (objects) per label file
MAX_VALUES = 2_000_000  # numbers per label file (a polygon of a million points)
# what str.splitlines() ends a line at ("\r\n" is one end)
_LINE_ENDS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
_TOKEN = re.compile(r"\S+")


def _num(tok: str, path: str, line: int) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise LabelError(f"{path}:{line}: {_cut(tok)!r} is not a number") from None
    if not math.isfinite(v):
        raise LabelError(f"{path}:{line}: {_cut(tok)!r} is not a finite number")
    return v


def _cut(tok: str) -> str:
    """A token for a message, cut (a token may be megabytes long)."""
    return tok if len(tok) <= 40 else tok[:40] + "..."


def _numbers(toks: list[str], path: str, line: int) -> np.ndarray:
    """The tokens as float64 (numpy parses as ``float()`` does), or the error ``_num`` words for
    the first bad one."""
    try:
        arr = np.array(toks, dtype=np.float64)
    except ValueError:
        arr = None
    if arr is None or not np.isfinite(arr).all():
        arr = np.array([_num(t, path, line) for t in toks], dtype=np.float64)
    return arr


class _Range:
    def __init__(self, path: str) -> None:
        self.path, self.clipped = path, 0

    def __call__(self, v: float, name: str, line: int) -> float:
        if v < -TOLERANCE or v > 1 + TOLERANCE:
            raise LabelError(f"{self.path}:{line}: {name}={v:g} outside [0, 1] (tolerance {TOLERANCE:g})")
        if v < 0 or v > 1:
            self.clipped += 1
            return min(max(v, 0.0), 1.0)
        return v

    def xy(self, xy: np.ndarray, line: int) -> np.ndarray:
        """``__call__`` on every x and y of an (n, 2) array, in row order, at numpy speed."""
        bad = (xy < -TOLERANCE) | (xy > 1 + TOLERANCE)
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            self(float(xy.ravel()[i]), "xy"[i % 2], line)
        self.clipped += int(np.count_nonzero((xy < 0) | (xy > 1)))
        return np.clip(xy, 0.0, 1.0)


def _lines(text: str, path: str) -> list[str]:
    """``text.splitlines()``, refused before it is made when there are more than MAX_LINES."""
    ends = sum(text.count(c) for c in _LINE_ENDS) - text.count("\r\n")
    if ends + (bool(text) and not text.endswith(_LINE_ENDS)) > MAX_LINES:
        raise LabelError(f"{path}: more than {MAX_LINES} lines; augcli reads at most {MAX_LINES} objects per "
                         "label file")
    return text.splitlines()


def parse(text: str, path: str, spec: YoloSpec, size: tuple[int, int]) -> Parsed:
    """Parse a label file into objects in edge pixel coordinates of an image of ``size`` (the
    frame the file is normalised to). Raises LabelError ``path:line: reason`` for a bad row."""
    w, h = size
    rows: list[tuple[int, int, np.ndarray]] = []  # (line, class, values)
    budget = MAX_VALUES
    for i, raw in enumerate(_lines(text, path), 1):
        # a line of n characters has at most (n + 1) // 2 numbers; count exactly (without making
        # them) only when that bound could pass the budget
        if (len(raw) + 1) // 2 > budget and sum(1 for _ in _TOKEN.finditer(raw)) > budget:
            raise LabelError(f"{path}:{i}: more than {MAX_VALUES} numbers in the file; augcli reads at most "
                             f"{MAX_VALUES} per label file")
        toks = raw.split()
        if not toks:
            continue
        budget -= len(toks)
        c = _num(toks[0], path, i)
        if c < 0 or c != int(c):
            raise LabelError(f"{path}:{i}: class {_cut(toks[0])} is not a non-negative whole number")
        if spec.nc is not None and int(c) >= spec.nc:
            raise LabelError(f"{path}:{i}: class {int(c)} >= nc {spec.nc} (dataset YAML names)")
        rows.append((i, int(c), _numbers(toks[1:], path, i)))
        del toks
    check = _Range(path)
    if spec.kpt_shape is not None:
        kind = "pose"
    elif spec.obb:
        kind = "obb"
    else:
        kind = "segment" if any(len(v) > 5 for _, _, v in rows) else "detect"
    objects = []
    for line, c, v in rows:
        if kind == "pose":
            k, nd = spec.kpt_shape  # type: ignore[misc]
            if len(v) != 4 + k * nd:
                raise LabelError(f"{path}:{line}: expected {5 + k * nd} numbers (class cx cy w h + {k}x{nd} "
                                 f"keypoint values), got {len(v) + 1}")
            box = _box(v[:4].tolist(), check, line, w, h)
            kp = v[4:].reshape(k, nd)
            xy = check.xy(kp[:, :2], line)
            if nd == 3:
                vis = kp[:, 2]
            else:
                vis = np.where((xy[:, 0] == 0) & (xy[:, 1] == 0), 0.0, 2.0)
            pts = np.zeros((k, 3))
            shown = vis > 0
            pts[shown, 0] = xy[shown, 0] * w - 0.5
            pts[shown, 1] = xy[shown, 1] * h - 0.5
            pts[shown, 2] = vis[shown]
            objects.append(Obj(c, box=box, keypoints=pts))
        elif kind == "obb":
            if len(v) != 8:
                raise LabelError(f"{path}:{line}: expected 9 numbers (class x1 y1 ... x4 y4), got {len(v) + 1}")
            objects.append(Obj(c, obb=check.xy(v.reshape(4, 2), line) * (w, h)))
        elif kind == "detect":
            if len(v) != 4:
                raise LabelError(f"{path}:{line}: expected 5 numbers (class cx cy w h), got {len(v) + 1}")
            objects.append(Obj(c, box=_box(v.tolist(), check, line, w, h)))
        else:  # segment file: polygons; a box row becomes its 4-corner polygon (never mixed rows)
            if len(v) == 4:
                objects.append(Obj(c, polygons=[box_corners(_box(v.tolist(), check, line, w, h))]))
            elif len(v) >= 6 and len(v) % 2 == 0:
                objects.append(Obj(c, polygons=[check.xy(v.reshape(-1, 2), line) * (w, h)]))
            else:
                raise LabelError(f"{path}:{line}: a segment row needs class and 3 or more x y pairs "
                                 f"(an odd count >= 7), got {len(v) + 1} numbers")
    return Parsed(kind, objects, check.clipped)


def _box(v: Sequence[float], check: _Range, line: int, w: int, h: int) -> tuple[float, float, float, float]:
    cx, cy, bw, bh = v
    for name, val in zip(("cx", "cy", "w", "h"), v):
        check(val, name, line)
    if bw < 0 or bh < 0:
        raise LabelError(f"{check.path}:{line}: negative box size {bw:g}x{bh:g}")
    x0 = check(cx - bw / 2, "x_min", line)
    x1 = check(cx + bw / 2, "x_max", line)
    y0 = check(cy - bh / 2, "y_min", line)
    y1 = check(cy + bh / 2, "y_max", line)
    return (x0 * w, y0 * h, x1 * w, y1 * h)


def _fmt(v: float, precision: int) -> str:
    return f"{min(max(float(v), 0.0), 1.0) + 0.0:.{precision}f}"


def _fmt_points(points: Sequence[Sequence[float]], w: float, h: float, precision: int) -> list[str]:
    """``_fmt(x / w) _fmt(y / h) ...`` of ``points`` as one string (or none), in one formatting call:
    an outline densified through a distortion has thousands of points. The same divisions, clip and
    signed-zero rule as ``_fmt``, so the same text."""
    if len(points) == 0:
        return []
    a = np.array(points, dtype=np.float64).reshape(-1, 2) / (w, h)
    np.clip(a, 0.0, 1.0, out=a)
    a += 0.0
    return [(f"%.{precision}f " * a.size)[:-1] % tuple(a.ravel().tolist())]


def write(kind: str, objects: Sequence[Obj], size: tuple[int, int], spec: YoloSpec) -> bytes:
    """The rows of ``objects`` (edge pixel coordinates of an output of ``size``), every value inside
    [0, 1] at fixed precision; an empty list gives an empty file."""
    w, h = float(size[0]), float(size[1])
    p = spec.precision
    lines = []
    for o in objects:
        vals: list[str] = []
        if kind in ("detect", "pose"):
            x0, y0, x1, y1 = o.box  # type: ignore[misc]
            vals = [_fmt((x0 + x1) / 2 / w, p), _fmt((y0 + y1) / 2 / h, p), _fmt((x1 - x0) / w, p),
                    _fmt((y1 - y0) / h, p)]
            if kind == "pose":
                nd = spec.kpt_shape[1]  # type: ignore[index]
                for x, y, v in o.keypoints:  # type: ignore[union-attr]
                    if v > 0:
                        vals += [_fmt((x + 0.5) / w, p), _fmt((y + 0.5) / h, p)]
                    else:
                        vals += [_fmt(0, p), _fmt(0, p)]
                    if nd == 3:
                        vals.append(str(int(v)) if v == int(v) else f"{v:g}")
        elif kind == "obb":
            vals = _fmt_points(o.obb, w, h, p)  # type: ignore[arg-type]
        else:
            # one row per object: several parts (a clip can split one) are joined by connectors
            vals = _fmt_points(join_parts(o.polygons), w, h, p)  # type: ignore[arg-type]
        lines.append(" ".join([str(int(o.cls)), *vals]))
    return ("\n".join(lines) + "\n").encode() if lines else b""


def names_count(names: Any) -> int | None:
    if isinstance(names, (list, tuple)):
        return len(names)
    if isinstance(names, dict):
        keys = [k for k in names if isinstance(k, int)]
        return (max(keys) + 1) if keys and len(keys) == len(names) else len(names)
    return None
