"""The comparator networks of augcli's median filter (median_networks.h is generated from them).

For a k x k window (k^2 values, slot i k + j holding the value at column offset j - k // 2 and row
offset i - k // 2) the network is Batcher's odd-even merge sort on the next power of two, with the
comparators that touch a slot >= k^2 dropped (those slots would hold +infinity, which never moves),
then pruned, from the last comparator back, to those the middle slot k^2 // 2 depends on: after it
the middle slot holds the median. Windows larger than 7 x 7 run it from a table; 3 x 3 uses sorted
columns (median.c), and 5 x 5 and 7 x 7 the staged networks of ``staged``, which share work between
neighbouring windows and rows (separable sorting networks, after Adams, "Fast median filters using
separable sorting networks", ACM TOG 2021). Regenerate with
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


def _pow2(n: int) -> int:
    size = 1
    while size < n:
        size *= 2
    return size


STAGED = (5, 7)


@functools.lru_cache(maxsize=None)
def staged(k: int) -> dict:
    """The k x k median (k = 5 or 7) of two neighbouring output rows y and y + 1 at once, in four
    stages, each a network on its own v[]. The windows hold rows y - r .. y + r and y - r + 1 ..
    y + r + 1 (r = k // 2): the k - 1 rows between are in both, one row in each only.
    1. ``colsort``: sort a column of the k - 1 shared rows (v[0 .. k - 2] top down), once per column;
    2. ``pair``: merge sorted columns c (v[0 .. k - 2]) and c + 1 (v[k - 1 .. 2k - 3]): rank i at
       v[pair_rank[i]], once per column;
    3. ``core``: the pairs at columns x, x + 2, ... x + k - 3 (2k - 2 values each) then the column at
       x + k - 1 (k - 1), each in rank order, in v[] one after the other -> ranks m - k .. m of
       these k (k - 1) values (m = k^2 // 2) at v[core_slots[i]], once per column for both rows:
       the other ranks cannot be the median once the k values of a window's own row join;
    4. ``final``, once per output row: v[0 .. k] = those k + 1 ranks, v[k + 1 .. 2k] the window's own
       row (columns x .. x + k - 1, unsorted) -> the window's median (rank k of these 2k + 1) at
       v[final_slot].
    Each stage's results are shared by the windows beside it (Adams' separable networks); every
    stage is Batcher's merges pruned to what the next one reads."""
    if k not in STAGED:
        raise ValueError(f"staged medians are for k in {STAGED}")
    rows, m = k - 1, k * k // 2
    colsort = batcher(rows)
    half = _pow2(rows)
    pair, where = _merge([(0, list(range(rows))), (half, list(range(rows, 2 * rows)))], 2 * half, [(0, 2 * half)])
    pair_rank = [int(v) for v in where[:2 * rows]]
    block, npairs = 2 * half, rows // 2
    blocks = [(i * block, list(range(i * 2 * rows, (i + 1) * 2 * rows))) for i in range(npairs)]
    blocks.append((npairs * block, list(range(npairs * 2 * rows, npairs * 2 * rows + rows))))
    total = block * _pow2(npairs + 1)
    merges, size = [], 2 * block
    while size <= total:  # merge neighbouring sorted blocks, level by level
        merges += [(lo, size) for lo in range(0, total, size)]
        size *= 2
    core, where = _merge(blocks, total, merges)
    core_slots = [int(where[r]) for r in range(m - k, m + 1)]
    row_sort = [(a + k + 1, b + k + 1) for a, b in batcher(k)]
    half = _pow2(k + 1)
    final, where = _merge([(0, list(range(k + 1))), (half, list(range(k + 1, 2 * k + 1)))], 2 * half, [(0, 2 * half)])
    slot = int(where[k])
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
    for k in STAGED:
        st = staged(k)
        for name in ("colsort", "pair", "core", "final"):
            out.append(f"#define MEDIAN{k}_{name.upper()} \\\n    " + _cmpx_lines(st[name]))
        for name in ("pair_rank", "core_slots"):
            out.append(f"#define MEDIAN{k}_{name.upper()} {{" + ", ".join(map(str, st[name])) + "}")
        out.append(f"#define MEDIAN{k}_FINAL_SLOT {st['final_slot']}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(header(), end="")
