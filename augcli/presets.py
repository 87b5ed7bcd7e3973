"""Presets: named sets of augmentation flags (``--preset NAME``), plain data (no numpy, no Pillow,
no click). The CLI reads a preset's flags as if they were given, except the flags given
explicitly, which win; ``augcli ops --preset NAME`` prints them. The README's *Presets* section
documents each mapping and what it cannot map."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    words: tuple[str, ...]  # the flags as typed on the command line
    about: str  # what the preset reproduces, in one line

    def pairs(self) -> list[tuple[str, str | None]]:
        """(flag, value) in order; a switch has the value None."""
        out: list[tuple[str, str | None]] = []
        for word in self.words:
            if word.startswith("--"):
                out.append((word, None))
            else:
                out[-1] = (out[-1][0], word)
        return out


PRESETS: dict[str, Preset] = {
    # Ultralytics' default train-time hyperparameters: hsv_h 0.015, hsv_s 0.7, hsv_v 0.4, translate 0.1,
    # scale 0.5 (content scale s ~ U(0.5, 1.5), Keras zoom 1/s), fliplr 0.5
    "yolo": Preset(("--hue", "5.4", "--saturation", "0.3:1.7", "--brightness", "0.6:1.4",
                    "--width-shift", "0.1", "--height-shift", "0.1", "--zoom", "0.6667:2", "--zoom-keep-aspect",
                    "--hflip"),
                   "Ultralytics YOLO's default train-time augmentation, without its multi-image ops"),
    # torchvision's classification reference recipe: RandomResizedCrop (area 0.08..1), flip, TrivialAugment
    # Wide, RandomErasing p 0.1
    "imagenet": Preset(("--crop", "0.2828", "--hflip", "--policy", "trivialaugment", "--erase", "1",
                        "--p", "erase=0.1"),
                       "torchvision's ImageNet classification recipe (random-resized crop, flip, TrivialAugment, "
                       "random erasing)"),
    # the Folio leaf study's best AlexNet-from-scratch combination: rotation + contrast + illumination
    "folio": Preset(("--rotate", "180", "--contrast", "0.8:1.2", "--lighting", "0.3"),
                    "the Folio leaf study's rotation + contrast + illumination combination"),
}
NAMES = tuple(PRESETS)


def command_line(name: str) -> str:
    """The preset's flags as one shell line."""
    import shlex

    return shlex.join(PRESETS[name].words)
