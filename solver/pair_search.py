"""Compiled searches over the pair values: the m-height of one matrix at a time, no level sets.

With v(B, a) = ||G_B^{-1} g_a||_1 = (T(B + a) - |det G_B|) / |det G_B| (docs/MATH.md) the
height is max over columns a and sets Y of n - m columns without a of min over bases B in Y of
v(B, a). Four exact ways avoid the level recursion of :mod:`solver.pruned` (:func:`search`
picks one per shape):

* **m = n - k.** Every Y is one basis: the largest pair value, one pass over the (k+1)-sets S
  (S's largest value is at its smallest nonsingular minor).
* **Small m (m <= 2), by basis exchanges.** Y is [n] minus a and at most one more column e.
  min over B in Y of v(B, a) is the optimum of min ||y||_1 subject to G_Y y = g_a, whose
  basic solutions at B cost v(B, a); the simplex method walks to it through a few bases and
  stops where the vertex of the basis aligned with a has no entry beyond 1 on Y (then it is
  optimal: the certificate is exact with integer minors). Only e in the basis B1 found for
  [n] - a can raise the min above v(B1, a), so each column needs one walk for [n] - a and k
  short ones for the sets Y = [n] - a - e, e in B1, each stopping at the first value that does
  not beat the best found (the pruning bound). The work is polynomial, n k walks of k (n - k)
  cofactors each, not a pass over all C(n, k) bases; a walk that cannot certify its end (a zero
  cofactor, a comparison within rounding of 1) leaves its column to a scan of every basis.
* **The m = 2 table (small shapes).** f(a, [n] - a - e) for every two columns at once: each
  pair value lowers the cells of the n - k - 1 columns e outside B + a. No pruning, but no
  walks either, which is cheaper while the table is small.
* **Primal branch and bound (larger m).** The LP "max c_a, |c_t| <= 1 on Y" is solved at a
  vertex c = s^T G_B^{-1} G (B a basis in Y, s in {+-1}^k); its optimum for column a is v(B, a)
  at the signs s_i = sign (G_B^{-1} g_a)_i ("aligned"), and that vertex fits some Y without a
  exactly when at most m entries of c exceed 1 in magnitude. So the height is the largest v(B, a)
  whose aligned vertex is admissible. Bases are visited by decreasing largest pair value and a
  pair is tested only while it beats the best admissible one; a basis whose every vertex has
  more than m entries beyond 1 by a lower bound is skipped, and for k <= TABLE_MAX_K (4) all
  vertices of a basis are tabulated at once.
  Entries of G_B^{-1} G are ratios of signed minors (Cramer), so with integer minors small
  enough for float64 sums every comparison with 1 is exact; otherwise a comparison within
  rounding of 1 makes the matrix undecided.

Pair values are computed as :mod:`solver.pruned` computes them (T summed over the (k+1)-set's
k-subsets in ascending order of the removed column), and the searches only select among them,
so all closed forms return the same float. Matrices the kernels cannot decide (near-singular
real minors, undecided comparisons, many zero cofactors) come back as NaN for solver.pruned.
"""

from __future__ import annotations

from functools import cache
from math import comb
from typing import NamedTuple

import numba
import numpy as np

from solver.lattice import (
    split_members,
    subsets,
    superset_children,
    superset_ranks,
)

UNDECIDED = np.nan
# Kernels called many times per matrix that allocate nothing: compiled without the runtime's
# reference counts, which otherwise cost an atomic increment and decrement per array argument
# and call (measured: 120 ns of a 25 ns basis exchange).
LEAF = {"cache": True, "nogil": True, "_nrt": False}


class Tables(NamedTuple):
    """Index tables of one shape: unsigned views of solver.lattice's cached tables."""

    masks: np.ndarray  # (C(n,k),) the k-subsets, ascending
    children: np.ndarray  # (C(n,k+1), k+1) the k-subsets of each (k+1)-set
    up: np.ndarray  # (C(n,k), n-k) the (k+1)-sets B + a
    faces: np.ndarray  # (C(n,k-1), n-k+1) the k-subsets F + x of each (k-1)-set
    outside: np.ndarray  # (C(n,k), n-k) the other columns


@cache
def shape_tables(n: int, k: int) -> Tables:
    """The tables the kernels of shape (n, k) read: O(C(n,k) (n-k)) indices (26 MB at n = 20,
    k = 10), built once per process with numpy. Viewed as unsigned (no copy: the ranks and
    members are non-negative), because numba checks every signed index for wrapping around."""
    outside = split_members(n, k)[1]
    return Tables(
        subsets(n, k),
        superset_children(n, k).view(np.uint32),
        superset_ranks(n, k).view(np.uint32),
        superset_ranks(n, k - 1).view(np.uint32),
        outside.view(np.uint8),
    )


# Zero cofactors leave aligned signs free; beyond this many in one pair the 2^z choices are
# left to solver.pruned.
MAX_FREE_SIGNS = 10
# Counts since the last reset: [pairs (B, a) with B a basis, pairs examined (primal: pairs tested
# after their value was made; m <= 2: walk steps and scanned bases)]; 1 - examined / pairs is the
# share the search pruned (benchmarks/solver_scaling.py).
last_stats = np.zeros(2, dtype=np.int64)
# Up to this k the primal search tabulates all 2^(k-1) vertices of a basis at once (Gray code);
# beyond, testing the few aligned vertices one by one is cheaper (measured against the table:
# 0.9x at k = 4, 1.1-1.2x at k = 5 (0.96x at (15, 5, 6)), 1.6-2.4x at k = 6, 7).
TABLE_MAX_K = 4
# Rounding of the primal test's float sums, relative to the magnitudes summed.
SUM_RTOL = 1e-14


# The searches, as search() picks them.
LARGEST, TABLE, WALK, PRIMAL = 0, 1, 2, 3
# The m = 2 table makes C(n,k) (n-k) (n-k-1) updates; up to about this many it beats the walks
# (measured: 1.6-3x up to (9, 5), tied at (10, 4) (6,300), behind from (11, 4) and (11, 5)).
TABLE_MAX_UPDATES = 8_000


def search(n: int, k: int, m: int) -> int:
    """Which search labels shape (n, k, m): the largest pair at m = n - k; for m <= 2 the
    table on small shapes, else the walks (as fast as the primal search or faster at every
    m <= 2 measured: 1.0-23x at n = 7..16, k = 3..6); the primal search otherwise."""
    r = n - k
    if m == r:
        return LARGEST
    if m == 2 and comb(n, k) * r * (r - 1) <= TABLE_MAX_UPDATES:
        return TABLE
    return WALK if m <= 2 else PRIMAL


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


@numba.njit(cache=True, nogil=True, inline="always")
def _pair_value(total, d):
    """v(B, a) = (T(B + a) - |det G_B|) / |det G_B|, in the order vertex computes it (so every
    closed form gets the same float)."""
    v = total - d
    v /= d
    return v


# A pair value costs a division. Where most candidates lose a comparison, a multiplication
# rules them out first, with this margin for the rounding on both sides (far above 2^-52); the
# survivors are divided and compared exactly, so every result is the same float.
COMPARE_RTOL = 1e-14


@numba.njit(cache=True, nogil=True, inline="always")
def _may_exceed(total, d, bound):
    """False only if _pair_value(total, d) <= bound for sure (d > 0; bound may be -inf)."""
    return total - d > bound * d * (1 - COMPARE_RTOL)


@numba.njit(cache=True, nogil=True, inline="always")
def _may_undercut(total, d, bound):
    """False only if _pair_value(total, d) >= bound for sure (d > 0; bound may be +inf)."""
    return total - d < bound * d * (1 + COMPARE_RTOL)


@numba.njit(cache=True, nogil=True)
def _superset_sums(absD, k, children, T):
    """T(S) = sum of |det| over the k-subsets of each (k+1)-set S, in the order vertex sums."""
    for S in range(children.shape[0]):
        total = absD[children[S, 0]]
        for j in range(1, k + 1):
            total += absD[children[S, j]]
        T[S] = total


@numba.njit(cache=True, nogil=True)
def _superset_bounds(absD, children, rtol, T, over):
    """_superset_sums and, in the same pass, the dominance bound: bit p of over[S] says that the
    basis B = S minus its p-th member has |c_u| > 1 at every vertex, u being that member.
    The cofactor column M[:, u] of B is S's other minors, and
    |c_u| d >= 2 max_i |M[i, u]| - sum_i |M[i, u]| whatever the signs; so the bit is set when
    twice the largest minor of S other than B's exceeds T(S) (beyond the rounding rtol T(S)):
    for every B but the largest minor's own when the largest does, for that one when the
    second largest does."""
    for S in range(children.shape[0]):
        first = absD[children[S, 0]]
        second = -1.0
        at = 0
        total = first
        for p in range(1, children.shape[1]):
            v = absD[children[S, p]]
            total += v
            second = max(second, min(first, v))  # branch-free: v's rank is unpredictable
            at = p if v > first else at
            first = max(first, v)
        T[S] = total
        slack = total * (1 + rtol)
        lead = np.int32(1) << at
        over[S] = (-np.int32(2 * first > slack) & ~lead) | (-np.int32(2 * second > slack) & lead)


@numba.njit(cache=True, nogil=True)
def _largest_values(absD, sing, up, T, U):
    """U[B] = max over the columns a outside B of v(B, a), -inf if B is singular: one division
    per basis, at the largest T(B + a) (the value rises with T, also in floats)."""
    for B in range(up.shape[0]):
        if sing[B]:  # no pair: -inf never leads the primal order
            U[B] = -np.inf
            continue
        top = T[up[B, 0]]
        for j in range(1, up.shape[1]):
            top = max(top, T[up[B, j]])
        U[B] = _pair_value(top, absD[B])


@numba.njit(cache=True, nogil=True)
def _largest_pair(absD, sing, k, children):
    """max over pairs of v(B, a), from the (k+1)-sets alone: within S = B + a the value
    (T(S) - |det G_B|) / |det G_B| falls as |det G_B| grows (also in floats), so each S needs
    at most one division, at its smallest nonsingular |det|. -inf if no basis."""
    best = -np.inf
    masked = absD.copy()
    for x in range(sing.size):
        if sing[x]:
            masked[x] = np.inf
    for S in range(children.shape[0]):
        total = 0.0
        low = np.inf
        for j in range(k + 1):
            B = children[S, j]
            total += absD[B]
            low = min(low, masked[B])
        if low < np.inf and _may_exceed(total, low, best):
            best = max(best, _pair_value(total, low))
    return best


@numba.njit(cache=True, nogil=True)
def _two_column_table(absD, sing, T, t, n, skip, stats):
    """The height for m = 2 on small shapes, by the table f[a, e] = f(a, [n] - a - e), the
    least v(B, a) over the bases B avoiding e: every pair value updates its n - k - 1 cells."""
    f = np.full((n, n), np.inf)
    full = (np.int64(1) << n) - 1
    for B in range(t.up.shape[0]):
        if sing[B]:
            continue
        d = absD[B]
        rest = full & ~t.masks[B]
        stats[1] += t.up.shape[1]  # every pair value is examined: nothing pruned
        for j in range(t.up.shape[1]):
            a = t.outside[B, j]
            v = _pair_value(T[t.up[B, j]], d)
            others = rest & ~(np.int64(1) << a)
            while others:
                e = _lowest(others)
                others &= others - 1
                f[a, e] = min(f[a, e], v)
    best = -np.inf
    for a in range(n):
        for e in range(n):
            if e != a and f[a, e] == np.inf:  # no basis avoids a and e: a rank-deficient Y
                if not skip:
                    return np.inf
            elif e != a:
                best = max(best, f[a, e])
    return best


@numba.njit(cache=True, nogil=True, inline="always")
def _superset_sum(D, children, S):
    """T(S) from the signed minors, summed as _superset_sums sums it (the same float)."""
    total = abs(D[children[S, 0]])
    for p in range(1, children.shape[1]):
        total += abs(D[children[S, p]])
    return total


@numba.njit(cache=True, nogil=True)
def _small_m(D, t, n, m, exact, skip, M, columns, stats):
    """The height for m <= 2 by basis exchanges (:func:`_walk`), without the minimum over Y.

    Y is [n] minus a column a and, for m = 2, one more column e. A walk finds B1, a basis of
    least v(B, a) over [n] - a. Then f(a, Y) = v(B1, a) unless e is in B1, so only the k sets
    Y = [n] - a - e, e in B1, need a walk of their own; it stops at the first value <= best,
    as such a Y cannot raise the height (docs/MATH.md, pruning). A walk that cannot certify
    its basis leaves the column to a scan of every basis (:func:`_scan`).
    """
    low, pick, rank, s, held = columns
    held[0] = -1  # the basis whose cofactors M holds
    order = np.empty(0, dtype=np.int64)  # the scans' order and results, made on first need
    child = np.empty(0)
    holder = np.empty(0, dtype=np.int64)
    x = 0  # the first k columns, the identity: no pass over the minors to pick a start
    best = -np.inf
    for a in range(n):
        if (t.masks[x] >> a) & 1:
            x = _drop(x, a, a, D, t)
        if x >= 0:
            low[a], x = _walk(x, a, 0, -np.inf, D, t, exact, M, held, s, stats)
            if x < 0:
                if order.size == 0:
                    order, child, holder = _scan_scratch(D, n)
                _scan(a, np.int64(1) << n, -np.inf, order, D, t, child, holder, stats)
                low[a], x = child[n], holder[n]
        if x < 0:  # no basis avoids a: every Y without a is rank-deficient
            if not skip:
                return np.inf
            low[a] = np.inf
            x = 0
            continue
        pick[a] = x
        best = max(best, low[a])
    if m == 1:
        return best
    for q in range(n):  # the largest lower bounds first: best rises early (insertion sort)
        p = q
        while p > 0 and low[rank[p - 1]] < low[q]:
            rank[p] = rank[p - 1]
            p -= 1
        rank[p] = q
    for a in rank:
        if low[a] == np.inf:
            continue
        first = t.masks[pick[a]]
        missing = np.int64(0)  # the columns e left to the scan
        rest = first
        while rest:
            e = _lowest(rest)
            rest &= rest - 1
            y = _drop(pick[a], e, a, D, t)
            if y < 0:  # no basis avoids a and e: a rank-deficient Y
                if not skip:
                    return np.inf
                continue
            if _pair_at(y, a, D, t) <= best:  # (as the walk's first step, without its call)
                continue
            value, y = _walk(y, a, np.int64(1) << e, best, D, t, exact, M, held, s, stats)
            if y < 0:
                missing |= np.int64(1) << e
            else:
                best = max(best, value)
        if missing == 0:
            continue
        if order.size == 0:
            order, child, holder = _scan_scratch(D, n)
        _scan(a, missing, best, order, D, t, child, holder, stats)
        while missing:
            e = _lowest(missing)
            missing &= missing - 1
            best = max(best, child[e])
    return best


# Exchange steps a walk may take before it leaves its column to the scan (each one lowers the
# value, so a walk cannot cycle; most end in a few steps).
WALK_LIMIT = 64


@numba.njit(cache=True, nogil=True, inline="always")
def _slot(X, a):
    """The position of column a among the columns outside the k-subset X (ascending)."""
    return a - popcount(X & ((np.int64(1) << a) - 1))


@numba.njit(cache=True, nogil=True, inline="always")
def _pair_at(x, a, D, t):
    """v(x, a) for a basis x and a column a outside it."""
    return _pair_value(_superset_sum(D, t.children, t.up[x, _slot(t.masks[x], a)]), abs(D[x]))


@numba.njit(**LEAF)
def _walk(x, a, avoid, best, D, t, exact, M, held, s, stats):
    """The least v(B, a) over the bases B of Y = [n] - a - avoid (a bit mask), from the basis
    x of Y by exchanges: the simplex method on min ||y||_1 subject to G_Y y = g_a, whose
    basic solutions at B cost v(B, a). Entering column: the largest |c_u| > 1 at the vertex of
    x aligned with a (the reduced cost is 1 - |c_u|); leaving: where the cost stops falling
    along the edge. Returns (value, basis) once no entry of that vertex lies beyond 1 on Y (it
    is optimal, docs/MATH.md), or as soon as value <= best; (nan, -1) when a zero cofactor, a
    comparison within rounding of 1 or WALK_LIMIT steps leave the answer to the scan."""
    k, r = M.shape
    for _ in range(WALK_LIMIT):
        stats[1] += 1
        col = _slot(t.masks[x], a)
        d = abs(D[x])
        value = _pair_value(_superset_sum(D, t.children, t.up[x, col]), d)
        if value <= best:
            return value, x
        if held[0] != x:  # M may still hold x's cofactors from the walk of the previous column
            _cofactors(x, D, t.outside, t.children, t.up, M)
            held[0] = x
        for i in range(k):
            if M[i, col] == 0:  # a free sign: the LP is degenerate at x
                return np.nan, -1
            s[i] = 1.0 if M[i, col] > 0 else -1.0
        enter = -1
        top = 0.0  # the largest |acc| = |c_u| d beyond d
        unsure = False
        for j in range(r):
            if j == col or (avoid >> t.outside[x, j]) & 1:
                continue
            acc = 0.0
            size = 0.0
            for i in range(k):
                acc += s[i] * M[i, j]
                size += abs(M[i, j])
            slack = 0.0 if exact else SUM_RTOL * (size + d)
            if abs(acc) - d > slack:
                if abs(acc) > top:
                    top = abs(acc)
                    enter = j
                    sigma = 1.0 if acc > 0 else -1.0
            elif abs(acc) - d >= -slack and not exact:
                unsure = True
        if enter < 0:
            return (np.nan, -1) if unsure else (value, x)
        # Along the edge y_B = y - s t w (w: the entering column in basis x) the cost falls at
        # |c_u| - 1 and each y_i reaching 0 adds 2 |w_i|: leave at the breakpoint where it stops.
        slope = d - top
        used = np.int64(0)
        leave = -1
        while slope < 0:
            leave = -1
            least = np.inf
            for i in range(k):
                w = M[i, enter] * sigma
                if (used >> i) & 1 or w == 0 or (w > 0) != (M[i, col] > 0):
                    continue
                ratio = abs(M[i, col]) / abs(w)
                if ratio < least:
                    least = ratio
                    leave = i
            used |= np.int64(1) << leave
            slope += 2 * abs(M[leave, enter])
        u = t.outside[x, enter]
        x = t.children[t.up[x, enter], leave + (leave >= u - enter)]  # u - enter members below u
    return np.nan, -1


@numba.njit(**LEAF)
def _drop(x, e, a, D, t):
    """The basis x - e + u, u outside x and not a, of largest |det| (-1 if every such set is
    singular: then no basis avoids a and e)."""
    row = popcount(t.masks[x] & ((np.int64(1) << e) - 1))  # e's slot in x
    top = 0.0
    y = -1
    for j in range(t.outside.shape[1]):
        u = t.outside[x, j]
        z = t.children[t.up[x, j], row + (e > u)]  # x - e + u, a child of x + u
        if u != a and abs(D[z]) > top:
            top = abs(D[z])
            y = z
    return y


@numba.njit(cache=True, nogil=True)
def _scan_scratch(D, n):
    """What the scans need, made on a walk's first failure: the bases by decreasing |det|, and
    per column (one more: n) the least value and its basis."""
    return _descending(np.abs(D)), np.empty(n + 1), np.empty(n + 1, np.int64)


@numba.njit(cache=True, nogil=True)
def _scan(a, missing, best, order, D, t, child, holder, stats):
    """child[e] for each column e of the mask ``missing``: the least v(B, a) over the bases
    without e and holder[e] a basis that has it (inf, -1 if none), or a value <= best when one
    exists (that Y cannot raise the height). Where a walk cannot decide; e = n, a column no
    basis holds, gives the least value over [n] - a."""
    rest = missing
    while rest:
        e = _lowest(rest)
        child[e] = np.inf
        holder[e] = -1
        rest &= rest - 1
    cap = np.inf  # the largest child[e], e missing: a value at or above it changes nothing
    for B in order:  # large |det G_B| first: small values, early exits
        stats[1] += 1
        d = abs(D[B])
        if d == 0:  # only singular bases follow
            break
        X = t.masks[B]
        free = missing & ~X
        if free == 0 or (X >> a) & 1:
            continue
        total = _superset_sum(D, t.children, t.up[B, _slot(X, a)])
        if not _may_undercut(total, d, cap):
            continue
        v = _pair_value(total, d)
        while free:
            e = _lowest(free)
            free &= free - 1
            if v < child[e]:
                child[e] = v
                holder[e] = B
                if v <= best:  # this Y cannot raise the height: stop looking for e
                    missing &= ~(np.int64(1) << e)
        if missing == 0:
            break
        cap = -np.inf
        rest = missing
        while rest:
            cap = max(cap, child[_lowest(rest)])
            rest &= rest - 1


@numba.njit(cache=True, nogil=True, inline="always")
def _lowest(x):
    """The index of the lowest set bit of a positive int64."""
    return popcount((x & -x) - 1)


@numba.njit(cache=True, nogil=True)
def popcount(x):
    """Set bits of a non-negative int64 (SWAR)."""
    x = x - ((x >> 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F
    return (x * 0x0101010101010101) >> 56 & 0xFF


@numba.njit(**LEAF)
def _cofactors(x, D, outside, children, up, M):
    """M[i, j] = det G_B * (G_B^{-1} g_u)_i (Cramer's rule) for basis x, u = its j-th outside
    column: the signed minor of B - e_i + u, the child of the (k+1)-set B + u without e_i."""
    k, r = M.shape
    for j in range(r):
        u = outside[x, j]
        S = up[x, j]
        below = u - j  # members of B below u
        for i in range(k):
            later = i >= below  # g_u moves to its sorted slot past the members between
            flips = i - below if later else below - i - 1
            M[i, j] = D[children[S, i + later]] * (1 - 2 * (flips & 1))  # branch-free


@numba.njit(cache=True, nogil=True)
def _vertex_table(M, d, m, c, ok):
    """ok[code]: is the vertex with signs s_0 = +1, s_i = -1 for the bits i-1 of code admissible
    (at most m entries of s^T M beyond d)? All 2^(k-1) vertices by a Gray code, one row of M
    added or removed per step; exact (integer minors whose sums float64 holds)."""
    k, r = M.shape
    for j in range(r):
        total = 0.0
        for i in range(k):
            total += M[i, j]
        c[j] = total
    code = 0
    for step in range(1 << (k - 1)):
        if step:
            bit = _lowest(step)  # the Gray code flips this row's sign
            code ^= 1 << bit
            twice = -2.0 if (code >> bit) & 1 else 2.0
            for j in range(r):
                c[j] += twice * M[bit + 1, j]
        over = 0
        for j in range(r):
            over += abs(c[j]) > d
        ok[code] = over <= m


@numba.njit(cache=True, nogil=True)
def _test(M, s, free, nfree, d, m, exact, size):
    """1 if some choice of the free signs makes the vertex s admissible, 0 if none, -1 if a
    comparison within rounding of 1 leaves it undecided."""
    k, r = M.shape
    for pattern in range(1 << nfree):
        for f in range(nfree):
            s[free[f]] = 1.0 if (pattern >> f) & 1 == 0 else -1.0
        over = 0
        unsure = 0
        for j in range(r):  # column by column: most vertices fail after a few columns
            acc = 0.0
            for i in range(k):
                acc += s[i] * M[i, j]
            gap = abs(acc) - d
            if exact:
                over += gap > 0
            elif gap > size[j]:
                over += 1
            elif gap >= -size[j]:
                unsure += 1
            if over > m:
                break
        if over + unsure <= m:
            return 1
        if over <= m:
            return -1
    return 0


@numba.njit(cache=True, nogil=True)
def _primal(D, absD, U, T, dominated, outside, children, up, n, k, m, exact, stats):
    """Largest pair value whose aligned vertex has at most m entries beyond 1 (NaN: undecided)."""
    r = n - k
    order = _descending(U)
    best = -np.inf
    M = np.empty((k, r))
    value = np.empty(r)  # the pair values of the basis at hand
    size = np.empty(r)
    c = np.empty(r)
    s = np.empty(k)
    free = np.empty(k, dtype=np.int64)
    seen = np.empty(r, dtype=np.int64)  # sign patterns of this basis tested already
    tabulate = exact and k <= TABLE_MAX_K
    ok = np.empty(1 << (k - 1) if tabulate else 1, dtype=np.bool_)
    for x in order:
        if not U[x] > best:
            continue
        over = 0  # entries beyond 1 at every vertex of x, before building its cofactors
        for j in range(r):  # column u = outside[x, j] is member u - j of x + u
            over += (dominated[up[x, j]] >> (outside[x, j] - j)) & 1
        if over > m:
            continue
        _cofactors(x, D, outside, children, up, M)
        d = absD[x]
        for j in range(r):
            value[j] = _pair_value(T[up[x, j]], d)
        if not exact:
            for j in range(r):
                total = 0.0
                for i in range(k):
                    total += abs(M[i, j])
                size[j] = SUM_RTOL * (total + d)
        tabled = False
        nseen = 0
        for t in range(r):
            if not value[t] > best:
                continue
            stats[1] += 1
            code = 0
            nfree = 0
            for i in range(k):  # the aligned signs, relative to row 0 (branch-free)
                zero = M[i, t] == 0
                free[nfree] = i
                nfree += zero
                s[i] = 1.0 if M[i, t] >= 0 else -1.0
                code |= ((M[i, t] > 0) != (M[0, t] > 0)) << i
            if nfree == 0 and tabulate:
                if not tabled:
                    _vertex_table(M, d, m, c, ok)
                    tabled = True
                if ok[code >> 1]:
                    best = value[t]
                continue
            if nfree == 0:  # one vertex per sign pattern (and its negative): test it once
                known = False
                for q in range(nseen):
                    known |= seen[q] == code
                if known:
                    continue
                seen[nseen] = code
                nseen += 1
            if nfree > MAX_FREE_SIGNS:
                return UNDECIDED
            verdict = _test(M, s, free, nfree, d, m, exact, size)
            if verdict < 0:
                return UNDECIDED
            if verdict:  # every aligned pair of this vertex: the largest value wins
                for q in range(r):
                    if value[q] > best and _aligned(M, s, q):
                        best = value[q]
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


@numba.njit(cache=True, nogil=True, inline="always")
def _height(D, sing, n, k, m, t, integer, exact, skip, kind, work):
    """One matrix: D its signed minors, t its shape's Tables, work the scratch arrays."""
    absD, T, U, dominated, M, columns, stats = work
    singular = 0
    for x in range(sing.size):
        singular += sing[x]
    if singular:
        if not integer:
            return UNDECIDED  # near-singular real minors: solver.pruned's noise rule decides
        if not skip and _infinite(sing, n, k, m, t.faces):
            return np.inf
    stats[0] += (sing.size - singular) * (n - k)
    if kind == WALK:  # reads only the minors its walks reach
        return _small_m(D, t, n, m, exact, skip, M, columns, stats)
    np.abs(D, absD)
    if kind == LARGEST:  # m = n - k: every vertex is admissible
        return _largest_pair(absD, sing, k, t.children)
    if kind == TABLE:
        _superset_sums(absD, k, t.children, T)
        return _two_column_table(absD, sing, T, t, n, skip, stats)
    _superset_bounds(absD, t.children, 0.0 if exact else SUM_RTOL, T, dominated)
    _largest_values(absD, sing, t.up, T, U)
    c = t.children
    return _primal(D, absD, U, T, dominated, t.outside, c, t.up, n, k, m, exact, stats)


@numba.njit(cache=True, nogil=True)
def _heights(D, sing, n, k, m, t, integer, exact, skip, kind, stats):
    out = np.empty(D.shape[0])
    supersets = t.children.shape[0]
    absD = np.empty(D.shape[1])
    T = np.empty(supersets)  # one T per (k+1)-set
    U = np.empty(D.shape[1])  # the primal search's: per basis, its largest pair value
    dominated = np.empty(supersets, dtype=np.int32)  # and per (k+1)-set, the dominance bound
    M = np.empty((k, n - k))  # the cofactors of one basis
    # the walks': per column its least value, basis and rank; the aligned signs; M's basis
    index = np.empty(n, np.int64)
    columns = (np.empty(n), index, index.copy(), np.empty(k), np.empty(1, np.int64))
    work = (absD, T, U, dominated, M, columns, stats)
    for i in range(D.shape[0]):
        out[i] = _height(D[i], sing[i], n, k, m, t, integer[i], exact[i], skip, kind, work)
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
    return _heights(
        np.ascontiguousarray(dets.T),
        np.ascontiguousarray(singular.T),
        n,
        k,
        m,
        shape_tables(n, k),
        integer,
        exact,
        skip,
        search(n, k, m),
        last_stats,
    )
