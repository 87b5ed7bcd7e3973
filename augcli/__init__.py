"""augcli: expand an image dataset with reproducible random augmentations."""

from __future__ import annotations

from .version import __version__

__all__ = ["__version__", "OPS", "Pipeline", "RunConfig", "run"]


def __getattr__(name: str):
    # Lazy: `augcli --help` must not pay for importing numpy and Pillow.
    if name == "OPS":
        from .ops import OPS

        return OPS
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    if name == "RunConfig":
        from .config import RunConfig

        return RunConfig
    if name == "run":
        from .runner import run

        return run
    raise AttributeError(name)
