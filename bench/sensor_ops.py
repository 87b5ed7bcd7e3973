#!/usr/bin/env python3
"""Per-pixel cost of the sensor, occlusion and tone ops and CLAHE: augcli against AlbumentationsX (or albumentations).

One 500x375 RGB photo, decoded once; each op applied --repeats times with fixed settings (the same
on both sides, see CASES); the figure is the median wall time of a call divided by the pixel count,
in ns per pixel, one thread (OpenCV's threads off, OMP/BLAS threads 1). augcli's value maps run as
the pipeline runs them, in place on the warp's new image (``in_place=True``): each call gets a new
copy of the photo, made before its timer starts; the copy's own time is a row of its own. The peer is timed by running
this script again with --peer in the peer's interpreter (AlbumentationsX is AGPL and installs the
same module name as albumentations, so it lives in its own venv, `make bench` / the Makefile's ALBX).

Usage: python bench/sensor_ops.py [--images DIR] [--repeats N] [--rounds R] [--peer-python PATH] [--path P]
       (PATH e.g. /tmp/augcli-bench-albx/bin/python; without it only augcli is timed)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from photos import alternate, cell, photo  # bench/photos.py, beside this script

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

ROOT = Path(__file__).resolve().parent.parent

class InPlace:
    """An augcli call that writes into the image it is given, as the render calls a value map on the
    warp's own new image: timed on a new copy of the photo each call, the copy made untimed."""

    def __init__(self, call):
        self.call = call


# (name, augcli call on a PIL image, albumentations transform built from (A, cv2))
CASES = [
    ("motion_blur 7 @45deg", lambda S, im: S.motion_blur(im, 7, 45.0),
     lambda A, cv2: A.MotionBlur(blur_range=(7, 7), angle_range=(45, 45), direction_range=(0, 0),
                                 allow_shifted=False, p=1)),
    ("median_blur 3", lambda S, im: S.median_blur(im, 3), lambda A, cv2: A.MedianBlur(blur_range=(3, 3), p=1)),
    ("median_blur 5", lambda S, im: S.median_blur(im, 5), lambda A, cv2: A.MedianBlur(blur_range=(5, 5), p=1)),
    ("median_blur 7", lambda S, im: S.median_blur(im, 7), lambda A, cv2: A.MedianBlur(blur_range=(7, 7), p=1)),
    ("downscale 0.25 nearest", lambda S, im: S.downscale(im, 0.25, "nearest"),
     lambda A, cv2: A.Downscale(scale_range=(0.25, 0.25), p=1,
                                interpolation_pair={"downscale": cv2.INTER_NEAREST, "upscale": cv2.INTER_NEAREST})),
    ("downscale 0.25 bilinear", lambda S, im: S.downscale(im, 0.25, "bilinear"),
     lambda A, cv2: A.Downscale(scale_range=(0.25, 0.25), p=1,
                                interpolation_pair={"downscale": cv2.INTER_LINEAR, "upscale": cv2.INTER_LINEAR})),
    ("iso_noise", lambda S, im: S.iso_noise(im, 10.0, 0.5, 12345),
     lambda A, cv2: A.ISONoise(color_shift_range=(0.03, 0.03), intensity_range=(0.3, 0.3), p=1)),
    ("coarse_dropout 8 holes", lambda S, im: S.fill_holes(im, HOLES, "black"),
     lambda A, cv2: A.CoarseDropout(num_holes_range=(8, 8), hole_height_range=(0.15, 0.15),
                                    hole_width_range=(0.15, 0.15), fill=0, p=1)),
    ("coarse_dropout 8 holes, noise", lambda S, im: S.fill_holes(im, HOLES, "noise", noise_seed=7),
     lambda A, cv2: A.CoarseDropout(num_holes_range=(8, 8), hole_height_range=(0.15, 0.15),
                                    hole_width_range=(0.15, 0.15), fill="random", p=1)),
    ("grid_mask unit 75, hole 30", lambda S, im: S.grid_mask(im, 75, 30, 10, 20),
     lambda A, cv2: A.GridDropout(ratio=0.4, unit_size_range=(75, 75), random_offset=True, p=1)),
    # augcli: on the 601 luma, the bands moved by its change; the peer: on L of OpenCV's Lab, converted
    # there and back (each side's own recipe for a colour image)
    ("clahe 2, 8x8 tiles", lambda S, im: S.clahe(im, 2.0, (8, 8)),
     lambda A, cv2: A.CLAHE(clip_limit=(2, 2), tile_grid_size=(8, 8), p=1)),
    # the tone ops (augcli.tonal: Pillow's ImageOps bytes) against the peer's transform of that name
    ("autocontrast", lambda S, im: S.autocontrast(im), lambda A, cv2: A.AutoContrast(method="pil", p=1)),
    ("equalize", lambda S, im: S.equalize(im), lambda A, cv2: A.Equalize(mode="pil", by_channels=True, p=1)),
    ("posterize 3 bits", InPlace(lambda S, im: S.posterize(im, 3, in_place=True)),
     lambda A, cv2: A.Posterize(num_bits=(3, 3), p=1)),
    ("solarize 128", InPlace(lambda S, im: S.solarize(im, 128, in_place=True)),
     lambda A, cv2: A.Solarize(threshold_range=(0.5, 0.5), p=1)),
    ("invert", InPlace(lambda S, im: S.invert(im, in_place=True)), lambda A, cv2: A.InvertImg(p=1)),
    # unsharp mask, sigma 2, amount 1.5 (augcli: Pillow's box-approximated Gaussian, threshold 3 levels;
    # the peer: OpenCV's Gaussian of a 13-pixel kernel, threshold 3)
    ("sharpen (unsharp mask, sigma 2) 1.5", lambda S, im: S.sharpen(im, 1.5),
     lambda A, cv2: A.UnsharpMask(blur_range=(13, 13), sigma_range=(2.0, 2.0), alpha_range=(1.0, 1.0), threshold=3,
                                  p=1)),
]
# 8 holes of 15 % of each side (75 x 56 on 500 x 375), as the peer's settings draw them
HOLES = [[10 + 55 * i, 20 + 35 * i, 75, 56] for i in range(8)]




def timed(fn, repeats: int, setup=None) -> float:
    """The median time of ``fn()``, or of ``fn(setup())`` with ``setup`` outside the timer."""
    call = fn if setup is None else (lambda: fn(setup()))
    call()  # warm: first-call imports and allocations
    times = []
    for _ in range(repeats):
        arg = None if setup is None else setup()
        t = time.perf_counter()
        fn() if setup is None else fn(arg)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


COPY = "(the photo's copy each in-place call gets, untimed above)"


def run_augcli(path: Path, repeats: int) -> dict[str, float]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from PIL import Image

    from augcli import tonal
    from augcli.ops import sensor_image, tone_image

    S = SimpleNamespace(**{**vars(sensor_image), **vars(tone_image), **vars(tonal)})  # the ops' image code, by name
    with Image.open(path) as im:
        im.load()
    n = im.size[0] * im.size[1]
    out = {}
    for name, mine, _ in CASES:
        if isinstance(mine, InPlace):
            out[name] = timed(lambda fresh: mine.call(S, fresh), repeats, setup=im.copy) / n * 1e9
        else:
            out[name] = timed(lambda: mine(S, im), repeats) / n * 1e9
    out[COPY] = timed(im.copy, repeats) / n * 1e9
    return out


def run_peer(path: Path, repeats: int) -> dict[str, float]:
    import albumentations as A
    import cv2
    cv2.setNumThreads(1)
    img = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)  # the peer has no Pillow
    n = img.shape[0] * img.shape[1]
    out = {"version": f"{A.__name__} {A.__version__}, OpenCV {cv2.__version__}"}
    for name, _, peer in CASES:
        t = peer(A, cv2)
        out[name] = timed(lambda: t(image=img)["image"], repeats) / n * 1e9
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "bench-images")
    ap.add_argument("--repeats", type=int, default=41)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-python", default=None)
    ap.add_argument("--path", default=None, help="augcli kernel path (scalar, avx2, avx512)")
    ap.add_argument("--peer", type=Path, default=None, help=argparse.SUPPRESS)  # the photo, in the peer's venv
    args = ap.parse_args()
    if args.peer:
        print(json.dumps(run_peer(args.peer, args.repeats)))
        return
    path = photo(args.images)
    from PIL import Image
    if args.path:
        os.environ["AUGCLI_KERNELS"] = args.path
    # each cell is the median over the rounds of the per-round medians
    mine_rounds, peer_rounds = alternate(args.rounds, lambda: run_augcli(path, args.repeats), __file__, path,
                                         args.repeats, args.peer_python)
    from augcli import kernels

    print(f"{path.name} ({Image.open(path).size[0]}x{Image.open(path).size[1]}), ns per pixel, median of "
          f"{args.rounds} rounds of {args.repeats} calls; augcli kernels {kernels.active()}"
          + (f"; peer: {peer_rounds[0]['version']}" if peer_rounds else ""))
    print(f"| op | augcli | {'peer' if peer_rounds else ''} |\n|---|---|---|")
    for name, _, _ in CASES:
        print(f"| {name} | {cell(mine_rounds, name)} | {cell(peer_rounds, name)} |")
    print(f"| {COPY} | {cell(mine_rounds, COPY)} | |")

if __name__ == "__main__":
    main()
