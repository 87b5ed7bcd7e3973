"""``expand``: the library's entry point. The run itself is augcli/run/orchestrate.py, the same
steps for one machine, shards, Dask and object storage.
"""

from __future__ import annotations

from typing import Callable

from .config import RunConfig
from .errors import FatalWriteError
from .run.discover import SourceJob, iter_jobs, plan_outputs  # noqa: F401 - public here too
from .run.orchestrate import expand
from .run.places import check_folders  # noqa: F401 - public here too
from .run.report import Summary, stderr_report
from .run.work import WorkContext, process_source, process_source_safely  # noqa: F401 - public here too

__all__ = ["FatalWriteError", "SourceJob", "Summary", "WorkContext", "check_folders", "iter_jobs", "plan_outputs",
           "process_source", "process_source_safely", "run"]


def run(cfg: RunConfig, report: Callable[[str], None] | None = None) -> Summary:
    """Expand ``cfg.input_dir`` into ``cfg.output_dir``. Raises UsageError for run-level problems
    (nothing is written then); per-file problems are reported through ``report`` (default: a line
    on stderr), recorded in the manifest and counted in the returned Summary."""
    return expand(cfg, report or stderr_report)
