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

BASIC = highspy.HighsBasisStatus.kBasic


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


def _optimal_basis(h: Solver, k: int) -> np.ndarray | None:
    """The k rows at a bound in HiGHS's optimal basis (the dual basis B), or None if degenerate."""
    status = h.getBasis().row_status
    basis = np.array([i for i, st in enumerate(status) if st != BASIC], dtype=np.intp)
    return basis if len(basis) == k else None


def _height(h: Solver, P: np.ndarray, m: int, convention: str) -> float:
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


def heights(P: np.ndarray, m: int, convention: str) -> np.ndarray:
    """m-heights of a validated batch P (N, k, n-k) from at most m * C(n, m) LPs per matrix."""
    h = new_solver()
    return np.array([_height(h, p, m, convention) for p in P], dtype=np.float64)
