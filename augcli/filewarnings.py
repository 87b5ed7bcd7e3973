"""Python warnings raised while a file is read or made become one line about that file.

Pillow reports some oddities of a file through ``warnings.warn`` (``Corrupt EXIF data.``, a
truncated EXIF block, a palette with too many colours...), and numpy through RuntimeWarning. Raw,
they would reach the user as two lines naming Pillow's source file and not the image. Inside
``file_warnings()`` each such warning is caught and kept as a short message, so the caller can print
``augcli: <file>: warning: <what>`` and record it. Dropped, because augcli already handles the
condition: Pillow's DecompressionBombWarning (``--max-pixels`` is checked from the header first).
Warnings about code rather than the file (deprecations, unclosed resources) are not about the image
and are dropped too. ``install_one_line_warnings`` makes any other warning print as one line.
"""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from typing import Iterator

from .fsnames import one_line

DROPPED = ("DecompressionBombWarning",)  # class names: Pillow need not be imported here
NOT_ABOUT_THE_FILE = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning, ImportWarning)


def describe(warning: warnings.WarningMessage) -> str | None:
    """The one-line text of a caught warning, or None if it is dropped."""
    category = warning.category
    if category.__name__ in DROPPED or issubclass(category, NOT_ABOUT_THE_FILE):
        return None
    text = one_line(str(warning.message).strip()) or category.__name__
    return text


@contextmanager
def file_warnings() -> Iterator[list[str]]:
    """Catch every warning raised inside the block; the list it yields is filled, on exit, with the
    distinct messages (in order), dropped ones left out."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every file gets its own warnings, not once per process
        try:
            yield messages
        finally:
            for w in caught:
                text = describe(w)
                if text is not None and text not in messages:
                    messages.append(text)


def install_one_line_warnings() -> None:
    """Print every warning that escapes a ``file_warnings`` block as ``augcli: warning: <what>``."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = describe(warnings.WarningMessage(message, category, filename, lineno))
        if text is not None:
            try:
                print(f"augcli: warning: {text}", file=file or sys.stderr, flush=True)
            except (OSError, ValueError):
                pass

    warnings.showwarning = show
