"""Consecutive value maps folded into one table (augcli.valuemaps): the same bytes as the ops one by
one, for every 8-bit layout, random chains and params (the image-dependent ops anywhere in a chain),
through the pipeline too; one lookup pass for a chain; other modes and lone value maps untouched."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from augcli import kernels
from augcli import valuemaps
from augcli.ops import OPS, build
from augcli.pipeline import Pipeline

from .test_kernels_pixel import generated

VALUE_OPS = build(brightness=(0.4, 1.6), contrast=(0.3, 1.7), gamma=(0.4, 1.8), channel_shift=(-60.0, 60.0),
                  autocontrast=1.0, equalize=1.0, posterize=(1.0, 8.0), solarize=(0.0, 256.0), invert=1.0)


def test_the_value_maps_are_the_table_ops():
    assert {name for name, cls in OPS.items() if cls.value_map} == {op.name for op in VALUE_OPS}


def one_by_one(image, chain):
    for op, params in chain:
        image = op.apply(image, params)
    return image


def image_of(mode: str, rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A generated image, its values squeezed into a random sub-range (so the stretches have work)."""
    base = Image.frombytes("RGBA", (w, h), generated(w, h, 4)).convert(mode)
    lo, hi = sorted(int(v) for v in rng.integers(0, 256, 2))
    a = np.asarray(base).astype(np.int64)
    return Image.fromarray((lo + a * (hi - lo) // 255).astype(np.uint8), mode)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_a_folded_chain_has_the_bytes_of_the_ops_one_by_one(mode):
    rng = np.random.default_rng(17)
    for trial in range(120):
        image = image_of(mode, rng, int(rng.integers(1, 40)), int(rng.integers(1, 30)))
        picks = sorted(rng.choice(len(VALUE_OPS), int(rng.integers(2, 7)), replace=False))
        chain = [(VALUE_OPS[i], VALUE_OPS[i].sample(rng, image.size)) for i in picks]
        expected = one_by_one(image, chain)
        assert valuemaps.fused(image, chain).tobytes() == expected.tobytes(), (trial, [op.name for op, _ in chain])


def test_the_image_dependent_ops_after_others_see_the_image_they_would_have_received():
    image = Image.frombytes("RGB", (61, 43), generated(61, 43, 3))
    ops = {op.name: op for op in VALUE_OPS}
    for first in ("brightness", "gamma", "posterize", "solarize", "channel_shift"):
        for then in ("contrast", "autocontrast", "equalize"):
            rng = np.random.default_rng(3)
            chain = [(ops[first], ops[first].sample(rng, image.size)), (ops[then], ops[then].sample(rng, image.size))]
            assert valuemaps.fused(image, chain).tobytes() == one_by_one(image, chain).tobytes(), (first, then)


def test_a_chain_is_one_lookup_pass_in_the_pipeline(monkeypatch):
    image = Image.frombytes("RGB", (61, 43), generated(61, 43, 3))
    pipeline = Pipeline(VALUE_OPS)
    plan = pipeline.plan(lambda name: np.random.default_rng(len(name)), image.size)
    for step in plan:
        step["applied"] = True
    expected = pipeline.apply(image, plan)  # the bytes, before counting
    calls = []
    real = kernels.lut
    monkeypatch.setattr(kernels, "lut", lambda *a, **k: calls.append(tuple(a[1])) or real(*a, **k))
    assert pipeline.apply(image, plan).tobytes() == expected.tobytes()
    assert calls.count(image.size) == 1  # the other calls map the 256x1 probes


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "F"])
def test_the_pipeline_gives_the_bytes_of_the_ops_one_by_one(mode):
    """Value maps around ops that are not (saturation, lighting, grayscale), with some not drawn."""
    rng = np.random.default_rng(5)
    extra = build(saturation=(0.3, 1.7), lighting=(0.0, 0.4), grayscale=0.5)
    pipeline = Pipeline(VALUE_OPS + extra)
    for trial in range(30):
        image = image_of("RGBA", rng, 37, 23).convert(mode) if mode not in ("I;16", "F") else \
            Image.fromarray((np.asarray(image_of("L", rng, 37, 23)).astype(np.uint16) * 257)).convert(mode)
        plan = pipeline.plan(lambda name: np.random.default_rng([trial, len(name), ord(name[0])]), image.size)
        steps = [(pipeline._op(s["op"]), {k: v for k, v in s.items() if k not in ("op", "applied")})
                 for s in plan if s["applied"]]
        assert pipeline.apply(image, plan).tobytes() == one_by_one(image, steps).tobytes(), trial


def test_a_non_8_bit_image_is_refused_by_fused():
    with pytest.raises(ValueError, match="8-bit"):
        valuemaps.fused(Image.new("I;16", (3, 3)), [(VALUE_OPS[0], {"factor": 1.2})])
