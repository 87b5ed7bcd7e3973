"""The one orchestrator (augcli/run/orchestrate.py): its closing step, shared by both placements of
records (one streamed manifest, or bucket parts and done markers), and what it leaves when the
engine cannot start."""

from __future__ import annotations

import errno

import pytest

from augcli.config import RunConfig
from augcli.errors import UsageError
from augcli.run import driver
from augcli.run.orchestrate import close_run
from augcli.run.report import Summary
from augcli.run.shard import Shard
from augcli.runner import run


class FakeRecords:
    """A placement of records that notes the closing calls, failing the one named."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail, self.calls = fail, []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail:
            raise OSError(errno.ENOSPC, "No space left on device", f"OUT/{name}")

    def complete(self, summary: Summary) -> bool:
        return True

    def write_collected(self, say) -> None:
        self._call("coco")

    def write_index(self) -> None:
        self._call("index")

    def close_manifest(self, summary: Summary, say) -> None:
        self.calls.append(("manifest", summary.fatal))
        if self.fail == "manifest":
            raise OSError(errno.EIO, "Input/output error")


def test_close_run_writes_the_coco_json_then_the_index_then_the_manifest():
    records, summary = FakeRecords(), Summary()
    close_run(records, summary, "hf", "OUT", lambda msg: None)
    assert records.calls == ["coco", "index", ("manifest", None)]
    assert summary.fatal is None


def test_a_failed_coco_json_skips_the_index_and_the_manifest_sees_the_fatal_error():
    records, summary = FakeRecords("coco"), Summary()
    close_run(records, summary, "hf", "OUT", lambda msg: None)
    why = "cannot write OUT/coco: No space left on device"
    assert records.calls == ["coco", ("manifest", why)]  # the manifest is discarded, never claims more
    assert summary.fatal == why


def test_an_image_set_list_that_cannot_be_read_again_is_a_failure_and_the_rest_is_written():
    from augcli.labels.voc_lists import ListUnreadable

    class Unreadable(FakeRecords):
        def write_collected(self, say) -> None:
            self.calls.append("lists")
            raise ListUnreadable("VOC/ImageSets/Main/train.txt", "not a regular file")

    records, summary, said = Unreadable(), Summary(), []
    close_run(records, summary, "tree", "OUT", said.append)
    assert records.calls == ["lists", "index", ("manifest", None)]
    assert summary.failed == [{"source": "VOC/ImageSets/Main/train.txt", "output": "VOC/ImageSets/Main/train.txt",
                               "error": "not a regular file"}] and summary.exit_code == 1
    assert said == ["augcli: VOC/ImageSets/Main/train.txt: not a regular file; the image-set list is not written"]


def test_a_failed_index_and_a_failed_manifest_are_named():
    records, summary = FakeRecords("index"), Summary()
    close_run(records, summary, "hf", "OUT", lambda msg: None)
    assert summary.fatal == "cannot write the hf index of 'OUT': No space left on device"
    records, summary = FakeRecords("manifest"), Summary()
    close_run(records, summary, "tree", "OUT", lambda msg: None)
    assert summary.fatal == "cannot write the manifest: Input/output error"


def test_a_bucketed_run_whose_engine_cannot_start_merges_nothing_and_leaves_no_stats(dataset, tmp_path, monkeypatch):
    out = tmp_path / "out"
    cfg = RunConfig(dataset, out, seed=5, workers=1, progress=False, copies=1, shard=Shard(0, 1), buckets=2)
    run(cfg, report=lambda msg: None)
    manifest = out / "manifest.jsonl"
    assert manifest.is_file()
    manifest.unlink()
    stats = sorted(p.name for p in (out / ".augcli" / "stats").iterdir())

    class NoEngine:  # as --executor dask without Dask installed
        def run(self, *args) -> None:
            raise UsageError("--executor dask needs Dask")

    monkeypatch.setattr(driver, "make_executor", lambda *args: NoEngine())
    with pytest.raises(UsageError, match="needs Dask"):
        run(cfg, report=lambda msg: None)
    # every bucket was done before, but this run never ran one: no merge, no stats file
    assert not manifest.exists()
    assert sorted(p.name for p in (out / ".augcli" / "stats").iterdir()) == stats


def test_a_one_machine_run_leaves_no_bookkeeping_folder(dataset, tmp_path):
    out = tmp_path / "out"
    summary = run(RunConfig(dataset, out, seed=5, workers=1, progress=False, copies=2), report=lambda msg: None)
    assert summary.written == 8 and (out / "manifest.jsonl").is_file()
    assert not (out / ".augcli").exists()
