"""J6's input: the bench photos as a YOLO-detect dataset (``images/`` + ``labels/`` + ``data.yaml``).

Each photo is copied as ``images/<class>_<name>`` and labelled with one box, class = its folder's
index, centred, half the image's width and height: what matters for the timing is that every output
carries labels through the composition. Made once into a cache folder; a stamp written last marks a
complete set.
"""
import os
import shutil
from pathlib import Path

STAMP = ".complete-v1"
EXTS = {".jpg", ".jpeg", ".png"}


def make_yolo_set(images, folder):
    images, folder = Path(images), Path(folder)
    if (folder / STAMP).exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    classes = sorted(p.name for p in images.iterdir() if p.is_dir())
    for cls_id, cls in enumerate(classes):
        for src in sorted((images / cls).iterdir()):
            if src.suffix.lower() not in EXTS:
                continue
            name = f"{cls}_{src.name}"
            shutil.copyfile(src, folder / "images" / name)  # copies: a labelled run follows no link out
            (folder / "labels" / (Path(name).stem + ".txt")).write_text(f"{cls_id} 0.5 0.5 0.5 0.5\n")
    names = "\n".join(f"  {i}: {c}" for i, c in enumerate(classes))
    (folder / "data.yaml").write_text(f"path: .\ntrain: images\nnames:\n{names}\n")
    (folder / STAMP).write_text("")
    return folder
