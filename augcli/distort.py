"""Non-affine geometry: the displacement fields of --elastic, --grid-distort and --lens, the one
remap that applies them after the affine warp, and the forward map that carries labels.

Conventions (augcli.geometry): x = column, y = row, pixel centres at integers. Every field here is
a BACKWARD map, output pixel -> the pixel of the affine warp's output it shows, defined on that
output's canvas (the distortion ops never change the size). An output with distortion ops is made
in one resampling: output pixel p reads the source at M (B(p)), M the affine warp's matrix and B the
distortions composed (the last op in canonical order is applied to the image last, so its map is
evaluated first).

The remap kernel never holds a full-size map: B is evaluated on a node grid, one node every 2^s
output pixels (s = 3; 2 for an elastic field finer than 8 px), M is applied to the nodes, and the
kernel blends each pixel's coordinates from its cell's four nodes with exact integer weights (warp_scalar.c
run_remap). Between nodes the map is bilinear: that interpolated map ``Nodes.backward`` is what the
pixels follow, so labels follow it too.

Labels need the FORWARD map (where a point of the affine output ends up): it is found by inverting
the interpolated backward map numerically, per point, with Newton's method on its cells (each cell's
map is bilinear, so its Jacobian is exact), damped so that the residual never grows, from the start
``q - (B(q) - q)``. ``Nodes.forward`` returns the residual too: below 1e-6 px wherever the field does
not fold (--elastic with a large ALPHA / small SIGMA can fold; a point in a fold has several
preimages and gets the one Newton reaches).

Everything is float64 numpy arithmetic done element by element (no reductions, no transcendental
functions of arrays), so a field is the same on every CPU; the kernel's integers do the rest.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from . import geometry as G
from . import kernels

GRID_CELLS = 5  # --grid-distort: cells per side of its coarse grid
NEWTON_STEPS = 40
# restarts for a point Newton leaves unsolved: offsets in node cells, nearest first
RESTARTS = sorted(((dx, dy) for dx in range(-2, 3) for dy in range(-2, 3) if dx or dy),
                  key=lambda o: o[0] ** 2 + o[1] ** 2)
UNSEEN = 0.5  # px: a label point whose inverse is further off than this is not in the output
COORD_LIMIT = float(1 << 29)

# working mode -> (layout the kernel reads and writes, bytes per pixel, 16-bit samples); alpha is
# resampled premultiplied, RGB travels as Pillow's own 4-byte RGBX (as warping's warp does)
LAYOUTS = {"L": ("L", 1, False), "LA": ("La", 2, False), "RGB": ("RGBX", 4, False),
           "RGBA": ("RGBa", 4, False), "I;16": ("I;16", 2, True)}
INTERPOLATIONS = ("nearest", "bilinear")

Points = np.ndarray  # (n, 2) float: x, y in centre coordinates
Field = Callable[[Points], Points]


# ---------------------------------------------------------------------------------------------------
# the fields (backward maps of one op, on a canvas of size w x h)


def _bilinear(values: np.ndarray, fx: np.ndarray, fy: np.ndarray, extend: bool = False) -> np.ndarray:
    """``values`` (ny, nx, ...) at fractional lattice positions; beyond the lattice constant, or with
    ``extend`` the edge cells continued linearly. The cell ix = clip(floor(fx), 0, nx - 2) and
    tx = fx - ix (likewise y), the value (v00 (1 - tx) + v01 tx) (1 - ty) + (v10 (1 - tx) + v11 tx) ty
    in float64, one point at a time (kernels.bilinear: what numpy computes element by element, in one
    pass)."""
    ny, nx = values.shape[:2]
    flat = np.ascontiguousarray(values, dtype=float).reshape(ny, nx, -1)
    fx, fy = np.ascontiguousarray(fx, dtype=float).ravel(), np.ascontiguousarray(fy, dtype=float).ravel()
    out = np.empty((len(fx), flat.shape[2]))
    kernels.bilinear(flat, flat.shape, fx, fy, extend, out=out)
    return out if values.ndim == 3 else out[:, 0]


def _bilinear_grid(values: np.ndarray, fx: np.ndarray, fy: np.ndarray, extend: bool = False) -> np.ndarray:
    """``_bilinear`` at every (fx[i], fy[k]) of two 1-d coordinate lists, as a (len(fy), len(fx), C)
    array: the rows blended once per column, then the columns; the same products and sums, element
    by element, as ``_bilinear`` at those points."""
    ny, nx = values.shape[:2]
    if not extend:
        fx, fy = np.clip(fx, 0.0, nx - 1.0), np.clip(fy, 0.0, ny - 1.0)
    ix = np.clip(np.floor(fx), 0, max(nx - 2, 0)).astype(np.int64)
    iy = np.clip(np.floor(fy), 0, max(ny - 2, 0)).astype(np.int64)
    tx, ty = (fx - ix)[None, :, None], (fy - iy)[:, None, None]
    rows = values[:, ix] * (1.0 - tx) + values[:, np.minimum(ix + 1, nx - 1)] * tx
    return rows[iy] * (1.0 - ty) + rows[np.minimum(iy + 1, ny - 1)] * ty


def gaussian_taps(sigma: float) -> list[float]:
    """Normalised Gaussian taps t[-r..r], r = ceil(4 sigma) (math.exp and fsum: the same everywhere)."""
    r = max(1, math.ceil(4.0 * sigma))
    raw = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-r, r + 1)]
    total = math.fsum(raw)
    return [v / total for v in raw]


def elastic_exponent(sigma: float) -> int:
    """log2 of the elastic lattice's spacing: the largest power of two <= sigma / 2, from 4 to 256
    px (so the smoothing spans 2 to 4 lattice units: a field without kinks at the lattice's lines)."""
    return min(8, max(2, math.floor(math.log2(sigma / 2.0))))


def elastic_lattice(alpha: float, sigma: float, seed: int, size: G.Size) -> tuple[np.ndarray, float]:
    """Simard's field on a coarse lattice: uniform(-1, 1) noise per lattice node (two planes, from
    numpy's PCG64 seeded with ``seed``), smoothed by a Gaussian of ``sigma`` pixels, scaled by
    ``alpha``. The lattice has a node every c = 2^elastic_exponent(sigma) pixels (sigma / 4 to sigma
    / 2, so the smoothing is 2 to 4 lattice units; a field finer than 8 px is made at 4 px), aligned
    with the remap's node grid, so the remap reproduces the field exactly. The smoothed lattice
    noise is rescaled to the standard deviation Simard's per-pixel field has, alpha / sqrt(3) /
    (2 sqrt(pi) sigma). Returns (ny, nx, 2) pixel displacements and c (node (j, i) is at (i c, j c))."""
    w, h = size
    c = float(1 << elastic_exponent(sigma))
    taps = gaussian_taps(sigma / c)
    r = len(taps) // 2
    nx, ny = int((w - 1) // c) + 2, int((h - 1) // c) + 2
    noise = np.random.Generator(np.random.PCG64(seed)).random((2, ny + 2 * r, nx + 2 * r)) * 2.0 - 1.0
    # separable, each sum in tap order, float64 products and sums: the kernel computes the values of
    # one numpy multiply and add per tap (what this was), without numpy's per-tap passes
    smooth = np.empty((2, ny, nx))
    kernels.smooth_lattice(noise, 2, ny, nx, taps, out=smooth)
    spread = math.fsum(t * t for t in taps)  # the smoothed noise's std is spread / sqrt(3)
    scale = alpha / (2.0 * math.sqrt(math.pi) * sigma * spread)
    return np.stack([smooth[0], smooth[1]], axis=-1) * scale, c


def elastic_field(alpha: float, sigma: float, seed: int, size: G.Size) -> Field:
    lattice, c = elastic_lattice(alpha, sigma, seed, size)

    def field(p: Points) -> Points:
        return p + _bilinear(lattice, p[:, 0] / c, p[:, 1] / c)

    def on_nodes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The field on the node grid of columns ``x`` and rows ``y`` (the values ``field`` gives
        there): the lattice itself where the nodes are its points, else blended separably."""
        xs, ys = np.meshgrid(x, y)
        if x[1] - x[0] == c and lattice.shape[:2] == xs.shape:
            d = lattice
        else:
            d = _bilinear_grid(lattice, x / c, y / c)
        return np.stack([xs + d[..., 0], ys + d[..., 1]], axis=-1)

    field.on_nodes = on_nodes  # type: ignore[attr-defined]
    return field


def grid_lines(length: int, n: int = GRID_CELLS) -> np.ndarray:
    """Where the grid's lines cross an axis of ``length`` px (centre coordinates): the edges -0.5 and
    length - 0.5, and n - 1 lines in between at i length / n, moved to the nearest multiple of 8 px
    (the remap's nodes) when the cells are at least 16 px, so that the remap reproduces the field."""
    inner = [i * length / n - 0.5 for i in range(1, n)]
    if length >= 16 * n:
        inner = [8.0 * round(v / 8.0) for v in inner]
    return np.array([-0.5, *inner, length - 0.5])


def _cell_coords(v: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Fractional cell coordinates of ``v`` on the grid ``lines`` (beyond it: of the edge cells)."""
    i = np.clip(np.searchsorted(lines, v, side="right") - 1, 0, len(lines) - 2)
    return i + (v - lines[i]) / (lines[i + 1] - lines[i])


def grid_field(offsets: Sequence[Sequence[float]], size: G.Size) -> Field:
    """A GRID_CELLS x GRID_CELLS grid over the image (``grid_lines``); each inner node moved by its
    offset (in units of the mean cell: w / GRID_CELLS, h / GRID_CELLS), the border nodes fixed,
    bilinear in each cell."""
    w, h = size
    n = GRID_CELLS
    d = np.zeros((n + 1, n + 1, 2))
    d[1:n, 1:n] = np.asarray(offsets, dtype=float).reshape(n - 1, n - 1, 2) * np.array([w / n, h / n])
    xs, ys = grid_lines(w), grid_lines(h)

    def field(p: Points) -> Points:
        # continued linearly past the image's edges, as the remap's last nodes (beyond them) see it
        return p + _bilinear(d, _cell_coords(p[:, 0], xs), _cell_coords(p[:, 1], ys), extend=True)

    def on_nodes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The field on the node grid of columns ``x`` and rows ``y``, blended separably."""
        mx, my = np.meshgrid(x, y)
        dd = _bilinear_grid(d, _cell_coords(x, xs), _cell_coords(y, ys), extend=True)
        return np.stack([mx + dd[..., 0], my + dd[..., 1]], axis=-1)

    field.on_nodes = on_nodes  # type: ignore[attr-defined]
    return field


def lens_field(k: float, size: G.Size) -> Field:
    """Radial distortion about the image centre: p -> c + (p - c)(1 + k r^2), r the distance from
    the centre over half the diagonal. k > 0 reads from further out (barrel: straight lines bow
    outwards), k < 0 from nearer the centre (pincushion)."""
    w, h = size
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    r2 = (w / 2.0) ** 2 + (h / 2.0) ** 2

    def field(p: Points) -> Points:
        dx, dy = p[:, 0] - cx, p[:, 1] - cy
        g = 1.0 + k * ((dx * dx + dy * dy) / r2)
        return np.stack([cx + dx * g, cy + dy * g], axis=1)

    return field


# ---------------------------------------------------------------------------------------------------
# the node grid: what the kernel interpolates, and its inverse for labels


class Nodes:
    """The composed backward map ``field`` of an output of ``size``, sampled every 2^shift pixels."""

    def __init__(self, field: Field, size: G.Size, shift: int = 3) -> None:
        self.size, self.shift = (int(size[0]), int(size[1])), shift
        w, h = self.size
        self.gw, self.gh = ((w - 1) >> shift) + 2, ((h - 1) >> shift) + 2
        x = np.arange(self.gw, dtype=float) * float(1 << shift)
        y = np.arange(self.gh, dtype=float) * float(1 << shift)
        direct = getattr(field, "on_nodes", None)  # a field that can be evaluated separably on a grid
        if direct is not None:
            self.values = direct(x, y)
        else:
            xs, ys = np.meshgrid(x, y)
            self.values = field(np.stack([xs.ravel(), ys.ravel()], axis=1)).reshape(self.gh, self.gw, 2)

    def is_identity(self) -> bool:
        """True when the map moves no node (a zero field: alpha 0, k 0, no offsets)."""
        s = float(1 << self.shift)
        ys, xs = np.mgrid[0:self.gh, 0:self.gw].astype(float) * s
        return bool(np.array_equal(self.values[..., 0], xs) and np.array_equal(self.values[..., 1], ys))

    def grid(self, matrix: np.ndarray) -> bytes:
        """The nodes through the affine warp's matrix, in the kernel's 16.16 integers."""
        pts = G.apply_points(np.asarray(matrix, dtype=float), self.values.reshape(-1, 2))
        pts = np.nan_to_num(pts, nan=-COORD_LIMIT, posinf=COORD_LIMIT, neginf=-COORD_LIMIT)
        fixed = np.rint(np.clip(pts, -COORD_LIMIT, COORD_LIMIT) * 65536.0).astype("<i8")
        return fixed.tobytes()

    def _cells(self, p: Points) -> tuple[np.ndarray, ...]:
        # (np.minimum/np.maximum rather than np.clip, and one flat index: the same numbers, with less
        # of numpy's per-call cost, which the few points of a Newton restart are all about)
        s = float(1 << self.shift)
        fx, fy = p[:, 0] / s, p[:, 1] / s
        ix = np.minimum(np.maximum(np.floor(fx), 0), self.gw - 2).astype(np.int64)
        iy = np.minimum(np.maximum(np.floor(fy), 0), self.gh - 2).astype(np.int64)
        tx, ty = fx - ix, fy - iy  # beyond the grid: the edge cells, extended
        v, k = self.values.reshape(-1, 2), iy * self.gw + ix
        return v[k], v[k + 1], v[k + self.gw], v[k + (self.gw + 1)], tx[:, None], ty[:, None]

    def backward(self, p: Points) -> Points:
        """The interpolated backward map the kernel follows (before the affine matrix)."""
        a, b, c, d, tx, ty = self._cells(p)
        return (a * (1.0 - tx) + b * tx) * (1.0 - ty) + (c * (1.0 - tx) + d * tx) * ty

    def forward(self, q: Points) -> tuple[Points, np.ndarray]:
        """The points p with ``backward(p) = q`` (Newton, damped), and each one's residual in pixels.
        Newton starts at q - (B(q) - q); a point it leaves unsolved (near a fold, where the map's
        Jacobian changes sign) is tried again from RESTARTS starts around it, the best kept."""
        q = np.asarray(q, dtype=float).reshape(-1, 2)
        p, err = self._newton(q, 2.0 * q - self.backward(q))
        lost = np.flatnonzero(err > 1e-6)
        if len(lost):
            s = float(1 << self.shift)
            for dx, dy in RESTARTS:
                p2, e2 = self._newton(q[lost], p[lost] + np.array([dx * s, dy * s]))
                better = e2 < err[lost]
                p[lost[better]], err[lost[better]] = p2[better], e2[better]
        return p, err

    def _newton(self, q: Points, p: Points) -> tuple[Points, np.ndarray]:
        """Damped Newton steps on every point until all are solved or NEWTON_STEPS ran. A point
        that an iteration leaves where it was (every halved step made it worse: no solution near;
        or a step too small to move it) would repeat that iteration exactly, as each point's
        iteration depends on its own position alone: it is not computed again, the same numbers."""
        s = float(1 << self.shift)
        p = np.array(p, dtype=float)
        res = self.backward(p) - q
        err = np.hypot(res[:, 0], res[:, 1])
        live = np.arange(len(p))  # the points the last iteration moved
        for _ in range(NEWTON_STEPS):
            if not np.any(err > 1e-9) or not len(live):
                break
            pl, rl, el, ql = p[live], res[live], err[live], q[live]
            a, b, c, d, tx, ty = self._cells(pl)
            jx = ((b - a) * (1.0 - ty) + (d - c) * ty) / s  # d backward / dx, per point (u, v)
            jy = ((c - a) * (1.0 - tx) + (d - b) * tx) / s
            det = jx[:, 0] * jy[:, 1] - jy[:, 0] * jx[:, 1]
            det = np.where(np.abs(det) > 1e-12, det, 1e-12)
            step = np.stack([(jy[:, 1] * rl[:, 0] - jy[:, 0] * rl[:, 1]) / det,
                             (jx[:, 0] * rl[:, 1] - jx[:, 1] * rl[:, 0]) / det], axis=1)
            step = np.minimum(np.maximum(step, -4.0 * s), 4.0 * s)  # one cell's Jacobian says little about far cells
            start = pl
            for _ in range(8):  # halve the step until the residual does not grow
                cand = pl - step
                cres = self.backward(cand) - ql
                cerr = np.hypot(cres[:, 0], cres[:, 1])
                better = cerr <= el
                pl = np.where(better[:, None], cand, pl)
                rl = np.where(better[:, None], cres, rl)
                el = np.where(better, cerr, el)
                if better.all():
                    break
                step = np.where(better[:, None], 0.0, step / 2.0)
            p[live], res[live], err[live] = pl, rl, el
            live = live[(pl.view(np.int64) != start.view(np.int64)).any(axis=1)]  # (bits: -0.0 is not 0.0)
        return p, err

    def forward_edges(self, pts: Points) -> Points:
        """``forward`` for edge coordinates (the image spans [0, W]), as label shapes use. A point
        that has no place in the output (its inverse leaves a residual over UNSEEN px: the corners a
        pincushion pulls out of view, an elastic fold) is put outside the image, w + h px beyond the
        best place found in the direction it is missing by, so that shapes are clipped there and
        keypoints hidden."""
        q = np.asarray(pts, dtype=float).reshape(-1, 2) - 0.5
        p, err = self.forward(q)
        lost = err > UNSEEN
        if lost.any():
            miss = q[lost] - self.backward(p[lost])
            p[lost] += miss * (float(sum(self.size)) / err[lost])[:, None]
        return p + 0.5


def compose(fields: Sequence[Field]) -> Field:
    """Backward maps in the order their ops are applied to the image; the composition's backward
    map evaluates the last one first."""
    def field(p: Points) -> Points:
        for f in reversed(fields):
            p = f(p)
        return p
    return field


# ---------------------------------------------------------------------------------------------------
# images


def remap(image: Image.Image, nodes: Nodes, matrix: np.ndarray, *, fill_mode: str = "nearest", cval: float = 0.0,
          interpolation: str = "bilinear") -> Image.Image:
    """``image`` resampled onto ``nodes.size``: output pixel p reads the source at matrix (B(p))."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"the distortion ops resample with {' or '.join(INTERPOLATIONS)}, not {interpolation}")
    if image.mode in ("I", "F"):
        return _remap_32(image, nodes, matrix, fill_mode, cval, interpolation)
    if image.mode not in LAYOUTS:
        raise ValueError(f"the distortion ops cannot resample a {image.mode} image")
    work, bpp, wide = LAYOUTS[image.mode]
    view = kernels.pixels(image)
    if view is not None:
        src: Any = view
    elif work == "La" or work == "RGBa":
        src = image.convert(work).tobytes("raw", work)
    else:
        src = image.tobytes("raw", work)
    grid = nodes.grid(matrix)
    cv = fill_pixel(work, cval)
    args = dict(fill=fill_mode, interpolation=interpolation, cval=cv, wide=wide)
    if image.mode in ("L", "RGB", "I;16"):
        out = Image.new(image.mode, nodes.size, None)  # not cleared: the kernel writes every byte
        target = kernels.pixels(out, writable=True)
        if target is not None:
            kernels.remap(src, image.size, bpp, grid, (nodes.gw, nodes.gh), nodes.shift, nodes.size, out=target, **args)
            return out
    buf = kernels.remap(src, image.size, bpp, grid, (nodes.gw, nodes.gh), nodes.shift, nodes.size, **args)
    made = Image.frombytes(work, nodes.size, bytes(buf))
    return made.convert(image.mode) if made.mode != image.mode else made


BLOCK_ROWS = 64  # 32-bit images: output rows whose coordinates are held at once


def _fold(i: np.ndarray, n: int, fill_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Tap indices mapped by the fill mode as the kernel maps them, and where they are outside (constant)."""
    outside = (i < 0) | (i >= n)
    if fill_mode == "reflect":
        m = np.mod(i, 2 * n)
        return np.where(m >= n, 2 * n - 1 - m, m), np.zeros_like(outside)
    if fill_mode == "wrap":
        return np.mod(i, n), np.zeros_like(outside)
    return np.clip(i, 0, n - 1), (outside if fill_mode == "constant" else np.zeros_like(outside))


def _remap_32(image: Image.Image, nodes: Nodes, matrix: np.ndarray, fill_mode: str, cval: float,
              interpolation: str) -> Image.Image:
    """32-bit I and F images (no kernel): the kernel's coordinates (the same integer blend of the
    same nodes, in numpy), sampled in float64, BLOCK_ROWS output rows at a time."""
    src = np.asarray(image, dtype=np.float64)
    h, w = src.shape
    ow, oh = nodes.size
    s, grid = nodes.shift, np.frombuffer(nodes.grid(matrix), "<i8").reshape(nodes.gh, nodes.gw, 2)
    big, half = np.int64(1 << s), np.int64((1 << (2 * s)) >> 1)
    fill = float(cval) * (65535.0 / 255.0 if image.mode == "I" else 1.0)
    x = np.arange(ow, dtype=np.int64)
    cx, fx = x >> s, (x & (big - 1))[None, :]
    out = np.empty((oh, ow), dtype=np.float64)
    for y0 in range(0, oh, BLOCK_ROWS):
        y = np.arange(y0, min(oh, y0 + BLOCK_ROWS), dtype=np.int64)
        cy, fy = y >> s, (y & (big - 1))[:, None]
        a, b = grid[cy][:, cx], grid[cy + 1][:, cx]
        a1, b1 = grid[cy][:, cx + 1], grid[cy + 1][:, cx + 1]
        uv = [((a[..., k] * (big - fx) + a1[..., k] * fx) * (big - fy) +
               (b[..., k] * (big - fx) + b1[..., k] * fx) * fy + half) >> (2 * s) for k in (0, 1)]
        if interpolation == "nearest":
            (ix, ox), (iy, oy) = _fold((uv[0] + 32768) >> 16, w, fill_mode), _fold((uv[1] + 32768) >> 16, h, fill_mode)
            out[y0:y0 + len(y)] = np.where(ox | oy, fill, src[iy, ix])
            continue
        tx, ty = (uv[0] & 0xFFFF) / 65536.0, (uv[1] & 0xFFFF) / 65536.0
        (x0, ox0), (x1, ox1) = _fold(uv[0] >> 16, w, fill_mode), _fold((uv[0] >> 16) + 1, w, fill_mode)
        (y0_, oy0), (y1, oy1) = _fold(uv[1] >> 16, h, fill_mode), _fold((uv[1] >> 16) + 1, h, fill_mode)
        top = np.where(ox0 | oy0, fill, src[y0_, x0]) * (1 - tx) + np.where(ox1 | oy0, fill, src[y0_, x1]) * tx
        bot = np.where(ox0 | oy1, fill, src[y1, x0]) * (1 - tx) + np.where(ox1 | oy1, fill, src[y1, x1]) * tx
        out[y0:y0 + len(y)] = top * (1 - ty) + bot * ty
    if image.mode == "I":
        return Image.fromarray(np.clip(np.rint(out), -2**31, 2**31 - 1).astype(np.int32), "I")
    return Image.fromarray(out.astype(np.float32), "F")


def fill_pixel(work: str, cval: float) -> bytes:
    """One pixel of the constant fill colour in the kernel's layout (premultiplied where alpha is)."""
    if work == "I;16":
        return int(min(max(round(cval * 257.0), 0), 65535)).to_bytes(2, "little")
    v = int(min(max(round(cval), 0), 255))
    c = int(round(v * v / 255.0))
    return bytes({"L": [v], "La": [c, v], "RGBX": [v, v, v, v], "RGBa": [c, c, c, v]}[work])


def remap_mask(mask: Image.Image, nodes: Nodes, matrix: np.ndarray, fill: int) -> Image.Image:
    """A segmentation mask through the same map by nearest neighbour; ``fill`` outside. The mode,
    the values and a palette are kept."""
    if mask.mode == "P":
        out = remap(Image.frombytes("L", mask.size, mask.tobytes()), nodes, matrix, fill_mode="constant",
                    cval=float(fill), interpolation="nearest")
        res = Image.frombytes("P", nodes.size, out.tobytes())
        palette = mask.getpalette()
        if palette is not None:
            res.putpalette(palette)
        return res
    cval = fill / 257.0 if mask.mode == "I;16" else float(fill)
    return remap(mask, nodes, matrix, fill_mode="constant", cval=cval, interpolation="nearest")


def nodes_for(steps: Sequence[tuple[Any, Mapping[str, Any]]], size: G.Size) -> Nodes | None:
    """The node grid of the applied distortion ops ``steps`` ((op, params), canonical order) on an
    output of ``size``; None when there are none."""
    if not steps:
        return None
    fields = [op.field(params, size) for op, params in steps]
    shift = min(op.grid_shift() for op, _ in steps)
    return Nodes(fields[0] if len(fields) == 1 else compose(fields), size, shift)
