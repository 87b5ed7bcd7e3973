"""``augcli stats``: the report of a made-up tree (exact JSON), the text form, the bar chart."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli.cli import cli
from augcli.plot import COLOURS
from augcli.stats import collect

from .conftest import BENCH_IMAGES, pattern


def invoke(*args):
    return CliRunner().invoke(cli, ["stats", *map(str, args)], catch_exceptions=False)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "cats" / "kittens").mkdir(parents=True)
    (root / "dogs").mkdir()
    (root / "empty").mkdir()
    pattern(10, 20, "RGB", 1).save(root / "a.png")
    pattern(40, 30, "RGB", 2).save(root / "cats" / "1.jpg", quality=90)
    pattern(36, 36, "RGBA", 3).save(root / "cats" / "2.png")
    pattern(30, 40, "L", 4).save(root / "cats" / "3.png")
    pattern(8, 8, "I;16", 5).save(root / "cats" / "kittens" / "k.png")
    pattern(16, 12, "RGB", 6).quantize(16).save(root / "dogs" / "x.png")
    turned = pattern(40, 20, "RGB", 7)
    exif = turned.getexif()
    exif[0x0112] = 6  # rotated: expand loads it as 20x40
    turned.save(root / "dogs" / "turned.jpg", exif=exif, quality=90)
    (root / "dogs" / "broken.jpg").write_bytes(b"not an image at all")
    pattern(9, 9, "RGB", 8).save(root / "dogs" / ".hidden.png")  # hidden: ignored, as expand ignores it
    (root / "dogs" / "notes.txt").write_text("not a candidate")
    return root


EXPECTED = {
    "augcli": "0.1.0",
    "decoded": False,
    "files": 8,
    "images": 7,
    "classes": [
        {"class": ".", "images": 1, "unreadable": 0},
        {"class": "cats", "images": 3, "unreadable": 0},
        {"class": "cats/kittens", "images": 1, "unreadable": 0},
        {"class": "dogs", "images": 2, "unreadable": 1},
    ],
    "formats": {"JPEG": 2, "PNG": 5},
    "modes": {"I;16": 1, "L": 1, "P": 1, "RGB": 3, "RGBA": 1},
    # widths 8 10 16 20 30 36 40, heights 8 12 20 30 36 40 40 (turned.jpg counts as 20x40)
    "width": {"min": 8, "median": 20, "max": 40},
    "height": {"min": 8, "median": 30, "max": 40},
    "unreadable": [{"file": "dogs/broken.jpg", "error": "cannot identify image file"}],
    "objects": None,
    "label_loss": None,
    "compare": None,
}


def test_stats_json_is_exact(tree):
    res = invoke(tree, "--json")
    assert res.exit_code == 1  # an unreadable file is a per-file failure
    assert json.loads(res.stdout) == {**EXPECTED, "root": str(tree)}
    assert res.stderr == f"augcli: {tree / 'dogs' / 'broken.jpg'}: cannot identify image file\n"


def test_stats_text_report(tree):
    res = invoke(tree)
    assert res.exit_code == 1
    assert res.stdout.splitlines() == [
        f"{tree}: 7 images in 4 classes (8 files, 1 unreadable; headers read)",
        "",
        "class         images",
        ".                  1",
        "cats               3",
        "cats/kittens       1",
        "dogs               2",
        "total              7",
        "",
        "formats: JPEG 2, PNG 5",
        "modes:   I;16 1, L 1, P 1, RGB 3, RGBA 1",
        "width:   min 8, median 20, max 40",
        "height:  min 8, median 30, max 40",
        "unreadable:",
        "  dogs/broken.jpg: cannot identify image file",
    ]


def test_headers_only_unless_decode_is_asked_for(tree):
    data = (tree / "cats" / "2.png").read_bytes()
    (tree / "cats" / "2.png").write_bytes(data[: len(data) // 2])
    assert collect(tree)["unreadable"] == EXPECTED["unreadable"]  # the header is intact
    decoded = collect(tree, decode=True)
    assert decoded["decoded"] is True and decoded["images"] == 6
    assert decoded["unreadable"] == [
        {"file": "cats/2.png", "error": "truncated image (image file is truncated)"},
        {"file": "dogs/broken.jpg", "error": "cannot identify image file"},
    ]


def test_a_clean_tree_exits_0_and_the_objects_hook_fills_objects(tree):
    (tree / "dogs" / "broken.jpg").unlink()
    assert invoke(tree, "--json").exit_code == 0
    seen = []

    def count_objects(root, rels):
        seen.append((root, list(rels)))
        return {"cat": 4}

    report = collect(tree, count_objects=count_objects)
    assert report["objects"] == {"cat": 4}
    assert seen == [(tree, ["a.png", "cats/1.jpg", "cats/2.png", "cats/3.png", "cats/kittens/k.png",
                            "dogs/turned.jpg", "dogs/x.png"])]


def test_usage_errors(tree, tmp_path):
    res = invoke(tree, "--plot", tmp_path / "chart.jpg")
    assert res.exit_code == 2 and "--plot writes a PNG" in res.output and not (tmp_path / "chart.jpg").exists()
    res = invoke(tmp_path / "missing")
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output


# ---------------------------------------------------------------------------------------------------
# the chart


def _make_classes(root: Path, counts: dict[str, int]) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "grey").save(buf, "PNG")
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i}.png").write_bytes(buf.getvalue())
    return root


def bars(png: Path, colour: tuple[int, int, int]) -> list[int]:
    """Heights in pixels of the bars of one colour, left to right: the connected areas of exactly
    that colour that stand on the common baseline (a legend swatch does not)."""
    from scipy import ndimage

    arr = np.asarray(Image.open(png).convert("RGB"))
    mask = np.all(arr == np.array(colour, np.uint8), axis=-1)
    labels, count = ndimage.label(mask)
    boxes = ndimage.find_objects(labels)
    if not boxes:
        return []
    baseline = max(box[0].stop for box in boxes)
    standing = sorted((box[1].start, box[0].stop - box[0].start) for box in boxes if box[0].stop == baseline)
    return [height for _, height in standing]


def proportional(heights: list[int], counts: list[int]) -> bool:
    scale = max(heights) / max(counts)
    return all(abs(h - c * scale) <= 1 for h, c in zip(heights, counts))


def test_the_plot_is_a_png_whose_bar_heights_are_proportional_to_the_counts(tmp_path):
    root = _make_classes(tmp_path / "d", {"ants": 7, "bees": 20, "wasps": 3, "zz_empty_but_one": 1})
    png = tmp_path / "chart.png"
    res = invoke(root, "--plot", png)
    assert res.exit_code == 0 and f"augcli: wrote {png}" in res.stderr
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 200 and im.height > 300
        im.verify()
    heights = bars(png, COLOURS[0])
    assert len(heights) == 4 and heights[1] == max(heights) and heights[3] > 0
    assert proportional(heights, [7, 20, 3, 1])
    assert heights[1] > 200  # tall enough to read


def test_the_compare_plot_puts_before_and_after_side_by_side(tmp_path):
    before = _make_classes(tmp_path / "before", {"ants": 7, "bees": 20})
    after = _make_classes(tmp_path / "after", {"ants": 30, "bees": 30, "new": 12})
    png = tmp_path / "cmp.png"
    res = invoke(before, "--compare", after, "--plot", png, "--json")
    assert res.exit_code == 0
    report = json.loads(res.stdout)
    assert [c["images"] for c in report["compare"]["classes"]] == [30, 30, 12]
    assert report["compare"]["compare"] is None and report["images"] == 27
    first, second = bars(png, COLOURS[0]), bars(png, COLOURS[1])
    assert len(first) == 2 and len(second) == 3
    assert proportional(first + second, [7, 20, 30, 30, 12])
    text = invoke(before, "--compare", after).stdout.splitlines()
    b, a = len(str(before)), len(str(after))
    assert text[3:8] == [
        f"class  {str(before)}  {str(after)}  change",
        f"ants   {'7':>{b}}  {'30':>{a}}     +23",
        f"bees   {'20':>{b}}  {'30':>{a}}     +10",
        f"new    {'0':>{b}}  {'12':>{a}}     +12",
        f"total  {'27':>{b}}  {'72':>{a}}     +45",
    ]


@pytest.mark.skipif(not BENCH_IMAGES.is_dir(), reason="../shared/bench-images is not here")
def test_stats_of_the_bench_images(tmp_path):
    res = invoke(BENCH_IMAGES, "--json", "--plot", tmp_path / "bench.png")
    assert res.exit_code == 0
    report = json.loads(res.stdout)
    assert report["images"] == sum(c["images"] for c in report["classes"]) == report["files"]
    assert report["unreadable"] == []
    heights = bars(tmp_path / "bench.png", COLOURS[0])
    assert proportional(heights, [c["images"] for c in report["classes"]])
