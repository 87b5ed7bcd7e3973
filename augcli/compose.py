"""Outputs made from several images: mosaic, mixup and cutmix.

A composition runs before the pipeline: it builds a canvas the size of the primary source (as
loaded) from the primary and its partners, and the pipeline's ops then run on that canvas as they
would on the primary alone. Three steps, each with its own probability, in this order:

- ``mosaic``: a 2x2 or 3x3 grid of tiles (the primary first) around a random centre;
- ``mixup``: ``weight * canvas + (1 - weight) * partner``, weight ~ Beta(alpha, alpha);
- ``cutmix``: a rectangle of the partner pasted over the canvas.

Partners are chosen in the parent from the listing alone (``PartnerPlan``), from the block of
``window`` consecutive sources (in listing order, within one folder unless ``within`` is "dataset")
that holds the primary, so a worker given a whole block decodes each source once. The geometry of a
step is drawn in the worker from the sizes (``plan_steps``) and recorded as plain values (``tiles``,
``weight``, ``region``), which is all ``build_image`` and the labels need: replay does not redraw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from . import compose_pixels as PX
from .seeding import stable_key, streams_for

STEPS = ("mosaic", "mixup", "cutmix", "copy_paste")
PASTE_SCALE = (0.5, 1.5)  # a pasted instance's scale factor, uniform
WITHIN = ("class", "dataset")
FILL = 114  # the grey Ultralytics fills a mosaic with
MODES = ("L", "LA", "RGB", "RGBA")
WEIGHT_ONE = 1 << 16  # mixup weights are multiples of 2**-16, so the blend is integer arithmetic
# How a step's scaled sources are made, recorded in the step as ``render``: 2, augcli's warp kernel
# straight into the canvas (augcli.compose_pixels); absent, Pillow's resize (records made before it).
RENDER = 2


@dataclass(frozen=True)
class Compose:
    mosaic: float = 0.0
    grid: int = 2
    mixup: float = 0.0
    mixup_alpha: float = 32.0
    cutmix: float = 0.0
    cutmix_area: tuple[float, float] = (0.1, 0.5)
    within: str = "class"
    window: int = 16
    copy_paste: float = 0.0
    paste_max: int = 3

    def __post_init__(self) -> None:
        for name in STEPS:
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} is a probability between 0 and 1, not {p}")
        if not 1 <= self.paste_max <= 100:
            raise ValueError(f"--copy-paste-max must be between 1 and 100, not {self.paste_max}")
        if self.grid not in (2, 3):
            raise ValueError(f"--mosaic-grid must be 2x2 or 3x3, not {self.grid}x{self.grid}")
        if not (self.mixup_alpha > 0 and math.isfinite(self.mixup_alpha)):
            raise ValueError(f"--mixup-alpha must be a positive number, not {self.mixup_alpha}")
        lo, hi = self.cutmix_area
        if not 0.0 < lo <= hi < 1.0:
            raise ValueError(f"--cutmix-area must be LO:HI with 0 < LO <= HI < 1, not {lo}:{hi}")
        if self.within not in WITHIN:
            raise ValueError(f"--mix-within must be one of {', '.join(WITHIN)}, not {self.within!r}")
        if not 2 <= self.window <= 1024:
            raise ValueError(f"--mix-window must be between 2 and 1024, not {self.window}")

    @property
    def active(self) -> bool:
        return any(getattr(self, name) > 0 for name in STEPS)

    def partners_of(self, step: str) -> int:
        return self.grid * self.grid - 1 if step == "mosaic" else 1

    def describe(self) -> dict[str, Any]:
        return {"mosaic": self.mosaic, "grid": self.grid, "mixup": self.mixup, "mixup_alpha": self.mixup_alpha,
                "cutmix": self.cutmix, "cutmix_area": list(self.cutmix_area), "within": self.within,
                "window": self.window, "copy_paste": self.copy_paste, "paste_max": self.paste_max}

    @classmethod
    def from_description(cls, d: Mapping[str, Any]) -> "Compose":
        return cls(float(d["mosaic"]), int(d["grid"]), float(d["mixup"]), float(d["mixup_alpha"]),
                   float(d["cutmix"]), (float(d["cutmix_area"][0]), float(d["cutmix_area"][1])), str(d["within"]),
                   int(d["window"]), float(d.get("copy_paste", 0.0)), int(d.get("paste_max", 3)))


def group_of(rel: str, within: str) -> str:
    return str(PurePosixPath(rel).parent) if within == "class" else ""


class PartnerPlan:
    """Which steps each output gets and with which partners: a pure function of the listing, the
    seed and the settings, so every shard and engine draws the same. (Choosing partners to lift
    rare classes would go in ``draw``: it sees the whole listing; the copy plan of --per-class
    already decides how many outputs each source gets.)"""

    def __init__(self, compose: Compose, seed: int, names: Iterable[str]) -> None:
        self.compose, self.seed = compose, seed
        self.members: dict[str, list[str]] = {}
        self.where: dict[str, tuple[str, int]] = {}
        for rel in names:
            group = self.members.setdefault(group_of(rel, compose.within), [])
            self.where[rel] = (group_of(rel, compose.within), len(group))
            group.append(rel)
        self.blocks: dict[tuple[str, int], int] = {}

    def block(self, rel: str) -> int:
        """A number for the primary's block; consecutive sources of one block share it."""
        group, i = self.where[rel]
        return self.blocks.setdefault((group, i // self.compose.window), len(self.blocks))

    def draw(self, rel: str, copy: int) -> dict[str, list[str]] | None:
        """``{step: [partner, ...]}`` for the steps output ``copy`` of ``rel`` gets, or None."""
        group, i = self.where[rel]
        w = self.compose.window
        members = self.members[group]
        start = (i // w) * w
        block = [m for m in members[start:start + w] if m != rel] or [rel]
        stream = streams_for(self.seed, stable_key(rel), copy)
        picks: dict[str, list[str]] = {}
        for step in STEPS:
            p = getattr(self.compose, step)
            if p <= 0:
                continue
            s = stream(f"compose.{step}")
            if s.random() < p:
                picks[step] = [block[s.integers(0, len(block))] for _ in range(self.compose.partners_of(step))]
        return picks or None


def _mosaic_tiles(s: Any, grid: int, primary: str, partners: Sequence[str], sizes: Mapping[str, tuple[int, int]],
                  canvas: tuple[int, int]) -> list[dict[str, Any]]:
    w, h = canvas
    if grid == 2:
        xs = [0, int(s.integers(w // 4, max(w // 4, (3 * w) // 4) + 1)), w]
        ys = [0, int(s.integers(h // 4, max(h // 4, (3 * h) // 4) + 1)), h]
        order = [primary, *partners]  # top-left, top-right, bottom-left, bottom-right
    else:
        xs = [0, int(s.integers(w // 5, max(w // 5, (2 * w) // 5) + 1)),
              int(s.integers((3 * w) // 5, max((3 * w) // 5, (4 * w) // 5) + 1)), w]
        ys = [0, int(s.integers(h // 5, max(h // 5, (2 * h) // 5) + 1)),
              int(s.integers((3 * h) // 5, max((3 * h) // 5, (4 * h) // 5) + 1)), h]
        order = list(partners[:4]) + [primary] + list(partners[4:])  # the primary in the centre
    tiles = []
    for n, src in enumerate(order):
        r, c = divmod(n, grid)
        x0, x1, y0, y1 = xs[c], xs[c + 1], ys[r], ys[r + 1]
        sw, sh = sizes[src]
        scale = min(w / grid / sw, h / grid / sh)
        tw, th = max(1, round(sw * scale)), max(1, round(sh * scale))
        # each tile is anchored on the cell's side nearest the canvas centre (centred on a middle row/column)
        ox = x1 - tw if c == 0 else x0 if c == grid - 1 else (x0 + x1 - tw) // 2
        oy = y1 - th if r == 0 else y0 if r == grid - 1 else (y0 + y1 - th) // 2
        tiles.append({"source": src, "size": [tw, th], "at": [ox, oy], "region": [x0, y0, x1, y1]})
    return tiles


def plan_steps(compose: Compose, seed: int, primary: str, copy: int, picks: Mapping[str, Sequence[str]],
               sizes: Mapping[str, tuple[int, int]],
               instances: Callable[[str], Sequence[tuple[int, Sequence[float]]]] | None = None) -> list[dict[str, Any]]:
    """The recorded composition of one output: plain values only. ``sizes``: every source as loaded;
    ``instances(rel)``: a source's pasteable objects, ``(index, (x0, y0, x1, y1))`` in its pixels."""
    stream = streams_for(seed, stable_key(primary), copy)
    canvas = tuple(sizes[primary])
    steps: list[dict[str, Any]] = []
    if "mosaic" in picks:
        s = stream("compose.mosaic.geometry")
        steps.append({"op": "mosaic", "grid": compose.grid,
                      "tiles": _mosaic_tiles(s, compose.grid, primary, picks["mosaic"], sizes, canvas),
                      "render": RENDER})
    if "mixup" in picks:
        s = stream("compose.mixup.geometry")
        lam = float(s.beta(compose.mixup_alpha, compose.mixup_alpha))
        q = min(WEIGHT_ONE - 1, max(1, round(lam * WEIGHT_ONE)))
        steps.append({"op": "mixup", "source": picks["mixup"][0], "weight": q / WEIGHT_ONE, "render": RENDER})
    if "cutmix" in picks:
        s = stream("compose.cutmix.geometry")
        w, h = canvas
        area = s.uniform(*compose.cutmix_area)
        rw, rh = max(1, min(w, round(w * math.sqrt(area)))), max(1, min(h, round(h * math.sqrt(area))))
        x0, y0 = int(s.integers(0, w - rw + 1)), int(s.integers(0, h - rh + 1))
        steps.append({"op": "cutmix", "source": picks["cutmix"][0], "region": [x0, y0, x0 + rw, y0 + rh],
                      "render": RENDER})
    if "copy_paste" in picks:
        s = stream("compose.copy_paste.geometry")
        partner = picks["copy_paste"][0]
        found = list(instances(partner)) if instances is not None else []
        pasted = []
        if found:
            order = list(range(len(found)))
            for j in range(len(order) - 1, 0, -1):  # Fisher-Yates, from the stream
                r = int(s.integers(0, j + 1))
                order[j], order[r] = order[r], order[j]
            for j in sorted(order[:int(s.integers(1, min(compose.paste_max, len(found)) + 1))]):
                index, (x0, y0, x1, y1) = found[j]
                flip = bool(s.random() < 0.5)
                scale = s.uniform(*PASTE_SCALE)
                px = s.uniform(0.0, max(0.0, canvas[0] - (x1 - x0) * scale))
                py = s.uniform(0.0, max(0.0, canvas[1] - (y1 - y0) * scale))
                # the instance's box lands with its top-left at (px, py), mirrored about its own centre
                tx = px + scale * x1 if flip else px - scale * x0
                pasted.append({"index": index, "flip": flip, "scale": scale,
                               "matrix": [[-scale if flip else scale, 0.0, tx], [0.0, scale, py - scale * y0],
                                          [0.0, 0.0, 1.0]]})
        steps.append({"op": "copy_paste", "source": partner, "objects": pasted})
    return steps


def sources_of(steps: Sequence[Mapping[str, Any]], primary: str) -> list[str]:
    """Every source an output is made from, the primary first, each once."""
    seen = [primary]
    for step in steps:
        for src in ([t["source"] for t in step["tiles"]] if step["op"] == "mosaic" else [step["source"]]):
            if src not in seen:
                seen.append(src)
    return seen


def placements(step: Mapping[str, Any], canvas: tuple[int, int]
               ) -> list[tuple[str, tuple[int, int], tuple[int, int], tuple[int, int, int, int]]]:
    """``(source, scaled size, where its top-left goes, the canvas region it shows)`` of each
    source a step places (mixup and cutmix: the partner stretched to the canvas)."""
    if step["op"] == "mosaic":
        return [(t["source"], tuple(t["size"]), tuple(t["at"]), tuple(t["region"])) for t in step["tiles"]]
    if step["op"] == "copy_paste":
        return []  # instances, not rectangles: augcli.labels.compose places them
    region = tuple(step["region"]) if step["op"] == "cutmix" else (0, 0, canvas[0], canvas[1])
    return [(step["source"], tuple(canvas), (0, 0), region)]


def placement_matrix(source_size: Sequence[int], size: Sequence[int], at: Sequence[int]) -> list[list[float]]:
    """The 3x3 forward map, in edge coordinates (pixel corners), from a source onto the canvas."""
    return [[size[0] / source_size[0], 0.0, float(at[0])], [0.0, size[1] / source_size[1], float(at[1])],
            [0.0, 0.0, 1.0]]


def describe(steps: Sequence[Mapping[str, Any]], sizes: Mapping[str, tuple[int, int]],
             canvas: tuple[int, int]) -> list[dict[str, Any]]:
    """The record's ``compose`` entry: the steps, each placed source with its ``matrix`` (the 3x3
    forward map in edge coordinates from the source as loaded onto the canvas)."""
    out = []
    for step in steps:
        entry = dict(step)
        if step["op"] == "mosaic":
            entry["tiles"] = [dict(t, matrix=placement_matrix(sizes[t["source"]], t["size"], t["at"]))
                              for t in step["tiles"]]
        elif step["op"] == "copy_paste":
            pass  # each pasted object carries its matrix (and, once placed, its region)
        else:
            entry["matrix"] = placement_matrix(sizes[step["source"]], canvas, (0, 0))
        out.append(entry)
    return out


def _scaled(image: Image.Image, size: Sequence[int], mode: str) -> Image.Image:
    if image.mode != mode:
        image = image.convert(mode)
    if image.size != tuple(size):
        # reducing_gap 1: a box reduction by the whole factor first, then bilinear (3x faster at 1/2)
        image = image.resize(tuple(size), Image.Resampling.BILINEAR, reducing_gap=1.0)
    return image


class Scaled:
    """Sources scaled to a size, kept for the next outputs that place them the same (a worker's
    outputs of equal-sized primaries reuse their partners' tiles); and, for steps of ``render`` 2,
    sources converted or box-reduced for the warp (``source``: at most a quarter as many, since each
    can be as large as the image)."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity, self.items = capacity, {}
        self.sources: dict = {}

    def get(self, rel: str, image: Image.Image, size: Sequence[int], mode: str) -> Image.Image:
        return _kept(self.items, self.capacity, (rel, tuple(size), mode), lambda: _scaled(image, size, mode))

    def source(self, key: Any, make: Callable[[], Any]) -> Any:
        """The prepared source kept under ``key``, made (and kept, the oldest dropped) if there is none."""
        return _kept(self.sources, self.capacity // 4, key, make)


def _kept(items: dict, capacity: int, key: Any, make: Callable[[], Any]) -> Any:
    got = items.pop(key, None)
    if got is None:
        got = make()
    items[key] = got  # the newest last
    while len(items) > capacity:
        del items[next(iter(items))]
    return got


def check_mode(image: Image.Image, shown: str) -> None:
    if image.mode not in MODES:
        raise ValueError(f"{shown}: compositions take 8-bit images ({', '.join(MODES)}), this one is {image.mode}")


def backward_centre(matrix: Sequence[Sequence[float]]) -> np.ndarray:
    """The (output -> input, pixel centres) matrix the warp takes, of a recorded forward
    edge-coordinate map that only scales, mirrors and moves."""
    a, tx, d, ty = matrix[0][0], matrix[0][2], matrix[1][1], matrix[1][2]
    ia, id_ = 1.0 / a, 1.0 / d
    return np.array([[ia, 0.0, -tx * ia - 0.5 + 0.5 * ia], [0.0, id_, -ty * id_ - 0.5 + 0.5 * id_], [0.0, 0.0, 1.0]])


def build_image(steps: Sequence[Mapping[str, Any]], primary: Image.Image, images: Mapping[str, Image.Image],
                paste_mask: Callable[[str, Mapping[str, Any]], np.ndarray] | None = None,
                scaled: Scaled | None = None) -> Image.Image:
    """The canvas an output's pipeline runs on. ``images``: every source as loaded;
    ``paste_mask(source, pasted object)``: the canvas pixels a pasted instance covers (bool);
    ``scaled``: scaled sources kept between calls."""
    mode, canvas = primary.mode, primary.size
    scaled = scaled or Scaled(0)
    out = primary

    def shown(rel: str, size: Sequence[int], at: Sequence[int], box: Sequence[int], step: Mapping[str, Any]
              ) -> Image.Image:
        """The canvas box ``box`` of source ``rel`` scaled to ``size`` at ``at``, as the step's render says."""
        if step.get("render") == RENDER:
            return PX.scaled_box(rel, images[rel], mode, size, at, box, scaled)
        return scaled.get(rel, images[rel], size, mode).crop(
            (box[0] - at[0], box[1] - at[1], box[2] - at[0], box[3] - at[1]))

    def put(rel: str, size: Sequence[int], at: Sequence[int], box: Sequence[int], step: Mapping[str, Any]) -> None:
        """``shown`` written into the canvas at ``box`` (render 2: in the canvas's own memory)."""
        if step.get("render") == RENDER:
            PX.paint(out, rel, images[rel], size, at, box, scaled)
        else:
            out.paste(shown(rel, size, at, box, step), (box[0], box[1]))

    for step in steps:
        if step["op"] == "mosaic":
            fill = (FILL,) * (len(mode) - ("A" in mode)) + ((255,) if "A" in mode else ())
            out = Image.new(mode, canvas, fill if len(fill) > 1 else fill[0])
            for src, size, at, (x0, y0, x1, y1) in placements(step, canvas):
                box = (max(x0, at[0]), max(y0, at[1]), min(x1, at[0] + size[0]), min(y1, at[1] + size[1]))
                if box[0] < box[2] and box[1] < box[3]:
                    put(src, size, at, box, step)
        elif step["op"] == "mixup":
            other = np.asarray(shown(step["source"], canvas, (0, 0), (0, 0, *canvas), step), dtype=np.uint32)
            q = round(step["weight"] * WEIGHT_ONE)
            mixed = (np.asarray(out, dtype=np.uint32) * q + other * (WEIGHT_ONE - q) + (WEIGHT_ONE >> 1)) >> 16
            out = Image.fromarray(mixed.astype(np.uint8))
        elif step["op"] == "copy_paste":
            if step["objects"]:
                from .warping import warp

                partner = images[step["source"]]
                partner = partner.convert(mode) if partner.mode != mode else partner
                for obj in step["objects"]:
                    moved = warp(partner, backward_centre(obj["matrix"]), canvas, fill_mode="constant",
                                 interpolation="bilinear")
                    cover = Image.fromarray(paste_mask(step["source"], obj).astype(np.uint8) * 255)  # type: ignore[misc]
                    out = Image.composite(moved, out, cover)
        else:  # cutmix
            x0, y0, x1, y1 = step["region"]
            out = out.copy() if out is primary else out
            put(step["source"], canvas, (0, 0), (x0, y0, x1, y1), step)
    return out


def _ints(v: Any, n: int, what: str) -> list[int]:
    if not (isinstance(v, list) and len(v) == n and all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
        raise ValueError(f"{what} must be {n} whole numbers, not {str(v)[:60]}")
    return v


def _check_pasted(obj: Any, canvas: tuple[int, int]) -> None:
    if not isinstance(obj, dict) or not isinstance(obj.get("index"), int) or isinstance(obj.get("index"), bool) \
            or not 0 <= obj["index"] < 1_000_000 or not isinstance(obj.get("flip"), bool):
        raise ValueError("a pasted object has a whole index and a flip")
    scale = obj.get("scale")
    m = obj.get("matrix")
    if not isinstance(scale, float) or not PASTE_SCALE[0] <= scale <= PASTE_SCALE[1]:
        raise ValueError(f"a pasted object's scale is between {PASTE_SCALE[0]} and {PASTE_SCALE[1]}")
    ok = isinstance(m, list) and len(m) == 3 and all(isinstance(r, list) and len(r) == 3 for r in m) and \
        all(isinstance(v, float) and math.isfinite(v) for r in m for v in r)
    if not ok or m[0][0] != (-scale if obj["flip"] else scale) or m[1][1] != scale or \
            (m[0][1], m[1][0], m[2]) != (0.0, 0.0, [0.0, 0.0, 1.0]) or \
            max(abs(m[0][2]), abs(m[1][2])) > 4 * max(canvas) + 1e6:
        raise ValueError("a pasted object's matrix is its scale, flip and move")


def check_steps(steps: Any, canvas: tuple[int, int], max_pixels: int) -> list[str]:
    """Check a composition read back from a manifest (an untrusted file): the steps expand could
    have recorded for a canvas of ``canvas``. Returns the partner sources named; raises ValueError."""
    if not isinstance(steps, list) or not 1 <= len(steps) <= len(STEPS):
        raise ValueError("compose must list 1 to 3 steps")
    w, h = canvas
    partners: list[str] = []
    for step in steps:
        if not isinstance(step, dict) or step.get("op") not in STEPS:
            raise ValueError(f"a compose step is one of {', '.join(STEPS)}")
        if "render" in step and (step["op"] == "copy_paste" or step["render"] != RENDER or
                                 isinstance(step["render"], bool)):
            raise ValueError(f"a step's render is {RENDER} (or absent, for records made before it), "
                             f"not {str(step['render'])[:20]}")
        placed = step["tiles"] if step["op"] == "mosaic" else [step]
        if step["op"] == "mosaic":
            if step.get("grid") not in (2, 3) or not isinstance(placed, list) or len(placed) != step["grid"] ** 2:
                raise ValueError("a mosaic has grid 2 or 3 and grid x grid tiles")
            for t in placed:
                if not isinstance(t, dict):
                    raise ValueError("a mosaic tile is an object")
                tw, th = _ints(t.get("size"), 2, "a tile's size")
                _ints(t.get("at"), 2, "a tile's position")
                if not (1 <= tw <= w and 1 <= th <= h):
                    raise ValueError("a tile is larger than the canvas")
        if step["op"] == "copy_paste":
            objs = step.get("objects")
            if not isinstance(objs, list) or len(objs) > 100:
                raise ValueError("copy_paste lists at most 100 objects")
            for obj in objs:
                _check_pasted(obj, canvas)
            if not isinstance(step.get("source"), str):
                raise ValueError("a placed source is a relative path")
            partners.append(step["source"])
            continue
        if step["op"] == "mixup":
            weight = step.get("weight")
            if not isinstance(weight, float) or not 0.0 < weight < 1.0:
                raise ValueError("a mixup weight is a number between 0 and 1")
        for t in placed:
            if step["op"] != "mixup":
                x0, y0, x1, y1 = _ints(t.get("region"), 4, "a region")
                if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
                    raise ValueError("a region lies outside the canvas")
            if not isinstance(t.get("source"), str):
                raise ValueError("a placed source is a relative path")
            partners.append(t["source"])
    if w * h > max_pixels:
        raise ValueError("the canvas is over the pixel limit")
    return partners
