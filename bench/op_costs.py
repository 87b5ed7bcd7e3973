#!/usr/bin/env python3
"""Where a job's pixel time goes: the CPU time (time.process_time) of each pixel op's apply, per
output pixel, over the first --count photos, with a job's flags (J3 or J5 of systems/augcli.py) and
each op's probability p (an op not drawn costs nothing), in one process and one thread. Geometry
(one warp) and JPEG are left out: they are the same for every pixel-op set. Each op is applied to the
source photo (cold in the caches, as for the first op after the warp of a fresh source), or with
--chain to the previous op's output, in canonical order, as the pipeline does (hot in the caches):
then a copy of the photo (made untimed) stands for the warp's new image, and an op gets it as the
render gives it (``Op.into`` while the render owns the image: value maps write into it).

Usage: python bench/op_costs.py [--images DIR] [--job J3|J5] [--count N] [--rounds R] [--chain]
"""
from __future__ import annotations

import argparse
import collections
import runpy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def job_flags(job: str) -> list[str]:
    """The job's augcli flags, read from bench/systems/augcli.py (named like the package, so run by path)."""
    system = runpy.run_path(str(ROOT / "bench" / "systems" / "augcli.py"), run_name="flags")
    return system["BASE_FLAGS"] + system["J3_FLAGS"] + (system["J5_FLAGS"] if job == "J5" else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "bench-images")
    ap.add_argument("--job", default="J5", choices=("J3", "J5"))
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--chain", action="store_true", help="each op on the previous op's output")
    args = ap.parse_args()

    import numpy as np
    from PIL import Image

    from augcli import kernels
    from augcli.cli import cli
    from augcli.cli_options import build_pipeline

    ctx = cli.commands["expand"].make_context("expand", [str(args.images), "/nonexistent-out", *job_flags(args.job)])
    ops = [op for op in build_pipeline(dict(ctx.params)).ops if not op.geometric]
    images = []
    for path in sorted(args.images.rglob("*.jpg"))[:args.count]:
        with Image.open(path) as im:
            images.append(im.convert("RGB"))
    rng = np.random.default_rng(0)
    cpu: collections.Counter = collections.Counter()
    pixels = 0
    for _ in range(args.rounds):
        for image in images:
            pixels += image.size[0] * image.size[1]
            current, owned = (image.copy(), True) if args.chain else (image, False)
            for op in ops:
                if rng.random() >= op.p:
                    continue
                params = op.sample(rng, image.size)
                t = time.process_time()
                out = op.into(current, params) if owned else op.apply(current, params)
                cpu[op.name] += time.process_time() - t
                if args.chain:  # as Pipeline.renderer: the image stays its own through a fresh op
                    owned = op.fresh and (owned or out is not current)
                    current = out
    print(f"{args.job}: {len(images)} photos x {args.rounds}, kernel path {kernels.active()}, "
          f"CPU ns per output pixel (p included){', chained' if args.chain else ''}")
    for name, seconds in cpu.most_common():
        print(f"  {name:16} {seconds / pixels * 1e9:7.2f}")
    print(f"  {'all pixel ops':16} {sum(cpu.values()) / pixels * 1e9:7.2f}")


if __name__ == "__main__":
    main()
