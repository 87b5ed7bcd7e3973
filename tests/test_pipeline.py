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
