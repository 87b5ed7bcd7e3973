"""The comparator networks of augcli's median filter (median_networks.h is generated from them).

For a k x k window (k^2 values, slot i k + j holding the value at column offset j - k // 2 and row
offset i - k // 2) the network is Batcher's odd-even merge sort on the next power of two, with the
comparators that touch a slot >= k^2 dropped (those slots would hold +infinity, which never moves),
then pruned, from the last comparator back, to those the middle slot k^2 // 2 depends on: after it
the middle slot holds the median. Windows larger than 7 x 7 run it from a table; 3 x 3 uses sorted
columns (median.c), and 5 x 5 and 7 x 7 the staged forms of ``staged5`` and ``staged7``, which share
work between neighbouring windows (separable sorting networks, as in Adams, "Fast median filters
using separable sorting networks", ACM TOG 2021). Regenerate with
``python -m augcli.kernels.median_networks > median_networks.h`` (tests/test_ops_sensor.py checks
that the header is these networks).
"""

from __future__ import annotations

import functools

def batcher(n: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort network on the next power of two >= n, restricted to n slots."""
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return [(a, b) for a, b in pairs if b < n]


@functools.lru_cache(maxsize=None)
def network(k: int) -> tuple[tuple[tuple[int, int], ...], int]:
    """(pairs, slot): the pruned network for a k x k window and the slot that ends with the median."""
    n = k * k
    mid = n // 2
    needed = {mid}
    kept = []
    for a, b in reversed(batcher(n)):
        if a in needed or b in needed:
            kept.append((a, b))
            needed.update((a, b))
    return tuple(kept[::-1]), mid


def _odd_even_merge(lo: int, length: int, r: int = 1):
    """Batcher's merge of the sorted halves of [lo, lo + length) (length a power of two)."""
    step = r * 2
    if step < length:
        yield from _odd_even_merge(lo, length, step)
        yield from _odd_even_merge(lo + r, length, step)
        for i in range(lo + r, lo + length - r, step):
            yield (i, i + r)
    else:
        yield (lo, lo + r)


def _merge(blocks: list[tuple[int, list[int]]], total: int, merges: list[tuple[int, int]]):
    """Merge sorted lists of slots placed at the given positions of ``total`` (the rest +infinity)
    by Batcher's merges over ``merges`` = (start, length): comparators that meet +infinity are
    dropped (or become a renaming). Returns (pairs of slots, slot of each rank)."""
    where: list[int | None] = [None] * total
    for start, slots in blocks:
        where[start:start + len(slots)] = slots
    pairs = []
    for lo, length in merges:
        for a, b in _odd_even_merge(lo, length):
            if where[b] is None:
                continue
            if where[a] is None:
                where[a], where[b] = where[b], where[a]
                continue
            pairs.append((where[a], where[b]))
    return pairs, where


def _prune(pairs: list[tuple[int, int]], *targets: int) -> list[tuple[int, int]]:
    """The comparators that the values left in ``targets`` depend on (the others change only slots
    nothing reads)."""
    needed = set(targets)
    kept = []
    for a, b in reversed(pairs):
        if a in needed or b in needed:
            kept.append((a, b))
            needed.update((a, b))
    return kept[::-1]


@functools.lru_cache(maxsize=None)
def staged5() -> dict:
    """The 5 x 5 median in three stages, each a network on its own slots v[]:
    1. ``colsort``: sort a column of 5 (v[0..4] = rows 0..4, top down), once per column;
    2. ``pair``: merge sorted columns c (v[0..4]) and c + 1 (v[5..9]): rank i at v[pair_rank[i]],
       once per column;
    3. ``final``: v[0..9] = the pair at column x, v[10..19] the pair at x + 2, v[20..24] column x + 4
       (each in rank order) -> the median of the window at v[final_slot], pruned to that slot."""
    colsort = batcher(5)
    pair, where = _merge([(0, [0, 1, 2, 3, 4]), (8, [5, 6, 7, 8, 9])], 16, [(0, 16)])
    pair_rank = [int(v) for v in where[:10]]
    final, where = _merge([(0, list(range(10))), (16, list(range(10, 20))), (32, list(range(20, 25)))], 64,
                          [(0, 32), (0, 64)])
    slot = int(where[12])
    return {"colsort": colsort, "pair": pair, "pair_rank": pair_rank, "final": _prune(final, slot), "final_slot": slot}


# The window rows of two neighbouring output rows y and y + 1 (rows y - 3 .. y + 4 of the image):
# the six rows y - 2 .. y + 3 are in both windows, row y - 3 only in the first, y + 4 in the second.
CORE7_RANKS = range(17, 25)


@functools.lru_cache(maxsize=None)
def staged7() -> dict:
    """The 7 x 7 median of two output rows at once, in four stages, each a network on its own v[]:
    1. ``colsort``: sort a column of the six shared rows (v[0..5] top down), once per column;
    2. ``pair``: merge sorted columns c (v[0..5]) and c + 1 (v[6..11]): rank i at v[pair_rank[i]];
    3. ``core``: v[0..11], v[12..23], v[24..35] the pairs at columns x, x + 2, x + 4, v[36..41] the
       column at x + 6 (each in rank order) -> ranks 17 .. 24 of these 42 values at v[core_slots[i]];
       the other ranks cannot be a window's median once 7 more values join (24 - 7 = 17);
    4. ``final``, once per output row: v[0..7] = those 8 ranks, v[8..14] the row only in this window
       (columns x .. x + 6, unsorted) -> its median (rank 7 of these 15) at v[final_slot].
    The core is shared by the two output rows, each stage's result by the windows beside it."""
    colsort = batcher(6)
    pair, where = _merge([(0, list(range(6))), (8, list(range(6, 12)))], 16, [(0, 16)])
    pair_rank = [int(v) for v in where[:12]]
    blocks = [(0, list(range(12))), (16, list(range(12, 24))), (32, list(range(24, 36))), (48, list(range(36, 42)))]
    core, where = _merge(blocks, 64, [(0, 32), (32, 32), (0, 64)])
    core_slots = [int(where[r]) for r in CORE7_RANKS]
    row_sort = [(a + 8, b + 8) for a, b in batcher(7)]
    final, where = _merge([(0, list(range(8))), (8, list(range(8, 15)))], 16, [(0, 16)])
    slot = int(where[7])
    return {"colsort": colsort, "pair": pair, "pair_rank": pair_rank, "core": _prune(core, *core_slots),
            "core_slots": core_slots, "final": _prune(row_sort + final, slot), "final_slot": slot}


def _cmpx_lines(pairs) -> str:
    body = [f"MEDIAN_CMPX(v[{a}], v[{b}]);" for a, b in pairs]
    lines, line = [], ""
    for part in body:
        if len(line) + len(part) + 1 > 100:
            lines.append(line)
            line = ""
        line = f"{line} {part}".strip()
    lines.append(line)
    return " \\\n    ".join(lines)


def header() -> str:
    out = ["/* Generated by augcli/kernels/median_networks.py: do not edit. Comparator networks of the",
           " * median filter; MEDIAN_CMPX(a, b) puts the smaller value in a, the larger in b. */"]
    st = staged5()
    out.append("#define MEDIAN5_COLSORT \\\n    " + _cmpx_lines(st["colsort"]))
    out.append("#define MEDIAN5_PAIR \\\n    " + _cmpx_lines(st["pair"]))
    out.append("#define MEDIAN5_PAIR_RANK {" + ", ".join(map(str, st["pair_rank"])) + "}")
    out.append("#define MEDIAN5_FINAL \\\n    " + _cmpx_lines(st["final"]))
    out.append(f"#define MEDIAN5_FINAL_SLOT {st['final_slot']}")
    st = staged7()
    for name in ("colsort", "pair", "core", "final"):
        out.append(f"#define MEDIAN7_{name.upper()} \\\n    " + _cmpx_lines(st[name]))
    out.append("#define MEDIAN7_PAIR_RANK {" + ", ".join(map(str, st["pair_rank"])) + "}")
    out.append("#define MEDIAN7_CORE_SLOTS {" + ", ".join(map(str, st["core_slots"])) + "}")
    out.append(f"#define MEDIAN7_FINAL_SLOT {st['final_slot']}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(header(), end="")
