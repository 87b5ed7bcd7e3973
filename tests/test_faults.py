"""Faults: SIGKILL of the run or of a worker, Ctrl-C, a full or read-only disk, concurrent runs.
Real subprocesses and signals; filesystem tests need root to mount a small tmpfs (else skipped)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augcli.config import RunConfig
from augcli.ops import build
from augcli.pipeline import Pipeline
from augcli.run.discover import plan_outputs
from augcli.run.pool import results_in_pool
from augcli.run.work import WorkContext

from .conftest import pattern, tree_bytes

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
FLAGS = ["--rotate", "30", "--zoom", "0.2", "--hflip", "--brightness", "0.8:1.2", "--seed", "7", "-n", "3"]


def images_only(tree: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in tree.items() if not k.endswith("manifest.jsonl")}


def augcli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augcli", "expand", *map(str, args)], capture_output=True,
                          text=True, env=ENV, timeout=300, **kw)


def _as_in_a_terminal() -> None:
    # a shell starts background jobs with SIGINT ignored, and Python keeps it so: a suite run from
    # one (`make test &`) would see Ctrl-C ignored, as such a job should
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "augcli", "expand", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True,
                            preexec_fn=_as_in_a_terminal)


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> Path:
    """60 images of 400x300 in two classes: a run takes a couple of seconds, long enough to kill."""
    root = tmp_path_factory.mktemp("many") / "in"
    for i in range(60):
        d = root / ("a" if i % 2 else "b")
        d.mkdir(parents=True, exist_ok=True)
        pattern(400, 300, "RGB", seed=i).save(d / f"img{i:02d}.png", compress_level=1)
    return root


@pytest.fixture(scope="module")
def reference(many, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("ref") / "out"
    res = augcli(many, out, *FLAGS, "-j", "2")
    assert res.returncode == 0, res.stderr
    return images_only(tree_bytes(out))


def wait_for_outputs(out: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and sum(1 for p in out.rglob("*.png")) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be interrupted: {proc.stderr.read()}")
        time.sleep(0.01)
    pytest.fail("no outputs appeared")


def assert_no_partial_files(out: Path, reference: dict[str, bytes]) -> None:
    """Every file under an output name is complete: byte-identical to the uninterrupted run."""
    for name, data in images_only(tree_bytes(out)).items():
        if Path(name).name.startswith("."):
            continue  # hidden temporaries of a killed run: never under an output name
        assert data == reference[name], f"{name} differs from the uninterrupted run"


def test_sigkill_of_the_whole_run_then_skip_completes_exactly(many, reference, tmp_path):
    out = tmp_path / "out"
    proc = start(many, out, *FLAGS, "-j", "2")
    wait_for_outputs(out, 20, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < len(images_only(tree_bytes(out))) < len(reference) + 5
    assert_no_partial_files(out, reference)
    res = augcli(many, out, *FLAGS, "-j", "2", "--on-exists", "skip", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["skipped"] > 0 and summary["written"] + summary["skipped"] == len(reference)
    assert images_only(tree_bytes(out)) == reference  # no stale temporaries left either
    assert not [p for p in out.rglob(".*.tmp")]


def test_a_killed_worker_is_detected_and_the_run_completes(many, reference, tmp_path):
    out = tmp_path / "out"
    proc = start(many, out, *FLAGS, "-j", "2")
    wait_for_outputs(out, 10, proc)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    own = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    # forked workers share the parent's command line; spawned ones run multiprocessing's spawn_main
    workers = [int(c) for c in children
               if (cmd := Path(f"/proc/{c}/cmdline").read_bytes()) == own or b"spawn_main" in cmd]
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "worker process died; retrying" in stderr
    assert images_only(tree_bytes(out)) == reference


def test_a_source_that_kills_its_worker_is_reported_and_the_rest_completed(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png", "poison.png", "c.png", "d.png", "e.png"):
        pattern(30, 20).save(src / name)
    cfg = RunConfig(src, tmp_path / "out", Pipeline(build(rotate=(-5, 5))), seed=1, workers=2, progress=False)
    jobs = plan_outputs(sorted(p.name for p in src.iterdir()), cfg)
    warnings: list[str] = []
    from .faulty import kill_on_poison

    results = list(results_in_pool(WorkContext(cfg, 1), jobs, 2, warnings.append, work=kill_on_poison))
    flat = [r for group in results for r in group]
    assert [r["source"] for r in flat] == ["a.png", "b.png", "c.png", "d.png", "e.png", "poison.png"]
    status = {r["source"]: (r["status"], r["error"]) for r in flat}
    assert status["poison.png"] == ("error", "worker process died (killed or out of memory)")
    assert all(status[s][0] == "ok" for s in ("a.png", "b.png", "c.png", "d.png", "e.png"))
    assert warnings and "worker process died" in warnings[0]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_cleanly_with_exit_130(many, reference, tmp_path, workers):
    out = tmp_path / "out"
    proc = start(many, out, *FLAGS, "-j", workers)
    wait_for_outputs(out, 10, proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert_no_partial_files(out, reference)
    assert not [p for p in out.rglob(".*.tmp")]
    # the manifest describes exactly what was written
    lines = (out / "manifest.jsonl").read_text().splitlines()[1:]
    written = {json.loads(line)["output"] for line in lines if json.loads(line)["status"] == "ok"}
    assert written == set(images_only(tree_bytes(out)))


def test_sigterm_stops_cleanly_with_exit_143(many, reference, tmp_path):
    out = tmp_path / "out"
    proc = start(many, out, *FLAGS, "-j", "2")
    wait_for_outputs(out, 10, proc)
    os.kill(proc.pid, signal.SIGTERM)  # the main process only, as `timeout` or a CI runner does
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert_no_partial_files(out, reference)
    lines = (out / "manifest.jsonl").read_text().splitlines()[1:]
    written = {json.loads(line)["output"] for line in lines if json.loads(line)["status"] == "ok"}
    assert written == set(images_only(tree_bytes(out)))


def test_two_runs_into_one_folder_do_not_corrupt_each_other(many, reference, tmp_path):
    out = tmp_path / "out"
    procs = [start(many, out, *FLAGS, "-j", "1", "--on-exists", "skip", "--no-manifest") for _ in range(2)]
    for p in procs:
        p.communicate(timeout=300)
        assert p.returncode == 0
    assert images_only(tree_bytes(out)) == reference


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_gives_a_clear_error_and_no_partial_files(many, reference, small_fs):
    out = small_fs / "out"
    res = augcli(many, out, *FLAGS, "-j", "2")
    assert res.returncode == 1
    assert "No space left on device" in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert_no_partial_files(out, reference)
    assert not [p for p in out.rglob(".*.tmp")]


def test_read_only_output_gives_a_clear_error(many, small_fs):
    (small_fs / "out").mkdir()
    assert subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], capture_output=True).returncode == 0
    res = augcli(many, small_fs / "out", *FLAGS, "-j", "2")
    assert res.returncode == 1
    assert "Read-only file system" in res.stderr and "Traceback" not in res.stderr


def test_workers_are_forked_from_a_single_threaded_parent_and_spawned_otherwise():
    if not sys.platform.startswith("linux"):
        pytest.skip("fork is used on Linux only")
    # in a fresh interpreter (this one may run other tests' threads)
    code = ("import threading\nfrom augcli.run import pool\nprint(pool.pool_context().get_start_method())\n"
            "stop = threading.Event()\nthreading.Thread(target=stop.wait).start()\n"
            "print(pool.pool_context().get_start_method())\nstop.set()\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["fork", "spawn"]


def test_forked_and_spawned_workers_write_the_same_records(tmp_path, monkeypatch):
    from multiprocessing import get_context

    from augcli.run import pool

    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        pattern(40 + i, 30).save(src / f"p{i}.png")
    cfg = RunConfig(src, tmp_path / "out", Pipeline(build(rotate=(-30, 30), zoom=(0.8, 1.2), noise=(5.0, 5.0))),
                    seed=3, copies=3, workers=2, progress=False)
    jobs = plan_outputs(sorted(p.name for p in src.iterdir()), cfg)
    results = {}
    for method in ("fork", "spawn"):
        monkeypatch.setattr(pool, "pool_context", lambda m=method: get_context(m))
        out = tmp_path / "out"
        results[method] = (list(results_in_pool(WorkContext(cfg, 1), jobs, 2)), tree_bytes(out))
        for f in out.rglob("*.png"):
            f.unlink()
    assert len(results["fork"][1]) == 18
    assert results["fork"] == results["spawn"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pseudo-terminal through os.openpty")
def test_a_run_on_a_terminal_shows_its_bar_and_forks_workers_that_finish(many, reference, tmp_path):
    """stderr on a terminal: the progress bar is drawn (tqdm) while the workers are forked; the run
    completes with the same bytes (no thread of the bar is copied into a worker holding a lock)."""
    import select

    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "augcli", "expand", str(many), str(out), *FLAGS, "-j", "2"],
                            stdout=subprocess.PIPE, stderr=slave, env=ENV)
    os.close(slave)
    drawn = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the run ended
                break
            if not chunk:
                break
            drawn += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=30) == 0, drawn[-2000:]
    assert b"img/s" in drawn and b"/60" in drawn, drawn[-500:]
    assert images_only(tree_bytes(out)) == reference


def test_one_worker_runs_in_process_and_a_ctrl_c_keeps_or_drops_the_sources_partial_records(monkeypatch):
    """engine_results, the one choice of engine for the streamed run and the bucketed one: one
    worker runs in this process (no pool); a Ctrl-C inside a source first hands over the records of
    its outputs already written when the records are streamed, and drops them for buckets."""
    from augcli.run import pool
    from augcli.run.work import Interrupted

    def work(ctx, job):
        if job == "b":
            raise Interrupted([{"source": "b", "copy": 0}])
        return [{"source": job}]

    monkeypatch.setattr(pool, "process_source_safely", work)
    monkeypatch.setattr(pool, "results_in_pool", lambda *a, **kw: pytest.fail("one worker started a pool"))
    for partial, expected, raised in ((True, [[{"source": "a"}], [{"source": "b", "copy": 0}]], KeyboardInterrupt),
                                      (False, [[{"source": "a"}]], Interrupted)):
        got = []
        with pytest.raises(KeyboardInterrupt) as info:
            for records in pool.engine_results(None, iter("abc"), 1, partial=partial):
                got.append(records)
        assert got == expected
        assert type(info.value) is raised
