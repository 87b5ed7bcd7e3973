"""``augcli tile``: the command line of tiling (the run itself is expand's, augcli.runner)."""

from __future__ import annotations

from typing import Any

import click

from .choices import FORMATS
from .cli_options import (FolderOrURL, build_label_options, label_options, run_options, scaleout_options,
                          scaleout_settings)
from .cli_run import run_and_report
from .cli_types import SizeType

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
@run_options
@label_options
@scaleout_options
def tile(input_dir: str, output_dir: str, **kw: Any) -> None:
    """Cut every image under INPUT_DIR into overlapping tiles, with its labels, into OUTPUT_DIR.

    \b
    Example:
      augcli tile data/ tiles/ --size 640 --overlap 0.2 --min-visibility 0.3
    """
    from .config import RunConfig
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
    run_and_report(cfg, as_json, quiet)
