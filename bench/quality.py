#!/usr/bin/env python3
"""Output quality of augcli's warp, as numbers (bench/README.md, "Quality").

For each photo H of the images folder: the input is L = H reduced 2x (box filter), and a random J1-like
transform (rotation U(-45, 45), zoom U(0.75, 1.25) per axis, shift U(-0.1, 0.1)) is applied to L
by augcli (warping.warp, as expand does) with each --interpolation. Two PSNRs, over the output
pixels whose source point lies inside the image (so fill rules do not count):

- against a float bilinear reference (scipy.ndimage.affine_transform, order 1, same matrix):
  how close the 8-bit warp is to exact bilinear interpolation;
- against the ground truth: H warped by the same transform at full resolution with cubic splines
  (order 3), then reduced 2x by a box filter - what an ideal resampler of L would give.

Needs scipy (a test dependency). Usage: python bench/quality.py [--images DIR] [--count N]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from augcli import geometry as G  # noqa: E402
from augcli import warping as W  # noqa: E402


def scipy_warp(arr, m, shape, order):
    rc = np.array([[m[1, 1], m[1, 0]], [m[0, 1], m[0, 0]]])
    off = np.array([m[1, 2], m[0, 2]])
    return np.stack([ndimage.affine_transform(arr[..., c], rc, off, output_shape=shape, order=order, mode="nearest")
                     for c in range(arr.shape[-1])], -1)


def psnr(a, b, mask):
    err = np.mean((np.asarray(a, float)[mask] - np.asarray(b, float)[mask]) ** 2)
    return 10 * np.log10(255.0 ** 2 / err)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=str(ROOT.parent / "shared" / "bench-images"))
    ap.add_argument("--count", type=int, default=20)
    args = ap.parse_args()
    files = sorted(Path(args.images).rglob("*.jpg"))
    if not files:
        print(f"note: no images under {args.images}; nothing to measure")
        return 0
    files = files[:: max(1, len(files) // args.count)][: args.count]
    rng = np.random.default_rng(0)
    methods = ("bilinear", "bicubic", "nearest")
    scores = {m: ([], []) for m in methods}
    for f in files:
        high = Image.open(f).convert("RGB")
        low = high.reduce(2)
        w, h = low.size
        m = (G.rotation(rng.uniform(-45, 45), low.size) @ G.zoom(*rng.uniform(0.75, 1.25, 2), low.size)
             @ G.shift(*(rng.uniform(-0.1, 0.1, 2) * low.size)))
        ys, xs = np.mgrid[0:h, 0:w]
        u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        mask = (u > 2) & (u < w - 3) & (v > 2) & (v < h - 3)
        ref = scipy_warp(np.asarray(low, float), m, (h, w), 1)
        s = np.array([[2, 0, 0.5], [0, 2, 0.5], [0, 0, 1.0]])  # low-res centre coords -> high-res
        truth = scipy_warp(np.asarray(high, float), s @ m @ np.linalg.inv(s), (2 * h, 2 * w), 3)
        truth = np.clip(truth, 0, 255)[: 2 * h, : 2 * w].reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
        for method in methods:
            out = W.warp(low, m, low.size, fill_mode="nearest", interpolation=method)
            scores[method][0].append(psnr(out, ref, mask))
            scores[method][1].append(psnr(out, truth, mask))
    print(f"{len(files)} photos from {args.images}, reduced 2x; mean PSNR in dB over source-covered pixels")
    print("interpolation   vs float bilinear   vs ground truth")
    for method in methods:
        a, b = scores[method]
        print(f"{method:14s}  {np.mean(a):17.1f}   {np.mean(b):15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
