"""The augmentation ops and the explicit ``OPS`` registry.

Each op is a small frozen dataclass:

- ``sample(rng, size) -> params`` draws its random parameters (plain JSON-ready values) from the
  generator it is given, for a canvas of ``size = (width, height)``;
- a geometric op turns params into a matrix, ``matrix(params, size) -> (3x3, new size)``, so the
  pipeline can compose all geometry into one resampling; ``apply(image, params)`` warps by that
  matrix alone (handy for tests and for using one op by itself);
- a pixel op has a pure ``apply(image, params) -> image``;
- ``flags`` declares its command-line flags (``augcli.ops.flags.Flag``), from which the CLI makes
  its options and ``build`` makes the op: an op's flag is written once, in its class.

``p`` is the probability that the op is applied to an output (exact: one uniform draw ``< p``).
The registry's order is the canonical order in which ops are applied, whatever the flag order.

The ops live by family: ``geometric.py``, ``policy.py`` (torchvision's RandAugment, TrivialAugment
and AugMix over the other families' ops, tables in ``policies.py``), ``fit.py`` (the letterbox),
``distort.py`` (elastic, grid and lens distortion), ``colour.py``, ``tone.py`` (Pillow's ImageOps,
CLAHE, the unsharp mask), ``sensor.py`` (motion and median blur, downscale, ISO noise, coarse dropout,
GridMask),
``noise.py`` (filters, occlusion, noise, compression), each ending with its ``FAMILY`` tuple in
canonical order; ``base.py`` holds what they share. None of these modules imports numpy or Pillow
when loaded (``augcli --help`` reads the flags from them); the image code is imported on first use.
Adding an op is one class in its family's module, put in that module's ``FAMILY`` (and
``FLAG_ORDER``), plus its README line.
"""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType
from typing import Any, Mapping

from . import colour, distort, fit, geometric, noise, policy, sensor, tone
from .base import GeometricOp, Op, Params, Range
from .flags import Flag

# the ops by class name, as augcli.ops has always offered them (OPS is the registry; a new op's
# class can stay in its family module)
from .colour import Brightness, ChannelShift, Contrast, Gamma, Grayscale, Hue, Lighting, Saturation
from .distort import Elastic, GridDistort, Lens
from .fit import LETTERBOX_FILL, Letterbox
from .geometric import CROP_MODES, Crop, HFlip, Perspective, Rot90, Rotate, Shear, Shift, VFlip, Zoom
from .noise import Blur, Erase, JpegArtifacts, Noise, SaltPepper
from .policy import Policy
from .sensor import CoarseDropout, Downscale, GridMask, IsoNoise, MedianBlur, MotionBlur
from .tone import Autocontrast, Clahe, Equalize, Invert, Posterize, Sharpen, Solarize

# The canonical order: geometry (composed into one warp), the policy (its geometry after that in the
# warp, its pixel work first after it), the letterbox (the last matrix of every plan), the
# distortions (in one resampling with the warp, on its output canvas), colour, tone, then sensor and
# occlusion, then filters and noise, then compression (the last of the noise family).
FAMILIES: tuple[ModuleType, ...] = (geometric, policy, fit, distort, colour, tone, sensor, noise)


def _registry(families: tuple[ModuleType, ...]) -> tuple[dict[str, type[Op]], tuple[Flag, ...]]:
    """The ops by name in canonical order, and every op flag in the order --help lists them."""
    ops: dict[str, type[Op]] = {}
    for family in families:
        if sorted(op.name for op in family.FLAG_ORDER) != sorted(op.name for op in family.FAMILY):
            raise ImportError(f"{family.__name__}: FLAG_ORDER must list the ops of FAMILY, each once")
        for op in family.FAMILY:
            if op.name in ops:
                raise ImportError(f"{family.__name__}: two ops are named {op.name!r}")
            ops[op.name] = op
    flags = tuple(flag for family in families for op in family.FLAG_ORDER for flag in op.flags)
    keys = [flag.key for flag in flags]
    if len(set(keys)) != len(keys):
        raise ImportError(f"two op flags are the same: {sorted(k for k in keys if keys.count(k) > 1)[0]}")
    return ops, flags


OPS, FLAGS = _registry(FAMILIES)
ORDER = {name: i for i, name in enumerate(OPS)}


def from_record(name: str, options: Mapping[str, Any]) -> Op:
    """Rebuild an op from its ``options()`` (as stored in a manifest)."""
    cls = OPS[name]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return cls(**kwargs)


def build(*, probabilities: Mapping[str, float] | None = None, **values: Any) -> tuple[Op, ...]:
    """The ops for a set of flag values, one keyword per flag (``Flag.key``: ``rotate=(-15, 15)``,
    ``crop_mode="corners"``, ``hflip=True``; None / False = not given, an op is off unless a flag
    that enables it is given); ``probabilities`` overrides p."""
    known = {flag.key for flag in FLAGS}
    for key in values:
        if key not in known:
            raise TypeError(f"build() got an unexpected keyword argument {key!r}")
    given = {key: v for key, v in values.items() if v is not None and v is not False}
    chosen: list[type[Op]] = []
    for cls in OPS.values():
        if any(f.enables and f.key in given for f in cls.flags):
            chosen.append(cls)
            continue
        for f in cls.flags:
            if f.key in given and f.alone == "error":
                raise ValueError(f"{f.name} needs {next(e.name for e in cls.flags if e.enables)}")
    ops = [cls(**{f.field: given[f.key] for f in cls.flags if f.field and f.key in given}) for cls in chosen]
    probabilities = dict(probabilities or {})
    unknown = sorted(set(probabilities) - set(OPS))
    if unknown:
        raise ValueError(f"unknown op {unknown[0]!r} in a probability; ops are: {', '.join(OPS)}")
    unused = sorted(set(probabilities) - {op.name for op in ops})
    if unused:
        raise ValueError(f"a probability is given for op {unused[0]!r}, which is not enabled by its flag")
    return tuple(replace(op, p=probabilities[op.name]) if op.name in probabilities else op for op in ops)


def table() -> list[dict[str, str]]:
    """One row per op, in canonical order: the data ``augcli ops`` prints and the README shows."""
    return [{"op": name, "flag": cls.flag, "params": cls.params, "default": cls.default, "scheme": cls.summary}
            for name, cls in OPS.items()]

