"""Weak-duality certificates (solver.dual_bounds) against brute force over the same bases.

The pivot formula must give exactly the certificates that solving G_B' y = g_a' for every basis
B' equal or adjacent to B would give, and every certificate must bound the LPs it closes: the
LP (a', Y) for each Y containing B' has an optimum (HiGHS) no larger than the threshold.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from roth_lps import roth_optima

from solver.dual_bounds import MARGIN, certificates
from solver.lp_common import generator


def brute_force(G: np.ndarray, basis: tuple[int, ...], limit: float) -> set[tuple[int, int]]:
    """(a', mask of B') with ||G_B'^{-1} g_a'||_1 <= limit, for B' = B and its neighbours."""
    k, n = G.shape
    neighbours = [basis] + [
        tuple(sorted(set(basis) - {i} | {j})) for i in basis for j in range(n) if j not in basis
    ]
    found = set()
    for B in neighbours:
        G_B = G[:, list(B)]
        if abs(np.linalg.det(G_B)) < 1e-9:
            continue
        for a in set(range(n)) - set(B):
            if np.abs(np.linalg.solve(G_B, G[:, a])).sum() <= limit:
                found.add((a, sum(1 << t for t in B)))
    return found


def certificate_set(G: np.ndarray, basis: tuple[int, ...], best: float) -> set[tuple[int, int]]:
    a_closed, masks = certificates(G, np.array(basis), best)
    return set(zip(a_closed.tolist(), masks.tolist(), strict=True))


@pytest.mark.parametrize("n,k", [(6, 3), (9, 4), (10, 6)])
def test_pivot_formula_matches_solving_every_neighbour(n, k, draw):
    for seed, P in enumerate(draw("real", 4, k, n, [n, k, 7])):
        G = generator(P)
        rng = np.random.default_rng(seed)
        basis = tuple(sorted(rng.choice(n, k, replace=False).tolist()))
        # A threshold between the bounds (not on one) so both sides of it are exercised.
        all_bounds = brute_force(G, basis, np.inf)
        norms = sorted(
            np.abs(np.linalg.solve(G[:, [t for t in range(n) if mask >> t & 1]], G[:, a])).sum()
            for a, mask in all_bounds
        )
        best = float(np.median(norms)) * (1 + 1e-6)
        got = certificate_set(G, basis, best)
        assert got == brute_force(G, basis, best * (1 + MARGIN))
        assert 0 < len(got) < len(all_bounds)


def test_singular_neighbours_give_no_certificate():
    # G's columns 0 and 2 are equal, so B' = {0, 2}, a neighbour of B = {0, 1}, is singular.
    G = generator(np.array([[1.0, 2.0, 0.5], [0.0, 1.0, 3.0]]))
    got = certificate_set(G, (0, 1), np.inf)
    assert not any(mask == 0b101 for _, mask in got)
    assert got == brute_force(G, (0, 1), np.inf)


def test_singular_basis_gives_nothing():
    P = np.array([[1.0, 2.0], [1.0, 2.0]])  # G columns 2 and 3 are parallel
    a_closed, masks = certificates(generator(P), np.array([2, 3]), np.inf)
    assert len(a_closed) == len(masks) == 0


@pytest.mark.parametrize("n,k,m", [(7, 3, 3), (9, 4, 4)])
@pytest.mark.parametrize("kind", ["int", "small"])
def test_certificates_bound_every_lp_they_close(n, k, m, kind, draw):
    for P in draw(kind, 3, k, n, [n, k, m, 3]):
        G = generator(P)
        optima = roth_optima(P, m)
        for basis in list(combinations(range(n), k))[::7]:
            if abs(np.linalg.det(G[:, list(basis)])) < 1e-9:
                continue
            best = float(np.median([v for v in optima.values() if np.isfinite(v)]))
            for a, mask in certificate_set(G, basis, best):
                for (a_lp, Y), value in optima.items():
                    if a_lp == a and all(t in Y for t in range(n) if mask >> t & 1):
                        assert value <= best * (1 + 1e-9), (a, Y, value, best)
