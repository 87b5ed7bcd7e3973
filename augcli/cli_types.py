"""click parameter types for augcli's flags (parsing only; the library validates meaning)."""

from __future__ import annotations

import math
from typing import Any

import click


def _number(text: str, param, ctx, fail) -> float:
    try:
        value = float(text)
    except ValueError:
        fail(f"{text!r} is not a number", param, ctx)
    if not math.isfinite(value):
        fail(f"{text!r} is not a finite number", param, ctx)
    return value


class RangeType(click.ParamType):
    """``X`` or ``LO:HI``. A single X means the range from "unchanged" to X:
    ``(centre - X, centre + X)`` by default, centre 0 for symmetric ranges (--rotate 15 -> -15:15),
    centre 1 for factors (--zoom 0.25 -> 0.75:1.25); with ``start`` it means ``(start, X)``
    (--blur 2 -> 0:2), with ``end`` it means ``(X, end)`` (--crop 0.8 -> 0.8:1), and with ``fixed``
    it means X alone, ``(X, X)`` (--posterize 4 -> 4:4)."""

    name = "range"

    def __init__(self, centre: float = 0.0, allow_single: bool = True, *, start: float | None = None,
                 end: float | None = None, fixed: bool = False) -> None:
        self.centre = centre
        self.fixed = fixed
        self.allow_single = allow_single
        self.start = start
        self.end = end

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "X|LO:HI" if self.allow_single else "LO:HI"

    def convert(self, value: Any, param, ctx) -> tuple[float, float]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        if ":" in text:
            lo_text, _, hi_text = text.partition(":")
            lo = _number(lo_text, param, ctx, self.fail)
            hi = _number(hi_text, param, ctx, self.fail)
            if lo > hi:
                self.fail(f"{text!r}: LO must not exceed HI", param, ctx)
            return (lo, hi)
        if not self.allow_single:
            self.fail(f"{text!r}: expected LO:HI, e.g. 0.8:1.2", param, ctx)
        x = _number(text, param, ctx, self.fail)
        if self.fixed:
            return (x, x)
        if self.start is not None or self.end is not None:
            lo, hi = (self.start, x) if self.start is not None else (x, self.end)
            if lo > hi:  # type: ignore[operator]
                self.fail(f"{text!r}: a single value means {lo:g}:{hi:g}, which is empty; use LO:HI", param, ctx)
            return (float(lo), float(hi))  # type: ignore[arg-type]
        if x < 0:
            self.fail(f"{text!r}: a single value must be >= 0 (use LO:HI for an asymmetric range)", param, ctx)
        return (self.centre - x, self.centre + x)


class PairType(click.ParamType):
    """``A`` or ``A:B`` (two numbers; B is ``second`` when not given), e.g. --elastic 300:20."""

    name = "pair"

    def __init__(self, second: float, metavar: str) -> None:
        self.second = second
        self.metavar = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.metavar

    def convert(self, value: Any, param, ctx) -> tuple[float, float]:
        if isinstance(value, tuple):
            return value
        first, sep, second = str(value).strip().partition(":")
        return (_number(first, param, ctx, self.fail),
                _number(second, param, ctx, self.fail) if sep else float(self.second))


class SizeType(click.ParamType):
    """``WxH`` in pixels, e.g. 224x224 (``metavar`` names the parts, e.g. CxR for a grid)."""

    name = "size"

    def __init__(self, metavar: str = "WxH", example: str = "224x224") -> None:
        self.metavar = metavar
        self.example = example

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.metavar

    def convert(self, value: Any, param, ctx) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        w, sep, h = str(value).lower().partition("x")
        try:
            size = (int(w), int(h))
        except ValueError:
            size = (0, 0)
        if not sep or min(size) < 1:
            self.fail(f"{value!r} is not {self.metavar} with positive integers, e.g. {self.example}", param, ctx)
        return size


class ColourType(click.ParamType):
    """A colour: a name (white), #rrggbb, or R,G,B."""

    name = "colour"

    def convert(self, value: Any, param, ctx) -> tuple[int, int, int]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        parts = text.split(",")
        try:
            if len(parts) == 3:
                rgb = tuple(int(p) for p in parts)
            else:
                from PIL import ImageColor

                rgb = ImageColor.getrgb(text)[:3]
        except ValueError:
            rgb = ()
        if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
            self.fail(f"{text!r} is not a colour (try white, #808080 or 128,128,128)", param, ctx)
        return rgb  # type: ignore[return-value]


class ProbabilityType(click.ParamType):
    """``OP=P``: apply op OP with probability P (0..1)."""

    name = "op=p"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "OP=P"

    def convert(self, value: Any, param, ctx) -> tuple[str, float]:
        if isinstance(value, tuple):
            return value
        name, sep, p_text = str(value).partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            self.fail(f"{value!r}: expected OP=P, e.g. rotate=0.5", param, ctx)
        p = _number(p_text, param, ctx, self.fail)
        if not 0.0 <= p <= 1.0:
            self.fail(f"{value!r}: probability must be between 0 and 1", param, ctx)
        return (name, p)
