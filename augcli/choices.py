"""Every fixed list of choices, in one place that both the CLI and the library read.

A leaf: it imports nothing (so ``augcli --help`` stays fast). The library modules that map a choice
to something (augcli.functional's fill modes and resampling filters, augcli.imageio's encoders)
are checked against these lists by tests/test_op_registry.py.
"""

FILL_MODES = ("nearest", "reflect", "wrap", "constant")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
IMAGE_FORMATS = ("jpeg", "png", "webp", "bmp", "tiff")  # the output encoders
FORMATS = ("same", *IMAGE_FORMATS)  # --format
LABEL_FORMATS = ("auto", "none", "yolo", "yolo-obb", "voc", "coco")
BOX_METHODS = ("corners", "ellipse")
ERASE_MODES = ("fill", "mean", "blur")  # --erase-dropped (augcli.labels.erase)
LABEL_FRAMES = ("displayed", "stored")
ON_EXISTS = ("error", "skip", "overwrite")
RESIZE_MODES = ("stretch", "fit", "fill")  # --resize-mode: stretch on load, fit / fill as the last matrix
EXECUTORS = ("local", "dask")
LAYOUTS = ("tree", "hf", "webdataset")  # --layout: how outputs are placed (augcli.run.sinks)
DEFAULT_BUCKETS = 256
MAX_BUCKETS = 100_000
