"""Object storage through fsspec, against a real S3-compatible server started here: moto's
ThreadedMotoServer on 127.0.0.1 (the clients reach it through AWS_ENDPOINT_URL; nothing else is
contacted). Sharded s3:// in -> s3:// out equals local in -> local out; a killed writer leaves no
partial object; --on-exists error refuses before writing; skip lists instead of asking per output;
credentials never appear anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

s3fs = pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'augcli[s3]')")
moto_server = pytest.importorskip("moto.server", reason="moto[s3] with flask is not installed (test extra)")

from augcli.storage import redact  # noqa: E402

from .conftest import pattern, tree_bytes  # noqa: E402
from .test_shards import FLAGS, make_input, reference  # noqa: E402,F401

KEY_ID = "AKIAFAKEKEYZZ9Q7XW42"
SECRET = "fakeSecret+Zebra/Quokka+9d8f7g6h5j4k3l2"
BUCKET = "augtest"


class CountingMotoServer(moto_server.ThreadedMotoServer):
    """moto's threaded server, counting requests (method, listing or not)."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.requests: Counter = Counter()

    def _server_entry(self) -> None:
        from werkzeug.serving import make_server

        app = moto_server.DomainDispatcherApplication(moto_server.create_backend_app)

        def counting(environ, start_response):
            path = environ.get("PATH_INFO", "")
            if "list-type" in environ.get("QUERY_STRING", "") or path.count("/") <= 1:
                kind = "list"
            elif "/.augcli/" in path or path.endswith("/manifest.jsonl"):
                kind = "bookkeeping"
            else:
                kind = "image"
            self.requests[(environ["REQUEST_METHOD"], kind)] += 1
            return app(environ, start_response)

        self._server = make_server(self._ip_address, self._port, counting, True,
                                   request_handler=moto_server.MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = CountingMotoServer()
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    # moto keeps its buckets in the process: a module that ran before left them (start empty)
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"),
                           timeout=30).close()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": KEY_ID,
           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "AWS_EC2_METADATA_DISABLED": "true"}
    fs = s3fs.S3FileSystem(key=KEY_ID, secret=SECRET, endpoint_url=env["AWS_ENDPOINT_URL"],
                           skip_instance_cache=True)
    fs.mkdir(BUCKET)
    local = make_input(tmp_path_factory.mktemp("s3in") / "in")
    fs.put(str(local) + "/", f"{BUCKET}/in/", recursive=True)
    yield server, fs, {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env}
    server.stop()


def augcli(env, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout)


def objects(fs, prefix: str, bookkeeping: bool = False) -> dict[str, bytes]:
    fs.invalidate_cache()
    keys = fs.find(f"{BUCKET}/{prefix}", detail=False)
    start = len(f"{BUCKET}/{prefix}/")
    return {k[start:]: fs.cat_file(k) for k in sorted(keys) if bookkeeping or "/.augcli/" not in k}


def same_as_local(got: dict[str, bytes], reference: dict[str, bytes], url_in: str, url_out: str) -> None:  # noqa: F811
    assert got.keys() == reference.keys()
    assert all(got[k] == reference[k] for k in got if k != "manifest.jsonl")
    mine, theirs = got["manifest.jsonl"].decode().splitlines(), reference["manifest.jsonl"].decode().splitlines()
    assert mine[1:] == theirs[1:]  # every record, byte for byte
    h1, h2 = json.loads(mine[0]), json.loads(theirs[0])
    assert (h1["config"]["input_dir"], h1["config"]["output_dir"]) == (url_in, url_out)
    h1["config"].update(input_dir="in", output_dir="out")
    assert h1 == h2  # the rest of the recipe too


def test_sharded_s3_to_s3_equals_local(s3, reference):  # noqa: F811
    server, fs, env = s3
    url_in, url_out = f"s3://{BUCKET}/in", f"s3://{BUCKET}/sharded"
    runs = [augcli(env, "expand", url_in, url_out, *FLAGS, "--shard", f"{i}/3", "-j", "1") for i in range(3)]
    assert sorted(r.returncode for r in runs) == [0, 0, 1], [r.stderr for r in runs]
    same_as_local(objects(fs, "sharded"), reference, url_in, url_out)
    assert len(objects(fs, "sharded/.augcli/done", bookkeeping=True)) == 16
    res = augcli(env, "merge", url_out)
    assert res.returncode == 0 and "unchanged" in res.stderr, res.stderr
    for r in runs + [res]:
        assert KEY_ID not in r.stdout + r.stderr and SECRET not in r.stdout + r.stderr
    for name, data in objects(fs, "sharded", bookkeeping=True).items():  # manifest, parts, markers, stats
        assert KEY_ID.encode() not in data and SECRET.encode() not in data, name


def test_s3_to_local_and_local_to_s3(s3, reference, tmp_path, monkeypatch):  # noqa: F811
    server, fs, env = s3
    monkeypatch.chdir(tmp_path)
    res = subprocess.run([sys.executable, "-m", "augcli", "expand", f"s3://{BUCKET}/in", "out", *FLAGS, "-j", "1"],
                       env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    got = tree_bytes(tmp_path / "out")
    same_as_local({**got}, reference, f"s3://{BUCKET}/in", "out")
    make_input(tmp_path / "in")
    res = subprocess.run([sys.executable, "-m", "augcli", "expand", "in", f"s3://{BUCKET}/fromlocal", *FLAGS, "-j", "1"],
                         env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    same_as_local(objects(fs, "fromlocal"), reference, "in", f"s3://{BUCKET}/fromlocal")


def test_on_exists_error_on_an_existing_key_refuses_before_writing(s3):
    server, fs, env = s3
    fs.pipe_file(f"{BUCKET}/err/cats/x_1.png", b"already here")
    res = augcli(env, "expand", f"s3://{BUCKET}/in", f"s3://{BUCKET}/err", *FLAGS)
    assert res.returncode == 2 and "already exist" in res.stderr and "Traceback" not in res.stderr
    assert objects(fs, "err", bookkeeping=True) == {"cats/x_1.png": b"already here"}


def test_skip_lists_once_instead_of_asking_per_output(s3, reference):  # noqa: F811
    server, fs, env = s3
    url_out = f"s3://{BUCKET}/skip"
    assert augcli(env, "expand", f"s3://{BUCKET}/in", url_out, *FLAGS, "-j", "1").returncode == 1
    before = objects(fs, "skip")
    fs.rm(f"{BUCKET}/skip/.augcli/done", recursive=True)  # every bucket must be looked at again
    fs.rm_file(f"{BUCKET}/skip/top_1.png")
    server.requests.clear()
    res = augcli(env, "expand", f"s3://{BUCKET}/in", url_out, *FLAGS, "-j", "1", "--on-exists", "skip", "--json")
    assert res.returncode == 1, res.stderr
    summary = json.loads(res.stdout)
    assert summary["written"] == 1 and summary["skipped"] == 35
    # no output (nor source) is asked for: the output prefix is listed instead; the sources are
    # read with one GET each; the bookkeeping costs a few requests per bucket, never per output
    assert server.requests[("HEAD", "image")] == 0, server.requests
    assert server.requests[("GET", "image")] == 13 and server.requests[("PUT", "image")] == 1, server.requests
    assert server.requests[("GET", "list")] <= 8, server.requests
    assert objects(fs, "skip") == before


def test_a_writer_killed_mid_run_leaves_only_whole_objects(s3, tmp_path):
    server, fs, env = s3
    src = tmp_path / "big"
    for i in range(16):
        pattern(200, 150, "RGB", seed=i).save(src / f"i{i:02d}.png" if src.exists() else _mk(src, i), compress_level=1)
    fs.put(str(src) + "/", f"{BUCKET}/big/", recursive=True)
    flags = ["-n", "2", "--rotate", "30", "--seed", "4", "-q", "--buckets", "4"]
    ref = augcli(env, "expand", src, tmp_path / "ref", *flags, "-j", "1")
    assert ref.returncode == 0, ref.stderr
    reference = tree_bytes(tmp_path / "ref")
    proc = subprocess.Popen([sys.executable, "-m", "augcli", "expand", f"s3://{BUCKET}/big", f"s3://{BUCKET}/bigout",
                             *flags, "-j", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while True:  # bounded: one listing every 50 ms for at most 60 s
        fs.invalidate_cache()
        if len(fs.find(f"{BUCKET}/bigout", detail=False)) >= 5:
            break
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    got = objects(fs, "bigout")
    assert 0 < len(got) < len(reference) - 1
    for name, data in got.items():
        assert data == reference[name], f"{name} is not whole"
    res = augcli(env, "expand", f"s3://{BUCKET}/big", f"s3://{BUCKET}/bigout", *flags, "-j", "2",
                 "--on-exists", "skip")
    assert res.returncode == 0, res.stderr
    final = objects(fs, "bigout")
    assert {k: v for k, v in final.items() if k != "manifest.jsonl"} == \
        {k: v for k, v in reference.items() if k != "manifest.jsonl"}


def _mk(folder: Path, i: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"i{i:02d}.png"


def test_errors_name_the_place_but_never_the_credentials(s3):
    server, fs, env = s3
    res = augcli(env, "expand", f"s3://{BUCKET}/nothing-here", f"s3://{BUCKET}/o2", "--seed", "1")
    assert res.returncode == 2 and "does not exist" in res.stderr and "Traceback" not in res.stderr
    res = augcli(env, "expand", "s3://no-such-bucket-xyz/in", f"s3://{BUCKET}/o3", "--seed", "1")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    for r in (res,):
        assert KEY_ID not in r.stderr and SECRET not in r.stderr
    res = augcli(env, "expand", f"s3://{BUCKET}/in", "s3://no-such-bucket-xyz/out", "--seed", "1")
    assert res.returncode == 2 and "does not exist or cannot be reached" in res.stderr, res.stderr
    assert KEY_ID not in res.stderr and SECRET not in res.stderr
    assert redact(f"s3://{KEY_ID}:{SECRET}@bkt/x") == "s3://bkt/x"
    assert redact("s3://bkt/x@y") == "s3://bkt/x@y"


def test_dask_workers_read_and_write_s3(s3, reference):  # noqa: F811
    pytest.importorskip("distributed", reason="Dask is not installed (pip install 'augcli[dask]')")
    server, fs, env = s3
    url_in, url_out = f"s3://{BUCKET}/in", f"s3://{BUCKET}/dask"
    res = augcli(env, "expand", url_in, url_out, *FLAGS, "--executor", "dask", "-j", "2", timeout=180)
    assert res.returncode == 1, res.stderr
    same_as_local(objects(fs, "dask"), reference, url_in, url_out)


def test_tile_from_s3_equals_tile_from_local(s3, tmp_path):
    """augcli tile names the tiles of object-storage sources from their fetched headers."""
    server, fs, env = s3
    fs.get(f"{BUCKET}/in/", str(tmp_path / "in") + "/", recursive=True)
    tile = ["--size", "12x8", "--overlap", "0.25", "-j", "2"]
    local = augcli({**env}, "tile", tmp_path / "in", tmp_path / "local", *tile)
    remote = augcli(env, "tile", f"s3://{BUCKET}/in", tmp_path / "remote", *tile)
    assert local.returncode == remote.returncode == 1, remote.stderr  # the broken file, reported
    assert "cats/broken.png" in remote.stderr and "Traceback" not in remote.stderr
    one, two = tree_bytes(tmp_path / "local"), tree_bytes(tmp_path / "remote")
    assert one.pop("manifest.jsonl").splitlines()[1:] == two.pop("manifest.jsonl").splitlines()[1:]
    assert one == two and len(one) > 40 and "cats/deep/z_x0_y0.png" in one
