"""The command line: click parsing -> a frozen config -> one library call. Nothing else."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .version import __version__
from .choices import FORMATS, LABEL_FORMATS, LABEL_OUTPUTS, LAYOUTS, ON_EXISTS, RESIZE_MODES
from .cli_options import (FolderOrURL, build_compose, build_label_options, build_pipeline, build_targets, compose_options,
                          label_options, op_options, ops_table, require_settings, run_options, scaleout_settings, scaleout_options,
                          target_options)
from .cli_run import library_errors, run_and_report
from .cli_types import SizeType
from .presets import NAMES as PRESET_NAMES

# Sub-commands inherit the prefix as AUGCLI_<COMMAND>_<OPTION>, e.g. AUGCLI_EXPAND_WORKERS=8.
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
GROUP_CONTEXT = {**CONTEXT, "auto_envvar_prefix": "AUGCLI"}


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from . import kernels  # the small C module only: no numpy, no Pillow

    click.echo(f"augcli {__version__} (kernels v{kernels.KERNEL_VERSION} {kernels.active()}; "
               f"this CPU has: {', '.join(kernels.available())})")
    if kernels.env_error():
        click.echo(f"augcli: warning: {kernels.env_error()}", err=True)
    ctx.exit()


@click.group(context_settings=GROUP_CONTEXT)
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and the active kernel path, and exit.")
def cli() -> None:
    """Expand an image dataset with reproducible random augmentations."""


@cli.command(context_settings=CONTEXT)
@click.argument("input_dir", type=FolderOrURL(exists=True))
@click.argument("output_dir", type=FolderOrURL())
@op_options
@click.option("-n", "--copies", type=click.IntRange(min=0), default=1, show_default=True,
              help="Augmented copies written per input image.")
@click.option("--prefix", default="", help="Prefix for output names: PREFIX_stem_k.ext.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="same", show_default=True,
              help="Output format; 'same' keeps the input's.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="Quality for JPEG and WebP output.")
@click.option("--resize", type=SizeType(), help="Resize every input to WxH on load (Keras target_size).")
@click.option("--resize-mode", type=click.Choice(RESIZE_MODES), default="stretch", show_default=True,
              help="--resize: stretch on load, or keep the aspect ratio: fit inside WxH, or fill it and crop the centre.")
@click.option("--include-originals", is_flag=True, help="Also write each input (as loaded) as stem_orig.ext.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Root seed; the same seed gives the same bytes.")
@run_options
@compose_options
@label_options
@target_options
@scaleout_options
def expand(input_dir: str, output_dir: str, **kw: Any) -> None:
    """Write N augmented copies of every image under INPUT_DIR to OUTPUT_DIR, mirroring sub-folders.

    \b
    Example:
      augcli expand data/ out/ -n 5 --rotate 15 --zoom 0.2 --hflip --seed 1
    """
    from .config import RunConfig

    pipeline = build_pipeline(kw)
    labels = build_label_options(kw)
    required = require_settings(kw)
    targets = build_targets(kw)
    compose = build_compose(kw)
    as_json, quiet = kw.pop("as_json"), kw.pop("quiet")
    converting = click.get_current_context().meta.get("augcli.convert", False)  # augcli convert
    try:
        cfg = RunConfig(
            input_dir=input_dir, output_dir=output_dir, pipeline=pipeline, copies=kw["copies"],
            prefix=kw["prefix"], format=kw["fmt"], quality=kw["quality"], resize=kw["resize"],
            include_originals=kw["include_originals"], seed=kw["seed"], workers=kw["workers"],
            on_exists=kw["on_exists"], dry_run=kw["dry_run"], manifest=kw["manifest_path"],
            write_manifest=not kw["no_manifest"], exif_transpose=not kw["no_exif_transpose"],
            max_pixels=kw["max_pixels"], background=kw["background"], strict=kw["strict"],
            progress=not quiet, labels=labels, targets=targets, follow_outside=kw["follow_outside"], compose=compose,
            keep_names=converting, copy_originals=converting, **scaleout_settings(kw), **required,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    run_and_report(cfg, as_json, quiet)


@cli.command(context_settings=CONTEXT)
@click.argument("input_dir", type=FolderOrURL(exists=True))
@click.argument("output_dir", type=FolderOrURL())
@click.option("--to", "target", type=click.Choice(LABEL_OUTPUTS), required=True, help="Label format to write.")
@click.option("--labels", "labels_format", type=click.Choice(LABEL_FORMATS), default="auto", show_default=True,
              help="Label files to read, as for expand.")
@click.option("--allow-lossy", is_flag=True, help="Write what the format can hold when it cannot hold everything.")
@click.option("--label-precision", type=click.IntRange(1, 12), default=6, show_default=True,
              help="Decimals written in YOLO label files.")
@click.option("--layout", type=click.Choice(LAYOUTS), default="tree", show_default=True,
              help="How outputs are placed, as for expand.")
@click.option("-j", "--workers", type=click.IntRange(min=0), default=0, show_default="all CPUs",
              help="Worker processes; 1 runs in-process.")
@click.option("--on-exists", type=click.Choice(ON_EXISTS), default="error", show_default=True,
              help="What to do when an output file already exists.")
@click.option("--dry-run", is_flag=True, help="Plan and count, print the outputs, write nothing.")
@click.option("--no-manifest", is_flag=True, help="Do not write a manifest.")
@click.option("--strict", is_flag=True, help="Stop at the first file that fails.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, summary line or lines saying which labels were found (errors and warnings still shown).")
@click.pass_context
def convert(ctx: click.Context, input_dir: str, output_dir: str, target: str, **kw: Any) -> None:
    """Write a copy of a dataset with its labels in another format: every image copied byte for byte
    under its own name, its labels written as TARGET (expand's --labels-output, on the originals).

    \b
    Example:
      augcli convert data/ data-coco/ --to coco
    """
    ctx.meta["augcli.convert"] = True  # expand then keeps each image's name and bytes
    ctx.invoke(expand, input_dir=input_dir, output_dir=output_dir, copies=0, include_originals=True,
               labels_output=target, **kw)


@cli.command(context_settings=CONTEXT)
@click.option("--markdown", is_flag=True, help="Print a Markdown table (the one in the README).")
@click.option("--preset", type=click.Choice(PRESET_NAMES), help="Print the flags preset NAME stands for, instead.")
def ops(markdown: bool, preset: str | None) -> None:
    """List every op in canonical order: flag, parameters and units, a sensible default, scheme.

    The order of the list is the order in which ops are applied, whatever the order of the flags:
    geometry (one warp), the policy, colour, tone, sensor and occlusion, filters and noise, then JPEG
    artifacts. With --preset NAME, print the flags that preset stands for (one shell line).
    """
    if preset is not None:
        from .presets import command_line

        click.echo(command_line(preset))
        return
    click.echo(ops_table(markdown))


@cli.command(context_settings=CONTEXT)
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@compose_options
@op_options
@click.option("--grid", type=SizeType("CxR", "3x3"), default="3x3", show_default=True,
              help="Columns x rows of the sheet; the first tile is the original.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="preview.png", show_default=True,
              help="Where to write the sheet (its extension picks the format).")
@click.option("--tile", type=click.IntRange(16, 4096), default=256, show_default=True,
              help="Largest tile side in pixels.")
@click.option("--resize", type=SizeType(), help="Resize the image to WxH on load, as expand --resize does.")
@click.option("--resize-mode", type=click.Choice(RESIZE_MODES), default="stretch", show_default=True,
              help="How --resize keeps the aspect ratio, as for expand.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Root seed; the tiles are the copies expand makes.")
@click.option("--labels", "labels_format", type=click.Choice(LABEL_FORMATS), default="auto", show_default=True,
              help="Draw the image's labels (boxes, polygons, keypoints, mask) on every tile; found as expand finds them.")
@click.option("--dataset", "dataset_dir", type=click.Path(exists=True, file_okay=False),
              help="Dataset root for --labels [default: the folder above images/ or JPEGImages/].")
@click.option("--masks", "masks_dir", type=click.Path(exists=True, file_okay=False),
              help="Folder of segmentation masks, as for expand.")
@click.option("--mask-suffix", default="", help="Suffix of mask names before the extension, as for expand.")
@click.option("--min-visibility", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="As for expand: objects it drops are drawn dashed and counted under each tile.")
@click.option("--min-size", type=click.FloatRange(min=0.0), default=1.0, show_default=True, help="As for expand.")
@click.option("--min-area", type=click.FloatRange(min=0.0), default=0.0, show_default=True, help="As for expand.")
def preview(image: str, **kw: Any) -> None:
    """Write a labelled contact sheet: IMAGE, then augmented samples made as expand makes them.

    \b
    Example:
      augcli preview cat.jpg --rotate 20 --blur 1 --noise 8 --grid 3x3 -o preview.png
    """
    from pathlib import Path

    from .errors import InputError
    from .imageio import LoadOptions
    from .preview import preview as make_preview
    from .seeding import new_root_seed

    from .errors import UsageError
    from .preview import preview_labels

    pipeline = build_pipeline(kw)
    seed = kw["seed"] if kw["seed"] is not None else new_root_seed()
    load = LoadOptions(resize=kw["resize"])
    try:
        pipeline.check_pixels(load.max_pixels)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        labels = None
        if kw["labels_format"] != "none" or kw["masks_dir"]:
            labels = preview_labels(Path(image), kw["labels_format"], kw["dataset_dir"], pipeline, load,
                                    lambda msg: click.echo(msg, err=True), masks=kw["masks_dir"],
                                    mask_suffix=kw["mask_suffix"], allow_unswapped_mirror=True,
                                    min_visibility=kw["min_visibility"], min_size=kw["min_size"],
                                    min_area=kw["min_area"])
        if labels is not None:  # the tiles are what expand makes of a labelled dataset
            pipeline, notes = pipeline.for_labels()
            for note in notes:
                click.echo(note, err=True)
        sheet = make_preview(Path(image), pipeline, seed, kw["grid"], kw["tile"], load, labels, build_compose(kw))
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    except InputError as exc:
        from .fsnames import shown

        raise click.ClickException(f"{shown(image)}: {exc}") from None
    try:
        sheet.save(kw["output"])
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"cannot write {kw['output']}: {exc}") from None
    click.echo(f"augcli: wrote {kw['output']} ({kw['grid'][0]}x{kw['grid'][1]}, seed {seed})", err=True)


@cli.command(context_settings=CONTEXT)
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--input", "input_dir", type=click.Path(file_okay=False),
              help="Folder of the sources [default: the run's input folder].")
@click.option("--output", "output_dir", type=click.Path(file_okay=False),
              help="Folder to write into [default: the run's output folder].")
@click.option("--on-exists", type=click.Choice(ON_EXISTS), default="error", show_default=True,
              help="What to do when an output file already exists.")
@click.option("--masks", "masks_dir", type=click.Path(exists=True, file_okay=False),
              help="The --masks folder of a run that had one (never taken from the manifest).")
@click.option("--masks-output", type=click.Path(file_okay=False),
              help="The --masks-output folder of a run that had one [default: OUTPUT_DIR/masks].")
@click.option("-q", "--quiet", is_flag=True, help="No summary line (errors still shown).")
def replay(manifest: str, input_dir: str | None, output_dir: str | None, on_exists: str,
           masks_dir: str | None, masks_output: str | None, quiet: bool) -> None:
    """Regenerate every output recorded in MANIFEST, byte-identical, from the recorded parameters.

    \b
    Example:
      augcli replay out/manifest.jsonl --output out-again/
    """
    from pathlib import Path

    from .errors import UsageError
    from .replay import replay as run_replay

    try:
        summary = run_replay(Path(manifest), Path(input_dir) if input_dir else None,
                             Path(output_dir) if output_dir else None, on_exists,
                             masks=Path(masks_dir) if masks_dir else None,
                             masks_output=Path(masks_output) if masks_output else None)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    if not quiet:
        click.echo(summary.line(), err=True)
    sys.exit(summary.exit_code)


@cli.command(context_settings=CONTEXT)
@click.argument("output_dir", type=FolderOrURL(exists=True))
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False),
              help="Where to write the merged manifest [default: OUTPUT_DIR/manifest.jsonl].")
@click.option("-q", "--quiet", is_flag=True, help="No summary line.")
def merge(output_dir: str, manifest_path: str | None, quiet: bool) -> None:
    """Merge the manifest parts of a sharded run into one manifest, as a one-machine run writes it.

    Refuses, naming what is wrong, unless every bucket is done and every part has the same recipe.

    \b
    Example:
      augcli merge out/
    """
    from .errors import UsageError
    from .run.merge import merge as run_merge

    try:
        result = run_merge(output_dir, manifest_path)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write the manifest: {exc.strerror or exc}") from None
    if not quiet:
        state = "written" if result.changed else "unchanged"
        click.echo(f"augcli: merged {result.buckets} buckets, {result.records} records: {result.manifest} "
                   f"({state})", err=True)


@cli.command(context_settings=CONTEXT)
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout (schema in the README).")
@click.option("--plot", type=click.Path(dir_okay=False), metavar="PATH.png",
              help="Draw a bar chart of the images per class into PATH.png.")
@click.option("--compare", type=click.Path(exists=True, file_okay=False), metavar="OTHER_DIR",
              help="Report OTHER_DIR too, side by side (e.g. the output of an expand run).")
@click.option("--decode", is_flag=True, help="Decode every image fully (finds truncated files); default: headers only.")
def stats(input_dir: str, as_json: bool, plot: str | None, compare: str | None, decode: bool) -> None:
    """Report a dataset: images per class folder, formats, modes, sizes, unreadable files.

    \b
    Example:
      augcli stats data/train --plot classes.png --compare aug/train
    """
    from .stats import exit_code, format_stats, run_stats

    with library_errors():
        from .labels.counts import count_objects  # objects per label class, when labels are found

        def say(msg: str) -> None:
            click.echo(msg, err=True)

        result = run_stats(input_dir, compare, decode, plot, report=say,
                           count_objects=lambda root, rels: count_objects(root, rels, say))
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo("\n".join(format_stats(result)))
    if plot:
        click.echo(f"augcli: wrote {plot}", err=True)
    sys.exit(exit_code(result))


from .cli_dataset import audit, split  # noqa: E402 - the dataset commands live in their own module

cli.add_command(split)
cli.add_command(audit)
from .cli_tile import tile  # noqa: E402 - its own module: expand's run, another set of options

cli.add_command(tile)


def main() -> None:
    import os

    from .filewarnings import install_one_line_warnings

    # augcli's numpy work is tiny matrices and elementwise maps: a BLAS thread pool buys nothing, and
    # its spinning threads steal the cores the worker processes need (they inherit this setting).
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    install_one_line_warnings()  # no raw warnings.warn line ever reaches the user
    try:
        cli(prog_name="augcli")
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    _leave(code)


def _leave(code: Any) -> None:
    """Exit with ``code`` (as ``sys.exit`` would) without the interpreter's teardown when nothing
    else is running. By now every output is written and closed; clearing numpy's, Pillow's and
    click's modules and a last garbage collection cost 60-100 ms per run on our 2-core machines.
    The exit handlers (atexit, weakref finalizers) still run; with other threads or child
    processes alive (a Dask cluster) the normal exit waits for them as usual."""
    import atexit
    import os
    import threading

    mp = sys.modules.get("multiprocessing")
    if threading.active_count() > 1 or (mp is not None and mp.active_children()):
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (augcli ... | head): nothing more to say there
            pass
    os._exit(code & 0xFF)
