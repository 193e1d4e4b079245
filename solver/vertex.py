"""The LP-free closed form (docs/MATH.md): exact m-heights from k x k minors alone.

h_m = max_a max_{Y, |Y|=n-m, a not in Y} min_{B in Y invertible} ||G_B^{-1} g_a||_1, and by
Cramer's rule ||G_B^{-1} g_a||_1 = sum_{b in B} |det G_{B-b+a}| / |det G_B|. Every k x k minor
of [I | P] is a square minor of P, so one Laplace sweep over P gives all of them, batched.
For integer P the minors are computed in int64, so singularity is decided exactly.
"""

from __future__ import annotations

from functools import cache
from math import factorial

import numpy as np

from solver.lattice import lex_positions, ranks
from solver.tables import height_tables

# Real-valued P: a minor counts as zero when it is within what two error sources can make of
# an exact zero: rounding in the expansion (relative to perm|P_RT|, which bounds every term)
# and noise of relative size INPUT_NOISE in the entries of P (a P computed by a pivot or read
# from text), which moves a minor by up to INPUT_NOISE * max|P| * (sum of its |cofactors|).
ROUNDING_RTOL = 1e-12
INPUT_NOISE = 1e-12
# Rows of the largest temporary (the gathered (B, a) values of one column a) times batch size.
_CHUNK_BUDGET = 1 << 21


def _exact_integer(P: np.ndarray, s: int) -> bool:
    """True when P is integer-valued and every s x s minor fits in int64 without overflow."""
    if s == 0 or not np.array_equal(P, np.round(P)):
        return False
    bound = float(np.abs(P).max(initial=0.0))
    return factorial(s) * bound**s < 2.0**62


def subset_dets(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|det G_X| for every k-subset X of [n] (lex order), shape (C(n,k), N), and a singular mask.

    The minors come from :func:`solver.pruned.subset_dets` (exact for integer P of any size).
    """
    from solver.pruned import subset_dets as mask_order_dets

    N, k, r = P.shape
    dets, singular = mask_order_dets(P)
    order = lex_positions(k + r, k)
    return dets[order], singular[order]


def permanents(absflat: np.ndarray, steps: tuple) -> tuple[np.ndarray, np.ndarray]:
    """perm|P_RT| for every minor and the sum of the permanents of its cofactors.

    The second is the derivative of perm(|P_RT| + e) at e = 0 (the permanent is multilinear),
    carried through the same row expansion as a dual number.
    """
    N = absflat.shape[1]
    values, slopes = [np.ones((1, N))], [np.zeros((1, N))]
    for step in steps:  # any Laplace steps with entry and sub (solver.tables, solver.lattice)
        v, d = values[-1], slopes[-1]
        cur_v = np.zeros((step.entry.shape[0], N))
        cur_d = np.zeros_like(cur_v)
        for j in range(step.entry.shape[1]):
            a, sub = absflat[step.entry[:, j]], step.sub[:, j]
            cur_v += a * v[sub]
            cur_d += v[sub] + a * d[sub]
        values.append(cur_v)
        slopes.append(cur_d)
    return np.concatenate(values), np.concatenate(slopes)


@cache
def _pair_supersets(n: int, k: int, m: int) -> np.ndarray:
    """Per pair (B, a) of :func:`solver.tables.height_tables`: the rank of B + a among the
    (k+1)-subsets of [n] in ascending mask order (the rows of solver.pruned.superset_sums)."""
    tables = height_tables(n, k, m)
    weights = np.int64(1) << np.arange(n, dtype=np.int64)
    masks = np.array([sum(1 << c for c in B) for B in tables.bases], dtype=np.int64)
    return ranks(n)[masks[tables.pair_basis] | weights[tables.pair_a]].astype(np.intp)


def pair_values(P: np.ndarray, n: int, k: int, m: int) -> np.ndarray:
    """||G_B^{-1} g_a||_1 for every pair (B, a), shape (num_pairs, N); +inf where B is singular.

    Computed as (T(B + a) - |det G_B|) / |det G_B| with T(S) the sum of |det| over the k-subsets
    of S (:func:`solver.pruned.superset_sums`), the same floats as solver.pruned.
    """
    from solver.pruned import subset_dets as mask_order_dets
    from solver.pruned import superset_sums

    tables = height_tables(n, k, m)
    mask_dets, mask_singular = mask_order_dets(P)
    total = superset_sums(mask_dets, n, k)
    order = lex_positions(n, k)
    dets, singular = mask_dets[order], mask_singular[order]
    den = dets[tables.pair_basis]
    num = total[_pair_supersets(n, k, m)] - den
    bad = singular[tables.pair_basis]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = num / np.where(bad, 1.0, den)
    values[bad] = np.inf
    return values


def _lp_values(values: np.ndarray, n: int, k: int, m: int) -> list[np.ndarray]:
    """Optimum of Roth's LP for every (a, Y), per a: (num_Y, N); +inf where Y has rank < k."""
    tables = height_tables(n, k, m)
    if tables.cover is None:  # m = n-k: Y is a basis, nothing to minimise over
        return [values[tables.pair_a == a] for a in range(n)]
    return [values[cover].min(axis=1) for cover in tables.cover]


def _combine(per_a: list[np.ndarray], convention: str) -> np.ndarray:
    """Max over (a, Y) of the LP optima, with unbounded LPs counted or skipped."""
    best = np.full(per_a[0].shape[1], -np.inf)
    for lp in per_a:
        if convention == "skip-unbounded":
            lp = np.where(np.isinf(lp), -np.inf, lp)
        np.maximum(best, lp.max(axis=0), out=best)
    best[best == -np.inf] = np.inf  # every LP unbounded: no finite height exists
    return best


def heights(P: np.ndarray, m: int, convention: str = "exact") -> np.ndarray:
    """Batched closed-form m-heights of G = [I | P_i]; P has shape (N, k, n-k), validated."""
    N, k, r = P.shape
    n = k + r
    if n - m < k:  # every Y has fewer than k columns: a codeword vanishes on it
        return np.full(N, np.inf)
    tables = height_tables(n, k, m)
    widest = max((c.size for c in tables.cover), default=0) if tables.cover else 0
    rows = max(widest, tables.pair_basis.size)
    chunk = int(np.clip(_CHUNK_BUDGET // rows, 16, 8192))
    out = np.empty(N)
    for start in range(0, N, chunk):
        part = P[start : start + chunk]
        values = pair_values(part, n, k, m)
        out[start : start + chunk] = _combine(_lp_values(values, n, k, m), convention)
    return out


def codeword_height(c: np.ndarray, m: int) -> float:
    """h_m(c) = |c|_(0) / |c|_(m) for one codeword (docs/MATH.md, Definition)."""
    mags = np.sort(np.abs(c))[::-1]
    return float(mags[0] / mags[m]) if mags[m] > 0 else float("inf")


def witness(P: np.ndarray, m: int) -> np.ndarray | None:
    """A codeword achieving the height: the primal vertex of an optimal (a, Y, B), checked.

    At an optimal basis B of "min ||y||_1, G_Y y = g_a", u = G_B^{-T} sign(y) is the primal
    optimum: c = u^T G has c_a = height and |c_t| <= 1 on Y, so h_m(c) = height. When y has
    zero entries (degenerate) no sign choice may be feasible; then the one LP of the optimal
    (a, Y) is solved with HiGHS for its primal optimum instead.
    """
    k, r = P.shape
    n = k + r
    if n - m < k:  # the height is +inf (see heights)
        return None
    values = pair_values(P[None], n, k, m)
    lp_values = _lp_values(values, n, k, m)
    h = float(_combine(lp_values, "exact")[0])
    if not np.isfinite(h):
        return None
    G = np.hstack([np.eye(k), P])
    tables = height_tables(n, k, m)
    values = values[:, 0]
    per_a = [v[:, 0] for v in lp_values]
    a = int(np.argmax([lp.max() for lp in per_a]))
    y_index = int(np.argmax(per_a[a]))
    if tables.cover is None:
        pair = np.flatnonzero(tables.pair_a == a)[y_index]
        Y = tables.bases[tables.pair_basis[pair]]
    else:
        cover = tables.cover[a][y_index]
        pair = cover[np.argmin(values[cover])]
        Y = tables.cover_sets[a][y_index]
    B = list(tables.bases[tables.pair_basis[pair]])
    y = np.linalg.solve(G[:, B], G[:, a])
    if np.all(np.abs(y) > 1e-12 * np.abs(y).max()):
        c = np.linalg.solve(G[:, B].T, np.sign(y)) @ G
        if np.isclose(codeword_height(c, m), h, rtol=1e-9):
            return c
    from solver.lp_common import optimal_codeword

    return optimal_codeword(P, a, tuple(Y))
