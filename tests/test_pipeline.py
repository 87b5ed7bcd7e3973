"""Pipeline: plans, one-warp composition, and shared per-source work giving identical pixels."""

from __future__ import annotations

import numpy as np
import pytest

from augcli.ops import build
from augcli.pipeline import Pipeline, WarpSettings
from augcli.seeding import rng_for

from .conftest import pattern


@pytest.mark.parametrize("fill", ["nearest", "reflect", "wrap", "constant"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "I;16"])
def test_copies_rendered_together_equal_copies_rendered_alone(fill, mode):
    pipe = Pipeline(build(rotate=(-45, 45), zoom=(0.6, 1.4), width_shift=(-0.2, 0.2), hflip=True, vflip=True),
                    WarpSettings(fill, 40, "bilinear"))
    image = pattern(50, 36, mode)
    plans = [pipe.plan(lambda name: rng_for(3, 1, k, name), image.size) for k in range(8)]
    render = pipe.renderer(image, plans)
    for plan in plans:
        assert np.array_equal(np.asarray(render(plan)), np.asarray(pipe.apply(image, plan)))


def test_geometry_composes_into_the_recorded_matrix():
    pipe = Pipeline(build(rotate=(-30, 30), shear=(-5, 5), zoom=(0.8, 1.2), width_shift=(-3, 3), hflip=True))
    plan = pipe.plan(lambda name: rng_for(1, 2, 3, name), (40, 30))
    m, size = pipe.geometry(plan, (40, 30))
    assert size == (40, 30) and m.shape == (3, 3) and np.allclose(m[2], [0, 0, 1])
    # identity plan -> identity matrix, and the image comes back unchanged
    ident = [{"op": s["op"], "applied": False} for s in plan]
    assert np.allclose(pipe.geometry(ident, (40, 30))[0], np.eye(3))
    image = pattern(40, 30)
    assert np.array_equal(np.asarray(pipe.apply(image, ident)), np.asarray(image))


def test_plan_with_geometry_is_plan_then_geometry_to_the_bit():
    # every geometric op, the size-changing ones (crop, rot90 on non-square sources) included
    pipe = Pipeline(build(rotate=(-45, 45), rot90=True, crop=(0.5, 0.9), shear=(-10, 10), perspective=0.1,
                          zoom=(0.7, 1.3), width_shift=(-0.2, 0.2), height_shift=(-5, 5), hflip=True, vflip=True,
                          brightness=(0.8, 1.2)))
    for k in range(60):
        size = (37 + k, 23 + 2 * k)
        steps, (m, out_size) = pipe.plan_with_geometry(lambda name: rng_for(9, 4, k, name), size)
        alone = pipe.plan(lambda name: rng_for(9, 4, k, name), size)
        assert steps == alone
        m_alone, size_alone = pipe.geometry(alone, size)
        assert out_size == size_alone and m.tobytes() == m_alone.tobytes(), k
