"""Helpers shared by the peer scripts in bench/systems/.

Every system script is called the same way by bench/run.py:

    python bench/systems/<name>.py --input IN --output OUT --copies N \
        --quality Q --workers W --job J

and must write N JPEG files per input image into OUT, mirroring the class
sub-folders of IN.  Exit code 3 plus a line "skipped: <reason>" means the
system is not available (library missing) or cannot express the job.
"""
import argparse
import multiprocessing
import os
import sys

SKIP_EXIT = 3

# The augmentation of jobs J1/J2 (Keras meaning of each parameter).
ROTATE_DEG = 45          # rotation uniform in [-45, 45] degrees
SHIFT = 0.1              # width/height shift, fraction of the size
ZOOM = 0.25              # Keras zoom_range: coordinate scale factor U(0.75, 1.25)
HFLIP_P = 0.5            # horizontal flip probability

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def skip(reason):
    print(f"skipped: {reason}", flush=True)
    sys.exit(SKIP_EXIT)


def parse_args(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--job", default="J1")
    return ap.parse_args()


def require_plain_job(job):
    """Peers implement J1/J2/J4 (same augmentation); J3 and J5 ("every op") are augcli-only."""
    if job not in ("J1", "J2", "J4"):
        skip(f"job {job} not expressible")


def tasks(input_dir, output_dir):
    """List (source path, output stem) for every image below input_dir.

    Output class folders are created here (in the parent process); the stem is
    OUTPUT/<relative dir>/<file name without extension>.
    """
    out = []
    for dirpath, dirnames, filenames in os.walk(input_dir, followlinks=True):
        dirnames.sort()
        rel = os.path.relpath(dirpath, input_dir)
        dst_dir = os.path.normpath(os.path.join(output_dir, rel))
        made = False
        for name in sorted(filenames):
            stem, ext = os.path.splitext(name)
            if ext.lower() not in IMAGE_EXTS:
                continue
            if not made:
                os.makedirs(dst_dir, exist_ok=True)
                made = True
            out.append((os.path.join(dirpath, name), os.path.join(dst_dir, stem)))
    return out


def chunksize(n_items, workers):
    """About 4 files per chunk, smaller when there are few files (J2)."""
    return max(1, min(4, n_items // (4 * max(1, workers))))


JOB = {}  # "copies", "quality": set in every worker (and inline) by run_pool


def _init_job(copies, quality, setup):
    JOB.update(copies=copies, quality=quality)
    if setup:
        setup()


def run_pool(func, items, workers, copies, quality, setup=None, start=None):
    """Run func over items with a Pool of `workers` processes (inline if 1). Each process first
    gets JOB["copies"] and JOB["quality"], then runs ``setup()`` (a system's per-process set-up).

    start=None is the platform default start method, what `multiprocessing.Pool`
    gives a user (fork on Linux up to Python 3.13); the floor asks for "fork" where it exists.
    """
    initargs = (copies, quality, setup)
    if workers <= 1:
        _init_job(*initargs)
        for item in items:
            func(item)
        return
    ctx = multiprocessing.get_context(start)
    pool = ctx.Pool(workers, initializer=_init_job, initargs=initargs)
    try:
        for _ in pool.imap_unordered(func, items, chunksize(len(items), workers)):
            pass
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
