"""Where a dataset keeps its labels: one walk over the input tree, as ``expand`` walks it.

The walk follows symlinked folders through augcli.walk.FolderWalk (each real folder read once, under
the first path that reaches it), so ``scan`` sees the images by the paths the run will give them and
labels are paired through the path as seen, as Ultralytics does. Each folder's sub-folders are
classified together, as siblings:

- ``images/`` + ``labels/``: YOLO (``labels/`` of ``.txt``), or VOC / masks when ``labels/`` holds
  XML / class-index images; a ``labels/`` beside an ``images`` that is a symlink below the root is a
  YOLO *task folder* (lightly-ai/coco128_yolo);
- ``Annotations/``, ``annotations/``, ``xml/``, ``labels/`` of XML beside ``JPEGImages/`` or
  ``images/``: VOC, paired by relative path and stem;
- a folder named like masks (``*annot*``, ``*mask*``, ``*label*``, ``*gt*``, ``SegmentationClass*``)
  whose sampled images are class indices (palette or grey with few values) beside the image folder
  of the same name without the mask word (``train/`` + ``trainannot/``) or, for a bare name
  (``masks/``, ``annotations/``), beside ``images/``/``JPEGImages/`` or the only image folder:
  masks, paired by relative path and stem; with no such image folder it is an *orphan*.

Everything else a label could be (XML, TXT under ``labels/``, COCO-like JSON, images in a mask
folder) is collected so that files no image pairs with can be counted (``setup.resolve``).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..imageio import IMAGE_EXTENSIONS
from ..run.discover import is_candidate, is_visible
from ..safefiles import FileRefused, open_regular, read_head

IMAGE_DIRS = ("images", "JPEGImages")
VOC_DIRS = ("Annotations", "annotations", "xml", "labels")
_MASK_NAME = re.compile(r"annot|mask|label|segmentation(class|object)|(^|[^a-z])gt", re.I)
_MASK_WORD = re.compile(r"annotations?|annots?|masks?|labels?|segmentation(class|object)\w*|gt", re.I)
PEEK_FILES = 400  # files looked at to tell what a folder holds
SAMPLE_MASKS = 3  # images decoded to tell class indices from photos
SAMPLE_STEMS = 20  # mask names checked against the image folder
COCO_HEAD = 1 << 20  # bytes of a JSON read to see whether it looks like COCO


def mask_named(name: str) -> bool:
    return bool(_MASK_NAME.search(name))


@dataclass
class Tree:
    """What the walk saw (relative POSIX paths)."""

    images: list[str] = field(default_factory=list)  # sources: images outside label and mask folders
    files: set[str] = field(default_factory=set)  # every file in a label or mask folder, and XML/TXT/JSON
    label_like: list[str] = field(default_factory=list)  # files that look like labels, in walk order
    other_txt: list[str] = field(default_factory=list)  # the first OTHER_TXT .txt files elsewhere (read by content)
    voc_dirs: list[tuple[str, str]] = field(default_factory=list)  # (image folder, annotation folder)
    mask_dirs: list[tuple[str, str]] = field(default_factory=list)  # (image folder, mask folder)
    tasks: list[tuple[str, str]] = field(default_factory=list)  # (task folder, real path of its images link)
    orphans: list[str] = field(default_factory=list)  # mask-like folders with no image folder to pair
    new_masks: list[tuple[str, str]] = field(default_factory=list)  # mask_dirs found by name and content
    image_links: list[str] = field(default_factory=list)  # image folders paired with labels that are links
    unread: list[tuple[str, str]] = field(default_factory=list)  # (label folder, its format): formats augcli does not read


def _peek(path: str, limit: int = PEEK_FILES) -> tuple[Counter, list[str]]:
    """Extension counts ('.txt', '.xml', '.json', 'image') of the first ``limit`` files under ``path``
    (sorted, symlinks followed) and the relative paths of the images among them."""
    counts: Counter = Counter()
    images: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if is_visible(d))
        for f in sorted(filenames):
            if not is_visible(f):
                continue
            ext = os.path.splitext(f)[1].lower()
            if ext in IMAGE_EXTENSIONS:
                counts["image"] += 1
                images.append(os.path.relpath(os.path.join(dirpath, f), path).replace(os.sep, "/"))
            else:
                counts[ext] += 1
            seen += 1
            if seen >= limit:
                return counts, images
    return counts, images


def class_index(path: str, max_pixels: int = 50_000_000) -> bool:
    """True if the image at ``path`` holds class indices rather than a photo: a single-channel
    (palette, grey, 16-bit) or colour image with few distinct values, or whose 16 most common
    values cover 90 % of it (anti-aliased edges)."""
    from PIL import Image

    try:
        with open_regular(path) as fh, Image.open(fh) as im:
            if im.size[0] * im.size[1] > max_pixels:
                return False
            mode = im.mode
            if mode == "1":
                return True
            if mode in ("RGB", "RGBA"):
                a = np.asarray(im.convert("RGB"), dtype=np.uint32)
                flat = (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]
            elif mode in ("P", "L", "I;16", "I;16B", "I;16L", "I", "LA", "PA"):
                band = im.getchannel(0) if mode in ("LA", "PA") else im
                flat = np.asarray(band)
                if mode == "I" and (flat.min() < 0 or flat.max() > 65535):
                    return False
            else:
                return False
    except Exception:  # unreadable: not evidence of anything
        return False
    _, counts = np.unique(flat.ravel(), return_counts=True)
    if len(counts) <= 64:
        return True
    return mode not in ("RGB", "RGBA") and np.sort(counts)[-16:].sum() >= 0.9 * flat.size


def _looks_like_masks(path: str, images: list[str]) -> bool:
    sample = images[:SAMPLE_MASKS]
    return bool(sample) and all(class_index(os.path.join(path, rel)) for rel in sample)


def _stems_match(root: str, image_dir: str, mask_dir: str, masks: list[str]) -> bool:
    """True if some of the sampled mask names (relative path + stem) have an image of that stem at
    the same relative path in ``image_dir``."""
    listed: dict[str, set[str]] = {}
    for rel in masks[:SAMPLE_STEMS]:
        parent, stem = os.path.dirname(rel), os.path.splitext(os.path.basename(rel))[0]
        if parent not in listed:
            try:
                listed[parent] = {os.path.splitext(n)[0] for n in os.listdir(os.path.join(root, image_dir, parent))
                                  if is_candidate(n)}
            except OSError:
                listed[parent] = set()
        if stem in listed[parent]:
            return True
    return False


def _partner(name: str, siblings: list[str], holds_images) -> str | None:
    """The image folder a mask folder ``name`` goes with: the sibling named as it is without its mask
    word (``trainannot`` -> ``train``), or for a bare name ``images``/``JPEGImages``, else the only
    sibling that holds images."""
    bare = _MASK_WORD.sub("", name).strip("_-. ")
    if bare:
        for s in siblings:
            if s.lower() == bare.lower() and s != name:
                return s
        return None
    for s in IMAGE_DIRS:
        if s in siblings:
            return s
    holders = [s for s in siblings if s != name and not mask_named(s) and holds_images(s)]
    return holders[0] if len(holders) == 1 else None


def classify(root: str, base: str, dirs: list[str], found) -> dict[str, str]:
    """Classify the sub-folders ``dirs`` of folder ``base`` ("" or "x/y/") into ``found`` (a
    setup.Found). Returns {sub-folder name: "labels" or "masks"} for those that hold labels (they
    are never walked for sources)."""
    here = os.path.join(root, base)
    d = set(dirs)
    held: dict[str, str] = {}
    peeks: dict[str, tuple[Counter, list[str]]] = {}

    def peek(name: str) -> tuple[Counter, list[str]]:
        if name not in peeks:
            peeks[name] = _peek(os.path.join(here, name))
        return peeks[name]

    for img, ann, what in UNREAD_PAIRS:  # label folders of formats augcli does not read: never silently left
        if img in d and ann in d and "labels" not in d and peek(ann)[0][".txt"]:  # (beside labels/: counted)
            found.tree.unread.append((f"{base}{ann}", what))
    if "images" in d and "labels" in d:
        counts, imgs = peek("labels")
        if counts[".xml"] > counts[".txt"]:
            found.voc.append(f"{base}labels/ beside {base}images/")
            found.tree.voc_dirs.append((f"{base}images", f"{base}labels"))
            held["labels"] = "labels"
        elif counts["image"] > counts[".txt"] and _looks_like_masks(os.path.join(here, "labels"), imgs):
            pass  # a mask folder named labels/: taken below
        else:
            if base and os.path.islink(os.path.join(here, "images")):
                found.tree.tasks.append((base.rstrip("/"), os.path.realpath(os.path.join(here, "images"))))
            found.yolo.append(f"{base}labels/ beside {base}images/")
            held["labels"] = "labels"
    if "images" in d and "masks" in d:
        found.mask_layout = found.mask_layout or "sibling"
        found.tree.mask_dirs.append((f"{base}images", f"{base}masks"))
        held["masks"] = "masks"
    if "JPEGImages" in d and "Annotations" in d:
        found.voc.append(f"{base}Annotations/ beside {base}JPEGImages/")
        held["Annotations"] = "labels"
    if "JPEGImages" in d and "SegmentationClass" in d:
        found.mask_layout = found.mask_layout or "voc"
        found.tree.mask_dirs.append((f"{base}JPEGImages", f"{base}SegmentationClass"))
        if "SegmentationObject" in d:
            found.notes.append(f"{base}SegmentationObject/ is not carried (only SegmentationClass/ is)")
    elif "JPEGImages" in d and "SegmentationObject" in d:
        found.mask_layout = found.mask_layout or "voc-object"
        found.tree.mask_dirs.append((f"{base}JPEGImages", f"{base}SegmentationObject"))
    if "JPEGImages" in d:  # VOC's mask folders are never sources
        held.update((n, "masks") for n in ("SegmentationClass", "SegmentationObject") if n in d)
    for img in IMAGE_DIRS:
        if img not in d:
            continue
        for ann in VOC_DIRS:
            if ann not in d or ann in held:
                continue
            counts, _ = peek(ann)
            if counts[".xml"] and counts[".xml"] >= max(counts[".txt"], counts[".json"], counts["image"]):
                found.voc.append(f"{base}{ann}/ beside {base}{img}/")
                found.tree.voc_dirs.append((f"{base}{img}", f"{base}{ann}"))
                held[ann] = "labels"
    for name in dirs:
        if name in held or not mask_named(name):
            continue
        counts, imgs = peek(name)
        if not counts["image"] or counts["image"] < max(counts[".xml"], counts[".txt"], counts[".json"]):
            continue
        if not _looks_like_masks(os.path.join(here, name), imgs):
            continue
        partner = _partner(name, dirs, lambda s: peek(s)[0]["image"] > 0)
        if partner is not None and _stems_match(here, partner, name, imgs):
            found.tree.mask_dirs.append((f"{base}{partner}", f"{base}{name}"))
            found.tree.new_masks.append((f"{base}{partner}", f"{base}{name}"))
        else:
            found.tree.orphans.append(f"{base}{name}")
        held[name] = "masks"
    found.excluded.update(f"{base}{n}" for n in held)
    # An image folder the layout pairs with labels may be a link out of the input (a YOLO task folder's
    # images -> ../images): the run follows it, naming it, even where other links out are not followed.
    paired = {"images"} if "images" in d and held.get("labels") else set()
    paired.update(i[len(base):] for i, _ in found.tree.voc_dirs + found.tree.mask_dirs
                  if i.startswith(base) and "/" not in i[len(base):])
    found.tree.image_links.extend(f"{base}{n}" for n in sorted(paired) if os.path.islink(os.path.join(here, n)))
    return held


def looks_like_coco(path: Path) -> bool:
    """A JSON whose first megabyte names both ``images`` and ``annotations``."""
    try:
        head = read_head(path, COCO_HEAD)
    except FileRefused:  # a FIFO or a device is no COCO file (and must not hang the scan)
        return False
    return b'"images"' in head and b'"annotations"' in head


OTHER_TXT = 2000  # .txt files outside label folders read for what they hold (a bound on the scan's reads)


def _numbers(line: bytes) -> int:
    """How many fields ``line`` has when every one is a number (split at commas and blanks), else 0."""
    fields = line.replace(b",", b" ").split()
    try:
        for v in fields:
            float(v)
    except ValueError:
        return 0
    return len(fields)


def _txt_rows(head: bytes, name: str) -> str | None:
    """Box lists in a text format augcli does not read: MOT's gt.txt / det.txt (frame, id, x, y, w,
    h, ... per line), WIDER FACE's *_bbx_gt.txt (an image path, a count, then x y w h ... rows), or
    lines of four or more numbers."""
    lines = [ln for ln in head.splitlines()[:4] if ln.strip()]
    if len(lines) == 4 and not head.endswith(b"\n"):
        lines = lines[:3]  # the last one may be cut at the head's end
    if not lines:
        return None
    if len(lines) >= 3 and lines[0].strip().lower().endswith((b".jpg", b".jpeg", b".png")) and \
            _numbers(lines[1]) == 1 and _numbers(lines[2]) >= 4:
        return "WIDER FACE boxes"
    counts = [_numbers(ln) for ln in lines]
    if min(counts) >= 6 and name in ("gt.txt", "det.txt") and b"," in lines[0]:
        return "MOT boxes"
    return "rows of numbers" if min(counts) >= 4 else None


def other_labels(path: Path) -> str | None:
    """The name of a label format augcli does not read that the file at ``path`` looks like, from
    its first bytes (LabelMe or CreateML JSON, a CSV of boxes with xmin..ymax columns, box lists
    in text: ``_txt_rows``), else None."""
    try:
        head = read_head(path, COCO_HEAD if path.suffix.lower() == ".json" else 4096)
    except FileRefused:
        return None
    if path.suffix.lower() == ".txt":
        return _txt_rows(head, path.name.lower())
    if path.suffix.lower() == ".csv":  # a header with the box columns, and a row under it
        first, _, rest = head.partition(b"\n")
        return "CSV boxes" if b"xmin" in first.lower() and b"ymax" in first.lower() and rest.strip() else None
    if b'"shapes"' in head and b'"imagePath"' in head:
        return "LabelMe JSON"
    if b'"annotations"' in head and b'"coordinates"' in head:
        return "CreateML JSON"
    return None


def label_like(rel: str) -> bool:
    """A file a user would take for labels: XML, a TXT under a folder named like a label folder
    (``labels``, ``label_2``, ``labelTxt``, ``annotations``...; not classes.txt) or VOC's ``ImageSets``, a JSON or a CSV
    (their content checked by the caller: COCO, or a format augcli does not read)."""
    p = PurePosixPath(rel)
    ext = p.suffix.lower()
    if ext in (".xml", ".csv"):
        return True
    if ext == ".txt":
        return p.name != "classes.txt" and (image_set_list(rel) or any(
            part.lower().startswith(("label", "annotation")) for part in p.parts[:-1]))
    return False


def image_set_list(rel: str) -> bool:
    """A VOC image-set list (``ImageSets/Main/train.txt``...): ids of the images in a split or class."""
    p = PurePosixPath(rel)
    return p.suffix.lower() == ".txt" and any(part.lower() == "imagesets" for part in p.parts[:-1])


# (image folder, label folder beside it, what the labels are) of layouts whose label files augcli
# does not read: a run refuses them rather than write their images without labels (with a labels/
# folder beside them too, as when DOTA's labelTxt/ was converted to YOLO OBB, labels/ is read and
# the unread files are counted)
UNREAD_PAIRS = (("image_2", "label_2", "KITTI object labels"), ("images", "labelTxt", "DOTA oriented-box labels"))


def _subfolders(path: str) -> list[str]:
    """The visible sub-folders of ``path`` (symlinks followed), sorted: the names as listed, links
    that the walk will not follow included (a YOLO task folder's ``images`` link is one)."""
    try:
        with os.scandir(path) as listing:
            return sorted(e.name for e in listing if is_visible(e.name) and _is_dir(e))
    except OSError:
        return []


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def walk(root: Path, output_dir: Path | None, found) -> None:
    """Walk ``root`` as the run will, filling ``found`` (setup.Found): classifications of every folder,
    the sources, and the files that may be labels."""
    from ..walk import FolderWalk

    out = output_dir if output_dir is not None else Path(root) / ".augcli-scan-none"
    fw = FolderWalk(root, out, lambda rel, why: None, lambda rel, why: None, is_visible, lambda name: True)
    sroot = str(root)

    def visit(rel: str, role: str | None) -> None:
        base = f"{rel}/" if rel else ""
        held = classify(sroot, base, _subfolders(os.path.join(sroot, rel)), found) if role is None else {}
        entries = fw.entries(rel)
        if entries is None:
            return
        _files_here(found, base, [name for _, name, folder in entries if not folder], role)
        for _, name, folder in entries:
            if folder:
                visit(f"{base}{name}", role or held.get(name))

    visit("", None)


def _files_here(found, base: str, files: list[str], role: str | None) -> None:
    tree = found.tree
    images = [is_candidate(f) for f in files]
    stems = {f[:f.rfind(".")] for f, image in zip(files, images) if image}  # an image's name has a dot
    for f, image in zip(files, images):
        rel = f"{base}{f}"
        if role is not None:
            tree.files.add(rel)
            if (role == "masks" and image) or label_like(rel) or f.lower().endswith(".json"):
                tree.label_like.append(rel)
            continue
        if image:
            tree.images.append(rel)
            continue
        if f.lower().endswith((".txt", ".xml", ".json")):
            tree.files.add(rel)
        if label_like(rel) or f.lower().endswith(".json"):
            tree.label_like.append(rel)
        elif f.lower().endswith(".txt") and len(tree.other_txt) < OTHER_TXT:
            tree.other_txt.append(rel)
        if not found.yolo and f.endswith(".txt") and f[:-4] in stems:
            found.yolo.append(f"<stem>.txt next to the images in {base or './'}")
        if not found.voc and f.endswith(".xml") and f[:-4] in stems:
            found.voc.append(f"<stem>.xml next to the images in {base or './'}")
        if base and f.endswith("_annotations.coco.json"):
            found.json.append(rel)


_OUTSIDE_PAIRS = (("images", "labels", ".txt"), ("JPEGImages", "Annotations", ".xml"), ("images", "annotations", ".xml"))


def labels_outside(inp: Path, sample: int = 200) -> Path | None:
    """The label folder of a dataset whose image folder (or a folder inside it) is the input
    (``data/images/train`` with its labels in ``data/labels/train``): labels that ``--labels auto``
    cannot see from INPUT_DIR. Found when one of the first ``sample`` images has a label file of
    its stem there; None otherwise."""
    parts = inp.parts
    for i in range(len(parts) - 1, 0, -1):
        for image_dir, label_dir, ext in _OUTSIDE_PAIRS:
            if parts[i] != image_dir:
                continue
            folder = Path(*parts[:i], label_dir, *parts[i + 1:])
            if not folder.is_dir():
                continue
            try:
                names = sorted(n for n in os.listdir(inp) if is_candidate(n) and is_visible(n))[:sample]
            except OSError:
                return None
            if any((folder / (os.path.splitext(n)[0] + ext)).is_file() for n in names):
                return folder
    return None
