#!/usr/bin/env python3
"""Quality and cost of resampling schemes built from Pillow's fast paths, against exact bilinear.

The numbers behind bench/README.md, "Quality". For 10 photos: L = photo reduced 2x (box), a
J1-like random transform m, and for each scheme the output's PSNR against a float bilinear warp
(scipy order 1) and against the ground truth (the full-resolution photo warped with cubic splines,
then box-reduced 2x), over the pixels whose source point lies inside the image; and CPU time.
Usage: python bench/resampling_study.py [--images DIR]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from augcli import geometry as G  # noqa: E402

AFFINE, NEAREST = Image.Transform.AFFINE, Image.Resampling.NEAREST


def pil_data(m, scale_out=1.0):
    """Pillow's coefficients (pixel edges) for m (centres), on an output canvas scale_out times larger."""
    e_in = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    e_out = np.array([[1 / scale_out, 0, -0.5], [0, 1 / scale_out, -0.5], [0, 0, 1.0]])
    return tuple((e_in @ m @ e_out)[:2].ravel())


def up2(im):
    """The half-pixel grid of linear interpolation, U[2i] = I[i], U[2i+1] = (I[i] + I[i+1]) / 2,
    from nearest resizes and blends (all C)."""
    w, h = im.size
    a = im.resize((2 * w, h), NEAREST)
    b = Image.new(im.mode, a.size)
    b.paste(a.crop((1, 0, 2 * w, h)), (0, 0))
    b.paste(a.crop((2 * w - 1, 0, 2 * w, h)), (2 * w - 1, 0))
    a = Image.blend(a, b, 0.5).resize((2 * w, 2 * h), NEAREST)
    b = Image.new(im.mode, a.size)
    b.paste(a.crop((0, 1, 2 * w, 2 * h)), (0, 0))
    b.paste(a.crop((0, 2 * h - 1, 2 * w, 2 * h)), (0, 2 * h - 1))
    return Image.blend(a, b, 0.5)


def from_up(up, k, im, m):
    return up.transform(im.size, AFFINE, pil_data(np.diag([k, k, 1.0]) @ m), NEAREST)


SCHEMES = {
    "Pillow bilinear": lambda im, m, u: im.transform(im.size, AFFINE, pil_data(m), Image.Resampling.BILINEAR),
    "Pillow bicubic": lambda im, m, u: im.transform(im.size, AFFINE, pil_data(m), Image.Resampling.BICUBIC),
    "nearest from a 4x linearly upsampled source": lambda im, m, u: from_up(u[4], 4, im, m),
    "nearest onto a 2x canvas, then reduce(2)": lambda im, m, u: im.transform(
        (2 * im.width, 2 * im.height), AFFINE, pil_data(m, 2.0), NEAREST).reduce(2),
    "nearest from a 2x linearly upsampled source": lambda im, m, u: from_up(u[2], 2, im, m),
    "nearest": lambda im, m, u: im.transform(im.size, AFFINE, pil_data(m), NEAREST),
}


def scipy_warp(arr, m, shape, order):
    rc = np.array([[m[1, 1], m[1, 0]], [m[0, 1], m[0, 0]]])
    off = np.array([m[1, 2], m[0, 2]])
    return np.stack([ndimage.affine_transform(arr[..., c], rc, off, output_shape=shape, order=order, mode="nearest")
                     for c in range(3)], -1)


def cpu_ms(fn, n=5):
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=str(ROOT.parent / "shared" / "bench-images"))
    files = sorted(Path(ap.parse_args().images).rglob("*.jpg"))[::15][:10]
    if not files:
        print("note: no images; nothing to measure")
        return 0
    rng = np.random.default_rng(0)
    rows = {name: [] for name in SCHEMES}
    prep = {2: [], 4: []}
    pixels = 0
    for f in files:
        high = Image.open(f).convert("RGB")
        low = high.resize((high.width // 2, high.height // 2), Image.Resampling.BOX)
        w, h = low.size
        pixels += w * h
        m = (G.rotation(rng.uniform(-45, 45), low.size) @ G.zoom(*rng.uniform(0.75, 1.25, 2), low.size)
             @ G.shift(*(rng.uniform(-0.1, 0.1, 2) * low.size)))
        ys, xs = np.mgrid[0:h, 0:w]
        u, v = m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        mask = (u > 2) & (u < w - 3) & (v > 2) & (v < h - 3)
        ref = scipy_warp(np.asarray(low, float), m, (h, w), 1)
        s = np.array([[2, 0, 0.5], [0, 2, 0.5], [0, 0, 1.0]])
        truth = np.clip(scipy_warp(np.asarray(high, float), s @ m @ np.linalg.inv(s), (2 * h, 2 * w), 3), 0, 255)
        truth = truth.reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
        ups = {2: up2(low)}
        ups[4] = up2(ups[2])
        prep[2].append(cpu_ms(lambda: up2(low)))
        prep[4].append(cpu_ms(lambda: up2(up2(low))))

        def psnr(out, target):
            return 10 * np.log10(255.0 ** 2 / np.mean((np.asarray(out, float)[mask] - target[mask]) ** 2))

        for name, fn in SCHEMES.items():
            out = fn(low, m, ups)
            rows[name].append((psnr(out, ref), psnr(out, truth), cpu_ms(lambda: fn(low, m, ups))))
    per_px = 1e6 / (pixels / len(files))
    print(f"{len(files)} photos, reduced 2x; mean PSNR over source-covered pixels; CPU ns per output pixel")
    print(f"{'scheme':45s} {'vs bilinear':>12s} {'vs truth':>10s} {'ns/px':>7s}")
    for name, vals in rows.items():
        a = np.array(vals)
        print(f"{name:45s} {a[:, 0].mean():10.1f}dB {a[:, 1].mean():8.2f}dB {a[:, 2].mean() * per_px:7.1f}")
    for k in (2, 4):
        print(f"preparing the {k}x upsampled source: {np.mean(prep[k]) * per_px:.0f} ns per source pixel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
