"""Every method gives the closed form's heights: relative 1e-9, identical infinities.

The fast suite draws one matrix per (group, distribution); the slow variants draw more and
run PuLP and Jiang's LP on the course grid too.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.plan import PRESETS, grid
from solver import CONVENTIONS, m_heights
from training.synthetic import course_grid

COURSE_GROUPS = [(n, k, m) for n in (9, 10) for k in (4, 5, 6) for m in range(2, n - k + 1)]
KINDS = ("int", "real", "small")
# Shapes where Jiang's n(n-1)C(n-2,m-1)2^m LPs take well under a second.
JIANG_SMALL = [(5, 2, 2), (5, 3, 2), (6, 3, 2), (6, 2, 3), (7, 4, 2)]
WORKED_P = [[0.4759809, 0.9938236, 0.819425], [-0.8960798, -0.7442706, 0.3345122]]


def _seed(n: int, k: int, m: int, kind: str, salt: int = 0) -> list[int]:
    return [n, k, m, KINDS.index(kind), salt]


def _check(method, P, m, same_heights) -> None:
    for convention in CONVENTIONS:
        expected = m_heights(P, m, method="vertex", convention=convention)
        same_heights(expected, m_heights(P, m, method=method, convention=convention))


def test_course_groups_are_the_course_preset_and_the_benchmarks_grid():
    ns, ks, _, _ = PRESETS["course-1m"]
    assert COURSE_GROUPS == grid(list(ns), list(ks), None) == course_grid()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("group", COURSE_GROUPS, ids=str)
def test_highs_matches_vertex_on_course_groups(group, kind, draw, same_heights):
    n, k, m = group
    _check("highs", draw(kind, 1, k, n, _seed(n, k, m, kind)), m, same_heights)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("group", [(9, 4, 2), (10, 6, 2), (9, 6, 3), (10, 6, 4)], ids=str)
def test_pulp_matches_vertex(group, kind, draw, same_heights):
    n, k, m = group
    _check("pulp", draw(kind, 1, k, n, _seed(n, k, m, kind)), m, same_heights)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("group", JIANG_SMALL, ids=str)
def test_jiang_matches_vertex_on_small_shapes(group, kind, draw, same_heights):
    n, k, m = group
    P = draw(kind, 1, k, n, _seed(n, k, m, kind), no_zero_column=True)
    _check("jiang", P, m, same_heights)


@pytest.mark.parametrize(
    "group", [(n, k, m) for n in (4, 5) for k in range(1, n) for m in range(1, n)], ids=str
)
def test_jiang_matches_vertex_on_small_range_integers(group, draw, same_heights):
    """P in [-3, 3], every k and m (also m > n-k): rank-deficient sets in most matrices.

    Matrices with a zero column are left out: see test_jiang_cannot_see_zero_columns.
    """
    n, k, m = group
    P = draw("small", 2, k, n, _seed(n, k, m, "small", 1), no_zero_column=True)
    _check("jiang", P, m, same_heights)


def test_jiang_cannot_see_zero_columns():
    """A zero column g_t makes c_t = 0 in every codeword: Jiang's tuples cannot use t as b
    (c_b = 1) or in X (|c_j| >= 1), so t always sits in the bounded set Y | {b}.

    Skip-unbounded, P = [[1, 0], [1, 0]], m = 2: every set Y | {b} (size 2) that holds
    column 3 has rank 1, so all tuples are skipped or infeasible (0), while Roth's LP
    (a=2, Y={0,1}) has full rank and optimum 2 (codeword (1, 1, 2, 0)).
    Exact, P = 0: no codeword has 3 nonzero entries, so every tuple is infeasible (0),
    while the height is +inf (c = (1, 0, 0, 0) has |c|_(2) = 0). solver.api reports every
    value below 1 (never a finite height) as +inf, which repairs the second case only.
    """
    P = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert m_heights(P, 2, method="vertex", convention="skip-unbounded")[0] == 2.0
    assert m_heights(P, 2, method="highs", convention="skip-unbounded")[0] == 2.0
    assert m_heights(P, 2, method="jiang", convention="skip-unbounded")[0] == np.inf
    Z = np.zeros((2, 2))
    assert m_heights(Z, 2, method="vertex", convention="exact")[0] == np.inf
    assert m_heights(Z, 2, method="jiang", convention="exact")[0] == np.inf


@pytest.mark.parametrize("method", ["vertex", "highs", "pulp", "jiang"])
def test_worked_example(method):
    """docs/MATH.md: n=5, k=2, m=2 gives 1.9242387 as printed by the course (P itself is printed
    to 7 decimals, so the exact height of this P, 1.92423857467, differs by 1.3e-7)."""
    h = m_heights(WORKED_P, 2, method=method)[0]
    assert abs(h - 1.9242387) < 1e-6
    assert h == pytest.approx(1.92423857466699, rel=1e-12)


@pytest.mark.parametrize("group", [(12, 6, 3), (14, 7, 3), (12, 4, 4)], ids=str)
def test_highs_matches_vertex_beyond_course_sizes(group, draw, same_heights):
    n, k, m = group
    _check("highs", draw("int", 1, k, n, _seed(n, k, m, "int")), m, same_heights)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("group", COURSE_GROUPS, ids=str)
def test_slow_lp_methods_match_vertex_on_course_groups(group, kind, draw, same_heights):
    n, k, m = group
    P = draw(kind, 4, k, n, _seed(n, k, m, kind, 2))
    _check("highs", P, m, same_heights)
    _check("pulp", P[:2], m, same_heights)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("group", [(9, 4, 2), (10, 6, 2), (9, 6, 3)], ids=str)
def test_slow_jiang_matches_vertex_on_course_groups(group, kind, draw, same_heights):
    n, k, m = group
    P = draw(kind, 1, k, n, _seed(n, k, m, kind, 3), no_zero_column=True)
    _check("jiang", P, m, same_heights)


@pytest.mark.slow
@pytest.mark.parametrize(
    "group", [(n, k, m) for n in (6, 7) for k in range(1, n) for m in range(1, n)], ids=str
)
def test_slow_jiang_matches_vertex_on_small_range_integers(group, draw, same_heights):
    n, k, m = group
    P = draw("small", 3, k, n, _seed(n, k, m, "small", 4), no_zero_column=True)
    _check("jiang", P, m, same_heights)


@pytest.mark.slow
@pytest.mark.parametrize("group", [(16, 8, 2), (16, 6, 3)], ids=str)
def test_slow_highs_matches_vertex_at_n16(group, draw, same_heights):
    n, k, m = group
    _check("highs", draw("int", 1, k, n, _seed(n, k, m, "int")), m, same_heights)
