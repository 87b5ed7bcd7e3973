"""The model-sized output: ``--letterbox`` and ``--resize-mode fit|fill``. Its own family so that it
is the last matrix of every plan, after the geometric ops and a policy's geometry (augcli.ops.FAMILIES)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import F, GeometricOp, check_keys
from .flags import Choice, Flag, Size


LETTERBOX_ALIGNS = ("center", "top-left")
LETTERBOX_MODES = ("pad", "fit", "fill")
LETTERBOX_FILL = 114.0  # Ultralytics' grey: the --cval of a run with --letterbox unless --cval is given
MAX_SIDE = 65535


@dataclass(frozen=True, kw_only=True)
class Letterbox(GeometricOp):
    """Model-sized output, the last matrix of every plan. ``mode``: ``pad`` (--letterbox: scale by
    r = min(W/w, H/h) to round(w r) x round(h r), placed in a W x H canvas, centred with the odd
    pixel right / below as Ultralytics does, or top-left), ``fit`` (--resize-mode fit: the same
    scale, the output is just the scaled image) or ``fill`` (--resize-mode fill: r = max(W/w, H/h),
    the centre W x H of the scaled image). Nothing is drawn; the record is where the image lands in
    the output, in edge coordinates. Params: {"box": [left, top, width, height]}."""

    name: ClassVar[str] = "letterbox"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--letterbox", Size(),
             "Scale to fit WxH keeping the aspect ratio and pad (constant 114 unless --fill-mode/--cval).",
             metavar="WxH", field="target"),
        Flag("--letterbox-align", Choice(LETTERBOX_ALIGNS),
             "Where --letterbox puts the image: center (default) or top-left.",
             metavar="A", field="align", enables=False),
    )
    params: ClassVar[str] = ("none drawn: box = where the scaled image lands in the W x H output; "
                             "also --resize WxH --resize-mode fit|fill")
    default: ClassVar[str] = "640x640"
    summary: ClassVar[str] = "letterbox / aspect-keeping resize, the last geometric step (Ultralytics LetterBox)"
    target: tuple[int, int] = (640, 640)
    align: str = "center"
    mode: str = "pad"

    def __post_init__(self) -> None:
        super().__post_init__()
        t = self.target
        if not (isinstance(t, tuple) and len(t) == 2 and
                all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE for v in t)):
            raise ValueError(f"letterbox={t!r} must be a width and a height in whole pixels, 1 to {MAX_SIDE}")
        if self.align not in LETTERBOX_ALIGNS:
            raise ValueError(f"letterbox-align={self.align!r} must be one of {', '.join(LETTERBOX_ALIGNS)}")
        if self.mode not in LETTERBOX_MODES:
            raise ValueError(f"letterbox mode={self.mode!r} must be one of {', '.join(LETTERBOX_MODES)}")

    def layout(self, size) -> tuple[list[int], tuple[int, int]]:
        """The box [left, top, width, height] the image of ``size`` takes in the output, and the
        output size."""
        w, h = size
        tw, th = self.target
        r = max(tw / w, th / h) if self.mode == "fill" else min(tw / w, th / h)
        bw, bh = max(1, int(round(w * r))), max(1, int(round(h * r)))
        if self.mode == "fit":
            return [0, 0, bw, bh], (bw, bh)
        if self.mode == "pad":
            bw, bh = min(bw, tw), min(bh, th)
        if self.align == "top-left":
            return [0, 0, bw, bh], (tw, th)
        # the pad's odd pixel goes right / below (Ultralytics' round(d -+ 0.1)); the fill's crop
        # starts at the floor of the centre, as --crop-mode center does
        left = (tw - bw) // 2 if bw <= tw else -((bw - tw) // 2)
        top = (th - bh) // 2 if bh <= th else -((bh - th) // 2)
        return [left, top, bw, bh], (tw, th)

    def sample(self, rng, size):
        return {"box": self.layout(size)[0]}

    def check(self, params, size):
        check_keys(self.name, params, ("box",))
        if params["box"] != self.layout(size)[0]:
            raise ValueError(f"{self.name}: box={params['box']!r} is not where a {size[0]}x{size[1]} image goes "
                             f"({self.layout(size)[0]!r})")

    def window(self, params) -> tuple[int, int, int, int] | None:
        """The output pixels the image fills, (x0, y0, x1, y1), when bands surround it (``pad``);
        None when the image fills the output."""
        if self.mode != "pad":
            return None
        left, top, bw, bh = (int(v) for v in params["box"])
        return (left, top, left + bw, top + bh)

    @staticmethod
    def pad(image, window: tuple[int, int, int, int], cval: float):
        """``image`` with every pixel outside ``window`` set to ``cval`` (0-255 units, in every
        band, alpha included, as the warp's constant fill): the bands are padding, never content."""
        from PIL import Image

        mode = image.mode
        if mode in ("I;16", "I"):
            value = int(round(cval * F.value_scale(mode)))
        elif mode == "F":
            value = float(cval)
        else:
            bands = len(image.getbands())
            value = int(round(cval)) if bands == 1 else tuple([int(round(cval))] * bands)
        canvas = Image.new(mode, image.size, value)
        if mode == "P" and image.getpalette() is not None:
            canvas.putpalette(image.getpalette())
        canvas.paste(image.crop(window), window[:2])
        return canvas

    def apply(self, image, params):
        out = super().apply(image, params)
        window = self.window(params)
        return out if window is None else self.pad(out, window, LETTERBOX_FILL)

    def matrix(self, params, size):
        import numpy as np

        left, top, bw, bh = params["box"]
        sx, sy = size[0] / bw, size[1] / bh
        # output centre x lands on input centre (x - left + 0.5) * sx - 0.5: the box's edges on the image's
        m = np.array([[sx, 0.0, (0.5 - left) * sx - 0.5], [0.0, sy, (0.5 - top) * sy - 0.5], [0.0, 0.0, 1.0]])
        return m, self.layout(size)[1]


FAMILY = (Letterbox,)
FLAG_ORDER = (Letterbox,)
