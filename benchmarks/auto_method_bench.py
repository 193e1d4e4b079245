"""Does ``method="auto"`` pick the fastest exact method? Times every closed form and highs.

For each (n, k, m), pruned, vertex, vertex-torch (on the CPU here) and highs label the same
seeded integer P in [-100, 100] (after one warm-up matrix, so cached index tables are not
charged to the batch; vertex is skipped where its tables outgrow memory); the script prints ms
of CPU time per matrix (each batch labelled repeatedly for at least 0.1 s), auto's choice and
the fastest, checks that all methods agree, and ends with a PASS/FAIL line (a choice within
25% of the fastest is a tie). The shapes are where the cost model of solver.api is closest to
a tie, plus course sizes and m = n - k as controls.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/auto_method_bench.py [--matrices 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from solver import m_heights
from solver.api import VERTEX_MAX_UNITS, resolve_method, vertex_cost

METHODS = ("pruned", "vertex", "vertex-torch", "highs")
SHAPES = [
    (9, 4, 2),
    (10, 5, 5),
    (10, 4, 4),
    (13, 5, 1),
    (14, 7, 1),
    (14, 7, 4),
    (16, 8, 1),
    (16, 8, 2),
    (16, 8, 4),
    (14, 7, 7),
    (16, 4, 6),
    (17, 7, 3),
    (18, 5, 2),
    (18, 9, 3),
    (20, 4, 2),
    (20, 10, 2),
]


def ms_per_matrix(
    method: str, P: np.ndarray, m: int, min_s: float = 0.1
) -> tuple[float, np.ndarray]:
    """CPU ms per matrix of labelling the batch P, the call repeated until it has taken
    ``min_s`` (one call of 10 small matrices takes well under a millisecond, where single
    timings moved 2x between runs)."""
    m_heights(P[:1], m, method=method)  # warm-up
    calls, spent = 0, 0.0
    start = time.process_time()
    while spent < min_s:
        heights = m_heights(P, m, method=method)
        calls += 1
        spent = time.process_time() - start
    return 1e3 * spent / (calls * len(P)), heights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrices", type=int, default=10, help="matrices per shape")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    head = "".join(f"{name + ' ms':>16}" for name in METHODS)
    print(f"{'shape':<14}{head}  auto          fastest")
    wrong = []
    for n, k, m in SHAPES:
        rng = np.random.default_rng([args.seed, n, k, m])
        P = rng.integers(-100, 101, (args.matrices, k, n - k)).astype(np.float64)
        times, heights = {}, {}
        for name in METHODS:
            if name == "vertex" and vertex_cost(n, k, m) > VERTEX_MAX_UNITS:
                continue
            times[name], heights[name] = ms_per_matrix(name, P, m)
        ref = heights["pruned"]
        for name, h in heights.items():
            if not np.allclose(h, ref, rtol=1e-9, atol=0):
                raise SystemExit(f"{name} and pruned disagree on {(n, k, m)}")
        auto = resolve_method("auto", n, k, m)
        fastest = min(times, key=times.get)
        # A choice within 25% of the fastest time is a tie, not a wrong pick.
        if times.get(auto, np.inf) > 1.25 * times[fastest]:
            wrong.append((n, k, m))
        cells = "".join(
            f"{times[name]:>16.2f}" if name in times else f"{'-':>16}" for name in METHODS
        )
        print(f"{str((n, k, m)):<14}{cells}  {auto:<14}{fastest}", flush=True)
    claim = "auto picks the fastest method (or one within 25%)"
    print(f"\nFAIL  {claim}: {wrong}" if wrong else f"\nPASS  {claim}")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
