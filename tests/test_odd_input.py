"""Odd and hostile input: modes, formats, EXIF, bombs, broken files, strange paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli.cli import cli

from .conftest import pattern, records


def expand(*args):
    return CliRunner().invoke(cli, ["expand", *map(str, args)], catch_exceptions=False)


def make_mode(mode: str) -> Image.Image:
    base = pattern(40, 30, "RGBA", 5)
    if mode == "P":
        return base.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    if mode == "PT":
        im = base.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        im.info["transparency"] = 3
        return im
    if mode == "I;16":
        return pattern(40, 30, "I;16", 5)
    if mode == "I":
        return pattern(40, 30, "I;16", 5).convert("I")
    if mode == "F":
        return pattern(40, 30, "L", 5).convert("F")
    return base.convert(mode)


# (input mode, file to save it as) -> expected output mode per --format
MODE_CASES = {
    "1": ("png", {"same": "L", "jpeg": "L", "png": "L", "webp": "RGB", "tiff": "L"}),
    "L": ("png", {"same": "L", "jpeg": "L", "png": "L", "webp": "RGB", "tiff": "L"}),
    "LA": ("png", {"same": "LA", "jpeg": "L", "png": "LA", "webp": "RGBA", "tiff": "LA"}),
    "P": ("png", {"same": "RGB", "jpeg": "RGB", "png": "RGB", "webp": "RGB", "tiff": "RGB"}),
    "PT": ("png", {"same": "RGBA", "jpeg": "RGB", "png": "RGBA", "webp": "RGBA", "tiff": "RGBA"}),
    "RGB": ("png", {"same": "RGB", "jpeg": "RGB", "png": "RGB", "webp": "RGB", "tiff": "RGB"}),
    "RGBA": ("png", {"same": "RGBA", "jpeg": "RGB", "png": "RGBA", "webp": "RGBA", "tiff": "RGBA"}),
    "CMYK": ("jpg", {"same": "RGB", "jpeg": "RGB", "png": "RGB", "webp": "RGB", "tiff": "RGB"}),
    "I;16": ("png", {"same": "I;16", "jpeg": "L", "png": "I;16", "webp": "RGB", "tiff": "I;16"}),
    "I": ("tif", {"same": "I", "jpeg": "L", "png": "I;16", "webp": "RGB", "tiff": "I"}),
    "F": ("tif", {"same": "F", "jpeg": "L", "png": "L", "webp": "RGB", "tiff": "F"}),
}


@pytest.mark.parametrize("mode", sorted(MODE_CASES))
def test_every_mode_into_every_format(tmp_path, mode):
    ext, expected = MODE_CASES[mode]
    src = tmp_path / "in"
    src.mkdir()
    make_mode(mode).save(src / f"img.{ext}")
    for fmt, want in expected.items():
        out = tmp_path / f"out_{fmt}"
        res = expand(src, out, "--format", fmt, "--rotate", 20, "--brightness", "0.9:1.1", "--channel-shift", 10,
                     "--seed", 1, "-j", 1, "--fill-mode", "constant", "--cval", 128)
        assert res.exit_code == 0, (mode, fmt, res.output)
        files = [p for p in out.iterdir() if p.name != "manifest.jsonl" and p.name != ".augcli"]  # run stats
        assert len(files) == 1
        with Image.open(files[0]) as im:
            im.load()
            assert im.mode == want, (mode, fmt, im.mode)
            assert im.size == (40, 30)
            arr = np.asarray(im)
            assert arr.std() > 0  # not blank: something sensible was written


def test_16_bit_png_keeps_its_depth_and_values(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    image = pattern(40, 30, "I;16", 2)
    image.save(src / "deep.png")
    out = tmp_path / "out"
    assert expand(src, out, "--hflip", "--p", "hflip=1", "--seed", 0, "-j", 1).exit_code == 0
    with Image.open(out / "deep_0.png") as im:
        assert im.mode == "I;16"
        assert np.array_equal(np.asarray(im), np.asarray(image)[:, ::-1])
    out2 = tmp_path / "out2"
    assert expand(src, out2, "--rotate", 10, "--seed", 0, "-j", 1).exit_code == 0
    with Image.open(out2 / "deep_0.png") as im:
        arr = np.asarray(im)
        assert im.mode == "I;16" and arr.max() > 10000 and len(np.unique(arr)) > 1000


def _jpeg_with_orientation(path: Path, orientation: int, size=(40, 20)):
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[:, : size[0] // 2] = (255, 0, 0)  # left half red
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, quality=95, exif=exif)


def test_exif_orientation_is_applied_and_not_carried_over(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _jpeg_with_orientation(src / "phone.jpg", 6)  # stored 40x20; displayed rotated 90 cw -> 20x40
    out = tmp_path / "out"
    assert expand(src, out, "--include-originals", "-n", 1, "--rotate", "0:0", "--seed", 0, "-j", 1).exit_code == 0
    for name in ("phone_orig.jpg", "phone_0.jpg"):
        with Image.open(out / name) as im:
            assert im.size == (20, 40)
            assert im.getexif().get(0x0112) is None
            top = np.asarray(im)[:5].mean(axis=(0, 1))
            assert top[0] > 200 and top[2] < 60  # the red half is on top after orientation 6
    out2 = tmp_path / "out2"
    assert expand(src, out2, "--no-exif-transpose", "--rotate", "0:0", "--seed", 0, "-j", 1).exit_code == 0
    with Image.open(out2 / "phone_0.jpg") as im:
        assert im.size == (40, 20) and im.getexif().get(0x0112) is None


def test_animated_gif_uses_the_first_frame(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    out = tmp_path / "out"
    assert expand(src, out, "--include-originals", "--rotate", "0:0", "-j", 1, "--seed", 0).exit_code == 0
    with Image.open(out / "anim_orig.png") as im:  # GIF is written as PNG with --format same
        assert im.format == "PNG" and tuple(np.asarray(im.convert("RGB"))[8, 8]) == (255, 0, 0)


def test_multi_page_tiff_uses_the_first_page(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pages = [Image.new("RGB", (16, 12), c) for c in ((0, 0, 255), (255, 255, 0))]
    pages[0].save(src / "scan.tif", save_all=True, append_images=pages[1:])
    with Image.open(src / "scan.tif") as im:
        assert getattr(im, "n_frames", 1) == 2
    out = tmp_path / "out"
    assert expand(src, out, "--include-originals", "--rotate", "0:0", "-j", 1, "--seed", 0).exit_code == 0
    with Image.open(out / "scan_orig.tif") as im:
        assert getattr(im, "n_frames", 1) == 1 and tuple(np.asarray(im)[6, 8]) == (0, 0, 255)


def test_broken_files_fail_one_by_one_with_reasons(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pattern(30, 20).save(src / "good.png")
    (src / "text.jpg").write_text("not an image at all")
    full = src / "full.jpg"
    pattern(200, 150).save(full, quality=95)
    (src / "truncated.jpg").write_bytes(full.read_bytes()[:3000])
    full.unlink()
    (src / "empty.png").write_bytes(b"")
    big = Image.new("L", (3000, 2000))
    big.save(src / "bomb.png")
    out = tmp_path / "out"
    res = expand(src, out, "--rotate", 5, "-j", 1, "--seed", 0, "--max-pixels", 1_000_000, "--json")
    assert res.exit_code == 1
    err = res.stderr
    assert "text.jpg: cannot identify image file" in err
    assert "truncated.jpg: truncated image" in err
    assert "empty.png: cannot identify image file" in err
    assert "bomb.png: too large: 6000000 pixels > limit 1000000" in err
    assert (out / "good_0.png").exists()
    summary = json.loads(res.stdout)
    assert summary["written"] == 1 and summary["failed"] == 4
    assert {f["source"] for f in summary["failures"]} == {"text.jpg", "truncated.jpg", "empty.png", "bomb.png"}
    status = {r["source"]: r["status"] for r in records(out)}
    assert status == {"bomb.png": "error", "empty.png": "error", "good.png": "ok", "text.jpg": "error",
                      "truncated.jpg": "error"}
    # each failure is exactly one line on stderr
    assert len([line for line in err.splitlines() if line.startswith("augcli: ") and ": " in line[8:]]) >= 4


def test_strict_stops_at_the_first_failure(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a_bad.jpg").write_text("x")
    (src / "b_bad.jpg").write_text("x")
    pattern(20, 20).save(src / "c_good.png")
    res = expand(src, tmp_path / "out", "--rotate", 5, "-j", 1, "--strict", "--json")
    assert res.exit_code == 1
    summary = json.loads(res.stdout)
    assert summary["failed"] == 1 and summary["written"] == 0


def test_discovery_rules(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / ".hidden").mkdir()
    for name in ("UPPER.JPG", "mixed.Jpeg", "old.jpe", "scan.tif", "web.webp", "win.bmp", "anim.gif"):
        im = pattern(20, 16)
        fmt = {"jpg": "JPEG", "jpeg": "JPEG", "jpe": "JPEG", "tif": "TIFF", "webp": "WEBP", "bmp": "BMP",
               "gif": "GIF"}[name.rsplit(".", 1)[1].lower()]
        im.save(src / "sub" / name, format=fmt)
    pattern(20, 16).save(src / ".hidden" / "secret.png")
    pattern(20, 16).save(src / ".dotfile.png")
    (src / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (src / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (src / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    res = expand(src, out, "--rotate", 5, "-j", 1, "--seed", 0, "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["discovered"] == 7 and summary["failed"] == 0
    names = sorted(p.name for p in (out / "sub").iterdir())
    assert names == ["UPPER_0.JPG", "anim_0.png", "mixed_0.Jpeg", "old_0.jpe", "scan_0.tif", "web_0.webp", "win_0.bmp"]
    assert res.stderr.count("\n") == 1  # only the summary line: litter is ignored silently


def test_strange_paths(tmp_path):
    src = tmp_path / "in put"
    (src / "clâsse ünï").mkdir(parents=True)
    pattern(20, 16).save(src / "clâsse ünï" / "-leading dash.png")
    pattern(20, 16).save(src / "clâsse ünï" / "日本.jpg")
    target = tmp_path / "elsewhere.png"
    pattern(20, 16, seed=3).save(target)
    os.symlink(target, src / "linked.png")
    os.symlink(src, src / "loop")  # a folder symlink loop: followed folders are read once, so it ends
    os.symlink(src / "self1.png", src / "self2.png")
    os.symlink(src / "self2.png", src / "self1.png")  # a file symlink loop
    os.mkfifo(src / "pipe.jpg")  # opening it would block forever
    os.symlink("/dev/zero", src / "device.png")  # a device: reading it would never end
    out = tmp_path / "out put"
    proc = subprocess.run([sys.executable, "-m", "augcli", "expand", str(src), str(out), "--rotate", "5",
                           "-j", "1", "--seed", "0", "--json"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 1, proc.stderr
    assert (out / "clâsse ünï" / "-leading dash_0.png").exists()
    assert (out / "clâsse ünï" / "日本_0.jpg").exists()
    assert (out / "linked_0.png").exists()
    assert "pipe.jpg: not a regular file" in proc.stderr
    assert "device.png: not a regular file" in proc.stderr
    assert "self1.png: cannot read: Too many levels of symbolic links" in proc.stderr
    assert "augcli: loop/: warning: symlink loop (it points back to ./), not followed" in proc.stderr.splitlines()
    summary = json.loads(proc.stdout)
    assert summary["written"] == 3 and summary["failed"] == 4


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_a_failure_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pattern(20, 16).save(src / "locked.png")
    os.chmod(src / "locked.png", 0)
    res = expand(src, tmp_path / "out", "--rotate", 5, "-j", 1)
    assert res.exit_code == 1 and "locked.png: cannot read" in res.stderr
