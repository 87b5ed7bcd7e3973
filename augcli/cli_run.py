"""The end of every command that runs expand's path (expand, convert, tile): run the config,
translate library errors into click's, print the summary, exit with the run's code."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterator

import click


@contextmanager
def library_errors() -> Iterator[None]:
    """The library's errors as click's: a usage error exits 2, any other error of augcli's 1."""
    from .errors import AugcliError, UsageError

    try:
        yield
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    except AugcliError as exc:
        raise click.ClickException(str(exc)) from None


def run_and_report(cfg: Any, as_json: bool, quiet: bool) -> None:
    """``runner.run(cfg)``; stdout gets ``--json`` or the ``--dry-run`` listing, stderr the summary
    line (unless ``quiet``); exits with the run's code. SIGTERM stops the run the way Ctrl-C does."""
    from .runner import run

    terminated = _stop_cleanly_on_sigterm()
    try:
        with library_errors():
            summary = run(cfg)
    except KeyboardInterrupt:  # before any work started: nothing was written
        click.echo("augcli: interrupted", err=True)
        sys.exit(143 if terminated else 130)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    elif cfg.dry_run:
        from .fsnames import shown  # one line per output, whatever the names hold

        if summary.targets is not None:
            from .targets import format_plan

            click.echo("\n".join(format_plan(summary.targets)))
        for source, output in summary.outputs:
            click.echo(f"{shown(source)}\t{shown(output)}")
    if not quiet:
        click.echo(summary.line(), err=True)
    sys.exit(143 if terminated and summary.interrupted else summary.exit_code)


def _stop_cleanly_on_sigterm() -> list[int]:
    """Make SIGTERM (a CI job cancelled, `timeout`, `kill`) stop a run the way Ctrl-C does: work
    in progress is finished and recorded, then augcli exits 143. Returns a list that is non-empty
    once SIGTERM has arrived."""
    import signal

    seen: list[int] = []

    def handler(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    return seen
