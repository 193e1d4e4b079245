"""Validation and method dispatch: the one entry point every caller (CLI, Ray task, test) uses."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from math import comb

import numpy as np

from pipeline.contract import InputError

CONVENTIONS = ("exact", "skip-unbounded")
METHODS = ("auto", "pruned", "vertex", "vertex-torch", "highs", "pulp", "jiang")
CLOSED_FORMS = ("pruned", "vertex", "vertex-torch")
LP_METHODS = ("highs", "pulp", "jiang")
# Nonzero entries of P that each family certifies. The closed forms work with minors of size
# s <= 12 in float64 (1e24^12 * 12! < 1e308, 1e-24^12 > 1e-308); the LP methods hand P to HiGHS,
# whose tolerances (1e-7 absolute, next to the identity's ones) cannot separate entries far
# from 1: beyond this range they would return +inf or an error, so the input is refused instead.
CLOSED_FORM_RANGE = (1e-24, 1e24)
# The closed forms keep every basis's pair values of a chunk in memory: C(21, 11) x 22 floats
# (62 MB) per matrix at n = 22; beyond it only the LP methods run.
CLOSED_FORM_MAX_N = 22
LP_RANGE = (1e-6, 1e6)


def check_options(method: str, convention: str) -> None:
    """Raise InputError for a method or convention this module does not know (one place: the
    CLIs call it before any work, and every entry point below through it)."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if convention not in CONVENTIONS:
        choices = ", ".join(CONVENTIONS)
        raise InputError(f"unknown convention {convention!r}; choose from {choices}")


def _as_batch(P: np.ndarray | list) -> np.ndarray:
    arr = np.asarray(P, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(f"P must have shape (k, n-k) or (N, k, n-k), got {arr.shape}")
    if arr.shape[1] < 1 or arr.shape[2] < 1:
        raise InputError(f"P must have k >= 1 rows and n-k >= 1 columns, got {arr.shape[1:]}")
    if not np.isfinite(arr).all():
        raise InputError("P contains NaN or infinite entries")
    return arr


def in_range(P: np.ndarray, limits: tuple[float, float]) -> bool:
    """True when every nonzero matrix of the batch has max |P_ij| within ``limits``.

    Only the scale counts: entries far below a matrix's largest one act as the near-zeros they
    are (real P: within the input noise; integer P: every nonzero entry is >= 1).
    """
    scale = np.abs(P).max(axis=(-2, -1))
    scale = scale[scale > 0]
    return bool(scale.size == 0 or (scale.min() >= limits[0] and scale.max() <= limits[1]))


def check_range(P: np.ndarray, method: str) -> None:
    """Refuse P outside what ``method`` certifies (one line naming the limit)."""
    family, limits = (
        ("LP methods", LP_RANGE) if method in LP_METHODS else ("closed form", CLOSED_FORM_RANGE)
    )
    if not in_range(P, limits):
        lo, hi = limits
        raise InputError(
            f"method {method}: max |P_ij| of each nonzero P must lie in [{lo:g}, {hi:g}] "
            f"(the {family} certified range); "
            + ("use --method pruned" if method in LP_METHODS else "rescale P")
        )


def validate(P: np.ndarray | list, m: int, convention: str = "exact") -> np.ndarray:
    """Return P as a float64 batch (N, k, n-k) after checking m and the convention."""
    batch = _as_batch(P)
    k, r = batch.shape[1:]
    n = k + r
    if not 1 <= int(m) <= n - 1:
        raise InputError(f"m={m} is out of range: need 1 <= m <= n-1 = {n - 1} (n={n}, k={k})")
    check_options("auto", convention)
    return batch


# Each method lives in its own module, imported on first use so LP back-ends load only when asked.
_METHOD_MODULES = {
    "pruned": "solver.pruned",
    "vertex": "solver.vertex",
    "vertex-torch": "solver.torch_backend",
    "highs": "solver.lp_highs",
    "pulp": "solver.lp_pulp",
    "jiang": "solver.jiang",
}


def _method(name: str) -> Callable[[np.ndarray, int, str], np.ndarray]:
    return importlib.import_module(_METHOD_MODULES[name]).heights


# Cost model for "auto" and for sizing mh-gen's shards: seconds per matrix on one core of the
# test machine, fitted to timings of benchmarks/solver_scaling.py (integer P in [-100, 100]).
# vertex: VALUE_S per gathered value (minors, the sums T(S) over (k+1)-sets, pair values, its
# cover of every (a, Y, B)). pruned (solver.pair_search, by the search it picks): MINOR_S per
# product of the row expansion (twice where int64 minors need a float estimate); m = n - k then
# reads each (k+1)-set's k-subsets once (LARGEST_S each); the table and the primal search sum
# T(S) (SUM_S per term); the m = 2 table updates n - k cells per pair value (TABLE_S each); the
# walks of m <= 2 cost WALK_S per cofactor k (n - k) times n m (n walks of a few exchanges, then
# k drops per column), plus PASS_S per minor for the passes over them outside the search; the
# primal search costs PRIMAL_S per cofactor of every basis times k (it visits 30-70% of them and
# tests vertices of k terms). Fitted by non-negative least squares on relative error (SUM_S held
# at its measured size) to the 69 shapes, the walk terms to 23 shapes with m = 1, 2 (n = 9..20,
# within 0.63-1.37x there): within 0.56-1.29x of the measured rates at all 69.
VALUE_S = 4e-9
MINOR_S = 0.8e-9
SUM_S = 0.4e-9
LARGEST_S = 0.55e-9
TABLE_S = 0.42e-9
WALK_S = 8e-9
PASS_S = 5.4e-9
PRIMAL_S = 0.2e-9
MATRIX_S = 1.6e-6  # fixed cost per matrix (chunking, Python per chunk)
# One solved HiGHS LP with its certificate bookkeeping at n = 12, growing as n^LP_POWER
# (measured 0.20 ms at n = 12, 0.29 at 16 and 17, 0.36 at 19, 0.43 at 20; k = n/2, m = 2, 3).
LP_SOLVE_S = 2e-4
LP_POWER = 1.4
# Beyond this many gathered values per matrix vertex's index tables outgrow memory.
VERTEX_MAX_UNITS = 50_000_000
# vertex builds its tables with Python loops (6 s at n = 16, k = 8, once per worker process):
# auto takes it only where they are small, C(n, k) (n - k) pairs at most this many.
VERTEX_AUTO_MAX_PAIRS = 50_000


def vertex_cost(n: int, k: int, m: int) -> int:
    """Values the closed form gathers per matrix: T(S), pair values, then min over B in Y."""
    pairs = comb(n, k) * (n - k)
    cover = n * comb(n - 1, n - m) * comb(n - m, k) if n - m > k else 0
    return pairs * 3 + cover


def minor_terms(k: int, r: int) -> int:
    """Multiply-adds of the Laplace sweep over all square minors of a k x r matrix."""
    return sum(comb(k, s) * comb(r, s) * s for s in range(1, min(k, r) + 1))


@cache
def minor_passes(k: int, r: int) -> int:
    """Sweeps of the minors for P in [-100, 100] (the kind solver.pruned.exact_kind gives the
    largest such P): one in float64 or int64, two where int64 wraps and a float estimate fixes
    it (the compiled kernel does both in one loop of twice the work)."""
    from solver.pruned import exact_kind

    kind = exact_kind(np.full((1, k, r), 100.0), min(k, r))
    return 1 if kind in ("float", "int64") else 2


def pruned_seconds(n: int, k: int, m: int) -> float:
    """Expected seconds per matrix of the pruned closed form (see the constants above)."""
    if n - m < k:
        return MATRIX_S
    r = n - k
    pairs = comb(n, k) * r
    cost = MATRIX_S + MINOR_S * minor_terms(k, r) * minor_passes(k, r)
    search = _pruned_search(n, k, m)
    if search == "largest":
        return cost + LARGEST_S * comb(n, k + 1) * (k + 1)
    if search == "walk":
        return cost + WALK_S * n * k * r * m + PASS_S * comb(n, k)
    cost += SUM_S * comb(n, k + 1) * (k + 1)  # the sums T(S)
    if search == "table":
        return cost + TABLE_S * pairs * r
    return cost + PRIMAL_S * comb(n, k) * k * k * r


def _pruned_search(n: int, k: int, m: int) -> str:
    """solver.pair_search.search by name. Where numba is missing pruned runs its numpy fallback,
    which the model does not describe; it is priced as the compiled searches all the same."""
    try:
        from solver import pair_search
    except ImportError:
        return "largest" if m == n - k else "walk" if m <= 2 else "primal"
    return ("largest", "table", "walk", "primal")[pair_search.search(n, k, m)]


def vertex_seconds(n: int, k: int, m: int) -> float:
    """Expected seconds per matrix of vertex (no pruning)."""
    if n - m < k:
        return MATRIX_S
    return MATRIX_S + VALUE_S * (minor_terms(k, n - k) + vertex_cost(n, k, m))


def highs_lps(n: int, k: int, m: int) -> float:
    """Expected LPs HiGHS solves per matrix.

    Weak-duality certificates (solver.dual_bounds) leave about n + m C(n, m) / 16 of the
    m C(n, m) LPs to solve, but a third of them at m = n - k, where every Y is one basis and a
    certificate closes one LP only (measured for n = 9..18).
    """
    lps = m * comb(n, m)
    return min(lps, lps / 3 if m == n - k else n + lps / 16)


def highs_seconds(n: int, k: int, m: int) -> float:
    """Expected seconds per matrix of the HiGHS method."""
    return LP_SOLVE_S * (n / 12) ** LP_POWER * highs_lps(n, k, m)


def method_seconds(method: str, n: int, k: int, m: int) -> float:
    """Expected seconds per matrix on one core; LP methods other than highs are far slower."""
    if method in ("pruned", "vertex-torch"):
        return pruned_seconds(n, k, m)
    if method == "vertex":
        return vertex_seconds(n, k, m)
    if method == "highs":
        return highs_seconds(n, k, m)
    if method == "pulp":
        return 30 * highs_seconds(n, k, m)
    return 5 * LP_SOLVE_S * n * (n - 1) * comb(n - 2, m - 1) * 2**m  # jiang: every tuple LP


def resolve_method(method: str, n: int, k: int, m: int) -> str:
    """Map ``auto`` to the exact method the cost model expects to be fastest for (n, k, m)."""
    check_options(method, "exact")
    if method != "auto":
        return method
    if n > CLOSED_FORM_MAX_N:
        return "highs"
    best = "pruned"
    if highs_seconds(n, k, m) < pruned_seconds(n, k, m):  # m = 2 at n = 20, k = 10
        best = "highs"
    # vertex gives the same floats as pruned; it keeps the shapes where it is about as fast
    # (the course grid), so datasets made before pruned existed resume with the same plan.
    small = comb(n, k) * (n - k) <= VERTEX_AUTO_MAX_PAIRS
    if (
        small
        and vertex_cost(n, k, m) <= VERTEX_MAX_UNITS
        and vertex_seconds(n, k, m) <= 1.25 * (method_seconds(best, n, k, m))
    ):
        return "vertex"
    return best


def m_heights(
    P: np.ndarray | list, m: int, *, method: str = "auto", convention: str = "exact"
) -> np.ndarray:
    """m-heights of a batch of codes G = [I_k | P_i]; P has shape (N, k, n-k). +inf allowed."""
    batch = validate(P, m, convention)
    k, r = batch.shape[1:]
    name = resolve_method(method, k + r, k, int(m))
    if batch.shape[0] == 0:
        return np.empty(0)
    if method == "auto" and name in LP_METHODS and not in_range(batch, LP_RANGE):
        name = "pruned"  # the closed form certifies a wider range than the LP solver
    check_range(batch, name)
    if name in CLOSED_FORMS and k + r > CLOSED_FORM_MAX_N:
        raise InputError(
            f"method {name} handles n <= {CLOSED_FORM_MAX_N} (memory), got n = {k + r}; "
            "use --method highs"
        )
    out = _method(name)(batch, int(m), convention)
    # A finite m-height is >= 1 (h_0 = 1 and h_m grows with m). A smaller value means that every
    # LP counted had a tiny optimum: some Y is rank-deficient (skip-unbounded with an all-zero
    # P gives 0) or, for jiang, a zero column hides codewords. The height is then +inf.
    out[out < 1.0 - 1e-9] = np.inf
    return out


def m_height(
    P: np.ndarray | list, m: int, *, method: str = "auto", convention: str = "exact"
) -> float:
    """m-height of one code G = [I_k | P], P of shape (k, n-k)."""
    arr = np.asarray(P, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"P must have shape (k, n-k), got {arr.shape}")
    return float(m_heights(arr, m, method=method, convention=convention)[0])


def witness(P: np.ndarray | list, m: int) -> np.ndarray | None:
    """A codeword c = u^T G with h_m(c) equal to the exact m-height, or None when that is +inf."""
    from solver import pruned

    arr = np.asarray(P, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"P must have shape (k, n-k), got {arr.shape}")
    batch = validate(arr, m)
    check_range(batch, "pruned")
    return pruned.witness(batch[0], int(m))
