"""Consecutive value maps of an output folded into one table, applied in one pass.

A value map is an op that sends each colour value v of an 8-bit image to table[band][v] (brightness,
contrast, gamma, channel shift, autocontrast, equalize, posterize, solarize, invert; ``Op.value_map``
says which kind). Each op builds its table with its own code, on a ramp image (256 pixels, pixel v
holding v in every band): what the op does to the ramp is its table. Ops whose table depends on the
image (contrast: the mean luma; autocontrast, equalize: each band's histogram) get those figures as
they would be on the image the op would have received: the histograms of the chain's input, moved
through the tables composed so far, so the sums and counts are exact integers and every table is
the one the op would have built. Composing 8-bit tables is exact, so the chain's output has the same
bytes as the ops applied one by one, in one pass and one new image instead of one per op.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from . import functional as F


class ChainStats:
    """The figures of the image a chain's next op would receive: its input's histograms taken once,
    on first use, then moved through the tables composed so far (``composed``: (bands, 256))."""

    def __init__(self, image: Image.Image, nc: int) -> None:
        self.image, self.nc = image, nc
        self.pixels = image.size[0] * image.size[1]
        self.composed = np.tile(np.arange(256, dtype=np.int64), (nc, 1))
        self._input_histograms: np.ndarray | None = None

    def _identity(self) -> bool:
        return bool((self.composed == np.arange(256)).all())

    def input_histograms(self) -> np.ndarray:
        if self._input_histograms is None:
            h = np.asarray(self.image.histogram(), dtype=np.int64)
            self._input_histograms = h[:256 * self.nc].reshape(self.nc, 256)
        return self._input_histograms

    @property
    def histograms(self) -> list[np.ndarray]:
        """Each colour band's 256-bin histogram."""
        h = self.input_histograms()
        return [np.bincount(self.composed[c], weights=h[c], minlength=256).astype(np.int64) for c in range(self.nc)]

    @property
    def sums(self) -> tuple[int, ...]:
        """The exact sum of each colour band."""
        if self._input_histograms is None and self._identity():  # the input's: one cheaper pass
            return F.channel_sums(self.image)
        h = self.input_histograms()
        return tuple(int(h[c] @ self.composed[c]) for c in range(self.nc))


_RAMPS: dict[str, Image.Image] = {}


def ramp(mode: str) -> Image.Image:
    """A 256x1 image of ``mode`` whose pixel v holds v in every band."""
    if mode not in _RAMPS:
        bpp = F.kernel_layout(Image.new(mode, (1, 1)))[0]  # type: ignore[index]
        _RAMPS[mode] = Image.frombytes(mode, (256, 1), bytes(v for v in range(256) for _ in range(bpp)))
    return _RAMPS[mode]


def fused(image: Image.Image, steps: Sequence[tuple[Any, Mapping[str, Any]]]) -> Image.Image:
    """``image`` through the value-map ``steps`` ((op, params), in order), in one table pass. The
    image must be 8-bit (``functional.kernel_layout``)."""
    layout = F.kernel_layout(image)
    if layout is None:
        raise ValueError(f"value maps are folded on 8-bit images only, not {image.mode}")
    nc = layout[1]
    stats = ChainStats(image, nc)
    probe = ramp(image.mode)
    for op, params in steps:
        mapped = np.asarray(op.map_ramp(params, probe, stats)).reshape(256, -1)
        table = mapped[:, :nc].T.astype(np.int64)  # (bands, 256): band c sends v to table[c][v]
        stats.composed = np.take_along_axis(table, stats.composed, axis=1)
    return F.map_values(image, per_band=list(stats.composed))
