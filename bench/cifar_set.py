"""J4's input: CIFAR-sized 32x32 PNGs cut from the bench photos, made once into a cache folder.

Each photo gives ``PER_PHOTO`` random square crops (side U(0.3, 1) of the photo's shorter side,
anywhere in it), each resized to 32x32 with Pillow's box filter and saved as PNG under the photo's
class folder. The crops are drawn by ``random.Random`` seeded with the photo's relative path and the
crop's index (string seeds hash the same in every Python 3), so the set is the same on every run and
machine for the same photos and Pillow. A stamp file written last marks a complete set: an
interrupted one is made again.
"""
import os
import random
import shutil
from pathlib import Path

PER_PHOTO = 64   # 153 photos -> 9,792 images, about the size of CIFAR-10's test set
SIDE = 32
STAMP = f".complete-v1-{PER_PHOTO}x{SIDE}"  # hidden: no system reads it as an input
EXTS = {".jpg", ".jpeg", ".png"}


def make_cifar_set(images, folder):
    """The folder of 32x32 crops of ``images`` (class sub-folders), made if not already complete."""
    from PIL import Image

    images, folder = Path(images), Path(folder)
    if (folder / STAMP).exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for dirpath, dirnames, filenames in os.walk(images):
        dirnames.sort()
        for name in sorted(filenames):
            if os.path.splitext(name)[1].lower() not in EXTS:
                continue
            src = Path(dirpath) / name
            rel = src.relative_to(images)
            dst = folder / rel.parent
            dst.mkdir(parents=True, exist_ok=True)
            with Image.open(src) as im:
                im = im.convert("RGB")
            w, h = im.size
            for i in range(PER_PHOTO):
                rng = random.Random(f"{rel.as_posix()}:{i}")
                side = max(1, round(rng.uniform(0.3, 1.0) * min(w, h)))
                left, top = rng.randint(0, w - side), rng.randint(0, h - side)
                crop = im.resize((SIDE, SIDE), Image.Resampling.BOX, box=(left, top, left + side, top + side))
                crop.save(dst / f"{rel.stem}_{i:02d}.png")
    (folder / STAMP).write_text("")
    return folder


if __name__ == "__main__":
    import sys

    print(make_cifar_set(sys.argv[1], sys.argv[2]))
