"""split, tile, expand and audit together: tiles stay with their source through split, the
split -> expand -> audit recipe, and --labels-output on tile and split."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from .splitdata import field, folders, records, save


def augcli(*args, expect=0):
    res = subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == expect, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    return res


def _tile_source(rel: str) -> str:
    stem = PurePosixPath(rel).stem
    return stem[: stem.index("_x")]


@pytest.mark.parametrize("manifest", [True, False])
def test_tiles_of_augcli_tile_stay_with_their_source(tmp_path, manifest):
    inp = folders(tmp_path / "in", {"a": 6})
    tiles = tmp_path / "tiles"
    augcli("tile", inp, tiles, "--size", "32", "--overlap", "0", "-j", "1", "-q",
           *(() if manifest else ("--no-manifest",)))
    assert len(list(tiles.rglob("*.png"))) == 24
    for seed in range(3):
        out = tmp_path / f"split{seed}"
        augcli("split", tiles, out, "--ratios", "0.5,0.5", "--seed", seed, "-j", "1")
        where: dict[str, set] = {}
        for r in records(out):
            where.setdefault(_tile_source(r["source"]), set()).add(r["split"])
        assert len(where) == 6 and all(len(s) == 1 for s in where.values()), where


def test_tile_manifest_names_the_source_when_the_names_do_not(tmp_path):
    # tiles of one source renamed so their names no longer say it: the manifest still does
    inp = folders(tmp_path / "in", {"a": 4})
    tiles = tmp_path / "tiles"
    augcli("tile", inp, tiles, "--size", "32", "--overlap", "0", "-j", "1", "-q", "--prefix", "t")
    man = tiles / "manifest.jsonl"
    lines = man.read_text().splitlines()
    renamed = [lines[0]]
    for k, line in enumerate(lines[1:]):
        rec = json.loads(line)
        new = f"a/tile{k:03d}.png"
        (tiles / rec["output"]).rename(tiles / new)
        rec["output"] = new
        renamed.append(json.dumps(rec, sort_keys=True))
    man.write_text("\n".join(renamed) + "\n")
    out = tmp_path / "split"
    augcli("split", tiles, out, "--ratios", "0.5,0.5", "-j", "1")
    by_output = {json.loads(x)["output"]: json.loads(x)["source"] for x in renamed[1:]}
    where: dict[str, set] = {}
    for r in records(out):
        where.setdefault(by_output[r["source"]], set()).add(r["split"])
    assert len(where) == 4 and all(len(s) == 1 for s in where.values()), where
    assert len({next(iter(s)) for s in where.values()}) == 2  # both splits got sources


def test_split_expand_audit_recipe(tmp_path):
    # the README recipe: split, expand the training split beside it, audit; then a planted leak
    inp = folders(tmp_path / "in", {"a": 6, "b": 6})
    splits = tmp_path / "splits"
    augcli("split", inp, splits, "--ratios", "0.5,0.25,0.25", "--seed", "1", "-j", "1")
    augcli("expand", splits / "train", splits / "train-aug", "-n", "2", "--hflip", "--rotate", "20", "--seed", "1",
           "-j", "1", "-q")
    res = augcli("audit", splits, "-j", "1", "--json")
    got = json.loads(res.stdout)
    assert got["leaks"] == [] and got["splits"] == {"test": 3, "train": 18, "val": 3}
    assert sum(p["kind"] == "source" for p in got["within"]) == 12  # every output found with its source
    augcli("expand", splits / "val", splits / "train-leak", "-n", "1", "--rotate", "20", "--seed", "2", "-j", "1",
           "-q")
    res = augcli("audit", splits, "-j", "1", "--json", expect=1)
    leaks = json.loads(res.stdout)["leaks"]
    assert {(p["split_a"], p["split_b"]) for p in leaks if p["kind"] == "source"} == {("train", "val")}
    assert sorted(p["a"] for p in leaks if p["kind"] == "source") == sorted(
        p.relative_to(splits).as_posix() for p in (splits / "train-leak").rglob("*.png"))
