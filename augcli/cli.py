"""The command line: click parsing -> a frozen config -> one library call. Nothing else."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import click

from . import __version__
from .cli_types import ColourType, ProbabilityType, RangeType, SizeType

# Sub-commands inherit the prefix as AUGCLI_<COMMAND>_<OPTION>, e.g. AUGCLI_EXPAND_WORKERS=8.
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
GROUP_CONTEXT = {**CONTEXT, "auto_envvar_prefix": "AUGCLI"}
FILL_MODES = ("nearest", "reflect", "wrap", "constant")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
FORMATS = ("same", "jpeg", "png", "webp", "bmp", "tiff")

_OP_OPTIONS = [
    click.option("--rotate", type=RangeType(), help="Rotate by U(-R, R) degrees (or LO:HI); + = counter-clockwise."),
    click.option("--width-shift", type=RangeType(),
                 help="Move content horizontally by U(-S, S): a fraction of the width if < 1, else pixels; + = right."),
    click.option("--height-shift", type=RangeType(),
                 help="Move content vertically by U(-S, S): a fraction of the height if < 1, else pixels; + = down."),
    click.option("--shear", type=RangeType(), help="Shear by U(-S, S) degrees (Keras shear_range)."),
    click.option("--zoom", type=RangeType(centre=1.0),
                 help="Zoom factors U(1-Z, 1+Z) (or LO:HI); below 1 enlarges the content (Keras zoom_range)."),
    click.option("--zoom-keep-aspect", is_flag=True, help="Draw one zoom factor for both axes (keeps the aspect ratio)."),
    click.option("--hflip", is_flag=True, help="Mirror left-right with probability 0.5."),
    click.option("--vflip", is_flag=True, help="Mirror top-bottom with probability 0.5."),
    click.option("--brightness", type=RangeType(centre=1.0),
                 help="Multiply values by U(LO, HI); 1 = unchanged (a single B means 1-B:1+B)."),
    click.option("--channel-shift", type=RangeType(),
                 help="Add U(-C, C) (0-255 units) to each colour channel, drawn per channel."),
    click.option("--p", "probabilities", type=ProbabilityType(), multiple=True,
                 help="Apply op OP with probability P (repeatable), e.g. --p rotate=0.5."),
    click.option("--fill-mode", type=click.Choice(FILL_MODES), default="nearest", show_default=True,
                 help="How points outside the image are filled."),
    click.option("--cval", type=float, default=0.0, show_default=True,
                 help="Fill value (0-255) for --fill-mode constant."),
    click.option("--interpolation", type=click.Choice(INTERPOLATIONS), default="bilinear", show_default=True,
                 help="Resampling filter for the geometric warp."),
]


def op_options(fn: Callable) -> Callable:
    for option in reversed(_OP_OPTIONS):
        fn = option(fn)
    return fn


def build_pipeline(kw: dict[str, Any]):
    """Turn the op flags into a Pipeline (pops them from ``kw``)."""
    from .ops import build
    from .pipeline import Pipeline, WarpSettings

    try:
        ops = build(
            rotate=kw.pop("rotate"), width_shift=kw.pop("width_shift"), height_shift=kw.pop("height_shift"),
            shear=kw.pop("shear"), zoom=kw.pop("zoom"), zoom_keep_aspect=kw.pop("zoom_keep_aspect"),
            hflip=kw.pop("hflip"), vflip=kw.pop("vflip"), brightness=kw.pop("brightness"),
            channel_shift=kw.pop("channel_shift"), probabilities=dict(kw.pop("probabilities")),
        )
        warp = WarpSettings(kw.pop("fill_mode"), kw.pop("cval"), kw.pop("interpolation"))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return Pipeline(ops, warp)


@click.group(context_settings=GROUP_CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="augcli")
def cli() -> None:
    """Expand an image dataset with reproducible random augmentations."""


@cli.command(context_settings=CONTEXT)
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("output_dir", type=click.Path(file_okay=False))
@op_options
@click.option("-n", "--copies", type=click.IntRange(min=0), default=1, show_default=True,
              help="Augmented copies written per input image.")
@click.option("--prefix", default="", help="Prefix for output names: PREFIX_stem_k.ext.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="same", show_default=True,
              help="Output format; 'same' keeps the input's.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="Quality for JPEG and WebP output.")
@click.option("--resize", type=SizeType(), help="Resize every input to WxH on load (Keras target_size).")
@click.option("--include-originals", is_flag=True, help="Also write each input (as loaded) as stem_orig.ext.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Root seed; the same seed gives the same bytes.")
@click.option("-j", "--workers", type=click.IntRange(min=0), default=0, show_default="all CPUs",
              help="Worker processes; 1 runs in-process.")
@click.option("--on-exists", type=click.Choice(("error", "skip", "overwrite")), default="error", show_default=True,
              help="What to do when an output file already exists.")
@click.option("--dry-run", is_flag=True, help="Plan and count, print the outputs, write nothing.")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False),
              help="Where to write the manifest [default: OUTPUT_DIR/manifest.jsonl].")
@click.option("--no-manifest", is_flag=True, help="Do not write a manifest.")
@click.option("--no-exif-transpose", is_flag=True, help="Do not apply the EXIF orientation tag on load.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=100_000_000, show_default=True,
              help="Refuse images with more pixels than this (decompression bombs).")
@click.option("--background", type=ColourType(), default="white", show_default=True,
              help="Colour that transparency is flattened onto for formats without alpha (JPEG, BMP).")
@click.option("--strict", is_flag=True, help="Stop at the first file that fails.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line (errors still shown).")
def expand(input_dir: str, output_dir: str, **kw: Any) -> None:
    """Write N augmented copies of every image under INPUT_DIR to OUTPUT_DIR, mirroring sub-folders.

    \b
    Example:
      augcli expand data/ out/ -n 5 --rotate 15 --zoom 0.2 --hflip --seed 1
    """
    from .config import RunConfig
    from .errors import AugcliError, UsageError
    from .runner import run

    pipeline = build_pipeline(kw)
    as_json, quiet = kw.pop("as_json"), kw.pop("quiet")
    try:
        cfg = RunConfig(
            input_dir=input_dir, output_dir=output_dir, pipeline=pipeline, copies=kw["copies"],
            prefix=kw["prefix"], format=kw["fmt"], quality=kw["quality"], resize=kw["resize"],
            include_originals=kw["include_originals"], seed=kw["seed"], workers=kw["workers"],
            on_exists=kw["on_exists"], dry_run=kw["dry_run"], manifest=kw["manifest_path"],
            write_manifest=not kw["no_manifest"], exif_transpose=not kw["no_exif_transpose"],
            max_pixels=kw["max_pixels"], background=kw["background"], strict=kw["strict"],
            progress=not quiet,
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
        for source, output in summary.outputs:
            click.echo(f"{source}\t{output}")
    if not quiet:
        click.echo(summary.line(), err=True)
    sys.exit(summary.exit_code)


def main() -> None:
    cli(prog_name="augcli")
