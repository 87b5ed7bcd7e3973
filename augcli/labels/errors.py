"""Label errors: a bad label file fails its image (the runner records it and goes on)."""

from __future__ import annotations

from ..errors import InputError


class LabelError(InputError):
    """One label file (or mask) cannot be used: ``path[:line]: reason``."""
