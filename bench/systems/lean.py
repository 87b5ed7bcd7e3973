"""The least a run with augcli's promises can do, as a reference for J4/J1 (not a peer).

Per source: decode once with Pillow. Per output: a plan drawn from a generator keyed by (file,
copy) (Python's random, not augcli's scheme), the matrix of J1's flags (rotate 45, shifts 0.1, zoom
0.25, hflip) in plain floats, one warp in augcli's own kernel into Pillow's memory, a JPEG encode
into memory, an atomic write (a temporary file, then a rename), and a small record of the plan
returned to the parent. Nothing else: no checks of names or sizes, no warnings captured, no labels,
no manifest. What augcli spends beyond this is the price of what it does beyond it.
"""
import io
import math
import os
import random
import sys
import zlib

from common import JOB, parse_args, require_plain_job, run_pool, skip, tasks

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("AUGCLI_BENCH_ROOT") or os.path.dirname(os.path.dirname(HERE)))
try:
    from PIL import Image

    from augcli import kernels
    from augcli.kernels import _warp
except ImportError as e:
    skip(f"augcli or Pillow not importable ({e})")


# one block of memory per image, so the kernel reads and writes Pillow's own (as augcli.imageio
# does; imported here without it, since it loads numpy, which this reference does without)
Image.core.set_block_size(1 << 30)


def work(task):
    src, stem = task
    with Image.open(src) as im:
        im = im.convert("RGB")
    w, h = im.size
    view = kernels.pixels(im)
    key = zlib.crc32(src.encode())
    records = []
    for k in range(JOB["copies"]):
        r = random.Random(key * 64 + k)
        angle = math.radians(r.uniform(-45, 45))
        tx, ty = r.uniform(-0.1, 0.1) * w, r.uniform(-0.1, 0.1) * h
        zx, zy = r.uniform(0.75, 1.25), r.uniform(0.75, 1.25)
        flip = r.random() < 0.5
        c, s = math.cos(angle), math.sin(angle)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        a, b, d, e = c * zx, -s * zy, s * zx, c * zy
        if flip:
            a, d = -a, -d
        m = (a, b, cx - a * cx - b * cy + tx, d, e, cy - d * cx - e * cy + ty, 0.0, 0.0, 1.0)
        out = Image.new("RGB", (w, h), None)
        _warp.warp(view, w, h, w * 4, 4, 0, kernels.pixels(out, writable=True), w, h, w * 4, m,
                   kernels.FILLS["nearest"], kernels.INTERPOLATIONS["bilinear"], b"\0\0\0\0", 4)
        buf = io.BytesIO()
        out.save(buf, "JPEG", quality=JOB["quality"])
        dst = f"{stem}_aug{k}.jpg"
        tmp = f"{stem}_aug{k}.jpg.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, buf.getbuffer())
        finally:
            os.close(fd)
        os.replace(tmp, dst)
        records.append({"output": dst, "copy": k, "matrix": m[:6], "flip": flip})
    return records


if __name__ == "__main__":
    a = parse_args(__doc__)
    require_plain_job(a.job)
    import multiprocessing

    fork = "fork" in multiprocessing.get_all_start_methods()
    run_pool(work, tasks(a.input, a.output), a.workers, a.copies, a.quality, start="fork" if fork else "spawn")
