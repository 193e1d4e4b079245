"""The closed form with pruning (docs/MATH.md): exact m-heights, most (a, Y) never minimised.

h_m = max_a max_Y f(a, Y), f(a, Y) = min over bases B in Y of v(B, a), with
v(B, a) = sum_{b in B} |det G_{B-b+a}| / |det G_B| and Y an (n-m)-subset of [n] \\ {a}.

Two ideas replace the C(n-1, n-m) C(n-m, k) look-ups per column a of :mod:`solver.vertex`:

1. Levels. f(a, S) over all sets S of one size follows from the next smaller size by a min over
   k+1 children (:func:`solver.lattice.level_children`), so a column costs
   (k+1) * sum_{s=k+1}^{n-m} C(n-1, s) instead of C(n-1, n-m) C(n-m, k).
2. Pruning. A set Y holding a basis with v(B, a) <= best (the best f found so far) cannot raise
   the height, so a column a whose every Y holds such a basis needs no minimisation. That test
   is the same level recursion on one bit per matrix ("every basis in S has v > best"), packed
   eight matrices to a byte; the float minimisation runs only for the (a, matrix) pairs that
   survive it. The first column of each matrix is the one with the largest pair value (a
   good first candidate); ``last_stats`` reports how many (a, matrix) pairs were pruned.

Every float is computed in the same order as :mod:`solver.vertex` (minors by the same row
expansion, numerators summed over b ascending) and min/max only select, so both methods give
the same float row for row. Integer P uses exact minors: int64 while factorial(s) max|P|^s
fits, Python integers beyond.
"""

from __future__ import annotations

from math import comb

import numpy as np

from solver.lattice import level_children, minors, pair_tables, ranks, subsets
from solver.vertex import permanents

# Real-valued P: see solver.vertex (the same noise test, so singular bases agree).
ROUNDING_RTOL = 1e-12
INPUT_NOISE = 1e-12
# Matrices per chunk so that the pair values of all columns stay within this many floats.
_CHUNK_BUDGET = 1 << 23
# What the last call pruned: {"pairs": (a, matrix) pairs, "minimised": those minimised}.
last_stats: dict[str, int] = {"pairs": 0, "minimised": 0}


def exact_kind(P: np.ndarray, s: int) -> str | None:
    """How integer P gets exact minors of size <= s, or None for real P (float minors).

    "int64": every minor is below 2^63 by Hadamard's bound, so int64 arithmetic, exact modulo
    2^64 even where a partial sum wraps, gives it exactly. "wrapped": the same int64 result
    plus a float64 estimate whose error bound is far below 2^63 fix the multiple of 2^64.
    "object": exact Python integers (any size, slow).
    """
    if s == 0 or not np.array_equal(P, np.round(P)):
        return None
    absP = np.maximum(np.abs(P), 0.0)
    rows2 = np.sort(np.maximum(np.sqrt((absP**2).sum(axis=2)), 1.0), axis=1)[:, ::-1][:, :s]
    cols2 = np.sort(np.maximum(np.sqrt((absP**2).sum(axis=1)), 1.0), axis=1)[:, ::-1][:, :s]
    with np.errstate(over="ignore"):
        hadamard = np.minimum(rows2.prod(axis=1), cols2.prod(axis=1)).max(initial=0.0)
        if hadamard < 2.0**62:
            return "int64"
        rows1 = np.sort(np.maximum(absP.sum(axis=2), 1.0), axis=1)[:, ::-1][:, :s]
        perm = rows1.prod(axis=1).max(initial=0.0)  # bounds every term sum of the expansion
    return "wrapped" if 4 * s * np.finfo(float).eps * perm < 2.0**60 else "object"


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
    N, k, r = P.shape
    tables = minors(k, r)
    kind = exact_kind(P, min(k, r))
    flat = np.ascontiguousarray(P.reshape(N, k * r).T)
    if kind == "object":
        signed = _laplace(_as_python_ints(flat), tables.steps)[tables.subset_minor]
        dets = np.array([[float(abs(x)) for x in row] for row in signed]).reshape(signed.shape)
        if not np.isfinite(dets).all():
            from pipeline.contract import InputError

            raise InputError("a minor of P exceeds the float64 range (about 1e308)")
        return dets, signed == 0
    if kind is not None:
        with np.errstate(over="ignore"):
            wrapped = _laplace(flat.astype(np.int64), tables.steps)[tables.subset_minor]
        if kind == "int64":
            return np.abs(wrapped).astype(np.float64), wrapped == 0
        estimate = _laplace(flat, tables.steps)[tables.subset_minor]
        turns = np.round((estimate - wrapped.astype(np.float64)) / 2.0**64)
        dets = np.abs(turns * 2.0**64 + wrapped.astype(np.float64))
        return dets, (wrapped == 0) & (turns == 0)
    signed = _laplace(flat, tables.steps)[tables.subset_minor]
    dets = np.abs(signed)
    perm, cofactors = permanents(np.abs(flat), tables.steps)
    scale = np.abs(flat).max(axis=0)
    noise = (
        ROUNDING_RTOL * perm[tables.subset_minor]
        + INPUT_NOISE * scale * cofactors[tables.subset_minor]
    )
    return dets, dets <= noise


def _as_python_ints(flat: np.ndarray) -> np.ndarray:
    """An object array of exact Python integers (float64 integers are exact as ints)."""
    out = np.empty(flat.shape, dtype=object)
    out[...] = [[int(x) for x in row] for row in flat]
    return out


def column_values(dets: np.ndarray, singular: np.ndarray, n: int, k: int, a: int) -> np.ndarray:
    """v(B, a) for every basis B of [n] \\ {a} (leaf order), (C(n-1,k), N); +inf if B singular.

    The numerator is summed over b ascending, as in :func:`solver.vertex.pair_values`.
    """
    t = pair_tables(n, k, a)
    num = np.take(dets, t.swaps[:, 0], axis=0)
    if k > 1:
        part = np.empty_like(num)
        for j in range(1, k):
            np.take(dets, t.swaps[:, j], axis=0, out=part)
            num += part
    with np.errstate(divide="ignore", invalid="ignore"):
        num /= np.take(dets, t.basis, axis=0)
    bad = np.take(singular, t.basis, axis=0)
    if bad.any():
        num[bad] = np.inf
    return num


def _levels(leaves: np.ndarray, children: tuple[np.ndarray, ...], reduce) -> list[np.ndarray]:
    """Level arrays from the leaves up: level s combines its k+1 children with ``reduce``."""
    out = [leaves]
    for child in children:
        prev = out[-1]
        cur = prev[child[:, 0]]
        for j in range(1, child.shape[1]):
            reduce(cur, prev[child[:, j]], out=cur)
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


def _alive(values: np.ndarray, best: np.ndarray, children, convention: str) -> np.ndarray:
    """Per matrix: does some Y hold only bases with v > best (and, when skipping, one basis)?

    One bit per matrix, eight to a byte: the same level recursion as :func:`column_best`, with
    AND in place of min (and OR for "holds a basis").
    """
    N = values.shape[1]
    above = np.packbits(values > best[None, :], axis=1)
    top = _levels(above, children, np.bitwise_and)[-1]
    if convention == "skip-unbounded":
        finite = np.packbits(np.isfinite(values), axis=1)
        top &= _levels(finite, children, np.bitwise_or)[-1]
    return np.unpackbits(np.bitwise_or.reduce(top, axis=0), count=N).astype(bool)


def _heights_chunk(P: np.ndarray, m: int, convention: str) -> np.ndarray:
    N, k, r = P.shape
    n = k + r
    dets, singular = subset_dets(P)
    values = [column_values(dets, singular, n, k, a) for a in range(n)]
    if n - m == k:  # every Y is one basis: the max over all pairs (B, a)
        best = np.full(N, -np.inf)
        for v in values:
            if convention == "skip-unbounded":
                v = np.where(np.isinf(v), -np.inf, v)
            np.maximum(best, v.max(axis=0), out=best)
        last_stats["pairs"] += n * N
        last_stats["minimised"] += n * N
        return best
    children = level_children(n - 1, k, n - m)
    # First candidate per matrix: the column holding the largest finite pair value.
    peak = np.stack([np.where(np.isinf(v), -np.inf, v).max(axis=0) for v in values])
    first = peak.argmax(axis=0)
    best = np.full(N, -np.inf)
    done = np.zeros((n, N), dtype=bool)
    for a in range(n):
        cols = np.flatnonzero(first == a)
        if cols.size:
            best[cols] = column_best(values[a][:, cols], children, convention)
            done[a, cols] = True
    minimised = N
    for a in np.argsort(-peak.max(axis=1), kind="stable"):
        todo = ~done[a]
        if not todo.any():
            continue
        todo[todo] = _alive(values[a][:, todo], best[todo], children, convention)
        cols = np.flatnonzero(todo)
        if cols.size:
            found = column_best(values[a][:, cols], children, convention)
            best[cols] = np.maximum(best[cols], found)
            minimised += cols.size
    last_stats["pairs"] += n * N
    last_stats["minimised"] += minimised
    return best


def chunk_rows(n: int, k: int, m: int) -> int:
    """Matrices per chunk: all columns' pair values and the widest level fit the budget."""
    widest = max([comb(n - 1, s) for s in range(k, max(k, n - m) + 1)])
    per_matrix = n * comb(n - 1, k) + 2 * widest
    return int(np.clip(_CHUNK_BUDGET // per_matrix, 1, 4096))


def heights(P: np.ndarray, m: int, convention: str = "exact") -> np.ndarray:
    """Batched m-heights of G = [I | P_i]; P validated, shape (N, k, n-k)."""
    N, k, r = P.shape
    n = k + r
    if n - m < k:  # every Y has fewer than k columns: a codeword vanishes on it
        return np.full(N, np.inf)
    ranks(n)  # one lookup for all tables of this n
    chunk = chunk_rows(n, k, m)
    out = np.empty(N)
    for start in range(0, N, chunk):
        out[start : start + chunk] = _heights_chunk(P[start : start + chunk], m, convention)
    out[out == -np.inf] = np.inf  # every LP unbounded: no finite height exists
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
