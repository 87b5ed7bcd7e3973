"""YOLO labels end to end: pairing, known answers through the CLI, errors, layout, -j parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from augcli.cli import cli
from augcli.labels import yolo as Y

from .conftest import pattern, records, tree_bytes

BOX = "0 0.200000 0.250000 0.200000 0.300000\n"


def run(*args, expect=0):
    res = CliRunner().invoke(cli, ["expand", *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def make_yolo(root: Path, rows: dict[str, str | None], size=(100, 50), names=("cat", "dog"), extra=None) -> Path:
    """images/train/<name>.png with labels/train/<name>.txt (None: no label file) and data.yaml."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    for i, (name, text) in enumerate(rows.items()):
        pattern(*size, seed=i).save(root / "images" / "train" / f"{name}.png")
        if text is not None:
            (root / "labels" / "train" / f"{name}.txt").write_text(text)
    data = {"path": ".", "train": "images/train", "val": "images/train", "names": list(names), **(extra or {})}
    (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root


def test_pairing_is_ultralytics_img2label_paths():
    assert Y.label_path("images/train/a.jpg") == "labels/train/a.txt"
    assert Y.label_path("x/images/y/images/z/a.b.jpg") == "x/images/y/labels/z/a.b.txt"
    assert Y.label_path("train/a.jpg") == "train/a.txt"  # next to the image
    assert Y.label_path("myimages/a.jpg") == "myimages/a.txt"


def test_hflip_detect_known_answer_and_layout(tmp_path):  # 1, 20
    inp = make_yolo(tmp_path / "in", {"a": BOX, "empty": "", "bg": None})
    out = tmp_path / "out"
    res = run(inp, out, "--hflip", "--p", "hflip=1", "-n", "2", "-j", "1", "--seed", "1")
    assert "labels: yolo detect/segment" in res.output
    assert (out / "labels/train/a_0.txt").read_text() == "0 0.800000 0.250000 0.200000 0.300000\n"
    assert (out / "labels/train/a_1.txt").read_text() == "0 0.800000 0.250000 0.200000 0.300000\n"
    assert (out / "labels/train/empty_0.txt").read_bytes() == b""
    assert not (out / "labels/train/bg_0.txt").exists() and (out / "images/train/bg_0.png").exists()
    # label folders are not sources; the dataset YAML is copied verbatim (relative paths)
    assert not any("labels" in r["source"] for r in records(out))
    assert (out / "data.yaml").read_bytes() == (inp / "data.yaml").read_bytes()
    rec = next(r for r in records(out) if r["output"] == "images/train/a_0.png")
    lab = rec["labels"]
    assert lab["file"] == "labels/train/a_0.txt" and lab["format"] == "yolo-detect"
    assert lab["in"] == 1 and lab["out"] == 1 and lab["mirrored"] is True and lab["clipped"] == 0
    bg = next(r for r in records(out) if r["output"] == "images/train/bg_0.png")
    assert bg["labels"]["unlabeled"] is True


def test_nothing_found_behaves_as_today(dataset, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    r1 = run(dataset, a, "--rotate", "10", "--seed", "3", "-j", "1")
    run(dataset, b, "--rotate", "10", "--seed", "3", "-j", "1", "--labels", "none")
    assert "labels" not in r1.output
    ta, tb = tree_bytes(a), tree_bytes(b)
    ha, hb = json.loads(ta.pop("manifest.jsonl").splitlines()[0]), json.loads(tb.pop("manifest.jsonl").splitlines()[0])
    ha["config"].pop("output_dir"), hb["config"].pop("output_dir")
    assert ta == tb and "labels" not in ha and ha == hb


@pytest.mark.parametrize("flags,expected", [
    (["--vflip", "--p", "vflip=1"], "0 0.200000 0.750000 0.200000 0.300000\n"),                 # 2
    (["--width-shift", "10:10"], "0 0.300000 0.250000 0.200000 0.300000\n"),                    # 9
    (["--resize", "200x100", "--hflip", "--p", "hflip=1"], "0 0.800000 0.250000 0.200000 0.300000\n"),  # 13
])
def test_known_answers_through_the_cli(tmp_path, flags, expected):
    inp = make_yolo(tmp_path / "in", {"a": BOX})
    run(inp, tmp_path / "out", *flags, "-j", "1", "--seed", "1")
    assert (tmp_path / "out/labels/train/a_0.txt").read_text() == expected


def test_rot90_swaps_and_rotate_90_clips(tmp_path):  # 3, 6
    inp = make_yolo(tmp_path / "in", {"a": BOX})
    out = tmp_path / "o1"
    run(inp, out, "--rotate", "90:90", "-j", "1", "--seed", "1", "--min-visibility", "0.3")
    assert (out / "labels/train/a_0.txt").read_bytes() == b""  # visibility 0.25 < 0.3: dropped
    assert records(out)[0]["labels"]["dropped"]["min_visibility"] == 1
    out = tmp_path / "o2"
    run(inp, out, "--rotate", "90:90", "-j", "1", "--seed", "1")
    # edges [30, 45, 45, 50] on 100x50
    assert (out / "labels/train/a_0.txt").read_text() == "0 0.375000 0.950000 0.150000 0.100000\n"


def test_segment_polygon_clipped_by_sutherland_hodgman(tmp_path):  # 12, 23
    inp = make_yolo(tmp_path / "in", {"a": "0 0.1 0.2 0.7 0.2 0.4 0.8\n" + BOX})
    run(inp, tmp_path / "out", "--width-shift", "-30:-30", "-j", "1", "--seed", "1")
    lines = (tmp_path / "out/labels/train/a_0.txt").read_text().splitlines()
    assert lines[0] == "0 0.000000 0.600000 0.000000 0.200000 0.400000 0.200000 0.100000 0.800000"
    # the box row of a segment file is written as a 4-corner polygon (never mixed rows): shifted off
    assert len(lines) == 1


def test_pose_flip_idx_and_keypoint_leaving(tmp_path):  # 15, 16
    row = "0 0.2 0.25 0.2 0.3 0.105 0.11 2 0.205 0.11 2 0.305 0.11 1\n"
    inp = make_yolo(tmp_path / "in", {"a": row}, extra={"kpt_shape": [3, 3], "flip_idx": [0, 2, 1]})
    run(inp, tmp_path / "out", "--hflip", "--p", "hflip=1", "-j", "1", "--seed", "1")
    vals = (tmp_path / "out/labels/train/a_0.txt").read_text().split()
    assert vals[:5] == ["0", "0.800000", "0.250000", "0.200000", "0.300000"]
    # kpt0 (89,5,2); kpt1 <- old kpt2 (69,5,1); kpt2 <- old kpt1 (79,5,2), as (c + 0.5) / W
    assert vals[5:] == ["0.895000", "0.110000", "2", "0.695000", "0.110000", "1", "0.795000", "0.110000", "2"]
    wide = "0 0.5 0.5 1.0 1.0 0.105 0.11 2 0.205 0.11 2 0.305 0.11 1\n"
    (inp / "labels/train/a.txt").write_text(wide)
    run(inp, tmp_path / "out2", "--width-shift", "75:75", "-j", "1", "--seed", "1")
    vals = (tmp_path / "out2/labels/train/a_0.txt").read_text().split()
    # centres 10, 20, 30 move to 85, 95 and 105: the last leaves the image and becomes 0 0 0
    assert len(vals) == 5 + 9 and vals[5:] == ["0.855000", "0.110000", "2", "0.955000", "0.110000", "2",
                                               "0.000000", "0.000000", "0"]
    assert records(tmp_path / "out2")[0]["labels"]["keypoints_hidden"] == 1


def test_pose_without_flip_idx_and_a_flip_is_a_usage_error(tmp_path):
    row = "0 0.2 0.25 0.2 0.3 0.105 0.11 2\n"
    inp = make_yolo(tmp_path / "in", {"a": row}, extra={"kpt_shape": [1, 3]})
    res = run(inp, tmp_path / "out", "--hflip", expect=2)
    assert "flip_idx" in res.output and not (tmp_path / "out").exists()
    run(inp, tmp_path / "out", "--hflip", "--allow-unswapped-mirror", "-j", "1")


def test_out_of_range_input_clipped_or_refused(tmp_path):  # 19
    ok = "0 0.902 0.25 0.2 0.3\n"  # x_max = 1.002: accepted, clipped to 1.0
    bad = "0 0.5 0.5 0.2 0.2\n0 0.9 0.25 0.24 0.3\n"  # x_max = 1.02
    inp = make_yolo(tmp_path / "in", {"a": ok, "b": bad, "c": BOX})
    res = run(inp, tmp_path / "out", "-j", "1", "--seed", "1", expect=1)
    assert "labels/train/b.txt:2: x_max=1.02 outside [0, 1] (tolerance 0.01)" in res.output
    assert (tmp_path / "out/labels/train/a_0.txt").read_text() == "0 0.901000 0.250000 0.198000 0.300000\n"
    assert not (tmp_path / "out/images/train/b_0.png").exists()
    assert (tmp_path / "out/labels/train/c_0.txt").exists()
    rec = next(r for r in records(tmp_path / "out") if r["source"] == "images/train/a.png")
    assert rec["labels"]["input_clipped"] >= 1


@pytest.mark.parametrize("text,reason", [
    ("0 0.5 0.5 0.2\n", "a.txt:1: expected 5 numbers (class cx cy w h), got 4"),
    ("0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.2 0.2\n", "a.txt:2: class 5 >= nc 2"),
    ("0 0.5 abc 0.2 0.2\n", "a.txt:1: 'abc' is not a number"),
    ("1.5 0.5 0.5 0.2 0.2\n", "a.txt:1: class 1.5 is not a non-negative whole number"),
    ("0 0.1 0.1 0.2 0.2 0.3 0.3 0.4\n", "a.txt:1: a segment row needs"),
])
def test_malformed_rows_fail_the_image_with_path_and_line(tmp_path, text, reason):
    inp = make_yolo(tmp_path / "in", {"a": text, "b": BOX})
    res = run(inp, tmp_path / "out", "-j", "1", expect=1)
    err = [line for line in res.output.splitlines() if "error" in line or "a.txt" in line]
    assert any(reason in line for line in err), res.output
    assert (tmp_path / "out/images/train/b_0.png").exists() and not (tmp_path / "out/images/train/a_0.png").exists()


def test_written_values_pass_ultralytics_rules_and_j1_equals_j2(tmp_path):
    rng = np.random.default_rng(5)
    rows = {}
    for i in range(6):
        lines = []
        for _ in range(4):
            cx, cy = rng.uniform(0.1, 0.9, 2)
            w, h = rng.uniform(0.05, 0.3, 2)
            lines.append(f"{rng.integers(2)} {cx:.5f} {cy:.5f} {w:.5f} {h:.5f}")
        rows[f"im{i}"] = "\n".join(lines) + "\n"
    inp = make_yolo(tmp_path / "in", rows)
    flags = ["--rotate", "30", "--zoom", "0.4", "--width-shift", "0.2", "--hflip", "--shear", "10", "-n", "3",
             "--seed", "9", "--perspective", "0.1"]
    run(inp, tmp_path / "a", *flags, "-j", "1")
    run(inp, tmp_path / "b", *flags, "-j", "2")
    ta, tb = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    ta.pop("manifest.jsonl"), tb.pop("manifest.jsonl")
    assert ta == tb
    files = [k for k in ta if k.startswith("labels/")]
    assert len(files) == 18
    for name in files:
        for line in ta[name].decode().splitlines():
            vals = line.split()
            assert len(vals) == 5 and 0 <= int(vals[0]) < 2
            assert all(0.0 <= float(v) <= 1.0 and len(v.split(".")[1]) == 6 for v in vals[1:])


def test_yaml_absolute_paths_into_the_input_are_rewritten(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": BOX})
    data = yaml.safe_load((inp / "data.yaml").read_text())
    data["path"] = str(inp.resolve())
    data["test"] = "/elsewhere/images"
    (inp / "data.yaml").write_text(yaml.safe_dump(data))
    run(inp, tmp_path / "out", "-j", "1")
    got = yaml.safe_load((tmp_path / "out/data.yaml").read_text())
    assert got["path"] == str((tmp_path / "out").resolve()) and got["test"] == "/elsewhere/images"
    assert got["names"] == ["cat", "dog"]


def test_include_originals_identity_and_dry_run_lists_labels(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": "0 0.123457 0.5 0.2 0.2\n"})
    res = run(inp, tmp_path / "out", "--include-originals", "--dry-run")
    assert "labels/train/a_orig.txt" in res.output and "labels/train/a_0.txt" in res.output
    run(inp, tmp_path / "out", "--include-originals", "-n", "0")
    assert (tmp_path / "out/labels/train/a_orig.txt").read_text() == "0 0.123457 0.500000 0.200000 0.200000\n"


def test_json_counts_objects(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": BOX + BOX, "b": None})
    res = run(inp, tmp_path / "out", "--json", "-q", "-n", "2", "-j", "1")
    summary = json.loads(res.stdout)
    counts = {k: v for k, v in summary["labels"].items() if k not in ("loss", "loss_by_op")}
    assert counts == {"objects_in": 4, "objects_out": 4, "unlabeled": 2, "label_files": 2, "masks": 0, "unpaired": 0}
    assert summary["labels"]["loss"]["kept"] == 4


def test_quiet_drops_the_labels_line_but_keeps_warnings(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": BOX, "b": None})
    flags = ("-n", "1", "-j", "1", "--labels-output", "coco", "--fill-mode", "reflect", "--rotate", "10")
    loud = run(inp, tmp_path / "out", *flags)
    assert "augcli: labels: yolo" in loud.output and "written as coco" in loud.output
    quiet = run(inp, tmp_path / "out2", *flags, "-q")
    assert "augcli: labels:" not in quiet.output
    assert quiet.output.count("mirrors objects into the border") == 1  # a warning is still said


def test_labels_next_to_the_images(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    pattern(100, 50).save(inp / "a.png")
    (inp / "a.txt").write_text(BOX)
    run(inp, tmp_path / "out", "--hflip", "--p", "hflip=1", "-j", "1")
    assert (tmp_path / "out/a_0.txt").read_text() == "0 0.800000 0.250000 0.200000 0.300000\n"


def test_exif_stored_frame(tmp_path):  # 14
    inp = tmp_path / "in"
    (inp / "images").mkdir(parents=True)
    (inp / "labels").mkdir()
    im = pattern(100, 50)
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(inp / "images/a.jpg", exif=exif, quality=95)
    (inp / "labels/a.txt").write_text(BOX)
    run(inp, tmp_path / "s", "--labels-frame", "stored", "-n", "0", "--include-originals", "--labels", "yolo")
    # rot90 k=3 of edges [10, 5, 30, 20] on 100x50 -> [30, 10, 45, 30] on 50x100
    assert (tmp_path / "s/labels/a_orig.txt").read_text() == "0 0.750000 0.200000 0.300000 0.200000\n"
    run(inp, tmp_path / "d", "-n", "0", "--include-originals", "--labels", "yolo")
    assert (tmp_path / "d/labels/a_orig.txt").read_text() == BOX


def test_segment_file_writes_box_rows_as_polygons(tmp_path):  # 23
    inp = make_yolo(tmp_path / "in", {"a": "0 0.1 0.2 0.7 0.2 0.4 0.8\n" + BOX})
    run(inp, tmp_path / "out", "--include-originals", "-n", "0")
    lines = (tmp_path / "out/labels/train/a_orig.txt").read_text().splitlines()
    assert lines[1] == "0 0.100000 0.100000 0.300000 0.100000 0.300000 0.400000 0.100000 0.400000"
    assert all(len(line.split()) % 2 == 1 and len(line.split()) >= 7 for line in lines)


def test_obb_hflip(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": "1 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4\n"})
    res = run(inp, tmp_path / "out", "--labels", "yolo-obb", "--hflip", "--p", "hflip=1", "-j", "1")
    assert "yolo obb" in res.output
    assert (tmp_path / "out/labels/train/a_0.txt").read_text() == \
        "1 0.900000 0.100000 0.700000 0.100000 0.700000 0.400000 0.900000 0.400000\n"
    assert records(tmp_path / "out")[0]["labels"]["format"] == "yolo-obb"


def test_skip_rerun_completes_a_missing_image_with_the_same_label(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": BOX, "b": BOX})
    flags = ["--rotate", "20", "-n", "2", "--seed", "3", "-j", "1"]
    run(inp, tmp_path / "out", *flags)
    before = tree_bytes(tmp_path / "out")
    (tmp_path / "out/images/train/b_1.png").unlink()  # as if killed after the label, before the image
    run(inp, tmp_path / "out", *flags, "--on-exists", "skip")
    after = tree_bytes(tmp_path / "out")
    before.pop("manifest.jsonl"), after.pop("manifest.jsonl")
    assert after == before


def test_reflect_fill_warns_once_and_broken_other_yaml_is_ignored(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": BOX, "b": BOX})
    (inp / "notes.yaml").write_text("names: [unclosed\n")
    # a YAML without a names key is no dataset's: passed over without a word, read or not (a conda
    # environment beside the images warned on every run)
    (inp / "environment.yml").write_text("name: x\ndependencies:\n  - !!python/tuple [a, b]\n")
    res = run(inp, tmp_path / "out", "--fill-mode", "reflect", "--rotate", "10", "-j", "1")
    assert res.output.count("mirrors objects into the border") == 1
    assert "notes.yaml: cannot read the dataset YAML" in res.output
    assert "environment.yml" not in res.output
    (inp / "data.yaml").write_text("names: [unclosed\n")
    res = run(inp, tmp_path / "out2", expect=2)
    assert "data.yaml: cannot read the dataset YAML" in res.output


def test_a_label_symlink_escaping_the_input_is_refused(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": None, "b": BOX})
    (tmp_path / "outside.txt").write_text(BOX)
    (inp / "labels/train/a.txt").symlink_to(tmp_path / "outside.txt")
    res = run(inp, tmp_path / "out", "-j", "1", expect=1)
    assert "labels/train/a.txt: label file resolves outside the input folder; refused" in res.output
    assert (tmp_path / "out/labels/train/b_0.txt").exists()


def test_help_does_not_import_numpy():
    import subprocess
    import sys

    code = ("import sys; from augcli.cli import cli; from click.testing import CliRunner; "
            "CliRunner().invoke(cli, ['expand', '--help']); print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_stats_counts_objects_per_label_class(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": BOX + "1 0.5 0.5 0.1 0.1\n", "b": BOX, "c": None})
    res = CliRunner().invoke(cli, ["stats", str(inp), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["objects"] == {"cat": 2, "dog": 1}


def test_strict_stops_at_the_first_bad_label_and_yaml_outside_is_warned(tmp_path):
    inp = make_yolo(tmp_path / "in", {"a": "0 1\n", "b": "0 2\n", "c": BOX}, extra={"test": "/elsewhere/x"})
    res = run(inp, tmp_path / "out", "-j", "1", "--strict", expect=1)
    assert res.output.count("expected 5 numbers") == 1
    assert "data.yaml: test: '/elsewhere/x' points outside the input folder" in res.output


def test_sources_cut_into_parts_give_the_labels_of_one_worker(tmp_path):
    # three images and six copies each: with 2 workers every source is cut into two parts
    inp = make_yolo(tmp_path / "in", {f"im{i}": BOX for i in range(3)})
    flags = ["--rotate", "30", "--zoom", "0.4", "--hflip", "-n", "6", "--seed", "9"]
    run(inp, tmp_path / "a", *flags, "-j", "1")
    run(inp, tmp_path / "b", *flags, "-j", "2")
    ta, tb = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert records(tmp_path / "a") == records(tmp_path / "b")
    ta.pop("manifest.jsonl"), tb.pop("manifest.jsonl")
    assert ta == tb and len([k for k in ta if k.startswith("labels/")]) == 18


def test_outline_rows_are_formatted_as_value_by_value():
    """Polygon and OBB rows are formatted in one call per row: the same text as _fmt on each value."""
    rng = np.random.default_rng(5)
    w, h = 640.0, 427.0
    specials = [0.0, -0.0, w, h, -1e-12, w + 1e-9, 1e300, -1e300, float("nan")]
    for p in (0, 3, 6, 9):
        for n in (1, 2, 4, 37):
            pts = rng.uniform(-0.2, 1.2, (n, 2)) * (w, h)
            pts.ravel()[: len(specials)] = specials[: pts.size]
            want = " ".join(Y._fmt(c / d, p) for x, y in pts.tolist() for c, d in ((x, w), (y, h)))
            assert Y._fmt_points(pts, w, h, p) == [want]
            assert Y._fmt_points(pts.tolist(), w, h, p) == [want]
    assert Y._fmt_points(np.zeros((0, 2)), w, h, 6) == []
