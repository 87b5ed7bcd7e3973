#!/usr/bin/env python3
"""CPU time of each photometric op (augcli.functional) on one 500x375 RGB photo, single process.

Each op runs on the same decoded image with fixed parameters; the figure is the median CPU time
(time.process_time, so threads a library may start are counted too) of --repeats calls, in ms.

Usage: python bench/pixel_ops.py [--images DIR] [--repeats N] [--path scalar|avx2|avx512] [--mode RGB|RGBA|L]
                                 [--paths]
The kernel path applies only when augcli has the pixel kernels; it is printed with the results.
--paths adds a table of the bare kernel calls (augcli.kernels, no Pillow conversions) on every path.
On a VM, page faults of fresh buffers can be a large share of an op (see bench/README.md, "Pixel ops").
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from augcli import functional as F  # noqa: E402
from photos import photo  # noqa: E402 - bench/photos.py, beside this script

OPS = {
    "brightness 1.3": lambda im: F.brightness(im, 1.3),
    "contrast 1.4": lambda im: F.contrast(im, 1.4),
    "saturation 1.6": lambda im: F.saturation(im, 1.6),
    "hue +25": lambda im: F.hue(im, 25.0),
    "gamma 1.8": lambda im: F.gamma(im, 1.8),
    "lighting 30/0.4": lambda im: F.lighting(im, 30.0, 0.4),
    "channel_shift": lambda im: F.channel_shift(im, [12.0, -20.0, 5.5]),
    "grayscale": lambda im: F.grayscale(im),
    "blur 0.8": lambda im: F.blur(im, 0.8),
    "blur 2.0": lambda im: F.blur(im, 2.0),
    "noise 10": lambda im: F.gaussian_noise(im, 10.0, 12345),
    "salt_pepper 0.05": lambda im: F.salt_pepper(im, 0.05, 0.5, 12345),
    "erase 2 boxes": lambda im: F.erase(im, [[10, 20, 100, 80], [300, 200, 120, 90]], [[10, 200, 30], [0, 0, 0]]),
}




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "bench-images")
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--path", default=None, help="kernel path (scalar, avx2, avx512)")
    ap.add_argument("--mode", default="RGB")
    ap.add_argument("--paths", action="store_true", help="also time the bare kernels on every path")
    args = ap.parse_args()
    path_name = "-"
    try:
        from augcli import kernels

        if args.path:
            kernels.use(args.path)
        path_name = kernels.active()
    except ImportError:
        pass
    src = photo(args.images)
    image = Image.open(src).convert(args.mode)
    image.load()
    print(f"{src.relative_to(args.images)} {image.size[0]}x{image.size[1]} {image.mode}, kernel path {path_name}, "
          f"median of {args.repeats} (CPU ms)")
    for name, fn in OPS.items():
        fn(image)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.process_time()
            fn(image)
            times.append(time.process_time() - t0)
        print(f"  {name:18s} {1000 * statistics.median(times):8.2f}")
    if args.paths and path_name != "-":
        bare_kernels(image, args.repeats)


def bare_kernels(image: Image.Image, repeats: int) -> None:
    from augcli import kernels as K

    rgb = image.convert("RGB")
    src, size = rgb.tobytes(), rgb.size
    calls = {
        "saturation": lambda: K.saturation(src, size, 3, 1.6),
        "hue": lambda: K.hue(src, size, 3, 25.0),
        "lighting": lambda: K.lighting(src, size, 3, 3, 0.7, 0.001, -0.001),
        "blur 0.8": lambda: K.blur(src, size, 3, 3, 0.8),
        "blur 2.0": lambda: K.blur(src, size, 3, 3, 2.0),
        "noise": lambda: K.gaussian_noise(src, size, 3, 3, 10.0, 12345),
        "salt_pepper": lambda: K.salt_pepper(src, size, 3, 3, 0.05, 0.5, 12345),
        "channel_sums": lambda: K.channel_sums(src, size, 3, 3),
    }
    before = K.active()
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):  # paths interleaved, so a change of machine load hits them alike
        for path in K.available():
            K.use(path)
            for name, fn in calls.items():
                t0 = time.process_time()
                fn()
                times.setdefault((name, path), []).append(time.process_time() - t0)
    K.use(before)
    print("bare kernels, RGB (CPU ms): " + "  ".join(f"{p:>8s}" for p in K.available()))
    for name in calls:
        print(f"  {name:18s}   " + "  ".join(f"{1000 * statistics.median(times[name, p]):8.2f}" for p in K.available()))


if __name__ == "__main__":
    main()
