"""Sharded runs: the union of the shards is a one-machine run, byte for byte (images and the merged
manifest); buckets resume; the merge refuses what is incomplete or mismatched; --shard parsing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from augcli.cli import cli
from augcli.errors import UsageError
from augcli.run.shard import Shard, bucket_of, parse_shard

from .conftest import pattern, tree_bytes

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
# --format png makes a.jpg + a.png clash (a_jpg_0.png, a_png_0.png); originals too
FLAGS = ["-n", "2", "--include-originals", "--format", "png", "--rotate", "20", "--brightness", "0.2",
         "--seed", "5", "--buckets", "16", "-q"]


def make_input(root: Path) -> Path:
    """Nested folders, a same-stem clash, a file that fails, 12 good sources (small, so fast)."""
    files = ["a.jpg", "a.png", "b.png", "top.png", "cats/x.png", "cats/y.jpg", "cats/deep/z.png",
             "cats/deep/w.png", "dogs/d1.png", "dogs/d2.png", "dogs/d3.png", "e/f/g/h.png"]
    for i, rel in enumerate(files):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        pattern(20 + i, 14 + i % 5, "RGB", seed=i).save(root / rel)
    (root / "cats" / "broken.png").write_bytes(b"not an image at all")
    return root


def invoke(*args, expect=0, env=None):
    result = CliRunner(env=env).invoke(cli, list(map(str, args)), catch_exceptions=False)
    assert result.exit_code == expect, (result.output, result.stderr)
    return result


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "augcli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, bytes]:
    """A one-machine run (unsharded, two workers) of ``in`` into ``out``, relative paths (the run
    line records the folders as given, so every test runs in its own folder with the same names)."""
    here = tmp_path_factory.mktemp("ref")
    make_input(here / "in")
    res = subprocess.run([sys.executable, "-m", "augcli", "expand", "in", "out", *FLAGS, "-j", "2"],
                         cwd=here, env=ENV, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr  # the broken file
    tree = tree_bytes(here / "out")
    assert len([k for k in tree if k.endswith(".png")]) == 12 * 3 and "manifest.jsonl" in tree
    assert {"a_jpg_0.png", "a_png_0.png", "a_jpg_orig.png", "e/f/g/h_1.png"} <= set(tree)
    return tree


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    make_input(tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def shard_exit(i: int, n: int) -> int:
    """1 for the shard that owns the broken file, else 0."""
    return 1 if Shard(i, n).owns(bucket_of("cats/broken.png", 16)) else 0


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_one_after_another_equal_one_machine(work, reference, n):
    for i in range(n):
        invoke("expand", "in", "out", *FLAGS, "--shard", f"{i}/{n}", "-j", "2" if i == 1 else "1",
               expect=shard_exit(i, n))
    assert tree_bytes(work / "out") == reference  # the last shard merged the manifest
    assert len(list((work / "out" / ".augcli" / "done").iterdir())) == 16
    res = invoke("merge", "out")  # and merging again changes nothing
    assert "unchanged" in res.stderr and tree_bytes(work / "out") == reference


def test_shards_at_the_same_time_equal_one_machine(work, reference):
    procs = [start("expand", "in", "out", *FLAGS, "--shard", f"{i}/3", "-j", "1") for i in range(3)]
    for i, p in enumerate(procs):
        _, err = p.communicate(timeout=120)
        assert p.returncode == shard_exit(i, 3), err
        assert "already exist" not in err  # no shard refuses another's outputs
    invoke("merge", "out")
    assert tree_bytes(work / "out") == reference


def test_more_shards_than_buckets_is_fine(work, reference):
    for i in range(20):  # shards 16..19 own no bucket
        invoke("expand", "in", "out", *FLAGS, "--shard", f"{i}/20", "-j", "1", expect=shard_exit(i, 20))
    assert tree_bytes(work / "out") == reference


def test_a_done_bucket_is_not_looked_at_again_and_another_n_resumes(work, reference):
    invoke("expand", "in", "out", *FLAGS, "--shard", "0/2", "-j", "1", expect=shard_exit(0, 2))
    done = sorted(p.name for p in (work / "out" / ".augcli" / "done").iterdir())
    assert done == [f"b-{b:05d}.json" for b in range(0, 16, 2)]
    # remove one output of a done bucket: a re-run does not even look, so it stays missing
    victim = next(k for k in sorted(reference) if k.endswith(".png")
                  and Shard(0, 2).owns(bucket_of(_source_of(reference, k), 16)))
    kept = (work / "out" / victim).read_bytes()
    (work / "out" / victim).unlink()
    res = invoke("expand", "in", "out", *FLAGS, "--shard", "0/2", "-j", "1", "--json")
    summary = json.loads(res.stdout)
    assert summary["discovered"] == 0 and summary["written"] == 0
    assert not (work / "out" / victim).exists()
    (work / "out" / victim).write_bytes(kept)
    # with N=4 instead of 2: the buckets done by 0/2 are skipped, the rest is made
    written = 0
    for i in range(4):
        res = invoke("expand", "in", "out", *FLAGS, "--shard", f"{i}/4", "-j", "1", "--json",
                     expect=1 if Shard(i, 4).owns(bucket_of("cats/broken.png", 16)) and i % 2 else 0)
        summary = json.loads(res.stdout)
        if i % 2 == 0:
            assert summary["discovered"] == 0  # every bucket of an even shard of 4 was done by 0/2
        written += summary["written"]
    assert tree_bytes(work / "out") == reference
    assert written == sum(1 for k in reference if k.endswith(".png")
                          and not Shard(0, 2).owns(bucket_of(_source_of(reference, k), 16)))


def _source_of(reference: dict[str, bytes], output: str) -> str:
    for line in reference["manifest.jsonl"].decode().splitlines()[1:]:
        rec = json.loads(line)
        if rec["output"] == output:
            return rec["source"]
    raise KeyError(output)


def test_on_exists_error_looks_only_at_the_shards_own_unfinished_buckets(work):
    invoke("expand", "in", "out", *FLAGS, "--shard", "0/2", "-j", "1", expect=shard_exit(0, 2))
    invoke("expand", "in", "out", *FLAGS, "--shard", "1/2", "-j", "1", expect=shard_exit(1, 2))
    # an unfinished bucket of shard 1 with an output already there: refused before anything is written
    marker = next(p for p in sorted((work / "out" / ".augcli" / "done").iterdir())
                  if int(p.stem[2:]) % 2 == 1 and json.loads(p.read_text())["sources"])
    marker.unlink()
    before = tree_bytes(work / "out", bookkeeping=True)
    res = invoke("expand", "in", "out", *FLAGS, "--shard", "1/2", "-j", "1", expect=2)
    assert "already exist" in res.output and "shard 1/2" in res.output
    stats = [k for k in tree_bytes(work / "out", bookkeeping=True) if k not in before]
    assert stats == []  # nothing written, not even a stats file
    res = invoke("expand", "in", "out", *FLAGS, "--shard", "1/2", "-j", "1", "--on-exists", "skip", "--json",
                 expect=shard_exit(1, 2))
    assert json.loads(res.stdout)["written"] == 0 and json.loads(res.stdout)["skipped"] > 0
    assert marker.exists()


def test_merge_refuses_a_missing_bucket_and_is_idempotent(work, reference):
    for i in range(2):
        invoke("expand", "in", "out", *FLAGS, "--shard", f"{i}/2", "-j", "1", expect=shard_exit(i, 2))
    (work / "out" / "manifest.jsonl").unlink()
    (work / "out" / ".augcli" / "done" / "b-00003.json").unlink()
    res = invoke("merge", "out", expect=2)
    assert "1 of 16 buckets are not done: b-00003" in res.output
    assert not (work / "out" / "manifest.jsonl").exists()
    invoke("expand", "in", "out", *FLAGS, "--shard", "1/2", "-j", "1", "--on-exists", "skip",
           expect=shard_exit(1, 2))
    first = tree_bytes(work / "out")
    assert first == reference
    mtime = (work / "out" / "manifest.jsonl").stat().st_mtime_ns
    invoke("merge", "out")
    assert tree_bytes(work / "out") == first and (work / "out" / "manifest.jsonl").stat().st_mtime_ns == mtime


def test_merge_refuses_parts_with_different_recipes(work):
    invoke("expand", "in", "out", *FLAGS, "--shard", "0/2", "-j", "1", expect=shard_exit(0, 2))
    flags = list(FLAGS)
    flags[flags.index("--seed") + 1] = "6"
    res = invoke("expand", "in", "out", *flags, "--shard", "1/2", "-j", "1", expect=shard_exit(1, 2))
    assert "the manifest was not merged" in res.stderr and "seed: 5 vs 6" in res.stderr
    assert not (work / "out" / "manifest.jsonl").exists()
    res = invoke("merge", "out", expect=2)
    assert "different recipes" in res.output and "seed: 5 vs 6" in res.output


def test_merge_refuses_a_different_bucket_count(work):
    flags = list(FLAGS)
    invoke("expand", "in", "out", *flags, "--shard", "0/2", "-j", "1", expect=shard_exit(0, 2))
    flags[flags.index("--buckets") + 1] = "8"
    res = invoke("expand", "in", "out", *flags, "--shard", "1/2", "-j", "1", expect=2)
    assert "--buckets 16" in res.output  # the shard itself refuses to mix bucket counts
    # and if the markers got mixed anyway (a copied folder), the merge names it
    marker = work / "out" / ".augcli" / "done" / "b-00002.json"
    data = json.loads(marker.read_text())
    marker.write_text(json.dumps({**data, "buckets": 8}))
    res = invoke("merge", "out", expect=2)
    assert "disagree on the bucket count" in res.output and "b-00002" in res.output


def test_merge_of_a_folder_without_buckets_is_a_usage_error(tmp_path):
    (tmp_path / "o").mkdir()
    res = invoke("merge", tmp_path / "o", expect=2)
    assert "no finished buckets" in res.output


def test_a_killed_shard_leaves_no_partial_file_nor_marker_and_its_rerun_completes_exactly(tmp_path, monkeypatch):
    """SIGKILL a shard mid-run (after its first bucket is done): complete files only, markers only
    for finished buckets; the re-run writes exactly the missing outputs; the merge equals one machine."""
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "in"
    for i in range(48):
        (src / f"c{i % 3}").mkdir(parents=True, exist_ok=True)
        pattern(240, 180, "RGB", seed=i).save(src / f"c{i % 3}" / f"i{i:02d}.png", compress_level=1)
    flags = ["-n", "3", "--rotate", "30", "--zoom", "0.2", "--seed", "2", "--buckets", "8", "-q"]
    ref = tmp_path / "ref"
    res = subprocess.run([sys.executable, "-m", "augcli", "expand", "in", "out", *flags, "-j", "2"],
                         env=ENV, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    (tmp_path / "out").rename(ref)
    reference = tree_bytes(ref)

    proc = start("expand", "in", "out", *flags, "--shard", "0/2", "-j", "1")
    done = tmp_path / "out" / ".augcli" / "done"
    deadline = time.monotonic() + 60
    while not (done.is_dir() and any(done.iterdir())):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no bucket finished"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    markers = {int(p.stem[2:]) for p in done.iterdir() if p.suffix == ".json"}
    assert markers and len(markers) < 4, markers  # shard 0 of 2 owns buckets 0, 2, 4, 6
    out = tmp_path / "out"
    present = {k: v for k, v in tree_bytes(out).items() if not Path(k).name.startswith(".")}
    for name, data in present.items():
        assert data == reference[name], f"{name} is not complete"
    records = [json.loads(line) for line in reference["manifest.jsonl"].decode().splitlines()[1:]]
    for b in markers:
        outs = {r["output"] for r in records if bucket_of(r["source"], 8) == b}
        assert outs and outs <= set(present)  # a marker means every output of its bucket is there
    mine = {r["output"] for r in records if bucket_of(r["source"], 8) % 2 == 0}
    missing = mine - set(present)
    assert missing

    res = subprocess.run([sys.executable, "-m", "augcli", "expand", "in", "out", *flags, "--shard", "0/2",
                          "-j", "2", "--on-exists", "skip", "--json"], env=ENV, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["written"] == len(missing)
    assert not [p for p in out.rglob(".*.tmp")]
    subprocess.run([sys.executable, "-m", "augcli", "expand", "in", "out", *flags, "--shard", "1/2", "-j", "1"],
                   env=ENV, check=True, timeout=120)
    assert tree_bytes(out) == reference


# --- --shard parsing ---------------------------------------------------------------------------


def test_shard_spec_and_bad_values():
    assert parse_shard("0/1", {}) == Shard(0, 1) and parse_shard(" 3/16 ", {}) == Shard(3, 16)
    for bad in ("4/4", "0/0", "-1/3", "1", "a/b", "1/2/3", ""):
        with pytest.raises(UsageError, match="I/N"):
            parse_shard(bad, {})


def test_slurm_arrays_that_start_at_1_or_step():
    env = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_STEP": "1",
           "SLURM_ARRAY_TASK_COUNT": "8"}
    assert parse_shard("auto", env) == Shard(4, 8)
    stepped = {**env, "SLURM_ARRAY_TASK_STEP": "2"}  # --array=1-15:2 -> 1, 3, ..., 15
    assert parse_shard("auto", stepped) == Shard(2, 8)
    assert parse_shard("auto", {**stepped, "SLURM_ARRAY_TASK_ID": "15"}) == Shard(7, 8)
    assert parse_shard("auto", {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2"}) == Shard(0, 2)
    for bad in ({**stepped, "SLURM_ARRAY_TASK_ID": "4"}, {**stepped, "SLURM_ARRAY_TASK_ID": "17"},
                {k: v for k, v in env.items() if k != "SLURM_ARRAY_TASK_COUNT"},
                {**env, "SLURM_ARRAY_TASK_ID": "x"}):
        with pytest.raises(UsageError, match="--shard auto"):
            parse_shard("auto", bad)


def test_kubernetes_indexed_job_needs_a_count():
    assert parse_shard("auto", {"JOB_COMPLETION_INDEX": "3", "AUGCLI_SHARD_COUNT": "4"}) == Shard(3, 4)
    with pytest.raises(UsageError, match="AUGCLI_SHARD_COUNT"):
        parse_shard("auto", {"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(UsageError, match="not below"):
        parse_shard("auto", {"JOB_COMPLETION_INDEX": "4", "AUGCLI_SHARD_COUNT": "4"})
    with pytest.raises(UsageError, match="SLURM_ARRAY_TASK_ID"):
        parse_shard("auto", {})


def test_cli_shard_errors_exit_2_and_auto_reads_the_environment(work, monkeypatch):
    for var in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "AUGCLI_SHARD_COUNT", "AUGCLI_EXPAND_SHARD"):
        monkeypatch.delenv(var, raising=False)
    for bad in ("3/3", "0/0", "x"):
        res = invoke("expand", "in", "out", *FLAGS, "--shard", bad, expect=2)
        assert "--shard must be I/N" in res.output and "Traceback" not in res.output
    res = invoke("expand", "in", "out", *FLAGS, "--shard", "auto", expect=2)
    assert "--shard auto needs" in res.output
    res = invoke("expand", "in", "out", *FLAGS, "--shard", "auto", expect=2, env={"JOB_COMPLETION_INDEX": "1"})
    assert "AUGCLI_SHARD_COUNT" in res.output
    no_seed = [f for i, f in enumerate(FLAGS) if f != "--seed" and FLAGS[i - 1] != "--seed"]
    res = invoke("expand", "in", "out", *no_seed, "--shard", "0/2", expect=2)
    assert "needs --seed" in res.output
    assert not (work / "out").exists()
    env = {"JOB_COMPLETION_INDEX": "1", "AUGCLI_SHARD_COUNT": "2"}
    res = invoke("expand", "in", "out", *FLAGS, "--shard", "auto", "--json", "-j", "1", env=env,
                 expect=shard_exit(1, 2))
    stats = [json.loads(p.read_text()) for p in (work / "out" / ".augcli" / "stats").iterdir()]
    assert [s["shard"] for s in stats] == ["1/2"]
    res = invoke("expand", "in", "out", *FLAGS, "--json", "-j", "1", env={"AUGCLI_EXPAND_SHARD": "0/2"},
                 expect=shard_exit(0, 2))
    assert len(list((work / "out" / ".augcli" / "done").iterdir())) == 16


def test_the_run_line_is_the_recipe_and_run_events_go_to_stats(work, reference):
    header = json.loads(reference["manifest.jsonl"].decode().splitlines()[0])
    assert header["config"]["buckets"] == 16
    assert header["config"]["input_dir"] == "in" and header["config"]["output_dir"] == "out"
    assert not {"workers", "on_exists", "strict", "shard", "host"} & set(header["config"])
    invoke("expand", "in", "out", *FLAGS, "-j", "1", expect=1)
    # one machine: no hidden folder (a loader would take it for a class); the manifest is the same
    assert not (work / "out" / ".augcli").exists()
    assert tree_bytes(work / "out") == reference  # -j 1 vs -j 2: the same manifest bytes
    # a sharded run keeps its run events in a stats file of its own
    invoke("expand", "in", "out2", *FLAGS, "-j", "1", "--shard", "0/1", expect=1)
    (stats,) = (work / "out2" / ".augcli" / "stats").iterdir()
    data = json.loads(stats.read_text())
    assert data["workers"] == 1 and data["on_exists"] == "error" and data["written"] == 36
    assert data["failed"] == 1 and data["host"] and data["elapsed"] >= 0


def test_file_urls_are_local_folders_recorded_as_given(work, reference):
    url_in, url_out = f"file://{work}/in", f"file://{work}/out"
    invoke("expand", url_in, url_out, *FLAGS, "-j", "1", expect=1)
    got = tree_bytes(work / "out")
    assert {k: v for k, v in got.items() if k != "manifest.jsonl"} == \
        {k: v for k, v in reference.items() if k != "manifest.jsonl"}
    lines, ref_lines = got["manifest.jsonl"].decode().splitlines(), reference["manifest.jsonl"].decode().splitlines()
    assert lines[1:] == ref_lines[1:]
    header = json.loads(lines[0])
    assert (header["config"]["input_dir"], header["config"]["output_dir"]) == (url_in, url_out)
    res = invoke("expand", f"file://{work}/nope", url_out, *FLAGS, expect=2)
    assert "does not exist" in res.output


def test_a_new_input_file_redoes_only_its_bucket(work, reference):
    for i in range(2):
        invoke("expand", "in", "out", *FLAGS, "--shard", f"{i}/2", "-j", "1", expect=shard_exit(i, 2))
    assert tree_bytes(work / "out") == reference
    pattern(22, 18, "RGB", seed=99).save(work / "in" / "dogs" / "new.png")
    bucket = bucket_of("dogs/new.png", 16)
    mates = [r for r in (json.loads(line) for line in reference["manifest.jsonl"].decode().splitlines()[1:])
             if bucket_of(r["source"], 16) == bucket]
    discovered = written = 0
    for i in range(2):
        res = invoke("expand", "in", "out", *FLAGS, "--shard", f"{i}/2", "-j", "1", "--on-exists", "skip", "--json",
                     expect=1 if Shard(i, 2).owns(bucket) and bucket == bucket_of("cats/broken.png", 16) else 0)
        summary = json.loads(res.stdout)
        discovered += summary["discovered"]
        written += summary["written"]
    assert discovered == len({r["source"] for r in mates}) + 1  # that bucket only, the new file included
    assert written == 3  # new_orig, new_0, new_1
    # the merged result is a one-machine run of the changed input
    shutil.move(str(work / "out"), str(work / "sharded"))
    invoke("expand", "in", "out", *FLAGS, "-j", "1", expect=1)
    assert tree_bytes(work / "sharded") == tree_bytes(work / "out")


def test_labels_are_carried_by_a_sharded_run(tmp_path):
    # a YOLO dataset run sharded keeps its labels (tests/test_engines.py: the same bytes as one machine)
    from click.testing import CliRunner
    from PIL import Image

    from augcli.cli import cli

    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "labels").mkdir()
    Image.new("RGB", (20, 10), (9, 90, 200)).save(tmp_path / "data" / "images" / "a.png")
    (tmp_path / "data" / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["expand", str(tmp_path / "data"), str(out), "--shard", "0/1", "--hflip",
                                   "--seed", "1", "-q"])
    assert res.exit_code == 0, res.output
    assert (out / "labels" / "a_0.txt").read_text().startswith("0 ") and (out / "images" / "a_0.png").is_file()
    assert (out / ".augcli" / "done").is_dir()
