"""Symlinked folders are followed safely: each real folder read once, loops end, paths are the ones
seen through the link, a broken link gets one warning line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import pattern, tree_bytes

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def augcli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augcli", "expand", *map(str, args)], capture_output=True,
                          text=True, env=ENV, timeout=120)


def test_a_symlinked_folder_is_read_under_the_links_path(tmp_path):
    shared = tmp_path / "shared" / "images"
    shared.mkdir(parents=True)
    for i in range(3):
        pattern(20, 16, seed=i).save(shared / f"img{i}.png")
    src = tmp_path / "task"
    src.mkdir()
    os.symlink("../shared/images", src / "images")  # the layout of many dataset repositories
    out = tmp_path / "out"
    res = augcli(src, out, "--rotate", "10", "-n", "2", "--seed", "3", "-j", "2", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["discovered"] == 3 and summary["written"] == 6
    names = sorted(k for k in tree_bytes(out) if k != "manifest.jsonl")
    assert names == [f"images/img{i}_{k}.png" for i in range(3) for k in range(2)]
    # seen through the link, the paths (and so the seed keys) are those of a real folder "images"
    real = tmp_path / "real"
    (real / "images").mkdir(parents=True)
    for p in shared.iterdir():
        (real / "images" / p.name).write_bytes(p.read_bytes())
    assert augcli(real, tmp_path / "out_real", "--rotate", "10", "-n", "2", "--seed", "3", "-j", "1").returncode == 0
    a, b = tree_bytes(out), tree_bytes(tmp_path / "out_real")
    assert all(a[k] == b[k] for k in names)
    assert res.stderr.count("\n") == 1  # the summary line only


def test_loops_end_and_each_real_folder_is_read_once(tmp_path):
    src = tmp_path / "in"
    (src / "a" / "deep").mkdir(parents=True)
    (src / "b").mkdir()
    pattern(20, 16).save(src / "a" / "deep" / "x.png")
    pattern(20, 16, seed=1).save(src / "b" / "y.png")
    os.symlink("..", src / "a" / "deep" / "up")         # a loop back to an ancestor
    os.symlink(src, src / "b" / "root")                  # a loop back to the input folder itself
    os.symlink("b", src / "also_b")                      # a second path to b, sorted before it
    os.symlink("../b", src / "a" / "b_again")            # and a third
    out = tmp_path / "out"
    res = augcli(src, out, "--rotate", "5", "-j", "1", "--seed", "0", "--json")
    assert res.returncode == 0, res.stderr
    names = sorted(k for k in tree_bytes(out) if k != "manifest.jsonl")
    assert names == ["a/deep/x_0.png", "b/y_0.png"]  # the real folder b wins over the link beside it
    lines = res.stderr.splitlines()
    assert "augcli: a/deep/up/: warning: symlink loop (it points back to a/), not followed" in lines
    assert "augcli: b/root/: warning: symlink loop (it points back to ./), not followed" in lines
    assert "augcli: also_b/: warning: not read twice: the same folder as b/" in lines
    assert "augcli: a/b_again/: warning: not read twice: the same folder as b/" in lines
    assert len(lines) == 5


def test_broken_links_get_one_warning_line_and_the_output_folder_is_never_read(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pattern(20, 16).save(src / "ok.png")
    os.symlink(tmp_path / "gone", src / "images")        # a folder link whose target is missing
    os.symlink(tmp_path / "gone.png", src / "lost.png")  # an image link whose target is missing
    out = tmp_path / "out"
    out.mkdir()
    pattern(20, 16).save(out / "old_0.png")
    os.symlink(out, src / "previous_run")                 # the output folder, linked into the input
    os.symlink(tmp_path, src / "parent")                  # a folder holding the output folder
    res = augcli(src, out, "--rotate", "5", "-j", "1", "--seed", "0", "--json", "--on-exists", "skip")
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert f"augcli: images: warning: broken symbolic link (to {tmp_path / 'gone'}), ignored" in lines
    assert "augcli: lost.png: cannot read: No such file or directory" in lines
    assert "augcli: previous_run/: warning: symlinked folder not followed: it holds or is inside the output folder" in lines
    assert "augcli: parent/: warning: symlinked folder not followed: it holds or is inside the output folder" in lines
    summary = json.loads(res.stdout)
    assert summary["discovered"] == 2 and summary["written"] == 1 and summary["failed"] == 1
