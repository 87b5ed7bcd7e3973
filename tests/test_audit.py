"""augcli audit: planted leaks are found (exit 1), a clean split passes (exit 0)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from PIL import Image, ImageOps

from .splitdata import folders, reencode, save


def cli(*args, expect=None, cmd="audit"):
    res = subprocess.run([sys.executable, "-m", "augcli", cmd, *map(str, args)], capture_output=True, text=True,
                         timeout=300)
    if expect is not None:
        assert res.returncode == expect, res.stdout + res.stderr
    return res


def _split(tmp_path):
    inp = folders(tmp_path / "in", {"a": 10, "b": 10})
    out = tmp_path / "ds"
    cli(inp, out, "--seed", "2", "-j", "1", expect=0, cmd="split")
    return out


def test_clean_split_exits_0_and_caches_hashes(tmp_path):
    out = _split(tmp_path)
    res = cli(out, "--json", "-j", "2", expect=0)
    doc = json.loads(res.stdout)
    assert doc["leaks"] == [] and doc["images"] == 20 and sum(doc["splits"].values()) == 20
    cache = out / ".augcli" / "hashes.jsonl"
    assert len(cache.read_text().splitlines()) == 21
    again = cli(out, "--json", "-j", "1", expect=0)
    assert json.loads(again.stdout) == doc


def test_planted_leaks_are_found_and_exit_1(tmp_path):
    out = _split(tmp_path)
    val = sorted((out / "val").rglob("*.png"))
    assert len(val) == 2
    v0, v1 = val
    shutil.copy(v0, out / "train" / "a" / "copied.png")
    save(Image.open(v0).resize((128, 96), Image.Resampling.LANCZOS), out / "train" / "a" / "bigger.png")
    (out / "train" / "b" / "again.jpg").write_bytes(reencode(v1, 60))
    # an expand output of a val image, put in train (found through its manifest, whatever it looks like)
    cli(out / "val", out / "train" / "aug", "-n", "1", "--rotate", "40:40", "--seed", "1", "-j", "1", "-q",
        expect=0, cmd="expand")
    res = cli(out, "--json", "-j", "1", expect=1)
    doc = json.loads(res.stdout)
    kinds = {(p["kind"], p["a"], p["b"]) for p in doc["leaks"]}
    r0, r1 = (p.relative_to(out).as_posix() for p in (v0, v1))
    assert ("exact", "train/a/copied.png", r0) in kinds
    assert any(k == "near" and {a, b} == {"train/a/bigger.png", r0} for k, a, b in kinds)
    assert any(k == "near" and {a, b} == {"train/b/again.jpg", r1} for k, a, b in kinds)
    sources = [p for p in doc["leaks"] if p["kind"] == "source"]
    assert {(p["split_a"], p["split_b"]) for p in sources} == {("train", "val")} and len(sources) == 2
    text = cli(out, expect=1).stdout
    assert "leak" in text and "copied.png" in text


def test_duplicates_inside_one_split_are_reported_apart(tmp_path):
    out = _split(tmp_path)
    some = sorted((out / "train").rglob("*.png"))[0]
    shutil.copy(some, some.with_name("twin.png"))
    doc = json.loads(cli(out, "--json", "-j", "1", expect=0).stdout)
    assert doc["leaks"] == [] and [p["kind"] for p in doc["within"]] == ["exact"]


def test_voc_lists_name_the_splits(tmp_path):
    inp = tmp_path / "voc"
    for i in range(4):
        save(Image.open(folders(tmp_path / "f", {"x": 4}) / "x" / f"x{i:03d}.png"), inp / "JPEGImages" / f"i{i}.png")
    (inp / "ImageSets/Main").mkdir(parents=True)
    (inp / "ImageSets/Main/train.txt").write_text("i0\ni1\ni2\n")
    (inp / "ImageSets/Main/val.txt").write_text("i3\ni2\n")
    doc = json.loads(cli(inp, "--json", "-j", "1", expect=1).stdout)
    assert doc["splits"] == {"train": 3, "val": 1}
    assert [(p["kind"], p["a"]) for p in doc["leaks"]] == [("listed", "JPEGImages/i2.png")]


def test_not_a_folder_exits_2(tmp_path):
    res = cli(tmp_path / "missing", expect=2)
    assert "Traceback" not in res.stderr


def test_a_changed_file_is_hashed_again_not_taken_from_the_cache(tmp_path):
    out = _split(tmp_path)
    assert cli(out, "-j", "1").returncode == 0  # fills the cache
    v0 = sorted((out / "val").rglob("*.png"))[0]
    t0 = sorted((out / "train").rglob("*.png"))[0]
    shutil.copy(t0, v0)  # same path, new bytes (and time): now a copy of a train image
    doc = json.loads(cli(out, "--json", "-j", "1", expect=1).stdout)
    assert [(p["kind"], p["a"], p["b"]) for p in doc["leaks"]] == [("exact", t0.relative_to(out).as_posix(),
                                                                      v0.relative_to(out).as_posix())]


def test_the_datasets_own_cache_forgets_files_that_are_gone(tmp_path):
    out = _split(tmp_path)
    cli(out, "-j", "1", expect=0)
    gone = sorted((out / "train").rglob("*.png"))[0]
    gone.unlink()
    cli(out, "-j", "1", expect=0)
    lines = (out / ".augcli" / "hashes.jsonl").read_text().splitlines()
    assert len(lines) == 20 and not any(str(gone) in ln for ln in lines)


def test_a_cache_path_that_is_not_a_cache_is_never_written_over(tmp_path):
    out = _split(tmp_path)
    precious = tmp_path / "notes.txt"
    precious.write_text("my notes\n")
    res = cli(out, "--cache", precious, "-j", "1", expect=2)
    assert "not an augcli hash cache" in res.stderr and precious.read_text() == "my notes\n"
    broken = tmp_path / "h.jsonl"
    cli(out, "--cache", broken, "-j", "1", expect=0)
    broken.write_text(broken.read_text()[:-30])  # a cut-off cache of ours is rebuilt
    res = cli(out, "--cache", broken, "-j", "1", expect=0)
    assert "rebuilt" in res.stderr and len(broken.read_text().splitlines()) == 21


def test_many_copies_of_one_image_are_listed_without_every_pair(tmp_path):
    out = _split(tmp_path)
    v0 = sorted((out / "val").rglob("*.png"))[0]
    for k in range(120):
        shutil.copy(v0, out / "train" / "a" / f"copy{k:03d}.png")
    doc = json.loads(cli(out, "--json", "-j", "1", expect=1).stdout)
    assert len(doc["leaks"]) == 1 and len(doc["within"]) == 119  # not 121 * 120 / 2 pairs
    named = {p["b"] for p in doc["within"]} | {p["a"] for p in doc["within"]}
    assert len([n for n in named if "copy" in n]) == 120


def test_a_mirrored_copy_is_a_leak(tmp_path):
    out = _split(tmp_path)
    v0 = sorted((out / "val").rglob("*.png"))[0]
    save(ImageOps.mirror(Image.open(v0)), out / "test" / "a" / "mirrored.png")
    doc = json.loads(cli(out, "--json", "-j", "1", expect=1).stdout)
    assert [(p["kind"], p["a"], p["b"]) for p in doc["leaks"]] == [
        ("mirror", "test/a/mirrored.png", v0.relative_to(out).as_posix())]


def test_one_line_per_pair_under_its_surest_kind(tmp_path):
    out = _split(tmp_path)
    cli(out / "val", out / "train" / "aug", "-n", "1", "--seed", "1", "-j", "1", "-q", expect=0, cmd="expand")
    doc = json.loads(cli(out, "--json", "-j", "1", expect=1).stdout)
    # an unchanged copy made by expand is an exact, a source and a near pair of its source: listed once
    assert [p["kind"] for p in doc["leaks"]] == ["exact", "exact"]
