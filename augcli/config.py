"""The frozen configuration of one ``expand`` run (built by the CLI or by Python callers)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .choices import DEFAULT_BUCKETS, EXECUTORS, LAYOUTS, MAX_BUCKETS, ON_EXISTS
from .imageio import DEFAULT_MAX_PIXELS, FORMATS
from .pipeline import Pipeline
from .safepaths import check_name_piece
from .storage import is_remote, is_url, local_path, redact
from .targets import Targets



@dataclass(frozen=True)
class RunConfig:
    input_dir: Path
    output_dir: Path
    pipeline: Pipeline = field(default_factory=Pipeline)
    copies: int = 1
    prefix: str = ""
    format: str = "same"
    quality: int = 95
    resize: tuple[int, int] | None = None
    include_originals: bool = False
    seed: int | None = None
    workers: int = 0  # 0 = all CPUs
    on_exists: str = "error"
    dry_run: bool = False
    manifest: Path | None = None  # None: OUTPUT_DIR/manifest.jsonl
    write_manifest: bool = True
    exif_transpose: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    background: tuple[int, int, int] = (255, 255, 255)
    strict: bool = False
    progress: bool = True
    labels: Any = None  # augcli.labels.setup.LabelOptions; None: no labels (classification folders)
    # scale-out (augcli/run/): which shard this process does, the fixed bucket count (the unit of
    # output and resume, recorded in the manifest), and the engine that runs the buckets
    shard: Any = None  # augcli.run.shard.Shard, or None for the whole run
    buckets: int | None = DEFAULT_BUCKETS  # None (webdataset only): fitted to shard_size from the listing
    executor: str = "local"
    layout: str = "tree"  # how outputs are placed (augcli.run.sinks)
    shard_size: int = 1000  # samples per tar shard of --layout webdataset
    scheduler: str | None = None  # dask: tcp://HOST:PORT of an existing scheduler
    # INPUT_DIR / OUTPUT_DIR given as URLs (s3://, gs://, file://...): kept as given (input_dir and
    # output_dir are then the local path of a file:// URL, or unused for object storage)
    input_url: str | None = None
    output_url: str | None = None
    targets: Targets | None = None  # --per-class / --total: the plan decides each source's copies (not `copies`)
    # follow symlinks whose real path is outside INPUT_DIR? None: not when labels are carried (a label
    # set must not reach outside the dataset it describes), yes otherwise
    follow_outside: bool | None = None
    # links out of INPUT_DIR followed all the same: image folders the label layout pairs with labels
    linked_folders: tuple[str, ...] = ()
    compose: Any = None  # augcli.compose.Compose: mosaic / mixup / cutmix; None: one source per output
    # augcli convert: each original keeps its source's name (no _orig) and bytes (not re-encoded)
    keep_names: bool = False
    copy_originals: bool = False
    # --require all|any|N: redraw an output's plan (up to max_tries tries) until enough of its
    # objects survive the label rules (augcli.run.require); None: every plan is drawn once
    require: str | None = None
    max_tries: int = 10
    tile: Any = None  # augcli.tiles.Tiling: each source's outputs are its tiles (augcli tile), no random ops

    def __post_init__(self) -> None:
        for name in ("input", "output"):
            given = getattr(self, f"{name}_dir")
            if is_url(given):
                object.__setattr__(self, f"{name}_url", given)
                object.__setattr__(self, f"{name}_dir", local_path(given))
        object.__setattr__(self, "input_dir", Path(self.input_dir))
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        if self.manifest is not None:
            object.__setattr__(self, "manifest", Path(self.manifest))
        if self.copies < 0:
            raise ValueError(f"copies must be >= 0, not {self.copies}")
        # pieces of output names: a "/" or ".." in them would write outside the output folder
        check_name_piece(self.prefix, "--prefix")
        if self.labels is not None:
            check_name_piece(getattr(self.labels, "mask_suffix", ""), "--mask-suffix")
        if self.format != "same" and self.format not in FORMATS:
            raise ValueError(f"format must be 'same' or one of {', '.join(FORMATS)}, not {self.format!r}")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be between 1 and 100, not {self.quality}")
        if self.on_exists not in ON_EXISTS:
            raise ValueError(f"on_exists must be one of {', '.join(ON_EXISTS)}, not {self.on_exists!r}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, not {self.workers}")
        if self.resize is not None and (len(self.resize) != 2 or min(self.resize) < 1):
            raise ValueError(f"resize must be two positive integers (width, height), not {self.resize!r}")
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, not {self.max_pixels}")
        self.pipeline.check_pixels(self.max_pixels)
        if self.buckets is None and self.layout != "webdataset":
            raise ValueError("buckets may be left to the listing (None) only with the webdataset layout")
        if self.buckets is not None and not 1 <= self.buckets <= MAX_BUCKETS:
            raise ValueError(f"buckets must be between 1 and {MAX_BUCKETS}, not {self.buckets}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be positive, not {self.shard_size}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, not {self.executor!r}")
        if self.require is not None and not (self.require in ("all", "any") or
                                             (self.require.isdigit() and int(self.require) >= 1)):
            raise ValueError(f"require must be all, any or a whole number >= 1, not {self.require!r}")
        if self.max_tries < 1:
            raise ValueError(f"max tries must be >= 1, not {self.max_tries}")
        if getattr(self.labels, "output", None) and (self.shard is not None or self.executor != "local"
                                                     or self.layout == "webdataset" or self.remote):
            # the converted COCO JSON and the class list are made by one process (augcli.runner)
            raise ValueError("--labels-output runs on one machine into a local folder: not with --shard, "
                             "--executor dask, --layout webdataset or object storage")
        if (self.keep_names or self.copy_originals) and (self.copies or not self.include_originals or self.targets
                                                         or self.format != "same" or self.resize is not None):
            raise ValueError("keep_names and copy_originals are for originals alone (-n 0 --include-originals, "
                             "--format same, no --resize): what augcli convert writes")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be between 0 and 2**63 - 1, not {self.seed}")
        if self.tile is not None and (self.pipeline.ops or self.include_originals or self.targets is not None
                                      or self.compose is not None):
            # a tile's plan is its window alone: the tiles of a source are known from its size
            raise ValueError("tiles are exact crops: no ops, originals, targets or compositions with them")

    @property
    def manifest_path(self) -> Path | None:
        if not self.write_manifest:
            return None
        return self.manifest if self.manifest is not None else self.output_dir / "manifest.jsonl"

    @property
    def remote(self) -> bool:
        """Is INPUT_DIR or OUTPUT_DIR object storage (not a local folder)?"""
        return is_remote(self.input_url) or is_remote(self.output_url)

    @property
    def effective_workers(self) -> int:
        return self.workers or (os.cpu_count() or 1)

    def describe(self) -> dict[str, Any]:
        """The recipe as JSON-ready values (the manifest's first line): every setting that decides
        the outputs' names and bytes, the bucket count, and the folders as given. How a run was
        executed (workers, --on-exists, --strict, shard, host, timing) is not here: it goes to the
        run's stats file, so every run of one recipe into one path writes the same first line."""
        return {
            "input_dir": redact(self.input_url) if self.input_url else str(self.input_dir),
            "output_dir": redact(self.output_url) if self.output_url else str(self.output_dir),
            "pipeline": self.pipeline.describe(),
            "copies": self.copies,
            "prefix": self.prefix,
            "format": self.format,
            "quality": self.quality,
            "resize": list(self.resize) if self.resize else None,
            "include_originals": self.include_originals,
            "exif_transpose": self.exif_transpose,
            "max_pixels": self.max_pixels,
            "background": list(self.background),
            "buckets": self.buckets,
            "targets": self.targets.describe() if self.targets is not None else None,
            # the default tree is not written, so manifests of tree runs keep their bytes
            **({"layout": self.layout} if self.layout != "tree" else {}),
            **({"shard_size": self.shard_size} if self.layout == "webdataset" else {}),
            **({"compose": self.compose.describe()} if self.compose is not None else {}),
            **({"keep_names": True, "copy_originals": self.copy_originals} if self.keep_names else {}),
            # without --require the plans are today's, and so is this line
            **({"require": self.require, "max_tries": self.max_tries} if self.require is not None else {}),
            **({"tile": self.tile.describe()} if self.tile is not None else {}),
        }
