"""augcli's own dHash against the reference (imagehash, test-only), and the banded search."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageOps

from augcli import phash

from .conftest import BENCH_IMAGES, REPO

imagehash = pytest.importorskip("imagehash")


def reference(path) -> int:
    with Image.open(path) as im:
        return int(str(imagehash.dhash(ImageOps.exif_transpose(im), 8)), 16)


def test_equals_imagehash_on_decoded_images():
    # PNG (and any non-JPEG) is decoded in full: bit for bit imagehash.dhash
    files = sorted(p for p in (REPO / "sample_images").rglob("*") if p.suffix in (".png", ".jpg"))
    assert files
    for p in files:
        with Image.open(p) as im:
            assert phash.dhash_image(ImageOps.exif_transpose(im)) == reference(p), p
        if p.suffix == ".png":
            assert phash.dhash_bytes(p.read_bytes()) == reference(p), p


def test_close_to_imagehash_on_real_photos():
    photos = sorted(BENCH_IMAGES.rglob("*.jpg")) if BENCH_IMAGES.is_dir() else []
    if not photos:
        pytest.skip(f"no photos in {BENCH_IMAGES}")
    ours = [phash.dhash_bytes(p.read_bytes()) for p in photos]
    d = Counter(phash.distance(a, reference(p)) for a, p in zip(ours, photos))
    # JPEGs are decoded at a reduced DCT scale: a bit or two apart, most exactly equal
    assert max(d) <= 2 and d[0] >= len(photos) // 2, d
    # distinct photos stay far apart: well over the default distance of 8
    assert min(phash.distance(a, b) for a, b in itertools.combinations(ours, 2)) > 8


def test_banded_search_equals_all_pairs():
    rng = np.random.default_rng(0)
    base = [int(v) for v in rng.integers(0, 2**63, 300, dtype=np.int64)]
    hashes = list(base)
    for h in base[:80]:  # near copies at 0..12 bits
        flips = rng.choice(64, int(rng.integers(0, 13)), replace=False)
        hashes.append(h ^ sum(1 << int(b) for b in flips))
    hashes += [None, hashes[0]]
    for dmax in (0, 3, 8, 12):
        brute = sorted((i, j, phash.distance(a, b)) for (i, a), (j, b) in itertools.combinations(enumerate(hashes), 2)
                       if a is not None and b is not None and phash.distance(a, b) <= dmax)
        assert phash.near_pairs(hashes, dmax) == brute, dmax


def test_bands_cover_the_64_bits():
    for d in range(0, phash.MAX_DISTANCE + 1):
        bands = phash.bands(d)
        assert len(bands) == d + 1
        mask = 0
        for shift, m in bands:
            assert mask & (m << shift) == 0
            mask |= m << shift
        assert mask == 2**64 - 1


def test_unreadable_file_gets_an_error_not_an_exception(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    h = phash.hash_file(str(tmp_path), "bad.png")
    assert h.dhash is None and h.sha256 and h.error.startswith("cannot decode")
    assert phash.hash_file(str(tmp_path), "missing.png").error.startswith("cannot read")


def test_mirror_hash_is_the_hash_of_the_mirrored_image():
    for p in sorted((REPO / "sample_images").rglob("*.png")):
        with Image.open(p) as im:
            h, m = phash.dhash_pair(im)
            assert phash.dhash_image(ImageOps.mirror(im)) == m and reference(p) == h


def test_a_known_content_hash_is_not_decoded_again(tmp_path):
    from pathlib import Path

    data = (REPO / "sample_images" / "living" / "astronaut.png").read_bytes()
    (tmp_path / "x.png").write_bytes(data)
    (tmp_path / "y.png").write_bytes(data)
    import hashlib

    cache = phash.HashCache(None)
    cache.by_sha[hashlib.sha256(data).hexdigest()] = (123, 456)  # not what decoding gives: proves no decode
    for workers in (1, 2):
        for h in phash.hash_files(Path(tmp_path), ["x.png", "y.png"], workers, cache, chunk=1):  # 2: in a pool
            assert (h.dhash, h.mirror) == (123, 456)


def test_mirror_search_equals_all_pairs():
    rng = np.random.default_rng(1)
    hashes = [int(v) for v in rng.integers(0, 2**63, 200, dtype=np.int64)]
    mirrors = [int(v) for v in rng.integers(0, 2**63, 200, dtype=np.int64)]
    for k in range(60):  # image 2k+1 is near the mirror of image 2k
        flips = rng.choice(64, int(rng.integers(0, 12)), replace=False)
        hashes[2 * k + 1] = mirrors[2 * k] ^ sum(1 << int(b) for b in flips)
    hashes[150] = hashes[151] = mirrors[152] = mirrors[153] = 99  # equal values share one list
    for dmax in (0, 5, 10):
        brute = sorted((i, j, phash.distance(hashes[i], mirrors[j])) for i in range(200) for j in range(200)
                       if phash.distance(hashes[i], mirrors[j]) <= dmax)
        got = sorted((i, j, d) for xs, ys, d in phash.mirror_links(hashes, mirrors, dmax) for i in xs for j in ys)
        assert got == brute, dmax
