"""The Sink interface: every output write and existence check of a run goes through its sink."""

from __future__ import annotations

import pytest

from augcli.config import RunConfig
from augcli.pipeline import Pipeline
from augcli.run.discover import iter_jobs
from augcli.run.sinks import LAYOUTS, TreeSink, make_sink
from augcli.run.work import WorkContext, process_source
from augcli.storage import LocalStore

from .conftest import pattern, tree_bytes


class RecordingSink(TreeSink):
    def __init__(self, store) -> None:
        super().__init__(store)
        self.calls: list[tuple[str, str]] = []

    def exists(self, rel: str) -> bool:
        self.calls.append(("exists", rel))
        return super().exists(rel)

    def write(self, rel, data, *, overwrite):
        self.calls.append(("write", rel))
        return super().write(rel, data, overwrite=overwrite)


def test_every_output_is_written_through_the_sink(tmp_path):
    from augcli.ops import build

    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        pattern(30, 20).save(tmp_path / "in" / name)
    cfg = RunConfig(tmp_path / "in", tmp_path / "out", Pipeline(build(rotate=(-20, 20))), copies=2, seed=1,
                    on_exists="skip")
    sink = RecordingSink(LocalStore(cfg.output_dir))
    ctx = WorkContext(cfg, 1, sink=sink)
    outputs = []
    for job in iter_jobs(cfg):
        outputs += [rel for _, rel in job.outputs]
        assert all(r["status"] == "ok" for r in process_source(ctx, job))
    assert sorted(rel for kind, rel in sink.calls if kind == "write") == sorted(outputs)
    assert sorted(rel for kind, rel in sink.calls if kind == "exists") == sorted(outputs)  # --on-exists skip
    assert sorted(tree_bytes(tmp_path / "out")) == sorted(outputs)


def test_the_tree_sink_refuses_a_name_leaving_the_output_and_compares_bytes(tmp_path):
    sink = make_sink("tree", LocalStore(tmp_path))
    with pytest.raises(OSError):
        sink.write("../escape.png", b"x", overwrite=False)
    assert not (tmp_path.parent / "escape.png").exists()
    assert sink.write("a/b.png", b"data", overwrite=False) and not sink.write("a/b.png", b"other", overwrite=False)
    assert sink.exists("a/b.png") and sink.same_bytes("a/b.png", b"data") and not sink.same_bytes("a/b.png", b"x")
    assert sink.streams and not sink.remote and sink.store.root == tmp_path


def test_layouts_are_the_choices_the_cli_offers():
    from augcli import choices

    assert tuple(LAYOUTS) == choices.LAYOUTS
    with pytest.raises(ValueError, match="layout must be one of tree"):
        RunConfig("in", "out", layout="zip")
