"""How fast ``augcli audit`` hashes a dataset, and how the banded near-duplicate search scales.

Makes N JPEGs (random 320x240 crops of the bench photos, quality 90, half of them in train/, a
quarter each in val/ and test/; the first 1 % of val are re-encoded copies of train images, so there
are leaks to find) in a temporary folder, then times ``augcli audit`` on it cold (no cache) and
warm (the cache from the cold run), and the banded search alone (``phash.near_pairs`` and
``phash.mirror_links``) on M random 64-bit hashes.

    python bench/audit_bench.py --n 5000 --workers 2 --pairs 100000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def make(root: Path, photos: list[Path], n: int, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    opened = [Image.open(p).convert("RGB") for p in photos]
    names = []
    for i in range(n):
        split = "train" if i % 4 < 2 else ("val" if i % 4 == 2 else "test")
        names.append(split)
        im = opened[int(rng.integers(len(opened)))]
        w, h = min(320, im.width), min(240, im.height)
        x, y = int(rng.integers(im.width - w + 1)), int(rng.integers(im.height - h + 1))
        crop = im.crop((x, y, x + w, y + h))
        path = root / split / f"{i:07d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        crop.save(path, quality=90)
    trains = sorted((root / "train").glob("*.jpg"))
    for k, src in enumerate(trains[: max(1, n // 400)]):  # planted leaks: re-encodes into val
        buf = io.BytesIO()
        Image.open(src).save(buf, "JPEG", quality=70)
        (root / "val" / f"leak{k:05d}.jpg").write_bytes(buf.getvalue())


def audit(root: Path, workers: int) -> tuple[float, dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "augcli", "audit", str(root), "--json", "-j", str(workers)],
                         capture_output=True, text=True, env=env, timeout=3600)
    dt = time.perf_counter() - t
    if res.returncode not in (0, 1):
        sys.exit(f"audit failed: {res.stderr}")
    return dt, json.loads(res.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=REPO.parent / "shared" / "bench-images")
    ap.add_argument("--n", type=int, default=2000, help="images to make and audit")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=100_000, help="random hashes for the banded search alone")
    a = ap.parse_args()
    photos = sorted(a.images.rglob("*.jpg")) if a.images.is_dir() else []
    if not photos:
        print(f"audit_bench: no photos under {a.images}; nothing to do")
        return
    with tempfile.TemporaryDirectory(prefix="augcli-audit-bench-") as tmp:
        root = Path(tmp) / "ds"
        make(root, photos, a.n)
        total = sum(1 for _ in root.rglob("*.jpg"))
        cold, doc = audit(root, a.workers)
        warm, _ = audit(root, a.workers)
    print(f"audit, {total} JPEGs (320x240), -j {a.workers}: cold {cold:.2f} s ({total / cold:.0f} images/s), "
          f"warm cache {warm:.2f} s ({total / warm:.0f} images/s); {len(doc['leaks'])} leak pairs, "
          f"{len(doc['within'])} within")
    import numpy as np

    sys.path.insert(0, str(REPO))
    from augcli.phash import mirror_links, near_pairs

    rng = np.random.default_rng(1)
    hashes = [int(v) for v in rng.integers(0, 2**63, a.pairs, dtype=np.int64)]
    mirrors = [int(v) for v in rng.integers(0, 2**63, a.pairs, dtype=np.int64)]
    for d in (4, 8):
        t = time.perf_counter()
        found = near_pairs(hashes, d)
        t1 = time.perf_counter()
        flipped = mirror_links(hashes, mirrors, d)
        print(f"{a.pairs} random hashes, distance {d}: near_pairs {t1 - t:.2f} s ({len(found)} pairs), "
              f"mirror_links {time.perf_counter() - t1:.2f} s ({len(flipped)} links)")


if __name__ == "__main__":
    main()
