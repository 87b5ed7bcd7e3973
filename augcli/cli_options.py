"""expand's option groups, built from the ops' flag specs and augcli.choices, and the functions
that turn parsed options into library values (a Pipeline, LabelOptions, Targets, scale-out fields).
Imports only click and light modules: ``augcli --help`` loads neither numpy nor Pillow."""

from __future__ import annotations

from typing import Any, Callable

import click

from .choices import (BOX_METHODS, DEFAULT_BUCKETS, EXECUTORS, FILL_MODES, INTERPOLATIONS, LABEL_FORMATS,
                      LABEL_FRAMES, LAYOUTS, MAX_BUCKETS)
from .cli_types import PairType, ProbabilityType, RangeType
from .ops import FLAGS as OP_FLAGS  # light: the op modules load numpy and Pillow only when an op runs
from .ops.flags import Choice, Flag, Number, Pair, Span, Switch


def _op_option(flag: Flag) -> Callable:
    """The click option of an op flag: the flag as its op declares it (augcli.ops.flags)."""
    value = flag.value
    if isinstance(value, Switch):
        return click.option(flag.name, is_flag=True, help=flag.help)
    if isinstance(value, Span):
        return click.option(flag.name, type=RangeType(value.centre, start=value.start, end=value.end,
                                                      fixed=value.fixed), help=flag.help)
    if isinstance(value, Choice):
        return click.option(flag.name, type=click.Choice(value.options), help=flag.help)
    if isinstance(value, Number):
        number = click.IntRange if value.whole else click.FloatRange
        return click.option(flag.name, type=number(value.low, value.high), metavar=flag.metavar, help=flag.help)
    if isinstance(value, Pair):
        return click.option(flag.name, type=PairType(value.second, flag.metavar or ""), help=flag.help)
    raise TypeError(f"{flag.name}: no click option for {value!r}")


_OP_OPTIONS = [
    *(_op_option(flag) for flag in OP_FLAGS),
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
        ops = build(**{flag.key: kw.pop(flag.key) for flag in OP_FLAGS}, probabilities=dict(kw.pop("probabilities")))
        warp = WarpSettings(kw.pop("fill_mode"), kw.pop("cval"), kw.pop("interpolation"))
        return Pipeline(ops, warp)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


_LABEL_OPTIONS = [
    click.option("--labels", "labels_format", type=click.Choice(LABEL_FORMATS), default="auto", show_default=True,
                 help="Label files to carry: auto detects (and says what it found); none ignores them."),
    click.option("--box-method", type=click.Choice(BOX_METHODS), default="corners", show_default=True,
                 help="Box of a transformed box: enclosing its 4 corners, or its inscribed ellipse."),
    click.option("--min-visibility", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
                 help="Drop objects with less than this fraction inside the output."),
    click.option("--min-size", type=click.FloatRange(min=0.0), default=1.0, show_default=True,
                 help="Drop objects whose clipped box is narrower or lower than this (pixels)."),
    click.option("--min-area", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
                 help="Drop objects whose clipped area is below this (square pixels)."),
    click.option("--labels-frame", type=click.Choice(LABEL_FRAMES), default="displayed", show_default=True,
                 help="Label coordinates refer to the EXIF-rotated (displayed) or the stored pixels."),
    click.option("--masks", "masks_dir", type=click.Path(exists=True, file_okay=False),
                 help="Folder of segmentation masks, paired by relative path and stem."),
    click.option("--mask-suffix", default="", help="Suffix of mask names before the extension, e.g. _mask."),
    click.option("--masks-output", type=click.Path(file_okay=False),
                 help="Where masks from --masks are written [default: OUTPUT_DIR/masks]."),
    click.option("--mask-fill", type=click.IntRange(0, 65535), default=0, show_default=True,
                 help="Mask value for pixels from outside the image (255 where 255 means ignore)."),
    click.option("--allow-unswapped-mirror", is_flag=True,
                 help="Allow flips on pose labels without flip_idx (left/right keypoints are not swapped)."),
    click.option("--label-precision", type=click.IntRange(1, 12), default=6, show_default=True,
                 help="Decimals written in YOLO label files."),
]


def label_options(fn: Callable) -> Callable:
    for option in reversed(_LABEL_OPTIONS):
        fn = option(fn)
    return fn


class FolderOrURL(click.ParamType):
    """A local folder (checked as click.Path does) or a storage URL such as s3://bucket/prefix
    (checked by the library when it is opened)."""

    name = "folder"

    def __init__(self, exists: bool = False) -> None:
        self.local = click.Path(exists=exists, file_okay=False)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and "://" in value and not value.startswith("file://"):
            return value
        if isinstance(value, str) and value.startswith("file://"):
            self.local.convert(value[len("file://"):], param, ctx)
            return value
        return self.local.convert(value, param, ctx)


def scaleout_options(fn: Callable) -> Callable:
    """expand's options for running beyond one machine (augcli/run/)."""
    options = [
        click.option("--shard", metavar="I/N|auto",
                     help="Do only shard I of N (0-based), or take it from Slurm / Kubernetes (auto)."),
        click.option("--buckets", type=click.IntRange(1, MAX_BUCKETS), default=DEFAULT_BUCKETS, show_default=True,
                     help="Fixed number of buckets (the unit of output and resume of sharded runs)."),
        click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
                     help="Engine that runs the buckets: augcli's process pool, or Dask (augcli[dask])."),
        click.option("--scheduler", metavar="tcp://HOST:PORT",
                     help="Dask scheduler to use with --executor dask [default: a local cluster]."),
        click.option("--layout", type=click.Choice(LAYOUTS), default="tree", show_default=True,
                     help="How outputs are placed: tree mirrors the input's folders, one file per output; hf "
                          "adds Hugging Face ImageFolder metadata; webdataset packs tar shards."),
        click.option("--shard-size", type=click.IntRange(1), default=1000, show_default=True, metavar="N",
                     help="Samples per tar shard with --layout webdataset."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


_TARGET_OPTIONS = [
    click.option("--per-class", type=click.IntRange(min=1), metavar="N",
                 help="Every class folder ends with exactly N images (replaces -n; see --include-originals)."),
    click.option("--total", type=click.IntRange(min=1), metavar="N",
                 help="The whole dataset ends with N images, spread evenly over the sources (replaces -n)."),
    click.option("--balance", is_flag=True, help="With --total: lift the smallest classes first, then spread the rest."),
    click.option("--max-copies", type=click.IntRange(min=1), metavar="K",
                 help="With --per-class / --total: at most K copies of any one source."),
]


def target_options(fn: Callable) -> Callable:
    for option in reversed(_TARGET_OPTIONS):
        fn = option(fn)
    return fn


def build_label_options(kw: dict[str, Any]):
    """Turn the label flags into augcli.labels.setup.LabelOptions (pops them from ``kw``)."""
    from .labels.setup import LabelOptions

    try:
        return LabelOptions(
            format=kw.pop("labels_format"), box_method=kw.pop("box_method"), min_visibility=kw.pop("min_visibility"),
            min_size=kw.pop("min_size"), min_area=kw.pop("min_area"), frame=kw.pop("labels_frame"),
            masks=kw.pop("masks_dir"), mask_suffix=kw.pop("mask_suffix"), masks_output=kw.pop("masks_output"),
            mask_fill=kw.pop("mask_fill"), allow_unswapped_mirror=kw.pop("allow_unswapped_mirror"),
            precision=kw.pop("label_precision"))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def scaleout_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """The RunConfig fields of the scale-out options (a bad --shard is a usage error, exit 2)."""
    import os

    from .errors import UsageError

    shard = None
    if kw["shard"] is not None:
        from .run.shard import parse_shard

        try:
            shard = parse_shard(kw["shard"], os.environ)
        except UsageError as exc:
            raise click.UsageError(str(exc)) from None
    if kw["scheduler"] and kw["executor"] != "dask":
        raise click.UsageError("--scheduler needs --executor dask")
    return {"shard": shard, "buckets": kw["buckets"], "executor": kw["executor"], "scheduler": kw["scheduler"],
            "layout": kw["layout"], "shard_size": kw["shard_size"]}


def build_targets(kw: dict[str, Any]):
    """Turn the dataset-target flags into a Targets, or None (pops them from ``kw``)."""
    from .targets import Targets

    values = {key: kw.pop(key) for key in ("per_class", "total", "balance", "max_copies")}
    if not any(v not in (None, False) for v in values.values()):
        return None
    source = click.get_current_context().get_parameter_source("copies")
    if (values["per_class"] or values["total"]) and source not in (None, click.core.ParameterSource.DEFAULT):
        flag = "--per-class" if values["per_class"] else "--total"
        raise click.UsageError(f"-n/--copies and {flag} cannot be used together: {flag} decides the copies")
    try:
        return Targets(**values)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
