"""Labels to and from object storage (moto's S3 server on 127.0.0.1, as in test_storage): for YOLO
(detect, segment, pose, OBB with the dataset YAML), COCO, VOC and masks, s3 -> s3, s3 -> local and
local -> s3 give the same bytes, file by file, as a run between local folders into the same
relative paths; `--labels auto` on an s3:// input detects and carries the labels; a bad or oversized
label object is one file's error, never the run's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'augcli[s3]')")
pytest.importorskip("moto.server", reason="moto[s3] with flask is not installed (test extra)")

from .conftest import pattern, tree_bytes  # noqa: E402
from .test_engines import DATASETS, FLAGS  # noqa: E402
from .test_storage import BUCKET, augcli, objects, s3  # noqa: E402,F401

LABELLED = ["coco", "masks", "voc", "yolo-detect", "yolo-obb", "yolo-pose", "yolo-segment"]
# the YOLO variants differ in parsing only, which no direction changes: s3 -> s3 alone for them
ONE_WAY = ("yolo-obb", "yolo-pose", "yolo-segment")


def run(env, cwd: Path, *args, expect: int = 0) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], env=env, cwd=cwd, capture_output=True,
                         text=True, timeout=240)
    assert res.returncode == expect, res.stderr
    assert "Traceback" not in res.stderr
    return res


def same_files(got: dict[str, bytes], reference: dict[str, bytes], url_in: str, url_out: str) -> None:
    """Every file byte for byte; the manifest's records too, and its run line but for the folders."""
    assert sorted(got) == sorted(reference)
    for rel in reference:
        if rel != "manifest.jsonl":
            assert got[rel] == reference[rel], rel
    mine, theirs = got["manifest.jsonl"].decode().splitlines(), reference["manifest.jsonl"].decode().splitlines()
    assert mine[1:] == theirs[1:]
    h1, h2 = json.loads(mine[0]), json.loads(theirs[0])
    assert (h1["config"]["input_dir"], h1["config"]["output_dir"]) == (url_in, url_out)
    h1["config"].update(input_dir="in", output_dir="out")
    assert h1 == h2


@pytest.mark.parametrize("kind", LABELLED)
def test_labels_to_and_from_object_storage_equal_local_folders(s3, tmp_path, kind):
    _, fs, env = s3
    make, extra = DATASETS[kind]
    make(tmp_path / "in")
    run(env, tmp_path, "expand", "in", "out", *FLAGS, *extra, "-j", "2")
    reference = tree_bytes(tmp_path / "out")
    assert any(k.endswith((".txt", ".xml", ".json")) or k.startswith("masks/") for k in reference)
    shutil.rmtree(tmp_path / "out")
    fs.put(str(tmp_path / "in") + "/", f"{BUCKET}/{kind}/in/", recursive=True)
    url_in = f"s3://{BUCKET}/{kind}/in"

    # s3 -> s3
    url_out = f"s3://{BUCKET}/{kind}/s3/out"
    run(env, tmp_path, "expand", url_in, url_out, *FLAGS, *extra, "-j", "2")
    same_files(objects(fs, f"{kind}/s3/out"), reference, url_in, url_out)
    if kind in ONE_WAY:
        return

    # s3 -> local
    (tmp_path / "s3l").mkdir()
    run(env, tmp_path / "s3l", "expand", url_in, "out", *FLAGS, *extra, "-j", "1")
    same_files(tree_bytes(tmp_path / "s3l" / "out"), reference, url_in, "out")

    # local -> s3
    url_out = f"s3://{BUCKET}/{kind}/l2s/out"
    run(env, tmp_path, "expand", "in", url_out, *FLAGS, *extra, "-j", "2")
    same_files(objects(fs, f"{kind}/l2s/out"), reference, "in", url_out)


def test_coco_of_sharded_s3_runs_is_written_once_and_equals_local(s3, tmp_path):
    _, fs, env = s3
    make, extra = DATASETS["coco"]
    make(tmp_path / "in")
    run(env, tmp_path, "expand", "in", "out", *FLAGS, *extra, "-j", "1")
    reference = tree_bytes(tmp_path / "out")
    fs.put(str(tmp_path / "in") + "/", f"{BUCKET}/coco-shards/in/", recursive=True)
    url_in, url_out = f"s3://{BUCKET}/coco-shards/in", f"s3://{BUCKET}/coco-shards/x/out"
    for i in range(3):
        run(env, tmp_path, "expand", url_in, url_out, *FLAGS, *extra, "--shard", f"{i}/3", "-j", "1")
    same_files(objects(fs, "coco-shards/x/out"), reference, url_in, url_out)
    # `augcli merge` writes it too, reading the input's annotations from object storage
    fs.rm_file(f"{BUCKET}/coco-shards/x/out/annotations/instances_train.json")
    res = run(env, tmp_path, "merge", url_out)
    assert "COCO" not in res.stderr, res.stderr
    same_files(objects(fs, "coco-shards/x/out"), reference, url_in, url_out)


def _yolo_on_s3(fs, prefix: str, label: bytes) -> None:
    for i in range(3):
        data = __import__("io").BytesIO()
        pattern(30 + i, 20, seed=i).save(data, "PNG")
        fs.pipe_file(f"{BUCKET}/{prefix}/images/a{i}.png", data.getvalue())
    fs.pipe_file(f"{BUCKET}/{prefix}/labels/a0.txt", b"0 0.5 0.5 0.2 0.2\n")
    fs.pipe_file(f"{BUCKET}/{prefix}/labels/a1.txt", label)
    fs.pipe_file(f"{BUCKET}/{prefix}/data.yaml", b"names: [cat]\n")


def test_labels_auto_on_an_s3_input_detects_and_carries_them(s3, tmp_path):
    # --labels auto used to skip detection on an s3:// input and write the images alone, silently
    _, fs, env = s3
    _yolo_on_s3(fs, "auto", b"0 0.4 0.4 0.2 0.2\n")
    res = run(env, tmp_path, "expand", f"s3://{BUCKET}/auto", f"s3://{BUCKET}/auto-out", "--seed", "1", "--hflip",
              "-n", "1")
    assert "augcli: labels: yolo" in res.stderr, res.stderr
    got = objects(fs, "auto-out")
    assert {"labels/a0_0.txt", "labels/a1_0.txt", "data.yaml"} <= set(got), sorted(got)
    assert "labels/a2_0.txt" not in got and "images/a2_0.png" in got  # a2 has no label file
    assert got["labels/a0_0.txt"].startswith(b"0 0.5")  # flipped about the centre: still centred
    assert not any(k.startswith("labels/") and k.endswith(".png") for k in got)  # no label folder as images
    # an output expanded again: its hidden bookkeeping (.augcli/*.json) is not a label file
    res = run(env, tmp_path, "expand", f"s3://{BUCKET}/auto-out", f"s3://{BUCKET}/again", "--seed", "1")
    again = objects(fs, "again")
    assert "labels/a0_0_0.txt" in again and "images/a0_0_0.png" in again, sorted(again)


def test_a_bad_or_oversized_label_object_fails_its_source_alone(s3, tmp_path):
    from augcli.labels.yolo import MAX_LABEL_BYTES

    _, fs, env = s3
    _yolo_on_s3(fs, "big", b"0 " + b"0.1 " * (MAX_LABEL_BYTES // 4 + 1) + b"\n")
    res = run(env, tmp_path, "expand", f"s3://{BUCKET}/big", f"s3://{BUCKET}/big-out", "--seed", "1", "--hflip",
              "-n", "1", expect=1)
    assert f"labels/a1.txt: larger than {MAX_LABEL_BYTES} bytes" in res.stderr, res.stderr
    got = objects(fs, "big-out")
    assert "images/a0_0.png" in got and "labels/a0_0.txt" in got and "images/a2_0.png" in got
    assert "images/a1_0.png" not in got and "labels/a1_0.txt" not in got
    _yolo_on_s3(fs, "bad", b"0 0.5 nan 0.2\n")
    res = run(env, tmp_path, "expand", f"s3://{BUCKET}/bad", f"s3://{BUCKET}/bad-out", "--seed", "1", "-n", "1",
              expect=1)
    assert "labels/a1.txt" in res.stderr and "images/a1_0.png" not in objects(fs, "bad-out")


def test_dask_workers_carry_masks_from_and_to_object_storage(s3, tmp_path):
    pytest.importorskip("distributed", reason="Dask is not installed (pip install 'augcli[dask]')")
    _, fs, env = s3
    make, extra = DATASETS["masks"]
    make(tmp_path / "in")
    run(env, tmp_path, "expand", "in", "out", *FLAGS, *extra, "-j", "1")
    reference = tree_bytes(tmp_path / "out")
    fs.put(str(tmp_path / "in") + "/", f"{BUCKET}/dask-masks/in/", recursive=True)
    url_in, url_out = f"s3://{BUCKET}/dask-masks/in", f"s3://{BUCKET}/dask-masks/x/out"
    run(env, tmp_path, "expand", url_in, url_out, *FLAGS, *extra, "--executor", "dask", "-j", "2")
    same_files(objects(fs, "dask-masks/x/out"), reference, url_in, url_out)


def test_dry_run_and_existing_label_objects_on_an_s3_output(s3, tmp_path):
    _, fs, env = s3
    _yolo_on_s3(fs, "plan", b"0 0.4 0.4 0.2 0.2\n")
    url_in, url_out = f"s3://{BUCKET}/plan", f"s3://{BUCKET}/plan-out"
    res = run(env, tmp_path, "expand", url_in, url_out, "--seed", "1", "-n", "1", "--dry-run")
    listed = set(res.stdout.split())
    assert {"labels/a0_0.txt", "labels/a1_0.txt", "images/a0_0.png", "data.yaml"} <= listed, res.stdout
    assert not objects(fs, "plan-out", bookkeeping=True)
    # a label object already there: --on-exists error refuses before anything is written
    fs.pipe_file(f"{BUCKET}/plan-out/labels/a1_0.txt", b"1 0.5 0.5 0.1 0.1\n")
    res = run(env, tmp_path, "expand", url_in, url_out, "--seed", "1", "-n", "1", expect=2)
    assert "labels/a1_0.txt" in res.stderr and "already exist" in res.stderr, res.stderr
    assert set(objects(fs, "plan-out", bookkeeping=True)) == {"labels/a1_0.txt"}


def test_mask_samples_are_the_images_the_scan_decodes(tmp_path):
    # only these are copied into the mirror with their bytes; they must be exactly what the walk samples
    from augcli.labels import layouts as LY
    from augcli.run.mirror import mask_samples

    files = ["images/a.png", "masks/z.png", "masks/b.txt", "masks/sub/a.png", "masks/sub/c.png", "masks/A.png",
             "masks/sub/deeper/q.png", "train/trainannot/x.png", "train/trainannot/0/y.png", "train/x.png",
             "photos/a.png", "gt/readme.md"]
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    expected = set()
    for folder in ("masks", "train/trainannot", "gt"):
        expected.update(f"{folder}/{rel}" for rel in LY._peek(str(tmp_path / folder))[1][:LY.SAMPLE_MASKS])
    assert mask_samples(sorted(files)) == expected
    assert expected >= {"masks/A.png", "masks/z.png", "masks/sub/a.png", "train/trainannot/x.png"}
    assert "masks/sub/c.png" not in expected


@pytest.mark.parametrize("layout", ["hf", "webdataset"])
def test_other_layouts_carry_labels_to_object_storage(s3, tmp_path, layout):
    _, fs, env = s3
    make, extra = DATASETS["yolo-detect"]
    make(tmp_path / "in")
    run(env, tmp_path, "expand", "in", "out", *FLAGS, *extra, "--layout", layout, "-j", "1")
    reference = tree_bytes(tmp_path / "out")
    assert "data.yaml" in reference and any(k.startswith("labels/") for k in reference)
    url_out = f"s3://{BUCKET}/{layout}/out"
    run(env, tmp_path, "expand", "in", url_out, *FLAGS, *extra, "--layout", layout, "-j", "1")
    same_files(objects(fs, f"{layout}/out"), reference, "in", url_out)


def test_an_oversized_dataset_yaml_on_s3_is_refused_as_locally(s3, tmp_path):
    from augcli.labels.dataset_yaml import MAX_YAML_BYTES

    _, fs, env = s3
    _yolo_on_s3(fs, "bigyaml", b"0 0.4 0.4 0.2 0.2\n")
    fs.pipe_file(f"{BUCKET}/bigyaml/data.yaml", b"names: [cat]\n" + b"#" * MAX_YAML_BYTES)
    res = run(env, tmp_path, "expand", f"s3://{BUCKET}/bigyaml", f"s3://{BUCKET}/bigyaml-out", "--seed", "1",
              expect=2)
    assert f"data.yaml: dataset YAML larger than {MAX_YAML_BYTES} bytes; refused" in res.stderr, res.stderr
    assert not objects(fs, "bigyaml-out", bookkeeping=True)


def test_the_listing_sizes_stay_in_the_parent():
    # they serve the label mirror; a store shipped to every worker (WorkContext, LabelSetup) leaves them out
    import pickle

    import fsspec

    from augcli.storage import open_store

    fsspec.filesystem("memory").pipe_file("/sizes-test/a/b.txt", b"12345")
    store = open_store("memory://sizes-test")
    assert store.find() == ["a/b.txt"] and store.sizes == {"a/b.txt": 5}
    shipped = pickle.loads(pickle.dumps(store))
    assert shipped.sizes == {} and shipped.read("a/b.txt") == b"12345"


def test_absolute_yaml_paths_into_a_local_input_become_the_output_url(s3, tmp_path):
    _, fs, env = s3
    make, extra = DATASETS["yolo-detect"]
    make(tmp_path / "in")
    root = (tmp_path / "in").resolve()
    (root / "data.yaml").write_text(f"path: {root}\ntrain: {root}/images/train\nval: images/train\n"
                                    "names: [cat, dog]\n")
    url_out = f"s3://{BUCKET}/yamlurl/out"
    run(env, tmp_path, "expand", "in", url_out, "--seed", "1", "-n", "1")
    import yaml

    got = yaml.safe_load(objects(fs, "yamlurl/out")["data.yaml"])
    assert got == {"path": url_out, "train": f"{url_out}/images/train", "val": "images/train", "names": ["cat", "dog"]}
