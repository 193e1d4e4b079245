"""The public entry points: input validation, the m > n-k case, empty batches, scalars."""

from __future__ import annotations

import numpy as np
import pytest

from solver import CONVENTIONS, METHODS, InputError, m_height, m_heights, witness
from solver.api import method_seconds, resolve_method

LP_AND_CLOSED_FORM = [name for name in METHODS if name != "auto"]
P = np.array([[1.0, 2.0, -1.0], [3.0, -1.0, 2.0]])  # n = 5, k = 2


@pytest.mark.parametrize("m", [0, -1, 5, 7])
def test_m_out_of_range(m):
    with pytest.raises(InputError, match="out of range"):
        m_heights(P, m)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entries(bad):
    Q = P.copy()
    Q[1, 2] = bad
    with pytest.raises(InputError, match="NaN or infinite"):
        m_heights(Q, 2)


@pytest.mark.parametrize(
    "shape", [(3,), (2, 0), (0, 3), (1, 1, 1, 1), (2, 2, 0)], ids=lambda s: str(s)
)
def test_bad_shapes(shape):
    with pytest.raises(InputError, match="shape|rows"):
        m_heights(np.ones(shape), 1)


def test_unknown_method_and_convention():
    with pytest.raises(InputError, match="unknown method"):
        m_heights(P, 2, method="simplex")
    with pytest.raises(InputError, match="unknown convention"):
        m_heights(P, 2, convention="course")


def test_scalar_entry_points_want_one_matrix():
    with pytest.raises(InputError, match="shape"):
        m_height(P[None], 2)
    with pytest.raises(InputError, match="shape"):
        witness(P[None], 2)


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("method", LP_AND_CLOSED_FORM)
@pytest.mark.parametrize("m", [5, 6])
def test_m_above_n_minus_k_is_infinite(method, convention, m):
    """n-m < k columns cannot have rank k: a codeword vanishes on them (also under skip)."""
    Q = np.arange(1.0, 13.0).reshape(3, 4) ** 2  # n = 7, k = 3: n-k = 4
    out = m_heights(np.stack([Q, -Q]), m, method=method, convention=convention)
    assert out.shape == (2,)
    assert np.isinf(out).all()


@pytest.mark.parametrize("method", METHODS)
def test_empty_batch(method):
    out = m_heights(np.empty((0, 2, 3)), 2, method=method)
    assert out.shape == (0,) and out.dtype == np.float64


@pytest.mark.parametrize("method", LP_AND_CLOSED_FORM)
def test_scalar_and_list_input(method):
    h = m_height(P.tolist(), 1, method=method)
    assert isinstance(h, float)
    assert h == pytest.approx(m_heights(P, 1, method="vertex")[0], rel=1e-9)


def test_first_height_of_a_code_without_zero_columns_is_finite():
    assert 1.0 <= m_height(P, 1) < np.inf


def test_auto_takes_a_closed_form_on_course_sizes_and_the_modelled_fastest_elsewhere():
    course = [(n, k, m) for n in (9, 10) for k in (4, 5, 6) for m in range(1, n - k + 1)]
    assert {resolve_method("auto", n, k, m) for n, k, m in course} <= {"vertex", "pruned"}
    for n, k, m in [(16, 8, 4), (16, 8, 8), (16, 4, 6), (20, 10, 2), (30, 15, 2)]:
        auto = resolve_method("auto", n, k, m)
        others = [name for name in ("pruned", "vertex", "highs") if name != auto]
        seconds = method_seconds(auto, n, k, m)
        assert all(seconds <= method_seconds(name, n, k, m) for name in others if name != "vertex")
    assert resolve_method("auto", 30, 15, 2) == "highs"  # C(30, 15) = 155 million bases
    assert resolve_method("highs", 9, 4, 2) == "highs"
