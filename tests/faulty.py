"""Work functions for fault tests: run inside spawned worker processes (importable by name)."""

from __future__ import annotations

import os

from augcli.run import pool


def kill_on_poison(chunk):
    """Like the runner's own chunk worker, but the process dies on any source named poison*."""
    if any(job.source.startswith("poison") for job in chunk):
        os._exit(9)
    return pool.work_chunk(chunk)


def die_once_mid_bucket(flag: str, ctx, header, work):
    """A Dask bucket task whose worker process dies the first time (after making the outputs of the
    bucket's first source), as a worker killed by the OOM killer or a lost node would."""
    import signal

    from augcli.run.executors import run_bucket
    from augcli.run.work import process_source

    if work.jobs:
        try:
            fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            process_source(ctx, work.jobs[0])
            os.kill(os.getpid(), signal.SIGKILL)
    return run_bucket(ctx, header, work)
