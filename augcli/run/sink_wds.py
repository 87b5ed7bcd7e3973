"""``--layout webdataset``: the outputs packed into tar shards ``OUT/shard-000000.tar`` ... of at most
``--shard-size`` samples each. A sample is ``KEY.<ext>`` (the image, as the tree layout encodes it),
``KEY.cls`` (the class index, when the outputs sit in class folders) and ``KEY.json`` (the output's
manifest record, plus ``objects`` in pixels when the run carries detection labels). KEY is the
output's name without its extension (dots in the file name become ``_``: WebDataset cuts the key
at the first dot of the file name).

Shard membership is fixed by the plan: shards never span buckets; a bucket's outputs, in source
order, fill its shards in turn, and shards are numbered across buckets in bucket order (every
machine of a sharded run lists the whole input, so every machine numbers them alike). So the tars
are the same bytes for any ``-j``, any ``--shard I/N`` split and any engine, given ``--buckets``.
The runs goes through buckets (the bookkeeping under .augcli/), whatever the engine.

Each output is first written whole to .augcli/wds/stage/; the moment the last record of a shard
arrives (records arrive per bucket in source order), the shard is packed in plan order with fixed
headers (mtime 0, uid/gid 0, no user names, mode 0644), written atomically, and its staged files
removed. A killed run leaves complete shards and staged outputs; on resume an output whose shard
is complete exists (it is not made again), and a staged output is reused as it is.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from ..manifest import record_line
from ..storage import LocalStore, RemoteStore

if TYPE_CHECKING:
    import tarfile

STAGE = ".augcli/wds/stage"
DEFAULT_SHARD_SIZE = 1000


def shard_name(number: int) -> str:
    return f"shard-{number:06d}.tar"


def sample_key(rel: str) -> tuple[str, str]:
    """(KEY, extension) of an output name: the file name's dots other than the extension's become
    ``_``, so WebDataset's first-dot rule finds the whole key."""
    folder, _, name = rel.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    key = stem.replace(".", "_")
    return (f"{folder}/{key}" if folder else key), ext.lower()


def class_folders(rels: list[str]) -> list[str] | None:
    """The class names of the outputs, as ImageFolder readers take them: the immediate parent
    folders, when there are at least two and every output sits at the same depth; else None."""
    parents = {r.rpartition("/")[0] for r in rels}
    depths = {r.count("/") for r in rels}
    if len(parents) < 2 or len(depths) != 1 or "" in parents:
        return None
    return sorted(p.rpartition("/")[2] for p in parents)


def _member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(payload))


class WebDatasetSink:
    streams = False  # outputs arrive as bytes: they are staged, then packed

    def __init__(self, store: LocalStore | RemoteStore, shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        self.store = store
        self.shown = store.shown
        self.remote = store.remote
        self.shard_size = shard_size
        self._where: dict[str, int] = {}  # output -> shard number
        self._members: dict[int, list[str]] = {}  # shard -> its outputs, in plan order
        self._classes: dict[str, int] | None = None
        self._seen: dict[int, dict[str, dict[str, Any]]] = {}  # shard -> records arrived
        self._of_bucket: dict[int, list[int]] = {}  # bucket -> its shards
        self._packed: set[int] = set()

    # the plan: called once by the driver, before any check or write
    def plan(self, buckets: list[tuple[int, list[str], bool]]) -> None:
        """``buckets``: every bucket in order, as (bucket, its outputs in source order, whether this
        run makes it). Numbers the shards across all buckets; keeps the members of the owned ones."""
        number = 0
        everything: list[str] = []
        for b, rels, owned in buckets:
            everything += rels
            for start in range(0, len(rels), self.shard_size):
                if owned:
                    self._of_bucket.setdefault(b, []).append(number)
                    chunk = rels[start:start + self.shard_size]
                    self._members[number] = chunk
                    for rel in chunk:
                        self._where[rel] = number
                number += 1
        names = class_folders(everything)
        self._classes = {n: i for i, n in enumerate(names)} if names is not None else None

    def prepare(self) -> None:
        self.store.prepare()

    def list_once(self) -> None:
        if self.remote:
            self.store.list_once()  # type: ignore[union-attr]

    def _shard(self, rel: str) -> int:
        if rel not in self._where:
            raise OSError(f"{rel} is not in the plan of this webdataset run")
        return self._where[rel]

    def exists(self, rel: str) -> bool:
        """Whether the shard that holds ``rel`` is complete (then the output is not made again)."""
        n = self._where.get(rel)
        return n is not None and self.store.exists(shard_name(n))

    def write(self, rel: str, data: Any, *, overwrite: bool) -> bool:
        self._shard(rel)
        return self.store.write(f"{STAGE}/{rel}", data, overwrite=overwrite)

    def same_bytes(self, rel: str, data: bytes) -> bool:
        return self.store.same_bytes(f"{STAGE}/{rel}", data)

    def write_file(self, rel: str, data: bytes, *, overwrite: bool) -> bool:
        """A file beside the shards (label file, mask, dataset YAML, COCO JSON), as in the tree layout."""
        return self.store.write(rel, data, overwrite=overwrite)

    def open_bucket(self, bucket: int) -> None:
        pass

    def close_bucket(self, bucket: int) -> None:
        """Pack the bucket's shards still open: a source that failed as a whole (it could not be
        read) has one record without an output, so its outputs never arrive; they are left out."""
        for n in self._of_bucket.get(bucket, []):
            if n not in self._packed:
                self._pack(n, self._seen.pop(n, {}))

    def record(self, rec: dict[str, Any], objects: dict[str, list] | None) -> None:
        rel = rec.get("output")
        n = self._where.get(rel) if rel is not None else None
        if n is None:
            return
        seen = self._seen.setdefault(n, {})
        entry = json.loads(record_line(rec))
        if objects is not None or (rec.get("labels") or {}).get("format") is not None:
            entry["objects"] = objects or {"bbox": [], "categories": []}  # an unlabelled output of a labelled run
        seen[rel] = {"ok": rec.get("status") == "ok", "existing": bool(rec.get("existing")), "json": entry}
        if len(seen) == len(self._members[n]):
            self._pack(n, self._seen.pop(n))

    def _pack(self, n: int, seen: dict[str, dict[str, Any]]) -> None:
        self._packed.add(n)
        members = self._members[n]
        missing = {"ok": False, "existing": False}
        seen = {rel: seen.get(rel, missing) for rel in members}
        made = [rel for rel in members if seen[rel]["ok"] and not seen[rel]["existing"]]
        if not made and self.store.exists(shard_name(n)):
            # complete from an earlier run, which may have been killed between writing the shard and
            # removing what it staged for it
            for rel in members:
                self.store.remove(f"{STAGE}/{rel}")  # (a staged file already gone is no error)
            return
        def pack(fh: Any) -> None:
            import tarfile  # --layout webdataset only: a tree run does not load it

            # one sample's image in memory at a time: a local shard streams into its temporary file
            with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for rel in members:
                    if not seen[rel]["ok"]:
                        continue  # a failed output: counted in the run's failures, absent from the shard
                    key, ext = sample_key(rel)
                    fields = {ext or "bin": self.store.read(f"{STAGE}/{rel}"),
                              "json": json.dumps(seen[rel]["json"], sort_keys=True).encode("utf-8")}
                    if self._classes is not None:
                        fields["cls"] = str(self._classes[rel.rpartition("/")[0].rpartition("/")[2]]).encode()
                    for field in sorted(fields):
                        _member(tar, f"{key}.{field}", fields[field])

        if self.remote:  # an object is put whole
            buf = io.BytesIO()
            pack(buf)
            self.store.write(shard_name(n), buf.getvalue(), overwrite=True)
        else:
            self.store.write(shard_name(n), pack, overwrite=True)
        for rel in members:
            if seen[rel]["ok"]:
                self.store.remove(f"{STAGE}/{rel}")

    def finish(self, buckets: int | None = None) -> None:
        pass
