"""Physical floor: decode each input once, encode it N times as JPEG.

No augmentation at all: this is the I/O + codec cost every system pays, run
with the same worker count (Pool, imap_unordered, chunks of ~4 files). Its workers
are forked where the platform can (Linux), as augcli's are: spawning them cost the
floor about 0.1 s of J1's 1 s (measured 2026-12-02), which is not codec work.
It runs for every job: only the file count, N and Q matter to it.
"""
from common import JOB, parse_args, run_pool, skip, tasks

try:
    from PIL import Image
except ImportError as e:
    skip(f"Pillow not installed ({e})")

def work(task):
    src, stem = task
    with Image.open(src) as im:
        im = im.convert("RGB")
    for k in range(JOB["copies"]):
        im.save(f"{stem}_aug{k}.jpg", "JPEG", quality=JOB["quality"])


if __name__ == "__main__":
    a = parse_args(__doc__)
    import multiprocessing

    fork = "fork" in multiprocessing.get_all_start_methods()
    run_pool(work, tasks(a.input, a.output), a.workers, a.copies, a.quality, start="fork" if fork else "spawn")
