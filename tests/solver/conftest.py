"""Shared fixtures of the solver tests: seeded random matrices and a strict height comparison."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def draw_matrices(
    kind: str, N: int, k: int, n: int, seed: int | list[int], no_zero_column: bool = False
) -> np.ndarray:
    """N random P of shape (k, n-k), reproducible from ``seed``.

    ``kind``: "int" (the course's integers in [-100, 100]), "real" (uniform in (-100, 100)) or
    "small" (integers in [-3, 3], where infinite heights and rank-deficient sets are common).
    """
    rng = np.random.default_rng(seed)
    out = np.empty((0, k, n - k))
    while out.shape[0] < N:
        if kind == "int":
            P = rng.integers(-100, 101, (N, k, n - k)).astype(np.float64)
        elif kind == "real":
            P = rng.uniform(-100, 100, (N, k, n - k))
        elif kind == "small":
            P = rng.integers(-3, 4, (N, k, n - k)).astype(np.float64)
        else:
            raise ValueError(kind)
        if no_zero_column:
            P = P[~np.all(P == 0, axis=1).any(axis=1)]
        out = np.concatenate([out, P])
    return out[:N]


@pytest.fixture
def draw() -> Callable[..., np.ndarray]:
    """``draw(kind, N, k, n, seed, no_zero_column=False)``: see :func:`draw_matrices`."""
    return draw_matrices


def check_heights(expected: np.ndarray, got: np.ndarray, rtol: float = 1e-9) -> None:
    """Same infinities, and finite heights equal to ``rtol`` relative."""
    expected, got = np.asarray(expected, dtype=float), np.asarray(got, dtype=float)
    assert expected.shape == got.shape
    inf_e, inf_g = np.isinf(expected), np.isinf(got)
    assert np.array_equal(inf_e, inf_g), f"infinities differ:\n{expected}\n{got}"
    fin = ~inf_e
    np.testing.assert_allclose(got[fin], expected[fin], rtol=rtol, atol=0)


@pytest.fixture
def same_heights() -> Callable[..., None]:
    """``same_heights(expected, got, rtol=1e-9)``: see :func:`check_heights`."""
    return check_heights
