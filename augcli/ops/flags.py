"""How an op declares its command-line flags: plain data (no numpy, no Pillow, no click).

An op lists its flags once, in its class (``flags = (Flag(...), ...)``). From that one list
``augcli.cli`` makes the click options, ``augcli.ops.build`` reads the parsed values back (by
``Flag.key``, the name click gives the value) and ``augcli ops`` prints the op's usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union


@dataclass(frozen=True)
class Span:
    """A range: ``X`` or ``LO:HI``, parsed as ``augcli.cli_types.RangeType(centre, start=, end=, fixed=)``.
    A single X means centre - X : centre + X, or start : X, or X : end, or (``fixed``) X : X."""

    centre: float = 0.0
    start: float | None = None
    end: float | None = None
    fixed: bool = False


@dataclass(frozen=True)
class Number:
    """One number between ``low`` and ``high`` (both included); a whole number if ``whole``."""

    low: float
    high: float
    whole: bool = False


@dataclass(frozen=True)
class Choice:
    """One of ``options``."""

    options: tuple[str, ...]


@dataclass(frozen=True)
class Size:
    """``WxH`` in whole pixels, parsed as ``augcli.cli_types.SizeType``; reaches the op as (w, h)."""


@dataclass(frozen=True)
class Pair:
    """``A`` or ``A:B``: two numbers, the second ``second`` when not given (augcli.cli_types.PairType)."""

    second: float


@dataclass(frozen=True)
class Switch:
    """An on/off flag that takes no value."""


@dataclass(frozen=True)
class Spec:
    """A word of ``names``, optionally followed by ``:``-separated numbers (``randaugment:2:9``);
    the op's constructor checks the numbers."""

    names: tuple[str, ...]


Value = Union[Span, Number, Choice, Size, Pair, Switch, Spec]


@dataclass(frozen=True)
class Flag:
    """One command-line flag of an op.

    - ``name``: the flag, e.g. ``--crop-mode``; its value reaches ``build`` as ``key`` (``crop_mode``).
    - ``value``: what it takes (a Span, Number, Choice, Size, Switch or Spec).
    - ``help``: the --help text. ``metavar``: the name of its value in the ops table (``--crop F``)
      and, for a Number, in --help (a Span shows X|LO:HI there, a Choice its options).
    - ``field``: the op's constructor keyword the value goes to; None for a switch that only turns
      the op on.
    - ``enables``: giving the flag turns the op on. A flag that does not only adjusts the op another
      of its flags turns on; given alone it is a usage error, or ignored if ``alone="ignored"``.
    """

    name: str
    value: Value
    help: str
    metavar: str | None = None
    field: str | None = None
    enables: bool = True
    alone: Literal["error", "ignored"] = "error"

    def __post_init__(self) -> None:
        if not self.name.startswith("--"):
            raise ValueError(f"flag {self.name!r} must start with --")
        if not isinstance(self.value, Switch) and not self.metavar:
            raise ValueError(f"flag {self.name} takes a value, so it needs a metavar")

    @property
    def key(self) -> str:
        return self.name[2:].replace("-", "_")

    @property
    def usage(self) -> str:
        return f"{self.name} {self.metavar}" if self.metavar else self.name
