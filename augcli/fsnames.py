"""File names as bytes, end to end.

A POSIX file name is a string of bytes, not of characters: old NAS shares and archives hold names
in Latin-1 or other legacy encodings, and nothing stops a name from holding a newline or a tab.
augcli carries every relative path as one *canonical* text form: its bytes decoded as UTF-8 with
``surrogateescape`` (each byte that is not part of valid UTF-8 becomes a lone surrogate U+DC80 to
U+DCFF). That form is independent of the locale, turns back into exactly the original bytes, and is
the plain name for every valid UTF-8 name, so the seed key of such a name is what it always was.

- ``to_bytes`` / ``to_text`` convert between the two; ``join`` makes the bytes path of a relative
  path under a root folder (every file operation on a source or an output goes through bytes).
- ``shown`` is the one-line form used on stderr and stdout: backslash escapes for control
  characters (``\\n``, ``\\t``, ``\\x07``), for bytes that are not UTF-8 (``\\xe9``) and for the
  backslash itself (``\\\\``).
- In the manifest (and the ``--json`` summary), a name that is valid UTF-8 is written as itself; one
  that is not is written as text with a ``\\xNN`` escape per undecodable byte (Python's
  ``backslashreplace``), and its exact bytes, base64-encoded (RFC 4648), go in a companion field
  named ``<field>_b64`` (``source_b64``, ``output_b64``, ``input_dir_b64``...). Readers take the
  ``_b64`` field when it is there (``augcli replay`` does).
"""

from __future__ import annotations

import base64
import os
import unicodedata
from typing import Any, Mapping, Union

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}


def to_bytes(rel: str) -> bytes:
    """The exact bytes of a canonical name."""
    return rel.encode("utf-8", "surrogateescape")


def to_text(raw: bytes) -> str:
    """The canonical text form of a name's bytes (locale-independent, lossless)."""
    return raw.decode("utf-8", "surrogateescape")


def is_utf8(rel: str) -> bool:
    """True if the name is valid UTF-8 (its canonical form holds no escaped byte)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def join(root: PathLike, rel: str = "") -> bytes:
    """The bytes path of the relative path ``rel`` (canonical form, "/"-separated) under ``root``
    (a path as the user gave it: encoded with the file system encoding, as Python decoded it)."""
    base = os.fsencode(root)
    return os.path.join(base, to_bytes(rel)) if rel else base


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an escaped byte that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if (unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs") or ch in _BIDI_CONTROLS):
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def shown(text: str) -> str:
    """A name as one printable line: control characters, line and paragraph separators, bidi
    controls, undecodable bytes and the backslash are written as backslash escapes."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape(ch) for ch in text)


def one_line(text: str) -> str:
    """A message as one line: like ``shown`` but a backslash is left as it is."""
    if text.isprintable():
        return text
    return "".join(ch if ch == "\\" else _escape(ch) for ch in text)


def readable(rel: str) -> str:
    """The text written for a name in JSON: the name itself if it is UTF-8, else the name with a
    ``\\xNN`` escape per undecodable byte."""
    return rel if is_utf8(rel) else to_bytes(rel).decode("utf-8", "backslashreplace")


def encode_fields(record: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``record`` fit for JSON: each name in ``keys`` that is not UTF-8 becomes its
    readable text plus ``<key>_b64``, the base64 of its exact bytes."""
    out = dict(record)
    for key in keys:
        value = out.get(key)
        if isinstance(value, str) and not is_utf8(value):
            out[key] = readable(value)
            out[f"{key}_b64"] = base64.b64encode(to_bytes(value)).decode("ascii")
    return out


def decode_fields(record: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The inverse of ``encode_fields``: each ``<key>_b64`` present replaces ``key`` by the
    canonical form of its bytes. Raises ValueError for a ``_b64`` value that is not base64."""
    out = dict(record)
    for key in keys:
        raw = out.pop(f"{key}_b64", None)
        if raw is not None:
            try:
                out[key] = to_text(base64.b64decode(str(raw), validate=True))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{key}_b64 is not base64: {exc}") from None
    return out


def inside(child: bytes, parent: bytes) -> bool:
    """True if the bytes path ``child`` is ``parent`` or lies under it (both already resolved)."""
    return child == parent or child.startswith(parent.rstrip(b"/") + b"/")


def canonical(path: PathLike) -> str:
    """The canonical text form of a path as Python gave it (decoded with the file system encoding)."""
    return to_text(os.fsencode(path))


def native(text: str) -> str:
    """A canonical text form back as a path Python's file functions take, in any locale."""
    return os.fsdecode(to_bytes(text))
