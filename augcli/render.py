"""Making one output from a source image: the code path shared by expand, preview and replay.

``expand`` draws a plan per (source, copy) from the seed; ``replay`` reads the same plan back from a
manifest; both turn it into bytes through ``make_output`` and ``output_bytes``, so a replayed output
is the same file as the original.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Callable, Iterable, Sequence

from PIL import Image

from .imageio import encode, encode_into, prepare_for_format
from .pipeline import Pipeline, Step
from .seeding import PLAN_SCHEME, Stream, copy_key, rng_for, source_key, stable_key, stream_key, try_key

__all__ = ["PLAN_SCHEME", "plan_copy", "plan_copies", "plan_copy_with_geometry", "make_output", "output_bytes",
           "output_writer", "describe_step"]

_last_source: tuple[int, str, int] | None = None  # (seed, source, source_key): the copies of a source come together


def _source_key(root_seed: int, source: str) -> int:
    global _last_source
    last = _last_source
    if last is not None and last[0] == root_seed and last[1] == source:
        return last[2]
    key = source_key(root_seed, stable_key(source))
    _last_source = (root_seed, source, key)
    return key


def plan_copy(pipeline: Pipeline, root_seed: int, source: str, copy: int, size: tuple[int, int],
              objects: Sequence | None = None) -> list[Step]:
    """The plan of copy ``copy`` of ``source`` (its relative POSIX path: the seed key), as expand draws it."""
    return plan_copy_with_geometry(pipeline, root_seed, source, copy, size, objects=objects)[0]


def plan_copy_with_geometry(pipeline: Pipeline, root_seed: int, source: str, copy: int,
                            size: tuple[int, int], attempt: int = 0, objects: Sequence | None = None,
                            ) -> tuple[list[Step], tuple[Any, tuple[int, int]]]:
    """``plan_copy`` and ``pipeline.geometry`` of that plan, made together, by the pipeline's plan
    scheme (augcli.seeding). ``attempt``: the try index of ``--require`` (0: the copy's own plan);
    ``objects``: the source's object boxes, for object-aware ops."""
    if pipeline.plan_scheme == 1:
        item_key = stable_key(source)
        if attempt:  # scheme 1 keys its generators by stream name: a try is a stream of its own
            return pipeline.plan_with_geometry(
                lambda name: rng_for(root_seed, item_key, copy, f"{name}#try{attempt}"), size, objects)
        return pipeline.plan_with_geometry(lambda name: rng_for(root_seed, item_key, copy, name), size, objects)
    key = try_key(copy_key(_source_key(root_seed, source), copy), attempt)
    return pipeline.plan_with_geometry(lambda name: Stream(key, stream_key(name)), size, objects)


def plan_copies(pipeline: Pipeline, root_seed: int, source: str, copies: Iterable[int],
                size: tuple[int, int]) -> list[tuple[list[Step], Any, tuple[int, int]]]:
    """``(steps, matrix, output size)`` of each of ``copies`` of ``source``: what expand makes and
    records for them (the same as ``plan_copy_with_geometry`` copy by copy)."""
    out = []
    for copy in copies:
        steps, (matrix, out_size) = plan_copy_with_geometry(pipeline, root_seed, source, copy, size)
        out.append((steps, matrix, out_size))
    return out


def make_output(pipeline: Pipeline, image: Image.Image, steps: Sequence[Step], copy: int | None) -> Image.Image:
    """The output image of a plan; an original (``copy`` None) is the image as loaded."""
    return image if copy is None else pipeline.apply(image, steps)


def output_bytes(image: Image.Image, fmt: str, quality: int, background: Sequence[int]) -> bytes:
    """The file contents of an output: converted for the format by the documented rules, encoded."""
    return encode(prepare_for_format(image, fmt, tuple(background)), fmt, quality)  # type: ignore[arg-type]


def output_writer(image: Image.Image, fmt: str, quality: int, background: Sequence[int]) -> Callable[[BinaryIO], None]:
    """``output_bytes`` written straight into an open file, so the encoded file is never held in
    memory as a whole (9 MiB for a 6000x4000 JPEG): the same bytes."""
    prepared = prepare_for_format(image, fmt, tuple(background))  # type: ignore[arg-type]
    return lambda fh: encode_into(prepared, fmt, quality, fh)  # type: ignore[arg-type]


def describe_step(step: dict[str, Any]) -> str:
    """A short human label for an applied step, e.g. ``rotate 12.3`` or ``crop 4,0 90x60``."""
    name = step.get("op", "")  # an AugMix chain has none: its weight and ops
    values = [v for k, v in step.items() if k not in ("op", "applied", "noise_seed", "seed")]  # seeds say nothing to a reader
    parts = []
    for v in values:
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            parts.append(f"{v:.3g}")
        elif isinstance(v, list) and len(v) == 4 and all(isinstance(x, int) for x in v):  # a box
            parts.append(f"{v[0]},{v[1]} {v[2]}x{v[3]}")
        elif isinstance(v, list) and 0 < len(v) <= 3 and all(isinstance(x, (int, float)) for x in v):
            parts.append("/".join(f"{x:.3g}" for x in v))
        elif isinstance(v, list) and all(isinstance(x, dict) for x in v):  # a policy's sub-ops or chains
            parts.append("(" + ", ".join(describe_step(x) for x in v) + ")")
    return " ".join(p for p in [name, *parts] if p)
