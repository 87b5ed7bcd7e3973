"""A/B of the warp kernel of two checkouts, in ONE process, interleaved: the way to see a change of
a few percent on a noisy shared VM (separate runs drift by more than that).

    python bench/warp_ab.py --base /tmp/base            # /tmp/base: a checkout with its kernels built
    python bench/warp_ab.py --base /tmp/base --path scalar --fill wrap --images big

Loads ``augcli/kernels/_warp*.so`` of the base checkout and of this one under different module
names, warps the same photos of ../shared/bench-images with the same J1-like matrices (rotation
U(-45, 45), zoom U(0.75, 1.25) per axis, shift U(-0.1, 0.1), horizontal flip p = 0.5; ``--images
proj`` adds a small projective term; ``--images remap`` runs the remap kernel instead, on a node grid
every 8 px of the same affine map plus a smooth displacement of a few pixels, like --elastic) on both, alternating which goes first, and prints the minimum
and median ns per output pixel of each and the ratio of the minima. It also says whether the two
builds wrote the same bytes (they must, unless the arithmetic changed on purpose).
"""
from __future__ import annotations

import argparse
import glob
import importlib.machinery
import importlib.util
import math
import os
import sys
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FILLS = {"nearest": 0, "reflect": 1, "wrap": 2, "constant": 3}


def load(checkout: str, tag: str):
    found = glob.glob(os.path.join(checkout, "augcli", "kernels", "_warp*.so")) + \
        glob.glob(os.path.join(checkout, "augcli", "kernels", "_warp*.pyd"))
    if not found:
        sys.exit(f"warp_ab: no built _warp module in {checkout}/augcli/kernels (python setup.py build_ext --inplace)")
    loader = importlib.machinery.ExtensionFileLoader(f"{tag}._warp", found[0])
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(f"{tag}._warp", loader))
    loader.exec_module(module)
    return module


def matrices(rng: np.random.Generator, w: int, h: int, projective: bool, n: int = 4) -> list[tuple[float, ...]]:
    out = []
    for _ in range(n):
        a = math.radians(rng.uniform(-45, 45))
        zx, zy = rng.uniform(0.75, 1.25, 2)
        tx, ty = rng.uniform(-0.1, 0.1) * w, rng.uniform(-0.1, 0.1) * h
        c, s = math.cos(a), math.sin(a)
        flip = -1 if rng.random() < 0.5 else 1
        lin = np.array([[c * zx * flip, -s * zy, 0], [s * zx * flip, c * zy, 0], [0, 0, 1]])
        if projective:
            lin[2, 0], lin[2, 1] = rng.uniform(-1e-4, 1e-4, 2)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        m = np.array([[1, 0, cx + tx], [0, 1, cy + ty], [0, 0, 1]]) @ lin @ np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
        out.append(tuple(float(v) for v in m.ravel()))
    return out


def remap_grid(w: int, h: int, m: tuple[float, ...], shift: int = 3) -> tuple[bytes, int, int]:
    """The remap's nodes (16.16, every 2^shift px) of the affine map m plus a smooth displacement."""
    gw, gh = ((w - 1) >> shift) + 2, ((h - 1) >> shift) + 2
    x, y = np.meshgrid(np.arange(gw) * float(1 << shift), np.arange(gh) * float(1 << shift))
    u = m[0] * x + m[1] * y + m[2] + 4.0 * np.sin(x / 37.0) * np.cos(y / 53.0)
    v = m[3] * x + m[4] * y + m[5] + 4.0 * np.cos(x / 41.0) * np.sin(y / 29.0)
    nodes = np.rint(np.stack([u, v], axis=-1) * 65536.0).astype("<i8")
    return nodes.tobytes(), gw, gh


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the other checkout (its kernels built in place)")
    ap.add_argument("--path", default=None, help="kernel path for both: scalar, avx2 or avx512 (default: the best)")
    ap.add_argument("--fill", choices=FILLS, default="nearest")
    ap.add_argument("--images", choices=("small", "big", "proj", "remap"), default="small",
                    help="8 typical photos, the large ones, the typical ones with projective matrices, or the "
                         "typical ones through the remap")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--bench-images", default=os.path.join(ROOT, "..", "shared", "bench-images"))
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(a.bench_images, "*", "*.jpg")))
    if not files:
        print(f"warp_ab: no photos under {a.bench_images}; nothing to measure")
        return
    mods = {"base": load(a.base, "warp_ab_base"), "this": load(ROOT, "warp_ab_this")}
    for m in mods.values():
        m.set_path(a.path or m.available()[-1])
    chosen = [f for f in files if (Image.open(f).size[0] > 1000) == (a.images == "big")][:8]
    rng = np.random.default_rng(0)
    work = []
    for f in chosen:
        im = Image.open(f).convert("RGB")
        w, h = im.size
        ms = matrices(rng, w, h, a.images == "proj")
        if a.images == "remap":
            ms = [remap_grid(w, h, m) for m in ms]
        work.append((im.tobytes("raw", "RGBX"), w, h, ms, bytearray(w * h * 4)))
    times: dict[str, list[float]] = {k: [] for k in mods}
    outputs: dict[str, list[bytes]] = {}
    for rep in range(a.reps):
        order = list(mods.items()) if rep % 2 else list(reversed(mods.items()))
        for name, mod in order:
            px, t = 0, time.perf_counter()
            for src, w, h, ms, out in work:
                for m in ms:
                    if a.images == "remap":
                        grid, gw, gh = m
                        mod.remap(src, w, h, 4 * w, 4, 0, out, w, h, 4 * w, grid, gw, gh, 3, FILLS[a.fill], 1,
                                  b"\x10\x20\x30\x00")
                    else:
                        mod.warp(src, w, h, 4 * w, 4, 0, out, w, h, 4 * w, m, FILLS[a.fill], 1, b"\x10\x20\x30\x00")
                    px += w * h
            times[name].append((time.perf_counter() - t) / px * 1e9)
            if rep == 0:
                outputs[name] = [bytes(o) for *_, o in work]
    path = mods["this"].path()
    for name, v in times.items():
        print(f"{name:5s} {path} {a.images} fill {a.fill}: min {min(v):.2f}  median {sorted(v)[len(v) // 2]:.2f} ns/px")
    print(f"this / base (minima): {min(times['this']) / min(times['base']):.3f}; bytes "
          f"{'the same' if outputs['base'] == outputs['this'] else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
