"""The one photo the per-op benchmarks time (bench/pixel_ops.py, tone_ops.py, sensor_ops.py): the
first 500x375 RGB JPEG of the set, in sorted order. Pillow is imported inside, so a peer's Python
that runs one of those scripts can import this module too."""

from __future__ import annotations

import sys
from pathlib import Path


def photo(folder: Path) -> Path:
    from PIL import Image

    for path in sorted(Path(folder).rglob("*.jpg")):
        with Image.open(path) as im:
            if im.size == (500, 375) and im.mode == "RGB":
                return path
    sys.exit(f"no 500x375 RGB JPEG under {folder}")
