"""The labels of one source, loaded in the worker (``LabelSetup.load`` makes a ``SourceLabels``):
the frame its labels are in (EXIF orientation, --resize), where its files may be (inside the input
folder), and the label files and manifest entry of each of its outputs (``SourceLabels.render``)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from .. import geometry as G
from ..safepaths import within
from . import coco as C
from . import distorted as DZ
from . import erase as ER
from . import masks as MK
from . import model as L
from . import voc as V
from . import window as WI
from . import yolo as Y
from .errors import LabelError
from .objects import coco_objects, pixel_objects


class NoLabel(Exception):
    """The source has no label file (on object storage: its key does not exist)."""


def check_size(given: tuple[int, int] | None, frame: G.Size, shown: str) -> None:
    """COCO/VOC sizes equal to the decoded size swapped mean labels made on the stored pixels."""
    if given and tuple(given) != tuple(frame) and tuple(given) == (frame[1], frame[0]):
        raise LabelError(f"{shown}: <size> {given[0]}x{given[1]} but image is {frame[0]}x{frame[1]} "
                         "(EXIF? try --labels-frame stored)")


def escapes(p: Path, root: Path) -> bool:
    return p.exists() and not within(p, root)


def exif_orientation(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block: no orientation
        return 1


# EXIF orientation -> Pillow's exif_transpose method, as augcli matrices (output -> input, centre)
EXIF_ORIENTATIONS = (2, 3, 4, 5, 6, 7, 8)


def exif_matrix(orientation: int, stored: G.Size) -> tuple[np.ndarray, G.Size]:
    """The (displayed -> stored) centre matrix of Pillow's exif_transpose for ``orientation`` and
    the displayed size, built from augcli's own flips and quarter turns."""
    if orientation == 2:
        return G.hflip(stored), stored
    if orientation == 4:
        return G.vflip(stored), stored
    if orientation in (3, 6, 8):
        return G.rot90({3: 2, 6: 3, 8: 1}[orientation], stored)
    if orientation == 5:  # TRANSPOSE = mirror, then a quarter turn
        m, size = G.rot90(1, stored)
        return G.hflip(stored) @ m, size
    if orientation == 7:  # TRANSVERSE
        m, size = G.rot90(3, stored)
        return G.hflip(stored) @ m, size
    return G.identity(), stored


def exif_edge_map(orientation: int, displayed: G.Size) -> tuple[np.ndarray, G.Size]:
    stored = (displayed[1], displayed[0]) if orientation in (5, 6, 7, 8) else displayed
    m, size = exif_matrix(orientation, stored)
    return L.edge_map(m, size), stored


def unresized_size(size: G.Size, src: Path, exif_transpose: bool, max_pixels: int) -> G.Size:
    from ..imageio import LoadOptions, source_size

    return source_size(src, LoadOptions(exif_transpose, max_pixels, None))


class SourceLabels:
    """The labels of one source, loaded in the worker (``setup``: the run's augcli.labels.setup.LabelSetup)."""

    def __init__(self, setup: Any, label_rel: str | None, parsed: Y.Parsed | None,
                 pre: np.ndarray | None, mask, mask_name: str | None, source: str = "") -> None:
        self.setup, self.label_rel, self.parsed, self.pre = setup, label_rel, parsed, pre
        self.source = source  # relative to INPUT_DIR
        self.mask = mask

    def shapes(self, matrix: np.ndarray, out_size: G.Size, window: WI.Window | None = None,
               nodes=None) -> tuple[list[L.Obj], Any]:
        """The transformed objects and the warped mask of one output (for drawing); ``window``:
        the output pixels its image fills (``Pipeline.window``); ``nodes``: the output's distortion
        (augcli.distort.Nodes), if it has one."""
        setup = self.setup
        objs: list[L.Obj] = []
        f = L.edge_map(matrix, out_size, self.pre)
        if setup.format == "coco" and self.parsed is not None:
            centry, parsed = self.parsed
            vector = [o for o in parsed if o.extra[2][0] != "rle"]
            objs = WI.transform(vector, f, out_size, setup.params, window, DZ.points_of(nodes))[0]
        elif self.parsed is not None:
            objs = WI.transform(self.parsed.objects, f, out_size, setup.params, window, DZ.points_of(nodes))[0]
        mask = None
        if self.mask is not None:
            mask = WI.pad_mask(DZ.warp_mask(self.mask, np.asarray(matrix, dtype=float), out_size,
                                            setup.options.mask_fill, nodes), window, setup.options.mask_fill)
        return objs, mask

    def _transform_objects(self, matrix: np.ndarray, out_size: G.Size, entry: dict[str, Any],
                           window: WI.Window | None = None, nodes=None) -> list:
        """The parsed objects (edge coordinates) carried through ``matrix``; their counts go into ``entry``."""
        objs, stats = WI.transform(self.parsed.objects, L.edge_map(matrix, out_size, self.pre), out_size,
                                   self.setup.params, window, DZ.points_of(nodes))
        entry.update(stats.as_dict())
        return objs

    def render(self, matrix: np.ndarray, out_size: G.Size, out_rel: str, files: bool = True,
               erased: list | None = None, window: WI.Window | None = None, nodes=None,
               ) -> tuple[list[tuple[Path, bytes]], dict[str, Any]]:
        """The label files of one output (absolute path, bytes) and its manifest entry. With
        ``files`` False only the entry is computed (for an output that is skipped). ``erased``: the
        regions --erase-dropped painted in the image (augcli.labels.erase), set to the mask fill
        in its mask. ``window``: the output pixels its image fills (``Pipeline.window``: a
        letterbox's bands are padding), where objects are cut and outside which masks take the fill.
        ``nodes``: the output's distortion (augcli.distort.Nodes), if it has one."""
        setup = self.setup
        made: list[tuple[Path, bytes]] = []
        entry: dict[str, Any] = {"format": None, "file": None}
        fmt = setup.format
        if setup.convert is not None:  # --labels-output: written in another format
            made, entry = setup.convert.render(self, matrix, out_size, out_rel, files)
            fmt = None
        if fmt == "coco":
            entry["format"] = "coco"
            if self.parsed is None:
                entry["unlabeled"] = True
            else:
                centry, objs = self.parsed
                f = L.edge_map(matrix, out_size, self.pre)
                mm = matrix if self.pre is None else L.edge_to_centre(L.inverse(f))  # RLE: output -> frame
                image, anns, stats = C.transform_image(centry, objs, mm, f, out_size, setup.params,
                                                       setup.coco.keypoint_flip, out_rel, window, nodes)
                entry.update(stats.as_dict())
                entry["file"] = centry.json_rel
                entry["_coco"] = {"json": centry.json_rel, "image": image, "annotations": anns}
                if setup.objects:
                    entry["_objects"] = coco_objects(anns)
        if fmt == "voc":
            entry["format"] = "voc"
            if self.parsed is None:
                entry["unlabeled"] = True
            else:
                objs = self._transform_objects(matrix, out_size, entry, window, nodes)
                if setup.objects:
                    entry["_objects"] = pixel_objects(objs)
                rel = setup.label_rel(out_rel)
                entry["file"] = rel
                if files:
                    folders = V.folder_names(setup.input_dir, self.source, setup.output_dir, out_rel)
                    made.append((setup.output_dir / rel, V.write(self.parsed, objs, out_size,  # type: ignore[operator]
                                                                  PurePosixPath(out_rel).name, folders)))
        if fmt == "yolo":
            entry["format"] = f"yolo-{self.parsed.kind}" if self.parsed else "yolo"
            if self.parsed is None:
                entry["unlabeled"] = True
            else:
                objs = self._transform_objects(matrix, out_size, entry, window, nodes)
                if setup.objects:
                    entry["_objects"] = pixel_objects(objs)
                entry["input_clipped"] = self.parsed.clipped_input
                rel = Y.label_path(out_rel)
                entry["file"] = rel
                if files:
                    made.append((setup.output_dir / rel,
                                 Y.write(self.parsed.kind, objs, out_size, setup.spec or Y.YoloSpec())))
        if setup.format is None and setup.mask_layout is not None and self.mask is None:
            entry["unlabeled"] = True  # a mask layout, and this source has no mask
        if self.mask is not None:
            target = setup.mask_out(out_rel)
            if target is not None:
                entry["mask"] = os.path.relpath(target, setup.output_dir) if within(target, setup.output_dir) \
                    else str(target)
                if files:
                    m = np.asarray(matrix, dtype=float)
                    warped = WI.pad_mask(DZ.warp_mask(self.mask, m, out_size, setup.options.mask_fill, nodes), window,
                                         setup.options.mask_fill)
                    if erased:  # the dropped objects' pixels: ignore
                        warped = ER.paint_mask(warped, erased, setup.options.mask_fill, window)
                    made.append((target, MK.encode_mask(warped)))
        return made, entry
