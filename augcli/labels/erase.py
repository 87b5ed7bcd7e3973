"""--erase-dropped: paint over the objects an output's survival rules dropped, so no unlabelled
part of an object stays in the image; the output's mask gets the mask fill (the ignore value) there.

An object is dropped when ``model.transform`` drops it (outside, min-visibility, min-size,
min-area, horizon); its region is its transformed outline (polygons, oriented box, or the box's
four corners) within the output, widened by one pixel for the pixels interpolation blends into.
COCO RLE objects and keypoint-only objects have no outline here and are not erased."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image

from .. import geometry as G
from . import model as L
from . import polygons as PG
from . import window as WI


def _objects(source_labels: Any) -> list[L.Obj]:
    parsed = source_labels.parsed
    if parsed is None:
        return []
    if source_labels.setup.format == "coco":
        return [o for o in parsed[1] if o.extra[2][0] != "rle"]
    return list(parsed.objects)


def _outlines(obj: L.Obj, f: np.ndarray) -> list[np.ndarray]:
    if obj.polygons is not None:
        shapes = [np.asarray(p, dtype=float).reshape(-1, 2) for p in obj.polygons]
    elif obj.obb is not None:
        shapes = [np.asarray(obj.obb, dtype=float).reshape(-1, 2)]
    elif obj.box is not None:
        shapes = [PG.box_corners(obj.box)]
    else:
        return []
    out = []
    for pts in shapes:
        moved, ok = L.apply(f, pts)
        if ok and len(moved) >= 3 and np.isfinite(moved).all():
            out.append(moved)
    return out


def dropped_regions(source_labels: Any, matrix: np.ndarray, out_size: G.Size,
                    window: WI.Window | None = None) -> list[np.ndarray]:
    """The outlines (output edge coordinates) of the objects of one source that the output of
    ``matrix`` drops (cut at ``window``, the pixels its image fills, as its labels are)."""
    objects = _objects(source_labels)
    if not objects:
        return []
    f = L.edge_map(matrix, out_size, source_labels.pre)
    params = source_labels.setup.params
    regions: list[np.ndarray] = []
    for obj in objects:
        kept, _ = WI.transform([obj], f, out_size, params, window)
        if not kept:
            regions += _outlines(obj, f)
    return regions


def region_mask(regions: Sequence[np.ndarray], size: G.Size, window: WI.Window | None = None) -> np.ndarray | None:
    """A boolean (h, w) array of the pixels the regions touch (one pixel wider all round) within
    ``window`` (a letterbox's bands are padding, never painted), or None when they touch none."""
    from PIL import ImageDraw, ImageFilter  # --erase-dropped only: a run without it does not load them

    w, h = size
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for poly in regions:
        # far-off vertices are clamped: what lies beyond the canvas is not drawn either way
        pts = np.clip(poly, -4.0 * (w + h), 4.0 * (w + h))
        # edge coordinates: pixel (i, j) is the square [i, i+1] x [j, j+1]; its centre is (i + .5, j + .5)
        draw.polygon([(float(x) - 0.5, float(y) - 0.5) for x, y in pts], fill=255, outline=255)
    canvas = canvas.filter(ImageFilter.MaxFilter(3))
    mask = np.asarray(canvas) > 0
    if window is not None:
        mask = mask & ~WI.outside(size, window)  # type: ignore[operator]
    return mask if mask.any() else None


def _fill_colour(image: Image.Image, arr: np.ndarray, mode: str, cval: float, mask: np.ndarray) -> np.ndarray:
    bands = 1 if arr.ndim == 2 else arr.shape[2]
    if mode == "mean":
        return arr.reshape(-1, bands).mean(axis=0)
    scale = 257.0 if image.mode in ("I;16", "I") else 1.0
    return np.full(bands, cval * scale)


def paint(image: Image.Image, regions: Sequence[np.ndarray], mode: str, cval: float,
          window: WI.Window | None = None) -> Image.Image:
    """``image`` with the regions painted: ``fill`` with ``cval`` (0-255 units, every band, as the
    warp's constant fill), ``mean`` with the image's mean per band, ``blur`` with a Gaussian blur
    of the image (radius a tenth of the shorter side). Alpha is painted as the colour bands are."""
    mask = region_mask(regions, image.size, window)
    if mask is None:
        return image
    if mode == "blur":
        from PIL import ImageFilter

        try:
            source = image.filter(ImageFilter.GaussianBlur(max(2.0, min(image.size) / 10.0)))
        except ValueError:  # modes Pillow cannot blur (32-bit): the mean instead
            return paint(image, regions, "mean", cval, window)
        out = image.copy()
        out.paste(source, (0, 0), Image.fromarray(mask.astype(np.uint8) * 255, "L"))
        return out
    arr = np.array(image)
    colour = _fill_colour(image, arr, mode, cval, mask)
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        colour = np.clip(np.rint(colour), info.min, info.max)
    if arr.ndim == 2:
        arr[mask] = colour[0]
    else:
        arr[mask] = colour.astype(arr.dtype)
    out = Image.fromarray(arr, image.mode)
    if image.mode == "P" and image.getpalette() is not None:
        out.putpalette(image.getpalette())
    return out


def paint_mask(mask_image: Image.Image, regions: Sequence[np.ndarray], fill: int,
               window: WI.Window | None = None) -> Image.Image:
    """A warped mask with the regions set to ``fill`` (the ignore value); mode and palette kept."""
    where = region_mask(regions, mask_image.size, window)
    if where is None:
        return mask_image
    if mask_image.mode == "P":
        arr = np.frombuffer(mask_image.tobytes(), np.uint8).reshape(mask_image.height, mask_image.width).copy()
        arr[where] = fill
        out = Image.frombytes("P", mask_image.size, arr.tobytes())
        if mask_image.getpalette() is not None:
            out.putpalette(mask_image.getpalette())
        return out
    arr = np.array(mask_image)
    arr[where] = fill
    return Image.fromarray(arr, mask_image.mode)


def erase_output(source_labels: Any, image: Image.Image, matrix: np.ndarray, out_size: G.Size,
                 cval: float, copy: int | None, window: WI.Window | None = None,
                 ) -> tuple[Image.Image, list[np.ndarray]]:
    """Output ``copy`` of a source (None: the original, never painted) with its dropped objects
    painted by the run's --erase-dropped, and their regions (for the output's mask). The image as
    it was when there are no labels or nothing is to be erased."""
    mode = source_labels.setup.options.erase_dropped if source_labels is not None else None
    if not mode or copy is None:
        return image, []
    regions = dropped_regions(source_labels, matrix, out_size, window)
    return (paint(image, regions, mode, cval, window) if regions else image), regions
