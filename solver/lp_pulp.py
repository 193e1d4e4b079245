"""Roth's primal LP (docs/MATH.md, "Roth's LP") written with PuLP, solved by HiGHS through PuLP.

The modelling-layer way to state the LP, kept as an independent check of
:mod:`solver.lp_highs`: one PuLP problem per matrix with u free (lowBound=None, spelled out: a
">= 0" default, as in scipy's linprog, would be wrong) and a variable c_t = u^T g_t per column;
an LP (a, Y) bounds c_t to [-1, 1] for t in Y, frees the others and maximizes c_a. PuLP's
``HiGHS`` (highspy-backed) rebuilds the HiGHS model on every solve. Presolve is
off: PuLP maps HiGHS's "unbounded or infeasible" to Infeasible, and since u = 0 is always feasible
either Infeasible or Unbounded here means unbounded. Conventions as in :mod:`solver.lp_highs`.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pulp

from solver.lp_common import generator, is_integer, spans

_UNBOUNDED = (pulp.LpStatusUnbounded, pulp.LpStatusInfeasible)
_SETTLED = (pulp.LpStatusOptimal, *_UNBOUNDED)
# Tried in turn when HiGHS ends without a verdict (status Unknown on degenerate LPs): the dual
# simplex, then the primal simplex, then presolve; as in solver.lp_common.solve.
_FALLBACK_OPTIONS = ({}, {"simplex_strategy": 4}, {"presolve": "on"})


def _solvers() -> list[pulp.LpSolver]:
    """Silent single-threaded HiGHS through PuLP, presolve off, and its fallbacks."""
    base = {"msg": False, "threads": 1, "presolve": "off"}
    return [pulp.HiGHS(**{**base, **options}) for options in _FALLBACK_OPTIONS]


def _solve(prob: pulp.LpProblem, solvers: list[pulp.LpSolver]) -> int:
    """PuLP status of ``prob`` from the first solver that settles it."""
    for solver in solvers:
        status = prob.solve(solver)
        if status in _SETTLED:
            break
    return status


def _height(P: np.ndarray, m: int, convention: str, solvers: list[pulp.LpSolver]) -> float:
    """Largest optimum over Roth's (a, Y) LPs for one matrix, under ``convention``."""
    G = generator(P)
    k, n = G.shape
    prob = pulp.LpProblem("roth", pulp.LpMaximize)
    u = [prob.add_variable(f"u{i}", lowBound=None, upBound=None) for i in range(k)]
    c = [prob.add_variable(f"c{t}", lowBound=None, upBound=None) for t in range(n)]
    for t in range(n):
        prob += c[t] == pulp.lpSum(float(G[i, t]) * u[i] for i in range(k)), f"row{t}"
    exact = is_integer(P)
    best = -np.inf
    for S in combinations(range(n), m):
        Y = tuple(t for t in range(n) if t not in S)
        if convention == "skip-unbounded" and not spans(G, Y, exact):
            continue
        for t in range(n):
            c[t].lowBound, c[t].upBound = (None, None) if t in S else (-1, 1)
        for a in S:
            prob.setObjective(c[a])
            status = _solve(prob, solvers)
            if status in _UNBOUNDED:
                if convention == "exact":
                    return np.inf
                continue
            if status != pulp.LpStatusOptimal:
                raise RuntimeError(f"PuLP/HiGHS returned {pulp.LpStatus[status]} (a={a}, S={S})")
            best = max(best, float(pulp.value(prob.objective)))
    return best if best > -np.inf else np.inf


def heights(P: np.ndarray, m: int, convention: str) -> np.ndarray:
    """m-heights of a validated batch P (N, k, n-k) from m * C(n, m) PuLP models per matrix."""
    solvers = _solvers()
    return np.array([_height(p, m, convention, solvers) for p in P], dtype=np.float64)
