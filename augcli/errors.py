"""Exceptions raised by the augcli library (no click here: cli.py translates them)."""

from __future__ import annotations


class AugcliError(Exception):
    """Base class: a run-level problem the user must fix (bad directory, bad option value...)."""


class UsageError(AugcliError):
    """The options or paths given cannot work together (the CLI exits 2)."""


class InputError(AugcliError):
    """One input file cannot be used; the runner records it and goes on."""


class FatalWriteError(AugcliError):
    """The output cannot be written at all (disk full, read-only): the run stops."""
