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
class LaplaceStep:
    """How to get every s x s minor of P from the (s-1) x (s-1) ones (expansion along a row).

    minor_s[i] = sum_j sign[j] * P[entry[i, j]] * minor_{s-1}[sub[i, j]], P flattened row-major.
    """

    entry: np.ndarray  # (num_minors_s, s) flat index into P
    sub: np.ndarray  # (num_minors_s, s) index into the previous size's minors
    sign: np.ndarray  # (s,) +1 / -1


@dataclass(frozen=True)
class MinorTables:
    """All square minors of a k x r matrix, and where each k-subset of columns of [I | P] sits."""

    steps: tuple[LaplaceStep, ...]  # steps[s-1] builds size-s minors, s = 1..min(k, r)
    offsets: np.ndarray  # start of each size's block in the concatenation of all minors
    subset_minor: np.ndarray  # (C(n,k),) position of |det G_X| among all minors, X in lex order


@cache
def minor_tables(k: int, r: int) -> MinorTables:
    """Square minors of P (k x r), indexed so |det G_X| = |minor| for every k-subset X of [n]."""
    smax = min(k, r)
    index: list[dict[tuple[tuple[int, ...], tuple[int, ...]], int]] = [{((), ()): 0}]
    steps = []
    for s in range(1, smax + 1):
        keys = [(R, T) for R in combinations(range(k), s) for T in combinations(range(r), s)]
        index.append({key: i for i, key in enumerate(keys)})
        entry = np.empty((len(keys), s), dtype=np.intp)
        sub = np.empty((len(keys), s), dtype=np.intp)
        for i, (R, T) in enumerate(keys):
            for j, t in enumerate(T):
                entry[i, j] = R[0] * r + t
                sub[i, j] = index[s - 1][(R[1:], T[:j] + T[j + 1 :])]
        sign = np.array([(-1) ** j for j in range(s)], dtype=np.int64)
        steps.append(LaplaceStep(entry, sub, sign))
    sizes = [len(d) for d in index]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    n = k + r
    subsets = list(combinations(range(n), k))
    subset_minor = np.empty(len(subsets), dtype=np.intp)
    for x, X in enumerate(subsets):
        S = {c for c in X if c < k}
        R = tuple(i for i in range(k) if i not in S)
        T = tuple(c - k for c in X if c >= k)
        subset_minor[x] = offsets[len(T)] + index[len(T)][(R, T)]
    return MinorTables(tuple(steps), offsets, subset_minor)


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
