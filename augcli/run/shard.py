"""Which part of a run one process does: ``--shard I/N`` and ``--shard auto`` (Slurm job arrays,
Kubernetes Indexed Jobs), and the stable bucket of a source.

A source belongs to bucket ``stable_key("bucket:" + relative path) % B``; shard I of N does the
buckets ``b`` with ``b % N == I``. Membership depends only on the source's own relative path (never
on its position in a listing), so shards need not agree on anything but the recipe, and the buckets
(the unit of output and resume) do not depend on N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..choices import DEFAULT_BUCKETS, MAX_BUCKETS  # noqa: F401 - public here too
from ..errors import UsageError
from ..seeding import stable_key



@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def owns(self, bucket: int) -> bool:
        return bucket % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def fit_buckets(sources: list[str], outputs: list[int], per_bucket: int) -> int:
    """A bucket count in which no bucket holds more than ``per_bucket`` outputs (``outputs[i]`` of
    ``sources[i]``), so that each bucket is one full-sized webdataset shard: the first that does,
    counting up from the outputs over ``per_bucket`` one at a time below 100 and in steps of 1 %
    above (so a listing of millions tries tens of counts, not thousands). A pure function of the
    listing: every shard of a run finds the same number. When one source alone has more outputs
    than ``per_bucket``, its own count is the bound."""
    import numpy as np

    if not sources:
        return 1
    keys = np.array([stable_key("bucket:" + s) for s in sources], dtype=np.uint64)
    weights = np.asarray(outputs, dtype=np.int64)
    bound = max(per_bucket, int(weights.max()))
    b = max(1, -(-int(weights.sum()) // bound))
    while b < MAX_BUCKETS:
        if np.bincount((keys % np.uint64(b)).astype(np.int64), weights=weights, minlength=b).max() <= bound:
            return b
        b += max(1, b // 100)
    return MAX_BUCKETS


def bucket_of(source: str, buckets: int) -> int:
    """The bucket of a source (its relative POSIX path); a domain prefix keeps it independent of the
    random streams, which are keyed by the bare path."""
    return stable_key("bucket:" + source) % buckets


def _int(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise UsageError(f"--shard auto: {name}={value!r} is not a whole number") from None


def parse_shard(text: str, environ: Mapping[str, str]) -> Shard:
    """``I/N`` (0-based, 0 <= I < N) or ``auto``. Raises UsageError with the reason."""
    text = text.strip()
    if text == "auto":
        return _from_environment(environ)
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = -1
    if not sep or n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard must be I/N with 0 <= I < N (0-based, e.g. 0/4) or auto, not {text!r}")
    return Shard(i, n)


def _from_environment(env: Mapping[str, str]) -> Shard:
    if "SLURM_ARRAY_TASK_ID" in env:
        task = _int("SLURM_ARRAY_TASK_ID", env["SLURM_ARRAY_TASK_ID"])
        if "SLURM_ARRAY_TASK_COUNT" not in env:
            raise UsageError("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")
        count = _int("SLURM_ARRAY_TASK_COUNT", env["SLURM_ARRAY_TASK_COUNT"])
        first = _int("SLURM_ARRAY_TASK_MIN", env.get("SLURM_ARRAY_TASK_MIN", "0"))
        step = _int("SLURM_ARRAY_TASK_STEP", env.get("SLURM_ARRAY_TASK_STEP", "1"))
        if step < 1 or count < 1 or (task - first) % step:
            raise UsageError(f"--shard auto: Slurm task {task} is not in an array starting at {first} "
                             f"with step {step}; use --shard I/N")
        index = (task - first) // step
        if not 0 <= index < count:
            raise UsageError(f"--shard auto: Slurm task {task} (min {first}, step {step}) is not one of "
                             f"{count} tasks; use --shard I/N")
        return Shard(index, count)
    if "JOB_COMPLETION_INDEX" in env:
        index = _int("JOB_COMPLETION_INDEX", env["JOB_COMPLETION_INDEX"])
        if "AUGCLI_SHARD_COUNT" not in env:
            raise UsageError("--shard auto: JOB_COMPLETION_INDEX is set but AUGCLI_SHARD_COUNT is not "
                             "(Kubernetes does not give the count: set it to the Job's completions)")
        count = _int("AUGCLI_SHARD_COUNT", env["AUGCLI_SHARD_COUNT"])
        if count < 1 or not 0 <= index < count:
            raise UsageError(f"--shard auto: JOB_COMPLETION_INDEX={index} is not below AUGCLI_SHARD_COUNT={count}")
        return Shard(index, count)
    raise UsageError("--shard auto needs SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX "
                     "and AUGCLI_SHARD_COUNT (a Kubernetes Indexed Job); otherwise give --shard I/N")
