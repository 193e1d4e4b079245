"""Property-based checks of every method: random integer and real P, scalings 1e-12..1e12,
permutations and sign flips; an exact rational (Fraction) reference on small shapes.

Fast suite: n <= 9 for the closed forms, n <= 7 for the references and LP methods; the
``slow`` marker runs up to n = 12 with more examples.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from random_codes import FAST, SLOW, instances

from solver import InputError, m_heights, pruned
from solver.api import LP_RANGE, in_range
from solver.lattice import level_children

CLOSED_FORMS = ("pruned", "vertex", "vertex-torch")


def _det(M: list[list[Fraction]]) -> Fraction:
    """Exact determinant by Gaussian elimination over the rationals."""
    M = [row[:] for row in M]
    size, det = len(M), Fraction(1)
    for c in range(size):
        p = next((i for i in range(c, size) if M[i][c] != 0), None)
        if p is None:
            return Fraction(0)
        if p != c:
            M[c], M[p] = M[p], M[c]
            det = -det
        det *= M[c][c]
        for i in range(c + 1, size):
            f = M[i][c] / M[c][c]
            if f:
                M[i] = [x - f * y for x, y in zip(M[i], M[c], strict=True)]
    return det


def reference(P: np.ndarray, m: int, convention: str) -> float:
    """The m-height as an exact rational (docs/MATH.md), then rounded once to float."""
    k, r = P.shape
    n = k + r
    cols = [[Fraction(int(i == j)) for i in range(k)] for j in range(k)]
    cols += [[Fraction(float(P[i, j])) for i in range(k)] for j in range(r)]
    dets = {
        B: abs(_det([[cols[c][i] for c in B] for i in range(k)])) for B in combinations(range(n), k)
    }
    best: Fraction | None = None
    for a in range(n):
        for Y in combinations([c for c in range(n) if c != a], n - m):
            values = [
                sum(dets[tuple(sorted(set(B) - {b} | {a}))] for b in B) / dets[B]
                for B in combinations(Y, k)
                if dets[B] != 0
            ]
            if not values:  # rank(G_Y) < k: unbounded
                if convention == "exact":
                    return float("inf")
                continue
            f = min(values)
            best = f if best is None or f > best else best
    if best is None or best < 1:
        return float("inf")
    return float(best)


def close(expected: float, got: float, rtol: float) -> bool:
    if np.isinf(expected) or np.isinf(got):
        return expected == got
    return abs(got - expected) <= rtol * abs(expected)


@FAST
@given(instances(9), st.sampled_from(["exact", "skip-unbounded"]))
def test_closed_forms_agree_row_for_row(case, convention):
    P, m = case
    P = np.stack([P, -P, P[::-1]])
    results = [m_heights(P, m, method=name, convention=convention) for name in CLOSED_FORMS]
    for other in results[1:]:
        assert np.array_equal(results[0], other), results


@FAST
@given(instances(7), st.sampled_from(["exact", "skip-unbounded"]))
def test_pruned_matches_the_rational_reference(case, convention):
    _check_pruned_against_reference(*case, convention)


def _check_pruned_against_reference(P: np.ndarray, m: int, convention: str) -> None:
    expected = reference(P, m, convention)
    got = m_heights(P, m, method="pruned", convention=convention)[0]
    # Integer P: exact minors, one rounding per pair value. Real P: rounding in the minors.
    assert close(expected, got, 1e-12 if np.array_equal(P, np.round(P)) else 1e-8), (P, m)


@FAST
@given(instances(6))
def test_lp_methods_agree_or_refuse(case):
    P, m = case
    expected = m_heights(P, m, method="pruned")[0]
    for method in ("highs", "pulp"):
        if not in_range(P, LP_RANGE):
            with pytest.raises(InputError, match="certified range"):
                m_heights(P, m, method=method)
            continue
        got = m_heights(P, m, method=method)[0]
        assert close(expected, got, 1e-6), (method, P, m, expected, got)


@FAST
@given(instances(9), st.integers(0, 2**32 - 1))
def test_invariant_under_permutations_and_sign_flips(case, seed):
    P, m = case
    rng = np.random.default_rng(seed)
    k, r = P.shape
    Q = P[rng.permutation(k)][:, rng.permutation(r)]
    Q = Q * rng.choice([-1.0, 1.0], k)[:, None] * rng.choice([-1.0, 1.0], r)[None, :]
    h, g = m_heights(np.stack([P, Q]), m, method="pruned")
    assert close(h, g, 1e-9), (P, Q, m)


@FAST
@given(
    st.integers(4, 7),
    st.integers(0, 2**32 - 1),
    st.integers(9, 17),
    st.sampled_from(["exact", "skip-unbounded"]),
)
def test_huge_integer_entries_are_exact(n, seed, exponent, convention):
    """One entry up to 1e17 (minors beyond int64): still the exact rational height."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, n))
    m = int(rng.integers(1, n - k + 1))
    P = rng.integers(-100, 101, (k, n - k)).astype(np.float64)
    P[rng.integers(k), rng.integers(n - k)] = 10.0**exponent
    expected = reference(P, m, convention)
    for method in CLOSED_FORMS:
        got = m_heights(P, m, method=method, convention=convention)[0]
        assert close(expected, got, 1e-12), (method, P, m, expected, got)


def test_whole_matrix_scalings_of_issue_10():
    """The cases of issue 10: whole P times 1e-15 and 1e15, one entry 1e13 and 1e15."""
    rng = np.random.default_rng(10)
    P = rng.integers(-100, 101, (4, 5)).astype(np.float64)
    for Q in (P * 1e-15, P * 1e15):
        expected = reference(Q, 2, "exact")
        assert close(expected, m_heights(Q, 2, method="pruned")[0], 1e-8)
        with pytest.raises(InputError, match=r"certified range"):
            m_heights(Q, 2, method="highs")
    for big in (1e13, 1e15):
        Q = P.copy()
        Q[0, 0] = big
        assert close(reference(Q, 2, "exact"), m_heights(Q, 2)[0], 1e-12)


def test_all_zero_P_is_infinite_under_both_conventions():
    Z = np.zeros((3, 4))
    for convention in ("exact", "skip-unbounded"):
        for method in ("pruned", "vertex", "vertex-torch", "highs", "pulp"):
            assert m_heights(Z, 2, method=method, convention=convention)[0] == np.inf


def test_out_of_range_entries_are_refused_by_every_method():
    P = np.ones((2, 3))
    P[0, 0] = 1e30
    for method in ("auto", "pruned", "vertex", "highs"):
        with pytest.raises(InputError, match="certified range"):
            m_heights(P, 2, method=method)


@pytest.mark.slow
@SLOW
@given(instances(12), st.sampled_from(["exact", "skip-unbounded"]))
def test_closed_forms_agree_up_to_n12(case, convention):
    P, m = case
    results = [m_heights(P[None], m, method=name, convention=convention) for name in CLOSED_FORMS]
    assert all(np.array_equal(results[0], other) for other in results[1:])


@pytest.mark.slow
@SLOW
@given(instances(8), st.sampled_from(["exact", "skip-unbounded"]))
def test_pruned_matches_the_rational_reference_up_to_n8(case, convention):
    _check_pruned_against_reference(*case, convention)


# The pruned method's paths: branching on the removed set against the level recursion, the
# one-pass m = n - k maximum against vertex's pairs, and the disjoint-basis column bounds.


def _forced(P, m, convention, branch: bool, monkeypatch) -> np.ndarray:
    with monkeypatch.context() as patch:
        patch.setattr(pruned, "use_branching", lambda n, k, m: branch)
        return m_heights(P, m, method="pruned", convention=convention)


@FAST
@given(instances(9), st.sampled_from(["exact", "skip-unbounded"]))
def test_branching_and_levels_agree_row_for_row(case, convention):
    P, m = case
    P = np.stack([P, -P, P[::-1], P[:, ::-1]])
    mp = pytest.MonkeyPatch()
    try:
        branch = _forced(P, m, convention, True, mp)
        levels = _forced(P, m, convention, False, mp)
    finally:
        mp.undo()
    assert np.array_equal(branch, levels), (P, m, branch, levels)
    assert np.array_equal(branch, m_heights(P, m, method="vertex", convention=convention))


@FAST
@given(instances(7), st.sampled_from(["exact", "skip-unbounded"]))
def test_branching_matches_the_rational_reference(case, convention):
    P, m = case
    mp = pytest.MonkeyPatch()
    try:
        got = _forced(P, m, convention, True, mp)[0]
    finally:
        mp.undo()
    expected = reference(P, m, convention)
    assert close(expected, got, 1e-12 if np.array_equal(P, np.round(P)) else 1e-8), (P, m)


@FAST
@given(st.integers(0, 2**32 - 1), st.sampled_from(["int", "small", "real"]))
def test_disjoint_basis_bounds_hold_for_every_column(seed, kind):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 4))
    m = int(rng.integers(1, 4 if k < 3 else 3))
    n = int(rng.integers(max(k + m + 1, (m + 1) * k), 13))
    if kind == "int":
        P = rng.integers(-100, 101, (6, k, n - k)).astype(np.float64)
    elif kind == "small":
        P = rng.integers(-2, 3, (6, k, n - k)).astype(np.float64)
    else:
        P = rng.uniform(-100, 100, (6, k, n - k))
    dets, singular = pruned.subset_dets(P)
    bound = pruned.cheap_bounds(dets, singular, n, k, m)
    children = level_children(n - 1, k, n - m)
    for a in range(n):
        values = pruned.column_values(dets, singular, n, k, a)
        exact = pruned.column_best(values, children, "exact")
        assert np.all(exact <= bound[a]), (a, exact, bound[a])


def test_top_height_is_the_largest_pair_value():
    """m = n - k: the one pass over (k+1)-sets gives vertex's maximum over all pairs."""
    rng = np.random.default_rng(7)
    for n, k in [(6, 2), (9, 4), (11, 5), (10, 7)]:
        for kind in ("int", "small", "real"):
            if kind == "real":
                P = rng.uniform(-100, 100, (20, k, n - k))
            else:
                hi = 100 if kind == "int" else 2
                P = rng.integers(-hi, hi + 1, (20, k, n - k)).astype(np.float64)
            for convention in ("exact", "skip-unbounded"):
                got = m_heights(P, n - k, method="pruned", convention=convention)
                want = m_heights(P, n - k, method="vertex", convention=convention)
                assert np.array_equal(got, want), (n, k, kind, convention)
