"""torchvision's automatic augmentation policies as tables over augcli's ops: RandAugment,
TrivialAugment Wide and AugMix, with the op lists and magnitude tables of torchvision's
``transforms/autoaugment.py`` (``_augmentation_space`` of each class), so results compare.

A policy's draw for one output is a list of sub-op records, each an augcli op and its params
(``{"op": "rotate", "angle": -9.0}``). Geometric sub-ops (rotate, shift, and the two axis shears
torchvision has and augcli's Keras shear is not) contribute matrices to the output's one warp;
pixel sub-ops are applied after it by augcli's own ops, in the order drawn. Nothing here imports
numpy or Pillow when loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .base import F, G, W, check_keys, check_list, check_number
from .colour import Brightness, Contrast, Saturation
from .geometric import Rotate, Shift
from .tone import Autocontrast, Equalize, Posterize, Solarize

KINDS = ("randaugment", "trivialaugment", "augmix")
# the numbers after the name, as (label, default, low, high): RandAugment's num_ops and magnitude
# bin (of 31), AugMix's mixture width and largest chain depth
NUMBERS: dict[str, tuple[tuple[str, int, int, int], ...]] = {
    "randaugment": (("N", 2, 0, 10), ("M", 9, 0, 30)),
    "trivialaugment": (),
    "augmix": (("W", 3, 1, 10), ("D", 3, 1, 10)),
}
AUGMIX_SEVERITY = 3  # torchvision's default: magnitude bins 0..2 of 10


def parse(spec: str) -> tuple[str, tuple[int, ...]]:
    """``randaugment:2:9`` -> ("randaugment", (2, 9)); missing numbers take their defaults."""
    name, *given = str(spec).strip().lower().split(":")
    if name not in KINDS:
        raise ValueError(f"--policy {spec!r}: the policy must be one of {', '.join(KINDS)}")
    wanted = NUMBERS[name]
    if len(given) > len(wanted):
        usage = name + "".join(f"[:{label}]" for label, *_ in wanted)
        raise ValueError(f"--policy {spec!r}: expected {usage}")
    values = []
    for i, (label, default, lo, hi) in enumerate(wanted):
        text = given[i].strip() if i < len(given) else ""
        if not text:
            values.append(default)
            continue
        if not text.isdigit() or not lo <= int(text) <= hi:
            raise ValueError(f"--policy {spec!r}: {label} must be a whole number from {lo} to {hi}")
        values.append(int(text))
    return name, tuple(values)


def unparse(kind: str, numbers: Sequence[int]) -> str:
    return ":".join([kind, *map(str, numbers)])


@dataclass(frozen=True)
class Entry:
    """One op of a torchvision table. ``top(size)``: the magnitude of the last bin (a linear scale
    from 0), or for posterize the bits of bin 0 and ``span`` the bits lost by the last bin."""

    name: str  # torchvision's name
    op: str  # the augcli op recorded
    kind: str  # "none" (no magnitude), "linear", "factor" (1 + magnitude), "posterize", "solarize"
    signed: bool = False
    top: Callable[[tuple[int, int]], float] = lambda size: 0.0
    span: int = 0

    def magnitude(self, b: int, bins: int, size: tuple[int, int]) -> float:
        if self.kind == "posterize":  # torchvision: top - round(b / ((bins - 1) / span)), halves to even
            return float(int(self.top(size)) - round(b / ((bins - 1) / self.span)))
        if self.kind == "solarize":  # linspace(255, 0, bins)
            return 255.0 - 255.0 * b / (bins - 1)
        return self.top(size) * b / (bins - 1)

    def record(self, m: float) -> dict[str, Any]:
        if self.kind == "none":
            return {"op": self.op}
        if self.op == "shift":  # torchvision translates by int(magnitude) pixels (towards zero)
            return {"op": "shift", "dx": int(m), "dy": 0} if self.name == "TranslateX" else \
                {"op": "shift", "dx": 0, "dy": int(m)}
        key = {"shear_x": "factor", "shear_y": "factor", "rotate": "angle", "posterize": "bits",
               "solarize": "threshold"}.get(self.op, "factor")
        value: Any = int(m) if self.kind == "posterize" else (1.0 + m if self.kind == "factor" else m)
        return {"op": self.op, key: value}


def _const(v: float) -> Callable[[tuple[int, int]], float]:
    return lambda size: v


def _enhance(top: float) -> tuple[Entry, ...]:
    return (Entry("Brightness", "brightness", "factor", True, _const(top)),
            Entry("Color", "saturation", "factor", True, _const(top)),
            Entry("Contrast", "contrast", "factor", True, _const(top)),
            Entry("Sharpness", "sharpness", "factor", True, _const(top)))


def _geometry(shear: float, tx: Callable, ty: Callable, rotate: float) -> tuple[Entry, ...]:
    return (Entry("ShearX", "shear_x", "linear", True, _const(shear)),
            Entry("ShearY", "shear_y", "linear", True, _const(shear)),
            Entry("TranslateX", "shift", "linear", True, tx),
            Entry("TranslateY", "shift", "linear", True, ty),
            Entry("Rotate", "rotate", "linear", True, _const(rotate)))


_IDENTITY = Entry("Identity", "identity", "none")
_SOLARIZE = Entry("Solarize", "solarize", "solarize")
_AUTO = (Entry("AutoContrast", "autocontrast", "none"), Entry("Equalize", "equalize", "none"))

# the tables, in torchvision's order (the order an op index picks from), and their bin counts
TABLES: dict[str, tuple[Entry, ...]] = {
    "randaugment": (_IDENTITY, *_geometry(0.3, lambda s: 150.0 / 331.0 * s[0], lambda s: 150.0 / 331.0 * s[1], 30.0),
                    *_enhance(0.9), Entry("Posterize", "posterize", "posterize", top=_const(8), span=4),
                    _SOLARIZE, *_AUTO),
    "trivialaugment": (_IDENTITY, *_geometry(0.99, _const(32.0), _const(32.0), 135.0), *_enhance(0.99),
                       Entry("Posterize", "posterize", "posterize", top=_const(8), span=6), _SOLARIZE, *_AUTO),
    "augmix": (*_geometry(0.3, lambda s: s[0] / 3.0, lambda s: s[1] / 3.0, 30.0),
               Entry("Posterize", "posterize", "posterize", top=_const(4), span=4), _SOLARIZE, *_AUTO,
               *_enhance(0.9)),
}
BINS = {"randaugment": 31, "trivialaugment": 31, "augmix": 10}
GEOMETRIC = frozenset({"shear_x", "shear_y", "shift", "rotate"})


def table(kind: str, label_safe: bool) -> tuple[Entry, ...]:
    """The ops a policy picks from. With labels, AugMix leaves its geometric ops out: a blend of
    images warped differently has no one geometry that labels could follow. RandAugment and
    TrivialAugment keep all theirs: each output has one warp, which the labels follow."""
    entries = TABLES[kind]
    if label_safe and kind == "augmix":
        entries = tuple(e for e in entries if e.op not in GEOMETRIC)
    return entries


def left_out(kind: str) -> tuple[str, ...]:
    """torchvision's names of the ops ``table(kind, True)`` leaves out."""
    kept = set(table(kind, True))
    return tuple(e.name for e in TABLES[kind] if e not in kept)


# -- drawing -----------------------------------------------------------------------------------------


def draw_op(rng, entries: Sequence[Entry], kind: str, bin_: int | None, size: tuple[int, int]) -> tuple[str, dict]:
    """One sub-op as torchvision draws it: an op index, a magnitude bin (``bin_`` if fixed, as
    RandAugment's M; else uniform over the bins, over the first AUGMIX_SEVERITY for AugMix) when
    the op has magnitudes, a sign when it is signed. Returns (torchvision's name, the record)."""
    entry = entries[int(rng.integers(0, len(entries)))]
    m = 0.0
    if entry.kind != "none":
        bins = BINS[kind]
        if bin_ is None:
            bin_ = int(rng.integers(0, AUGMIX_SEVERITY if kind == "augmix" else bins))
        m = entry.magnitude(bin_, bins, size)
        if entry.signed and int(rng.integers(0, 2)):
            m = 0.0 - m  # not -m: a zero stays 0.0, not -0.0
    return entry.name, entry.record(m)


def draw(rng, kind: str, numbers: Sequence[int], label_safe: bool, size: tuple[int, int]) -> tuple[dict, list]:
    """A policy's params for one output and the torchvision names of its sub-ops, in order."""
    entries = table(kind, label_safe)
    if kind == "randaugment":
        drawn = [draw_op(rng, entries, kind, numbers[1], size) for _ in range(numbers[0])]
        return {"ops": [r for _, r in drawn]}, [n for n, _ in drawn]
    if kind == "trivialaugment":
        name, record = draw_op(rng, entries, kind, None, size)
        return {"ops": [record]}, [name]
    width, depth = numbers
    # Beta(1, 1) for the original's share and Dirichlet(1, ..., 1) for the chains' (torchvision's
    # alpha 1): a uniform, and normalised exponentials
    original = float(rng.random())
    spacings = [-_log1m(float(rng.random())) for _ in range(width)]
    total = sum(spacings)
    chains, names = [], []
    for s in spacings:
        drawn = [draw_op(rng, entries, kind, None, size) for _ in range(int(rng.integers(1, depth + 1)))]
        chains.append({"weight": (1.0 - original) * (s / total if total > 0 else 1.0 / width),
                       "ops": [r for _, r in drawn]})
        names.extend(n for n, _ in drawn)
    return {"original": original, "chains": chains}, names


def _log1m(u: float) -> float:
    import math

    return math.log1p(-u)


# -- checking a recorded draw ----------------------------------------------------------------------


def last_bin(kind: str, numbers: Sequence[int]) -> int:
    """The largest magnitude bin a policy draws: RandAugment's M, AugMix's severity - 1, else the last."""
    if kind == "randaugment":
        return numbers[1]
    return AUGMIX_SEVERITY - 1 if kind == "augmix" else BINS[kind] - 1


def check_record(kind: str, numbers: Sequence[int], label_safe: bool, rec: Any, size: tuple[int, int]) -> None:
    """Raise ValueError unless ``rec`` is a sub-op record the policy's table could have drawn."""
    name = "policy"
    if not isinstance(rec, dict) or not isinstance(rec.get("op"), str):
        raise ValueError(f"{name}: a sub-op must be {{\"op\": NAME, ...}}")
    entries = [e for e in table(kind, label_safe) if e.op == rec["op"]]
    if not entries:
        raise ValueError(f"{name}: {kind} has no sub-op {rec['op']!r}")
    params = {k: v for k, v in rec.items() if k != "op"}
    entry, bins, b = entries[0], BINS[kind], last_bin(kind, numbers)
    if entry.kind == "none":
        check_keys(name, params, ())
    elif entry.op == "shift":
        check_keys(name, params, ("dx", "dy"))
        tx, ty = (e.magnitude(b, bins, size) for e in entries)
        check_number(name, "shift dx", params["dx"], -tx, tx, whole=True)
        check_number(name, "shift dy", params["dy"], -ty, ty, whole=True)
        if params["dx"] and params["dy"]:
            raise ValueError(f"{name}: a shift moves along one axis")
    else:
        key = next(iter(entry.record(0.0).keys() - {"op"}))
        check_keys(name, params, (key,))
        low = entry.magnitude(b, bins, size)
        if entry.kind == "posterize":
            check_number(name, key, params[key], low, entry.magnitude(0, bins, size), whole=True)
        elif entry.kind == "solarize":
            check_number(name, key, params[key], low, 255.0)
        else:
            centre = 1.0 if entry.kind == "factor" else 0.0
            check_number(name, f"{entry.op} {key}", params[key], centre - low, centre + low)


def check_chain(kind: str, numbers: Sequence[int], label_safe: bool, ops: Any, size: tuple[int, int],
                length: int | None, most: int | None = None) -> None:
    if length == 0 and ops == []:  # RandAugment with N = 0
        return
    for rec in check_list("policy", "ops", ops, length, most):
        check_record(kind, numbers, label_safe, rec, size)


# -- applying -----------------------------------------------------------------------------------------


def rows(records: Sequence[Mapping[str, Any]], size: tuple[int, int]):
    """The geometric records' matrices composed in order (plain floats, as the pipeline composes)."""
    out = G.IDENTITY_ROWS
    for rec in records:
        op = rec["op"]
        if op not in GEOMETRIC:
            continue
        if op == "shear_x":  # torchvision shears about the top-left corner: x_in = x + f (y + 0.5)
            f = float(rec["factor"])
            m = (1.0, f, 0.5 * f, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        elif op == "shear_y":
            f = float(rec["factor"])
            m = (1.0, 0.0, 0.0, f, 1.0, 0.5 * f, 0.0, 0.0, 1.0)
        else:
            m = G.op_rows(_GEOMETRIC_OPS[op], rec, size)[0]
        out = G.compose_rows(out, m)
    return out


_GEOMETRIC_OPS = {"rotate": Rotate(), "shift": Shift()}
_PIXEL_OPS = {op.name: op for op in (Brightness(), Saturation(), Contrast(), Posterize(), Solarize(),
                                     Autocontrast(), Equalize())}


def sharpness(image, factor: float):
    """torchvision's Sharpness (PIL ImageEnhance.Sharpness): blend the image with its 3x3 smoothing
    (centre weight 5, the others 1, over 13; border pixels kept) by ``factor``: 0 smooth, 1
    unchanged, above 1 sharper. 8-bit grey and colour go through Pillow itself; alpha is kept;
    other modes use the same kernel and blend on their values."""
    colour, alpha = F.split_alpha(image)
    if colour.mode in ("L", "RGB"):
        from PIL import ImageEnhance

        return F.merge_alpha(ImageEnhance.Sharpness(colour).enhance(factor), alpha)

    def blend(a):
        h, w = a.shape[:2]
        smooth = a.copy()
        if h >= 3 and w >= 3:
            inner = sum(a[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1))
            smooth[1:-1, 1:-1] = (inner + 4 * a[1:-1, 1:-1]) / 13.0
        return smooth + factor * (a - smooth)

    return F.map_colour(image, blend)


def pixels(image, records: Sequence[Mapping[str, Any]]):
    """The pixel sub-ops of ``records`` applied in order (geometric ones are in the warp)."""
    for rec in records:
        op = rec["op"]
        if op == "sharpness":
            image = sharpness(image, float(rec["factor"]))
        elif op in _PIXEL_OPS:
            image = _PIXEL_OPS[op].apply(image, {k: v for k, v in rec.items() if k != "op"})
    return image


def mix(image, params: Mapping[str, Any]):
    """AugMix's blend: original x ``image`` + the sum of weight x chain, each chain its own warp of
    ``image`` (bilinear, black outside, as torchvision's AugMix) then its pixel sub-ops; rounded to
    the nearest level and clipped (float images are not rounded)."""
    import numpy as np

    base = np.asarray(image)
    acc = float(params["original"]) * base.astype(np.float64)
    for chain in params["chains"]:
        m = rows(chain["ops"], image.size)
        img = image if m == G.IDENTITY_ROWS else W.warp(image, G.rows_matrix(m), image.size,
                                                         fill_mode="constant", cval=0.0)
        acc += float(chain["weight"]) * np.asarray(pixels(img, chain["ops"])).astype(np.float64)
    if base.dtype.kind in "ui":
        info = np.iinfo(base.dtype)
        acc = np.clip(np.rint(acc), info.min, info.max)
    return F.from_array(acc.astype(base.dtype), image.mode)
