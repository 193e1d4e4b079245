"""The closed form with pruning (docs/MATH.md): exact m-heights, most (a, Y) never minimised.

h_m = max_a max_Y f(a, Y), f(a, Y) = min over bases B in Y of v(B, a), with
v(B, a) = sum_{b in B} |det G_{B-b+a}| / |det G_B| and Y an (n-m)-subset of [n] \\ {a}.

:func:`heights` hands each batch to the compiled searches of :mod:`solver.pair_search` (minors
from :mod:`solver.minor_kernel`), which answer almost every matrix; the rest, and everything
where numba is missing, go through :func:`level_heights`, the numpy method below.

In the level method, two ideas replace the C(n-1, n-m) C(n-m, k) look-ups per column a of
:mod:`solver.vertex`:

1. Levels. f(a, S) over all sets S of one size follows from the next smaller size by a min over
   k+1 children (:func:`solver.lattice.level_children`), so a column costs
   (k+1) * sum_{s=k+1}^{n-m} C(n-1, s) instead of C(n-1, n-m) C(n-m, k).
2. Pruning. A set Y holding a basis with v(B, a) <= best (the best f found so far) cannot raise
   the height, so a column a whose every Y holds such a basis needs no minimisation. That test
   is the same level recursion on one bit per matrix ("every basis in S has v > best"), packed
   eight matrices to a byte; the float minimisation runs only for the (a, matrix) pairs that
   survive it. The first column of each matrix is the one with the largest pair value (a
   good first candidate).

Every float is computed in the same order as :mod:`solver.vertex` (minors by the same row
expansion, numerators summed over b ascending) and min/max only select, so both methods give
the same float row for row. Integer P uses exact minors (:func:`exact_kind`): float64 or int64
while they fit, int64 modulo 2^64 fixed by a float estimate beyond, Python integers beyond that.
"""

from __future__ import annotations

from math import comb

import numpy as np

from solver.lattice import (
    level_children,
    members,
    minors,
    pair_tables,
    plan_lookups,
    ranks,
    subset_signs,
    subsets,
    superset_children,
)
from solver.vertex import permanents

# Real-valued P: see solver.vertex (the same noise test, so singular bases agree).
ROUNDING_RTOL = 1e-12
INPUT_NOISE = 1e-12
# Integer minors up to EXACT_LIMIT / (k + 1) make every sum of k + 1 of them exact in float64.
EXACT_LIMIT = 2.0**53
# Minors per chunk of the compiled search: a few arrays of this many float64 stay in the caches
# (8x more costs a third more time per matrix in page faults and misses at n = 20, k = 4).
_SEARCH_BUDGET = 1 << 18
# Matrices per chunk so that the pair values of all columns stay within this many floats.
_CHUNK_BUDGET = 1 << 23
# _levels: children per set beyond which a level is gathered in blocks of this many values.
_WIDE = 16
_BLOCK = 1 << 22


def exact_kind(P: np.ndarray, s: int) -> str | None:
    """How integer P gets exact minors of size <= s, or None for real P (float minors).

    "float": every partial sum of the row expansion is below 2^53 (the product of the s largest
    row sums of |P| bounds them), so float64 arithmetic is exact and fastest.
    "int64": every minor is below 2^63 by Hadamard's bound, so int64 arithmetic, exact modulo
    2^64 even where a partial sum wraps, gives it exactly. "wrapped": the same int64 result
    plus a float64 estimate whose error bound is far below 2^63 fix the multiple of 2^64.
    "object": exact Python integers (any size, slow).
    """
    if s == 0 or not np.array_equal(P, np.round(P)):
        return None
    absP = np.maximum(np.abs(P), 0.0)
    perm = expansion_bound(P, s)
    if perm < 2.0**53:
        return "float"
    rows2 = np.sort(np.maximum(np.sqrt((absP**2).sum(axis=2)), 1.0), axis=1)[:, ::-1][:, :s]
    cols2 = np.sort(np.maximum(np.sqrt((absP**2).sum(axis=1)), 1.0), axis=1)[:, ::-1][:, :s]
    with np.errstate(over="ignore"):
        hadamard = np.minimum(rows2.prod(axis=1), cols2.prod(axis=1)).max(initial=0.0)
    if hadamard < 2.0**62:
        return "int64"
    return "wrapped" if 4 * s * np.finfo(float).eps * perm < 2.0**60 else "object"


def expansion_bound(P: np.ndarray, s: int) -> float:
    """A bound on |every partial sum| of the row expansion of the minors of size <= s: the
    product of the s largest row sums of |P| (at least 1 each), over the batch."""
    rows = np.sort(np.maximum(np.abs(P).sum(axis=2), 1.0), axis=1)[:, ::-1][:, :s]
    with np.errstate(over="ignore"):
        return float(rows.prod(axis=1).max(initial=0.0))


def compiled():
    """The compiled kernels (solver.minor_kernel, solver.pair_search), or None where numba is
    missing (the GPU check's machine ships torch and numpy only): the numpy sweep and the
    level recursion then give the same floats, slower."""
    try:
        from solver import minor_kernel, pair_search
    except ImportError:
        return None
    return minor_kernel, pair_search


def _subset_minors(P: np.ndarray, signs: bool) -> np.ndarray:
    """det G_X of every k-subset (N, C(n,k)) in P's dtype (float64, or int64 wrapping)."""
    kernels = compiled()
    if kernels is not None:
        return kernels[0].subset_minors(P, signs)
    N, k, r = P.shape
    tables = minors(k, r)
    with np.errstate(over="ignore"):
        out = _laplace(np.ascontiguousarray(P.reshape(N, k * r).T), tables.steps)
        out = out[tables.subset_minor].T
        return out * subset_signs(k + r, k).astype(P.dtype)[None] if signs else out


def _wrapped_subset_minors(P: np.ndarray, signs: bool) -> tuple[np.ndarray, np.ndarray]:
    """Minors past int64 for integer P: the int64 sweep (exact modulo 2^64) and a float
    estimate that fixes the multiple of 2^64; (N, C(n,k)) float64 and the singular mask."""
    kernels = compiled()
    if kernels is not None:
        return kernels[0].wrapped_subset_minors(P, signs)
    wrapped = _subset_minors(P.astype(np.int64), signs)
    estimate = _subset_minors(P, signs)
    turns = np.round((estimate - wrapped.astype(np.float64)) / 2.0**64)
    return turns * 2.0**64 + wrapped.astype(np.float64), (wrapped == 0) & (turns == 0)


def _subset_permanents(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """perm |P_RT| and its cofactors' permanent sums for every k-subset's minor, (N, C(n,k))."""
    kernels = compiled()
    if kernels is not None:
        return kernels[0].subset_permanents(P)
    N, k, r = P.shape
    tables = minors(k, r)
    perm, slopes = permanents(np.abs(P).reshape(N, k * r).T, tables.steps)
    return perm[tables.subset_minor].T, slopes[tables.subset_minor].T


def _laplace(flat: np.ndarray, steps: tuple) -> np.ndarray:
    """All square minors of P from flat = P as (k*r, N), in :func:`solver.lattice.minors` order."""
    blocks = [np.ones((1, flat.shape[1]), dtype=flat.dtype)]
    for step in steps:
        prev = blocks[-1]
        cur = np.zeros((step.entry.shape[0], flat.shape[1]), dtype=flat.dtype)
        for j in range(step.entry.shape[1]):
            term = flat[step.entry[:, j]] * prev[step.sub[:, j]]
            cur += term if j % 2 == 0 else -term
        blocks.append(cur)
    return np.concatenate(blocks)


def subset_dets(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|det G_X| (float64) for every k-subset X of [n] in ascending mask order, (C(n,k), N),
    and the mask of singular X (exact for integer P, see :func:`exact_kind`)."""
    signed, singular, _, _ = signed_subset_dets(P, signs=False)
    return np.abs(signed), singular


def signed_subset_dets(P: np.ndarray, signs: bool = True):
    """det G_X (float64, the exact integer rounded for integer P) for every k-subset X of [n] in
    ascending mask order, (C(n,k), N) (a transposed view); the mask of singular X; per matrix
    whether its minors are exact integers (singular = exactly zero); and whether they are also
    below :data:`EXACT_LIMIT` / (k + 1), so that float sums of k + 1 of them are exact.
    ``signs=False``: only |det| is right.
    """
    N, k, r = P.shape
    kind = exact_kind(P, min(k, r))
    if kind == "object":
        tables = minors(k, r)
        flat = np.ascontiguousarray(P.reshape(N, k * r).T)
        exact = _laplace(_as_python_ints(flat), tables.steps)[tables.subset_minor].T
        if signs:
            exact = exact * np.array([int(s) for s in subset_signs(k + r, k)], dtype=object)
        dets = np.array([[float(x) for x in row] for row in exact]).reshape(exact.shape)
        if not np.isfinite(dets).all():
            from pipeline.contract import InputError

            raise InputError("a minor of P exceeds the float64 range (about 1e308)")
        singular = exact == 0
    elif kind == "float":
        dets = _subset_minors(P, signs)
        singular = dets == 0
    elif kind == "int64":
        wrapped = _subset_minors(P.astype(np.int64), signs)
        dets, singular = wrapped.astype(np.float64), wrapped == 0
    elif kind == "wrapped":
        dets, singular = _wrapped_subset_minors(P, signs)
    else:
        dets = _subset_minors(P, signs)
        perm, cofactors = _subset_permanents(P)
        scale = np.abs(P).max(axis=(1, 2))[:, None]
        singular = np.abs(dets) <= ROUNDING_RTOL * perm + INPUT_NOISE * scale * cofactors
    integer = np.full(N, kind is not None)
    if kind == "float" and expansion_bound(P, min(k, r)) <= EXACT_LIMIT / (k + 1):
        exact = integer  # every minor is below the bound
    else:
        exact = integer & (np.abs(dets).max(axis=1, initial=0.0) <= EXACT_LIMIT / (k + 1))
    return dets.T, singular.T, integer, exact


def _as_python_ints(flat: np.ndarray) -> np.ndarray:
    """An object array of exact Python integers (float64 integers are exact as ints)."""
    out = np.empty(flat.shape, dtype=object)
    out[...] = [[int(x) for x in row] for row in flat]
    return out


def superset_sums(dets: np.ndarray, n: int, k: int) -> np.ndarray:
    """T(S) = sum_{x in S ascending} |det G_{S-x}| for every (k+1)-subset S, (C(n,k+1), N)."""
    children = superset_children(n, k)
    total = np.take(dets, children[:, 0], axis=0)
    part = np.empty_like(total)
    for j in range(1, k + 1):
        np.take(dets, children[:, j], axis=0, out=part)
        total += part
    return total


def column_values(
    dets: np.ndarray, singular: np.ndarray, n: int, k: int, a: int, total: np.ndarray | None = None
) -> np.ndarray:
    """v(B, a) for every basis B of [n] \\ {a} (leaf order), (C(n-1,k), N); +inf if B singular.

    v(B, a) = (T(B + a) - |det G_B|) / |det G_B| with T summed as in :func:`superset_sums`,
    the formula :mod:`solver.vertex` uses too, so both give the same floats. ``total``: T of
    every (k+1)-set, when already computed (else T(B + a) is summed here).
    """
    t = pair_tables(n, k, a)
    if total is not None:
        num = np.take(total, t.sup, axis=0)
    else:
        num = np.take(dets, t.around[:, 0], axis=0)
        part = np.empty_like(num)
        for j in range(1, k + 1):
            np.take(dets, t.around[:, j], axis=0, out=part)
            num += part
    den = np.take(dets, t.basis, axis=0)
    num -= den
    with np.errstate(divide="ignore", invalid="ignore"):
        num /= den
    bad = np.take(singular, t.basis, axis=0)
    if bad.any():
        num[bad] = np.inf
    return num


def _levels(leaves: np.ndarray, children: tuple[np.ndarray, ...], reduce) -> list[np.ndarray]:
    """Level arrays from the leaves up: level s combines its k+1 children with ``reduce``."""
    out = [leaves]
    for child in children:
        prev = out[-1]
        width = child.shape[1]
        if width <= _WIDE:
            cur = prev[child[:, 0]]
            for j in range(1, width):
                reduce(cur, prev[child[:, j]], out=cur)
        else:  # a long jump (few sets, many children): whole blocks, no Python loop per child
            cur = np.empty((child.shape[0],) + prev.shape[1:], dtype=prev.dtype)
            step = max(1, _BLOCK // (width * max(1, prev[0].size)))
            for i in range(0, child.shape[0], step):
                reduce.reduce(prev[child[i : i + step]], axis=1, out=cur[i : i + step])
        out.append(cur)
    return out


def column_best(values: np.ndarray, children: tuple[np.ndarray, ...], convention: str):
    """max over Y of f(a, Y) per matrix for one column a, from its leaf values (C(n-1,k), N).

    f(a, Y) = +inf means Y holds no basis (rank < k): counted under "exact", skipped (-inf)
    under "skip-unbounded".
    """
    top = _levels(values, children, np.minimum)[-1]
    if convention == "skip-unbounded":
        top = np.where(np.isinf(top), -np.inf, top)
    return top.max(axis=0)


def _pack(bits: np.ndarray) -> np.ndarray:
    """(rows, N) bool as (rows, ceil(N/64)) uint64: 64 matrices per word."""
    packed = np.packbits(bits, axis=1)
    pad = -packed.shape[1] % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


def _alive(values: np.ndarray, best: np.ndarray, children, convention: str) -> np.ndarray:
    """Per matrix: does some Y hold only bases with v > best (and, when skipping, one basis)?

    One bit per matrix, 64 to a word: the same level recursion as :func:`column_best`, with
    AND in place of min (and OR for "holds a basis").
    """
    N = values.shape[1]
    top = _levels(_pack(values > best[None, :]), children, np.bitwise_and)[-1]
    if convention == "skip-unbounded":
        top &= _levels(_pack(np.isfinite(values)), children, np.bitwise_or)[-1]
    word = np.bitwise_or.reduce(top, axis=0)
    return np.unpackbits(word.view(np.uint8), count=N).astype(bool)


def _all_pairs(dets: np.ndarray, singular: np.ndarray, n: int, k: int, convention: str):
    """m = n - k: every Y is one basis, so h = max over pairs (B, a) of v(B, a).

    Per (k+1)-set S the pairs inside it are (S - x, x), and (T(S) - d) / d falls as d grows,
    so the largest is at the smallest |det G_{S-x}|: one pass over the (k+1)-sets.
    """
    children = superset_children(n, k)
    masked = np.where(singular, np.inf, dets) if singular.any() else dets
    total = np.take(dets, children[:, 0], axis=0)
    low = np.take(masked, children[:, 0], axis=0)
    part = np.empty_like(total)
    for j in range(1, k + 1):
        np.take(dets, children[:, j], axis=0, out=part)
        total += part
        if masked is not dets:
            np.take(masked, children[:, j], axis=0, out=part)
        np.minimum(low, part, out=low)
    total -= low
    with np.errstate(divide="ignore", invalid="ignore"):
        total /= low
    total[np.isnan(total)] = -np.inf  # every k-subset of S singular: no pair value
    best = total.max(axis=0)
    if convention == "exact":
        best[singular.any(axis=0)] = np.inf
    return best


def disjoint_bases(dets: np.ndarray, singular: np.ndarray, n: int, k: int, count: int):
    """Per matrix, up to ``count`` pairwise disjoint bases chosen greedily by largest |det|:
    (count, N) ranks into subsets(n, k), -1 where none is left."""
    masks = subsets(n, k)
    N = dets.shape[1]
    score = np.where(singular, -1.0, dets)
    used = np.zeros(N, dtype=np.int64)
    out = np.full((count, N), -1, dtype=np.intp)
    for i in range(count):
        free = (masks[:, None] & used[None, :]) == 0
        pick = np.where(free, score, -1.0).argmax(axis=0)
        ok = score[pick, np.arange(N)] > 0
        ok &= ((masks[pick] & used) == 0) if i else ok
        out[i] = np.where(ok, pick, -1)
        used |= np.where(ok, masks[pick], 0)
    return out


def cheap_bounds(dets: np.ndarray, singular: np.ndarray, n: int, k: int, m: int) -> np.ndarray:
    """(n, N) upper bounds on each column's best f(a, Y), +inf where none is known.

    Pairwise disjoint bases B_1..B_t without a: a set Z of m - 1 removed columns (Y = the rest)
    meets at most m - 1 of them, so some B_i lies in Y and f(a, Y) <= v(B_i, a); the worst Z
    spares the m-th smallest v(B_i, a). Needs t = m + 1 disjoint bases (n >= (m+1) k), so
    that every column keeps m of them; with fewer, no column gets a bound.
    """
    N = dets.shape[1]
    count = m + 1
    out = np.full((n, N), np.inf)
    if n < count * k:
        return out
    picks = disjoint_bases(dets, singular, n, k, count)
    masks, rank_n = subsets(n, k), ranks(n)
    children = superset_children(n, k)
    cols = np.arange(N)
    values = np.full((count, N), np.inf)
    for a in range(n):
        values[:] = np.inf
        for i in range(count):
            ok = picks[i] >= 0
            B = np.where(ok, masks[np.maximum(picks[i], 0)], 0)
            ok &= (B >> a & 1) == 0
            if not ok.any():
                continue
            S = np.where(ok, rank_n[B | (np.int64(1) << a)], 0)
            total = dets[children[S, 0], cols]
            for j in range(1, k + 1):
                total = total + dets[children[S, j], cols]
            den = dets[np.maximum(picks[i], 0), cols]
            with np.errstate(divide="ignore", invalid="ignore"):
                v = (total - den) / den
            values[i] = np.where(ok, v, np.inf)
        out[a] = np.sort(values, axis=0)[m - 1]
    return out


def branch_nodes(k: int, m: int) -> int:
    """Nodes of :func:`column_branch`'s tree: sum_{d < m} k^d."""
    return sum(k**d for d in range(m))


def column_branch(values: np.ndarray, n: int, k: int, m: int, convention: str) -> np.ndarray:
    """The same max over Y of f(a, Y) as :func:`column_best`, by branching on the removed set.

    Write Y = [n-1] minus Z, |Z| = m - 1, and g(Z) = min over bases avoiding Z (+inf if none).
    Some Z* is optimal; walking from Z = {} and adding, at each node, the element of the
    node's minimising basis B that Z* holds (one must exist unless g(Z*) = g(Z)) reaches Z* or
    a node of the same value, so the max over the tree's nodes (k branches per node, depth
    m - 1) is the max over all Z. Costs sum_{d < m} k^d masked minima over the leaves, far
    below the level recursion's 2^(n-1)-ish sets when m is small. Under "skip-unbounded" a
    node with finite g is itself reached by a finite Z (extend it outside its basis), and
    nodes with g = +inf are skipped.
    """
    N = values.shape[1]
    leaf_masks = subsets(n - 1, k).astype(np.int32)
    leaf_members = members(subsets(n - 1, k), k, n - 1)
    cols = np.arange(N)
    best = np.full(N, -np.inf)
    frontier = [np.zeros(N, dtype=np.int32)]
    for depth in range(m):
        nxt = []
        for Z in frontier:
            free = (leaf_masks[:, None] & Z[None, :]) == 0
            masked = np.where(free, values, np.inf)
            pick = masked.argmin(axis=0)
            g = masked[pick, cols]
            if convention == "skip-unbounded":
                g = np.where(np.isinf(g), -np.inf, g)
            np.maximum(best, g, out=best)
            if depth + 1 < m:
                for i in range(k):
                    nxt.append(Z | (np.int32(1) << leaf_members[pick, i].astype(np.int32)))
        frontier = nxt
    return best


def _heights_chunk(P: np.ndarray, m: int, convention: str) -> np.ndarray:
    N, k, r = P.shape
    n = k + r
    dets, singular = subset_dets(P)
    if n - m == k:  # every Y is one basis: the max over all pairs (B, a)
        return _all_pairs(dets, singular, n, k, convention)
    branch = use_branching(n, k, m)
    children = None if branch else level_children(n - 1, k, n - m)

    def solve(a: int, cols: np.ndarray) -> np.ndarray:
        sub = dets if cols.size == N else dets[:, cols]
        values = column_values(sub, singular if cols.size == N else singular[:, cols], n, k, a)
        if branch:
            return column_branch(values, n, k, m, convention), values
        return column_best(values, children, convention), values

    bound = cheap_bounds(dets, singular, n, k, m)
    known = np.isfinite(bound).any(axis=0)
    values: dict[int, np.ndarray] = {}
    if known.all():  # first candidate: the column with the largest bound
        first = np.where(np.isfinite(bound), bound, -np.inf).argmax(axis=0)
        order = np.argsort(-np.where(np.isfinite(bound), bound, 0).mean(axis=1), kind="stable")
    else:  # the column holding the largest finite pair value
        total = superset_sums(dets, n, k)
        values = {a: column_values(dets, singular, n, k, a, total) for a in range(n)}
        del total
        peak = np.stack([np.where(np.isinf(v), -np.inf, v).max(axis=0) for v in values.values()])
        first = peak.argmax(axis=0)
        order = np.argsort(-peak.max(axis=1), kind="stable")
    best = np.full(N, -np.inf)
    done = np.zeros((n, N), dtype=bool)
    everything = np.arange(N)
    for a in range(n):
        cols = np.flatnonzero(first == a)
        if cols.size:
            if a in values:
                sub = values[a] if cols.size == N else values[a][:, cols]
                best[cols] = (
                    column_branch(sub, n, k, m, convention)
                    if branch
                    else column_best(sub, children, convention)
                )
            else:
                best[cols] = solve(a, cols if cols.size < N else everything)[0]
            done[a, cols] = True
    for a in order:
        todo = ~done[a] & (bound[a] > best)
        if not todo.any():
            continue
        cols = np.flatnonzero(todo)
        leaves = None
        if not branch:  # the bit-packed test first: only survivors get the float recursion
            leaves = values[a][:, cols] if a in values else None
            if leaves is None:
                sub = dets[:, cols]
                leaves = column_values(sub, singular[:, cols], n, k, a)
            alive = _alive(leaves, best[cols], children, convention)
            cols, leaves = cols[alive], leaves[:, alive]
            if not cols.size:
                continue
            found = column_best(leaves, children, convention)
        elif a in values:
            found = column_branch(values[a][:, cols], n, k, m, convention)
        else:
            found = solve(a, cols if cols.size < N else everything)[0]
        best[cols] = np.maximum(best[cols], found)
    return best


# A masked minimum over the leaves costs about this many child look-ups of the level recursion.
BRANCH_PASS = 3.0


def use_branching(n: int, k: int, m: int) -> bool:
    """Branch on the removed set (:func:`column_branch`) where it is cheaper than the levels."""
    if n - m <= k:
        return False
    branch = BRANCH_PASS * branch_nodes(k, m) * comb(n - 1, k)
    return branch < plan_lookups(n - 1, k, n - m)


def chunk_rows(n: int, k: int, m: int) -> int:
    """Matrices per chunk: all columns' pair values and the widest level fit the budget."""
    widest = max([comb(n - 1, s) for s in range(k, max(k, n - m) + 1)])
    per_matrix = n * comb(n - 1, k) + 2 * widest + comb(n, k + 1)
    return int(np.clip(_CHUNK_BUDGET // per_matrix, 1, 4096))


def heights(P: np.ndarray, m: int, convention: str = "exact") -> np.ndarray:
    """Batched m-heights of G = [I | P_i]; P validated, shape (N, k, n-k).

    The compiled searches of :mod:`solver.pair_search` label every matrix they can decide; the
    level recursion below takes the rest (near-singular real minors, comparisons within
    rounding of 1), so the answer is exact either way and the same float.
    """
    N, k, r = P.shape
    n = k + r
    if n - m < k:  # every Y has fewer than k columns: a codeword vanishes on it
        return np.full(N, np.inf)
    ranks(n)  # one lookup for all tables of this n
    kernels = compiled()
    if kernels is None:
        out = level_heights(P, m, convention)
        out[out == -np.inf] = np.inf
        return out
    pair_search = kernels[1]
    chunk = max(1, _SEARCH_BUDGET // comb(n, k))
    out = np.empty(N)
    for start in range(0, N, chunk):
        block = P[start : start + chunk]
        dets, singular, integer, exact = signed_subset_dets(block)
        found = pair_search.heights(
            dets, singular, integer, exact, n, k, m, convention == "skip-unbounded"
        )
        undecided = np.isnan(found)
        if undecided.any():
            found[undecided] = level_heights(block[undecided], m, convention)
        out[start : start + chunk] = found
    out[out == -np.inf] = np.inf  # every LP unbounded: no finite height exists
    return out


def level_heights(P: np.ndarray, m: int, convention: str = "exact") -> np.ndarray:
    """The same heights by the level recursion and bit-packed pruning (numpy, any input); -inf
    where no LP is bounded."""
    N, k, r = P.shape
    chunk = chunk_rows(k + r, k, m)
    out = np.empty(N)
    for start in range(0, N, chunk):
        out[start : start + chunk] = _heights_chunk(P[start : start + chunk], m, convention)
    return out


def _argbest(P: np.ndarray, m: int) -> tuple[float, int, int, int] | None:
    """(height, a, mask of Y, mask of B) of an optimal (a, Y) and its minimising basis B."""
    k, r = P.shape
    n = k + r
    dets, singular = subset_dets(P[None])
    L = n - m
    children = level_children(n - 1, k, L)
    found = None
    for a in range(n):
        v = column_values(dets, singular, n, k, a)[:, 0]
        levels = _levels(v[:, None], children, np.minimum)
        top = levels[-1][:, 0]
        y = int(np.argmax(top))
        if found is None or top[y] > found[0]:
            found = (float(top[y]), a, levels, y)
    h, a, levels, index = found
    if not np.isfinite(h):
        return None
    Y_rank = index
    for s in range(len(levels) - 1, 0, -1):  # walk down to the child holding the min
        child = children[s - 1][index]
        index = int(child[np.argmin(levels[s - 1][child, 0])])
    from solver.lattice import expand

    Y = int(expand(subsets(n - 1, L)[Y_rank : Y_rank + 1], a)[0])
    B = int(expand(subsets(n - 1, k)[index : index + 1], a)[0])
    return h, a, Y, B


def witness(P: np.ndarray, m: int) -> np.ndarray | None:
    """A codeword achieving the (finite) height, from an optimal (a, Y, B); see solver.vertex."""
    from solver.vertex import codeword_height

    k, r = P.shape
    n = k + r
    if n - m < k:
        return None
    found = _argbest(P, m)
    if found is None:
        return None
    h, a, Y, B = found
    cols = [i for i in range(n) if B >> i & 1]
    G = np.hstack([np.eye(k), P])
    y = np.linalg.solve(G[:, cols], G[:, a])
    if np.all(np.abs(y) > 1e-12 * np.abs(y).max()):
        c = np.linalg.solve(G[:, cols].T, np.sign(y)) @ G
        if np.isclose(codeword_height(c, m), h, rtol=1e-9):
            return c
    from solver.lp_common import optimal_codeword

    return optimal_codeword(P, a, tuple(i for i in range(n) if Y >> i & 1))
