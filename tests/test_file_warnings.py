"""Every Python warning raised while a file is read becomes one line naming that file (or is
dropped where augcli handles the condition); no raw ``warnings.warn`` output reaches the user."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from PIL import Image, TiffImagePlugin

from augcli.filewarnings import file_warnings

from .conftest import pattern

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def augcli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=120)


def tiff_with_corrupt_exif(path: Path) -> None:
    """A TIFF whose last tag (Artist) points past the end of the file: Pillow warns while reading
    the tags, and still decodes the picture."""
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[315] = "an artist name long enough to be stored out of line"
    pattern(30, 20).save(path, tiffinfo=info)
    data = bytearray(path.read_bytes())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, entry)[0] == 315:
            struct.pack_into("<I", data, entry + 8, len(data) - 5)
    path.write_bytes(bytes(data))


def jpeg_with_corrupt_exif(path: Path) -> None:
    """A JPEG whose EXIF block holds a tag whose data lies past the end of the block."""
    exif = Image.Exif()
    exif[0x010E] = "a description stored out of line"  # ImageDescription
    exif[0x0112] = 1
    buf = io.BytesIO()
    pattern(30, 20).save(buf, "JPEG", exif=exif)
    data = bytearray(buf.getvalue())
    start = data.index(b"Exif\0\0") + 6  # the TIFF header inside APP1
    order = ">" if data[start:start + 2] == b"MM" else "<"
    ifd = start + struct.unpack_from(order + "I", data, start + 4)[0]
    for i in range(struct.unpack_from(order + "H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack_from(order + "H", data, entry)[0] == 0x010E:
            struct.pack_into(order + "I", data, entry + 8, 60000)
    path.write_bytes(bytes(data))


@pytest.fixture
def warned(tmp_path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    tiff_with_corrupt_exif(src / "scan.tif")
    jpeg_with_corrupt_exif(src / "phone.jpg")
    pattern(20, 16).save(src / "plain.png")
    return src


def test_the_files_really_make_pillow_warn(warned):
    for name in ("scan.tif", "phone.jpg"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(warned / name) as im:
                im.load()
                im.getexif().get(0x0112)
        assert caught, name


@pytest.mark.parametrize("workers", ["1", "2"])
def test_pillow_warnings_become_one_line_per_file(warned, tmp_path, workers):
    out = tmp_path / "out"
    res = augcli("expand", warned, out, "--rotate", "5", "-j", workers, "--seed", "0")
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert all(line.startswith("augcli: ") for line in lines), res.stderr
    assert "Warning:" not in res.stderr and "warnings.warn" not in res.stderr and ".py:" not in res.stderr
    tif = [line for line in lines if line.startswith("augcli: scan.tif: warning: ")]
    jpg = [line for line in lines if line.startswith("augcli: phone.jpg: warning: ")]
    assert len(tif) == 1 and len(jpg) == 1, lines
    assert jpg[0].split(": warning: ", 1)[1].strip()  # Pillow's own words, e.g. "Truncated File Read"
    assert not [line for line in lines if "plain.png" in line]
    assert (out / "scan_0.tif").exists() and (out / "phone_0.jpg").exists()
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()[1:]]
    by_source = {r["source"]: r for r in records}
    assert by_source["scan.tif"]["warnings"] == [tif[0].split(": warning: ", 1)[1]]
    assert "warnings" not in by_source["plain.png"]


def test_replay_and_preview_report_warnings_the_same_way(warned, tmp_path):
    out = tmp_path / "out"
    assert augcli("expand", warned, out, "--rotate", "5", "-j", "1", "--seed", "0", "-q").returncode == 0
    res = augcli("replay", out / "manifest.jsonl", "--output", tmp_path / "again")
    assert res.returncode == 0, res.stderr
    assert all(line.startswith("augcli: ") for line in res.stderr.splitlines()), res.stderr
    assert len([line for line in res.stderr.splitlines() if ": warning: " in line]) == 2
    res = augcli("preview", warned / "phone.jpg", "--rotate", "5", "-o", tmp_path / "sheet.png", "--seed", "1")
    assert res.returncode == 0, res.stderr
    assert [line for line in res.stderr.splitlines() if ": warning: " in line] == \
        [line for line in res.stderr.splitlines() if line.startswith(f"augcli: {warned / 'phone.jpg'}: warning: ")]
    assert all(line.startswith("augcli: ") for line in res.stderr.splitlines()), res.stderr


def test_dropped_and_distinct():
    with file_warnings() as caught:
        warnings.warn("Corrupt EXIF data.", UserWarning)
        warnings.warn("Corrupt EXIF data.", UserWarning)  # once per file
        warnings.warn("two\nlines", UserWarning)
        warnings.warn("big", Image.DecompressionBombWarning)  # augcli checks --max-pixels itself
        warnings.warn("old api", DeprecationWarning)  # about code, not the file
    assert caught == ["Corrupt EXIF data.", "two\\nlines"]


def test_lines_a_c_library_writes_to_stderr_are_caught_too(capfd):
    with file_warnings() as caught:
        os.write(2, b"TIFFReadDirectory: Warning, Unknown field with tag 50000 (0xc350) encountered.\n")
        os.write(2, b"ZIPDecode: Decoding error at scanline 0\r\n")  # \r\n: a bar redraw, not the file's
        os.write(2, b"second\tline\n")
    assert caught == ["TIFFReadDirectory: Warning, Unknown field with tag 50000 (0xc350) encountered.",
                      "second\\tline"]
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"  # stderr is back, and nothing leaked meanwhile


def test_each_block_sees_only_its_own_native_lines_also_in_a_forked_child(capfd):
    with file_warnings() as first:
        os.write(2, b"a long first complaint\n" * 3)
    with file_warnings() as second:
        os.write(2, b"short\n")
    assert first == ["a long first complaint"] and second == ["short"]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child gets its own spool: the parent's is not touched
        try:
            with file_warnings() as child:
                os.write(2, b"from the child\n")
            os.write(write, repr(child).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as fh:
        assert fh.read() == "['from the child']"
    with file_warnings() as third:
        os.write(2, b"parent again\n")
    assert third == ["parent again"]
    assert capfd.readouterr().err == ""


def test_inside_a_chunk_each_source_still_gets_only_its_own_warnings(capfd, monkeypatch):
    from augcli import filewarnings

    switched = []
    real_dup2 = os.dup2
    monkeypatch.setattr(filewarnings.os, "dup2", lambda *a: (switched.append(a), real_dup2(*a))[1])
    with filewarnings.chunk_warnings():
        with file_warnings() as first:
            warnings.warn("first file's oddity")
            os.write(2, b"native from the first\n")
        with file_warnings() as second:
            pass
        with file_warnings() as third:
            os.write(2, b"native from the third\n")
            warnings.warn("third file's oddity")
            warnings.warn("third file's oddity")
    assert first == ["first file's oddity", "native from the first"]
    assert second == []
    assert third == ["third file's oddity", "native from the third"]
    assert len(switched) == 2  # stderr pointed away once for the chunk and back once
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
