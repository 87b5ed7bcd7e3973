"""expand's option groups, built from the ops' flag specs and augcli.choices, and the functions
that turn parsed options into library values (a Pipeline, LabelOptions, Targets, scale-out fields).
Imports only click and light modules: ``augcli --help`` loads neither numpy nor Pillow."""

from __future__ import annotations

from typing import Any, Callable

import click

from .choices import (COMPOSITIONS, BOX_METHODS, DEFAULT_BUCKETS, ERASE_MODES, EXECUTORS, FILL_MODES, INTERPOLATIONS,
                      LABEL_FORMATS, LABEL_FRAMES, LABEL_OUTPUTS, LAYOUTS, MAX_BUCKETS, ON_EXISTS)
from .cli_types import ColourType, PairType, ProbabilityType, RangeType, SizeType
from .ops import FLAGS as OP_FLAGS, LETTERBOX_FILL  # light: the op modules load numpy and Pillow only when an op runs
from .ops.flags import Choice, Flag, Number, Pair, Size, Span, Spec, Switch
from .presets import NAMES as PRESET_NAMES


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
    if isinstance(value, Spec):  # checked by the op itself (a bad one is a usage error, see build_pipeline)
        return click.option(flag.name, metavar=flag.metavar, help=flag.help)
    if isinstance(value, Size):
        return click.option(flag.name, type=SizeType(), help=flag.help)
    if isinstance(value, Number):
        number = click.IntRange if value.whole else click.FloatRange
        return click.option(flag.name, type=number(value.low, value.high), metavar=flag.metavar, help=flag.help)
    if isinstance(value, Pair):
        return click.option(flag.name, type=PairType(value.second, flag.metavar or ""), help=flag.help)
    raise TypeError(f"{flag.name}: no click option for {value!r}")


_OP_OPTIONS = [
    click.option("--preset", type=click.Choice(PRESET_NAMES),
                 help="A documented set of augmentation flags (see augcli ops --preset NAME); "
                      "flags given explicitly override its values."),
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

    preset = kw.pop("preset", None)
    if preset is not None:
        apply_preset(kw, preset)
    try:
        ops = build(**{flag.key: kw.pop(flag.key) for flag in OP_FLAGS}, probabilities=dict(kw.pop("probabilities")))
        ops += _resize_op(kw, ops)
        fill_mode, cval = kw.pop("fill_mode"), kw.pop("cval")
        if any(op.name == "letterbox" and op.mode == "pad" for op in ops):  # type: ignore[attr-defined]
            # the bands take --cval: Ultralytics' grey unless the user gave one
            ctx = click.get_current_context(silent=True)
            if ctx is None or ctx.get_parameter_source("cval") in (None, click.core.ParameterSource.DEFAULT):
                cval = LETTERBOX_FILL
        warp = WarpSettings(fill_mode, cval, kw.pop("interpolation"))
        return Pipeline(ops, warp)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def apply_preset(kw: dict[str, Any], name: str) -> None:
    """Fill ``kw`` from preset ``name`` (augcli.presets) as if its flags had been typed, except the
    flags the user gave (command line or environment), which keep their values. A preset's --p
    entries come first, so an explicit --p for the same op wins."""
    from .presets import PRESETS

    ctx = click.get_current_context()
    options = {opt: p for p in ctx.command.params if isinstance(p, click.Option) for opt in p.opts}
    given = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    preset_p: list[tuple[str, float]] = []
    for flag, value in PRESETS[name].pairs():
        param = options[flag]
        if param.multiple:
            preset_p.extend(param.type_cast_value(ctx, [value]))
        elif ctx.get_parameter_source(param.name) not in given:
            kw[param.name] = True if value is None else param.type_cast_value(ctx, value)
    kw["probabilities"] = (*preset_p, *kw["probabilities"])
def _resize_op(kw: dict[str, Any], ops: tuple) -> tuple:
    """--resize-mode fit / fill: --resize becomes the letterbox op in that mode (the last matrix of
    the plan, so labels are cut where the image is) and nothing is resized on load."""
    from .ops import Letterbox

    mode = kw.pop("resize_mode", "stretch")
    if mode == "stretch":
        return ()
    if kw.get("resize") is None:
        raise click.UsageError(f"--resize-mode {mode} needs --resize WxH")
    if any(op.name == "letterbox" for op in ops):
        raise click.UsageError(f"--resize-mode {mode} and --letterbox both size the output; give one")
    target, kw["resize"] = kw["resize"], None
    return (Letterbox(target=target, mode=mode),)


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
    click.option("--require", metavar="all|any|N",
                 help="Redraw an output's plan until all, any or at least N of its objects survive the label "
                      "rules (at most --max-tries tries; else the best try is written and counted as not met)."),
    click.option("--max-tries", type=click.IntRange(min=1), default=10, show_default=True,
                 help="Tries per output under --require."),
    click.option("--label-precision", type=click.IntRange(1, 12), default=6, show_default=True,
                 help="Decimals written in YOLO label files."),
    click.option("--labels-output", type=click.Choice(LABEL_OUTPUTS),
                 help="Write the labels in this format instead of the one they came in."),
    click.option("--allow-lossy", is_flag=True,
                 help="With --labels-output: write what the format can hold when it cannot hold everything."),
    click.option("--erase-dropped", type=click.Choice(ERASE_MODES),
                 help="Paint over objects the survival rules drop (--cval colour, the image's mean, or a blur); "
                      "their mask pixels get --mask-fill."),
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
        click.option("--buckets", type=click.IntRange(1, MAX_BUCKETS), default=None, metavar="B",
                    help=f"Fixed number of buckets (the unit of output and resume of sharded runs) [default: "
                         f"{DEFAULT_BUCKETS}; with --layout webdataset, about the fewest that keep each bucket within "
                         "one --shard-size shard]."),
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


_COMPOSE_OPTIONS = [
    click.option("--mosaic", type=click.FloatRange(0.0, 1.0), default=0.0, metavar="P",
                 help="Probability that an output is a mosaic of the source and partners (Ultralytics' scheme)."),
    click.option("--mosaic-grid", type=click.Choice(["2x2", "3x3"]), default="2x2", show_default=True,
                 help="Tiles of a mosaic."),
    click.option("--mixup", type=click.FloatRange(0.0, 1.0), default=0.0, metavar="P",
                 help="Probability of blending a partner into an output (weight ~ Beta(A, A))."),
    click.option("--mixup-alpha", type=click.FloatRange(min=0.0, min_open=True), default=32.0, show_default=True,
                 metavar="A", help="The Beta distribution's parameter of --mixup."),
    click.option("--cutmix", type=click.FloatRange(0.0, 1.0), default=0.0, metavar="P",
                 help="Probability of pasting a rectangle of a partner into an output."),
    click.option("--copy-paste", type=click.FloatRange(0.0, 1.0), default=0.0, metavar="P",
                 help="Probability of pasting whole objects (polygons or masks) of a partner into an output."),
    click.option("--copy-paste-max", type=click.IntRange(1, 100), default=3, show_default=True, metavar="K",
                 help="At most K objects pasted per output (1..K, uniform)."),
    click.option("--mix-within", type=click.Choice(["class", "dataset"]), default="class", show_default=True,
                 help="Where partners come from: the source's own folder, or anywhere."),
    click.option("--mix-window", type=click.IntRange(2, 1024), default=16, show_default=True, metavar="W",
                 help="Partners come from the block of W consecutive sources that holds the source."),
]


def compose_options(fn: Callable) -> Callable:
    for option in reversed(_COMPOSE_OPTIONS):
        fn = option(fn)
    return fn


def build_compose(kw: dict[str, Any]):
    """Turn the composition flags into an augcli.compose.Compose, or None (pops them from ``kw``)."""
    values = {key: kw.pop(key) for key in ("mosaic", "mosaic_grid", "mixup", "mixup_alpha", "cutmix", "mix_within",
                                           "mix_window", "copy_paste", "copy_paste_max")}
    if not (values["mosaic"] or values["mixup"] or values["cutmix"] or values["copy_paste"]):
        return None
    from .compose import Compose

    try:
        return Compose(mosaic=values["mosaic"], grid=int(values["mosaic_grid"][0]), mixup=values["mixup"],
                       mixup_alpha=values["mixup_alpha"], cutmix=values["cutmix"], within=values["mix_within"],
                       window=values["mix_window"], copy_paste=values["copy_paste"],
                       paste_max=values["copy_paste_max"])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def require_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """The RunConfig fields of --require and --max-tries (pops them from ``kw``)."""
    require, max_tries = kw.pop("require"), kw.pop("max_tries")
    source = click.get_current_context().get_parameter_source("max_tries")
    if require is None and source not in (None, click.core.ParameterSource.DEFAULT):
        raise click.UsageError("--max-tries needs --require")
    if require is not None and not (require in ("all", "any") or (require.isdigit() and int(require) >= 1)):
        raise click.UsageError(f"--require must be all, any or a whole number >= 1, not {require!r}")
    return {"require": require, "max_tries": max_tries}


def build_label_options(kw: dict[str, Any]):
    """Turn the label flags into augcli.labels.setup.LabelOptions (pops them from ``kw``)."""
    from .labels.setup import LabelOptions

    try:
        return LabelOptions(
            format=kw.pop("labels_format"), box_method=kw.pop("box_method"), min_visibility=kw.pop("min_visibility"),
            min_size=kw.pop("min_size"), min_area=kw.pop("min_area"), frame=kw.pop("labels_frame"),
            masks=kw.pop("masks_dir"), mask_suffix=kw.pop("mask_suffix"), masks_output=kw.pop("masks_output"),
            mask_fill=kw.pop("mask_fill"), allow_unswapped_mirror=kw.pop("allow_unswapped_mirror"),
            precision=kw.pop("label_precision"), output=kw.pop("labels_output"), allow_lossy=kw.pop("allow_lossy"),
            erase_dropped=kw.pop("erase_dropped"))
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
    buckets = kw["buckets"]
    if buckets is None and kw["layout"] != "webdataset":
        buckets = DEFAULT_BUCKETS
    return {"shard": shard, "buckets": buckets, "executor": kw["executor"], "scheduler": kw["scheduler"],
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


OPS_COLUMNS = ("op", "flag", "params", "default", "scheme")


def ops_table(markdown: bool = False) -> str:
    """The op table ``augcli ops`` prints: aligned text, or a Markdown table (as in the README)."""
    from .ops import table

    rows = table()
    if markdown:
        cells = [[r[c].replace("|", "\\|") for c in OPS_COLUMNS] for r in rows]
        lines = ["| " + " | ".join(OPS_COLUMNS) + " |", "|" + "---|" * len(OPS_COLUMNS)]
        lines += ["| " + " | ".join(f"`{c}`" if i < 2 else c for i, c in enumerate(row)) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(c), *(len(r[c]) for r in rows)) for c in OPS_COLUMNS[:2]]
    lines = []
    for r in rows:
        lines.append(f"{r['op']:<{widths[0]}}  {r['flag']:<{widths[1]}}  {r['params']}")
        lines.append(f"{'':<{widths[0]}}  {'':<{widths[1]}}  default: {r['default']}; scheme: {r['scheme']}")
    lines += ["", "compositions, made before the ops in this order, each with its own probability P (see the README):"]
    for step, flags, params, scheme in COMPOSITIONS:
        lines.append(f"  {step:<{widths[0] - 2}}  {flags:<{widths[1]}}  {params}")
        lines.append(f"  {'':<{widths[0] - 2}}  {'':<{widths[1]}}  scheme: {scheme}")
    return "\n".join(lines)


# the run-control options expand and tile share
_RUN_OPTIONS = [
    click.option("-j", "--workers", type=click.IntRange(min=0), default=0, show_default="all CPUs",
                 help="Worker processes; 1 runs in-process."),
    click.option("--on-exists", type=click.Choice(ON_EXISTS), default="error", show_default=True,
                 help="What to do when an output file already exists."),
    click.option("--dry-run", is_flag=True, help="Plan and count, print the outputs, write nothing."),
    click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False),
                 help="Where to write the manifest [default: OUTPUT_DIR/manifest.jsonl]."),
    click.option("--no-manifest", is_flag=True, help="Do not write a manifest."),
    click.option("--no-exif-transpose", is_flag=True, help="Do not apply the EXIF orientation tag on load."),
    click.option("--max-pixels", type=click.IntRange(min=1), default=100_000_000, show_default=True,
                 help="Refuse images with more pixels than this (decompression bombs)."),
    click.option("--background", type=ColourType(), default="white", show_default=True,
                 help="Colour that transparency is flattened onto for formats without alpha (JPEG, BMP)."),
    click.option("--strict", is_flag=True, help="Stop at the first file that fails."),
    click.option("--follow-outside/--no-follow-outside", default=None,
                 help="Follow symlinked images and folders whose real path is outside INPUT_DIR "
                      "[default: not when labels are carried, else yes]."),
    click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout."),
    click.option("-q", "--quiet", is_flag=True, help="No progress bar, summary line or lines saying which labels were found (errors and warnings still shown)."),
]


def run_options(fn: Callable) -> Callable:
    for option in reversed(_RUN_OPTIONS):
        fn = option(fn)
    return fn
