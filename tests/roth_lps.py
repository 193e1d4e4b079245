"""Every Roth LP of one matrix solved by HiGHS, for tests that check rules LP by LP."""

from __future__ import annotations

from itertools import combinations

import numpy as np

from solver.lp_common import INF, UNBOUNDED, generator, load_rows, new_solver, solve


def roth_optima(P: np.ndarray, m: int) -> dict[tuple[int, tuple[int, ...]], float]:
    """(a, Y) -> optimum of Roth's LP by HiGHS, +inf when the solver reports it unbounded."""
    G = generator(P)
    k, n = G.shape
    h = new_solver()
    load_rows(h, G.T)
    optima = {}
    for S in combinations(range(n), m):
        Y = tuple(t for t in range(n) if t not in S)
        lower, upper = np.full(n, -1.0), np.full(n, 1.0)
        lower[list(S)], upper[list(S)] = -INF, INF
        h.changeRowsBounds(n, np.arange(n, dtype=np.int32), lower, upper)
        for a in S:
            h.changeColsCost(k, np.arange(k, dtype=np.int32), G[:, a])
            status = solve(h)
            optima[(a, Y)] = np.inf if status in UNBOUNDED else h.getObjectiveValue()
    return optima
