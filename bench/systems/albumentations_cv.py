"""albumentations 2.0.8 + OpenCV, one spawn worker process per core.

cv2.imread -> Compose([Affine, HorizontalFlip]) N times -> cv2.imwrite with
IMWRITE_JPEG_QUALITY, mirrored class folders.  Affine `scale` is the
magnification, so Keras' coordinate zoom U(0.75, 1.25) becomes 1/1.25..1/0.75.
"""
from common import (HFLIP_P, JOB, ROTATE_DEG, SHIFT, ZOOM, parse_args,
                    require_plain_job, run_pool, skip, tasks)

try:
    import albumentations as A
    import cv2
except ImportError as e:
    skip(f"albumentations/opencv not installed ({e})")

PIPE = None


def setup():
    global PIPE
    cv2.setNumThreads(0)  # one process per core; no OpenCV thread pool on top
    PIPE = A.Compose([
        A.Affine(rotate=(-ROTATE_DEG, ROTATE_DEG),
                 translate_percent=(-SHIFT, SHIFT),
                 scale=(1 / (1 + ZOOM), 1 / (1 - ZOOM)),
                 border_mode=cv2.BORDER_REPLICATE,
                 interpolation=cv2.INTER_LINEAR, p=1),
        A.HorizontalFlip(p=HFLIP_P),
    ])


def work(task):
    src, stem = task
    img = cv2.imread(src, cv2.IMREAD_COLOR)
    for k in range(JOB["copies"]):
        out = PIPE(image=img)["image"]
        cv2.imwrite(f"{stem}_aug{k}.jpg", out, [cv2.IMWRITE_JPEG_QUALITY, JOB["quality"]])


if __name__ == "__main__":
    a = parse_args(__doc__)
    require_plain_job(a.job)
    run_pool(work, tasks(a.input, a.output), a.workers, a.copies, a.quality, setup)
