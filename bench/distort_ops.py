#!/usr/bin/env python3
"""Per-pixel cost of the distortion ops (--elastic, --grid-distort, --lens): augcli against
AlbumentationsX's ElasticTransform, GridDistortion and OpticalDistortion; and the label error.

One 500x375 RGB photo, decoded once; each op applied --repeats times with fixed settings (CASES);
the figure is the fastest call's wall time over the pixel count (median over the rounds), in ns
per pixel, one thread
(OpenCV's threads off, OMP/BLAS threads 1). augcli's "op" figure is the op as the pipeline runs it
(field from its params, node grid, remap: ``Op.apply``); "kernel" is the remap kernel alone with the
node grid made. The peer runs in its own interpreter (--peer-python), as in bench/sensor_ops.py.

--labels measures the label forward map on every 500x375-or-so photo of the set: for 2,000 random
points p of each image and op, q = B(p) through the EXACT field (not the node grid), then the
forward map's answer for q; the error is its distance from p (node-grid interpolation plus the
numerical inverse), and the residual is how far the interpolated map sends the answer from q.

Usage: python bench/distort_ops.py [--images DIR] [--repeats N] [--rounds R] [--peer-python PATH]
       python bench/distort_ops.py --labels [--images DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from photos import alternate, cell, photo  # bench/photos.py, beside this script

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

ROOT = Path(__file__).resolve().parent.parent

# (name, augcli op and params (from augcli.ops), peer transform built from (A, cv2))
CASES = [
    ("elastic 300:20", lambda O: (O.Elastic(alpha_sigma=(300.0, 20.0)), {"alpha": 300.0, "sigma": 20.0, "seed": 5}),
     lambda A, cv2: A.ElasticTransform(alpha=300, sigma=20, noise_distribution="uniform", p=1)),
    ("elastic 34:4", lambda O: (O.Elastic(alpha_sigma=(34.0, 4.0)), {"alpha": 34.0, "sigma": 4.0, "seed": 5}),
     lambda A, cv2: A.ElasticTransform(alpha=34, sigma=4, noise_distribution="uniform", p=1)),
    ("grid_distort 0.2", lambda O: (O.GridDistort(limit=0.2), {"offsets": [[0.2, -0.15], [-0.1, 0.2]] * 8}),
     lambda A, cv2: A.GridDistortion(num_steps=5, distort_limit=(0.2, 0.2), p=1)),
    ("lens 0.2", lambda O: (O.Lens(limit=0.2), {"k": 0.2}),
     lambda A, cv2: A.OpticalDistortion(distort_limit=(0.2, 0.2), p=1)),
]


def timed(fn, repeats: int) -> float:
    fn()  # warm: first-call imports and allocations
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)  # the shared machine's load only ever adds time


def _augcli():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import augcli.ops as O
    from augcli import distort as D
    return O, D


def run_augcli(path: Path, repeats: int) -> dict[str, float]:
    from PIL import Image
    O, D = _augcli()
    with Image.open(path) as im:
        im.load()
    n = im.size[0] * im.size[1]
    out = {}
    eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    for name, make, _ in CASES:
        op, params = make(O)
        out[name] = timed(lambda: op.apply(im, params), repeats) / n * 1e9
        nodes = D.Nodes(op.field(params, im.size), im.size, op.grid_shift())
        out[name + " kernel"] = timed(lambda: D.remap(im, nodes, eye), repeats) / n * 1e9
    return out


def run_peer(path: Path, repeats: int) -> dict[str, float]:
    import albumentations as A
    import cv2
    cv2.setNumThreads(1)
    img = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    n = img.shape[0] * img.shape[1]
    out = {"version": f"{A.__name__} {A.__version__}, OpenCV {cv2.__version__}"}
    for name, _, peer in CASES:
        t = peer(A, cv2)
        out[name] = timed(lambda: t(image=img)["image"], repeats) / n * 1e9
    return out


def label_errors(folder: Path) -> None:
    import numpy as np
    from PIL import Image
    O, D = _augcli()
    ops = [("elastic 300:20", O.Elastic(alpha_sigma=(300.0, 20.0))), ("elastic 34:4", O.Elastic(alpha_sigma=(34.0, 4.0))),
           ("grid_distort 0.25", O.GridDistort(limit=0.25)), ("lens 0.3", O.Lens(limit=0.3))]
    worst: dict[str, list[float]] = {name: [0.0, 0.0, 0.0] for name, _ in ops}
    images = sorted(Path(folder).rglob("*.jpg"))
    rng = np.random.default_rng(1)
    for path in images:
        with Image.open(path) as im:
            size = im.size
        for name, op in ops:
            params = op.sample(rng, size)
            field = op.field(params, size)
            nodes = D.Nodes(field, size, op.grid_shift())
            p = rng.uniform([0, 0], [size[0] - 1, size[1] - 1], (2000, 2))
            q = field(p)
            got, res = nodes.forward(q)
            err = np.hypot(*(got - p).T)
            w = worst[name]
            w[0], w[1], w[2] = max(w[0], float(err.max())), max(w[1], float(np.median(err))), max(w[2], float(res.max()))
    print(f"{len(images)} photos, 2,000 points each; px")
    print("| op | max error vs the exact field | largest median error | max residual (vs the pixels' map) |")
    print("|---|---|---|---|")
    for name, (mx, med, res) in worst.items():
        print(f"| {name} | {mx:.3f} | {med:.4f} | {res:.1e} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "bench-images")
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-python", default=None)
    ap.add_argument("--labels", action="store_true")
    ap.add_argument("--peer", type=Path, default=None, help=argparse.SUPPRESS)  # the photo, in the peer's venv
    args = ap.parse_args()
    if args.peer:
        print(json.dumps(run_peer(args.peer, args.repeats)))
        return
    if args.labels:
        label_errors(args.images)
        return
    path = photo(args.images)
    mine_rounds, peer_rounds = alternate(args.rounds, lambda: run_augcli(path, args.repeats), __file__, path,
                                         args.repeats, args.peer_python)
    from augcli import kernels

    print(f"{path.name}, ns per pixel, median of {args.rounds} rounds of {args.repeats} calls; augcli kernels "
          f"{kernels.active()}" + (f"; peer: {peer_rounds[0]['version']}" if peer_rounds else ""))
    print("| op | augcli op | augcli remap kernel | peer |\n|---|---|---|---|")
    for name, _, _ in CASES:
        print(f"| {name} | {cell(mine_rounds, name)} | {cell(mine_rounds, name + ' kernel')} | {cell(peer_rounds, name)} |")


if __name__ == "__main__":
    main()
