"""Work functions for fault tests: run inside spawned worker processes (importable by name)."""

from __future__ import annotations

import os

from augcli import runner


def kill_on_poison(chunk):
    """Like the runner's own chunk worker, but the process dies on any source named poison*."""
    if any(job.source.startswith("poison") for job in chunk):
        os._exit(9)
    return runner._work_chunk(chunk)
