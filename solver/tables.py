"""Index tables for the closed form: which minors, bases and (a, Y) sets to combine.

Everything here depends on (n, k, m) only, so it is built once per shape and cached; the
numerical work in :mod:`solver.vertex` is then pure gathers and arithmetic over a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import combinations

import numpy as np


@dataclass(frozen=True)
class HeightTables:
    """Index tables for h_m = max_a max_Y min_{B in Y} ||G_B^{-1} g_a||_1 (docs/MATH.md).

    A "pair" is (B, a) with B a k-subset of [n] and a outside B; pairs are numbered B-major.
    ||G_B^{-1} g_a||_1 = sum_{b in B} |det G_{B-b+a}| / |det G_B| (Cramer's rule).
    """

    pair_basis: np.ndarray  # (num_pairs,) subset index of B
    pair_swaps: np.ndarray  # (num_pairs, k) subset indices of B - b + a, b in B
    pair_a: np.ndarray  # (num_pairs,) the column a
    bases: tuple[tuple[int, ...], ...]  # k-subsets in lex order
    cover: tuple[np.ndarray, ...] | None  # per a: (num_Y, C(n-m, k)) pair indices of B within Y
    cover_sets: tuple[tuple[tuple[int, ...], ...], ...] | None  # per a: the sets Y, same order


@cache
def height_tables(n: int, k: int, m: int) -> HeightTables:
    """Tables for one (n, k, m); ``cover`` is None when m = n-k (Y = B: nothing to minimise)."""
    bases = tuple(combinations(range(n), k))
    rank = {B: i for i, B in enumerate(bases)}
    pair_index: dict[tuple[int, int], int] = {}
    pair_basis, pair_swaps, pair_a = [], [], []
    for i, B in enumerate(bases):
        for a in range(n):
            if a in B:
                continue
            pair_index[(i, a)] = len(pair_basis)
            pair_basis.append(i)
            pair_a.append(a)
            pair_swaps.append([rank[tuple(sorted(set(B) - {b} | {a}))] for b in B])
    L = n - m
    cover = cover_sets = None
    if L > k:
        cover_list, sets_list = [], []
        for a in range(n):
            others = [c for c in range(n) if c != a]
            Ys = tuple(combinations(others, L))
            cover_list.append(
                np.array(
                    [[pair_index[(rank[B], a)] for B in combinations(Y, k)] for Y in Ys],
                    dtype=np.intp,
                )
            )
            sets_list.append(Ys)
        cover, cover_sets = tuple(cover_list), tuple(sets_list)
    return HeightTables(
        np.array(pair_basis, dtype=np.intp),
        np.array(pair_swaps, dtype=np.intp).reshape(-1, k),
        np.array(pair_a, dtype=np.intp),
        bases,
        cover,
        cover_sets,
    )
