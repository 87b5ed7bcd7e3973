"""What every op shares: the base classes, range checks, and the lazily imported image modules.

The op modules are imported by ``augcli --help`` (the CLI makes its options from the ops' flags),
so nothing here imports numpy or Pillow when loaded: ``F`` (augcli.functional), ``TF``
(augcli.tonal), ``W`` (augcli.warping) and ``G`` (augcli.geometry) are imported the first time an
op reads one of their attributes.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import dataclass, fields
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from .flags import Flag

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

Range = tuple[float, float]
Params = dict[str, Any]


def lazy_module(name: str) -> ModuleType:
    """Module ``name``, executed when one of its attributes is first read (importlib's LazyLoader;
    Python 3.15's ``lazy import`` does the same). After that it is the ordinary module."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:  # as the import system does, so `augcli.functional` is an attribute of `augcli`
        setattr(sys.modules[parent], child, module)
    return module


if TYPE_CHECKING:
    from .. import functional as F
    from .. import geometry as G
    from .. import tonal as TF
    from .. import warping as W
else:
    F = lazy_module("augcli.functional")
    G = lazy_module("augcli.geometry")
    TF = lazy_module("augcli.tonal")
    W = lazy_module("augcli.warping")


def _float(name: str, value: Any) -> float:
    """float(value), with an integer too large for a float (a manifest's JSON can hold one) a
    ValueError like any other bad setting, not an OverflowError."""
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name}: a number is too large") from None


def check_range(name: str, value: Range, lo: float | None = None, hi: float | None = None,
                 open_lo: bool = False) -> Range:
    if len(value) != 2:
        raise ValueError(f"{name}={value!r} should be a pair (low, high)")
    a, b = _float(name, value[0]), _float(name, value[1])
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"{name}={value!r} must be finite numbers")
    if a > b:
        raise ValueError(f"{name}={value!r}: low must not exceed high")
    if lo is not None and (a < lo or (open_lo and a <= lo)):
        raise ValueError(f"{name}={value!r} must be {'>' if open_lo else '>='} {lo}")
    if hi is not None and b > hi:
        raise ValueError(f"{name}={value!r} must be <= {hi}")
    return (a, b)


def check_whole_range(name: str, value: Range, lo: float, hi: float, what: str) -> Range:
    """``check_range`` for counts: both ends also whole numbers (``what`` names them in the error)."""
    a, b = check_range(name, value, lo, hi)
    if not (a.is_integer() and b.is_integer()):
        raise ValueError(f"{name}={value!r}: {what} must be whole numbers")
    return (a, b)


def uniform(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def noise_seed(rng: np.random.Generator) -> int:
    """A 32-bit seed for an op's per-pixel draws (recorded, so replay needs no generator)."""
    return int(rng.integers(0, 2**32))


def check_keys(name: str, params: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    """Raise ValueError unless ``params`` has exactly ``keys``."""
    if set(params) != set(keys):
        raise ValueError(f"{name}: params must be {{{', '.join(keys)}}}, not {{{', '.join(map(str, params))}}}")


def check_number(name: str, key: str, value: Any, lo: float, hi: float, whole: bool = False) -> None:
    """Raise ValueError unless ``value`` is a number (an int if ``whole``) in [lo, hi]. The bounds
    are widened by a few ulps: a value drawn from a range and written as JSON may land on its end."""
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        raise ValueError(f"{name}: {key}={value!r} must be {'a whole number' if whole else 'a number'}")
    slack = 0 if whole else 1e-9 * max(1.0, abs(lo), abs(hi))
    if not lo - slack <= value <= hi + slack:  # False for NaN too
        raise ValueError(f"{name}: {key}={value!r} is outside the op's range [{lo:g}, {hi:g}]")


def check_list(name: str, key: str, value: Any, length: int | None = None, most: int | None = None) -> list:
    """``value`` if it is a list (of ``length`` items, or of 1 to ``most``), else ValueError."""
    if not isinstance(value, list) or (length is not None and len(value) != length) or \
            (most is not None and not 1 <= len(value) <= most):
        want = f"{length} items" if length is not None else f"1 to {most} items" if most is not None else "items"
        raise ValueError(f"{name}: {key} must be a list of {want}")
    return value


def check_box(name: str, key: str, box: Any, size: tuple[int, int]) -> None:
    """A [left, top, width, height] box of whole pixels, at least 1x1, inside a canvas of ``size``."""
    left, top, bw, bh = check_list(name, key, box, 4)
    check_number(name, f"{key} width", bw, 1, size[0], whole=True)
    check_number(name, f"{key} height", bh, 1, size[1], whole=True)
    check_number(name, f"{key} left", left, 0, size[0] - bw, whole=True)
    check_number(name, f"{key} top", top, 0, size[1] - bh, whole=True)


@dataclass(frozen=True, kw_only=True)
class Op:
    name: ClassVar[str]
    geometric: ClassVar[bool] = False
    displaces: ClassVar[bool] = False  # a displacement field, applied with the warp (ops/distort.py)
    flags: ClassVar[tuple[Flag, ...]] = ()  # the CLI flag(s) that enable and set the op
    flag: ClassVar[str] = ""  # their usage in the ops table (made from ``flags``)
    params: ClassVar[str] = ""  # what is drawn, with units
    default: ClassVar[str] = ""  # a sensible starting value for the flag
    summary: ClassVar[str] = ""  # the scheme it implements
    # whether the op works on the warped image (``after_warp``); a geometric op's work is its matrix
    pixel_stage: ClassVar[bool] = True
    p: float = 1.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # the flags that take a value, and a switch that turns the op on (not one that adjusts it)
        cls.flag = ", ".join(f.usage for f in cls.flags if f.metavar or f.enables)

    def __post_init__(self) -> None:
        if not 0.0 <= _float(self.name, self.p) <= 1.0:
            raise ValueError(f"{self.name}: probability p={self.p!r} must be between 0 and 1")

    def sample(self, rng: np.random.Generator, size: G.Size) -> Params:
        return {}

    def check(self, params: Mapping[str, Any], size: G.Size) -> None:
        """Raise ValueError unless ``params`` could have been drawn by ``sample`` for a canvas of
        ``size`` (the params of a manifest are read back by replay, and a manifest can be edited)."""
        check_keys(self.name, params, ())

    def for_labels(self) -> tuple["Op", str | None]:
        """The op as a run that carries labels uses it, and a line saying what that changes (None:
        nothing; every op but a policy carries labels as it is)."""
        return self, None

    def after_warp(self, image: Image.Image, params: Mapping[str, Any]) -> Image.Image:
        """The op's work on an output once its geometry is warped: ``apply`` for a pixel op."""
        return self.apply(image, params)  # type: ignore[attr-defined]

    # ``after_warp`` returns its input or a new image of its own, never one held elsewhere: an image
    # the render owns stays its own through this op, so a later op may write into it
    fresh: ClassVar[bool] = False
    # ``apply`` takes ``in_place=True`` and may then write into the image it is given (``into``)
    in_place: ClassVar[bool] = False

    def into(self, image: Image.Image, params: Mapping[str, Any]) -> Image.Image:
        """``after_warp`` on an image the caller owns and gives up: an ``in_place`` op writes its
        result into ``image`` where the layout allows. Returns ``image`` or a new image."""
        if self.in_place:
            return self.apply(image, params, in_place=True)  # type: ignore[attr-defined]
        return self.after_warp(image, params)

    def options(self) -> dict[str, Any]:
        """The op's settings as JSON-ready values (the manifest's record of the recipe)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True, kw_only=True)
class GeometricOp(Op):
    geometric: ClassVar[bool] = True
    pixel_stage: ClassVar[bool] = False

    def matrix(self, params: Mapping[str, Any], size: G.Size) -> tuple[np.ndarray, G.Size]:
        raise NotImplementedError

    def apply(self, image: Image.Image, params: Mapping[str, Any]) -> Image.Image:
        m, out_size = self.matrix(params, image.size)
        return W.warp(image, m, out_size)


@dataclass(frozen=True, kw_only=True)
class OneRange(Op):
    """An op with one parameter ``param`` ~ U(the range held in field ``range_field``), that range
    checked against ``limits`` = (low, high, low excluded). Params: {param: float}."""

    range_field: ClassVar[str]
    param: ClassVar[str]
    limits: ClassVar[tuple[float | None, float | None, bool]] = (None, None, False)

    def __post_init__(self) -> None:
        super().__post_init__()
        lo, hi, open_lo = self.limits
        value = check_range(self.name, getattr(self, self.range_field), lo, hi, open_lo=open_lo)
        object.__setattr__(self, self.range_field, value)

    def sample(self, rng, size):
        return {self.param: uniform(rng, getattr(self, self.range_field))}

    def check(self, params, size):
        check_keys(self.name, params, (self.param,))
        check_number(self.name, self.param, params[self.param], *getattr(self, self.range_field))
