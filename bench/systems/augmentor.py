"""Augmentor 0.2.12 pipeline, the way its README shows it.

Pipeline(IN, output_directory=OUT) -> rotate_without_crop, zoom, flip_left_right
-> p.process() called N times (process() augments every image exactly once,
so N calls give exactly N outputs per image, class folders mirrored by
Augmentor itself).  Parallelism is Augmentor's own: process() runs a
ThreadPoolExecutor(max_workers=None), i.e. min(32, cpus + 4) threads; the
thread count cannot be set, so --workers is not used.  Not expressible:
translation (no shift op), edge-replicate fill (rotation and zoom-out fill
black), bilinear (Augmentor is bicubic), JPEG quality (saves at Pillow's
default 75).
"""
import contextlib
import os

from common import (HFLIP_P, ROTATE_DEG, ZOOM, parse_args, require_plain_job,
                    skip, tasks)

try:
    import Augmentor
except ImportError as e:
    skip(f"Augmentor not installed ({e})")


if __name__ == "__main__":
    a = parse_args(__doc__)
    require_plain_job(a.job)
    tasks(a.input, a.output)  # makes OUT/<class>/: Augmentor forgets it with 1 class
    p = Augmentor.Pipeline(a.input, output_directory=os.path.abspath(a.output))
    p.rotate_without_crop(1, ROTATE_DEG, ROTATE_DEG, expand=False)
    # Augmentor's factor is a magnification: Keras zoom U(0.75,1.25) -> 0.8..1.33
    p.zoom(1, 1 / (1 + ZOOM), 1 / (1 - ZOOM))
    p.flip_left_right(HFLIP_P)
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        for _ in range(a.copies):
            p.process()   # tqdm progress bars go to stderr, as for a user
