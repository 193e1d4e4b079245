"""Roth's primal LP (docs/MATH.md) solved with HiGHS: one model per matrix, re-bounded per LP.

For every m-subset S and a in S: maximize c_a = u^T g_a subject to |c_t| <= 1 for t in
Y = [n] \\ S, u in R^k free. The model holds one row c_t = u^T g_t per column of G; an LP is
selected by freeing the rows in S and setting the objective to g_a, so HiGHS warm-starts from
the previous basis. Maximizing c_a is enough: the feasible set is symmetric under u -> -u, so
max(-c_a) = max(c_a) and the LP for -c_a would only repeat the number.

Conventions: "exact" returns +inf as soon as one LP is unbounded (the solver's status, with
presolve off so "unbounded or infeasible" cannot hide a plain unbounded LP). "skip-unbounded"
skips every LP whose feasible region is unbounded, i.e. whose Y has rank(G_Y) < k, decided by
:func:`spans` (exact for integer P) rather than by the solver's status: such an LP can still have
a finite optimum (g_a in span(G_Y)). For m <= n-k that never changes the height (swapping
dependent columns of Y for columns outside span(G_Y) gives a full-rank LP at least as large);
for m > n-k every Y is deficient and the convention's answer is +inf, which only the rank rule
gives.
"""

from __future__ import annotations

from functools import cache
from itertools import combinations
from typing import NamedTuple

import highspy
import numpy as np

from solver.dual_bounds import certificates

# A real-valued G_Y counts as rank-deficient when sigma_k <= this fraction of sigma_1.
REAL_RANK_RTOL = 1e-10
INF = highspy.kHighsInf
STATUS = highspy.HighsModelStatus
BASIC = highspy.HighsBasisStatus.kBasic
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


def new_solver() -> highspy._Highs:
    """A silent, single-threaded HiGHS instance with presolve off (see the module docstring).

    The bare binding ``_Highs`` is used because the ``Highs`` wrapper prints a banner on
    construction and installs Python callbacks that these tiny LPs do not need.
    """
    h = highspy._Highs()
    for name, value in (("output_flag", False), ("presolve", "off"), ("threads", 1)):
        h.setOptionValue(name, value)
    return h


def load_rows(h: highspy._Highs, rows: np.ndarray) -> None:
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


def solve(h: highspy._Highs) -> highspy.HighsModelStatus:
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


class Selections(NamedTuple):
    """Roth's LPs for one (n, m), indexed by m-subset S (column s) and objective a (row)."""

    subsets: tuple[tuple[int, ...], ...]  # S, in lexicographic order
    masks: np.ndarray  # (num_S,) int64 bitmask of S
    member: np.ndarray  # (n, num_S) bool: a in S, i.e. LP (a, [n] \ S) exists
    lower: np.ndarray  # (num_S, n) row bounds freeing the rows in S
    upper: np.ndarray


@cache
def _selections(n: int, m: int) -> Selections:
    """The LP index of every (n, m), built once: these arrays are shared by all matrices."""
    subsets = tuple(combinations(range(n), m))
    member = np.zeros((n, len(subsets)), dtype=bool)
    for s, S in enumerate(subsets):
        member[list(S), s] = True
    lower = np.where(member.T, -INF, -1.0)
    return Selections(
        subsets, (np.int64(1) << np.arange(n, dtype=np.int64)) @ member, member, lower, -lower
    )


def _next_open(open_lps: np.ndarray, start: int) -> int | None:
    """The first subset index >= start that still has an LP to solve, or None."""
    pending = open_lps[:, start:].any(axis=0)
    return start + int(pending.argmax()) if pending.any() else None


def _optimal_basis(h: highspy._Highs, k: int) -> np.ndarray | None:
    """The k rows at a bound in HiGHS's optimal basis (the dual basis B), or None if degenerate."""
    status = h.getBasis().row_status
    basis = np.array([i for i, st in enumerate(status) if st != BASIC], dtype=np.intp)
    return basis if len(basis) == k else None


def _height(h: highspy._Highs, P: np.ndarray, m: int, convention: str) -> float:
    """Largest optimum over Roth's (a, Y) LPs for one matrix, under ``convention``.

    After each solved LP, :func:`solver.dual_bounds.certificates` turns its optimal basis into
    weak-duality bounds that close every LP they prove cannot exceed the best value so far
    (such LPs are bounded, so no +inf is missed under either convention). On the course grid
    this leaves about 4% of the m C(n, m) LPs to solve.
    """
    G = generator(P)
    k, n = G.shape
    columns = np.ascontiguousarray(G.T)  # row a: the objective g_a of LP (a, Y)
    load_rows(h, columns)
    exact = is_integer(P)
    sel = _selections(n, m)
    open_lps = sel.member.copy()
    all_rows, cols = np.arange(n, dtype=np.int32), np.arange(k, dtype=np.int32)
    one_hot = np.eye(n, dtype=np.float32)
    best = -np.inf
    s = 0
    while (s := _next_open(open_lps, s)) is not None:
        S = sel.subsets[s]
        if convention == "skip-unbounded" and not spans(
            G, tuple(t for t in range(n) if t not in S), exact
        ):
            s += 1
            continue
        h.changeRowsBounds(n, all_rows, sel.lower[s], sel.upper[s])
        for a in S:
            if not open_lps[a, s]:
                continue
            h.changeColsCost(k, cols, columns[a])
            status = solve(h)
            if status in UNBOUNDED:
                if convention == "exact":
                    return np.inf
                continue  # full rank by the test above, unbounded only numerically: skipped
            if status != STATUS.kOptimal:
                raise RuntimeError(f"HiGHS returned {h.modelStatusToString(status)} (a={a}, S={S})")
            best = max(best, h.getObjectiveValue())
            basis = _optimal_basis(h, k)
            if basis is not None:
                a_closed, masks = certificates(G, basis, best)
                covers = (sel.masks[None, :] & masks[:, None]) == 0  # (certificate, S)
                # closed[a, s]: some certificate for a covers S (a 0/1 matrix product is an "any").
                closed = one_hot[a_closed].T @ covers.astype(np.float32)
                open_lps &= closed == 0
        s += 1
    return best if best > -np.inf else np.inf  # every LP skipped: no finite height


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


def heights(P: np.ndarray, m: int, convention: str) -> np.ndarray:
    """m-heights of a validated batch P (N, k, n-k) from at most m * C(n, m) LPs per matrix."""
    h = new_solver()
    return np.array([_height(h, p, m, convention) for p in P], dtype=np.float64)
