"""Value maps written into the render's own image: the warper's results are new images on every path
(so writing into one changes nothing else), the value-map ops write into an image they are given up
(``Op.into``) with the bytes of ``apply``, and a render never writes into its source."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from augcli import functional as F
from augcli import geometry as G
from augcli import tonal as TF
from augcli import warping as W
from augcli.ops import (Brightness, ChannelShift, Contrast, Gamma, Grayscale, Invert, Posterize, Saturation,
                        Solarize, Rotate, HFlip)
from augcli.pipeline import Pipeline, WarpSettings
from augcli.seeding import rng_for

from .conftest import pattern

VALUE_MAPS = [
    (Brightness(factor_range=(0.6, 1.4)), {"factor": 1.23}),
    (Contrast(factor_range=(0.6, 1.4)), {"factor": 0.77}),
    (Gamma(gamma_range=(0.5, 1.5)), {"gamma": 1.31}),
    (ChannelShift(intensity_range=(-30, 30)), {"offsets": [12.5, -20.0, 7.25]}),
    (Posterize(bits_range=(3, 3)), {"bits": 3}),
    (Solarize(threshold_range=(100, 200)), {"threshold": 127.5}),
    (Invert(p=1.0), {}),
]
MODES = ["L", "LA", "RGB", "RGBA", "I;16", "F"]


def image_of(mode: str, w: int = 37, h: int = 23) -> Image.Image:
    if mode in ("RGB", "RGBA", "L"):
        return pattern(w, h, mode)
    if mode == "LA":
        return pattern(w, h, "RGBA").convert("LA")
    if mode == "I;16":
        return pattern(w, h, "I;16")
    return pattern(w, h, "L").convert("F")


MATRICES = {  # (output size from the input's (w, h), matrix): exact copies first, then resamplings
    "identity": (lambda w, h: (w, h), lambda w, h: G.identity()),
    "hflip": (lambda w, h: (w, h), lambda w, h: np.array([[-1.0, 0, w - 1], [0, 1, 0], [0, 0, 1]])),
    "quarter turn": (lambda w, h: (h, w), lambda w, h: np.array([[0.0, 1, 0], [-1, 0, h - 1], [0, 0, 1]])),
    "crop": (lambda w, h: (w - 5, h - 3), lambda w, h: G.translation(2, 1)),
    "rotate": (lambda w, h: (w, h), lambda w, h: G.translation(w / 2, h / 2) @ np.array(
        [[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]]) @ G.translation(-w / 2, -h / 2)),
}


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("mode", MODES)
def test_every_warp_is_a_new_image_that_may_be_written_into(mode, interpolation):
    image = image_of(mode)
    source = image.tobytes()
    w, h = image.size
    warps = [(m(w, h), size(w, h)) for size, m in MATRICES.values()]
    warper = W.Warper(image, fill_mode="reflect", interpolation=interpolation)
    warper.reserve(warps)  # a shared extension where Pillow resamples
    assert W.Warper.fresh
    made = [warper.warp(m, size) for m, size in warps]
    first = [out.tobytes() for out in made]
    for out in made:
        assert out is not image
        out.paste(0 if len(out.getbands()) == 1 else (0,) * len(out.getbands()), (0, 0, *out.size))
    assert image.tobytes() == source
    assert [warper.warp(m, size).tobytes() for m, size in warps] == first  # nothing shared was overwritten


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op, params", VALUE_MAPS, ids=[op.name for op, _ in VALUE_MAPS])
def test_a_value_map_written_into_its_image_gives_the_bytes_of_apply(op, params, mode):
    image = image_of(mode)
    expected = op.apply(image.copy(), params)
    given = image.copy()
    made = op.into(given, params)
    assert made.mode == expected.mode and made.tobytes() == expected.tobytes()
    if mode in ("L", "RGB"):  # Pillow's own memory: written in place, no new image
        assert made is given
    else:
        assert made is not given and given.tobytes() == image.tobytes()


def test_apply_never_writes_into_its_argument():
    image = pattern(29, 17)
    before = image.tobytes()
    for op, params in VALUE_MAPS:
        assert op.apply(image, params) is not image
    assert image.tobytes() == before


def test_a_read_only_image_is_not_written_over():
    data = bytearray(np.arange(64, dtype=np.uint8).tobytes())
    image = Image.frombuffer("L", (8, 8), data, "raw", "L", 0, 1)  # Pillow's view of a caller's buffer
    assert image.readonly
    out = TF.invert(image, in_place=True)
    assert out is not image and bytes(data) == bytes(range(64))
    assert out.tobytes() == bytes(255 - v for v in range(64))
    assert F.brightness(image, 0.5, in_place=True) is not image and bytes(data) == bytes(range(64))


@pytest.mark.parametrize("between", [False, True], ids=["value maps", "saturation between them"])
@pytest.mark.parametrize("geometric", [(), (HFlip(),), (Rotate(angle_range=(-20, 20)),)],
                         ids=["identity", "hflip", "rotate"])
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_a_render_writes_value_maps_into_its_warped_image_and_never_into_the_source(mode, geometric, between,
                                                                                      monkeypatch):
    extra = (Saturation(factor_range=(0.5, 1.5)),) if between else ()
    pipe = Pipeline((*geometric, *(op for op, _ in VALUE_MAPS), *extra), WarpSettings("reflect", 0, "bilinear"))
    image = image_of(mode, 41, 29)
    source = image.tobytes()
    warped: list[Image.Image] = []
    warp = W.Warper.warp

    def spy(self, matrix, size):
        warped.append(warp(self, matrix, size))
        return warped[-1]

    monkeypatch.setattr(W.Warper, "warp", spy)
    for k in range(3):
        plan = pipe.plan(lambda name: rng_for(5, 0, k, name), image.size)
        out = pipe.apply(image, plan)
        # the same plan step by step through each op's apply (a new image each time)
        expected = warp(W.Warper(image, fill_mode="reflect"), *pipe.geometry(plan, image.size))
        for step in plan:
            op = pipe._op(step["op"])
            if step["applied"] and not op.geometric:
                expected = op.apply(expected, {key: v for key, v in step.items() if key not in ("op", "applied")})
        assert out.tobytes() == expected.tobytes()
        assert image.tobytes() == source
        # L and RGB: every value map written over the warp's own image (saturation makes a new one)
        assert (out is warped[-1]) == (mode in ("L", "RGB") and not between)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_after_a_distortion_value_maps_write_into_the_remaps_image_and_never_into_the_source(mode, monkeypatch):
    from augcli import distort as D
    from augcli.ops import OPS

    pipe = Pipeline((OPS["elastic"](alpha_sigma=(30.0, 4.0)), *(op for op, _ in VALUE_MAPS)),
                    WarpSettings("reflect", 0, "bilinear"))
    image = image_of(mode, 41, 29)
    source = image.tobytes()
    made: list[Image.Image] = []
    remap = D.remap

    def spy(*args, **kw):
        made.append(remap(*args, **kw))
        return made[-1]

    monkeypatch.setattr(D, "remap", spy)
    for k in range(3):
        plan = pipe.plan(lambda name: rng_for(9, 0, k, name), image.size)
        out = pipe.apply(image, plan)
        matrix, size = pipe.geometry(plan, image.size)
        expected = remap(image, pipe.distortion(plan, size), matrix, fill_mode="reflect", interpolation="bilinear")
        for step in plan:
            op = pipe._op(step["op"])
            if step["applied"] and op.pixel_stage and not op.displaces:
                expected = op.apply(expected, {key: v for key, v in step.items() if key not in ("op", "applied")})
        assert out.tobytes() == expected.tobytes() and image.tobytes() == source
        assert (out is made[-1]) == (mode in ("L", "RGB"))
