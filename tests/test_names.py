"""File names as bytes, end to end: Latin-1 and invalid UTF-8 names, newlines and tabs, names of
exactly 255 bytes, a path of 4095 bytes; the seed key from the bytes in every locale; the manifest's
lossless encoding read back by replay; temporary names within NAME_MAX."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from augcli import fsnames
from augcli.seeding import stable_key

from .conftest import pattern

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
# a locale whose file system encoding is ASCII: Python decodes names differently there
ASCII_LOCALE = {**ENV, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
FLAGS = ["--rotate", "20", "--hflip", "--brightness", "0.8:1.2", "-n", "2", "--seed", "5"]


def augcli(*args, env=ENV) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "augcli", *[a if isinstance(a, bytes) else str(a) for a in args]]
    return subprocess.run(cmd, capture_output=True, env=env, timeout=120)


def err_text(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.decode("utf-8", "backslashreplace")


def files(root: bytes) -> dict[bytes, bytes]:
    """Every file under ``root`` (a bytes path): relative bytes path -> contents (the hidden .augcli
    bookkeeping folder of run events left out)."""
    out = {}
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != b".augcli"]
        for name in names:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, root)] = fh.read()
    return out


def manifest(root: bytes) -> list[dict]:
    with open(os.path.join(root, b"manifest.jsonl"), "rb") as fh:
        return [json.loads(line) for line in fh.read().decode("ascii").splitlines()]


def save(path: bytes, seed: int = 0, fmt: str = "PNG") -> None:
    pattern(24, 18, "RGB", seed).save(path, format=fmt)


ODD = [b"caf\xe9.jpg",               # Latin-1
       b"bad\xff\xfe.png",           # bytes that never occur in UTF-8
       b"half\xc3(.png",             # a lead byte without its continuation
       b"sur\xed\xa0\x80gate.png",   # an encoded surrogate (invalid in UTF-8)
       b"end\xe2\x82.png"]           # a truncated sequence


@pytest.fixture
def odd_tree(tmp_path) -> bytes:
    root = os.fsencode(tmp_path / "in")
    os.makedirs(os.path.join(root, b"cl\xe4sse"))  # a Latin-1 folder name too
    for i, name in enumerate(ODD):
        save(os.path.join(root, name), i, "JPEG" if name.endswith(b".jpg") else "PNG")
    save(os.path.join(root, b"cl\xe4sse", b"x.png"), 9)
    save(os.path.join(root, "café.png".encode()), 10)  # valid UTF-8, for the key that must not change
    return root


def test_names_that_are_not_utf8_are_read_written_recorded_and_replayed(odd_tree, tmp_path):
    out = os.fsencode(tmp_path / "out")
    proc = augcli("expand", odd_tree, out, *FLAGS, "-j", "2")
    assert proc.returncode == 0, err_text(proc)
    assert b"Traceback" not in proc.stderr
    written = files(out)
    for name in ODD:
        stem, ext = os.path.splitext(name)
        assert stem + b"_0" + ext in written and stem + b"_1" + ext in written
    assert os.path.join(b"cl\xe4sse", b"x_1.png") in written
    records = manifest(out)[1:]
    by_bytes = {base64.b64decode(r["source_b64"]) if "source_b64" in r else r["source"].encode(): r for r in records}
    for name in ODD:
        rec = by_bytes[name]
        assert rec["status"] == "ok"
        assert rec["source"] == name.decode("utf-8", "backslashreplace")  # readable text, documented
        assert rec["item_key"] == stable_key(name)  # the key is a hash of the bytes
        assert base64.b64decode(rec["output_b64"]).startswith(os.path.splitext(name)[0] + b"_")
    # a valid UTF-8 name keeps exactly the key it always had: blake2b of its UTF-8 text, no _b64 field
    cafe = by_bytes["café.png".encode()]
    old_key = int.from_bytes(hashlib.blake2b("café.png".encode(), digest_size=8).digest(), "little")
    assert cafe["item_key"] == old_key and "source_b64" not in cafe and cafe["source"] == "café.png"

    again = os.fsencode(tmp_path / "again")
    proc = augcli("replay", os.path.join(out, b"manifest.jsonl"), "--output", again)
    assert proc.returncode == 0, err_text(proc)
    assert {k: v for k, v in files(again).items() if k != b"manifest.jsonl"} == \
        {k: v for k, v in written.items() if k != b"manifest.jsonl"}


def test_same_bytes_in_every_locale_and_with_any_worker_count(odd_tree, tmp_path):
    runs = {}
    for label, env, workers in (("utf8-2", ENV, "2"), ("ascii-1", ASCII_LOCALE, "1"), ("ascii-2", ASCII_LOCALE, "2")):
        out = os.fsencode(tmp_path / label)
        proc = augcli("expand", odd_tree, out, *FLAGS, "-j", workers, env=env)
        assert proc.returncode == 0, (label, err_text(proc))
        runs[label] = files(out)
    images = {k: v for k, v in runs["utf8-2"].items() if k != b"manifest.jsonl"}
    assert len(images) == 2 * (len(ODD) + 2)
    for label, tree in runs.items():
        assert {k: v for k, v in tree.items() if k != b"manifest.jsonl"} == images, label
    strip = lambda recs: [{k: v for k, v in r.items() if k not in ("config",)} for r in recs[1:]]  # noqa: E731
    utf8 = strip(manifest(os.fsencode(tmp_path / "utf8-2")))
    assert strip(manifest(os.fsencode(tmp_path / "ascii-1"))) == utf8


def test_newlines_and_tabs_in_names_are_one_line_on_stderr_and_stdout(tmp_path):
    root = os.fsencode(tmp_path / "in")
    os.makedirs(root)
    save(os.path.join(root, b"new\nline.png"))
    save(os.path.join(root, b"tab\tbed.png"), 1)
    with open(os.path.join(root, b"bro\nken\t.jpg"), "wb") as fh:
        fh.write(b"not an image")
    with open(os.path.join(root, b"lat\xe9\n.jpg"), "wb") as fh:
        fh.write(b"not an image either")
    out = os.fsencode(tmp_path / "out")
    proc = augcli("expand", root, out, "--rotate", "5", "-j", "1", "--seed", "0")
    assert proc.returncode == 1
    lines = err_text(proc).splitlines()
    assert "augcli: bro\\nken\\t.jpg: cannot identify image file" in lines
    assert "augcli: lat\\xe9\\n.jpg: cannot identify image file" in lines
    assert all(line.startswith("augcli: ") for line in lines)
    written = files(out)
    assert b"new\nline_0.png" in written and b"tab\tbed_0.png" in written
    records = manifest(out)[1:]
    assert {r["source"] for r in records if r["status"] == "ok"} == {"new\nline.png", "tab\tbed.png"}
    dry = augcli("expand", root, os.fsencode(tmp_path / "dry"), "--rotate", "5", "--dry-run")
    listed = dry.stdout.decode().splitlines()
    assert "new\\nline.png\tnew\\nline_0.png" in listed and "tab\\tbed.png\ttab\\tbed_0.png" in listed
    assert len(listed) == 4


def test_names_of_exactly_255_bytes(tmp_path):
    root = os.fsencode(tmp_path / "in")
    os.makedirs(root)
    longest = "é" * 125 + "x.png"           # 255 bytes: its output name (257 bytes) cannot exist
    fits = "é" * 124 + "x.png"              # 253 bytes: its output is exactly 255 bytes
    plain = "a" * 251 + ".png"              # 255 bytes of ASCII
    assert [len(n.encode()) for n in (longest, fits, plain)] == [255, 253, 255]
    for i, name in enumerate((longest, fits, plain, "ok.png")):
        save(os.path.join(root, name.encode()), i)
    out = os.fsencode(tmp_path / "out")
    proc = augcli("expand", root, out, "--rotate", "5", "-j", "2", "--seed", "0", "--json")
    assert proc.returncode == 1, err_text(proc)
    err = err_text(proc)
    assert "Traceback" not in err
    for name in (longest, plain):
        assert f"augcli: {name}: cannot write {name[:-4]}_0.png: name too long: 257 bytes, " \
               f"the file system allows 255" in err.splitlines()
    written = files(out)
    assert ("é" * 124 + "x_0.png").encode() in written and b"ok_0.png" in written
    assert len(("é" * 124 + "x_0.png").encode()) == 255
    assert not [k for k in written if k.startswith(b".")]  # no temporary left behind
    summary = json.loads(proc.stdout)
    assert summary["written"] == 2 and summary["failed"] == 2


@pytest.mark.skipif(sys.platform != "linux", reason="PATH_MAX is 4096 on Linux")
def test_a_path_of_4095_bytes(tmp_path):
    """The longest path Linux opens (PATH_MAX 4096 with its NUL): read, and its output (a little
    longer than PATH_MAX, in a folder that is not) written through the folder's descriptor."""
    root = os.fsencode(tmp_path / "in")
    sub = []
    total = len(root)
    while 4095 - total > 300:
        sub.append(b"d" * 200)
        total += 201
    name = b"f" * (4095 - total - 1 - 4) + b".png"
    rel = os.path.join(*sub, name)
    src = os.path.join(root, rel)
    assert len(src) == 4095
    os.makedirs(os.path.dirname(src))
    save(src)
    out = os.fsencode(tmp_path / "out")  # a byte longer than "in", plus "_0": each output path is 4098 bytes
    proc = augcli("expand", root, out, "--rotate", "5", "-j", "1", "--seed", "0")
    assert proc.returncode == 0, err_text(proc)
    target_dir = os.path.join(out, *sub)
    folder = os.open(target_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        out_name = name[:-4] + b"_0.png"
        assert len(os.path.join(target_dir, out_name)) == 4098
        fd = os.open(out_name, os.O_RDONLY, dir_fd=folder)
        with os.fdopen(fd, "rb") as fh, Image.open(fh) as im:
            im.load()
            assert im.size == (24, 18)
        assert [n for n in os.listdir(folder) if n.startswith(".")] == []  # no temporary left
    finally:
        os.close(folder)
    rec = manifest(out)[1]
    assert rec["status"] == "ok" and rec["source"] == rel.decode()


def test_shown_and_manifest_encoding_round_trip():
    assert fsnames.shown("a\nb\tc\\d\x07") == "a\\nb\\tc\\\\d\\x07"
    assert fsnames.shown(fsnames.to_text(b"caf\xe9")) == "caf\\xe9"
    assert fsnames.shown("日本 -x.png") == "日本 -x.png"
    assert fsnames.shown("rtl\u202eevil\u2028") == "rtl\\u202eevil\\u2028"
    for raw in (b"caf\xe9.jpg", b"a\xff/b\xfe.png", "café.png".encode(), b"plain"):
        text = fsnames.to_text(raw)
        assert fsnames.to_bytes(text) == raw
        record = fsnames.encode_fields({"source": text, "copy": 1}, ("source",))
        json.dumps(record).encode("ascii")  # the manifest stays plain ASCII JSON
        assert ("source_b64" in record) == (not fsnames.is_utf8(text))
        assert fsnames.decode_fields(json.loads(json.dumps(record)), ("source",)) == {"source": text, "copy": 1}
    with pytest.raises(ValueError):
        fsnames.decode_fields({"source": "x", "source_b64": "%%%"}, ("source",))


def test_seed_key_is_the_hash_of_the_bytes():
    assert stable_key(fsnames.to_text(b"caf\xe9.jpg")) == stable_key(b"caf\xe9.jpg")
    assert stable_key("café.jpg") == stable_key("café.jpg".encode())
    assert stable_key("café.jpg") != stable_key("caf\xe9.jpg".encode("latin-1"))


def test_stats_lists_odd_names_on_one_line_and_losslessly(tmp_path):
    root = os.fsencode(tmp_path / "in")
    os.makedirs(os.path.join(root, b"cl\xe4ss"))
    save(os.path.join(root, b"cl\xe4ss", b"ok.png"))
    with open(os.path.join(root, b"bad\xff\n.jpg"), "wb") as fh:
        fh.write(b"junk")
    proc = augcli("stats", root)
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr
    text = proc.stdout.decode()
    assert "  bad\\xff\\n.jpg: cannot identify image file" in text.splitlines()
    assert any(line.startswith("cl\\xe4ss ") for line in text.splitlines())
    assert err_text(proc).splitlines() == [f"augcli: {tmp_path}/in/bad\\xff\\n.jpg: cannot identify image file"]
    report = json.loads(augcli("stats", root, "--json").stdout)
    assert base64.b64decode(report["unreadable"][0]["file_b64"]) == b"bad\xff\n.jpg"
    assert [base64.b64decode(c["class_b64"]) for c in report["classes"] if "class_b64" in c] == [b"cl\xe4ss"]


def test_folders_and_prefix_that_are_not_utf8_are_recorded_and_replayed(tmp_path):
    base = os.fsencode(tmp_path)
    src, out = os.path.join(base, b"in\xe9"), os.path.join(base, b"out\xe9")
    os.makedirs(os.path.join(src, b"sub\xff"))
    save(os.path.join(src, b"sub\xff", b"a\xfe.png"))
    proc = augcli("expand", src, out, "--rotate", "5", "--seed", "1", "-j", "1", "--prefix", b"p\xe8")
    assert proc.returncode == 0, err_text(proc)
    target = os.path.join(out, b"sub\xff", b"p\xe8_a\xfe_0.png")
    with open(target, "rb") as fh:
        made = fh.read()
    config = manifest(out)[0]["config"]
    assert base64.b64decode(config["input_dir_b64"]) == src and base64.b64decode(config["prefix_b64"]) == b"p\xe8"
    os.unlink(target)
    proc = augcli("replay", os.path.join(out, b"manifest.jsonl"), "--on-exists", "skip")  # recorded folders
    assert proc.returncode == 0, err_text(proc)
    with open(target, "rb") as fh:
        assert fh.read() == made


def _reference_outputs(sources, cfg):
    """The output names as the documented rule reads with pathlib (the naming's first writing)."""
    from pathlib import PurePosixPath

    width = len(str(max(cfg.copies - 1, 0)))
    from augcli.imageio import output_format

    groups: dict = {}
    for rel in sources:
        p, ext = PurePosixPath(rel), output_format(rel, cfg.format)[1]
        groups.setdefault((str(p.parent).lower(), p.stem.lower(), ext.lower()), []).append(rel)
    names = []
    for rel in sources:
        p, ext = PurePosixPath(rel), output_format(rel, cfg.format)[1]
        stem = p.stem
        if len(groups[(str(p.parent).lower(), stem.lower(), ext.lower())]) > 1:
            stem = f"{stem}_{p.suffix[1:].lower()}"
        base = f"{fsnames.canonical(cfg.prefix)}_{stem}" if cfg.prefix else stem
        outs = [(None, (p.parent / f"{base}_orig{ext}").as_posix())] if cfg.include_originals else []
        outs += [(k, (p.parent / f"{base}_{k:0{width}d}{ext}").as_posix()) for k in range(cfg.copies)]
        names.append((rel, tuple(outs)))
    return names


@pytest.mark.parametrize("options", [{}, {"prefix": "p"}, {"include_originals": True, "copies": 12},
                                     {"format": "png", "copies": 3}, {"format": "jpeg"}])
def test_output_names_follow_the_pathlib_rule_for_odd_names(options):
    """Names are made with plain string operations; they are exactly the ones the rule gives with
    pathlib: several dots, a trailing dot, no extension, folders, clashing stems in any case, names
    that are not UTF-8 (surrogate escapes)."""
    from pathlib import Path

    from augcli.config import RunConfig
    from augcli.run.discover import plan_outputs

    sources = sorted(["a.jpg", "a.png", "A.PNG", "x/a.jpg", "x/a.JPG", "x/y/b.tar.gz", "x/c.", "d", "e.f.g",
                      "x/y/a.png", "a.jpeg", "x/..png", "sp ace.png", "ü/é.png", "x/a_jpg_0.png", "x/b.Jpeg",
                      "x/b.jpeg", "\udcff.png", "q/\udcfe/r.webp", "x/y/z/w.bmp"])
    cfg = RunConfig(input_dir=Path("in"), output_dir=Path("out"), **options)
    assert [(job.source, job.outputs) for job in plan_outputs(sources, cfg)] == _reference_outputs(sources, cfg)


def test_a_record_line_is_the_sorted_json_of_the_record_without_run_events():
    """Manifest lines: the record's JSON with sorted keys, run events (fatal, existing, _decoded) left
    out, and names that are not UTF-8 as readable text plus their exact bytes in ``<field>_b64``;
    the record given is never changed."""
    from augcli.manifest import RECORD_ONLY, record_line

    base = {"source": "a/b.png", "output": "a/b_0.jpg", "copy": 0, "status": "ok", "error": None, "seed": 3,
            "item_key": 2 ** 63 + 5, "size": [32, 24], "output_size": [32, 24],
            "ops": [{"op": "rotate", "applied": True, "angle": 0.1 + 0.2}], "matrix": [[1.0, 0.0, 0.5], [0.0, 1.0, -2.0]]}
    odd = {**base, "source": "a/\udcff.png", "output": "a/\udcff_0.jpg", "existing": True, "_decoded": 2}
    for rec in (base, {**base, "fatal": True, "error": "disk full", "status": "error"}, odd,
                {**base, "output": None, "copy": None, "status": "error", "error": "x\ny \u00e9"}):
        before = dict(rec)
        expected = fsnames.encode_fields({k: v for k, v in rec.items() if k not in RECORD_ONLY}, ("source", "output"))
        assert record_line(rec) == json.dumps(expected, sort_keys=True) + "\n"
        assert rec == before
    line = json.loads(record_line(odd))
    assert base64.b64decode(line["source_b64"]) == b"a/\xff.png" and "existing" not in line
