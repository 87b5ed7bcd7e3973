"""Seeded mutational fuzzing of augcli's readers: small real images of every supported format, and
mutants of them (bit flips, truncations, duplicated and dropped chunks or segments, edited header
fields); and COCO JSON files: a small valid one with values replaced, deleted, duplicated and
nested. Everything is drawn from one ``random.Random(seed)``, so a seed names a set of mutants
exactly and a failure can be made again (``make fuzz SEED=... N=...``)."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, TiffImagePlugin

INTERESTING = (0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 24, 32, 63, 64, 127, 128, 255, 256, 1000, 0x7FFF, 0x8000,
               0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


@dataclass(frozen=True)
class Mutant:
    name: str  # file name, with the extension of the format it came from
    data: bytes
    how: str  # the mutation, for failure messages


def _picture(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), ((x // 3 + y // 3) % 2) * 200], -1)
    return np.clip(rgb + rng.integers(-10, 10, rgb.shape), 0, 255).astype(np.uint8)


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def seeds() -> dict[str, bytes]:
    """Small real images of every supported format, made with Pillow: name (with extension) -> bytes."""
    rgb = Image.fromarray(_picture(24, 16, 1))
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(_picture(24, 16, 2)[..., 0]))
    grey16 = Image.frombytes("I;16", (24, 16), (np.asarray(rgb.convert("L")).astype("<u2") * 257).tobytes())
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 2
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "a description stored out of line"
    tiff_tags = TiffImagePlugin.ImageFileDirectory_v2()
    tiff_tags[0x0112] = 8
    frames = [Image.fromarray(_picture(20, 14, s)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
              for s in (3, 4)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    return {
        "rgb.jpg": _save(rgb, "JPEG", quality=90, exif=exif),
        "grey_progressive.jpg": _save(rgb.convert("L"), "JPEG", quality=80, progressive=True),
        "rgb.png": _save(rgb, "PNG"),
        "rgba.png": _save(rgba, "PNG"),
        "grey16.png": _save(grey16, "PNG"),
        "palette.png": _save(palette, "PNG"),
        "anim.gif": gif.getvalue(),
        "raw.tif": _save(rgb, "TIFF", tiffinfo=tiff_tags),
        "deflate_rgba.tif": _save(rgba, "TIFF", compression="tiff_adobe_deflate"),
        "grey16.tif": _save(grey16, "TIFF"),
        "lossy.webp": _save(rgb, "WEBP", quality=80),
        "lossless_rgba.webp": _save(rgba, "WEBP", lossless=True),
        "rgb.bmp": _save(rgb, "BMP"),
        "palette.bmp": _save(palette.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "BMP"),
    }


# --- structure: chunks and header fields of each format -------------------------------------------

Span = tuple[int, int]  # [start, end) byte range
Field = tuple[int, str]  # (offset, struct format incl. byte order), e.g. (16, ">I")


def _png_chunks(data: bytes) -> list[Span]:
    spans, pos = [], 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        end = min(len(data), pos + 12 + length)
        spans.append((pos, end))
        pos = end
    return spans


def _jpeg_segments(data: bytes) -> list[Span]:
    spans, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest (entropy-coded data, EOI) is one span
            spans.append((pos, len(data)))
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        spans.append((pos, min(len(data), pos + 2 + length)))
        pos += 2 + length
    return spans


def _riff_chunks(data: bytes) -> list[Span]:
    spans, pos = [], 12
    while pos + 8 <= len(data):
        (size,) = struct.unpack_from("<I", data, pos + 4)
        end = min(len(data), pos + 8 + size + (size & 1))
        spans.append((pos, end))
        pos = end
    return spans


def _gif_blocks(data: bytes) -> list[Span]:
    pos = 13
    if data[10] & 0x80:
        pos += 3 * (2 << (data[10] & 7))
    spans = []
    while pos < len(data):
        start = pos
        if data[pos] == 0x21:  # extension: label, then sub-blocks
            pos += 2
        elif data[pos] == 0x2C:  # image descriptor, local colour table, LZW code size, sub-blocks
            flags = data[pos + 9] if pos + 9 < len(data) else 0
            pos += 10 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0) + 1
        else:  # trailer or garbage
            spans.append((pos, len(data)))
            break
        while pos < len(data) and data[pos]:
            pos += data[pos] + 1
        pos += 1
        spans.append((start, min(pos, len(data))))
    return spans


def _tiff_entries(data: bytes) -> tuple[str, list[tuple[int, int]]]:
    """Byte order and the (offset, tag) of each entry of the first IFD."""
    order = ">" if data[:2] == b"MM" else "<"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    if ifd + 2 > len(data):
        return order, []
    (count,) = struct.unpack_from(order + "H", data, ifd)
    entries = []
    for i in range(count):
        at = ifd + 2 + 12 * i
        if at + 12 > len(data):
            break
        entries.append((at, struct.unpack_from(order + "H", data, at)[0]))
    return order, entries


def chunks(name: str, data: bytes) -> list[Span]:
    """The chunks, segments or blocks of a file (as far as they can be parsed)."""
    try:
        if name.endswith(".png"):
            return _png_chunks(data)
        if name.endswith(".jpg"):
            return _jpeg_segments(data)
        if name.endswith(".webp"):
            return _riff_chunks(data)
        if name.endswith(".gif"):
            return _gif_blocks(data)
        if name.endswith(".tif"):
            return [(at, at + 12) for at, _ in _tiff_entries(data)[1]]
    except (struct.error, IndexError):
        pass
    return []


def header_fields(name: str, data: bytes) -> list[Field]:
    """Size, depth, count and orientation fields of a file's header."""
    try:
        if name.endswith(".png"):
            return [(16, ">I"), (20, ">I"), (24, ">B"), (25, ">B"), (26, ">B"), (28, ">B"), (8, ">I")]
        if name.endswith(".jpg"):
            fields: list[Field] = []
            for start, _ in _jpeg_segments(data):
                marker = data[start + 1]
                if marker in (0xC0, 0xC1, 0xC2):  # SOF: precision, height, width, components
                    fields += [(start + 4, ">B"), (start + 5, ">H"), (start + 7, ">H"), (start + 9, ">B"),
                               (start + 2, ">H")]
                elif marker == 0xE1 and data[start + 4:start + 10] == b"Exif\0\0":
                    tiff = start + 10
                    order = ">" if data[tiff:tiff + 2] == b"MM" else "<"
                    (ifd,) = struct.unpack_from(order + "I", data, tiff + 4)
                    (count,) = struct.unpack_from(order + "H", data, tiff + ifd)
                    fields.append((tiff + ifd, order + "H"))
                    for i in range(count):  # every tag's type, count and value (orientation among them)
                        at = tiff + ifd + 2 + 12 * i
                        fields += [(at + 2, order + "H"), (at + 4, order + "I"), (at + 8, order + "H")]
                elif marker in (0xC4, 0xDB, 0xDA):  # table and scan headers: lengths and counts
                    fields += [(start + 2, ">H"), (start + 4, ">B")]
            return fields
        if name.endswith(".tif"):
            order, entries = _tiff_entries(data)
            fields = [(4, order + "I")]
            for at, tag in entries:
                fields += [(at + 2, order + "H"), (at + 4, order + "I")]
                if tag in (256, 257, 258, 259, 262, 274, 277, 278, 284, 317, 338, 339):
                    fields.append((at + 8, order + "H"))  # sizes, depth, compression, orientation...
                else:
                    fields.append((at + 8, order + "I"))  # offsets and byte counts
            return fields
        if name.endswith(".gif"):
            fields = [(6, "<H"), (8, "<H"), (10, "<B")]
            for start, _ in _gif_blocks(data):
                if data[start] == 0x2C:
                    fields += [(start + 1, "<H"), (start + 3, "<H"), (start + 5, "<H"), (start + 7, "<H"),
                               (start + 9, "<B")]
            return fields
        if name.endswith(".bmp"):  # offset, header size, width, height, planes, bpp, compression, colours
            return [(10, "<I"), (14, "<I"), (18, "<i"), (22, "<i"), (26, "<H"), (28, "<H"), (30, "<I"),
                    (34, "<I"), (46, "<I")]
        if name.endswith(".webp"):
            fields = [(4, "<I")]
            for start, _ in _riff_chunks(data):
                tag = data[start:start + 4]
                fields.append((start + 4, "<I"))
                if tag == b"VP8X":
                    fields += [(start + 8, "<B"), (start + 12, "<H"), (start + 15, "<H")]
                elif tag == b"VP8 ":
                    fields += [(start + 14, "<H"), (start + 16, "<H")]
                elif tag == b"VP8L":
                    fields += [(start + 9, "<I")]
            return fields
    except (struct.error, IndexError):
        pass
    return []


# --- mutations ----------------------------------------------------------------------------------

def _bit_flips(rng: random.Random, name: str, data: bytes) -> tuple[bytes, str]:
    out = bytearray(data)
    flips = rng.randint(1, 8)
    head = rng.random() < 0.5  # half the time in the first 128 bytes, where the headers are
    for _ in range(flips):
        at = rng.randrange(min(len(out), 128) if head else len(out))
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out), f"{flips} bit flips{' in the header' if head else ''}"


def _truncate(rng: random.Random, name: str, data: bytes) -> tuple[bytes, str]:
    cut = rng.randrange(len(data))
    return data[:cut], f"truncated at {cut} of {len(data)}"


def _chunk_edit(rng: random.Random, name: str, data: bytes) -> tuple[bytes, str]:
    spans = chunks(name, data)
    if not spans:  # no structure known (BMP): a byte range instead
        a = rng.randrange(len(data))
        b = min(len(data), a + rng.randint(1, 64))
        spans = [(a, b)]
    start, end = rng.choice(spans)
    if rng.random() < 0.5:
        return data[:end] + data[start:end] + data[end:], f"duplicated bytes {start}:{end}"
    return data[:start] + data[end:], f"dropped bytes {start}:{end}"


def _fix_png_crc(data: bytearray, offset: int) -> None:
    for start, end in _png_chunks(bytes(data)):
        if start <= offset < end and end - start >= 12:
            (length,) = struct.unpack_from(">I", data, start)
            if start + 12 + length <= len(data):
                crc = zlib.crc32(bytes(data[start + 4:start + 8 + length])) & 0xFFFFFFFF
                struct.pack_into(">I", data, start + 8 + length, crc)
            return


def _header_edit(rng: random.Random, name: str, data: bytes) -> tuple[bytes, str]:
    fields = header_fields(name, data)
    if not fields:
        return _bit_flips(rng, name, data)
    out = bytearray(data)
    edits = []
    for _ in range(rng.randint(1, 2)):
        offset, fmt = rng.choice(fields)
        size = struct.calcsize(fmt)
        if offset + size > len(out):
            continue
        bits = 8 * size
        value = rng.choice(INTERESTING) if rng.random() < 0.8 else rng.getrandbits(bits)
        value &= (1 << bits) - 1
        if fmt[-1].islower():  # signed field
            value = value - (1 << bits) if value >= 1 << (bits - 1) else value
        struct.pack_into(fmt, out, offset, value)
        edits.append(f"{fmt}@{offset}={value}")
        if name.endswith(".png") and rng.random() < 0.8:
            _fix_png_crc(out, offset)  # so the decoder gets past the checksum to the value
    return bytes(out), "header " + ", ".join(edits)


MUTATIONS: dict[str, Callable[[random.Random, str, bytes], tuple[bytes, str]]] = {
    "flip": _bit_flips, "cut": _truncate, "chunk": _chunk_edit, "field": _header_edit,
}


def mutants(seed: int, count: int) -> list[Mutant]:
    """``count`` mutants, the same for the same seed: round-robin over the seed images, a random
    mutation (sometimes two stacked) for each."""
    rng = random.Random(seed)
    base = seeds()
    names = sorted(base)
    out = []
    for i in range(count):
        src = names[i % len(names)]
        data, hows = base[src], []
        for _ in range(1 if rng.random() < 0.7 else 2):
            kind = rng.choice(sorted(MUTATIONS))
            data, how = MUTATIONS[kind](rng, src, data)
            hows.append(how)
            if not data:
                break
        stem, ext = src.rsplit(".", 1)
        out.append(Mutant(f"m{i:05d}_{stem}.{ext}", data, f"{src}: " + "; ".join(hows)))
    return out


# --- COCO JSON ------------------------------------------------------------------------------------

COCO_IMAGE_SIZE = (24, 16)
JSON_VALUES = (None, True, False, 0, -1, 1, 2, 17, 0.5, -1e-9, 1e308, float("inf"), float("-inf"), float("nan"),
               2**31, 2**63, 2**64 + 1, 30000, "", "a.png", "x" * 1000, "../../outside.png", "/abs.png", [], {},
               [1, 2], [[1, 2]], {"a": 1}, {"size": [30000, 30000], "counts": "0"}, [0.0] * 7)


def coco_seed_document() -> dict:
    """A small valid COCO instances file for two 24x16 images (train/a.png, train/b.png): a box,
    a polygon, a compressed and an uncompressed RLE, and keypoints."""
    w, h = COCO_IMAGE_SIZE
    mask = np.zeros((h, w), np.uint8)
    mask[4:10, 6:15] = 1
    flat = mask.T.ravel()  # column-major runs, starting with zeros
    runs = np.diff(np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])).tolist()
    from augcli.labels.rle import rle_encode_string

    images = [{"id": 1, "file_name": "a.png", "width": w, "height": h},
              {"id": 2, "file_name": "b.png", "width": w, "height": h}]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 8, 6], "area": 48, "iscrowd": 0,
             "keypoints": [3, 3, 2, 8, 4, 2, 5, 6, 1], "num_keypoints": 3},
            {"id": 2, "image_id": 1, "category_id": 2, "segmentation": [[1, 1, 20, 1, 10, 12]], "area": 104.5,
             "bbox": [1, 1, 19, 11], "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 2, "segmentation": {"size": [h, w], "counts":
                                                                           rle_encode_string(runs)}, "iscrowd": 1},
            {"id": 4, "image_id": 2, "category_id": 2, "segmentation": {"size": [h, w], "counts": runs},
             "iscrowd": 1}]
    cats = [{"id": 1, "name": "person", "keypoints": ["nose", "left_eye", "right_eye"], "skeleton": [[1, 2]]},
            {"id": 2, "name": "thing"}]
    return {"info": {"year": 2026}, "images": images, "annotations": anns, "categories": cats}


def _slots(doc) -> list[tuple[object, object]]:
    """Every (container, key or index) of a JSON value, in a fixed order."""
    out, stack = [], [doc]
    while stack:
        v = stack.pop()
        keys = list(v) if isinstance(v, dict) else range(len(v)) if isinstance(v, list) else []
        for k in keys:
            out.append((v, k))
            stack.append(v[k])
    return out


def _coco_edit(rng: random.Random, doc: dict) -> str:
    slots = _slots(doc)
    parent, key = slots[rng.randrange(len(slots))]
    kind = rng.randrange(6)
    if kind == 0:
        parent[key] = rng.choice(JSON_VALUES)
        return f"set {key!r} to {str(parent[key])[:30]}"
    if kind == 1:
        del parent[key]
        return f"deleted {key!r}"
    if kind == 2 and isinstance(parent, list):
        parent.insert(key, json.loads(json.dumps(parent[key])))
        return f"duplicated item {key}"
    if kind == 3:  # an RLE of random characters or counts
        ann = rng.choice([a for a in doc.get("annotations", []) if isinstance(a, dict)] or [{}])
        counts = "".join(chr(rng.randrange(48, 112)) for _ in range(rng.randrange(0, 40))) if rng.random() < 0.5 \
            else [rng.choice([0, 1, 5, 384, -3, 2.5, 1e400]) for _ in range(rng.randrange(0, 6))]
        ann["segmentation"] = {"size": rng.choice([[16, 24], [24, 16], [0, 0], [30000, 30000]]), "counts": counts}
        return f"rle {str(ann['segmentation'])[:60]}"
    if kind == 4:  # a value wrapped in lists
        depth = rng.choice([2, 8, 40, 200])
        v = parent[key]
        for _ in range(depth):
            v = [v]
        parent[key] = v
        return f"{key!r} nested {depth} deep"
    v = parent[key]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        parent[key] = v * rng.choice([-1, 0, 10, 1000, 1e6])
        return f"scaled {key!r}"
    parent[key] = str(v)
    return f"{key!r} as a string"


def coco_mutants(seed: int, count: int) -> list[Mutant]:
    """``count`` COCO JSON files: the seed document with 1 to 3 structural edits, then, for one in
    five, a bit flip or a cut of its text. Drawn from one ``random.Random(seed)``."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        doc = coco_seed_document()
        hows = [_coco_edit(rng, doc) for _ in range(rng.randint(1, 3))]
        data = json.dumps(doc).encode()  # NaN and Infinity as Python writes them
        if rng.random() < 0.2:
            if rng.random() < 0.5:
                data, how = _truncate(rng, "x.json", data)
            else:
                data, how = _bit_flips(rng, "x.json", data)
            hows.append(how)
        out.append(Mutant(f"{i:04d}.json", data, "; ".join(hows)))
    return out
