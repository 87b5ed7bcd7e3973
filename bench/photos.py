"""The one photo the per-op benchmarks time (bench/pixel_ops.py, tone_ops.py, sensor_ops.py,
distort_ops.py): the first 500x375 RGB JPEG of the set, in sorted order; and the rounds that
alternate augcli and a peer on it. Pillow is imported inside, so a peer's Python that runs one of
those scripts can import this module too."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Callable


def photo(folder: Path) -> Path:
    from PIL import Image

    for path in sorted(Path(folder).rglob("*.jpg")):
        with Image.open(path) as im:
            if im.size == (500, 375) and im.mode == "RGB":
                return path
    sys.exit(f"no 500x375 RGB JPEG under {folder}")


def alternate(rounds: int, mine: Callable[[], dict], script: str, photo_path: Path, repeats: int,
              peer_python: str | None) -> tuple[list[dict], list[dict]]:
    """``rounds`` of augcli (``mine()``) and the peer (``script --peer PHOTO`` in ``peer_python``,
    its last stdout line a JSON dict), alternating, so that a VM's drifting speed hits both alike."""
    mine_rounds, peer_rounds = [], []
    for _ in range(rounds):
        mine_rounds.append(mine())
        if peer_python:
            done = subprocess.run([peer_python, script, "--peer", str(photo_path), "--repeats", str(repeats)],
                                  capture_output=True, text=True, check=True)
            peer_rounds.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return mine_rounds, peer_rounds


def cell(rounds: list[dict], name: str) -> str:
    """The median over the rounds of one figure, for a table cell ("" when nothing was timed)."""
    return f"{statistics.median(r[name] for r in rounds):.2f}" if rounds else ""
