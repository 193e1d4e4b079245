"""Weak-duality certificates that let an LP method skip Roth LPs which cannot raise the height.

Roth's LP (a, Y) has the dual "min ||y||_1 s.t. G_Y y = g_a" (docs/MATH.md), so every
invertible k-subset B of Y gives the feasible dual y = G_B^{-1} g_a and the bound
LP(a, Y) <= ||G_B^{-1} g_a||_1; the LP is then also bounded, so no +inf can hide behind it. One
bound with value <= best therefore settles every LP (a, Y') with Y' containing B.

An LP solver hands us one optimal basis B per solved LP. W = G_B^{-1} G costs one k x k solve
and yields, for every a' outside B, the dual of (a', B) (column a' of W) and, by one simplex
pivot (row i of B leaves, column j enters), the duals of all k (n - k) neighbouring bases:

    t = W[i, a'] / W[i, j],   y' = W[:, a'] - t W[:, j] on B \\ {i},   y'_j = t.

Neighbours of an optimal basis are cheap near-optimal duals, which is why they prune so much.
Only the basis comes from the solver; every bound is recomputed from G. A bound counts when it
is at most ``best`` up to a relative MARGIN, so an LP it closes could have raised the height by
no more than that margin plus rounding.
"""

from __future__ import annotations

import numpy as np

# A certificate counts when its bound is <= best * (1 + MARGIN): an LP it closes exceeds best by
# at most that (plus rounding), far below HiGHS's own 1e-7 optimality tolerance.
MARGIN = 1e-12


def certificates(G: np.ndarray, basis: np.ndarray, best: float) -> tuple[np.ndarray, np.ndarray]:
    """(a', bitmask of B') for each basis B' equal or adjacent to ``basis`` that bounds LP(a', .).

    ``basis`` holds k column indices of G with G_B invertible. B' ranges over B itself and its
    neighbours B - i + j; a' over the columns outside B'. A pair (a', mask) proves
    LP(a', Y) <= best for every Y with a' not in Y that contains the columns in ``mask``.
    """
    k, n = G.shape
    try:
        W = np.linalg.solve(G[:, basis], G)  # (k, n): column a' = G_B^{-1} g_a'
    except np.linalg.LinAlgError:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int64)
    bits = np.int64(1) << basis.astype(np.int64)
    base_mask = bits.sum()
    in_basis = np.zeros(n, dtype=bool)
    in_basis[basis] = True
    entering = np.where(in_basis, 0.0, W)  # basis columns cannot enter
    limit = best * (1.0 + MARGIN)
    with np.errstate(divide="ignore", invalid="ignore"):
        # t[a', i, j] = W[i, a'] / W[i, j]: the entering value; inf where the pivot is zero.
        t = W.T[:, :, None] / entering[None, :, :]
        norms = np.abs(t) + np.abs(
            W.T[:, :, None, None] - entering[None, :, None, :] * t[:, None, :, :]
        ).sum(axis=1)
    norms[np.arange(n), :, np.arange(n)] = np.inf  # a' cannot enter its own basis
    # a' must lie outside B' = B - basis[i] + j: a' in B is allowed only as the leaving column.
    norms[in_basis[:, None] & (np.arange(n)[:, None] != basis[None, :])] = np.inf
    a_adj, i_adj, j_adj = np.nonzero(np.isfinite(norms) & (norms <= limit))
    a_base = np.flatnonzero((np.abs(W).sum(axis=0) <= limit) & ~in_basis)
    adjacent = base_mask - bits[i_adj] + (np.int64(1) << j_adj.astype(np.int64))
    return (
        np.concatenate([a_base, a_adj]),
        np.concatenate([np.full(len(a_base), base_mask, dtype=np.int64), adjacent]),
    )
