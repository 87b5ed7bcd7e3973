"""End-to-end runs of the library and the CLI: reproducibility, names, manifest, policies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli.run import work
from augcli.cli import cli
from augcli.imageio import LoadOptions, load_image

from .conftest import BENCH_IMAGES, pattern, tree_bytes
from .test_geometry import scipy_warp

GEOMETRY = ["--rotate", "25", "--width-shift", "0.1", "--height-shift", "3", "--shear", "8", "--zoom", "0.2",
            "--hflip", "--vflip"]
ALL_KERAS = GEOMETRY + ["--brightness", "0.8:1.2", "--channel-shift", "20"]


def expand(*args, expect=0):
    result = CliRunner().invoke(cli, ["expand", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == expect, (result.output, result.stderr if hasattr(result, "stderr") else "")
    return result


def manifest_records(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines[1:]]


def manifest_records_from_bytes(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()[1:]]


def test_workers_1_and_2_give_identical_bytes_and_manifest(dataset, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    expand(dataset, one, "-n", 3, "--seed", 11, "-j", 1, *ALL_KERAS)
    expand(dataset, two, "-n", 3, "--seed", 11, "-j", 2, *ALL_KERAS)
    a, b = tree_bytes(one), tree_bytes(two)
    assert a.keys() == b.keys() and len(a) == 4 * 3 + 1
    assert all(a[k] == b[k] for k in a if k != "manifest.jsonl")
    assert manifest_records(one / "manifest.jsonl") == manifest_records(two / "manifest.jsonl")


def test_same_seed_same_bytes_run_after_run_and_different_seed_differs(dataset, tmp_path):
    expand(dataset, tmp_path / "r1", "-n", 2, "--seed", 5, *ALL_KERAS, "-j", 1)
    expand(dataset, tmp_path / "r2", "-n", 2, "--seed", 5, *ALL_KERAS, "-j", 1)
    expand(dataset, tmp_path / "r3", "-n", 2, "--seed", 6, *ALL_KERAS, "-j", 1)
    r1, r2, r3 = (tree_bytes(tmp_path / r) for r in ("r1", "r2", "r3"))
    assert r1.keys() == r2.keys() and all(r1[k] == r2[k] for k in r1 if k != "manifest.jsonl")
    assert manifest_records(tmp_path / "r1" / "manifest.jsonl") == manifest_records(tmp_path / "r2" / "manifest.jsonl")
    assert all(r1[k] != r3[k] for k in r1 if k.endswith((".png", ".jpg")))


def test_other_files_do_not_change_an_images_outputs(dataset, tmp_path):
    expand(dataset, tmp_path / "before", "-n", 2, "--seed", 3, *ALL_KERAS, "-j", 1)
    pattern(50, 20, "RGB", 9).save(dataset / "cats" / "0_new_first.png")
    (dataset / "dogs" / "c.png").unlink()
    expand(dataset, tmp_path / "after", "-n", 2, "--seed", 3, *ALL_KERAS, "-j", 1)
    before, after = tree_bytes(tmp_path / "before"), tree_bytes(tmp_path / "after")
    for name in ("cats/a_0.jpg", "cats/a_1.jpg", "cats/b_0.png", "top_1.png"):
        assert before[name] == after[name]


def test_without_seed_the_drawn_seed_is_reported_and_reproduces_the_run(dataset, tmp_path):
    first = expand(dataset, tmp_path / "a", "-n", 2, *ALL_KERAS, "--json", "-j", 1)
    seed = json.loads(first.stdout)["seed"]
    header = json.loads((tmp_path / "a" / "manifest.jsonl").read_text().splitlines()[0])
    assert header["seed"] == seed and header["augcli"]
    expand(dataset, tmp_path / "b", "-n", 2, *ALL_KERAS, "--seed", seed, "-j", 1)
    assert tree_bytes(tmp_path / "a") .keys() == tree_bytes(tmp_path / "b").keys()
    a, b = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert all(a[k] == b[k] for k in a if k != "manifest.jsonl")


def test_tree_mirrored_root_images_kept_and_names_deterministic(dataset, tmp_path):
    out = tmp_path / "out"
    expand(dataset, out, "-n", 2, "--prefix", "aug", "--rotate", 5, "--seed", 0, "-j", 1)
    names = sorted(k for k in tree_bytes(out) if k != "manifest.jsonl")
    assert names == ["aug_top_0.png", "aug_top_1.png", "cats/aug_a_0.jpg", "cats/aug_a_1.jpg",
                     "cats/aug_b_0.png", "cats/aug_b_1.png", "dogs/aug_c_0.png", "dogs/aug_c_1.png"]


def test_copy_numbers_are_zero_padded_for_sorting(dataset, tmp_path):
    expand(dataset, tmp_path / "o", "-n", 12, "--seed", 0, "-j", 1, "--no-manifest")
    assert (tmp_path / "o" / "top_00.png").exists() and (tmp_path / "o" / "top_11.png").exists()


def test_same_stem_different_format_never_collide(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pattern(20, 20, "RGB", 1).save(src / "a.jpg")
    pattern(20, 20, "RGB", 2).save(src / "a.png")
    pattern(20, 20, "RGB", 3).save(src / "b.png")
    out = tmp_path / "out"
    expand(src, out, "-n", 1, "--format", "png", "--seed", 0, "--rotate", 10, "-j", 1)
    names = sorted(k for k in tree_bytes(out) if k != "manifest.jsonl")
    assert names == ["a_jpg_0.png", "a_png_0.png", "b_0.png"]
    # and with the formats kept, the stems stay plain
    expand(src, tmp_path / "same", "-n", 1, "--seed", 0, "--rotate", 10, "-j", 1)
    assert sorted(k for k in tree_bytes(tmp_path / "same") if k != "manifest.jsonl") == ["a_0.jpg", "a_0.png", "b_0.png"]


def test_include_originals(dataset, tmp_path):
    out = tmp_path / "out"
    expand(dataset, out, "-n", 1, "--include-originals", "--seed", 0, "-j", 1)
    assert np.array_equal(np.asarray(Image.open(out / "dogs" / "c_orig.png")), np.asarray(Image.open(dataset / "dogs" / "c.png")))
    rec = [r for r in manifest_records(out / "manifest.jsonl") if r["output"] == "dogs/c_orig.png"][0]
    assert rec["copy"] is None and rec["ops"] == []


@pytest.mark.parametrize("fill", ["nearest", "reflect", "wrap", "constant"])
def test_manifest_matrix_reproduces_the_output_with_scipy(dataset, tmp_path, fill):
    out = tmp_path / "out"
    expand(dataset, out, "-n", 3, "--seed", 2, *GEOMETRY, "--fill-mode", fill, "--cval", 90, "--format", "png", "-j", 1)
    records = manifest_records(out / "manifest.jsonl")
    assert len(records) == 12
    for rec in records:
        src = load_image(dataset / rec["source"], LoadOptions())
        if src.mode == "RGBA":
            continue  # premultiplied resampling: compared separately in test_geometry
        matrix = np.vstack([np.array(rec["matrix"]), [0, 0, 1]])
        ref = scipy_warp(src, matrix, tuple(rec["output_size"]), fill, cval=90)
        got = np.asarray(Image.open(out / rec["output"])).astype(float)
        got = got[..., None] if got.ndim == 2 else got
        assert np.abs(got - ref).max() <= 1.0 + 1e-6, rec["output"]


def test_manifest_records_every_op_and_status(dataset, tmp_path):
    out = tmp_path / "out"
    expand(dataset, out, "-n", 2, "--seed", 4, *ALL_KERAS, "-j", 1)
    header = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert header["kind"] == "run" and header["config"]["copies"] == 2
    assert [o["op"] for o in header["config"]["pipeline"]["ops"]] == [
        "hflip", "vflip", "rotate", "shear", "zoom", "shift", "brightness", "channel_shift"]
    recs = manifest_records(out / "manifest.jsonl")
    assert [r["source"] for r in recs] == sorted(r["source"] for r in recs)
    for r in recs:
        assert r["status"] == "ok" and r["error"] is None and r["seed"] == 4
        assert [s["op"] for s in r["ops"]] == [o["op"] for o in header["config"]["pipeline"]["ops"]]
        rot = [s for s in r["ops"] if s["op"] == "rotate"][0]
        assert -25 <= rot["angle"] <= 25
        assert np.array(r["matrix"]).shape == (2, 3)


def test_on_exists_error_skip_overwrite(dataset, tmp_path):
    out = tmp_path / "out"
    expand(dataset, out, "-n", 2, "--seed", 1, "--rotate", 10, "-j", 1)
    first = tree_bytes(out)
    res = expand(dataset, out, "-n", 2, "--seed", 1, "--rotate", 10, "-j", 1, expect=2)
    assert "already exist" in res.output and "--on-exists" in res.output
    (out / "cats" / "a_1.jpg").unlink()
    res = expand(dataset, out, "-n", 2, "--seed", 1, "--rotate", 10, "-j", 1, "--on-exists", "skip", "--json")
    summary = json.loads(res.stdout)
    assert summary["written"] == 1 and summary["skipped"] == 7
    after = tree_bytes(out)
    assert all(after[k] == first[k] for k in first if k != "manifest.jsonl")  # completed exactly
    # the manifest describes every output, those found complete as "ok" too: the resumed run's
    # manifest is byte-identical to the uninterrupted one (records do not depend on history)
    assert after["manifest.jsonl"] == first["manifest.jsonl"]
    assert [r["status"] for r in manifest_records(out / "manifest.jsonl")] == ["ok"] * 8
    (out / "top_0.png").write_bytes(b"junk")
    expand(dataset, out, "-n", 2, "--seed", 1, "--rotate", 10, "-j", 1, "--on-exists", "overwrite")
    again = tree_bytes(out)
    assert all(again[k] == first[k] for k in first if k != "manifest.jsonl")
    assert manifest_records(out / "manifest.jsonl") == manifest_records_from_bytes(first["manifest.jsonl"])


def test_dry_run_writes_nothing_and_lists_outputs(dataset, tmp_path):
    out = tmp_path / "out"
    res = expand(dataset, out, "-n", 2, "--rotate", 10, "--dry-run")
    assert not out.exists()
    lines = res.stdout.splitlines()
    assert len(lines) == 8 and "cats/a.jpg\tcats/a_0.jpg" in lines
    assert "would write" in res.stderr


def test_output_inside_input_is_refused(dataset):
    res = expand(dataset, dataset / "out", "--rotate", 5, expect=2)
    assert "inside input folder" in res.output
    res = expand(dataset, dataset, "--rotate", 5, expect=2)
    assert "inside input folder" in res.output


def test_bad_file_is_reported_and_the_rest_written(dataset, tmp_path):
    (dataset / "cats" / "broken.jpg").write_bytes(b"this is not an image")
    out = tmp_path / "out"
    res = expand(dataset, out, "-n", 1, "--seed", 0, "--rotate", 5, "-j", 1, expect=1)
    assert "cats/broken.jpg: cannot identify image file" in res.stderr
    assert (out / "cats" / "a_0.jpg").exists() and not (out / "cats" / "broken_0.jpg").exists()
    bad = [r for r in manifest_records(out / "manifest.jsonl") if r["source"] == "cats/broken.jpg"]
    assert bad[0]["status"] == "error" and "cannot identify" in bad[0]["error"]


@pytest.mark.skipif(not BENCH_IMAGES.is_dir(), reason="../shared/bench-images not present")
def test_real_photos_multiprocess_run_is_reproducible(tmp_path):
    # a subset of the real photos, in their class folders, two worker processes vs one
    src = tmp_path / "photos"
    for cls in ("ants", "bees"):
        (src / cls).mkdir(parents=True)
        for p in sorted((BENCH_IMAGES / cls).glob("*.jpg"))[:6]:
            shutil.copy(p, src / cls / p.name)
    expand(src, tmp_path / "two", "-n", 2, "--seed", 9, *ALL_KERAS, "-j", 2, "--quality", 90)
    expand(src, tmp_path / "one", "-n", 2, "--seed", 9, *ALL_KERAS, "-j", 1, "--quality", 90)
    a, b = tree_bytes(tmp_path / "two"), tree_bytes(tmp_path / "one")
    assert len(a) == 12 * 2 + 1
    assert all(a[k] == b[k] for k in a if k != "manifest.jsonl")
    for name, data in a.items():
        if name.endswith(".jpg"):
            out = Image.open(tmp_path / "two" / name)
            source = Image.open(src / name.replace("_0.jpg", ".jpg").replace("_1.jpg", ".jpg"))
            assert out.size == source.size and out.format == "JPEG"


def test_sources_are_processed_and_recorded_in_sorted_path_order(tmp_path):
    src = tmp_path / "in"
    for rel in ("cats.png", "cats/a.png", "a b/x.png", "a/x.png", "a/b/c.png", "Z.png", "a.png"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        pattern(12, 10).save(src / rel)
    out = tmp_path / "out"
    expand(src, out, "--rotate", 5, "-j", 2, "--seed", 0)
    sources = [r["source"] for r in manifest_records(out / "manifest.jsonl")]
    assert sources == sorted(sources) == ["Z.png", "a b/x.png", "a.png", "a/b/c.png", "a/x.png", "cats.png",
                                          "cats/a.png"]


def test_resize_on_load(tmp_path, dataset):
    out = tmp_path / "out"
    expand(dataset, out, "--resize", "24x16", "--rotate", 10, "--include-originals", "-j", 1, "--seed", 0)
    for rec in manifest_records(out / "manifest.jsonl"):
        assert rec["size"] == [24, 16] and rec["output_size"] == [24, 16]
        with Image.open(out / rec["output"]) as im:
            assert im.size == (24, 16)


def test_the_pool_pulls_jobs_lazily(tmp_path):
    """Jobs are streamed: before the first result arrives, only about a window's worth has been
    taken from the source of jobs, whatever its length."""
    from augcli.config import RunConfig
    from augcli.run.discover import SourceJob
    from augcli.run.pool import results_in_pool as _results_in_pool
    from augcli.run.work import WorkContext

    src = tmp_path / "in"
    src.mkdir()
    pattern(12, 10).save(src / "a.png")
    cfg = RunConfig(src, tmp_path / "out", seed=1, workers=2, progress=False)
    pulled = []

    def jobs():
        for i in range(2000):
            pulled.append(i)
            yield SourceJob("a.png", ((0, f"a_{i}.png"),), "png")

    results = _results_in_pool(WorkContext(cfg, 1), jobs(), 2, total=2000)
    first = next(results)
    assert first[0]["status"] == "ok"
    from augcli.run.pool import HELD_PER_WINDOW, SPLIT_LOOKAHEAD, WINDOW_PER_WORKER

    # chunks held (workers x window x held windows) x chunk size, plus one chunk and the look-ahead
    assert len(pulled) <= 2 * WINDOW_PER_WORKER * HELD_PER_WINDOW * 4 + 4 + SPLIT_LOOKAHEAD + 1
    results.close()


def _uneven_dataset(root: Path) -> Path:
    """Nine small images, one large one (so it is cut into parts with 2 workers), and one large file
    that is not an image at all (both sorted first: the sizes of the files after them count too)."""
    root.mkdir()
    for i in range(9):
        pattern(24, 16, seed=i).save(root / f"s{i}.png")
    big = np.random.default_rng(5).integers(0, 256, (160, 200, 3), dtype=np.uint8)
    Image.fromarray(big).save(root / "big.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 200)
    return root


def test_a_large_source_is_cut_into_parts_for_the_workers(tmp_path):
    from augcli.config import RunConfig
    from augcli.run.discover import plan_outputs
    from augcli.run.pool import split_large as _split_large
    from augcli.run.work import WorkContext

    src = _uneven_dataset(tmp_path / "in")
    cfg = RunConfig(src, tmp_path / "out", seed=1, copies=6, workers=2, progress=False)
    jobs = plan_outputs(sorted(p.name for p in src.iterdir()), cfg)
    cut = list(_split_large(jobs, WorkContext(cfg, 1), 2, len(jobs)))
    parts = {j.source: j.parts for j in cut}
    assert parts == {"big.png": 2, "broken.png": 2, **{f"s{i}.png": 1 for i in range(9)}}
    for name in ("big.png", "broken.png"):
        pieces = [j for j in cut if j.source == name]
        assert [j.part for j in pieces] == [0, 1]
        whole = next(j for j in jobs if j.source == name)
        assert pieces[0].outputs + pieces[1].outputs == whole.outputs and len(pieces[0].outputs) == 3
    # a few copies are never cut (2 outputs per part at least), nor a run of equal files; in a run
    # of fewer than 4 sources per worker, every source is
    cfg3 = RunConfig(src, tmp_path / "out", seed=1, copies=3, workers=2, progress=False)
    jobs3 = plan_outputs(sorted(p.name for p in src.iterdir()), cfg3)
    assert all(j.parts == 1 for j in _split_large(jobs3, WorkContext(cfg3, 1), 2, len(jobs3)))
    even = [j for j in jobs if j.source.startswith("s")] * 2
    assert all(j.parts == 1 for j in _split_large(even, WorkContext(cfg, 1), 2, len(even)))
    assert all(j.parts == 2 for j in _split_large(even[:7], WorkContext(cfg, 1), 2, 7))


def test_small_files_go_to_the_workers_many_at_a_time(tmp_path):
    """A chunk of the pool costs the parent about what a tiny source costs a worker: chunks of small
    files grow (up to ``most``) until they hold ``CHUNK_BYTES``; files of unknown size, large files
    and the parts of a cut source keep the plain count."""
    from augcli.config import RunConfig
    from augcli.run.discover import plan_outputs
    from augcli.run.pool import CHUNK_BYTES, in_chunks, split_large
    from augcli.run.work import WorkContext

    src = tmp_path / "in"
    src.mkdir()
    for i in range(40):
        pattern(8, 8, seed=i).save(src / f"t{i:02d}.png")
    cfg = RunConfig(src, tmp_path / "out", seed=1, copies=4, workers=2, progress=False)
    jobs = plan_outputs(sorted(p.name for p in src.iterdir()), cfg)
    sizes: dict[int, int] = {}
    chunks = list(in_chunks(split_large(jobs, WorkContext(cfg, 1), 2, len(jobs)), 4,
                            sizes, 16))
    assert [len(c) for c in chunks] == [4] * 10  # no sizes measured: as before
    chunks = list(in_chunks(split_large(jobs, WorkContext(cfg, 1), 2, len(jobs), sizes), 4, sizes, 16))
    assert [len(c) for c in chunks] == [16, 16, 8] and [j for c in chunks for j in c] == jobs
    assert not sizes  # every size measured was taken
    big = {id(j): CHUNK_BYTES // 2 for j in jobs}
    assert [len(c) for c in in_chunks(iter(jobs), 4, big, 16)] == [4] * 10


def test_a_pool_chunk_opens_its_output_folder_once(tmp_path, monkeypatch):
    """The sources of one chunk share their output folders: one open per folder per chunk, not per
    source (outputs of tiny images cost little else)."""
    import os

    from augcli.config import RunConfig
    from augcli.run import pool
    from augcli.run.discover import plan_outputs
    from augcli.run.work import WorkContext

    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        pattern(8, 8, seed=i).save(src / f"t{i}.png")
    cfg = RunConfig(src, tmp_path / "out", seed=1, copies=2, workers=2, progress=False)
    jobs = plan_outputs(sorted(p.name for p in src.iterdir()), cfg)
    (tmp_path / "out").mkdir()
    opened: list = []
    real_open = os.open

    def counting(path, flags, *a, **kw):
        if flags & os.O_DIRECTORY:
            opened.append(path)
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(pool, "_CTX", WorkContext(cfg, 1))
    monkeypatch.setattr("augcli.tempfiles.os.open", counting)
    results = pool.work_chunk(jobs)
    assert [r["status"] for recs in results for r in recs] == ["ok"] * 12
    assert len(opened) == 1


def test_a_source_cut_into_parts_gives_the_bytes_and_records_of_one_worker(tmp_path):
    src = _uneven_dataset(tmp_path / "in")
    one, two = tmp_path / "one", tmp_path / "two"
    flags = ["-n", 6, "--seed", 3, "--rotate", 30, "--noise", 4, "--include-originals"]
    r1 = expand(src, one, "-j", 1, *flags, expect=1)
    r2 = expand(src, two, "-j", 2, *flags, expect=1)
    a, b = tree_bytes(one), tree_bytes(two)
    assert a.keys() == b.keys() and len(a) == 7 * 10 + 1
    assert all(a[k] == b[k] for k in a if k != "manifest.jsonl")
    recs = manifest_records(two / "manifest.jsonl")
    assert recs == manifest_records(one / "manifest.jsonl")
    assert [r["output"] for r in recs if r["source"] == "big.png"] == \
        ["big_orig.png"] + [f"big_{k}.png" for k in range(6)]
    broken = [r for r in recs if r["source"] == "broken.png"]
    assert len(broken) == 1 and broken[0]["status"] == "error" and broken[0]["output"] is None
    assert r1.stderr.count("broken.png") == r2.stderr.count("broken.png") == 1


def test_the_joiner_reports_a_source_failure_once_and_every_warning_on_every_record():
    from augcli.run.discover import SourceJob
    from augcli.run.pool import Joiner as _Joiner

    outs = tuple((k, f"a_{k}.png") for k in range(4))
    first, second = SourceJob("a.png", outs[:2], "png", 0, 2), SourceJob("a.png", outs[2:], "png", 1, 2)
    fail = {"source": "a.png", "output": None, "error": "cannot decode"}
    joiner = _Joiner()
    assert joiner.add(first, [dict(fail)]) is None
    assert joiner.add(second, [dict(fail)]) == [fail]
    ok = [{"source": "a.png", "output": o, "error": None, "warnings": [w]} for (_, o), w in zip(outs, "xxyz")]
    assert joiner.add(first, ok[:2]) is None
    joined = joiner.add(second, ok[2:])
    assert [r["output"] for r in joined] == [o for _, o in outs]
    assert all(r["warnings"] == ["x", "y", "z"] for r in joined)
    whole = SourceJob("b.png", outs, "png")
    assert joiner.add(whole, ok) is ok
    # a stop after the first part: what was made is still handed over
    assert joiner.add(first, ok[:2]) is None and joiner.held()
    assert [r["output"] for r in joiner.take()] == ["a_0.png", "a_1.png"] and not joiner.held()


def test_a_resumed_run_with_sources_cut_into_parts_completes_exactly_the_missing_outputs(tmp_path):
    src = _uneven_dataset(tmp_path / "in")
    (src / "broken.png").unlink()
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    flags = ["-n", 6, "--seed", 4, "--rotate", 20]
    expand(src, whole, "-j", 2, *flags)
    expand(src, resumed, "-j", 2, *flags)
    for name in ("big_1.png", "big_4.png", "s3_0.png"):
        (resumed / name).unlink()
    res = expand(src, resumed, "-j", 2, *flags, "--on-exists", "skip", "--json")
    summary = json.loads(res.stdout)
    assert summary["written"] == 3 and summary["skipped"] == 6 * 10 - 3
    a, b = tree_bytes(whole), tree_bytes(resumed)
    assert all(a[k] == b[k] for k in a if k != "manifest.jsonl") and a.keys() == b.keys()
    assert manifest_records(whole / "manifest.jsonl") == manifest_records(resumed / "manifest.jsonl")


def test_one_output_image_is_alive_at_a_time(tmp_path, monkeypatch):
    """An output larger than the render-ahead budget is released before the next is made (what
    bounds memory on big images)."""
    import weakref

    from augcli import pipeline

    monkeypatch.setattr(work, "RENDER_AHEAD_BYTES", 40 * 30 * 4 - 1)

    src = tmp_path / "in"
    src.mkdir()
    pattern(40, 30).save(src / "a.png")
    original = pipeline.Pipeline.renderer
    made: list[weakref.ref] = []

    def renderer(self, image, plans, geometries=None, **kw):
        render = original(self, image, plans, geometries, **kw)

        def tracked(plan, geometry=None, *nodes):
            assert all(ref() is None for ref in made), "an earlier output image is still alive"
            out = render(plan, geometry, *nodes)
            made.append(weakref.ref(out))
            return out

        return tracked

    monkeypatch.setattr(pipeline.Pipeline, "renderer", renderer)
    for fmt in ("png", "jpeg"):
        expand(src, tmp_path / fmt, "-n", 4, "-j", 1, "--rotate", 20, "--format", fmt, "--seed", 1)
    assert len(made) == 8


def test_small_outputs_are_rendered_ahead_within_the_budget_and_a_failure_stays_with_its_copy(tmp_path, monkeypatch):
    """Copies of a small source are rendered in batches (their source is still in the caches), never
    more than RENDER_AHEAD_BYTES of them alive; a copy whose rendering fails is that copy's error."""
    import weakref

    from augcli import pipeline

    src = tmp_path / "in"
    src.mkdir()
    pattern(40, 30).save(src / "a.png")
    one = 40 * 30 * 4
    monkeypatch.setattr(work, "RENDER_AHEAD_BYTES", 3 * one)
    original = pipeline.Pipeline.renderer
    made: list[weakref.ref] = []
    peak, calls = [0], [0]

    def renderer(self, image, plans, geometries=None, **kw):
        render = original(self, image, plans, geometries, **kw)

        def tracked(plan, geometry=None, *nodes):
            calls[0] += 1
            if calls[0] == 5:
                raise ValueError("no such luck")
            out = render(plan, geometry, *nodes)
            made.append(weakref.ref(out))
            peak[0] = max(peak[0], sum(ref() is not None for ref in made))
            return out

        return tracked

    monkeypatch.setattr(pipeline.Pipeline, "renderer", renderer)
    result = expand(src, tmp_path / "out", "-n", 7, "-j", 1, "--rotate", 20, "--format", "png", "--seed", 1, expect=1)
    err = result.stderr
    assert peak[0] == 3  # batches of three: more than one alive, never more than the budget
    outputs = sorted(manifest_records(tmp_path / "out" / "manifest.jsonl"), key=lambda r: r["copy"])
    assert [r["status"] for r in outputs] == ["ok"] * 4 + ["error"] + ["ok"] * 2
    assert "no such luck" in outputs[4]["error"]
    assert err.count("no such luck") == 1
    # and the bytes are those of a run that renders one copy at a time
    monkeypatch.setattr(pipeline.Pipeline, "renderer", original)
    monkeypatch.setattr(work, "RENDER_AHEAD_BYTES", 0)
    expand(src, tmp_path / "alone", "-n", 7, "-j", 1, "--rotate", 20, "--format", "png", "--seed", 1)
    for r in outputs:
        if r["status"] == "ok":
            assert (tmp_path / "out" / r["output"]).read_bytes() == (tmp_path / "alone" / r["output"]).read_bytes()


def test_large_rgb_sources_are_packed_in_place_and_give_the_same_files(tmp_path, monkeypatch):
    """A large RGB source whose original is not an output (no --include-originals)
    is packed to 3 bytes a pixel in its own memory for the warp: the files are those of the 4-byte
    source; a source whose original is also written, or whose warps are exact copies, is left alone."""
    from augcli import pipeline, warping

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(8)
    Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)).save(src / "a.png")
    pattern(40, 30).convert("L").save(src / "grey.png")
    flags = ["-n", 3, "-j", 1, "--rotate", 30, "--zoom", 0.2, "--fill-mode", "reflect", "--seed", 5, "--format", "png"]
    expand(src, tmp_path / "plain", *flags)

    packed: list[bool] = []
    original = pipeline.Pipeline.renderer

    def renderer(self, image, plans, geometries=None, **kw):
        render = original(self, image, plans, geometries, **kw)
        warper = next(c.cell_contents for c in render.__closure__ if isinstance(c.cell_contents, warping.Warper))
        packed.append(warper._packed)
        return render

    monkeypatch.setattr(pipeline.Pipeline, "renderer", renderer)
    monkeypatch.setattr(warping, "PACK_MIN_PIXELS", 1)
    expand(src, tmp_path / "packed", *flags)
    assert sorted(packed) == [False, True]  # the RGB source only (L stays as it is)
    a, b = tree_bytes(tmp_path / "plain"), tree_bytes(tmp_path / "packed")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a if k != "manifest.jsonl")
    assert manifest_records(tmp_path / "plain" / "manifest.jsonl") == manifest_records(tmp_path / "packed" / "manifest.jsonl")

    packed.clear()  # the original written too: the source is not given up
    expand(src, tmp_path / "orig", *flags, "--include-originals")
    assert packed == [False, False]
    packed.clear()  # exact warps (flips) read the image itself
    expand(src, tmp_path / "flip", "-n", 2, "-j", 1, "--hflip", "--seed", 1)
    assert packed == [False, False]


@pytest.mark.parametrize("extra, plans", [
    (["--no-manifest"], False),  # nothing reads them: records go to the parent without them
    ([], True),  # the manifest records them
    (["--no-manifest", "--layout", "hf"], True),  # the layout's index may describe outputs from them
])
def test_records_carry_plans_only_where_something_reads_them(tmp_path, monkeypatch, extra, plans):
    from augcli.run import pool

    src = tmp_path / "in" / "cats"
    src.mkdir(parents=True)
    for i in range(3):
        pattern(40, 30, seed=i).save(src / f"c{i}.png")
    sent: list[dict] = []
    real = pool.process_source_safely

    def spy(ctx, job):
        records = real(ctx, job)
        sent.extend(records)
        return records

    monkeypatch.setattr(pool, "process_source_safely", spy)
    out = tmp_path / "out"
    expand(tmp_path / "in", out, "-n", "2", "-j", "1", "--seed", "4", *GEOMETRY, *extra)
    assert len(sent) == 6 and all(r["status"] == "ok" for r in sent)
    assert all(("ops" in r and "matrix" in r and "item_key" in r) == plans for r in sent)
    # the outputs are the same bytes either way
    again = tmp_path / "again"
    monkeypatch.setattr(pool, "process_source_safely", real)
    expand(tmp_path / "in", again, "-n", "2", "-j", "1", "--seed", "4", *GEOMETRY)
    made = {k: v for k, v in tree_bytes(out).items() if k.endswith(".png")}
    assert made and made == {k: v for k, v in tree_bytes(again).items() if k.endswith(".png")}
