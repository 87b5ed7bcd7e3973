#!/usr/bin/env python3
"""Per-pixel cost of the tone ops (augcli.tonal) against the Pillow call each one reproduces,
on one photo, in one thread: the median CPU time (time.process_time) of --repeats calls of each,
interleaved, and a check that the two give the same bytes. With --mode L and OpenCV importable, also
CLAHE against cv2.createCLAHE on the same channel (one OpenCV thread; within 1 level, not the same
bytes).

Usage: python bench/tone_ops.py [--images DIR] [--repeats N] [--mode RGB|RGBA|L] [--path scalar|avx2|avx512]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageFilter, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from augcli import tonal as TF  # noqa: E402
from augcli import kernels  # noqa: E402
from augcli.ops import tone_image  # noqa: E402
from photos import photo  # noqa: E402 - bench/photos.py, beside this script


def with_alpha(reference):
    """Pillow's ImageOps take L and RGB only: on RGBA, the colour part, then the alpha put back."""
    def run(im: Image.Image) -> Image.Image:
        if im.mode != "RGBA":
            return reference(im)
        return Image.merge("RGBA", (*reference(im.convert("RGB")).split(), im.getchannel("A")))
    return run


OPS = {
    "autocontrast": (TF.autocontrast, ImageOps.autocontrast),
    "equalize": (TF.equalize, ImageOps.equalize),
    "posterize 3": (lambda im: TF.posterize(im, 3), lambda im: ImageOps.posterize(im, 3)),
    "solarize 128": (lambda im: TF.solarize(im, 128), lambda im: ImageOps.solarize(im, 128)),
    "invert": (TF.invert, ImageOps.invert),
    "sharpen 1.5": (lambda im: TF.sharpen(im, 1.5), lambda im: im.filter(ImageFilter.UnsharpMask(2, 150, 3))),
}




def cpu_ms(fn, image: Image.Image) -> float:
    t0 = time.process_time()
    fn(image)
    return (time.process_time() - t0) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "bench-images")
    ap.add_argument("--repeats", type=int, default=51)
    ap.add_argument("--mode", default="RGB")
    ap.add_argument("--path", default=None, help="kernel path (scalar, avx2, avx512)")
    args = ap.parse_args()
    if args.path:
        kernels.use(args.path)
    src = photo(args.images)
    image = Image.open(src).convert(args.mode)
    image.load()
    n = image.size[0] * image.size[1]
    print(f"{src.relative_to(args.images)} {image.size[0]}x{image.size[1]} {image.mode}, kernel path "
          f"{kernels.active()}, median of {args.repeats} (CPU time)")
    print(f"{'op':14} {'augcli ms':>10} {'ns/px':>7} {'Pillow ms':>10} {'ns/px':>7} {'ratio':>6}  same bytes")
    ops = dict(OPS)
    if args.mode == "L":
        try:
            import cv2
        except ImportError:
            cv2 = None
        if cv2 is not None:
            import numpy as np

            cv2.setNumThreads(1)
            opencv = cv2.createCLAHE(2.0, (8, 8))
            ops["clahe 2 (cv2)"] = (lambda im: tone_image.clahe(im, 2.0, (8, 8)),
                                    lambda im: Image.fromarray(opencv.apply(np.asarray(im))))
    for name, (ours, theirs) in ops.items():
        theirs = with_alpha(theirs)
        same = ours(image).tobytes() == theirs(image).tobytes()  # also the warm-up
        a, b = [], []
        for _ in range(args.repeats):
            a.append(cpu_ms(ours, image))
            b.append(cpu_ms(theirs, image))
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{name:14} {ma:10.3f} {ma * 1e6 / n:7.2f} {mb:10.3f} {mb * 1e6 / n:7.2f} {ma / mb:6.2f}  {same}")


if __name__ == "__main__":
    main()
