"""What the LP methods share: G = [I | P], the exact rank test, and a silent HiGHS model.

Roth's LP (solver.lp_highs, solver.lp_pulp), Jiang's tuple LP (solver.jiang) and the
witnesses of the closed forms (solver.pruned, solver.vertex) all build on these, so they live
apart from any one method.
"""

from __future__ import annotations

import highspy
import numpy as np

# A real-valued G_Y counts as rank-deficient when sigma_k <= this fraction of sigma_1.
REAL_RANK_RTOL = 1e-10
INF = highspy.kHighsInf
STATUS = highspy.HighsModelStatus
# Roth's LPs are always feasible (u = 0), so "unbounded or infeasible" can only mean unbounded.
UNBOUNDED = (STATUS.kUnbounded, STATUS.kUnboundedOrInfeasible)
SETTLED = (STATUS.kOptimal, STATUS.kInfeasible, *UNBOUNDED)
# Cold restarts tried in turn when a solve ends without a verdict: (option, value, default).
_FALLBACKS = (
    ("simplex_strategy", 1, 1),  # the same dual simplex, from scratch
    ("simplex_strategy", 4, 1),  # primal simplex
    ("presolve", "on", "off"),
)


def generator(P: np.ndarray) -> np.ndarray:
    """G = [I_k | P] for one P of shape (k, n-k)."""
    return np.hstack([np.eye(P.shape[0]), P])


def is_integer(P: np.ndarray) -> bool:
    """True when every entry is an integer that float64 holds exactly (rank is then exact)."""
    return bool(np.array_equal(P, np.round(P)) and np.abs(P).max(initial=0.0) < 2.0**53)


def _integer_rank(M: list[list[int]]) -> int:
    """Rank of an integer matrix by fraction-free (Bareiss) elimination: exact, no rounding.

    After r pivots every remaining entry is an (r+1) x (r+1) minor, so the division by the
    previous pivot is exact (Sylvester's identity), also when zero columns are skipped.
    """
    rows = [list(r) for r in M]
    rank, prev = 0, 1
    for col in range(len(rows[0]) if rows else 0):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        p, top = rows[rank][col], rows[rank]
        for row in rows[rank + 1 :]:
            f = row[col]
            for j in range(col + 1, len(row)):
                row[j] = (row[j] * p - f * top[j]) // prev
            row[col] = 0
        prev = p
        rank += 1
        if rank == len(rows):
            break
    return rank


def spans(G: np.ndarray, cols: tuple[int, ...], exact: bool) -> bool:
    """True when the columns ``cols`` of G have rank k, i.e. |c_t| <= 1 on them bounds u."""
    k = G.shape[0]
    if len(cols) < k:
        return False
    sub = G[:, list(cols)]
    if exact:
        return _integer_rank([[int(x) for x in row] for row in sub]) == k
    sv = np.linalg.svd(sub, compute_uv=False)
    return bool(sv[-1] > REAL_RANK_RTOL * sv[0])


# The bare binding under the public ``highspy.Highs``: the wrapper prints a banner to stdout on
# construction (before any option can silence it; it would land in mh-solve's output) and routes
# solver callbacks through Python, which these tiny LPs do not need. Only new_solver names it.
Solver = highspy._Highs


def new_solver() -> Solver:
    """A silent, single-threaded HiGHS instance with presolve off (see solver.lp_highs)."""
    h = Solver()
    for name, value in (("output_flag", False), ("presolve", "off"), ("threads", 1)):
        h.setOptionValue(name, value)
    return h


def load_rows(h: Solver, rows: np.ndarray) -> None:
    """Replace the model by: u in R^k free, one row r^T u per row r of ``rows``, maximize."""
    num, k = rows.shape
    h.clearModel()
    empty_i, empty_f = np.zeros(0, dtype=np.int32), np.zeros(0)
    h.addCols(k, np.zeros(k), np.full(k, -INF), np.full(k, INF), 0, empty_i, empty_i, empty_f)
    starts = np.arange(num, dtype=np.int32) * k
    index = np.tile(np.arange(k, dtype=np.int32), num)
    values = np.ascontiguousarray(rows, dtype=np.float64).ravel()
    h.addRows(num, np.full(num, -INF), np.full(num, INF), num * k, starts, index, values)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)


def solve(h: Solver) -> highspy.HighsModelStatus:
    """Run from the current basis; without a verdict, rerun from scratch with other settings.

    Degenerate LPs (small-range P) can stall the dual simplex with status Unknown, also from a
    cold start; the primal simplex or presolve then settles them.
    """
    h.run()
    status = h.getModelStatus()
    for name, value, default in _FALLBACKS:
        if status in SETTLED:
            break
        h.setOptionValue(name, value)
        h.clearSolver()
        h.run()
        status = h.getModelStatus()
        h.setOptionValue(name, default)
    return status


def optimal_codeword(P: np.ndarray, a: int, Y: tuple[int, ...]) -> np.ndarray:
    """The primal optimum c = u^T G of the LP "max c_a s.t. |c_t| <= 1 for t in Y" (bounded)."""
    G = generator(P)
    k, n = G.shape
    h = new_solver()
    load_rows(h, G.T)
    lower, upper = np.full(n, -INF), np.full(n, INF)
    lower[list(Y)], upper[list(Y)] = -1.0, 1.0
    h.changeRowsBounds(n, np.arange(n, dtype=np.int32), lower, upper)
    h.changeColsCost(k, np.arange(k, dtype=np.int32), G[:, a])
    status = solve(h)
    if status != STATUS.kOptimal:
        raise RuntimeError(f"HiGHS returned {h.modelStatusToString(status)} (a={a}, Y={Y})")
    return np.asarray(h.getSolution().col_value) @ G
