"""3x3 homogeneous matrices in augcli's coordinate convention.

Every matrix maps OUTPUT pixel coordinates to INPUT pixel coordinates (the direction a resampler
needs), with x = column, y = row, and pixel centres at integers: pixel (0, 0) covers [-0.5, 0.5]^2.
The centre of a w x h image is therefore ((w - 1) / 2, (h - 1) / 2).

Composition: if op A is applied to the image first and op B after it, the mapping from B's output to
A's input is ``A_matrix @ B_matrix``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Size = tuple[int, int]  # (width, height)


def identity() -> np.ndarray:
    return np.eye(3)


def translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def centre(size: Size) -> tuple[float, float]:
    return ((size[0] - 1) / 2.0, (size[1] - 1) / 2.0)


def about_centre(linear: np.ndarray, size: Size) -> np.ndarray:
    """Conjugate a linear 3x3 map so that it acts about the image centre."""
    cx, cy = centre(size)
    return translation(cx, cy) @ linear @ translation(-cx, -cy)


def _cos_sin(angle_deg: float) -> tuple[float, float]:
    """cos and sin, exact for multiples of 90 degrees (so a quarter turn moves pixels exactly)."""
    quarter = angle_deg / 90.0
    if quarter == int(quarter):
        return [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)][int(quarter) % 4]
    a = math.radians(angle_deg)
    return math.cos(a), math.sin(a)


def rotation(angle_deg: float, size: Size) -> np.ndarray:
    """Content turns ``angle_deg`` counter-clockwise on screen (y points down) about the centre."""
    c, s = _cos_sin(angle_deg)
    # Forward (input -> output) on a y-down screen is [[c, s], [-s, c]]; we need its inverse.
    lin = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return about_centre(lin, size)


def shift(dx: float, dy: float) -> np.ndarray:
    """Content moves by (+dx, +dy) pixels: right and down for positive values."""
    return translation(-dx, -dy)


def shear(angle_deg: float, size: Size) -> np.ndarray:
    """Keras' shear: input_x = cos(s) * x, input_y = y - sin(s) * x (about the centre)."""
    a = math.radians(angle_deg)
    lin = np.array([[math.cos(a), 0.0, 0.0], [-math.sin(a), 1.0, 0.0], [0.0, 0.0, 1.0]])
    return about_centre(lin, size)


def zoom(zx: float, zy: float, size: Size) -> np.ndarray:
    """Keras' zoom: input = z * output about the centre, so z < 1 enlarges the content."""
    return about_centre(np.diag([zx, zy, 1.0]), size)


def hflip(size: Size) -> np.ndarray:
    return np.array([[-1.0, 0.0, size[0] - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def vflip(size: Size) -> np.ndarray:
    return np.array([[1.0, 0.0, 0.0], [0.0, -1.0, size[1] - 1.0], [0.0, 0.0, 1.0]])


def rot90(k: int, size: Size) -> tuple[np.ndarray, Size]:
    """``k`` counter-clockwise quarter turns, exactly as ``numpy.rot90``; returns (matrix, new size)."""
    w, h = size
    k %= 4
    if k == 0:
        return identity(), (w, h)
    if k == 1:  # out(x, y) = in(w - 1 - y, x)
        return np.array([[0.0, -1.0, w - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), (h, w)
    if k == 2:
        return np.array([[-1.0, 0.0, w - 1.0], [0.0, -1.0, h - 1.0], [0.0, 0.0, 1.0]]), (w, h)
    # k == 3: out(x, y) = in(y, h - 1 - x)
    return np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, h - 1.0], [0.0, 0.0, 1.0]]), (h, w)


def box_to_canvas(box: tuple[float, float, float, float], out_size: Size) -> np.ndarray:
    """Map an output canvas onto the input rectangle ``box = (left, top, width, height)`` given in
    pixel-edge units (so a box of the whole w x h image is (0, 0, w, h)): a crop resized to out_size."""
    left, top, bw, bh = box
    sx, sy = bw / out_size[0], bh / out_size[1]
    # centre-coordinate u = left + (x + 0.5) * sx - 0.5
    return np.array([[sx, 0.0, left + 0.5 * sx - 0.5], [0.0, sy, top + 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective matrix taking the four points ``src`` (4x2) onto ``dst`` (4x2)."""
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    h = np.linalg.solve(np.array(rows, dtype=float), np.array(rhs, dtype=float))
    return np.append(h, 1.0).reshape(3, 3)


def apply_points(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map an (n, 2) array of points through a 3x3 matrix (projective divide included)."""
    pts = np.asarray(pts, dtype=float)
    hom = np.c_[pts, np.ones(len(pts))] @ matrix.T
    return hom[:, :2] / hom[:, 2:3]


def boxes_forward(matrix: np.ndarray, boxes) -> list[tuple[float, float, float, float]]:
    """Edge-coordinate boxes of an input carried onto the output of ``matrix`` (output -> input,
    centre coordinates): each box's four corners mapped forward, enclosed again."""
    m = np.asarray(matrix, dtype=float)
    forward = translation(0.5, 0.5) @ np.linalg.inv(m) @ translation(-0.5, -0.5)
    out = []
    for x0, y0, x1, y1 in boxes:
        pts = apply_points(forward, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float))
        out.append((float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())))
    return out


def is_affine(matrix: np.ndarray) -> bool:
    m = matrix[2]
    return _affine_row(*(m.tolist() if isinstance(m, np.ndarray) else m))  # Python floats: the same tests, faster


def _affine_row(a: float, b: float, c: float) -> bool:
    """Whether (a, b, c) is the last row (0, 0, 1) of an affine map, to 1e-12."""
    return abs(a) < 1e-12 and abs(b) < 1e-12 and abs(c - 1.0) < 1e-12


def flat(matrix: Any) -> list[float]:
    """The 9 entries of a 3x3 matrix (an array or rows), row by row, as Python floats."""
    if isinstance(matrix, np.ndarray):
        return matrix.astype(float, copy=False).ravel().tolist()
    return [float(v) for row in matrix for v in row]


def record_rows(matrix: np.ndarray) -> list[list[float]]:
    """``as_list`` of a 3x3 matrix with 2 rows when it is affine (``is_affine``), else 3: how a
    record keeps it."""
    m = flat(matrix)
    return [m[0:3], m[3:6]] if _affine_row(*m[6:9]) else [m[0:3], m[3:6], m[6:9]]


def as_list(matrix: np.ndarray, rows: int = 2) -> list[list[float]]:
    """JSON-ready rows of a matrix (2x3 for affine maps, 3x3 for projective ones)."""
    head = matrix[:rows]
    return [[float(v) for v in row] for row in (head.tolist() if isinstance(head, np.ndarray) else head)]


# ---------------------------------------------------------------------------------------------------
# plan scheme 2: the geometric ops' matrices in plain Python floats

Rows = tuple[float, float, float, float, float, float, float, float, float]  # a 3x3 matrix, row by row

IDENTITY_ROWS: Rows = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _linear_about_centre(a: float, b: float, d: float, e: float, size: Size) -> Rows:
    """The linear map [[a, b], [d, e]] acting about the image centre c: x -> L (x - c) + c."""
    cx, cy = (size[0] - 1) / 2.0, (size[1] - 1) / 2.0
    return (a, b, cx - (a * cx + b * cy), d, e, cy - (d * cx + e * cy), 0.0, 0.0, 1.0)


def _rows_rot90(params, size):
    m, out = rot90(int(params["k"]), size)
    return tuple(float(v) for v in m.ravel()), out


def _rows_crop(params, size):
    left, top, bw, bh = params["box"]
    sx, sy = bw / size[0], bh / size[1]
    return (sx, 0.0, left + 0.5 * sx - 0.5, 0.0, sy, top + 0.5 * sy - 0.5, 0.0, 0.0, 1.0), size


def _rows_rotate(params, size):
    c, s = _cos_sin(params["angle"])
    return _linear_about_centre(c, -s, s, c, size), size


def _rows_shear(params, size):
    a = math.radians(params["angle"])
    return _linear_about_centre(math.cos(a), 0.0, -math.sin(a), 1.0, size), size


def _rows_zoom(params, size):
    return _linear_about_centre(float(params["zx"]), 0.0, 0.0, float(params["zy"]), size), size


# op name -> (params, size) -> (rows, output size), for the ops whose matrices are simple enough to
# write out; any other geometric op's numpy matrix is read into rows (``op_rows``)
ROWS = {
    "rot90": _rows_rot90,
    "crop": _rows_crop,
    "hflip": lambda params, size: ((-1.0, 0.0, size[0] - 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), size),
    "vflip": lambda params, size: ((1.0, 0.0, 0.0, 0.0, -1.0, size[1] - 1.0, 0.0, 0.0, 1.0), size),
    "rotate": _rows_rotate,
    "shear": _rows_shear,
    "zoom": _rows_zoom,
    "shift": lambda params, size: ((1.0, 0.0, -float(params["dx"]), 0.0, 1.0, -float(params["dy"]),
                                    0.0, 0.0, 1.0), size),
}


def op_rows(op, params, size: Size) -> tuple[Rows, Size]:
    """A geometric op's matrix as rows of plain floats, and its output size."""
    fast = ROWS.get(op.name)
    if fast is not None:
        return fast(params, size)
    m, out = op.matrix(params, size)
    return tuple(float(v) for v in m.ravel()), out  # type: ignore[return-value]


def compose_rows(a: Rows, b: Rows) -> Rows:
    """``a @ b``, each entry summed left to right in Python floats (no FMA, no BLAS: the same on
    every machine). When both are affine, the terms of their last rows are left out (exact zeros
    and ones), and the last row is exactly (0, 0, 1)."""
    a0, a1, a2, a3, a4, a5, a6, a7, a8 = a
    b0, b1, b2, b3, b4, b5, b6, b7, b8 = b
    if a6 == 0.0 and a7 == 0.0 and a8 == 1.0 and b6 == 0.0 and b7 == 0.0 and b8 == 1.0:
        return (a0 * b0 + a1 * b3, a0 * b1 + a1 * b4, a0 * b2 + a1 * b5 + a2,
                a3 * b0 + a4 * b3, a3 * b1 + a4 * b4, a3 * b2 + a4 * b5 + a5,
                0.0, 0.0, 1.0)
    return (a0 * b0 + a1 * b3 + a2 * b6, a0 * b1 + a1 * b4 + a2 * b7, a0 * b2 + a1 * b5 + a2 * b8,
            a3 * b0 + a4 * b3 + a5 * b6, a3 * b1 + a4 * b4 + a5 * b7, a3 * b2 + a4 * b5 + a5 * b8,
            a6 * b0 + a7 * b3 + a8 * b6, a6 * b1 + a7 * b4 + a8 * b7, a6 * b2 + a7 * b5 + a8 * b8)


def rows_matrix(rows: Rows) -> np.ndarray:
    """The 3x3 numpy matrix of ``rows`` (one array per output: what the warp and labels take)."""
    return np.array(rows, dtype=float).reshape(3, 3)
