"""--executor dask: buckets as Dask tasks on a LocalCluster (127.0.0.1 only) give the one-machine
result, also when a worker dies mid-bucket, and on an existing scheduler given by --scheduler."""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest

distributed = pytest.importorskip("distributed", reason="Dask is not installed (pip install 'augcli[dask]')")

from augcli.run import driver  # noqa: E402
from augcli.run.executors import DaskExecutor  # noqa: E402

from .conftest import tree_bytes  # noqa: E402
from .faulty import die_once_mid_bucket  # noqa: E402
from .test_shards import ENV, FLAGS, invoke, reference, work  # noqa: E402,F401  (fixtures)


def test_dask_local_cluster_equals_one_machine(work, reference):  # noqa: F811
    res = subprocess.run([sys.executable, "-m", "augcli", "expand", "in", "out", *FLAGS, "--executor", "dask",
                          "-j", "2"], env=ENV, capture_output=True, text=True, timeout=180)
    assert res.returncode == 1, res.stderr  # the broken file, reported once
    assert res.stderr.count("cats/broken.png: cannot identify image file") == 1
    assert tree_bytes(work / "out") == reference


def test_a_dask_worker_killed_mid_bucket_is_retried_and_the_result_is_the_same(work, reference, monkeypatch):  # noqa: F811
    flag = work / "killed-once"
    task = functools.partial(die_once_mid_bucket, str(flag))
    monkeypatch.setattr(driver, "make_executor", lambda name, workers, scheduler: DaskExecutor(2, task=task))
    invoke("expand", "in", "out", *FLAGS, "--executor", "dask", expect=1)
    assert flag.exists()  # a worker really died
    assert tree_bytes(work / "out") == reference


def test_dask_on_an_existing_scheduler(work, reference):  # noqa: F811
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        invoke("expand", "in", "out", *FLAGS, "--executor", "dask", "--scheduler", cluster.scheduler_address,
               expect=1)
    assert tree_bytes(work / "out") == reference


def test_scheduler_without_dask_executor_is_a_usage_error(work):
    res = invoke("expand", "in", "out", *FLAGS, "--scheduler", "tcp://127.0.0.1:1", expect=2)
    assert "--scheduler needs --executor dask" in res.output
