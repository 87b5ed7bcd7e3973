"""Names and links from untrusted places never make augcli read outside INPUT_DIR or write outside
OUTPUT_DIR (issue 20): object-store keys with empty segments, symlinked dataset YAML and COCO JSON,
output folders linked into the input, path separators in --prefix / --mask-suffix, links out of the
input; credentials in chained URLs; terminal escapes in names; one unexpected failure per source.

Every test lists its whole tmp tree before and after, so a file written anywhere but the output
folder shows, and checks the input is unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import pattern

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def augcli(*args, env=None, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], capture_output=True, text=True,
                          env=env or ENV, cwd=cwd, timeout=timeout)


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``, links not followed: file bytes, link targets, folders."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = p.read_bytes()
    return out


def changed_outside(before: dict, after: dict, *inside: str) -> dict:
    """Entries of ``after`` that are new or changed and lie in none of the folders ``inside``."""
    return {k: v for k, v in after.items()
            if before.get(k) != v and not any(k == d or k.startswith(d + "/") for d in inside)}


# ---------------------------------------------------------------------------------------------------
# item 2: an object key with an empty segment


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    s3fs = pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'augcli[s3]')")
    moto_server = pytest.importorskip("moto.server", reason="moto[s3] with flask is not installed (test extra)")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "AKIAFAKEKEYPATHS0001",
           "AWS_SECRET_ACCESS_KEY": "fakeSecretPaths", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "AWS_EC2_METADATA_DISABLED": "true"}
    fs = s3fs.S3FileSystem(key=env["AWS_ACCESS_KEY_ID"], secret=env["AWS_SECRET_ACCESS_KEY"],
                           endpoint_url=env["AWS_ENDPOINT_URL"], skip_instance_cache=True)
    fs.mkdir("paths")
    yield fs, {**ENV, **env}
    server.stop()


def _png() -> bytes:
    import io

    buf = io.BytesIO()
    pattern(20, 16).save(buf, format="PNG")
    return buf.getvalue()


def test_an_s3_key_with_an_empty_segment_is_skipped_and_never_written_outside(s3, tmp_path):
    fs, env = s3
    victim = tmp_path / "victim"
    victim.mkdir()
    # "in//<abs path>/pwned.png": relative to the prefix "in/" the name is absolute
    fs.pipe_file(f"paths/in/ok.png", _png())
    fs.pipe_file(f"paths/in/{victim.as_posix()}/pwned.png".replace("/in/", "/in//", 1), _png())
    fs.pipe_file("paths/in/a/../dotdot.png", _png())
    fs.invalidate_cache()
    assert any("//" in k for k in fs.find("paths/in"))  # the store keeps the empty segment
    before = snapshot(tmp_path)
    res = augcli("expand", "s3://paths/in", tmp_path / "out", "--seed", "1", "-j", "1", "--json", env=env)
    after = snapshot(tmp_path)
    assert changed_outside(before, after, "out") == {}
    assert not list(victim.iterdir())
    assert "Traceback" not in res.stderr
    summary = json.loads(res.stdout)
    assert summary["written"] == 1 and summary["warnings"] == 2, res.stderr
    assert "object key with an empty path segment; skipped" in res.stderr
    assert "object key with a '.' or '..' segment; skipped" in res.stderr
    assert sorted(k for k in snapshot(tmp_path / "out") if not k.startswith(".augcli")) == \
        ["manifest.jsonl", "ok_0.png"]


def test_every_write_refuses_a_name_that_leaves_the_output(tmp_path):
    from augcli.safepaths import UnsafeOutputName
    from augcli.storage import LocalStore

    store = LocalStore(tmp_path / "out")
    for bad in ("/abs/x.png", "a//b.png", "../x.png", "a/./b.png", "", "a\0b"):
        with pytest.raises(UnsafeOutputName):
            store.write(bad, b"x", overwrite=True)
    assert store.write("a/b.png", b"x", overwrite=True) and (tmp_path / "out/a/b.png").read_bytes() == b"x"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["out", "out/a", "out/a/b.png"]


def test_a_job_with_an_absolute_output_name_fails_that_source_only(tmp_path):
    """The guard where writes happen holds even if a name slipped past the listing."""
    from augcli.config import RunConfig
    from augcli.run.discover import SourceJob
    from augcli.run.work import WorkContext, process_source

    src = tmp_path / "in"
    src.mkdir()
    pattern(20, 16).save(src / "x.png")
    target = tmp_path / "elsewhere" / "x_0.png"
    cfg = RunConfig(src, tmp_path / "out", seed=1)
    records = process_source(WorkContext(cfg, 1), SourceJob("x.png", ((0, target.as_posix()),), "png"))
    assert records[0]["status"] == "error" and "unsafe output name" in records[0]["error"]
    assert not target.exists() and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------
# item 5: --prefix and --mask-suffix are pieces of a file name


@pytest.mark.parametrize("flag,value", [("--prefix", "../../X"), ("--prefix", "a/b"), ("--prefix", "..\\x"),
                                        ("--prefix", "/abs"), ("--mask-suffix", "/../../../m"),
                                        ("--mask-suffix", "..")])
def test_a_separator_or_dotdot_in_a_name_flag_is_a_usage_error(tmp_path, flag, value):
    base = tmp_path / "d" / "e"
    src, gt = base / "in", base / "gt"
    src.mkdir(parents=True)
    (gt / "x").mkdir(parents=True)
    pattern(20, 16).save(src / "x.png")
    pattern(20, 16, "L").save(gt / "x.png")
    # gt/x/../../../m.png is d/m.png: the mask the suffix finds (its output would go to d/e/m.png)
    pattern(20, 16, "L", seed=5).save(tmp_path / "d" / "m.png")
    before = snapshot(tmp_path)
    res = augcli("expand", src, base / "out", "--seed", "1", "-j", "1", "--rotate", "20", flag, value,
                 *(["--masks", gt] if flag == "--mask-suffix" else []))
    assert res.returncode == 2, res.stderr
    assert flag in res.stderr and "Traceback" not in res.stderr
    assert snapshot(tmp_path) == before  # nothing written anywhere


def test_a_nul_in_the_prefix_is_refused_by_the_library(tmp_path):
    from augcli.config import RunConfig

    with pytest.raises(ValueError, match="--prefix"):
        RunConfig(tmp_path, tmp_path / "out", prefix="a\0b")
    assert RunConfig(tmp_path, tmp_path / "out", prefix="aug.v2").prefix == "aug.v2"


# ---------------------------------------------------------------------------------------------------
# item 3: the dataset YAML and COCO JSON are read only from inside INPUT_DIR

SECRET = "tok-7f3e9a1b-SECRET"


def _yolo_dataset(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    pattern(32, 24).save(root / "images" / "x.png")
    (root / "labels" / "x.txt").write_text("0 0.5 0.5 0.25 0.25\n")


def _coco(token: str) -> str:
    return json.dumps({"info": {"token": token}, "categories": [{"id": 1, "name": "a"}],
                       "images": [{"id": 1, "file_name": "x.png", "width": 32, "height": 24}],
                       "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 8, 8]}]})


def test_a_symlinked_data_yaml_pointing_outside_is_not_read_nor_copied(tmp_path):
    src = tmp_path / "in"
    _yolo_dataset(src)
    (tmp_path / "secret.yaml").write_text(f"names: [a]\ntoken: {SECRET}\n")
    os.symlink(tmp_path / "secret.yaml", src / "data.yaml")
    before = snapshot(tmp_path)
    res = augcli("expand", src, tmp_path / "out", "--seed", "1", "-j", "1", "--rotate", "10")
    after = snapshot(tmp_path)
    assert res.returncode == 0, res.stderr
    assert "data.yaml: resolves outside the input folder (a symbolic link); not read and not copied" in res.stderr
    assert changed_outside(before, after, "out") == {}
    assert not (tmp_path / "out" / "data.yaml").exists()
    assert (tmp_path / "out" / "labels" / "x_0.txt").exists()  # the labels still travel
    assert all(SECRET.encode() not in v for v in snapshot(tmp_path / "out").values() if isinstance(v, bytes))
    assert SECRET not in res.stderr + res.stdout


@pytest.mark.parametrize("where", ["annotations/instances_x.json", "x.json", "annotations-link"])
def test_a_symlinked_coco_json_pointing_outside_is_not_read_nor_copied(tmp_path, where):
    src = tmp_path / "in"
    src.mkdir()
    pattern(32, 24).save(src / "x.png")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "instances_x.json").write_text(_coco(SECRET))
    if where == "annotations-link":  # the whole annotations/ folder is a link out of the input
        os.symlink(outside, src / "annotations")
    else:
        (src / where).parent.mkdir(exist_ok=True)
        os.symlink(outside / "instances_x.json", src / where)
    before = snapshot(tmp_path)
    res = augcli("expand", src, tmp_path / "out", "--seed", "1", "-j", "1", "--rotate", "10")
    after = snapshot(tmp_path)
    assert res.returncode == 0, res.stderr
    assert "resolves outside the input folder (a symbolic link); not read and not copied" in res.stderr
    assert changed_outside(before, after, "out") == {}
    written = {k: v for k, v in snapshot(tmp_path / "out").items() if isinstance(v, bytes)}
    assert sorted(written) == ["manifest.jsonl", "x_0.png"]
    assert all(SECRET.encode() not in v for v in written.values())


def test_a_symlinked_data_yaml_inside_the_input_is_still_read(tmp_path):
    src = tmp_path / "in"
    _yolo_dataset(src)
    (src / "cfg").mkdir()
    (src / "cfg" / "real.yaml").write_text("names: [a]\n")
    os.symlink("cfg/real.yaml", src / "data.yaml")
    res = augcli("expand", src, tmp_path / "out", "--seed", "1", "-j", "1")
    assert res.returncode == 0 and "warning" not in res.stderr, res.stderr
    assert (tmp_path / "out" / "data.yaml").read_text() == "names: [a]\n"


# ---------------------------------------------------------------------------------------------------
# item 4: the COCO JSON (and the YAML) are never written through a folder linked into the input


def _coco_split(root: Path) -> None:
    (root / "annotations").mkdir(parents=True)
    (root / "train").mkdir()
    pattern(32, 24).save(root / "train" / "x.png")
    (root / "annotations" / "instances_train.json").write_text(_coco("original"))


@pytest.mark.parametrize("on_exists", ["skip", "overwrite", "error"])
def test_the_coco_json_is_not_written_through_an_output_folder_linked_into_the_input(tmp_path, on_exists):
    src = tmp_path / "in"
    _coco_split(src)
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(src / "annotations", out / "annotations")
    before = snapshot(tmp_path)
    res = augcli("expand", src, out, "--seed", "1", "-j", "1", "--on-exists", on_exists)
    assert res.returncode == 2, res.stderr
    assert "would land inside the input folder" in res.stderr and "Traceback" not in res.stderr
    assert snapshot(tmp_path) == before  # the input's JSON untouched, nothing written at all


def test_a_link_made_during_the_run_is_caught_when_the_coco_json_is_written(tmp_path):
    from augcli.run.places import write_run_file as _write_run_file

    src = tmp_path / "in"
    _coco_split(src)
    (tmp_path / "out").mkdir()
    os.symlink(src / "annotations", tmp_path / "out" / "annotations")
    before = snapshot(tmp_path)
    with pytest.raises(OSError, match="inside the input folder"):
        _write_run_file(tmp_path / "out" / "annotations" / "instances_train.json", b"{}", True, src.resolve())
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------------
# item 16: an unexpected failure ends one source, not a bucketed run


def _boom_on(monkeypatch, name: str) -> None:
    from augcli.run import work

    real = work.load_image

    def load(path, options):
        if os.fsdecode(path).endswith(name):
            raise RuntimeError("decoder bug")
        return real(path, options)

    monkeypatch.setattr(work, "load_image", load)


def _three(root: Path) -> Path:
    root.mkdir()
    for i, name in enumerate(("a.png", "boom.png", "c.png")):
        pattern(20, 16, seed=i).save(root / name)
    return root


def test_bucketed_in_process_run_contains_an_unexpected_failure(tmp_path, monkeypatch):
    from augcli.config import RunConfig
    from augcli.run.shard import Shard
    from augcli.runner import run

    _boom_on(monkeypatch, "boom.png")
    src = _three(tmp_path / "in")
    before = snapshot(tmp_path)
    summary = run(RunConfig(src, tmp_path / "out", seed=1, workers=1, shard=Shard(0, 1), buckets=1,
                            progress=False), report=lambda msg: None)
    assert [f["source"] for f in summary.failed] == ["boom.png"]
    assert "RuntimeError: decoder bug" in summary.failed[0]["error"]
    assert summary.written == 2
    assert changed_outside(before, snapshot(tmp_path), "out") == {}


def test_a_dask_bucket_task_contains_an_unexpected_failure(tmp_path, monkeypatch):
    from augcli.config import RunConfig
    from augcli.run.executors import BucketWork, run_bucket
    from augcli.manifest import header_line
    from augcli.run.discover import iter_jobs
    from augcli.run.work import WorkContext

    _boom_on(monkeypatch, "boom.png")
    src = _three(tmp_path / "in")
    cfg = RunConfig(src, tmp_path / "out", seed=1, buckets=1)
    outcome = run_bucket(WorkContext(cfg, 1), header_line(cfg, 1), BucketWork(0, tuple(iter_jobs(cfg))))
    assert outcome.done and outcome.written == 2
    assert [f["source"] for f in outcome.failed] == ["boom.png"]


# ---------------------------------------------------------------------------------------------------
# item 13: credentials in any part of a chained URL are never shown


def test_redact_removes_credentials_from_every_part_of_a_chained_url():
    from augcli.storage import redact

    assert redact("simplecache::s3://AKIAK:se/cr+et@bkt/x") == "simplecache::s3://bkt/x"
    assert redact("blockcache::gs://tok@b/p::s3://k:s@c/q") == "blockcache::gs://b/p::s3://c/q"
    assert redact("s3://AKIAK:secret@bkt/x") == "s3://bkt/x"
    assert redact("s3://bkt/x@y") == "s3://bkt/x@y"


def test_a_chained_url_with_credentials_never_shows_the_secret(tmp_path):
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'augcli[s3]')")
    env = {**ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}
    (tmp_path / "in").mkdir()
    before = snapshot(tmp_path)
    for args in (["simplecache::s3://AKIAKEYZ:SeCrEtZebra@no-bucket-zz/in", tmp_path / "out"],
                 [tmp_path / "in", "simplecache::s3://AKIAKEYZ:SeCrEtZebra@no-bucket-zz/out"]):
        res = augcli("expand", *args, "--seed", "1", env=env, timeout=180)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert "simplecache::s3://no-bucket-zz/" in res.stderr
        assert "SeCrEtZebra" not in res.stderr + res.stdout and "AKIAKEYZ" not in res.stderr + res.stdout
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------------
# item 14: no raw terminal escape reaches stderr


ESC_NAME = "a\x1b[2J\x1b]0;pwn\x07.png"


def test_a_sharded_run_escapes_names_and_errors_as_a_local_run_does(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pattern(20, 16).save(src / "ok.png")
    (src / ESC_NAME).write_bytes(b"not an image \x1b[31m at all")
    before = snapshot(tmp_path)
    local = augcli("expand", src, tmp_path / "out1", "--seed", "1", "-j", "1", "-q")
    for extra in (["--shard", "0/1"], ["--shard", "0/1", "-j", "2"]):
        res = augcli("expand", src, tmp_path / f"out{len(extra)}", "--seed", "1", "-j", "1", "-q", *extra)
        assert res.returncode == 1, res.stderr
        assert "\x1b" not in res.stderr and "\x07" not in res.stderr
        assert "a\\x1b[2J\\x1b]0;pwn\\x07.png: " in res.stderr
        assert res.stderr == local.stderr  # the same line a local run prints
    after = snapshot(tmp_path)
    assert changed_outside(before, after, "out1", "out2", "out4") == {}


def test_coco_duplicate_id_warnings_escape_the_ids_and_names(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pattern(32, 24).save(src / "x.png")
    pattern(32, 24, seed=1).save(src / "y\x1b[1m.png")
    ann = {"image_id": 1, "category_id": 1, "bbox": [4, 4, 8, 8]}
    data = {"categories": [{"id": 1, "name": "a"}],
            "images": [{"id": 1, "file_name": "x.png", "width": 32, "height": 24},
                       {"id": 2, "file_name": "../\x1b[5mz.png", "width": 32, "height": 24}],
            "annotations": [{**ann, "id": "\x1b]0;evil\x07"}, {**ann, "id": "\x1b]0;evil\x07"}]}
    (src / "c\x1b[7m.json").write_text(json.dumps(data))
    before = snapshot(tmp_path)
    res = augcli("expand", src, tmp_path / "out", "--seed", "1", "-j", "1")
    assert res.returncode == 0, res.stderr
    assert "annotation id \\x1b]0;evil\\x07 appears twice" in res.stderr
    assert "c\\x1b[7m.json: file_name '../\\x1b[5mz.png' points outside" in res.stderr
    assert "\x1b" not in res.stderr and "\x07" not in res.stderr
    assert changed_outside(before, snapshot(tmp_path), "out") == {}


# ---------------------------------------------------------------------------------------------------
# item 6: --follow-outside / --no-follow-outside


def _linked_out(tmp_path: Path, labels: bool) -> Path:
    """An input whose images/ holds a real image, a link to an image outside, a link to a folder
    outside and a link to an image inside; with ``labels``, a YOLO labels/ folder beside it."""
    src = tmp_path / "in"
    (src / "images").mkdir(parents=True)
    (src / "inner").mkdir()
    outside = tmp_path / "shared"
    (outside / "more").mkdir(parents=True)
    pattern(20, 16).save(src / "images" / "real.png")
    pattern(20, 16, seed=1).save(src / "inner" / "deep.png")
    pattern(20, 16, seed=2).save(outside / "far.png")
    pattern(20, 16, seed=3).save(outside / "more" / "m.png")
    os.symlink(outside / "far.png", src / "images" / "far.png")
    os.symlink(outside / "more", src / "images" / "more")
    os.symlink("../inner/deep.png", src / "images" / "alias.png")  # a link inside the input: followed
    if labels:
        (src / "labels" / "more").mkdir(parents=True)
        for stem in ("real", "far", "more/m"):
            (src / "labels" / f"{stem}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    return src


def _outputs(out: Path) -> list[str]:
    return sorted(k for k, v in snapshot(out).items() if isinstance(v, bytes) and k.endswith(".png"))


@pytest.mark.parametrize("labels,flag,follows", [
    (True, None, False), (False, None, True),
    (True, "--follow-outside", True), (False, "--no-follow-outside", False)])
def test_links_out_of_the_input_are_followed_only_when_asked(tmp_path, labels, flag, follows):
    src = _linked_out(tmp_path, labels)
    before = snapshot(tmp_path)
    res = augcli("expand", src, tmp_path / "out", "--seed", "1", "-j", "1", "--json", *([flag] if flag else []))
    assert res.returncode == 0, res.stderr
    after = snapshot(tmp_path)
    assert changed_outside(before, after, "out") == {}
    summary = json.loads(res.stdout)
    inside = ["images/alias_0.png", "images/real_0.png", "inner/deep_0.png"]
    if follows:
        assert _outputs(tmp_path / "out") == sorted(inside + ["images/far_0.png", "images/more/m_0.png"])
        assert "outside the input folder" not in res.stderr and summary["warnings"] == 0
    else:
        assert _outputs(tmp_path / "out") == inside
        lines = [ln for ln in res.stderr.splitlines() if "outside the input folder" in ln]
        assert lines == [
            f"augcli: images/far.png: warning: symbolic link to outside the input folder (to "
            f"{tmp_path / 'shared' / 'far.png'}), not followed (--follow-outside follows it)",
            f"augcli: images/more/: warning: symbolic link to outside the input folder (to "
            f"{tmp_path / 'shared' / 'more'}), not followed (--follow-outside follows it)"]
        assert summary["warnings"] == 2


def test_no_follow_outside_in_a_sharded_run(tmp_path):
    src = _linked_out(tmp_path, labels=False)
    res = augcli("expand", src, tmp_path / "out", "--seed", "1", "-j", "1", "--shard", "0/1",
                 "--no-follow-outside", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["warnings"] == 2
    assert _outputs(tmp_path / "out") == ["images/alias_0.png", "images/real_0.png", "inner/deep_0.png"]


def test_label_files_are_not_written_through_an_output_label_folder_linked_into_the_input(tmp_path):
    src = tmp_path / "in"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    pattern(32, 24).save(src / "images" / "x.png")
    (src / "labels" / "x.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(src / "labels", out / "labels")
    before = snapshot(tmp_path)
    res = augcli("expand", src, out, "--seed", "1", "-j", "1", "--on-exists", "overwrite")
    assert res.returncode == 2, res.stderr
    assert "label file" in res.stderr and "would land inside the input folder" in res.stderr
    assert snapshot(tmp_path) == before
