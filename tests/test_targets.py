"""Dataset targets: --per-class, --total, --balance, --max-copies (augcli/targets.py and the runner)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from augcli.cli import cli
from augcli.targets import Targets, plan_copies

from .conftest import pattern, tree_bytes

SIZES = {"one": 1, "three": 3, "seventeen": 17}


def names(sizes: dict[str, int]) -> list[str]:
    return sorted(f"{cls}/img{i:02d}.png" for cls, n in sizes.items() for i in range(n))


def per_source(plan, sources) -> dict[str, int]:
    return plan.copies_in(sources)


@pytest.fixture
def uneven(tmp_path: Path) -> Path:
    """Three classes of 1, 3 and 17 tiny images."""
    root = tmp_path / "in"
    for cls, n in SIZES.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            pattern(12, 8, "RGB", i).save(root / cls / f"img{i:02d}.png")
    return root


def invoke(*args):
    return CliRunner().invoke(cli, ["expand", *map(str, args)], catch_exceptions=False)


def class_counts(out: Path) -> dict[str, int]:
    counts = Counter(p.parent.relative_to(out).as_posix() for p in out.rglob("*.png"))
    return dict(counts)


# ---------------------------------------------------------------------------------------------------
# the plan alone


@pytest.mark.parametrize("n", [2, 3, 17, 20])  # below, equal to and above the class sizes 1, 3 and 17
def test_per_class_without_originals_makes_exactly_n_copies_in_every_class(n):
    plan = plan_copies(names(SIZES), 5, Targets(per_class=n))
    for c in plan.classes:
        assert (c.copies, c.final, c.short) == (n, n, 0)
    counts = per_source(plan, names(SIZES))
    for cls in SIZES:
        assert sum(v for k, v in counts.items() if k.startswith(cls + "/")) == n


def test_per_class_with_originals_counts_them_and_reports_full_classes():
    plan = plan_copies(names(SIZES), 5, Targets(per_class=3), include_originals=True)
    got = {c.name: (c.originals, c.copies, c.final) for c in plan.classes}
    assert got == {"one": (1, 2, 3), "three": (3, 0, 3), "seventeen": (17, 0, 17)}
    assert plan.notes() == [
        "class 'seventeen' already has 17 originals, at or above --per-class 3: no copies",
        "class 'three' already has 3 originals, at or above --per-class 3: no copies",
    ]
    plan = plan_copies(names(SIZES), 5, Targets(per_class=20), include_originals=True)
    assert {c.name: (c.copies, c.final) for c in plan.classes} == {
        "one": (19, 20), "three": (17, 20), "seventeen": (3, 20)}


def test_copies_are_spread_evenly_and_add_up():
    rng = random.Random(1)
    for _ in range(200):
        sizes = {f"c{i}": rng.randint(1, 30) for i in range(rng.randint(1, 5))}
        srcs = names(sizes)
        seed = rng.randrange(2**63)
        targets = rng.choice([Targets(per_class=rng.randint(1, 100)),
                              Targets(total=rng.randint(1, 400)),
                              Targets(total=rng.randint(1, 400), balance=True),
                              Targets(per_class=rng.randint(1, 100), max_copies=rng.randint(1, 4))])
        originals = rng.random() < 0.5
        plan = plan_copies(srcs, seed, targets, originals)
        counts = per_source(plan, srcs)
        for c in plan.classes:
            mine = [counts[s] for s in srcs if s.startswith(c.name + "/")]
            assert max(mine) - min(mine) <= 1 and sum(mine) == c.copies
            if targets.max_copies:
                assert max(mine) <= targets.max_copies
        if targets.total is not None and not targets.balance:  # the whole dataset is one even spread
            assert max(counts.values()) - min(counts.values()) <= 1
        if targets.total is not None and targets.max_copies is None:
            assert plan.final == max(targets.total, len(srcs) if originals else 0)
        if targets.balance and targets.max_copies is None and not originals:  # classes as equal as possible
            finals = [c.final for c in plan.classes]
            assert max(finals) - min(finals) <= 1


def test_the_seed_alone_decides_which_sources_get_the_extra_copy():
    srcs = names(SIZES)
    plan = plan_copies(srcs, 7, Targets(per_class=5))
    extras = {s for s, k in per_source(plan, srcs).items() if s.startswith("seventeen/") and k == 1}
    assert len(extras) == 5
    # the same seed: the same choice, whatever the order the names come in or who else is there
    shuffled = srcs[:]
    random.Random(3).shuffle(shuffled)
    again = plan_copies(shuffled, 7, Targets(per_class=5))
    assert {s for s, k in per_source(again, shuffled).items() if k == 1 and s.startswith("seventeen/")} == extras
    other = plan_copies(srcs + ["three/zz.png"], 7, Targets(per_class=5))
    assert {s for s, k in per_source(other, srcs + ["three/zz.png"]).items()
            if k == 1 and s.startswith("seventeen/")} == extras
    # another seed: another choice (for at least one of a few seeds), same counts
    choices = set()
    for seed in range(8, 14):
        p = plan_copies(srcs, seed, Targets(per_class=5))
        chosen = frozenset(s for s, k in per_source(p, srcs).items() if s.startswith("seventeen/") and k == 1)
        assert len(chosen) == 5
        choices.add(chosen)
    assert len(choices - {frozenset(extras)}) >= 1


def test_total_spreads_over_all_sources_and_shares_extras_by_class_size():
    plan = plan_copies(names(SIZES), 5, Targets(total=50))
    # 50 copies over 21 sources: 2 each, 8 extra; shares 8*1/21, 8*3/21, 8*17/21 -> 0, 1, 6 + the
    # largest remainder (seventeen's) -> 0, 1, 7
    assert {c.name: (c.base, c.extra, c.copies) for c in plan.classes} == {
        "one": (2, 0, 2), "three": (2, 1, 7), "seventeen": (2, 7, 41)}
    assert plan.final == 50
    with_originals = plan_copies(names(SIZES), 5, Targets(total=50), include_originals=True)
    assert sum(c.copies for c in with_originals.classes) == 29 and with_originals.final == 50
    below = plan_copies(names(SIZES), 5, Targets(total=10), include_originals=True)
    assert below.final == 21 and sum(c.copies for c in below.classes) == 0
    assert below.notes() == ["the dataset already has 21 originals, at or above --total 10: no copies"]
    empty = plan_copies([], 5, Targets(total=10))
    assert (empty.final, empty.short, empty.width) == (0, 10, 1)
    assert empty.notes() == ["the input holds no images: --total 10 cannot be reached"]


def test_balance_lifts_the_small_classes_first():
    plan = plan_copies(names(SIZES), 5, Targets(total=50, balance=True), include_originals=True)
    # 21 originals; 29 copies lift one and three to the level 16 (15 + 13), seventeen stays at 17:
    # 16 + 16 + 17 = 49, and the one left over goes to one of the classes at the level (seed-ranked)
    finals = {c.name: c.final for c in plan.classes}
    assert finals["seventeen"] == 17 and sorted([finals["one"], finals["three"]]) == [16, 17]
    assert sum(finals.values()) == 50
    plan = plan_copies(names(SIZES), 5, Targets(total=90, balance=True), include_originals=True)
    assert {c.name: c.final for c in plan.classes} == {"one": 30, "three": 30, "seventeen": 30}
    plan = plan_copies(names(SIZES), 5, Targets(total=30, balance=True))
    assert {c.name: (c.copies, c.final) for c in plan.classes} == {
        "one": (10, 10), "three": (10, 10), "seventeen": (10, 10)}


def test_max_copies_caps_every_source_and_reports_the_short_classes():
    plan = plan_copies(names(SIZES), 5, Targets(per_class=10, max_copies=2))
    assert {c.name: (c.copies, c.short) for c in plan.classes} == {
        "one": (2, 8), "three": (6, 4), "seventeen": (10, 0)}
    assert plan.notes() == [
        "class 'one' cannot reach 10: 1 source(s) x --max-copies 2 = 2 copies, 2 images (8 short)",
        "class 'three' cannot reach 10: 3 source(s) x --max-copies 2 = 6 copies, 6 images (4 short)",
    ]
    assert max(per_source(plan, names(SIZES)).values()) == 2
    total = plan_copies(names(SIZES), 5, Targets(total=100, max_copies=3))
    assert total.final == 63 and total.short == 37
    balanced = plan_copies(names(SIZES), 5, Targets(total=40, balance=True, max_copies=2))
    assert {c.name: c.final for c in balanced.classes}["one"] == 2 and balanced.final == 40


def test_the_index_width_is_the_width_of_the_largest_count_in_the_run():
    assert plan_copies(names(SIZES), 5, Targets(per_class=10)).width == 1  # one: 10 copies -> 0..9
    assert plan_copies(names(SIZES), 5, Targets(per_class=11)).width == 2  # one: 11 copies -> 00..10
    assert plan_copies(names(SIZES), 5, Targets(per_class=101)).width == 3


@pytest.mark.parametrize("kw,message", [
    ({}, "--max-copies needs --per-class N or --total N"),
    ({"max_copies": 2}, "--max-copies needs --per-class N or --total N"),
    ({"balance": True}, "--balance needs --total N"),
    ({"per_class": 3, "balance": True}, "--balance needs --total N"),
    ({"per_class": 3, "total": 3}, "--per-class and --total cannot be used together"),
    ({"per_class": 0}, "--per-class must be a whole number >= 1"),
])
def test_targets_refuse_bad_combinations(kw, message):
    with pytest.raises(ValueError, match=message):
        Targets(**kw)


# ---------------------------------------------------------------------------------------------------
# end to end


@pytest.mark.parametrize("originals", [False, True])
@pytest.mark.parametrize("n", [2, 3, 17, 20])
def test_expand_per_class_writes_exactly_n_images_per_class(uneven, tmp_path, n, originals):
    out = tmp_path / "out"
    extra = ["--include-originals"] if originals else []
    res = invoke(uneven, out, "--per-class", n, "--seed", 1, "-j", 1, "-q", *extra)
    assert res.exit_code == 0, res.output
    want = {cls: max(n, size) if originals else n for cls, size in SIZES.items()}
    assert class_counts(out) == want
    originals_written = {p.parent.name for p in out.rglob("*_orig.png")}
    assert originals_written == (set(SIZES) if originals else set())


def test_expand_total_and_balance_counts_on_disk(uneven, tmp_path):
    res = invoke(uneven, tmp_path / "t", "--total", 50, "--seed", 1, "-j", 1, "-q")
    assert res.exit_code == 0 and class_counts(tmp_path / "t") == {"one": 2, "three": 7, "seventeen": 41}
    res = invoke(uneven, tmp_path / "b", "--total", 90, "--balance", "--include-originals", "--seed", 1, "-j", 1, "-q")
    assert res.exit_code == 0 and class_counts(tmp_path / "b") == {"one": 30, "three": 30, "seventeen": 30}


def test_the_input_root_is_a_class_when_it_holds_images(uneven, tmp_path):
    pattern(12, 8, "RGB", 9).save(uneven / "root.png")
    res = invoke(uneven, tmp_path / "out", "--per-class", 4, "--seed", 1, "-j", 1, "-q")
    assert res.exit_code == 0
    assert class_counts(tmp_path / "out") == {".": 4, "one": 4, "three": 4, "seventeen": 4}
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["root_0.png", "root_1.png", "root_2.png",
                                                                       "root_3.png"]


def test_workers_1_and_2_give_the_same_bytes_under_targets(uneven, tmp_path):
    common = ["--total", 60, "--balance", "--max-copies", 5, "--seed", 9, "--rotate", 20, "--noise", 5, "-q"]
    assert invoke(uneven, tmp_path / "one", *common, "-j", 1).exit_code == 0
    assert invoke(uneven, tmp_path / "two", *common, "-j", 2).exit_code == 0
    a, b = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "two")
    assert a.keys() == b.keys() and len(a) == 61
    assert all(a[k] == b[k] for k in a if k != "manifest.jsonl")
    ha, hb = (json.loads((tmp_path / d / "manifest.jsonl").read_text().splitlines()[0]) for d in ("one", "two"))
    assert ha["targets"] == hb["targets"]
    ra, rb = ((tmp_path / d / "manifest.jsonl").read_text().splitlines()[1:] for d in ("one", "two"))
    assert ra == rb


def test_the_manifest_records_the_plan_and_the_extra_sources(uneven, tmp_path):
    out = tmp_path / "out"
    assert invoke(uneven, out, "--per-class", 5, "--seed", 4, "-j", 1, "-q").exit_code == 0
    lines = (out / "manifest.jsonl").read_text().splitlines()
    header, records = json.loads(lines[0]), [json.loads(x) for x in lines[1:]]
    plan = header["targets"]
    assert header["config"]["targets"] == {"per_class": 5, "total": None, "balance": False, "max_copies": None}
    copies = Counter(r["source"] for r in records)
    by_class = {c["class"]: c for c in plan["classes"]}
    assert by_class["three"]["base"] == 1 and by_class["three"]["extra"] == 2
    for cls, c in by_class.items():
        assert sorted(c["extra_sources"]) == sorted(s for s, k in copies.items()
                                                    if s.startswith(cls + "/") and k == c["base"] + 1)
        assert len(c["extra_sources"]) == c["extra"]
    # what the plan says is what the seed alone says
    again = plan_copies(names(SIZES), 4, Targets(per_class=5))
    want = {s: k for s, k in again.copies_in(names(SIZES)).items() if k}
    assert dict(copies) == want
    assert sorted({r["copy"] for r in records if r["source"] == "one/img00.png"}) == [0, 1, 2, 3, 4]


def test_copy_indices_share_one_width_across_classes(uneven, tmp_path):
    out = tmp_path / "out"
    assert invoke(uneven, out, "--per-class", 12, "--seed", 4, "-j", 1, "-q").exit_code == 0
    assert sorted(p.name for p in (out / "one").iterdir()) == [f"img00_{k:02d}.png" for k in range(12)]
    assert {p.name.rsplit("_", 1)[1] for p in (out / "seventeen").iterdir()} == {"00.png"}
    three = sorted(p.name for p in (out / "three").iterdir())
    assert len(three) == 12 and all(len(n.rsplit("_", 1)[1]) == len("00.png") for n in three)


def test_dry_run_prints_the_plan_and_json_includes_it(uneven, tmp_path):
    res = invoke(uneven, tmp_path / "out", "--per-class", 5, "--max-copies", 3, "--seed", 4, "--dry-run")
    assert res.exit_code == 0 and not (tmp_path / "out").exists()
    lines = res.stdout.splitlines()
    assert lines[:6] == [
        "# plan: --per-class 5 --max-copies 3, originals not counted, seed 4",
        "# class      sources  copies each       generated  final",
        "# one              1  3                         3      3",
        "# seventeen       17  0 or 1 (5 get 1)          5      5",
        "# three            3  1 or 2 (2 get 2)          5      5",
        "# total           21                           13     13",
    ]
    assert lines[6] == "# note: class 'one' cannot reach 5: 1 source(s) x --max-copies 3 = 3 copies, 3 images (2 short)"
    outputs = [line.split("\t") for line in lines[7:]]
    assert len(outputs) == 13 and all(len(o) == 2 for o in outputs)
    assert "augcli: note: class 'one' cannot reach 5" in res.stderr
    res = invoke(uneven, tmp_path / "out", "--per-class", 5, "--max-copies", 3, "--seed", 4, "--dry-run", "--json")
    summary = json.loads(res.stdout)
    assert summary["planned"] == 13 and summary["targets"]["short"] == 2
    assert [c["final"] for c in summary["targets"]["classes"]] == [3, 5, 5]
    assert sum(len(c["extra_sources"]) for c in summary["targets"]["classes"]) == 7


def test_the_plan_reads_names_only_so_a_broken_file_is_a_source_that_fails(uneven, tmp_path):
    (uneven / "three" / "broken.png").write_bytes(b"not an image")
    res = invoke(uneven, tmp_path / "out", "--per-class", 8, "--seed", 1, "-j", 1, "-q", "--json")
    assert res.exit_code == 1
    summary = json.loads(res.stdout)
    three = next(c for c in summary["targets"]["classes"] if c["class"] == "three")
    assert three["sources"] == 4 and three["copies"] == 8
    assert summary["failed"] == 1 and summary["failures"][0]["source"] == "three/broken.png"
    assert "augcli: three/broken.png: cannot identify image file" in res.stderr
    assert class_counts(tmp_path / "out")["three"] == 6  # the broken source's 2 copies are missing


@pytest.mark.parametrize("args,message", [
    (["-n", 2, "--per-class", 5], "-n/--copies and --per-class cannot be used together"),
    (["--copies", 2, "--total", 5], "-n/--copies and --total cannot be used together"),
    (["--per-class", 5, "--total", 5], "--per-class and --total cannot be used together"),
    (["--balance"], "--balance needs --total N"),
    (["--per-class", 5, "--balance"], "--balance needs --total N"),
    (["--max-copies", 2], "--max-copies needs --per-class N or --total N"),
    (["--max-copies", 2, "-n", 3], "--max-copies needs --per-class N or --total N"),
    (["--per-class", 0], "0 is not in the range x>=1"),
    (["--total", -1], "-1 is not in the range x>=1"),
    (["--per-class", 3, "--max-copies", 0], "0 is not in the range x>=1"),
])
def test_usage_errors_exit_2_and_write_nothing(uneven, tmp_path, args, message):
    res = invoke(uneven, tmp_path / "out", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_a_target_run_replays_byte_for_byte_and_resumes_with_skip(uneven, tmp_path):
    out = tmp_path / "out"
    args = ["--total", 40, "--balance", "--seed", 2, "--rotate", 15, "-j", 1, "-q"]
    assert invoke(uneven, out, *args).exit_code == 0
    first = tree_bytes(out)
    again = CliRunner().invoke(cli, ["replay", str(out / "manifest.jsonl"), "--output", str(tmp_path / "again"), "-q"])
    assert again.exit_code == 0, again.output
    replayed = tree_bytes(tmp_path / "again")
    assert replayed.keys() == {k for k in first if k != "manifest.jsonl"}
    assert all(replayed[k] == first[k] for k in replayed)
    for name in list(first)[:5]:  # lose a few outputs; a skip run makes exactly those again
        if name != "manifest.jsonl":
            (out / name).unlink()
    assert invoke(uneven, out, *args[:-1], "--on-exists", "skip", "-q").exit_code == 0
    assert {k: v for k, v in tree_bytes(out).items() if k != "manifest.jsonl"} == \
        {k: v for k, v in first.items() if k != "manifest.jsonl"}


def test_the_library_takes_targets_in_the_run_config(uneven, tmp_path):
    from augcli.config import RunConfig
    from augcli.runner import run

    summary = run(RunConfig(uneven, tmp_path / "out", targets=Targets(per_class=4), seed=3, workers=1,
                            progress=False, copies=9), report=lambda msg: None)
    assert summary.written == 12 and summary.targets["final"] == 12
    assert class_counts(tmp_path / "out") == {"one": 4, "three": 4, "seventeen": 4}
