#!/usr/bin/env python3
"""--jpeg-artifacts' round trip: augcli's kernel (kernels.jpeg, no entropy coder) against Pillow's
save + open, on one 500x375 RGB photo (bench/photos.py), in ms per call.

For each quality the two are timed alternately, --repeats calls each per round, --rounds rounds;
the figure is the median of the round medians, so a VM's drifting speed hits both alike. Both go
through the op's own function (augcli.functional.jpeg_round_trip) for augcli, and the code it used
before the kernel for Pillow; the bytes are checked to be equal. One thread.

Usage: python bench/jpeg_ops.py [--images DIR] [--repeats N] [--rounds R] [--path P] [--mode RGB|L]
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

from photos import photo  # bench/photos.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pillow_round_trip(image, quality: int):
    from PIL import Image

    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    out = Image.open(io.BytesIO(buf.getvalue()))
    out.load()
    return out


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "bench-images")
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--path", default=None, help="kernel path (scalar, avx2, avx512)")
    ap.add_argument("--mode", default="RGB", choices=("RGB", "L"))
    args = ap.parse_args()

    from PIL import Image

    from augcli import functional as F
    from augcli import kernels

    if args.path:
        kernels.use(args.path)
    with Image.open(photo(args.images)) as im:
        image = im.convert(args.mode)
    print(f"{image.size[0]}x{image.size[1]} {args.mode}, kernel path {kernels.active()}, "
          f"{args.rounds} rounds x {args.repeats} calls, ms per call (median of round medians)")
    print(f"{'quality':>8} {'augcli':>8} {'Pillow':>8} {'ratio':>6}")
    for q in (50, 75, 90, 100):
        assert F.jpeg_round_trip(image, q).tobytes() == pillow_round_trip(image, q).tobytes()
        mine, theirs = [], []
        for _ in range(args.rounds):
            mine.append(timed(lambda: F.jpeg_round_trip(image, q), args.repeats))
            theirs.append(timed(lambda: pillow_round_trip(image, q), args.repeats))
        a, b = statistics.median(mine), statistics.median(theirs)
        print(f"{q:>8} {a:8.3f} {b:8.3f} {b / a:5.1f}x")


if __name__ == "__main__":
    main()
