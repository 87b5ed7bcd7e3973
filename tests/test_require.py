"""--require all|any|N with --max-tries: plans redrawn until the labels hold; label loss counted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from augcli.cli import cli
from augcli.seeding import copy_key, try_key

from .conftest import records, tree_bytes
from .test_labels_yolo import make_yolo

# three objects: two near the left and right edges, one in the middle
ROWS = "0 0.150000 0.500000 0.200000 0.300000\n1 0.850000 0.500000 0.200000 0.300000\n0 0.500000 0.500000 0.100000 0.100000\n"


def run(*args, expect=0):
    res = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


@pytest.fixture
def labelled(tmp_path):
    return make_yolo(tmp_path / "in", {f"s{i}": ROWS for i in range(5)}, size=(100, 60))


def label_lines(out: Path, rec: dict) -> list[str]:
    return (out / rec["labels"]["file"]).read_text().splitlines()


def test_require_all_keeps_every_object_or_counts_the_output_as_not_met(labelled, tmp_path):
    out = tmp_path / "out"
    # a shift of up to 45 % of the width often pushes an edge object out
    res = run("expand", labelled, out, "-n", 8, "--width-shift", "0.45", "--min-visibility", "0.5", "--seed", 2,
              "--require", "all", "--max-tries", 4, "--json", "-q", "-j", 1)
    summary = json.loads(res.stdout)
    recs = records(out)
    assert len(recs) == 40
    not_met = 0
    for rec in recs:
        assert rec["try"] in range(4)
        if rec["require_met"]:
            assert rec["labels"]["out"] == rec["labels"]["in"] == 3 and len(label_lines(out, rec)) == 3
        else:
            not_met += 1
            assert rec["try"] >= 0 and rec["labels"]["out"] < 3
    assert any(rec["try"] > 0 for rec in recs)  # the redraws did happen
    req = summary["labels"]["require"]
    assert req == {"met": 40 - not_met, "not_met": not_met, "redrawn": sum(1 for r in recs if r["try"])}
    # without --require the same seed cuts objects: the requirement changed what was written
    plain = tmp_path / "plain"
    run("expand", labelled, plain, "-n", 8, "--width-shift", "0.45", "--min-visibility", "0.5", "--seed", 2,
        "-q", "-j", 1)
    assert any(r["labels"]["out"] < 3 for r in records(plain))


def test_try_zero_is_the_plan_of_a_run_without_require(labelled, tmp_path):
    args = ["-n", 6, "--width-shift", "0.4", "--rotate", "20", "--min-visibility", "0.5", "--seed", 5, "-q", "-j", 1]
    run("expand", labelled, tmp_path / "plain", *args)
    run("expand", labelled, tmp_path / "req", *args, "--require", "all")
    assert any(r["try"] > 0 for r in records(tmp_path / "req"))
    plain, req = tree_bytes(tmp_path / "plain"), tree_bytes(tmp_path / "req")
    first = {r["output"] for r in records(tmp_path / "req") if r["try"] == 0}
    assert first and all(req[o] == plain[o] for o in first)
    assert try_key(copy_key(7, 1), 0) == copy_key(7, 1)
    # a record's ops are the plan of its try, drawn from the documented streams
    from augcli.pipeline import Pipeline
    from augcli.seeding import streams_for

    header = json.loads((tmp_path / "req" / "manifest.jsonl").read_text().splitlines()[0])
    pipeline = Pipeline.from_description(header["config"]["pipeline"])
    for rec in records(tmp_path / "req"):
        plan = pipeline.plan(streams_for(5, rec["item_key"], rec["copy"], rec["try"]), tuple(rec["size"]))
        assert json.loads(json.dumps(plan)) == rec["ops"]
    assert len({try_key(copy_key(7, 1), t) for t in range(50)}) == 50


def test_the_recorded_try_replays_byte_identically(labelled, tmp_path):
    out, again = tmp_path / "out", tmp_path / "again"
    run("expand", labelled, out, "-n", 6, "--width-shift", "0.45", "--min-visibility", "0.6", "--seed", 9,
        "--require", "3", "-q", "-j", 2)
    assert any(r["try"] > 0 for r in records(out))
    run("replay", out / "manifest.jsonl", "--output", again)
    made = {k: v for k, v in tree_bytes(out).items() if k != "manifest.jsonl"}
    got = tree_bytes(again)
    assert made and all(got[k] == v for k, v in made.items())


def test_not_met_is_written_and_counted_and_strict_makes_it_an_error(labelled, tmp_path):
    # always shifted right by 45-50 %: the right-hand object leaves in every try
    args = ["-n", 2, "--width-shift", "0.45:0.5", "--min-visibility", "0.5", "--seed", 1, "--require", "all",
            "--max-tries", 3, "-j", 1]
    res = run("expand", labelled, tmp_path / "out", *args, "--json", "-q")
    assert json.loads(res.stdout)["labels"]["require"]["not_met"] == 10
    assert all(r["require_met"] is False and r["status"] == "ok" for r in records(tmp_path / "out"))
    res = run("expand", labelled, tmp_path / "out2", *args, expect=0)
    assert "10 requirement not met" in res.stderr
    res = run("expand", labelled, tmp_path / "strict", *args, "--strict", expect=1)
    assert "requirement not met" in res.stderr
    assert not list((tmp_path / "strict").rglob("*.png"))


@pytest.mark.parametrize("args, message", [
    (["--require", "some"], "--require must be all, any or a whole number"),
    (["--require", "0"], "--require must be all, any or a whole number"),
    (["--max-tries", "3"], "--max-tries needs --require"),
])
def test_bad_require_flags_are_usage_errors(labelled, tmp_path, args, message):
    res = run("expand", labelled, tmp_path / "out", *args, expect=2)
    assert message in res.output


def test_require_without_labels_is_a_usage_error(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": None}, size=(40, 30))
    res = run("expand", inp, tmp_path / "out", "--require", "all", "--labels", "none", expect=2)
    assert "--require needs label files" in res.output


def test_loss_counts_in_json_match_the_label_files(labelled, tmp_path):
    out = tmp_path / "out"
    res = run("expand", labelled, out, "-n", 6, "--width-shift", "0.45", "--rotate", "10", "--min-visibility",
              "0.4", "--min-area", "30", "--seed", 4, "--json", "-q", "-j", 2)
    loss = json.loads(res.stdout)["labels"]["loss"]
    per_class: Counter = Counter()
    for rec in records(out):
        for line in label_lines(out, rec):
            per_class[line.split()[0]] += 1
    assert loss["in"] == 5 * 6 * 3
    assert loss["kept"] == sum(per_class.values()) and sum(loss["dropped"].values()) == loss["in"] - loss["kept"]
    assert {c: v["kept"] for c, v in loss["classes"].items()} == dict(per_class)
    assert loss["dropped"]["min_visibility"] > 0 and loss["clipped"] > 0
    assert sum(v["in"] for v in loss["classes"].values()) == loss["in"]
    by_op = json.loads(res.stdout)["labels"]["loss_by_op"]
    assert by_op["shift"]["in"] == loss["in"] and by_op["rotate"]["kept"] == loss["kept"]
    assert "objects:" in run("expand", labelled, tmp_path / "o2", "-n", 1, "--seed", 1, "-j", 1).stderr


def test_stats_on_an_output_reports_the_runs_label_loss(labelled, tmp_path):
    out = tmp_path / "out"
    res = run("expand", labelled, out, "-n", 4, "--width-shift", "0.45", "--min-visibility", "0.5", "--seed", 3,
              "--require", "all", "--max-tries", 2, "--json", "-q", "-j", 1)
    labels = json.loads(res.stdout)["labels"]
    got = json.loads(run("stats", out, "--json").stdout)["label_loss"]
    assert got["loss"] == labels["loss"] and got["loss_by_op"] == labels["loss_by_op"]
    assert got["require"] == {k: labels["require"][k] for k in ("met", "not_met")}
    assert "label loss: 60 objects:" in run("stats", out).stdout
    assert json.loads(run("stats", labelled, "--json").stdout)["label_loss"] is None  # an input: no manifest
