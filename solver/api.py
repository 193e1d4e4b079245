"""Validation and method dispatch: the one entry point every caller (CLI, Ray task, test) uses."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from math import comb

import numpy as np

CONVENTIONS = ("exact", "skip-unbounded")
METHODS = ("auto", "vertex", "highs", "pulp", "jiang")


class InvalidInstance(ValueError):
    """Raised for inputs that do not describe a code and an m (bad shape, m range, NaN/inf)."""


def _as_batch(P: np.ndarray | list) -> np.ndarray:
    arr = np.asarray(P, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InvalidInstance(f"P must have shape (k, n-k) or (N, k, n-k), got {arr.shape}")
    if arr.shape[1] < 1 or arr.shape[2] < 1:
        raise InvalidInstance(f"P must have k >= 1 rows and n-k >= 1 columns, got {arr.shape[1:]}")
    if not np.isfinite(arr).all():
        raise InvalidInstance("P contains NaN or infinite entries")
    return arr


def validate(P: np.ndarray | list, m: int, convention: str = "exact") -> np.ndarray:
    """Return P as a float64 batch (N, k, n-k) after checking m and the convention."""
    batch = _as_batch(P)
    k, r = batch.shape[1:]
    n = k + r
    if not 1 <= int(m) <= n - 1:
        raise InvalidInstance(f"m={m} is out of range: need 1 <= m <= n-1 = {n - 1} (n={n}, k={k})")
    if convention not in CONVENTIONS:
        raise InvalidInstance(f"unknown convention {convention!r}; choose from {CONVENTIONS}")
    return batch


# Each method lives in its own module, imported on first use so LP back-ends load only when asked.
_METHOD_MODULES = {
    "vertex": "solver.vertex",
    "highs": "solver.lp_highs",
    "pulp": "solver.lp_pulp",
    "jiang": "solver.jiang",
}


def _method(name: str) -> Callable[[np.ndarray, int, str], np.ndarray]:
    return importlib.import_module(_METHOD_MODULES[name]).heights


# Cost model for "auto", in units of one gathered value of the closed form (measured here:
# ~2e8/s on one core). One solved HiGHS LP with its certificate bookkeeping costs ~200 us, i.e.
# ~4e4 units. benchmarks/auto_method_bench.py checks the resulting choices against timings.
LP_SOLVE_UNITS = 40_000
# Beyond this many gathered values per matrix the closed form's index tables outgrow memory.
VERTEX_MAX_UNITS = 50_000_000


def vertex_cost(n: int, k: int, m: int) -> int:
    """Values the closed form gathers per matrix: Cramer numerators, then min over B in Y."""
    pairs = comb(n, k) * (n - k)
    cover = n * comb(n - 1, n - m) * comb(n - m, k) if n - m > k else 0
    return pairs * k + cover


def highs_cost(n: int, k: int, m: int) -> float:
    """Expected cost of the HiGHS method per matrix, in closed-form units.

    Weak-duality certificates (solver.dual_bounds) leave about n + m C(n, m) / 16 of the
    m C(n, m) LPs to solve, but a third of them at m = n - k, where every Y is one basis and a
    certificate closes one LP only (measured for n = 9..18).
    """
    lps = m * comb(n, m)
    solved = lps / 3 if m == n - k else n + lps / 16
    return LP_SOLVE_UNITS * min(lps, solved)


def resolve_method(method: str, n: int, k: int, m: int) -> str:
    """Map ``auto`` to the cheaper exact method by the cost model above: the closed form on
    every course-sized code, HiGHS on large codes with small m."""
    if method not in METHODS:
        raise InvalidInstance(f"unknown method {method!r}; choose from {METHODS}")
    if method != "auto":
        return method
    if n - m < k:  # every Y is rank-deficient: the closed form answers without any work
        return "vertex"
    cost = vertex_cost(n, k, m)
    if cost <= VERTEX_MAX_UNITS and cost <= highs_cost(n, k, m):
        return "vertex"
    return "highs"


def m_heights(
    P: np.ndarray | list, m: int, *, method: str = "auto", convention: str = "exact"
) -> np.ndarray:
    """m-heights of a batch of codes G = [I_k | P_i]; P has shape (N, k, n-k). +inf allowed."""
    batch = validate(P, m, convention)
    k, r = batch.shape[1:]
    name = resolve_method(method, k + r, k, int(m))
    if batch.shape[0] == 0:
        return np.empty(0)
    return _method(name)(batch, int(m), convention)


def m_height(
    P: np.ndarray | list, m: int, *, method: str = "auto", convention: str = "exact"
) -> float:
    """m-height of one code G = [I_k | P], P of shape (k, n-k)."""
    arr = np.asarray(P, dtype=np.float64)
    if arr.ndim != 2:
        raise InvalidInstance(f"P must have shape (k, n-k), got {arr.shape}")
    return float(m_heights(arr, m, method=method, convention=convention)[0])


def witness(P: np.ndarray | list, m: int) -> np.ndarray | None:
    """A codeword c = u^T G with h_m(c) equal to the exact m-height, or None when that is +inf."""
    from solver import vertex

    arr = np.asarray(P, dtype=np.float64)
    if arr.ndim != 2:
        raise InvalidInstance(f"P must have shape (k, n-k), got {arr.shape}")
    return vertex.witness(validate(arr, m)[0], int(m))
