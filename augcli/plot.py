"""A class-count bar chart drawn with Pillow alone (no matplotlib): one bar per class, or one
group of bars per class when several datasets are compared (before / after), the count written
on every bar and the class names on the horizontal axis (turned upright when they do not fit).

Bar heights are exact: a bar of count c is ``round(c / top * PLOT_HEIGHT)`` pixels tall, where
``top`` is the highest tick of the axis, so heights measured in the image are proportional to the
counts (to a pixel).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from PIL import Image, ImageDraw, ImageFont

PLOT_HEIGHT = 360
COLOURS = [(52, 101, 164), (230, 120, 30), (78, 154, 6), (117, 80, 123)]  # bars of series 0, 1, ...
INK = (40, 40, 40)
GRID = (225, 225, 225)
AXIS = (90, 90, 90)
MAX_NAME = 32  # characters of a class name shown (longer ones end in "...")


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int, int, int]:
    """(width, height, x offset, y offset) of ``text`` drawn at (0, 0)."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top, left, top


def _put(draw: ImageDraw.ImageDraw, x: float, y: float, text: str, font, fill, align: str = "left") -> None:
    """Draw ``text`` with its ink box's top at ``y`` and its left / centre / right at ``x``."""
    w, _, ox, oy = _size(draw, text, font)
    dx = {"left": 0, "centre": -w / 2, "right": -w}[align]
    draw.text((round(x + dx - ox), round(y - oy)), text, font=font, fill=fill)


def nice_axis(largest: int) -> tuple[int, int]:
    """(top, step) of a count axis: step is 1, 2 or 5 x 10^k, about 4 to 8 ticks, top >= largest."""
    if largest <= 0:
        return 1, 1
    step = 1
    for exponent in range(0, 19):
        for m in (1, 2, 5):
            step = m * 10**exponent
            if largest / step <= 8:
                return step * math.ceil(largest / step), step
    return largest, largest


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 3] + "..."


def class_chart(series: Sequence[tuple[str, Mapping[str, int]]], title: str = "images per class") -> Image.Image:
    """The chart of one or more (name, {class: count}) series, classes sorted by name."""
    classes = sorted({c for _, counts in series for c in counts})
    n_series = max(1, len(series))
    font, small, big = _font(14), _font(13), _font(17)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    largest = max([v for _, counts in series for v in counts.values()] + [0])
    top, step = nice_axis(largest)

    count_w = max([_size(probe, str(v), small)[0] for _, counts in series for v in counts.values()] + [10])
    bar_w = max(18, min(72, 900 // max(1, len(classes) * n_series)), count_w + 6)
    gap = max(16, bar_w // 2)
    group_w = n_series * bar_w + gap
    names = [_short(c) for c in classes]
    name_w = max([_size(probe, n, font)[0] for n in names] + [0])
    upright = name_w > group_w - 6  # names turned by 90 degrees when they do not fit side by side
    label_h = (name_w if upright else _size(probe, "Hg", font)[1]) + 12

    tick_w = max(_size(probe, str(t), small)[0] for t in range(0, top + 1, step))
    left = tick_w + 18
    head = 16 + _size(probe, "Hg", big)[1] + 12 + (_size(probe, "Hg", font)[1] + 10 if n_series > 1 else 0)
    head += _size(probe, "0", small)[1] + 8  # room for the count over the tallest bar
    if n_series == 1 and series:
        title = f"{title}: {series[0][0]}"
    title_w = _size(probe, title, big)[0]
    legend_w = sum(19 + _size(probe, name, font)[0] + 24 for name, _ in series) if n_series > 1 else 0
    width = max(left + len(classes) * group_w + 20, title_w + 28, legend_w + 14)
    height = head + PLOT_HEIGHT + label_h + 16
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    base = head + PLOT_HEIGHT  # the row just below the bars (the axis line)

    _put(draw, 14, 14, title, big, INK)
    if n_series > 1:  # legend: a swatch and the series name for each
        x, y = 14, 14 + _size(probe, "Hg", big)[1] + 10
        for i, (name, _) in enumerate(series):
            draw.rectangle((x, y, x + 13, y + 13), fill=COLOURS[i % len(COLOURS)])
            _put(draw, x + 19, y, name, font, INK)
            x += 19 + _size(probe, name, font)[0] + 24

    for t in range(0, top + 1, step):
        y = base - round(t / top * PLOT_HEIGHT)
        if t:
            draw.line((left, y, width - 10, y), fill=GRID)
        draw.line((left - 4, y, left, y), fill=AXIS)
        th = _size(probe, str(t), small)[1]
        _put(draw, left - 7, y - th / 2, str(t), small, INK, "right")
    draw.line((left, head - 4, left, base), fill=AXIS)
    draw.line((left, base, width - 10, base), fill=AXIS)

    for i, (cls, name) in enumerate(zip(classes, names)):
        x0 = left + gap // 2 + i * group_w
        for j, (_, counts) in enumerate(series):
            value = counts.get(cls, 0)
            h = round(value / top * PLOT_HEIGHT)
            x = x0 + j * bar_w
            if h:
                draw.rectangle((x, base - h, x + bar_w - 3, base - 1), fill=COLOURS[j % len(COLOURS)])
            ch = _size(probe, str(value), small)[1]
            _put(draw, x + (bar_w - 2) / 2, base - h - ch - 4, str(value), small, INK, "centre")
        centre = x0 + (group_w - gap) / 2
        if upright:
            w, h, ox, oy = _size(probe, name, font)
            tile = Image.new("L", (w + 2, h + 2), 0)
            ImageDraw.Draw(tile).text((1 - ox, 1 - oy), name, font=font, fill=255)
            tile = tile.rotate(90, expand=True)  # reads bottom to top, ending at the axis
            image.paste(Image.new("RGB", tile.size, INK), (round(centre - tile.width / 2), base + 8), tile)
        else:
            _put(draw, centre, base + 8, name, font, INK, "centre")
    return image
