"""Pascal VOC XML: ``Annotations/<stem>.xml`` beside ``JPEGImages/``, or ``<stem>.xml`` next to the image.

Boxes are 1-based inclusive pixel indices: edges ``[xmin - 1, xmax]`` (LABELS.md 1.2). They are
read as floats and written as integers (``xmin = max(1, round(x0) + 1)``, ``xmax = min(W,
round(x1))``). The XML parser refuses any DTD or entity declaration (billion laughs) and deep
nesting before anything is expanded.
"""

from __future__ import annotations

import copy
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from pyexpat import ExpatError, ParserCreate
from typing import Sequence

from .errors import LabelError
from .model import Obj

MAX_XML_BYTES = 16 << 20
MAX_DEPTH = 64


def parse_xml(data: bytes, shown: str) -> tuple[ET.Element, dict[int, int]]:
    """A safe parse: no DTD, no entities, bounded depth and size. Returns the root and the line of
    each element (by id)."""
    if len(data) > MAX_XML_BYTES:
        raise LabelError(f"{shown}: XML larger than {MAX_XML_BYTES} bytes; refused")
    parser = ParserCreate()
    builder = ET.TreeBuilder()
    lines: dict[int, int] = {}
    depth = [0]

    def refuse(*_args):
        raise LabelError(f"{shown}:{parser.CurrentLineNumber}: XML with a DTD or entity declarations is refused")

    def start(tag, attrs):
        depth[0] += 1
        if depth[0] > MAX_DEPTH:
            raise LabelError(f"{shown}:{parser.CurrentLineNumber}: XML nested deeper than {MAX_DEPTH}; refused")
        lines[id(builder.start(tag, attrs))] = parser.CurrentLineNumber

    def end(tag):
        depth[0] -= 1
        builder.end(tag)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
        root = builder.close()
    except ExpatError as exc:
        raise LabelError(f"{shown}:{exc.lineno}: not well-formed XML ({exc})") from None
    return root, lines


@dataclass
class Parsed:
    root: ET.Element
    objects: list[Obj]
    size: tuple[int, int] | None  # <size> width, height, if given


def _num(el: ET.Element | None, what: str, shown: str, line: int) -> float:
    if el is None or el.text is None:
        raise LabelError(f"{shown}:{line}: <{what}> missing")
    try:
        v = float(el.text.strip())
    except ValueError:
        raise LabelError(f"{shown}:{line}: <{what}> {el.text.strip()!r} is not a number") from None
    if not math.isfinite(v):
        raise LabelError(f"{shown}:{line}: <{what}> is not finite")
    return v


def parse(data: bytes, shown: str) -> Parsed:
    root, lines = parse_xml(data, shown)
    if root.tag != "annotation":
        raise LabelError(f"{shown}:1: root element is <{root.tag}>, not <annotation>")
    size = None
    s = root.find("size")
    if s is not None and s.find("width") is not None and s.find("height") is not None:
        line = lines.get(id(s), 0)
        size = (int(_num(s.find("width"), "width", shown, line)), int(_num(s.find("height"), "height", shown, line)))
    objects = []
    for i, obj in enumerate(root.findall("object")):
        line = lines.get(id(obj), 0)
        bb = obj.find("bndbox")
        if bb is None:
            raise LabelError(f"{shown}:{line}: <object> without <bndbox>")
        bl = lines.get(id(bb), line)
        x0, y0 = _num(bb.find("xmin"), "xmin", shown, bl) - 1, _num(bb.find("ymin"), "ymin", shown, bl) - 1
        x1, y1 = _num(bb.find("xmax"), "xmax", shown, bl), _num(bb.find("ymax"), "ymax", shown, bl)
        if x1 < x0 or y1 < y0:
            raise LabelError(f"{shown}:{bl}: xmax/ymax before xmin/ymin")
        name = obj.find("name")
        objects.append(Obj(name.text.strip() if name is not None and name.text else "", box=(x0, y0, x1, y1),
                           extra=i))
    return Parsed(root, objects, size)


def _set(parent: ET.Element, tag: str, text: str) -> None:
    el = parent.find(tag)
    if el is None:
        el = ET.SubElement(parent, tag)
    el.text = text


def folder_names(input_dir: Path, source: str, output_dir: Path, out_rel: str) -> dict[str, str]:
    """What a ``<folder>`` naming where the source image lives becomes for an output: the source
    image's folder -> the output image's folder (labelImg writes that), and beside ``JPEGImages/``
    the dataset folder holding it -> the one holding the output's (Pascal VOC writes that)."""
    src = (Path(input_dir) / source).parent
    out = (Path(output_dir) / out_rel).parent
    names = {src.name: out.name}
    if src.name == "JPEGImages" and out.name == "JPEGImages":
        names[src.parent.name] = out.parent.name
    return {k: v for k, v in names.items() if k}


def write(parsed: Parsed, objects: Sequence[Obj], size: tuple[int, int], filename: str,
          folders: dict[str, str] | None = None) -> bytes:
    """The XML of one output: ``filename`` and ``size`` updated, surviving objects' boxes as
    integers (``truncated`` 1 when clipped), dropped objects removed, every other field kept but
    the source image's location: ``<path>`` is removed and a ``<folder>`` found in ``folders``
    (:func:`folder_names`) is renamed."""
    root = copy.deepcopy(parsed.root)
    for el in root.findall("path"):  # the annotator's path of the source image
        root.remove(el)
    folder = root.find("folder")
    if folder is not None and folders and (folder.text or "").strip() in folders:
        folder.text = folders[(folder.text or "").strip()]
    originals = root.findall("object")
    kept = {o.extra: o for o in objects}
    w, h = size
    for i, el in enumerate(originals):
        o = kept.get(i)
        if o is None:
            root.remove(el)
            continue
        x0, y0, x1, y1 = o.box  # type: ignore[misc]
        xmin, ymin = max(1, round(x0) + 1), max(1, round(y0) + 1)
        xmax, ymax = max(min(w, round(x1)), xmin), max(min(h, round(y1)), ymin)
        bb = el.find("bndbox")
        for tag, v in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
            _set(bb, tag, str(int(v)))  # type: ignore[arg-type]
        if o.clipped:
            _set(el, "truncated", "1")
    _set(root, "filename", filename)
    s = root.find("size")
    if s is None:
        s = ET.SubElement(root, "size")
    _set(s, "width", str(w))
    _set(s, "height", str(h))
    return ET.tostring(root, encoding="unicode").encode("utf-8") + b"\n"
