from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
BENCH_IMAGES = Path(os.environ.get("AUGCLI_BENCH_IMAGES", REPO.parent / "shared" / "bench-images"))


def pattern(w: int = 48, h: int = 32, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A deterministic test image: smooth gradients plus a checkerboard plus mild noise, so every
    pixel differs from its neighbours and any misplacement shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([
        x * 255.0 / max(w - 1, 1),
        y * 255.0 / max(h - 1, 1),
        ((x // 4 + y // 4) % 2) * 160.0 + 40,
    ], axis=-1) + rng.uniform(-12, 12, (h, w, 3))
    rgb = np.clip(np.rint(base), 0, 255).astype(np.uint8)
    im = Image.fromarray(rgb)
    if mode == "RGB":
        return im
    if mode == "RGBA":
        alpha = np.clip(np.rint(x * 255.0 / max(w - 1, 1)), 0, 255).astype(np.uint8)
        return Image.merge("RGBA", (*im.split(), Image.fromarray(alpha)))
    if mode == "I;16":
        g = (np.asarray(im.convert("L")).astype(np.uint16) * 257)
        return Image.frombytes("I;16", (w, h), g.tobytes())
    return im.convert(mode)


def smooth(w: int = 48, h: int = 32) -> Image.Image:
    """A smooth RGB image (sines), for comparing resamplers with a tight tolerance."""
    y, x = np.mgrid[0:h, 0:w].astype(float)
    r = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    g = 128 + 100 * np.cos((x + y) / 9.0)
    b = 40 + 200 * x / (w - 1)
    return Image.fromarray(np.clip(np.rint(np.stack([r, g, b], -1)), 0, 255).astype(np.uint8))


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A small input tree: two classes, an image at the root, mixed formats and modes."""
    root = tmp_path / "in"
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    pattern(40, 30, "RGB", 1).save(root / "cats" / "a.jpg", quality=95)
    pattern(36, 36, "RGBA", 2).save(root / "cats" / "b.png")
    pattern(30, 40, "L", 3).save(root / "dogs" / "c.png")
    pattern(32, 24, "RGB", 4).save(root / "top.png")
    return root


def voc_xml(filename: str, box=(21, 11, 60, 40), size=(100, 50), name: str = "raccoon") -> str:
    """A one-object Pascal VOC annotation, as labelImg writes them (folder and absolute path included)."""
    return (f"<annotation><folder>images</folder><filename>{filename}</filename><path>/Users/x/{filename}</path>"
            f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
            f"<object><name>{name}</name><bndbox><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin>"
            f"<xmax>{box[2]}</xmax><ymax>{box[3]}</ymax></bndbox></object></annotation>")


def tree_bytes(root: Path, bookkeeping: bool = False) -> dict[str, bytes]:
    """Every file under root (relative path -> bytes), without the hidden bookkeeping folder
    (.augcli/: run stats, bucket parts and markers) unless asked for."""
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
    return {rel: p.read_bytes() for rel, p in files.items() if bookkeeping or not rel.startswith(".augcli/")}


def records(out: Path) -> list[dict]:
    """The records of ``out/manifest.jsonl`` (every line after the run line)."""
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()[1:]]
