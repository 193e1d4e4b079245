"""The skip-unbounded rule of the LP methods: rank(G_Y) < k, checked against the solver's status.

Roth's LP (a, Y) has an unbounded feasible region exactly when rank(G_Y) < k; its objective is
unbounded when moreover g_a is outside span(G_Y). The LP methods skip on the rank; these tests
check the rank test itself, that it agrees with HiGHS's statuses set by set, and that skipping
by status instead would give the same heights whenever m <= n-k.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from roth_lps import roth_optima

from solver import m_heights
from solver.lp_common import generator, is_integer, spans

SHAPES = [(6, 3, 2), (7, 3, 4), (8, 4, 3), (9, 4, 5), (9, 6, 3), (10, 5, 5)]


@pytest.mark.parametrize("group", SHAPES, ids=str)
def test_exact_and_svd_rank_tests_agree(group, draw):
    n, k, _ = group
    for P in draw("small", 5, k, n, [n, k, 1]):
        G = generator(P)
        assert is_integer(P)
        for size in range(k - 1, n + 1):
            for cols in combinations(range(n), size):
                expected = np.linalg.matrix_rank(G[:, list(cols)]) == k
                assert spans(G, cols, exact=True) == spans(G, cols, exact=False) == expected


@pytest.mark.parametrize("group", SHAPES, ids=str)
def test_rank_deficient_sets_are_those_with_an_unbounded_lp(group, draw):
    """rank(G_Y) < k  <=>  some a outside Y has an unbounded LP (a column outside span(G_Y))."""
    n, k, m = group
    deficient = 0
    for P in draw("small", 3, k, n, [n, k, m, 2]):
        G = generator(P)
        unbounded: dict[tuple[int, ...], bool] = {}
        for (_, Y), value in roth_optima(P, m).items():
            unbounded[Y] = unbounded.get(Y, False) or value == np.inf
        for Y, has_unbounded in unbounded.items():
            assert spans(G, Y, exact=True) != has_unbounded, Y
            deficient += has_unbounded
    if m == n - k:
        assert deficient > 0  # the draw does exercise the rule


@pytest.mark.parametrize("group", SHAPES, ids=str)
def test_skipping_by_status_agrees_when_m_at_most_n_minus_k(group, draw, same_heights):
    """A bounded LP on a rank-deficient Y (g_a in span(G_Y)) never beats the full-rank LPs when
    |Y| >= k: swapping dependent columns of Y for columns outside span(G_Y) gives a full-rank
    Y' (a not in Y') whose LP is at least as large. So the rank rule and "skip what the solver
    calls unbounded" give the same height."""
    n, k, m = group
    P = draw("small", 3, k, n, [n, k, m, 3])
    by_status = []
    for p in P:
        finite = [v for v in roth_optima(p, m).values() if v < np.inf]
        by_status.append(max(finite) if finite else np.inf)
    same_heights(m_heights(P, m, method="vertex", convention="skip-unbounded"), by_status)


def test_skipping_by_status_differs_when_m_above_n_minus_k():
    """With |Y| < k every Y is rank-deficient, so the convention gives +inf, while a status
    rule would keep the bounded LPs: G = [[1,0,1,2],[0,1,0,0]], m = 3, Y = {2}, a = 3 gives 2."""
    P = np.array([[1.0, 2.0], [0.0, 0.0]])
    finite = [v for v in roth_optima(P, 3).values() if v < np.inf]
    assert max(finite) == pytest.approx(2.0)
    for method in ("vertex", "highs", "pulp", "jiang"):
        assert m_heights(P, 3, method=method, convention="skip-unbounded")[0] == np.inf


def test_real_rank_test_uses_a_relative_tolerance():
    G = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1e-12]]) * 1e6
    assert not spans(G, (0, 2), exact=False)
    assert spans(G, (0, 1), exact=False)
