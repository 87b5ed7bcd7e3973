"""Hostile label files, manifests' neighbours and sources: each must end quickly, in bounded memory,
with one clear line naming the file (never a traceback, a hang or a huge allocation).

Every run is a subprocess with a timeout (a hang fails the test instead of stalling it) and an
address-space limit (an allocation the file chooses fails the test as a traceback or a wrong
message instead of swapping the machine)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from augcli.labels import coco as C
from augcli.labels import rle as RLE

from .conftest import pattern

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
MEMORY = 1536 << 20  # address space of each run: far above what a small run needs


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def augcli(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], env=ENV, capture_output=True, text=True,
                         timeout=timeout, preexec_fn=_limit)
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    return res


def python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_limit)


def coco(root: Path, anns: list[dict], size=(64, 48), **top) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "train").mkdir()
    pattern(*size).save(root / "train/a.png")
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": size[0], "height": size[1]}],
           "annotations": anns, "categories": [{"id": 1, "name": "thing"}], **top}
    (root / "annotations/instances_train.json").write_text(json.dumps(doc))
    return root


def yolo(root: Path, label: str | bytes, yaml_text: str = "names: [a, b]\n", size=(64, 48)) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    pattern(*size).save(root / "images/a.png")
    path = root / "labels/a.txt"
    path.write_bytes(label if isinstance(label, bytes) else label.encode())
    (root / "data.yaml").write_text(yaml_text)
    return root


def one_line(res: subprocess.CompletedProcess, text: str) -> str:
    lines = [line for line in res.stderr.splitlines() if text in line]
    assert lines, res.stderr[-3000:]
    assert all(line.startswith(("augcli: ", "Error: ")) and len(line) < 400 for line in lines), lines
    return lines[0]


# --- 7: special files where a small file is expected ------------------------------------------------


def test_a_fifo_as_coco_json_is_refused_not_waited_on(tmp_path):
    inp = coco(tmp_path / "in", [])
    os.mkfifo(inp / "annotations/x.json")
    res = augcli("expand", inp, tmp_path / "out", "-n", "1", timeout=30)
    assert res.returncode == 2
    assert "annotations/x.json: not a regular file" in one_line(res, "x.json")


@pytest.mark.parametrize("command", ["expand", "stats"])
def test_dev_zero_as_coco_json_is_refused_not_read(tmp_path, command):
    inp = coco(tmp_path / "in", [])
    (inp / "annotations/x.json").symlink_to("/dev/zero")  # a link out of the input: never read
    args = [tmp_path / "out", "-n", "1"] if command == "expand" else []
    res = augcli(command, inp, *args, timeout=30)
    assert "x.json: resolves outside the input folder" in one_line(res, "x.json")
    if command == "expand":
        assert res.returncode == 0 and (tmp_path / "out/train/a_0.png").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
@pytest.mark.parametrize("command", ["expand", "stats"])
def test_a_device_node_as_coco_json_is_refused_not_read(tmp_path, command):
    import stat

    inp = coco(tmp_path / "in", [])
    try:
        os.mknod(inp / "annotations/x.json", stat.S_IFCHR | 0o444, os.makedev(1, 5))  # /dev/zero's numbers
    except OSError as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    args = [tmp_path / "out", "-n", "1"] if command == "expand" else []
    res = augcli(command, inp, *args, timeout=30)
    assert res.returncode == 2
    assert "not a regular file" in one_line(res, "x.json")


def test_special_label_file_and_dataset_yaml_are_refused(tmp_path):
    inp = yolo(tmp_path / "in", "0 0.5 0.5 0.2 0.2\n")
    (inp / "labels/a.txt").unlink()
    os.mkfifo(inp / "labels/a.txt")  # (a link to /dev/zero is refused as leaving the input)
    res = augcli("expand", inp, tmp_path / "out", "-n", "1", "-j", "1", timeout=30)
    assert res.returncode == 1
    assert "labels/a.txt: not a regular file" in one_line(res, "a.txt")
    # detection passes over a YAML that is not a regular file; read anyway, it is refused, not waited on
    os.mkfifo(tmp_path / "fifo.yaml")
    res = python("from pathlib import Path\nfrom augcli.labels.dataset_yaml import read_yaml\n"
                 f"read_yaml(Path({str(tmp_path / 'fifo.yaml')!r}), 'fifo.yaml')\n", timeout=30)
    assert "UsageError: fifo.yaml: cannot read the dataset YAML: not a regular file" in res.stderr


# --- 8: YAML ------------------------------------------------------------------------------------------


def test_deep_yaml_beside_the_data_yaml_is_a_warning_and_as_data_yaml_an_error(tmp_path):
    inp = yolo(tmp_path / "in", "0 0.5 0.5 0.2 0.2\n")
    (inp / "notes.yaml").write_text("names: " + "[" * 20000 + "]" * 20000 + "\n")  # 40 KB
    res = augcli("expand", inp, tmp_path / "out", "-n", "1")
    assert res.returncode == 0, res.stderr
    assert "warning: notes.yaml: YAML nested deeper than 64; refused; ignored" in one_line(res, "notes.yaml")
    (inp / "data.yaml").write_text("names: " + "[" * 20000 + "]" * 20000 + "\n")
    res = augcli("expand", inp, tmp_path / "out2", "-n", "1")
    assert res.returncode == 2
    assert "data.yaml: YAML nested deeper than 64" in one_line(res, "data.yaml")


def test_alias_bomb_in_kpt_shape_is_refused_quickly(tmp_path):
    levels = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "names: [a]\n" + "\n".join(levels) + "\nkpt_shape: *a8\n"
    assert len(text) < 700
    inp = yolo(tmp_path / "in", "0 0.5 0.5 0.2 0.2\n", text)
    res = augcli("expand", inp, tmp_path / "out", "-n", "1", timeout=30)
    assert res.returncode == 2
    assert "more than 1000000 values (aliases expanded)" in one_line(res, "data.yaml")
    # a smaller bomb passes the YAML limits; its kpt_shape message stays short
    text = "names: [a]\n" + "\n".join(levels[:5]) + "\nkpt_shape: *a4\n"
    (inp / "data.yaml").write_text(text)
    res = augcli("expand", inp, tmp_path / "out2", "-n", "1", timeout=30)
    assert res.returncode == 2
    assert "kpt_shape must be [K, 2] or [K, 3]" in one_line(res, "kpt_shape")


@pytest.mark.parametrize("shape", ["[1000000000, 2]", "[true, 2]", "[1e9, 2]", "[1001, 3]"])
def test_kpt_shape_must_be_small_whole_numbers(tmp_path, shape):
    inp = yolo(tmp_path / "in", "0 0.5 0.5 0.2 0.2\n", f"names: [a]\nkpt_shape: {shape}\nflip_idx: [1, 0]\n")
    res = augcli("expand", inp, tmp_path / "out", "-n", "1", timeout=30)
    assert res.returncode == 2
    assert "kpt_shape must be [K, 2] or [K, 3] with K from 1 to 1000" in one_line(res, "kpt_shape")


# --- 9: COCO ------------------------------------------------------------------------------------------


def test_rle_size_is_checked_against_the_image_before_decoding(tmp_path):
    big = {"size": [30000, 30000], "counts": [0, 30000 * 30000]}
    inp = coco(tmp_path / "in", [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": big}])
    res = augcli("expand", inp, tmp_path / "out", "-n", "1", "-j", "1")
    assert res.returncode == 1
    assert "annotation 1: RLE size 30000x30000, image is 64x48" in one_line(res, "RLE")


def test_compressed_rle_decoding_is_linear_and_refuses_endless_counts():
    code = ("from augcli.labels import rle as RLE\n"
            "try:\n    RLE.rle_decode_string('o' * 4_000_000 + '0')\n"
            "except ValueError as e:\n    print(e)\n")
    res = python(code, timeout=30)
    assert res.stdout.strip() == "a count longer than 12 characters", res.stderr


def test_compressed_rle_matches_pycocotools_on_a_large_mask():
    mask_api = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(3)
    for shape in ((1, 1), (7, 3), (600, 800)):
        m = (rng.random(shape) < 0.3).astype(np.uint8)
        m[: shape[0] // 2] = 1  # long runs too, beyond one 5-bit character
        rle = mask_api.encode(np.asfortranarray(m))
        got = RLE.rle_to_mask({"size": list(shape), "counts": rle["counts"].decode()}, "x", (shape[1], shape[0]))
        assert np.array_equal(got, mask_api.decode(rle))


@pytest.mark.parametrize("key", ["id", "image_id", "category_id"])
def test_a_list_as_an_id_is_one_line(tmp_path, key):
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], key: [1, 2]}
    inp = coco(tmp_path / "in", [ann])
    res = augcli("expand", inp, tmp_path / "out", "-n", "1")
    assert res.returncode == 2
    assert f"annotation {key} [1, 2] is a list; ids must be numbers or strings" in one_line(res, "ids must")


def test_infinite_or_negative_rle_counts_are_one_line_in_stats_and_expand(tmp_path):
    doc_anns = [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": {"size": [48, 64], "counts": [0, 1e400]}}]
    inp = coco(tmp_path / "in", doc_anns)
    text = (inp / "annotations/instances_train.json").read_text()
    assert "Infinity" in text
    res = augcli("stats", inp)
    assert "annotation 1: bad RLE segmentation (counts must be whole numbers)" in one_line(res, "RLE")
    res = augcli("expand", inp, tmp_path / "out", "-n", "1")
    assert res.returncode == 1
    assert "bad RLE segmentation" in one_line(res, "RLE")
    bad = {"size": [48, 64], "counts": [-5, 48 * 64 + 5]}
    assert pytest.raises(RLE.LabelError, RLE.rle_to_mask, bad, "x", (64, 48)).match("must not be negative")


def test_a_stray_malformed_json_at_the_root_is_a_warning_under_auto(tmp_path):
    inp = coco(tmp_path / "in", [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}])
    (inp / "notes.json").write_text("{not json")
    res = augcli("expand", inp, tmp_path / "out", "-n", "1")
    assert res.returncode == 0, res.stderr
    assert "warning: notes.json: cannot read JSON" in one_line(res, "notes.json")
    assert json.loads((tmp_path / "out/annotations/instances_train.json").read_text())["annotations"]
    res = augcli("expand", inp, tmp_path / "out2", "-n", "1", "--labels", "coco")
    assert res.returncode == 2
    assert "notes.json: cannot read JSON" in one_line(res, "notes.json")


# --- 10: YOLO label files, masks, remote sources ------------------------------------------------------


def test_a_label_file_with_too_many_lines_is_refused_without_parsing(tmp_path):
    inp = yolo(tmp_path / "in", "0 0.5 0.5 0.1 0.1\n" * 10_001)
    res = augcli("expand", inp, tmp_path / "out", "-n", "1", "-j", "1")
    assert res.returncode == 1
    assert "labels/a.txt: more than 10000 lines" in one_line(res, "a.txt")
    (inp / "labels/a.txt").write_text("0 0.5 0.5 0.1 0.1\n" * 10_000)  # at the limit: carried
    res = augcli("expand", inp, tmp_path / "out2", "-n", "1", "-j", "1")
    assert res.returncode == 0, res.stderr[-2000:]
    assert len((tmp_path / "out2/labels/a_0.txt").read_text().splitlines()) == 10_000


def test_a_63_mb_label_file_ends_quickly_in_little_memory(tmp_path):
    # one segment row of 3.5 million points, under the 64 MiB file cap
    inp = yolo(tmp_path / "in", "0" + " 0.5 0.25 0.75 0.5" * 3_500_000 + "\n")
    assert (inp / "labels/a.txt").stat().st_size > 60 << 20
    res = augcli("expand", inp, tmp_path / "out", "-n", "1", "-j", "1", timeout=60)
    assert res.returncode == 1
    assert "labels/a.txt:1: more than 2000000 numbers in the file" in one_line(res, "a.txt")


def test_a_mask_of_another_size_is_refused_from_its_header(tmp_path, monkeypatch):
    from augcli.labels import masks as MK

    path = tmp_path / "m.png"
    Image.new("L", (1000, 800)).save(path)

    def no_decoding(self):
        raise AssertionError("the mask was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(C.LabelError, match="m.png: mask is 1000x800, image is 64x48"):
        MK.load_mask(path, "m.png", 10**8, (64, 48))


# --- 15: the warp kernel's sizes ----------------------------------------------------------------------


def test_warp_refuses_heights_past_its_limit_and_strides_that_overflow():
    code = ("from augcli.kernels import _warp\n"
            "m = (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)\n"
            "for args in [(bytes(16), 4, 4, 4, 1, 0, bytearray(16), 4, 3, 1 << 62, m, 3, 0, b'\\0', 1),\n"
            "             (bytes(16), 4, 4, 4, 1, 0, bytearray(16), 1, (1 << 31) - 1, 1, m, 3, 0, b'\\0', 1)]:\n"
            "    try:\n        _warp.warp(*args)\n    except ValueError as e:\n        print(e)\n"
            "from augcli import kernels\n"
            "try:\n    kernels.warp(bytes(16), (4, 4), 1, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], (1, (1 << 31) - 1),"
            " fill='constant', interpolation='nearest', cval=b'\\0')\n"
            "except ValueError as e:\n    print(e)\n")
    res = python(code, timeout=30)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    assert res.stdout.splitlines() == [
        "warp output: buffer of 16 bytes is too small for 4x3",
        "warp output: image too large: 1x2147483647 (each side at most 1073741824)",
        "warp: image too large: 4x4 -> 1x2147483647 (each side at most 1073741824)"]


# --- 10: a remote source is judged by its first block -------------------------------------------------


@pytest.fixture(scope="module")
def ranged_s3():
    """An S3 server of moto's on 127.0.0.1 that records the byte ranges asked of each key."""
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'augcli[s3]')")
    pytest.importorskip("moto.server", reason="moto[s3] with flask is not installed (test extra)")
    from .test_storage import KEY_ID, SECRET, CountingMotoServer
    import logging

    import s3fs
    from moto import server as moto_server

    class RangeServer(CountingMotoServer):
        def __init__(self) -> None:
            super().__init__()
            self.ranges: list[tuple[str, str]] = []

        def _server_entry(self) -> None:
            from werkzeug.serving import make_server

            app = moto_server.DomainDispatcherApplication(moto_server.create_backend_app)

            def recording(environ, start_response):
                if environ["REQUEST_METHOD"] == "GET":
                    self.ranges.append((environ.get("PATH_INFO", ""), environ.get("HTTP_RANGE", "")))
                return app(environ, start_response)

            self._server = make_server(self._ip_address, self._port, recording, True,
                                       request_handler=moto_server.MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = RangeServer()
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "AWS_EC2_METADATA_DISABLED": "true"}
    fs = s3fs.S3FileSystem(key=KEY_ID, secret=SECRET, endpoint_url=env["AWS_ENDPOINT_URL"], skip_instance_cache=True)
    fs.mkdir("junk")
    yield server, fs, env
    server.stop()


def test_a_junk_remote_source_is_refused_from_its_first_block(ranged_s3, tmp_path):
    import io

    server, fs, env = ranged_s3
    rng = np.random.default_rng(5)
    fs.pipe_file("junk/in/big.jpg", rng.integers(0, 256, 8 << 20, dtype=np.uint8).tobytes())
    good = io.BytesIO()
    pattern(64, 48).save(good, "PNG")
    fs.pipe_file("junk/in/good.png", good.getvalue())
    res = subprocess.run([sys.executable, "-m", "augcli", "expand", "s3://junk/in", tmp_path / "out", "-n", "1", "-j",
                          "1"], env={**ENV, **env}, capture_output=True, text=True, timeout=120, preexec_fn=_limit)
    assert "Traceback" not in res.stderr
    assert res.returncode == 1, res.stderr
    assert one_line(res, "big.jpg") == "augcli: big.jpg: cannot identify image file"
    asked = [r for path, r in server.ranges if path.endswith("/big.jpg")]
    assert asked and all(r.startswith("bytes=0-") and int(r.split("-")[1]) < 1 << 20 for r in asked), asked
    assert (tmp_path / "out/good_0.png").is_file()


def test_fifos_met_by_the_layout_scan_are_not_waited_on(tmp_path):
    """The scan peeks at JSON heads (COCO or not) and decodes a few images of mask-named folders."""
    inp = tmp_path / "in"
    (inp / "train").mkdir(parents=True)
    (inp / "trainannot").mkdir()
    pattern(64, 48).save(inp / "train/a.png")
    os.mkfifo(inp / "train/notes.json")
    os.mkfifo(inp / "trainannot/a.png")
    res = augcli("expand", inp, tmp_path / "out", "-n", "1", "-j", "1", timeout=30)
    assert res.returncode in (0, 1), res.stderr
    assert (tmp_path / "out/train/a_0.png").exists()
