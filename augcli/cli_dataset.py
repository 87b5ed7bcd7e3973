"""The dataset-level commands ``split`` and ``audit`` (registered on the group in cli.py)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .choices import LABEL_OUTPUTS
from .cli_run import library_errors

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DISTANCE_HELP = "Images whose dHash differs in at most D of 64 bits are near duplicates."


def _say(msg: str) -> None:
    click.echo(msg, err=True)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.UsageError(f"--ratios must be numbers separated by commas, e.g. 0.8,0.1,0.1, not {text!r}") from None


@click.command(context_settings=CONTEXT)
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("output_dir", type=click.Path(file_okay=False))
@click.option("--ratios", default="0.8,0.1,0.1", show_default=True, help="Share of the images per split (normalised).")
@click.option("--names", help="Split names, comma-separated [default: train,val,test; train,val for two ratios].")
@click.option("--stratify", is_flag=True, help="Keep each class's share in every split (class folder or majority object class).")
@click.option("--group", "groups", multiple=True, metavar="KIND",
              help="What stays together: near-duplicate, tile and source (the default), stem, regex:PATTERN, none "
                   "(repeatable); byte-identical files always do.")
@click.option("--hash-distance", type=click.IntRange(0, 24), default=8, show_default=True, metavar="D",
              help=DISTANCE_HELP)
@click.option("--link", is_flag=True, help="Hard-link the files instead of copying them.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True, help="Seed of the shuffle.")
@click.option("-j", "--workers", type=click.IntRange(min=0), default=0, show_default="all CPUs",
              help="Processes that hash the images; 1 runs in-process.")
@click.option("--cache", type=click.Path(dir_okay=False), help="Hash cache file to read and update.")
@click.option("--labels-output", type=click.Choice(LABEL_OUTPUTS),
              help="Write the labels in this format (augcli convert's run on the split; images copied as they are).")
@click.option("--allow-lossy", is_flag=True, help="With --labels-output: write what the format can hold.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def split(input_dir: str, output_dir: str, ratios: str, names: str | None, groups: tuple[str, ...],
          as_json: bool, labels_output: str | None, allow_lossy: bool, **kw: Any) -> None:
    """Split INPUT_DIR into train/val/test under OUTPUT_DIR, keeping groups of duplicates together.

    \b
    Example:
      augcli split data/ splits/ --ratios 0.8,0.1,0.1 --stratify --seed 1
    """
    from .split import run_split
    from .splitplan import DEFAULT_GROUPS, SplitOptions, default_names

    if allow_lossy and not labels_output:
        raise click.UsageError("--allow-lossy needs --labels-output")
    try:
        r = _floats(ratios)
        n = tuple(names.split(",")) if names else default_names(len(r))
        opts = SplitOptions(ratios=r, names=n, group=groups or DEFAULT_GROUPS, **kw)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with library_errors():
        if labels_output:
            from .split import split_and_convert

            result = split_and_convert(input_dir, output_dir, opts, labels_output, allow_lossy, _say)
        else:
            result = run_split(input_dir, output_dir, opts, _say)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        from .splitplan import format_table

        click.echo("\n".join(format_table(result.table, result.names, result.counts, result.layout != "folders")))
        _say(f"augcli: split {sum(result.counts)} images ({result.groups} groups, {result.layout} layout) into "
             f"{output_dir}; assignment in {result.manifest}")
    sys.exit(result.exit_code)


@click.command(context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--hash-distance", type=click.IntRange(0, 24), default=8, show_default=True, metavar="D",
              help=DISTANCE_HELP)
@click.option("-j", "--workers", type=click.IntRange(min=0), default=0, show_default="all CPUs",
              help="Processes that hash the images; 1 runs in-process.")
@click.option("--cache", type=click.Path(dir_okay=False),
              help="Hash cache file [default: DATASET/.augcli/hashes.jsonl].")
@click.option("--json", "as_json", is_flag=True, help="Print every pair as JSON on stdout.")
def audit(dataset: str, hash_distance: int, workers: int, cache: str | None, as_json: bool) -> None:
    """Find duplicates and augmented copies across the splits of DATASET; exit 1 on a leak.

    \b
    Example:
      augcli audit splits/ --hash-distance 6
    """
    from .audit import run_audit

    with library_errors():
        result = run_audit(dataset, hash_distance, workers, cache, _say)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo("\n".join(result.lines()))
    for line in result.unreadable:
        _say(f"augcli: warning: {line}")
    sys.exit(result.exit_code)
