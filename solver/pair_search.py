"""Compiled searches over the pair values: the m-height of one matrix at a time, no level sets.

With v(B, a) = ||G_B^{-1} g_a||_1 = (T(B + a) - |det G_B|) / |det G_B| (docs/MATH.md) the
height is max over columns a and sets Y of n - m columns without a of min over bases B in Y of
v(B, a). Two exact ways avoid the min over all C(n-1, n-m) sets Y of :mod:`solver.pruned`:

* **Branching (m <= 2).** Y is [n] minus a and a set Z of m - 1 columns. Start from Z = {}
  and, at each node, branch on the members of the node's minimising basis (Z must hold one of
  them to raise the min): sum_{d < m} k^d nodes per column, each a look-up in the column's
  smallest pair values (kept sorted while the pair values are made) or, where those run out,
  one scan of the column for all children of a node.
* **Primal branch and bound (larger m).** The LP "max c_a, |c_t| <= 1 on Y" is solved at a
  vertex c = s^T G_B^{-1} G (B a basis in Y, s in {+-1}^k); its optimum for column a is v(B, a)
  at the signs s_i = sign (G_B^{-1} g_a)_i ("aligned"), and that vertex fits some Y without a
  exactly when at most m entries of c exceed 1 in magnitude. So the height is the largest v(B, a)
  whose aligned vertex is admissible. Bases are visited by decreasing largest pair value and a
  pair is tested only while it beats the best admissible one: one sort and cheap rejections.
  Entries of G_B^{-1} G are ratios of signed minors (Cramer), so with integer minors small
  enough for float64 sums every comparison with 1 is exact; otherwise a comparison within
  rounding of 1 makes the matrix undecided.

Pair values are computed as :mod:`solver.pruned` computes them (T summed over the (k+1)-set's
k-subsets in ascending order of the removed column), and both searches only select among them,
so all closed forms return the same float. Matrices the kernels cannot decide (near-singular
real minors, undecided comparisons, many zero cofactors) come back as NaN for solver.pruned.
"""

from __future__ import annotations

from math import comb

import numba
import numpy as np

from solver.lattice import (
    column_pairs,
    split_members,
    subsets,
    superset_children,
    superset_ranks,
)

UNDECIDED = np.nan
# Zero cofactors leave aligned signs free; beyond this many in one pair the 2^z choices are
# left to solver.pruned.
MAX_FREE_SIGNS = 10
# Smallest pair values kept per column for the branching; a node that finds none of them
# outside its removed set scans the column in full.
KEEP = 8
# Counts since the last reset: [pairs (B, a) with B a basis, pairs examined after their value was
# made (primal: pairs tested; branching: pairs rescanned)]; 1 - examined / pairs is the share the
# search pruned (benchmarks/solver_scaling.py).
last_stats = np.zeros(2, dtype=np.int64)
# Rounding of the primal test's float sums, relative to the magnitudes summed.
SUM_RTOL = 1e-14


def use_branching(n: int, k: int, m: int) -> bool:
    """Branch on the removed set for m <= 2 (a root and k leaves per column), the primal search
    above: measured on n = 9..12, k = 3..6, where the primal one wins from m = 3 on by a factor
    growing with m (the branching tree has sum_{d < m} k^d nodes)."""
    return m <= 2 and m < n - k


@numba.njit(cache=True, nogil=True)
def _infinite(sing, n, k, m, faces):
    """Does some set of n - m columns have rank < k? Such a set lies in a hyperplane spanned by
    an independent (k-1)-set F, which holds n - c columns (c: the columns x with F + x a basis)
    and C(n - c, k) singular k-subsets; faces[F] lists the k-subsets F + x."""
    singular = 0
    for x in range(sing.size):
        singular += sing[x]
    if m == n - k:
        return singular > 0
    if singular < comb_small(n - m, k):  # too few singular k-subsets for such a hyperplane
        return False
    for f in range(faces.shape[0]):
        count = 0
        for j in range(faces.shape[1]):
            count += not sing[faces[f, j]]
        if 1 <= count <= m:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def comb_small(a, b):
    """C(a, b) for the small arguments here (exact in int64)."""
    out = 1
    for i in range(b):
        out = out * (a - i) // (i + 1)
    return out


@numba.njit(cache=True, nogil=True)
def _pair_values(absD, sing, k, children, up, T, V, U):
    """V[B, j] = v(B, a) for a the j-th column outside B; U[B] = max_j (-inf if B singular).

    T(S) first, one pass over the (k+1)-sets; then each basis reads its supersets' T (basis by
    basis: writing V in the (k+1)-sets' order scatters it across memory, 6x slower).
    """
    for S in range(children.shape[0]):
        total = absD[children[S, 0]]
        for j in range(1, k + 1):
            total += absD[children[S, j]]
        T[S] = total
    for B in range(up.shape[0]):
        if sing[B]:  # no pair: +inf never minimises, -inf never leads the primal order
            V[B, :] = np.inf
            U[B] = -np.inf
            continue
        d = absD[B]
        top = -np.inf
        for j in range(up.shape[1]):
            v = T[up[B, j]] - d
            v /= d
            V[B, j] = v
            top = max(top, v)
        U[B] = top


@numba.njit(cache=True, nogil=True)
def _largest_pair(absD, sing, k, children):
    """max over pairs of v(B, a), from the (k+1)-sets alone: within S = B + a the value
    (T(S) - |det G_B|) / |det G_B| falls as |det G_B| grows (also in floats), so each S needs one
    division, at its smallest nonsingular |det|. -inf if no basis."""
    best = -np.inf
    for S in range(children.shape[0]):
        total = 0.0
        low = np.inf
        for j in range(k + 1):
            B = children[S, j]
            total += absD[B]
            low = min(low, np.inf if sing[B] else absD[B])  # a select, not a branch
        if low < np.inf:
            v = total - low
            v /= low
            best = max(best, v)
    return best


@numba.njit(cache=True, nogil=True)
def _branch(
    V, masks, inside, outside, column_at, column_masks, n, k, m, skip, keep_v, keep_b, stats
):
    """max over columns a and removed sets Z (|Z| < m) of min over bases avoiding a and Z.

    keep_v, keep_b (n, keep): room for each column's smallest pair values and their bases;
    column_at, column_masks (n, C(n-1,k)): each column's pairs (B, a) as flat indices into V
    and B's mask (ascending B). Singular bases have V = +inf.
    """
    r = n - k
    keep = keep_v.shape[1]
    keep_v[:] = np.inf
    for B in range(masks.size):
        for j in range(r):
            v = V[B, j]
            a = outside[B, j]
            if v < keep_v[a, keep - 1]:  # insert, keeping the row sorted (ties: first come)
                i = keep - 1
                while i > 0 and keep_v[a, i - 1] > v:
                    keep_v[a, i] = keep_v[a, i - 1]
                    keep_b[a, i] = keep_b[a, i - 1]
                    i -= 1
                keep_v[a, i] = v
                keep_b[a, i] = B
    flat = V.reshape(-1)
    # Column order and bounds: f(a) >= its smallest pair value; f(a) <= the largest of m
    # pairwise disjoint kept bases (a removed set of m - 1 columns spares one of them).
    low = np.empty(n)
    high = np.full(n, np.inf)
    for a in range(n):
        low[a] = keep_v[a, 0]
        used = 0
        count = 0
        for i in range(keep):
            if keep_v[a, i] == np.inf:
                break
            X = masks[keep_b[a, i]]
            if X & used == 0:
                used |= X
                count += 1
                if count == m:
                    high[a] = keep_v[a, i]
                    break
    best = -np.inf
    stack_z = np.zeros(1 + k * m, dtype=np.int64)  # depth first: k children per level
    stack_d = np.zeros(stack_z.size, dtype=np.int64)
    stack_b = np.zeros(stack_z.size, dtype=np.int64)
    child_v = np.empty(k)
    child_b = np.empty(k, dtype=np.int64)
    for a in np.argsort(-low):
        if low[a] == np.inf:  # no basis avoids a: every Y without a is rank-deficient
            if not skip:
                return np.inf
            continue
        if not high[a] > best:
            continue
        best = max(best, low[a])
        stack_z[0] = 0
        stack_d[0] = 0
        stack_b[0] = keep_b[a, 0]
        top = 1
        while top:
            top -= 1
            Z = stack_z[top]
            level = stack_d[top]
            pick = stack_b[top]
            if level + 1 >= m:
                continue
            # The children Z + e, e in the node's minimising basis: from the kept values, or
            # all of them in one scan of the column where the kept values run out.
            missing = 0  # the members e of pick whose child needs the scan
            for i in range(k):
                e = inside[pick, i]
                child = Z | (np.int64(1) << e)
                child_v[i] = np.inf
                child_b[i] = -1
                for q in range(keep):
                    if keep_v[a, q] == np.inf:
                        break
                    if masks[keep_b[a, q]] & child == 0:
                        child_v[i] = keep_v[a, q]
                        child_b[i] = keep_b[a, q]
                        break
                if child_b[i] < 0 and keep_v[a, keep - 1] < np.inf:
                    missing |= np.int64(1) << e
            if missing:
                # A leaf child only has to be shown not to beat best: stop looking for it at
                # the first basis with a value <= best (the pruning of docs/MATH.md).
                leaves = level + 2 >= m
                for q in range(column_at.shape[1]):
                    X = column_masks[a, q]
                    if X & Z or missing & ~X == 0:
                        continue
                    v = flat[column_at[a, q]]
                    for i in range(k):
                        e = inside[pick, i]
                        if (missing >> e) & 1 and (X >> e) & 1 == 0 and v < child_v[i]:
                            child_v[i] = v
                            child_b[i] = column_at[a, q] // r
                            if leaves and v <= best:
                                missing &= ~(np.int64(1) << e)
                    if missing == 0:
                        break
                stats[1] += q + 1
            for i in range(k):
                if child_b[i] < 0:  # no basis avoids a and Z + e: a rank-deficient Y
                    if not skip:
                        return np.inf
                    continue
                best = max(best, child_v[i])
                stack_z[top] = Z | (np.int64(1) << inside[pick, i])
                stack_d[top] = level + 1
                stack_b[top] = child_b[i]
                top += 1
    return best


@numba.njit(cache=True, nogil=True)
def _primal(D, absD, V, U, inside, outside, children, up, n, k, m, exact, stats):
    """Largest pair value whose aligned vertex has at most m entries beyond 1 (NaN: undecided)."""
    r = n - k
    order = _descending(U)
    best = -np.inf
    M = np.empty((k, r))
    size = np.empty(r)
    c = np.empty(r)
    s = np.empty(k)
    free = np.empty(k, dtype=np.int64)
    seen = np.empty(r, dtype=np.int64)
    for x in order:
        if not U[x] > best:
            continue
        for j in range(r):  # M[i, j] = det G_B * (G_B^{-1} g_u)_i by Cramer's rule, u = outside[j]
            u = outside[x, j]
            S = up[x, j]  # B + u; B - e + u is the child of S without e
            below = u - j  # members of B below u
            for i in range(k):
                later = (
                    inside[x, i] > u
                )  # moving g_u to its sorted slot crosses the members between
                flips = i - below if later else below - i - 1
                M[i, j] = D[children[S, i + later]] * (1 - 2 * (flips & 1))  # branch-free
        d = absD[x]
        if not exact:
            for j in range(r):
                total = 0.0
                for i in range(k):
                    total += abs(M[i, j])
                size[j] = SUM_RTOL * (total + d)
        nseen = 0
        for t in range(r):
            if not V[x, t] > best:
                continue
            stats[1] += 1
            code = 0
            nfree = 0
            for i in range(k):
                if M[i, t] == 0:
                    s[i] = 1.0
                    free[nfree] = i
                    nfree += 1
                else:
                    s[i] = 1.0 if M[i, t] > 0 else -1.0
                    if (M[i, t] > 0) != (M[0, t] > 0):
                        code |= 1 << i
            if nfree == 0:  # one vertex per sign pattern (and its negative): test it once
                known = False
                for q in range(nseen):
                    if seen[q] == code:
                        known = True
                if known:
                    continue
                seen[nseen] = code
                nseen += 1
            elif nfree > MAX_FREE_SIGNS:
                return UNDECIDED
            admissible = False
            for pattern in range(1 << nfree):
                for f in range(nfree):
                    s[free[f]] = 1.0 if (pattern >> f) & 1 == 0 else -1.0
                c[:] = 0.0
                for i in range(k):
                    for j in range(r):
                        c[j] += s[i] * M[i, j]
                over = 0
                unsure = 0
                for j in range(r):
                    gap = abs(c[j]) - d
                    if exact:
                        over += gap > 0
                    elif gap > size[j]:
                        over += 1
                    elif gap >= -size[j]:
                        unsure += 1
                if over + unsure <= m:
                    admissible = True
                    break
                if over <= m:
                    return UNDECIDED
            if admissible:  # every aligned pair of this vertex: the largest value wins
                for q in range(r):
                    if V[x, q] > best and _aligned(M, s, q):
                        best = V[x, q]
    return best


@numba.njit(cache=True, nogil=True)
def _descending(U):
    """The bases with a finite U, roughly by decreasing U: a counting sort on the float's
    exponent and top two mantissa bits (numba's argsort costs 5x numpy's; order within a
    quarter octave does not matter for the search)."""
    keys = U.view(np.int64) >> 50  # positive floats order as their bits; -inf is negative
    low = np.int64(1) << 62
    high = np.int64(-1)
    for key in keys:
        if key >= 0:
            low = min(low, key)
            high = max(high, key)
    if high < 0:
        return np.empty(0, dtype=np.int64)
    start = np.zeros(high - low + 2, dtype=np.int64)
    for key in keys:
        if key >= 0:
            start[high - key + 1] += 1
    for b in range(1, start.size):
        start[b] += start[b - 1]
    order = np.empty(start[-1], dtype=np.int64)
    for x in range(keys.size):
        if keys[x] >= 0:
            b = high - keys[x]
            order[start[b]] = x
            start[b] += 1
    return order


@numba.njit(cache=True, nogil=True)
def _aligned(M, s, q):
    """Are the signs s aligned with column q (up to one global sign; zeros match either)?"""
    plus = True
    minus = True
    for i in range(M.shape[0]):
        if M[i, q] > 0:
            plus &= s[i] > 0
            minus &= s[i] < 0
        elif M[i, q] < 0:
            plus &= s[i] < 0
            minus &= s[i] > 0
    return plus or minus


@numba.njit(cache=True, nogil=True)
def _height(D, sing, n, k, m, tables, integer, exact, skip, branch, work):
    masks, children, up, faces, inside, outside, column_at, column_masks = tables
    T, V, U, keep_v, keep_b, stats = work
    for x in range(sing.size):
        if sing[x]:
            if not integer:
                return UNDECIDED  # near-singular real minors: solver.pruned's noise rule decides
            if not skip and _infinite(sing, n, k, m, faces):
                return np.inf
            break
    absD = np.abs(D)
    for x in range(sing.size):
        stats[0] += 0 if sing[x] else n - k
    if m == n - k:  # every vertex is admissible: the largest pair value
        return _largest_pair(absD, sing, k, children)
    _pair_values(absD, sing, k, children, up, T, V, U)
    if branch:
        return _branch(
            V, masks, inside, outside, column_at, column_masks, n, k, m, skip, keep_v, keep_b, stats
        )
    return _primal(D, absD, V, U, inside, outside, children, up, n, k, m, exact, stats)


@numba.njit(cache=True, nogil=True)
def _heights(D, sing, n, k, m, tables, integer, exact, skip, branch, keep, stats):
    out = np.empty(D.shape[0])
    T = np.empty(tables[1].shape[0])  # one T per (k+1)-set
    V = np.empty((D.shape[1], n - k))
    U = np.empty(D.shape[1])
    work = (T, V, U, np.empty((n, keep)), np.empty((n, keep), dtype=np.int64), stats)
    for i in range(D.shape[0]):
        out[i] = _height(D[i], sing[i], n, k, m, tables, integer[i], exact[i], skip, branch, work)
    return out


def heights(
    dets: np.ndarray,
    singular: np.ndarray,
    integer: np.ndarray,
    exact: np.ndarray,
    n: int,
    k: int,
    m: int,
    skip: bool,
) -> np.ndarray:
    """Heights from signed minors (C(n,k), N) in ascending mask order; NaN where undecided,
    -inf where no pair counts (skip-unbounded, every Y rank-deficient).

    ``integer``: per matrix, minors are exact integers (singular means exactly zero);
    ``exact``: also small enough that float64 sums of k + 1 of them are exact.
    """
    tables = (
        subsets(n, k),
        superset_children(n, k),
        superset_ranks(n, k),
        superset_ranks(n, k - 1),
        *split_members(n, k),
        *column_pairs(n, k),
    )
    return _heights(
        np.ascontiguousarray(dets.T),
        np.ascontiguousarray(singular.T),
        n,
        k,
        m,
        tables,
        integer,
        exact,
        skip,
        use_branching(n, k, m),
        min(KEEP, comb(n - 1, k)),
        last_stats,
    )
