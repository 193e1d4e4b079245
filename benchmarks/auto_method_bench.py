"""Does ``method="auto"`` pick the faster exact method? Times vertex and highs per shape.

For each (n, k, m), both methods label the same seeded integer P in [-100, 100] (after one
warm-up matrix, so the closed form's cached index tables are not charged to the batch); the
script prints ms per matrix, auto's choice and the faster one, checks that both methods agree,
and ends with a PASS/FAIL line. The shapes are where the cost model of solver.api is closest to
a tie (plus course sizes and m = n - k as controls).

    .venv/bin/python benchmarks/auto_method_bench.py [--matrices 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from solver import m_heights
from solver.api import method_seconds, resolve_method

SHAPES = [
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
]


def ms_per_matrix(method: str, P: np.ndarray, m: int) -> tuple[float, np.ndarray]:
    m_heights(P[:1], m, method=method)  # warm-up
    start = time.perf_counter()
    heights = m_heights(P, m, method=method)
    return 1e3 * (time.perf_counter() - start) / len(P), heights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrices", type=int, default=10, help="matrices per shape")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'shape':<14}{'vertex ms':>11}{'highs ms':>11}{'model ratio':>13}  auto    faster")
    wrong = []
    for n, k, m in SHAPES:
        rng = np.random.default_rng([args.seed, n, k, m])
        P = rng.integers(-100, 101, (args.matrices, k, n - k)).astype(np.float64)
        t_vertex, h_vertex = ms_per_matrix("vertex", P, m)
        t_highs, h_highs = ms_per_matrix("highs", P, m)
        if not np.allclose(h_vertex, h_highs, rtol=1e-9, atol=0):
            raise SystemExit(f"vertex and highs disagree on {(n, k, m)}")
        auto = resolve_method("auto", n, k, m)
        faster = "vertex" if t_vertex <= t_highs else "highs"
        # A choice within 25% of the faster time is a tie, not a wrong pick.
        if auto != faster and min(t_vertex, t_highs) * 1.25 < max(t_vertex, t_highs):
            wrong.append((n, k, m))
        ratio = method_seconds("highs", n, k, m) / method_seconds("vertex", n, k, m)
        shape = str((n, k, m))
        print(f"{shape:<14}{t_vertex:>11.2f}{t_highs:>11.2f}{ratio:>13.2f}  {auto:<8}{faster}")
    claim = "auto picks the faster method (or one within 25%)"
    print(f"\nFAIL  {claim}: {wrong}" if wrong else f"\nPASS  {claim}")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
