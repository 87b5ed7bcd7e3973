"""Sampled parameters follow keras-preprocessing 1.1.2's ImageDataGenerator.get_random_transform
for the same flags (ranges and distributions), compared sample against sample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from augcli.ops import build
from augcli.pipeline import Pipeline
from augcli.seeding import rng_for

keras_image = pytest.importorskip("keras_preprocessing.image")

N = 3000
H, W = 30, 40  # image shape (rows, cols)


def keras_samples(**kwargs):
    gen = keras_image.ImageDataGenerator(**kwargs)
    np.random.seed(1234)  # keras draws from the global generator
    return [gen.get_random_transform((H, W, 3)) for _ in range(N)]


def augcli_samples(**flags):
    pipe = Pipeline(build(**flags))
    out = []
    for i in range(N):
        steps = pipe.plan(lambda name: rng_for(42, 7, i, name), (W, H))
        merged = {}
        for s in steps:
            merged.update({f"{s['op']}.{k}": v for k, v in s.items() if k not in ("op",)})
        out.append(merged)
    return out


def same_distribution(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert stats.ks_2samp(a, b).pvalue > 1e-3, (a.min(), a.max(), b.min(), b.max())
    assert a.min() >= b.min() - 0.05 * (b.max() - b.min()) and a.max() <= b.max() + 0.05 * (b.max() - b.min())


def test_rotation_shear_zoom_brightness_channel_shift():
    k = keras_samples(rotation_range=30, shear_range=12, zoom_range=0.25, brightness_range=(0.7, 1.3),
                      channel_shift_range=25)
    ours = augcli_samples(rotate=(-30, 30), shear=(-12, 12), zoom=(0.75, 1.25), brightness=(0.7, 1.3),
                          channel_shift=(-25, 25))
    same_distribution([o["rotate.angle"] for o in ours], [s["theta"] for s in k])
    same_distribution([o["shear.angle"] for o in ours], [s["shear"] for s in k])
    same_distribution([o["zoom.zx"] for o in ours], [s["zx"] for s in k])
    same_distribution([o["zoom.zy"] for o in ours], [s["zy"] for s in k])
    # Keras draws zx and zy independently; so do we (correlation near 0 in both)
    assert abs(np.corrcoef([o["zoom.zx"] for o in ours], [o["zoom.zy"] for o in ours])[0, 1]) < 0.06
    same_distribution([o["brightness.factor"] for o in ours], [s["brightness"] for s in k])
    # Keras adds ONE offset to all channels; augcli draws one per channel from the same range
    same_distribution([o["channel_shift.offsets"][0] for o in ours], [s["channel_shift_intensity"] for s in k])
    same_distribution([o["channel_shift.offsets"][2] for o in ours], [s["channel_shift_intensity"] for s in k])


@pytest.mark.parametrize("fraction,pixels", [(0.1, 20.0), (0.3, 3.0)])
def test_shift_fraction_and_pixels(fraction, pixels):
    # fraction (< 1) of the width; pixels (>= 1) for the height
    k = keras_samples(width_shift_range=fraction, height_shift_range=pixels)
    ours = augcli_samples(width_shift=(-fraction, fraction), height_shift=(-pixels, pixels))
    # keras 1.1.2: 'ty' comes from width_shift_range x columns, 'tx' from height_shift_range
    same_distribution([o["shift.dx"] for o in ours], [s["ty"] for s in k])
    same_distribution([o["shift.dy"] for o in ours], [s["tx"] for s in k])
    assert max(abs(o["shift.dx"]) for o in ours) <= fraction * W
    assert max(abs(o["shift.dy"]) for o in ours) <= pixels


def test_flips_have_probability_one_half_like_keras():
    k = keras_samples(horizontal_flip=True, vertical_flip=True)
    ours = augcli_samples(hflip=True, vflip=True)
    for ours_key, keras_key in (("hflip.applied", "flip_horizontal"), ("vflip.applied", "flip_vertical")):
        a = np.mean([o[ours_key] for o in ours])
        b = np.mean([bool(s[keras_key]) for s in k])
        sd = (0.25 / N) ** 0.5
        assert abs(a - 0.5) < 4 * sd and abs(b - 0.5) < 4 * sd
