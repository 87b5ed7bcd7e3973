"""augcli's warp kernel against OpenCV's ``warpAffine``, one thread, on the bench photos: the same
J1-like affine maps (bilinear, edge replicated), CPU ns per output pixel, interleaved.

    python bench/warp_peer.py [--images ../shared/bench-images] [--photos 20] [--reps 30]

Prints the median over photos of each side's per-photo minimum, and their ratio. OpenCV is a
bench-only reference (``pip install -r bench/requirements-peers.txt``); skipped without it.
"""
from __future__ import annotations

import argparse
import glob
import math
import os
import statistics
import sys
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def matrices(rng: np.random.Generator, w: int, h: int, n: int) -> list[np.ndarray]:
    """Output -> input maps about the centre: rotation U(-45, 45), zoom U(0.75, 1.25), shift 10 %."""
    out = []
    for _ in range(n):
        a, z = math.radians(rng.uniform(-45, 45)), rng.uniform(0.75, 1.25)
        c, s = math.cos(a) / z, math.sin(a) / z
        tx, ty = rng.uniform(-0.1, 0.1) * w, rng.uniform(-0.1, 0.1) * h
        cx, cy = (w - 1) / 2, (h - 1) / 2
        out.append(np.array([[c, -s, cx - c * cx + s * cy + tx], [s, c, cy - s * cx - c * cy + ty], [0, 0, 1.0]]))
    return out


def best(fn, reps: int) -> int:
    t = []
    for _ in range(reps):
        t0 = time.process_time_ns()
        fn()
        t.append(time.process_time_ns() - t0)
    return min(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=os.path.join(HERE, "..", "..", "shared", "bench-images"))
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--reps", type=int, default=30)
    a = ap.parse_args()
    try:
        import cv2
    except ImportError:
        print("skipped: OpenCV is not installed (pip install -r bench/requirements-peers.txt)")
        return
    from augcli import kernels
    from augcli.warping import Warper

    cv2.setNumThreads(1)
    paths = sorted(glob.glob(os.path.join(a.images, "*", "*.jpg")))[:a.photos]
    if not paths:
        print(f"skipped: no photos under {a.images}")
        return
    rng = np.random.default_rng(0)
    ours, theirs = [], []
    for p in paths:
        im = Image.open(p).convert("RGB")
        w, h = im.size
        arr = np.asarray(im)
        warper = Warper(im, fill_mode="nearest", interpolation="bilinear")
        for m in matrices(rng, w, h, 2):
            two = np.ascontiguousarray(m[:2])
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            ours.append(best(lambda: warper.warp(m, (w, h)), a.reps) / (w * h))
            theirs.append(best(lambda: cv2.warpAffine(arr, two, (w, h), flags=flags,
                                                      borderMode=cv2.BORDER_REPLICATE), a.reps) / (w * h))
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"kernel path {kernels.active()}, OpenCV {cv2.__version__}, {len(ours)} warps of {len(paths)} photos")
    print(f"augcli warp (with its Python and the new image): {o:.2f} ns/px")
    print(f"cv2.warpAffine (bilinear, replicated border):    {t:.2f} ns/px")
    print(f"ratio: augcli = {o / t:.2f} x OpenCV")


if __name__ == "__main__":
    main()
