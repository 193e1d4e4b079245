"""Bitmask index tables for the pruned closed form, built with numpy in milliseconds.

A subset of [n] is an int mask; every family of s-subsets is kept in ascending mask order
(colex), and ``ranks(w)[mask]`` is a mask's position among the masks of its popcount. These
replace the Python-dict tables of :mod:`solver.tables` (seconds at n = 16) so that any shape up
to n = 16 is ready in well under a second, and nothing here grows with C(n-1, n-m) * C(n-m, k):
the min over the bases in a set Y is built level by level (see :func:`level_children`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import combinations
from math import comb

import numpy as np

# Masks are int64; rank lookups are arrays of 2^w entries, so w is bounded (2^24 int32 = 64 MiB).
MAX_BITS = 24


def popcounts(w: int) -> np.ndarray:
    """Popcount of every mask below 2^w, as uint8."""
    counts = np.zeros(1, dtype=np.uint8)
    for _ in range(w):  # doubling: masks with the new top bit have one more bit set
        counts = np.concatenate([counts, counts + 1])
    return counts


@cache
def ranks(w: int) -> np.ndarray:
    """rank[mask] = position of ``mask`` among the masks below 2^w with the same popcount."""
    if w > MAX_BITS:
        raise ValueError(f"subset tables need at most {MAX_BITS} elements, got {w}")
    pc = popcounts(w)
    rank = np.empty(1 << w, dtype=np.int32)
    for s in range(w + 1):
        where = np.flatnonzero(pc == s)
        rank[where] = np.arange(where.size, dtype=np.int32)
    return rank


@cache
def subsets(w: int, s: int) -> np.ndarray:
    """All s-subsets of [w] as int64 masks, ascending (their ranks are 0, 1, 2, ...)."""
    if w <= MAX_BITS:
        return np.flatnonzero(popcounts(w) == s).astype(np.int64)
    raise ValueError(f"subset tables need at most {MAX_BITS} elements, got {w}")


def members(masks: np.ndarray, s: int, w: int) -> np.ndarray:
    """(len(masks), s) the set bits of each mask (each has exactly s), ascending."""
    bits = (masks[:, None] >> np.arange(w, dtype=np.int64)) & 1
    return np.nonzero(bits)[1].reshape(len(masks), s)


@dataclass(frozen=True)
class LaplaceStep:
    """minor_s[i] = sum_j (-1)^j P[entry[i, j]] * minor_{s-1}[sub[i, j]] (P flattened)."""

    entry: np.ndarray  # (C(k,s) C(r,s), s)
    sub: np.ndarray  # (C(k,s) C(r,s), s)


@dataclass(frozen=True)
class Minors:
    """Every square minor of a k x r matrix, and where each k-subset of [I | P] finds |det|."""

    steps: tuple[LaplaceStep, ...]  # steps[s-1] builds the size-s minors, s = 1..min(k, r)
    subset_minor: np.ndarray  # (C(n,k),) position of |det G_X| for X in ascending mask order


@cache
def minors(k: int, r: int) -> Minors:
    """Laplace tables along the first row of each minor (R, T), R rows and T columns of P.

    Minor (R, T) of size s sits at offset_s + rank(R) C(r, s) + rank(T). The expansion order
    (first row of R, columns of T ascending) is the one :mod:`solver.vertex` uses, so the float
    minors agree bit for bit with it.
    """
    rank_k, rank_r = ranks(k), ranks(r)
    offsets = [0]
    steps = []
    for s in range(1, min(k, r) + 1):
        offsets.append(offsets[-1] + comb(k, s - 1) * comb(r, s - 1))
        R, T = subsets(k, s), subsets(r, s)
        r0 = members(R, s, k)[:, 0]  # first row of each R
        T_bits = members(T, s, r)  # (num_T, s)
        R_rest = rank_k[R & ~(np.int64(1) << r0)]  # rank of R minus its first row
        T_rest = rank_r[T[:, None] & ~(np.int64(1) << T_bits)]  # (num_T, s)
        entry = (r0[:, None, None] * r + T_bits[None, :, :]).reshape(-1, s)
        sub = R_rest[:, None, None] * comb(r, s - 1) + T_rest[None, :, :]
        steps.append(LaplaceStep(entry.astype(np.intp), sub.reshape(-1, s).astype(np.intp)))
    offsets.append(offsets[-1] + comb(k, min(k, r)) * comb(r, min(k, r)))
    n = k + r
    X = subsets(n, k)
    R = ~X & ((np.int64(1) << k) - 1)
    T = X >> k
    size = popcounts(r)[T].astype(np.int64)
    comb_r = np.array([comb(r, s) for s in range(r + 1)], dtype=np.int64)
    where = np.asarray(offsets)[size] + rank_k[R] * comb_r[size] + rank_r[T]
    return Minors(tuple(steps), where.astype(np.intp))


@dataclass(frozen=True)
class PairTables:
    """For one column a: the bases B of [n] without a, and the k+1 subsets of S = B + a.

    Row i is the i-th k-subset of the n-1 other columns (ascending mask order in [n-1], the
    leaves of :func:`level_children`); entries index ``subsets(n, k)``. ``around[i]`` lists
    S - x for x in S ascending (B itself is S - a), so that T(S) = sum_x |det G_{S-x}| is
    summed in the same order as :func:`superset_children` sums it.
    """

    basis: np.ndarray  # (C(n-1,k),) index of B
    around: np.ndarray  # (C(n-1,k), k+1) index of S - x, x in S = B + a ascending
    sup: np.ndarray  # (C(n-1,k),) index of S = B + a among the (k+1)-subsets of [n]
    masks: np.ndarray  # (C(n-1,k),) mask of B in [n]


def expand(masks: np.ndarray, a: int) -> np.ndarray:
    """Masks over [n] \\ {a} (bits renumbered 0..n-2) as masks over [n]."""
    low = (np.int64(1) << a) - 1
    return (masks & low) | ((masks & ~low) << 1)


# Pair tables of all n columns are cached while they hold at most this many indices (n = 16,
# k = 8: 0.9 million); larger shapes rebuild them per call (milliseconds) to bound memory.
PAIR_CACHE_MAX = 4_000_000


def pair_tables(n: int, k: int, a: int) -> PairTables:
    """Tables of column a, cached for shapes where all columns' tables stay small."""
    if n * comb(n - 1, k) * (k + 4) <= PAIR_CACHE_MAX:
        return _cached_pair_tables(n, k, a)
    return _pair_tables(n, k, a)


@cache
def _cached_pair_tables(n: int, k: int, a: int) -> PairTables:
    return _pair_tables(n, k, a)


def _pair_tables(n: int, k: int, a: int) -> PairTables:
    rank_n = ranks(n)
    B = expand(subsets(n - 1, k), a)
    S = B | (np.int64(1) << a)
    around = S[:, None] & ~(np.int64(1) << members(S, k + 1, n))
    return PairTables(
        rank_n[B].astype(np.intp), rank_n[around].astype(np.intp), rank_n[S].astype(np.intp), B
    )


@cache
def superset_children(n: int, k: int) -> np.ndarray:
    """(C(n,k+1), k+1) int32: for each (k+1)-subset S of [n] (ascending masks), the ranks of
    S - x for x in S ascending, i.e. the k-subsets it holds.

    T(S) = sum_x |det G_{S-x}| gives every pair value of S at once: for B = S - a,
    v(B, a) = sum_{b in B} |det G_{B-b+a}| / |det G_B| = (T(S) - |det G_B|) / |det G_B|.
    """
    S = subsets(n, k + 1)
    return ranks(n)[S[:, None] & ~(np.int64(1) << members(S, k + 1, n))]


@cache
def split_members(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each k-subset of [n] (ascending masks): its members and the columns outside it,
    ascending, as int8 arrays (C(n,k), k) and (C(n,k), n-k)."""
    X = subsets(n, k)
    inside = members(X, k, n).astype(np.int8)
    outside = members(((np.int64(1) << n) - 1) & ~X, n - k, n).astype(np.int8)
    return inside, outside


@cache
def superset_ranks(n: int, k: int) -> np.ndarray:
    """(C(n,k), n-k) int32: for each k-subset B of [n], the ranks of B + a among the
    (k+1)-subsets, a running over the columns outside B ascending (the inverse of
    :func:`superset_children`)."""
    outside = split_members(n, k)[1].astype(np.int64)
    return ranks(n)[subsets(n, k)[:, None] | (np.int64(1) << outside)]


def level_plan(w: int, k: int, top: int) -> tuple[int, ...]:
    """Sizes k = s_0 < s_1 < ... = top of the level chain with the fewest child look-ups.

    A jump from size s' to s takes, for each s-set S, the min over S minus each (s - s')-subset
    of its k + s - s' lowest elements: C(k + s - s', s - s') children per set (k+1 for one
    step; all C(s, k) bases for one jump from k). Every k-subset B of S survives one of these
    removals (B misses s - s' of those k + s - s' elements), so the min is exact at any size.
    """
    best = {k: (0, (k,))}
    for s in range(k + 1, top + 1):
        options = [
            (cost + comb(w, s) * comb(k + s - t, s - t), chain + (s,))
            for t, (cost, chain) in best.items()
            if t < s
        ]
        best[s] = min(options)
    return best[top][1]


def plan_lookups(w: int, k: int, top: int) -> int:
    """Child look-ups of :func:`level_plan`'s chain per matrix and column."""
    chain = level_plan(w, k, top)
    steps = zip(chain[:-1], chain[1:], strict=True)
    return sum(comb(w, s) * comb(k + s - t, s - t) for t, s in steps)


@cache
def subset_signs(n: int, k: int) -> np.ndarray:
    """sign(det G_X) / sign(det P[R, T]) for every k-subset X of [n] (ascending masks), as +-1.

    G_X holds the identity columns X_s = X & [k] first; moving rows X_s to the top leaves the
    block P[R, T] (R = rows outside X_s, T = parity columns of X), at the cost of one sign per
    pair (r in R, x in X_s) with x > r.
    """
    X = subsets(n, k)
    system = X & ((1 << k) - 1)
    swaps = np.zeros(X.size, dtype=np.int64)
    for r in range(k):
        outside = (system >> r & 1) == 0
        swaps += np.where(outside, popcounts(k)[system >> (r + 1)], 0)
    return np.where(swaps % 2 == 0, 1.0, -1.0)


@cache
def level_children(w: int, k: int, top: int) -> tuple[np.ndarray, ...]:
    """Per step of :func:`level_plan`'s chain: (C(w,s), C(k+d,d)) ranks of the children of
    each s-set S (S minus each d-subset of its k+d lowest elements, d = s - previous size).

    min over the k-subsets of S is then the min over these children of their own mins.
    """
    rank = ranks(w)
    out = []
    chain = level_plan(w, k, top)
    for t, s in zip(chain[:-1], chain[1:], strict=True):
        d = s - t
        S = subsets(w, s)
        low = np.int64(1) << members(S, s, w)[:, : k + d]
        removed = [low[:, list(R)].sum(axis=1) for R in combinations(range(k + d), d)]
        out.append(rank[S[:, None] & ~np.stack(removed, axis=1)].astype(np.intp))
    return tuple(out)


@cache
def lex_positions(n: int, k: int) -> np.ndarray:
    """Position in ascending mask order of each k-subset of [n] listed in lexicographic order."""
    masks = np.array([sum(1 << c for c in X) for X in combinations(range(n), k)], dtype=np.int64)
    return ranks(n)[masks].astype(np.intp)
