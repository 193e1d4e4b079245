"""The compiled kernels behind ``pruned``: the minors, both searches and the hand-back of what
they cannot decide, each against the numpy level recursion (the method they replaced)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from random_codes import FAST, instances

from solver import minor_kernel, pair_search, pruned
from solver.lattice import minors, subsets


def _search(P: np.ndarray, m: int, convention: str, kind: int, monkeypatch) -> np.ndarray:
    """pair_search's heights by the given search (pair_search.TABLE, WALK or PRIMAL)."""
    n = sum(P.shape[1:])
    monkeypatch.setattr(pair_search, "search", lambda n, k, m: kind)
    dets, singular, integer, exact = pruned.signed_subset_dets(P)
    return pair_search.heights(
        dets, singular, integer, exact, n, P.shape[1], m, convention == "skip-unbounded"
    )


def _kinds(n: int, k: int, m: int) -> list[int]:
    """Every search that answers shape (n, k, m): the primal one always."""
    kinds = [pair_search.PRIMAL]
    if m <= 2:
        kinds.append(pair_search.WALK)
    if m == 2:
        kinds.append(pair_search.TABLE)
    if m == n - k:
        kinds.append(pair_search.LARGEST)
    return kinds


@FAST
@given(instances(9), st.sampled_from(["exact", "skip-unbounded"]))
def test_every_search_equals_the_level_recursion(case, convention):
    P, m = case
    n, k = sum(P.shape), P.shape[0]
    if n - m < k:  # +inf before any search
        return
    want = pruned.level_heights(P[None], m, convention)[0]
    for kind in _kinds(n, k, m):
        with pytest.MonkeyPatch.context() as patch:
            got = _search(P[None], m, convention, kind, patch)[0]
        if np.isnan(got):  # handed back: only where the kernel cannot decide exactly
            assert not np.array_equal(P, np.round(P)) or np.abs(P).max() > 1e6
            continue
        assert got == want, (P, m, kind, got, want)


@pytest.mark.parametrize(
    "n,k,m", [(12, 4, 2), (12, 4, 5), (12, 6, 3), (11, 5, 6), (13, 3, 1), (10, 5, 2), (11, 4, 7)]
)
@pytest.mark.parametrize("kind", ["int", "real", "tiny"])
def test_searches_match_on_larger_shapes(n, k, m, kind, monkeypatch):
    """P integer, real, or "tiny": entries in {-1, 0, 1}, whose zero cofactors stop most walks
    of m <= 2 and hand their columns to the scans."""
    rng = np.random.default_rng([n, k, m])
    P = rng.integers(-100, 101, (30, k, n - k)).astype(float)
    if kind == "real":
        P = rng.uniform(-100, 100, P.shape).astype(np.float32).astype(float)
    if kind == "tiny":
        P = rng.integers(-1, 2, P.shape).astype(float)
    want = pruned.level_heights(P, m)
    for search in _kinds(n, k, m):
        got = _search(P, m, "exact", search, monkeypatch)
        assert np.array_equal(got[~np.isnan(got)], want[~np.isnan(got)])
        assert np.isnan(got).sum() <= 1


def test_undecided_matrices_are_handed_back_and_solved():
    """Real P with a minor inside rounding noise: the kernel returns NaN, pruned still answers."""
    P = np.array([[[1.0, 2.0, 3.0], [2.0, 4.0 * (1 + 1e-15), 6.0 + 1e-14]]])
    dets, singular, integer, exact = pruned.signed_subset_dets(P)
    assert singular.any() and not integer[0]
    assert np.isnan(pair_search.heights(dets, singular, integer, exact, 5, 2, 1, False))[0]
    assert pruned.heights(P, 1)[0] == pruned.level_heights(P, 1)[0]


@pytest.mark.parametrize("k,r", [(1, 4), (3, 3), (4, 6), (6, 3)])
def test_compiled_minors_equal_determinants_with_their_signs(k, r):
    rng = np.random.default_rng([k, r])
    P = rng.integers(-9, 10, (3, k, r)).astype(float)
    n = k + r
    dets, singular, integer, exact = pruned.signed_subset_dets(P)
    assert integer.all() and exact.all()
    for i in range(3):
        G = np.hstack([np.eye(k), P[i]])
        for x, X in enumerate(subsets(n, k)):
            cols = [c for c in range(n) if X >> c & 1]
            assert dets[x, i] == pytest.approx(np.linalg.det(G[:, cols]), abs=1e-6)
        assert np.array_equal(singular[:, i], dets[:, i] == 0)


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_compiled_minors_equal_the_numpy_sweep_bit_for_bit(dtype):
    rng = np.random.default_rng(3)
    k, r = 5, 6
    P = rng.uniform(-1e6, 1e6, (4, k, r)).round().astype(dtype)
    tables = minors(k, r)
    flat = np.ascontiguousarray(P.reshape(4, k * r).T)
    with np.errstate(over="ignore"):
        want = pruned._laplace(flat, tables.steps)[tables.subset_minor]
        got = minor_kernel.subset_minors(P, signed=False)
    assert got.dtype == dtype
    assert np.array_equal(got.T, want)


def test_stats_count_pairs_and_examined_pairs(monkeypatch):
    P = np.random.default_rng(5).uniform(-100, 100, (10, 4, 8))  # no singular minor
    pair_search.last_stats[:] = 0
    _search(P, 5, "exact", pair_search.PRIMAL, monkeypatch)
    pairs, examined = pair_search.last_stats
    assert pairs == 10 * 495 * 8
    assert 0 < examined < pairs


@pytest.mark.parametrize("kind", ["int", "real", "huge", "wrapped"])
def test_without_numba_the_numpy_paths_give_the_same_floats(kind, monkeypatch):
    """Where numba is missing (the GPU check's machine) pruned falls back to numpy; every kind
    of minors (float, int64, int64 modulo 2^64 with an estimate, Python ints) agrees."""
    rng = np.random.default_rng(11)
    P = {
        "int": rng.integers(-100, 101, (20, 4, 6)).astype(float),
        "real": rng.uniform(-100, 100, (20, 4, 6)),
        "huge": rng.integers(-(10**9), 10**9, (20, 4, 6)).astype(float),
        "wrapped": rng.integers(-(10**4), 10**4, (10, 6, 6)).astype(float),
    }[kind]
    assert pruned.exact_kind(P, min(P.shape[1:])) == {"int": "float", "real": None,
        "huge": "object", "wrapped": "wrapped"}[kind]  # fmt: skip
    compiled = [pruned.signed_subset_dets(P), [pruned.heights(P, m) for m in (1, 2, 4, 6)]]
    monkeypatch.setattr(pruned, "compiled", lambda: None)
    numpy_only = [pruned.signed_subset_dets(P), [pruned.heights(P, m) for m in (1, 2, 4, 6)]]
    for a, b in zip(compiled[0], numpy_only[0], strict=True):
        assert np.array_equal(a, b)
    for a, b in zip(compiled[1], numpy_only[1], strict=True):
        assert np.array_equal(a, b)


def test_the_solver_imports_and_labels_where_numba_is_missing():
    """The GPU check runs on a machine with torch and numpy only."""
    script = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np\n"
        "from solver import m_heights\n"
        "P = np.random.default_rng(0).integers(-100, 101, (5, 4, 5)).astype(float)\n"
        "a, b = m_heights(P, 3, method='vertex-torch'), m_heights(P, 3, method='pruned')\n"
        "assert np.array_equal(a, b) and np.isfinite(a).all()\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


@pytest.mark.slow
def test_kernels_stay_in_bounds(tmp_path):
    """The compiled kernels index by hand: run every search (the m = 2 table at (6, 1) and
    (9, 4); the walks at (11, 5), (12, 3) and (13, 4), entries in [-3, 3] sending many of them to
    the fallback scans) under numba's bounds checks (a fresh cache, so they are compiled with
    the checks) against the level recursion."""
    script = (
        "import numpy as np\n"
        "from solver import pruned\n"
        "for n, k in [(6, 1), (7, 6), (9, 4), (11, 5), (12, 3), (13, 4)]:\n"
        "    rng = np.random.default_rng(n * k)\n"
        "    for P in (rng.integers(-3, 4, (20, k, n - k)).astype(float),\n"
        "              rng.uniform(-100, 100, (20, k, n - k))):\n"
        "        for m in range(1, n - k + 1):\n"
        "            for convention in ('exact', 'skip-unbounded'):\n"
        "                a = pruned.heights(P, m, convention)\n"
        "                b = pruned.level_heights(P, m, convention)\n"
        "                b[b == -np.inf] = np.inf\n"
        "                assert np.array_equal(a, b), (n, k, m, convention)\n"
    )
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", script], check=True, timeout=600, env=env)
