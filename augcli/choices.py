"""Every fixed list of choices, in one place that both the CLI and the library read.

A leaf: it imports nothing (so ``augcli --help`` stays fast). The library modules that map a choice
to something (augcli.warping's fill modes and resampling filters, augcli.imageio's encoders)
are checked against these lists by tests/test_op_registry.py.
"""

FILL_MODES = ("nearest", "reflect", "wrap", "constant")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
IMAGE_FORMATS = ("jpeg", "png", "webp", "bmp", "tiff")  # the output encoders
FORMATS = ("same", *IMAGE_FORMATS)  # --format
LABEL_FORMATS = ("auto", "none", "yolo", "yolo-obb", "voc", "coco")
LABEL_OUTPUTS = ("yolo", "coco", "voc")  # --labels-output
BOX_METHODS = ("corners", "ellipse")
ERASE_MODES = ("fill", "mean", "blur")  # --erase-dropped (augcli.labels.erase)
LABEL_FRAMES = ("displayed", "stored")
ON_EXISTS = ("error", "skip", "overwrite")
RESIZE_MODES = ("stretch", "fit", "fill")  # --resize-mode: stretch on load, fit / fill as the last matrix
EXECUTORS = ("local", "dask")
LAYOUTS = ("tree", "hf", "webdataset")  # --layout: how outputs are placed (augcli.run.sinks)
DEFAULT_BUCKETS = 256
MAX_BUCKETS = 100_000

# what `augcli ops` lists after the ops: (step, flags, params, scheme)
COMPOSITIONS = (
    ("mosaic", "--mosaic P, --mosaic-grid 2x2|3x3", "centre ~ U(1/4, 3/4); tiles scaled to 1/G of the canvas",
     "Ultralytics' mosaic (primary top-left, or centre of 3x3)"),
    ("mixup", "--mixup P, --mixup-alpha A", "w ~ Beta(A, A), default A 32; w x canvas + (1 - w) x partner",
     "mixup (Zhang et al. 2018), objects of both kept"),
    ("cutmix", "--cutmix P", "rectangle of area U(0.1, 0.5) of the canvas, anywhere inside it",
     "CutMix (Yun et al. 2019), covered objects dropped by --min-visibility"),
    ("copy_paste", "--copy-paste P, --copy-paste-max K", "1..K objects, flip 1/2, scale U(0.5, 1.5), anywhere",
     "Copy-Paste (Ghiasi et al. 2021), polygons or COCO masks"),
)
