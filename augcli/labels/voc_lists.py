"""VOC image-set lists (``ImageSets/Main/train.txt``, ``ImageSets/Segmentation/val.txt``, the class
lists ``aeroplane_train.txt``...) carried to the output: each line names an image id, the stem of
``<root>/JPEGImages/<id>.jpg``; in the output's list that line becomes one line per output of that
image written by the run (copy order, the original first), with the rest of the line (a class
list's flag) kept. Ids whose image has no output (a failed source, an id the input does not have)
are left out, so a loader that reads the lists (torchvision's VOCDetection and VOCSegmentation)
finds every output it names.

The lists are written once, after the outputs, from the run's records (as the COCO JSON): on one
machine from the records as they come, on shards from every bucket's manifest part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..run.discover import stem_suffix
from ..safefiles import FileRefused, read_limited
from .errors import LabelError

LIST_LIMIT = 64 << 20  # bytes of one list (VOC 2012's largest is under 1 MiB)
FOLDER = "ImageSets"


def root_of(rel: str) -> str | None:
    """The VOC root of a list ``<root>/ImageSets/<task>/<name>.txt`` ("" at the top), else None."""
    parts = rel.split("/")
    if len(parts) < 3 or not parts[-1].lower().endswith(".txt") or parts[-3] != FOLDER:
        return None
    return "/".join(parts[:-3])


def image_folders(lists: Iterable[str], label_dirs: Iterable[str]) -> frozenset[str]:
    """The image folders the lists' ids name: ``<root>/JPEGImages``, and the paired image folders
    (``label_dirs``: a VOC layout's image folders) in a list's root."""
    roots = {root_of(rel) for rel in lists} - {None}
    return frozenset({f"{r}/JPEGImages" if r else "JPEGImages" for r in roots} |  # type: ignore[misc]
                     {d for d in label_dirs if d.rpartition("/")[0] in roots})


def carried(lists: Iterable[str], sources: Iterable[str], label_dirs: Iterable[str]) -> tuple[str, ...]:
    """The lists whose root has a folder of ``sources`` their ids can name."""
    lists = [rel for rel in lists if root_of(rel) is not None]
    folders = image_folders(lists, label_dirs) & {rel.rpartition("/")[0] for rel in sources}
    roots = {d.rpartition("/")[0] for d in folders}
    return tuple(sorted(rel for rel in lists if root_of(rel) in roots))


def _key(rel: str) -> tuple[str, str]:
    """(root, id) of an image ``<root>/<image folder>/<id>.<ext>``: the id is the stem, as output
    names are made from (and as split lists them)."""
    folder, _, name = rel.rpartition("/")
    return folder.rpartition("/")[0], stem_suffix(name)[0]


class ListUnreadable(LabelError):
    """A carried list that cannot be read again when the outputs are done (replaced meanwhile)."""

    def __init__(self, rel: str, reason: str) -> None:
        super().__init__(f"{rel}: {reason}; the image-set list is not written")
        self.rel, self.reason = rel, reason


class ImageSets:
    """Gathers the outputs written (``add``), then makes each carried list (``payloads``)."""

    def __init__(self, lists: Sequence[str], input_dir: Path, output_dir: Path,
                 label_dirs: Sequence[str] = ()) -> None:
        self.lists, self.input_dir, self.output_dir = list(lists), Path(input_dir), Path(output_dir)
        self.image_dirs = image_folders(self.lists, label_dirs)
        self.outputs: dict[tuple[str, str], list[str]] = {}

    def add(self, record: Mapping[str, Any]) -> None:
        """One record of the run (any status; only written outputs of VOC images count)."""
        source, output = record.get("source"), record.get("output")
        if record.get("status") != "ok" or not isinstance(source, str) or not isinstance(output, str):
            return
        if source.rpartition("/")[0] not in self.image_dirs:
            return
        self.outputs.setdefault(_key(source), []).append(_key(output)[1])

    def payloads(self) -> list[tuple[Path, bytes]]:
        """Each list's output path and bytes. Raises ListUnreadable for a list that cannot be read."""
        out = []
        for rel in self.lists:
            try:
                data = bytes(read_limited(self.input_dir / rel, LIST_LIMIT))
            except FileRefused as exc:
                raise ListUnreadable(rel, str(exc)) from None
            root = root_of(rel)
            lines = []
            text = data.decode("utf-8", "surrogateescape")
            text = text[1:] if text.startswith("\ufeff") else text  # a list saved with a byte-order mark
            for line in text.splitlines():
                fields = line.split(None, 1)
                if not fields:
                    continue
                rest = line[line.index(fields[0]) + len(fields[0]):]
                for made in self.outputs.get((root, fields[0]), ()):  # type: ignore[arg-type]
                    lines.append(made + rest)
            text = "".join(f"{ln}\n" for ln in lines)
            out.append((self.output_dir / rel, text.encode("utf-8", "surrogateescape")))
        return out
