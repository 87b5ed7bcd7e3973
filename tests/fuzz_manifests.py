"""Seeded mutational fuzzing of ``augcli replay``'s reader: mutants of real manifests (fields
replaced by hostile values, paths that climb out or are absolute, op params out of range, header
settings and label descriptions edited, lines cut, doubled, dropped or filled with junk). Everything
is drawn from one ``random.Random(seed)``, so a seed names a set of mutants exactly.

``python -m tests.fuzz_manifests WORK SEED N`` replays N mutants of the manifests under WORK (made
by ``make_bases``) in this one process (through click's test runner, so an uncaught exception is
seen as one) and prints one JSON line per mutant: its number, how it was made, the exit code,
whether a traceback happened, and its stderr."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any, Callable

HOSTILE_STRINGS = ["", ".", "..", "../x.png", "../../secret/secret.png", "/", "a/../../x.png", "a//b.png",
                   "./a.png", "a\\..\\b.png", "a\0b.png", "\x1b[31mred.png", "images/../../../x.png",
                   "x" * 5000, "images", "labels/a.txt", "data.yaml", "manifest.jsonl", "\udcff.png", "a.png/"]
HOSTILE_VALUES: list[Any] = [None, True, False, 0, -1, 1, 2**31, 2**64, -(2**63), 1e8, -1e8, 1e308, 0.5, -0.0,
                             "1e9", "12x", [], [1], [1, 2], [200000, 200000], [0, 0], {}, {"a": 1}, [[1, 2]] * 3]
ABSOLUTE = ["{secret}/secret.png", "{victim}", "{work}/x.png", "{work}/yolo/images/a.jpg"]


def make_bases(work: Path, run: Callable[..., Any]) -> dict[str, Path]:
    """Two small datasets (YOLO with a data.yaml; COCO) expanded with several ops; a secret folder
    and a victim JSON beside them, which no replay may read or touch. ``run(*args)`` runs augcli."""
    from PIL import Image

    from .conftest import pattern

    yolo = work / "yolo"
    (yolo / "images").mkdir(parents=True)
    (yolo / "labels").mkdir()
    for i in range(2):
        pattern(28 + 4 * i, 20, seed=i).save(yolo / "images" / f"a{i}.jpg", quality=90)
        (yolo / "labels" / f"a{i}.txt").write_text("0 0.5 0.5 0.3 0.4\n")
    (yolo / "data.yaml").write_text(f"path: {yolo}\ntrain: images\nnames: [thing]\n")
    coco = work / "coco"
    coco.mkdir()
    pattern(30, 24, seed=5).save(coco / "c.png")
    doc = {"images": [{"id": 1, "file_name": "c.png", "width": 30, "height": 24}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 10, 8], "area": 80,
                            "iscrowd": 0}], "categories": [{"id": 1, "name": "thing"}]}
    (coco / "instances.json").write_text(json.dumps(doc))
    (work / "secret").mkdir()
    Image.new("RGB", (28, 20)).save(work / "secret" / "secret.png")
    (work / "victim.json").write_text(json.dumps(doc))
    flags = ["-n", "2", "--seed", "3", "-j", "1", "-q", "--include-originals"]
    run("expand", yolo, work / "yolo-out", *flags, "--rotate", "15", "--hflip", "--blur", "1", "--erase", "2",
        "--noise", "4", "--crop", "0.8")
    run("expand", coco, work / "coco-out", *flags, "--rot90", "--perspective", "0.05", "--zoom", "0.2",
        "--channel-shift", "10", "--jpeg-artifacts", "60", "--width-shift", "3", "--lighting", "0.3")
    return {"yolo": work / "yolo-out" / "manifest.jsonl", "coco": work / "coco-out" / "manifest.jsonl"}


def _hostile(rng: random.Random, work: Path) -> Any:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(HOSTILE_STRINGS)
    if roll < 0.6:
        return rng.choice(ABSOLUTE).format(secret=work / "secret", victim=work / "victim.json", work=work)
    return rng.choice(HOSTILE_VALUES)


def _edit_record(rng: random.Random, rec: dict, work: Path) -> str:
    roll = rng.random()
    if roll < 0.35:
        key = rng.choice(["source", "output", "output", "source_b64", "output_b64"])
        rec[key] = _hostile(rng, work)
        return f"{key}={rec[key]!r:.60}"
    steps = [s for s in rec.get("ops") or [] if isinstance(s, dict)] if isinstance(rec.get("ops"), list) else []
    if roll < 0.65 and steps:
        step = rng.choice(steps)
        keys = [k for k in step if k != "op"] or ["applied"]
        key = rng.choice(keys + ["extra"])
        step[key] = _hostile(rng, work) if rng.random() < 0.5 else (
            step.get(key, 1) * rng.choice([-1, 10, 1e6]) if isinstance(step.get(key), (int, float)) else [])
        return f"ops {step['op']}.{key}={step[key]!r:.60}"
    if roll < 0.8:
        key = rng.choice(["size", "copy", "status", "ops", "error", "matrix"])
        rec[key] = _hostile(rng, work)
        return f"{key}={rec[key]!r:.60}"
    if steps:
        rng.shuffle(rec["ops"])
        return "ops shuffled"
    return "unchanged"


def _edit_header(rng: random.Random, header: dict, work: Path) -> str:
    config = header["config"] if isinstance(header.get("config"), dict) else {}
    roll = rng.random()
    if roll < 0.4 and config:
        key = rng.choice(["resize", "max_pixels", "quality", "format", "background", "exif_transpose", "prefix",
                          "input_dir", "output_dir"])
        config[key] = _hostile(rng, work)
        return f"config {key}={config[key]!r:.60}"
    if roll < 0.6 and isinstance(config.get("pipeline"), dict) and isinstance(config["pipeline"].get("ops"), list) \
            and all(isinstance(op, dict) for op in config["pipeline"]["ops"]) and config["pipeline"]["ops"]:
        op = rng.choice(config["pipeline"]["ops"])
        key = rng.choice([k for k in op if k != "op"] + ["extra"])
        op[key] = _hostile(rng, work)
        return f"pipeline {op['op']}.{key}={op[key]!r:.60}"
    if roll < 0.9 and isinstance(header.get("labels"), dict) and isinstance(header["labels"].get("options"), dict):
        labels = header["labels"]
        key = rng.choice(["coco_files", "yamls", "format", "mask_layout", "excluded", "options.masks",
                          "options.masks_output", "options.mask_suffix", "options.precision", "spec"])
        value = _hostile(rng, work)
        if key.startswith("options."):
            labels["options"][key[8:]] = value
        elif key in ("coco_files", "yamls") and rng.random() < 0.6:
            labels[key] = [value]
        else:
            labels[key] = value
        return f"labels {key}={value!r:.60}"
    key = rng.choice(["kind", "augcli", "kernel", "config", "labels"])
    header[key] = _hostile(rng, work)
    return f"header {key}={header[key]!r:.60}"


def mutant(rng: random.Random, base: str, work: Path) -> tuple[bytes, str]:
    """One mutant manifest (bytes) of ``base`` and a description of its edits."""
    lines = base.splitlines()
    header, records = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    hows = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        roll = rng.random()
        if roll < 0.55:
            dicts = [r for r in records if isinstance(r, dict)]
            hows.append(_edit_record(rng, rng.choice(dicts), work) if dicts else "no record left to edit")
        elif roll < 0.8:
            hows.append(_edit_header(rng, header, work))
        elif roll < 0.9:
            i = rng.randrange(len(records))
            records.insert(rng.randrange(len(records) + 1), json.loads(json.dumps(records[i])))
            hows.append(f"record {i} duplicated")
        else:
            hows.append("record replaced by " + repr(rec := rng.choice([[], 5, "x", None, [1, 2]])))
            records[rng.randrange(len(records))] = rec  # type: ignore[call-overload]
    text = [json.dumps(header)] + [json.dumps(r) for r in records]
    data = ("\n".join(text) + "\n").encode("utf-8", "surrogateescape")
    roll = rng.random()
    if roll < 0.1:
        cut = rng.randrange(len(data))
        data = data[:cut]
        hows.append(f"cut at byte {cut}")
    elif roll < 0.2:
        at = rng.randrange(len(data))
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        data = data[:at] + junk + data[at:]
        hows.append(f"{len(junk)} junk bytes at {at}")
    return data, "; ".join(hows)


def main(work: Path, seed: int, count: int) -> None:
    from click.testing import CliRunner

    from augcli.cli import cli

    bases = {name: (work / f"{name}-out" / "manifest.jsonl").read_text() for name in ("yolo", "coco")}
    rng = random.Random(seed)
    for k in range(count):
        name = rng.choice(sorted(bases))
        data, how = mutant(rng, bases[name], work)
        case = work / "cases" / str(k)
        case.mkdir(parents=True)
        (case / "m.jsonl").write_bytes(data)
        args = ["replay", str(case / "m.jsonl"), "--input", str(work / name), "--output", str(case / "out"),
                "--on-exists", rng.choice(["error", "skip", "overwrite"])]
        res = CliRunner().invoke(cli, args)
        crashed = res.exception is not None and not isinstance(res.exception, SystemExit)
        print(json.dumps({"case": k, "base": name, "how": how, "exit": res.exit_code, "traceback": crashed,
                          "error": repr(res.exception) if crashed else None, "stderr": res.stderr}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
