"""Jiang's tuple LP (docs/MATH.md): the original formulation, kept as the slow reference.

For every tuple (a, b, X, psi): maximize s_0 c_a subject to 1 <= s_j c_j <= s_0 c_a on X,
c_b = 1 and |c_j| <= 1 on Y = [n] \\ ({a, b} | X); infeasible counts 0, unbounded +inf.
All 2^m sign vectors are enumerated: psi -> -psi is not a symmetry of one LP (it maps c_b = 1
to c_b = -1), so halving would change the formulation being checked.

One HiGHS model per (a, s_0) holds the rows c_t, c_t - s_0 c_a and -c_t - s_0 c_a for every t;
a tuple only sets row bounds (rows it does not use are free). "skip-unbounded" skips a tuple when
G restricted to Y | {b} (the n-m columns with |c| <= 1) has rank < k, the same rule as Roth's LP
in :mod:`solver.lp_highs`; the tests check both conventions against the closed form.

Limit of the formulation: a zero column g_t (c_t = 0 in every codeword) can be neither b
(c_b = 1) nor in X (|c_j| >= 1), so codes with a zero column can get a smaller value than the
m-height (0 when no tuple is feasible, e.g. P = 0). Course matrices have no zero column.
"""

from __future__ import annotations

from itertools import combinations, product

import numpy as np

from solver.lp_common import (
    INF,
    STATUS,
    UNBOUNDED,
    Solver,
    generator,
    is_integer,
    load_rows,
    new_solver,
    solve,
    spans,
)


def _bounds(n: int, a: int, b: int, X: tuple[int, ...], signs: tuple[int, ...]) -> np.ndarray:
    """Lower/upper bounds (2, 3n) of rows [c_t | c_t - s_0 c_a | -c_t - s_0 c_a] for one tuple."""
    lower, upper = np.full(3 * n, -INF), np.full(3 * n, INF)
    Y = [t for t in range(n) if t != a and t != b and t not in X]
    lower[Y], upper[Y] = -1.0, 1.0
    lower[b] = upper[b] = 1.0
    for j, s in zip(X, signs, strict=True):
        if s > 0:  # 1 <= c_j and c_j - s_0 c_a <= 0
            lower[j], upper[n + j] = 1.0, 0.0
        else:  # c_j <= -1 and -c_j - s_0 c_a <= 0
            upper[j], upper[2 * n + j] = -1.0, 0.0
    return np.stack([lower, upper])


def _solve(h: Solver, n: int, bounds: np.ndarray, cost: np.ndarray) -> float:
    """Optimum of the loaded tuple LP: its value, 0 if infeasible, +inf if unbounded."""
    h.changeRowsBounds(3 * n, np.arange(3 * n, dtype=np.int32), bounds[0], bounds[1])
    status = solve(h)
    if status == STATUS.kUnboundedOrInfeasible:  # settle it: feasible means unbounded
        cols = np.arange(cost.size, dtype=np.int32)
        h.changeColsCost(cost.size, cols, np.zeros(cost.size))
        feasible = solve(h) == STATUS.kOptimal
        status = STATUS.kUnbounded if feasible else STATUS.kInfeasible
        h.changeColsCost(cost.size, cols, cost)
    if status == STATUS.kOptimal:
        return h.getObjectiveValue()
    if status == STATUS.kInfeasible:
        return 0.0
    if status in UNBOUNDED:
        return np.inf
    raise RuntimeError(f"HiGHS returned {h.modelStatusToString(status)}")


def _height(h: Solver, P: np.ndarray, m: int, convention: str) -> float:
    """Largest tuple optimum for one matrix, under ``convention``."""
    G = generator(P)
    k, n = G.shape
    exact = is_integer(P)
    full_rank: dict[tuple[int, ...], bool] = {}
    best = -np.inf
    for a, s0 in product(range(n), (1, -1)):
        cost = s0 * G[:, a]  # objective s_0 c_a; rows s_j c_j - s_0 c_a for s_j = +1, -1
        load_rows(h, np.vstack([G.T, G.T - cost, -G.T - cost]))
        h.changeColsCost(k, np.arange(k, dtype=np.int32), cost)
        for b in range(n):
            if b == a:
                continue
            for X in combinations([t for t in range(n) if t not in (a, b)], m - 1):
                bounded = tuple(t for t in range(n) if t != a and t not in X)  # Y | {b}
                if bounded not in full_rank:
                    full_rank[bounded] = spans(G, bounded, exact)
                if convention == "skip-unbounded" and not full_rank[bounded]:
                    continue
                for signs in product((1, -1), repeat=m - 1):
                    value = _solve(h, n, _bounds(n, a, b, X, signs), cost)
                    if value == np.inf:
                        if convention == "exact":
                            return np.inf
                        continue  # full rank by the test above, unbounded only numerically
                    best = max(best, value)
    return best if best > -np.inf else np.inf


def heights(P: np.ndarray, m: int, convention: str) -> np.ndarray:
    """m-heights of a validated batch P (N, k, n-k) from n(n-1)C(n-2,m-1)2^m LPs per matrix."""
    h = new_solver()
    return np.array([_height(h, p, m, convention) for p in P], dtype=np.float64)
