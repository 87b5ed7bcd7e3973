"""Small datasets for the split and audit tests: distinct images (random low-frequency fields,
whose dHashes differ in about half their bits) and planted copies."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image


def field(seed: int, w: int = 64, h: int = 48) -> Image.Image:
    """A distinct smooth RGB image: a 5x4 random grid per channel, bicubic-enlarged, plus mild noise."""
    rng = np.random.default_rng(1000 + seed)
    small = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8))
    big = np.asarray(small.resize((w, h), Image.Resampling.BICUBIC)).astype(np.int16)
    big = big + rng.integers(-3, 4, big.shape)
    return Image.fromarray(np.clip(big, 0, 255).astype(np.uint8))


def save(im: Image.Image, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def reencode(path: Path, quality: int = 70) -> bytes:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def folders(root: Path, sizes: dict[str, int], start: int = 0) -> Path:
    k = start
    for cls, n in sizes.items():
        for i in range(n):
            save(field(k), root / cls / f"{cls}{i:03d}.png")
            k += 1
    return root


def records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "split.jsonl").read_text().splitlines()[1:]]


def split_of(out: Path) -> dict[str, str]:
    return {r["source"]: r["split"] for r in records(out)}
