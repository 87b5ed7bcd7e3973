"""Output layouts read back with the real readers: ``--layout hf`` loads with
``datasets.load_dataset("imagefolder", data_dir=OUT)`` (row counts, class names, objects per image
equal to the tree layout's label files, image bytes identical to the tree run of the same seed)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import cli

from .conftest import pattern, tree_bytes

datasets = pytest.importorskip("datasets")

ROWS = {"a": "0 0.2 0.25 0.2 0.3\n1 0.5 0.5 0.2 0.2\n", "b": "1 0.6 0.5 0.3 0.3\n", "c": "", "bg": None}


def run(*args, expect=0):
    res = CliRunner().invoke(cli, ["expand", *map(str, args)], catch_exceptions=False)
    assert res.exit_code == expect, res.output
    return res


def make_yolo(root: Path) -> Path:
    for sub in ("images/train", "labels/train"):
        (root / sub).mkdir(parents=True)
    for i, (name, text) in enumerate(ROWS.items()):
        pattern(100, 50, seed=i).save(root / "images/train" / f"{name}.png")
        if text is not None:
            (root / "labels/train" / f"{name}.txt").write_text(text)
    (root / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images/train", "val": "images/train",
                                                    "names": ["cat", "dog"]}))
    return root


def load(out: Path, tmp_path: Path):
    return datasets.load_dataset("imagefolder", data_dir=str(out), cache_dir=str(tmp_path / "hf-cache"))


def yolo_pixels(text: str, w: int, h: int) -> list[tuple[int, list[float]]]:
    rows = []
    for line in text.splitlines():
        c, cx, cy, bw, bh = line.split()
        cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
        rows.append((int(c), [cx - bw / 2, cy - bh / 2, bw, bh]))
    return rows


OPS = ("--rotate", "20", "--hflip", "-n", "2", "--seed", "3")


def test_hf_detection_loads_with_objects_equal_to_the_label_files(tmp_path):
    inp = make_yolo(tmp_path / "in")
    run(inp, tmp_path / "tree", *OPS, "-j", "1")
    run(inp, tmp_path / "hf", *OPS, "-j", "1", "--layout", "hf")
    run(inp, tmp_path / "hf2", *OPS, "-j", "2", "--layout", "hf")
    tree, hf = tree_bytes(tmp_path / "tree"), tree_bytes(tmp_path / "hf")
    meta = "images/train/metadata.jsonl"  # inside the split folder: a split sees only its own metadata
    assert set(hf) - set(tree) == {meta}
    assert all(hf[k] == v for k, v in tree.items() if k != "manifest.jsonl")  # image and label bytes
    hf2 = tree_bytes(tmp_path / "hf2")
    assert hf2.pop("manifest.jsonl") and {k: v for k, v in hf.items() if k != "manifest.jsonl"} == hf2  # -j1 = -j2
    lines = hf[meta].decode().splitlines()
    assert lines == sorted(lines) and all(line.startswith('{"file_name": ') for line in lines)

    ds = load(tmp_path / "hf", tmp_path)
    assert list(ds) == ["train"]
    rows = ds["train"]
    images = sorted(k for k in tree if k.endswith(".png"))
    assert len(rows) == len(images) == 8
    for row, rel in zip(rows, images):
        assert Path(row["image"].filename).as_posix().endswith(rel)
        w, h = row["image"].size
        label = tmp_path / "tree" / rel.replace("images/", "labels/", 1).replace(".png", ".txt")
        want = yolo_pixels(label.read_text(), w, h) if label.exists() else []
        got = list(zip(row["objects"]["categories"], row["objects"]["bbox"]))
        assert len(got) == len(want), rel
        for (c1, b1), (c2, b2) in zip(got, want):
            assert c1 == c2 and b1 == pytest.approx(b2, abs=0.01 * max(w, h))
    assert sum(len(r["objects"]["bbox"]) for r in rows) == 6  # a: 2, b: 1, per copy


def test_hf_bucketed_shards_write_the_same_metadata_as_one_machine(tmp_path):
    inp = make_yolo(tmp_path / "in")
    run(inp, tmp_path / "one", *OPS, "--layout", "hf")
    for i in (1, 0):
        run(inp, tmp_path / "sharded", *OPS, "--layout", "hf", "--shard", f"{i}/2", "--buckets", "4")
    one, sharded = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "sharded")
    assert sharded["images/train/metadata.jsonl"] == one["images/train/metadata.jsonl"]
    assert {k: v for k, v in sharded.items() if k != "manifest.jsonl"} == \
        {k: v for k, v in one.items() if k != "manifest.jsonl"}
    assert len(load(tmp_path / "sharded", tmp_path)["train"]) == 8


def test_hf_classification_folders_are_the_labels(tmp_path):
    inp = tmp_path / "in"
    for i, cls in enumerate(("cats", "dogs", "owls")):
        (inp / cls).mkdir(parents=True)
        for j in range(2):
            pattern(40, 30, seed=3 * i + j).save(inp / cls / f"{j}.jpg", quality=90)
    run(inp, tmp_path / "tree", *OPS)
    run(inp, tmp_path / "hf", *OPS, "--layout", "hf")
    hf = tree_bytes(tmp_path / "hf")
    assert not any(k.endswith("metadata.jsonl") for k in hf)  # a metadata file would hide the class folders
    assert {k: v for k, v in hf.items() if k != "manifest.jsonl"} == \
        {k: v for k, v in tree_bytes(tmp_path / "tree").items() if k != "manifest.jsonl"}
    rows = load(tmp_path / "hf", tmp_path)["train"]
    assert len(rows) == 12
    assert rows.features["label"].names == ["cats", "dogs", "owls"]
    assert sorted(rows["label"]) == [0] * 4 + [1] * 4 + [2] * 4


def test_the_manifest_never_holds_the_objects_handed_to_the_sink(tmp_path):
    inp = make_yolo(tmp_path / "in")
    run(inp, tmp_path / "tree", *OPS)
    run(inp, tmp_path / "hf", *OPS, "--layout", "hf")
    for out in ("tree", "hf"):
        assert b"_objects" not in (tmp_path / out / "manifest.jsonl").read_bytes()


# --- --layout webdataset ---------------------------------------------------------------------------

wds = pytest.importorskip("webdataset")


def shards(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("shard-*.tar"))}


def read_samples(out: Path) -> list[dict]:
    urls = [str(p) for p in sorted(out.glob("shard-*.tar"))]
    return list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))


def classes(root: Path, n: int = 5) -> Path:
    for i, cls in enumerate(("cats", "dogs", "owls")):
        (root / cls).mkdir(parents=True)
        for j in range(n):
            pattern(40, 30, seed=7 * i + j).save(root / cls / f"im.{j}.png")  # a dot in the name
    return root


WFLAGS = (*OPS, "--layout", "webdataset", "--shard-size", "4", "--buckets", "3")


def test_webdataset_class_folders_read_back_with_webdataset(tmp_path):
    inp = classes(tmp_path / "in")
    run(inp, tmp_path / "tree", *OPS, "--buckets", "3")
    run(inp, tmp_path / "w1", *WFLAGS, "-j", "1")
    run(inp, tmp_path / "w2", *WFLAGS, "-j", "2")
    one = shards(tmp_path / "w1")
    assert one and shards(tmp_path / "w2") == one  # -j1 and -j2: byte-identical shards
    assert list(one) == [f"shard-{i:06d}.tar" for i in range(len(one))]
    assert not (tmp_path / "w1" / ".augcli" / "wds" / "stage").exists() or \
        not any(p.is_file() for p in (tmp_path / "w1" / ".augcli/wds/stage").rglob("*"))
    tree = {k: v for k, v in tree_bytes(tmp_path / "tree").items() if k.endswith(".png")}
    samples = read_samples(tmp_path / "w1")
    assert len(samples) == len(tree) == 30
    names = ["cats", "dogs", "owls"]
    for s in samples:
        rec = json.loads(s["json"])
        assert s["__key__"] == rec["output"].rsplit(".", 1)[0].replace("im.", "im_")
        assert s["png"] == tree[rec["output"]]  # the tree run's bytes
        assert names[int(s["cls"])] == rec["output"].split("/")[0]
    import tarfile

    with tarfile.open(tmp_path / "w1" / "shard-000000.tar") as tar:
        members = tar.getmembers()
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" and m.mode == 0o644 for m in members)
    # shards never hold more than --shard-size samples
    for name in one:
        with tarfile.open(tmp_path / "w1" / name) as tar:
            assert 0 < len({m.name.rsplit(".", 1)[0] for m in tar.getmembers()}) <= 4


def test_webdataset_shards_and_merge_equal_one_machine(tmp_path):
    inp = classes(tmp_path / "in")
    run(inp, tmp_path / "one", *WFLAGS)
    for i in (1, 0):
        run(inp, tmp_path / "sharded", *WFLAGS, "--shard", f"{i}/2")
    assert shards(tmp_path / "sharded") == shards(tmp_path / "one")


def test_webdataset_buckets_fit_the_shard_size_when_not_given(tmp_path):
    """Without --buckets, a webdataset run takes the fewest buckets that keep each within one
    --shard-size shard (with 256 buckets, 30 samples made 26 tars of one or two samples); the number
    is a function of the listing, so shards of a split run agree, and it is recorded."""
    inp = classes(tmp_path / "in")  # 15 sources x 2 copies
    flags = (*OPS, "--layout", "webdataset", "--shard-size", "8")
    run(inp, tmp_path / "one", *flags)
    one = shards(tmp_path / "one")
    sizes = []
    for name in one:
        with tarfile.open(tmp_path / "one" / name) as tar:
            sizes.append(len({m.name.rsplit(".", 1)[0] for m in tar.getmembers()}))
    assert sum(sizes) == 30 and max(sizes) <= 8 and 4 <= len(one) <= 7, sizes
    header = json.loads((tmp_path / "one" / "manifest.jsonl").read_text().splitlines()[0])
    buckets = header["config"]["buckets"]
    assert len(one) <= buckets <= 8  # an empty bucket has no shard
    for i in (1, 0):
        run(inp, tmp_path / "sharded", *flags, "--shard", f"{i}/2")
    assert shards(tmp_path / "sharded") == one
    run(inp, tmp_path / "given", *flags, "--buckets", str(buckets))
    assert shards(tmp_path / "given") == one


def test_webdataset_detection_json_holds_the_record_and_objects(tmp_path):
    inp = make_yolo(tmp_path / "in")
    run(inp, tmp_path / "hf", *OPS, "--layout", "hf")
    run(inp, tmp_path / "w", *OPS, "--layout", "webdataset")
    rows = {}
    for line in (tmp_path / "hf/images/train/metadata.jsonl").read_text().splitlines():
        row = json.loads(line)
        rows["images/train/" + row["file_name"]] = row["objects"]
    samples = read_samples(tmp_path / "w")
    assert len(samples) == len(rows) == 8 and all("cls" not in s for s in samples)
    for s in samples:
        rec = json.loads(s["json"])
        assert rec["objects"] == rows[rec["output"]] and rec["labels"]["format"].startswith("yolo")
        assert s["png"] == (tmp_path / "hf" / rec["output"]).read_bytes()


def test_webdataset_resumes_after_sigkill_mid_shard(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    inp = tmp_path / "in"
    (inp / "x").mkdir(parents=True)
    for i in range(40):
        pattern(300, 200, seed=i).save(inp / "x" / f"{i:02d}.png", compress_level=1)
    flags = ("--rotate", "30", "--zoom", "0.2", "-n", "3", "--seed", "5", "--layout", "webdataset",
             "--shard-size", "7", "--buckets", "1", "-j", "1")
    run(inp, tmp_path / "ref", *flags)
    reference = shards(tmp_path / "ref")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "augcli", "expand", inp, out, *flags], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    stage = out / ".augcli" / "wds" / "stage"
    while not (list(out.glob("shard-*.tar")) and stage.exists() and any(stage.rglob("*.png"))):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no shard appeared"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = shards(out)
    assert 0 < len(done) < len(reference)
    assert all(reference[name] == data for name, data in done.items())  # a visible shard is complete
    res = CliRunner().invoke(cli, ["expand", str(inp), str(out), *flags, "--on-exists", "skip", "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.JSONDecoder().raw_decode(res.output[res.output.index("{"):])[0]
    assert summary["skipped"] >= 7 * len(done)  # the complete shards' samples were not made again
    assert shards(out) == reference
    assert not any(p.is_file() for p in stage.rglob("*"))


def test_webdataset_resume_removes_what_a_killed_run_staged_for_a_written_shard(tmp_path):
    """A run killed after a shard was written but before its staged outputs were removed: the next
    run finds the shard complete and removes the staged copies (they were left forever before)."""
    inp = tmp_path / "in"
    (inp / "x").mkdir(parents=True)
    for i in range(6):
        pattern(60, 40, seed=i).save(inp / "x" / f"{i:02d}.png")
    flags = ("-n", "2", "--seed", "5", "--layout", "webdataset", "--shard-size", "4", "--buckets", "1", "-j", "1")
    run(inp, tmp_path / "out", *flags)
    reference = shards(tmp_path / "out")
    stage = tmp_path / "out" / ".augcli" / "wds" / "stage"
    with tarfile.open(tmp_path / "out" / "shard-000000.tar") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".png"))
        (stage / "x").mkdir(parents=True, exist_ok=True)
        (stage / member.name).write_bytes(tar.extractfile(member).read())
    for marker in (tmp_path / "out" / ".augcli" / "done").iterdir():  # killed before its bucket was done
        marker.unlink()
    run(inp, tmp_path / "out", *flags, "--on-exists", "skip")
    assert shards(tmp_path / "out") == reference
    assert not any(p.is_file() for p in stage.rglob("*"))


def test_hf_coco_objects_equal_the_output_coco_json_and_shards_agree(tmp_path):
    from .test_labels_coco import make as make_coco

    inp = make_coco(tmp_path / "in", n_images=3)
    run(inp, tmp_path / "one", *OPS, "--layout", "hf")
    for i in (1, 0):
        run(inp, tmp_path / "sharded", *OPS, "--layout", "hf", "--shard", f"{i}/2", "--buckets", "4")
    meta = (tmp_path / "one/train/metadata.jsonl").read_bytes()
    assert (tmp_path / "sharded/train/metadata.jsonl").read_bytes() == meta
    doc = json.loads((tmp_path / "one/annotations/instances_train.json").read_text())
    by_image: dict[str, list] = {}
    names = {im["id"]: Path(im["file_name"]).name for im in doc["images"]}
    for a in doc["annotations"]:
        by_image.setdefault(names[a["image_id"]], []).append(a)
    rows = load(tmp_path / "one", tmp_path)["train"]
    assert len(rows) == len(doc["images"]) == 6
    for row in rows:
        anns = by_image.get(Path(row["image"].filename).name, [])
        assert row["objects"]["categories"] == [a["category_id"] for a in anns]
        assert row["objects"]["bbox"] == [pytest.approx(a["bbox"], abs=0.001) for a in anns]


def test_merge_writes_the_hf_metadata_of_a_sharded_run(tmp_path):
    inp = make_yolo(tmp_path / "in")
    run(inp, tmp_path / "one", *OPS, "--layout", "hf")
    for i in (1, 0):
        run(inp, tmp_path / "sharded", *OPS, "--layout", "hf", "--shard", f"{i}/2", "--buckets", "4")
    meta = tmp_path / "sharded/images/train/metadata.jsonl"
    meta.unlink()
    res = CliRunner().invoke(cli, ["merge", str(tmp_path / "sharded")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert meta.read_bytes() == (tmp_path / "one/images/train/metadata.jsonl").read_bytes()


def test_layouts_on_dask_equal_the_local_engine(tmp_path):
    pytest.importorskip("distributed")
    inp = make_yolo(tmp_path / "in")
    flags = (*OPS, "--buckets", "3", "-j", "2")
    for layout in ("hf", "webdataset"):
        run(inp, tmp_path / f"local-{layout}", *flags, "--layout", layout, "--shard-size", "3")
        run(inp, tmp_path / f"dask-{layout}", *flags, "--layout", layout, "--shard-size", "3", "--executor", "dask")
        local, dask = tree_bytes(tmp_path / f"local-{layout}"), tree_bytes(tmp_path / f"dask-{layout}")
        local.pop("manifest.jsonl"), dask.pop("manifest.jsonl")
        assert dask == local
    assert shards(tmp_path / "dask-webdataset") and (tmp_path / "dask-hf/images/train/metadata.jsonl").exists()


def test_webdataset_a_source_that_cannot_be_read_leaves_its_samples_out_and_every_shard_written(tmp_path):
    inp = classes(tmp_path / "in", n=3)
    (inp / "dogs" / "broken.png").write_bytes(b"not an image")
    res = run(inp, tmp_path / "w", *WFLAGS, "--buckets", "1", expect=1)
    assert "broken.png" in res.output
    samples = read_samples(tmp_path / "w")
    assert len(samples) == 18  # 9 good sources, 2 copies each
    assert len(shards(tmp_path / "w")) == 5  # 20 planned outputs, 4 per shard: numbering has no gap
