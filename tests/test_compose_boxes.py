"""Placing plain boxes (augcli/labels/compose.py ``_transform_boxes``): what labels.model.transform
gives for them, in plain floats."""

from __future__ import annotations

import numpy as np

from augcli.labels import model as L
from augcli.labels.compose import _scales, _transform_boxes


def test_placing_boxes_gives_what_the_general_transform_gives():
    rng = np.random.default_rng(1)
    kept = dropped = clipped = 0
    for trial in range(400):
        cell = (int(rng.integers(5, 300)), int(rng.integers(5, 300)))
        f = np.array([[rng.uniform(0.05, 3), 0.0, rng.uniform(-60, 60)],
                      [0.0, rng.uniform(0.05, 3), rng.uniform(-60, 60)], [0.0, 0.0, 1.0]])
        if trial % 5 == 0:
            f[0, 2], f[1, 2] = float(rng.integers(-50, 50)), float(rng.integers(-50, 50))  # a tile's whole offset
        boxes = []
        for _ in range(int(rng.integers(0, 6))):
            x0, y0 = rng.uniform(-30, 150, 2)
            bw, bh = rng.uniform(0, 120, 2) * (rng.random() < 0.9)  # some degenerate
            boxes.append(L.Obj(int(rng.integers(0, 3)), (float(x0), float(y0), float(x0 + bw), float(y0 + bh)),
                               extra=len(boxes)))
        params = L.Params(box_method=str(rng.choice(["corners", "ellipse"])),
                          min_visibility=float(rng.choice([0.0, 0.3, 0.77])), min_size=float(rng.choice([0.0, 1.0, 4.5])),
                          min_area=float(rng.choice([0.0, 20.0, 333.3])))
        assert _scales(f)
        want, wst = L.transform(boxes, f, cell, params)
        got, gst = _transform_boxes(boxes, f, cell, params)
        assert got == want  # the same boxes, bit for bit, clipped flags and extras
        assert gst.as_dict() == wst.as_dict()
        kept += len(got)
        dropped += sum(wst.dropped.values())
        clipped += wst.clipped
    assert kept > 150 and dropped > 100 and clipped > 50, (kept, dropped, clipped)


def test_only_maps_that_scale_and_move_take_the_short_way():
    assert _scales(np.array([[0.5, 0.0, 3.0], [0.0, 2.0, -1.0], [0.0, 0.0, 1.0]]))
    for m in ([[-0.5, 0.0, 3.0], [0.0, 2.0, -1.0], [0.0, 0.0, 1.0]],  # a mirror
              [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],  # a transpose
              [[1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],  # a shear
              [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.001, 0.0, 1.0]]):  # a perspective
        assert not _scales(np.array(m))
