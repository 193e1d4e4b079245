"""solver.witness returns a codeword of the code whose own m-height is the code's m-height."""

from __future__ import annotations

import numpy as np
import pytest

from solver import m_height, witness

COURSE_GROUPS = [(n, k, m) for n in (9, 10) for k in (4, 5, 6) for m in range(2, n - k + 1)]
# vertex.witness builds u = G_B^-T sign(y) with sign(0) = +1; when every optimal basis B has a
# zero in y = G_B^-1 g_a (degenerate dual), that u can break |c_t| <= 1 on Y and it raises.
DEGENERATE_P = [  # (m, P) whose optimal bases all have a zero in y = G_B^{-1} g_a
    (2, [[-2, -3, -2, 3], [1, -1, 0, -1], [-2, -1, -3, 3], [-3, -1, 2, 1], [-2, 2, -1, 2]]),
    (2, [[1, -2, 1], [-3, 1, -1], [-3, -2, -1], [-2, 0, -3], [-1, -3, 2], [-1, 1, -2]]),
    (1, [[3, -3, 2], [3, 3, -2], [2, -1, 1], [0, -2, -2], [0, 3, 3], [-1, 1, -1], [0, -2, -2]]),
    (1, [[-2, 0, -3], [0, 3, -1], [3, -2, -3], [-1, -1, 0]]),
]
SMALL_SHAPES = [(n, k, m) for n in (4, 5, 6, 7) for k in range(1, n) for m in range(1, n - k + 1)]


def codeword_height(c: np.ndarray, m: int) -> float:
    """h_m(c) = |c|_(0) / |c|_(m), written out independently of the solver."""
    mags = sorted(abs(float(x)) for x in c)[::-1]
    return mags[0] / mags[m] if mags[m] > 0 else float("inf")


def _check_witness(P: np.ndarray, m: int) -> None:
    h = m_height(P, m)
    c = witness(P, m)
    if np.isinf(h):
        assert c is None
        return
    k = P.shape[0]
    np.testing.assert_allclose(c[k:], c[:k] @ P, rtol=1e-9, atol=1e-9 * np.abs(c).max())
    assert codeword_height(c, m) == pytest.approx(h, rel=1e-9)


@pytest.mark.parametrize(
    "group, kind", [(g, kind) for g in COURSE_GROUPS for kind in ("int", "real", "small")], ids=str
)
def test_witness_achieves_height_on_course_groups(group, kind, draw):
    n, k, m = group
    for P in draw(kind, 3, k, n, [n, k, m, len(kind)]):
        _check_witness(P, m)


@pytest.mark.parametrize("group", SMALL_SHAPES, ids=str)
def test_witness_achieves_height_on_small_range_integers(group, draw):
    n, k, m = group
    for P in draw("small", 4, k, n, [n, k, m, 7]):
        _check_witness(P, m)


def test_witness_is_none_when_height_is_infinite():
    P = np.array([[1.0, 0.0], [1.0, 0.0]])  # column 3 of G is zero: d(C) <= 2
    assert m_height(P, 2) == np.inf
    assert witness(P, 2) is None


@pytest.mark.parametrize("m, P", DEGENERATE_P)
def test_witness_with_degenerate_dual(m, P):
    _check_witness(np.array(P, dtype=np.float64), m)
