"""h_m depends only on the code up to coordinate permutation and sign: check the symmetries.

Row/column permutations and sign flips of P, and pivoting to another information set
(docs/MATH.md, "Invariances"), must leave every method's height unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

from solver import CONVENTIONS, m_heights

COURSE_GROUPS = [(n, k, m) for n in (9, 10) for k in (4, 5, 6) for m in range(2, n - k + 1)]


def permute_and_flip(P: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """D1 Pi1 P Pi2 D2: random row/column permutations and sign flips."""
    k, r = P.shape
    rows, cols = rng.permutation(k), rng.permutation(r)
    return P[rows][:, cols] * rng.choice([-1.0, 1.0], (k, 1)) * rng.choice([-1.0, 1.0], r)


def pivot(P: np.ndarray, i: int, j: int) -> np.ndarray:
    """P' with [I | P'] generating the same code after swapping systematic coordinate i with
    parity coordinate k+j (needs P[i, j] != 0): [I | P'] = G_info^-1 G[:, info + rest]."""
    k, r = P.shape
    G = np.hstack([np.eye(k), P])
    info = [k + j if c == i else c for c in range(k)]
    rest = [i if c == k + j else c for c in range(k, k + r)]
    return np.linalg.solve(G[:, info], G[:, rest])


def largest_pivot(P: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pivot on the entry of largest magnitude after a random permutation and sign flip."""
    P = permute_and_flip(P, rng)
    i, j = np.unravel_index(np.argmax(np.abs(P)), P.shape)
    return pivot(P, int(i), int(j))


def smallest_pivot(P: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pivot on the nonzero entry of smallest magnitude: a badly scaled P' whose real-valued
    minors test that the singularity tolerance follows the scale of each minor."""
    P = permute_and_flip(P, rng)
    masked = np.where(P != 0, np.abs(P), np.inf)
    i, j = np.unravel_index(np.argmin(masked), P.shape)
    return pivot(P, int(i), int(j))


def test_pivot_keeps_the_code():
    """The pivoted generator spans the same space, coordinates reordered as info + rest."""
    P = np.array([[2.0, -1.0, 3.0], [1.0, 4.0, -2.0]])
    Q = pivot(P, 1, 2)
    G = np.hstack([np.eye(2), P])
    reordered = G[:, [0, 4, 2, 3, 1]]  # info = (0, k+2), rest = (2, 3, 1)
    H = np.hstack([np.eye(2), Q])
    coefficients = np.linalg.lstsq(reordered.T, H.T, rcond=None)[0].T
    np.testing.assert_allclose(coefficients @ reordered, H, atol=1e-12)


@pytest.mark.parametrize("transform", [permute_and_flip, largest_pivot, smallest_pivot])
@pytest.mark.parametrize("kind", ["int", "real", "small"])
@pytest.mark.parametrize("group", COURSE_GROUPS, ids=str)
def test_vertex_is_invariant(group, kind, transform, draw, same_heights):
    n, k, m = group
    rng = np.random.default_rng([n, k, m, len(kind), 5])
    P = draw(
        kind, 6, k, n, [n, k, m, len(kind), 6], no_zero_column=transform is not permute_and_flip
    )
    Q = np.stack([transform(p, rng) for p in P])
    # A tiny pivot amplifies the rounding of the transform itself (P' carries ~1e-12 noise).
    rtol = 1e-7 if transform is smallest_pivot else 1e-9
    for convention in CONVENTIONS:
        expected, got = (m_heights(X, m, convention=convention) for X in (P, Q))
        same_heights(expected, got, rtol=rtol)


@pytest.mark.parametrize("transform", [permute_and_flip, largest_pivot])
@pytest.mark.parametrize("group", [(9, 4, 3), (10, 6, 4), (9, 5, 2)], ids=str)
def test_highs_is_invariant(group, transform, draw, same_heights):
    n, k, m = group
    rng = np.random.default_rng([n, k, m, 8])
    P = draw("small", 1, k, n, [n, k, m, 9], no_zero_column=True)
    Q = np.stack([transform(p, rng) for p in P])
    for convention in CONVENTIONS:
        expected = m_heights(P, m, method="highs", convention=convention)
        same_heights(expected, m_heights(Q, m, method="highs", convention=convention))
