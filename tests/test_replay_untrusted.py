"""augcli replay takes nothing in a manifest on trust: paths, label locations, recorded params.
Each test edits a real manifest, replays it through the real CLI, and checks that nothing appeared
or changed outside the output folder."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import pattern, tree_bytes

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}


def augcli(*args, timeout: float = 120, memory: int | None = None) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess (``memory``: its address-space limit in bytes)."""
    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout, preexec_fn=limit, errors="backslashreplace")


def read(manifest: Path) -> tuple[dict, list[dict]]:
    lines = manifest.read_text().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def write(path: Path, header: dict, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in [header, *records]))
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return tree_bytes(root, bookkeeping=True)


def clean(res: subprocess.CompletedProcess) -> None:
    """Every stderr line is one of augcli's; no traceback, no raw control character."""
    assert "Traceback" not in res.stderr, res.stderr
    assert all(line.startswith("augcli: ") or line.startswith("Usage:") or line.startswith("Try ") or not line
               or line.startswith("Error: ") for line in res.stderr.splitlines()), res.stderr
    assert not any(ch in res.stderr for ch in "\x1b\x07\r"), repr(res.stderr)


@pytest.fixture
def run(tmp_path):
    """A small expand run: (input, output, manifest) under tmp_path/work; a secret file beside."""
    work = tmp_path / "work"
    inp = work / "in"
    inp.mkdir(parents=True)
    pattern(24, 16, seed=1).save(inp / "a.png")
    pattern(20, 20, seed=2).save(inp / "b.png")
    (tmp_path / "secret").mkdir()
    pattern(24, 16, seed=9).save(tmp_path / "secret" / "secret.png")
    out = work / "out"
    res = augcli("expand", inp, out, "-n", "2", "--seed", "3", "-j", "1", "-q", "--blur", "1", "--rotate", "10")
    assert res.returncode == 0, res.stderr
    manifest = tmp_path / "m.jsonl"
    (out / "manifest.jsonl").rename(manifest)
    return inp, out, manifest


@pytest.mark.parametrize("output", ["../x.png", "/ABS/x.png", "../in/a.png", "./a_0.png", "a//a_0.png",
                                    "sub/../../x.png", "a\\..\\x.png", 5, None, ["a.png"]])
def test_an_output_outside_the_output_folder_is_a_failure_of_its_record(run, tmp_path, output):
    inp, out, manifest = run
    header, records = read(manifest)
    if output == "/ABS/x.png":
        output = str(tmp_path / "abs" / "x.png")
    records[0]["output"] = output
    again = tmp_path / "work" / "again"
    write(manifest, header, records)
    before = snapshot(tmp_path)
    res = augcli("replay", manifest, "--input", inp, "--output", again, "--on-exists", "overwrite")
    clean(res)
    after = snapshot(tmp_path)
    assert {k for k in after if not k.startswith("work/again/")} == set(before), res.stderr
    assert all(after[k] == v for k, v in before.items())  # the input above all
    if output is None:  # a record without an output describes none: noted, not replayed
        assert res.returncode == 0 and "not replayed" in res.stderr
        return
    assert res.returncode == 1
    assert f"augcli: {manifest}:2: " in res.stderr  # the manifest and the line of the record
    assert "3 written, 0 skipped, 1 failed" in res.stderr


def test_an_output_into_an_input_inside_the_output_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    inp = out / "in"  # allowed (the output is not inside the input), but never written into
    inp.mkdir(parents=True)
    pattern(24, 16, seed=1).save(inp / "a.png")
    res = augcli("expand", inp, tmp_path / "first", "-n", "1", "--seed", "3", "-j", "1", "-q", "--hue", "20")
    assert res.returncode == 0, res.stderr
    header, records = read(tmp_path / "first" / "manifest.jsonl")
    records[0]["output"] = "in/a.png"
    before = snapshot(inp)
    res = augcli("replay", write(tmp_path / "m.jsonl", header, records), "--input", inp, "--output", out,
                 "--on-exists", "overwrite")
    clean(res)
    assert res.returncode == 1 and "into the input" in res.stderr
    assert snapshot(inp) == before


def test_a_symlink_in_the_output_folder_does_not_lead_outside(run, tmp_path):
    inp, out, manifest = run
    header, records = read(manifest)
    again = tmp_path / "work" / "again"
    again.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", again / "sub")
    os.symlink(tmp_path / "elsewhere" / "y.png", again / "y.png")
    records[0]["output"], records[1]["output"] = "sub/x.png", "y.png"
    res = augcli("replay", write(manifest, header, records), "--input", inp, "--output", again)
    clean(res)
    assert res.returncode == 1 and res.stderr.count("resolves outside the output folder") == 2
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.parametrize("source", ["../secret/secret.png", "/SECRET", "", "./a.png", "a.png/..", 7])
def test_a_source_outside_the_input_folder_is_never_read(run, tmp_path, source):
    inp, out, manifest = run
    header, records = read(manifest)
    records[0]["source"] = str(tmp_path / "secret" / "secret.png") if source == "/SECRET" else source
    records[0]["output"] = "secret_0.png"
    again = tmp_path / "work" / "again"
    res = augcli("replay", write(manifest, header, records), "--input", inp, "--output", again)
    clean(res)
    assert res.returncode == 1 and f"augcli: {manifest}:2: source" in res.stderr
    assert not (again / "secret_0.png").exists()


def test_a_non_json_or_truncated_record_line_is_a_failure_of_that_line(run, tmp_path):
    inp, out, manifest = run
    lines = manifest.read_text().splitlines()
    lines[2] = lines[2][:40]
    lines.insert(3, "[1, 2]")
    lines.insert(4, "x" * (2 << 20))  # longer than any record
    manifest.write_text("\n".join(lines) + "\n")
    res = augcli("replay", manifest, "--input", inp, "--output", tmp_path / "again")
    clean(res)
    assert res.returncode == 1
    for number in (3, 4, 5):
        assert f"augcli: {manifest}:{number}: " in res.stderr
    assert "3 written, 0 skipped, 3 failed" in res.stderr


@pytest.mark.parametrize("edit, why", [
    (lambda ops: ops[1].update(sigma=1e8), "sigma"),  # blur, far beyond the run's 0..1
    (lambda ops: ops[1].update(sigma=1.5), "sigma"),  # beyond the run's range, within the flag's
    (lambda ops: ops[0].update(angle="x"), "angle"),
    (lambda ops: ops[0].update(extra=1), "params"),
    (lambda ops: ops.reverse(), "expected"),
    (lambda ops: ops.append({"op": "erase", "applied": True, "boxes": [[0, 0, 10**9, 1]], "colours": [[0, 0, 0]]}),
     "op(s)"),
])
def test_recorded_params_out_of_the_runs_bounds_fail_their_record(run, tmp_path, edit, why):
    inp, out, manifest = run
    header, records = read(manifest)
    for rec in records:  # every step applied, so every edit matters
        for step in rec["ops"]:
            if not step["applied"]:
                step.update(applied=True, **({"angle": 1.0} if step["op"] == "rotate" else {"sigma": 0.5}))
    edit(records[0]["ops"])
    res = augcli("replay", write(manifest, header, records), "--input", inp, "--output", tmp_path / "again",
                 memory=1 << 30, timeout=60)
    clean(res)
    assert res.returncode == 1 and f"augcli: {manifest}:2: its steps are not the pipeline's" in res.stderr
    assert why in res.stderr and "3 written, 0 skipped, 1 failed" in res.stderr


@pytest.mark.parametrize("key, value", [("resize", [200000, 200000]), ("resize", [0, 5]), ("max_pixels", "1e9"),
                                        ("quality", 1000), ("background", [1, 2]), ("format", "exe"),
                                        ("exif_transpose", "yes"), ("pipeline", {"ops": 3})])
def test_a_bad_recorded_setting_is_a_usage_error(run, tmp_path, key, value):
    inp, out, manifest = run
    header, records = read(manifest)
    header["config"][key] = value
    res = augcli("replay", write(manifest, header, records), "--input", inp, "--output", tmp_path / "again",
                 memory=1 << 30, timeout=60)
    clean(res)
    assert res.returncode == 2 and "the manifest's" in res.stderr
    assert not (tmp_path / "again").exists()


def test_replay_streams_in_linear_time(tmp_path):
    """60,000 records (their sources gone, so each fails at once): a quadratic pass over them
    takes minutes; the bound is generous for a linear one."""
    inp = tmp_path / "in"
    inp.mkdir()
    pattern(8, 8).save(inp / "a.png")
    res = augcli("expand", inp, tmp_path / "first", "-n", "1", "--seed", "1", "-j", "1", "-q", "--hue", "10")
    assert res.returncode == 0, res.stderr
    header, (rec,) = read(tmp_path / "first" / "manifest.jsonl")
    manifest = tmp_path / "m.jsonl"
    with open(manifest, "w") as fh:
        fh.write(json.dumps(header) + "\n")
        for i in range(60_000):
            fh.write(json.dumps({**rec, "source": f"gone{i // 100}.png", "output": f"gone{i // 100}_{i}.png"}) + "\n")
    res = augcli("replay", manifest, "--input", inp, "--output", tmp_path / "again", "-q", timeout=60)
    assert res.returncode == 1 and res.stderr.count("cannot load") == 60_000


def test_failures_print_as_expand_prints_them_and_names_are_escaped(run, tmp_path):
    inp, out, manifest = run
    header, records = read(manifest)
    pattern(30, 10).save(inp / "a.png")  # a different picture under the recorded name
    records.append({**records[-1], "source": "bad\x1b[31mname.png", "status": "error", "output": None,
                    "error": "cannot decode: \x1b]0;pwned\x07"})
    res = augcli("replay", write(manifest, header, records), "--input", inp, "--output", tmp_path / "again")
    clean(res)
    assert res.returncode == 1
    assert "augcli: a_0.png: a.png loads as 30x10, the manifest says 24x16: not the same source" in res.stderr
    assert "warning: augcli" not in res.stderr
    assert "augcli: note: bad\\x1b[31mname.png: not replayed (status error: cannot decode: \\x1b]0;pwned\\x07)" \
        in res.stderr


# ---------------------------------------------------------------------------------------------------
# labels: their locations come from the input folder and replay's flags, never from the manifest


def yolo_input(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    pattern(40, 30, seed=1).save(root / "images" / "a.jpg", quality=95)
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.3\n")
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images\nnames: [thing]\n")
    return root


def test_replay_writes_the_dataset_yaml_as_expand_does_under_on_exists(tmp_path):
    inp = yolo_input(tmp_path / "ds")
    res = augcli("expand", inp, tmp_path / "out", "-n", "2", "--seed", "1", "-j", "1", "-q", "--hflip")
    assert res.returncode == 0, res.stderr
    expanded = (tmp_path / "out" / "data.yaml").read_text()
    assert str(tmp_path / "out") in expanded  # its absolute path rewritten to the output folder
    again = tmp_path / "again"
    res = augcli("replay", tmp_path / "out" / "manifest.jsonl", "--output", again)
    assert res.returncode == 0, res.stderr
    assert (again / "data.yaml").read_text() == expanded.replace(str(tmp_path / "out"), str(again))
    assert {k for k in tree_bytes(again)} == {k for k in tree_bytes(tmp_path / "out") if k != "manifest.jsonl"}

    (again / "images" / "a_0.jpg").unlink()
    res = augcli("replay", tmp_path / "out" / "manifest.jsonl", "--output", again)  # error: the YAML exists too
    assert res.returncode == 2 and "already exist" in res.stderr
    (again / "data.yaml").write_text("names: [mine]\n")
    res = augcli("replay", tmp_path / "out" / "manifest.jsonl", "--output", again, "--on-exists", "skip")
    assert res.returncode == 0 and (again / "data.yaml").read_text() == "names: [mine]\n"
    res = augcli("replay", tmp_path / "out" / "manifest.jsonl", "--output", again, "--on-exists", "overwrite")
    assert res.returncode == 0 and "thing" in (again / "data.yaml").read_text()


def coco_run(tmp_path: Path) -> tuple[Path, Path]:
    inp = tmp_path / "coco"
    inp.mkdir()
    pattern(40, 30, seed=1).save(inp / "a.png")
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 10, 10], "area": 100,
                            "iscrowd": 0}],
           "categories": [{"id": 1, "name": "thing"}]}
    (inp / "instances.json").write_text(json.dumps(doc))
    res = augcli("expand", inp, tmp_path / "out", "-n", "2", "--seed", "1", "-j", "1", "-q", "--rotate", "10")
    assert res.returncode == 0, res.stderr
    return inp, tmp_path / "out" / "manifest.jsonl"


@pytest.mark.parametrize("on_exists", ["error", "skip", "overwrite"])
def test_label_paths_in_the_header_are_never_used(tmp_path, on_exists):
    inp, manifest = coco_run(tmp_path)
    victim = tmp_path / "victim.json"
    victim.write_text('{"keep": "me"}')
    header, records = read(manifest)
    header["labels"]["coco_files"] = [str(victim)]
    header["labels"]["yamls"] = ["../../victim.json"]
    write(tmp_path / "m.jsonl", header, records)
    before = snapshot(tmp_path)
    res = augcli("replay", tmp_path / "m.jsonl", "--output", tmp_path / "again", "--on-exists", on_exists)
    clean(res)
    assert res.returncode == 2 and "not the ones the run carried" in res.stderr
    assert victim.read_text() == '{"keep": "me"}' and snapshot(tmp_path) == before


def test_a_recorded_masks_folder_is_not_read_without_the_flag(tmp_path):
    inp = tmp_path / "in"
    (inp / "images").mkdir(parents=True)
    pattern(20, 20).save(inp / "images" / "a.png")
    masks = tmp_path / "masks"
    masks.mkdir()
    from PIL import Image

    Image.new("L", (20, 20), 3).save(masks / "a.png")
    res = augcli("expand", inp / "images", tmp_path / "out", "--masks", masks, "-n", "1", "--seed", "1", "-j", "1",
                 "-q", "--rot90")
    assert res.returncode == 0, res.stderr
    header, records = read(tmp_path / "out" / "manifest.jsonl")
    header["labels"]["options"]["masks_output"] = str(tmp_path / "stolen")
    manifest = write(tmp_path / "m.jsonl", header, records)
    res = augcli("replay", manifest, "--output", tmp_path / "again")
    clean(res)
    assert res.returncode == 2 and "--masks" in res.stderr and not (tmp_path / "stolen").exists()
    res = augcli("replay", manifest, "--output", tmp_path / "again", "--masks", masks)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "stolen").exists()
    assert (tmp_path / "again" / "masks" / "a_0.png").read_bytes() == \
        (tmp_path / "out" / "masks" / "a_0.png").read_bytes()
    header["labels"]["options"]["mask_suffix"] = "/../../../x"
    res = augcli("replay", write(manifest, header, records), "--output", tmp_path / "third", "--masks", masks)
    clean(res)
    assert res.returncode == 2 and "mask_suffix" in res.stderr
