"""``augcli tile``: the command line of tiling (the run itself is expand's, augcli.runner)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .choices import FORMATS, ON_EXISTS
from .cli_options import FolderOrURL, build_label_options, label_options, scaleout_options, scaleout_settings
from .cli_types import ColourType, SizeType

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class TileSizeType(click.ParamType):
    """``N`` (square tiles) or ``WxH``, in pixels."""

    name = "N[xH]"

    def convert(self, value: Any, param, ctx) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        from .tiles import parse_size

        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.command("tile", context_settings=CONTEXT)
@click.argument("input_dir", type=FolderOrURL(exists=True))
@click.argument("output_dir", type=FolderOrURL())
@click.option("--size", "tile_size", type=TileSizeType(), required=True,
              help="Tile size in pixels: N for N x N, or WxH.")
@click.option("--overlap", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.2, show_default=True,
              help="Share of a tile's side that neighbouring tiles have in common (0 up to 1).")
@click.option("--prefix", default="", help="Prefix for tile names: PREFIX_stem_xX_yY.ext.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="same", show_default=True,
              help="Output format; 'same' keeps the input's.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="Quality for JPEG and WebP output.")
@click.option("--resize", type=SizeType(), help="Resize every input to WxH on load, before it is tiled.")
@click.option("-j", "--workers", type=click.IntRange(min=0), default=0, show_default="all CPUs",
              help="Worker processes; 1 runs in-process.")
@click.option("--on-exists", type=click.Choice(ON_EXISTS), default="error", show_default=True,
              help="What to do when an output file already exists.")
@click.option("--dry-run", is_flag=True, help="Plan and count, print the tiles, write nothing.")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False),
              help="Where to write the manifest [default: OUTPUT_DIR/manifest.jsonl].")
@click.option("--no-manifest", is_flag=True, help="Do not write a manifest.")
@click.option("--no-exif-transpose", is_flag=True, help="Do not apply the EXIF orientation tag on load.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=100_000_000, show_default=True,
              help="Refuse images with more pixels than this (decompression bombs).")
@click.option("--background", type=ColourType(), default="white", show_default=True,
              help="Colour that transparency is flattened onto for formats without alpha (JPEG, BMP).")
@click.option("--strict", is_flag=True, help="Stop at the first file that fails.")
@click.option("--follow-outside/--no-follow-outside", default=None,
              help="Follow symlinked images and folders whose real path is outside INPUT_DIR "
                   "[default: not when labels are carried, else yes].")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line (errors still shown).")
@label_options
@scaleout_options
def tile(input_dir: str, output_dir: str, **kw: Any) -> None:
    """Cut every image under INPUT_DIR into overlapping tiles, with its labels, into OUTPUT_DIR.

    \b
    Example:
      augcli tile data/ tiles/ --size 640 --overlap 0.2 --min-visibility 0.3
    """
    from .config import RunConfig
    from .errors import AugcliError, UsageError
    from .runner import run
    from .tiles import Tiling

    labels = build_label_options(kw)
    as_json, quiet = kw.pop("as_json"), kw.pop("quiet")
    try:
        cfg = RunConfig(
            input_dir=input_dir, output_dir=output_dir, copies=1, prefix=kw["prefix"], format=kw["fmt"],
            quality=kw["quality"], resize=kw["resize"], seed=0, workers=kw["workers"],
            on_exists=kw["on_exists"], dry_run=kw["dry_run"], manifest=kw["manifest_path"],
            write_manifest=not kw["no_manifest"], exif_transpose=not kw["no_exif_transpose"],
            max_pixels=kw["max_pixels"], background=kw["background"], strict=kw["strict"],
            progress=not quiet, labels=labels, follow_outside=kw["follow_outside"],
            tile=Tiling(kw["tile_size"], kw["overlap"]), **scaleout_settings(kw),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        summary = run(cfg)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    except AugcliError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:  # before any work started: nothing was written
        click.echo("augcli: interrupted", err=True)
        sys.exit(130)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    elif cfg.dry_run:
        from .fsnames import shown  # one line per output, whatever the names hold

        for source, output in summary.outputs:
            click.echo(f"{shown(source)}\t{shown(output)}")
    if not quiet:
        click.echo(summary.line(), err=True)
    sys.exit(summary.exit_code)
