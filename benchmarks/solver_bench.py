"""Throughput of the m-height methods on the 21 course groups, with analog-ecc-heights as anchor.

Every method sees the same seeded instances (integer P in [-100, 100]); each method's heights
are checked against the closed form (vertex) on them. Measured: instances/s per group and
overall (total instances / total time, equal counts per group) for vertex on one pinned core
and on two cores through Ray, the LP methods (with time per LP), the anchor's fastest Python
method and its C++ backend if built, and the peak RSS of 100,000-instance vertex batches (in a
subprocess). Targets are printed as PASS/FAIL lines; --json writes everything.

    .venv/bin/python benchmarks/solver_bench.py --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from math import comb

import numpy as np

from solver import m_heights

COURSE_GROUPS = [(n, k, m) for n in (9, 10) for k in (4, 5, 6) for m in range(2, n - k + 1)]
Group = tuple[int, int, int]
ANCHOR_METHOD = "h_m_roth_primal_combinatorial"  # its fastest Python method on this grid
TARGETS = {
    "vertex_ray2_overall": 40_000.0,
    "vertex_1core_overall": 24_000.0,
    "highs_over_pulp": 5.0,
    "memory_peak_gib": 2.0,
}


def instances(group: Group, N: int, seed: int) -> np.ndarray:
    """N course-style P for one group; a smaller N gives a prefix of a larger one."""
    n, k, m = group
    rng = np.random.default_rng([seed, n, k, m])
    return rng.integers(-100, 101, (N, k, n - k)).astype(np.float64)


def lp_count(method: str, group: Group) -> int:
    """LPs per matrix: m C(n,m) for Roth's LP, n(n-1) C(n-2,m-1) 2^m for Jiang's."""
    n, _, m = group
    return n * (n - 1) * comb(n - 2, m - 1) * 2**m if method == "jiang" else m * comb(n, m)


def mismatches(expected: np.ndarray, got: np.ndarray) -> int:
    """Instances whose heights differ (relative 1e-9, infinities must coincide)."""
    same_inf = np.isinf(expected) == np.isinf(got)
    with np.errstate(invalid="ignore"):
        close = np.isinf(expected) | (np.abs(got - expected) <= 1e-9 * np.abs(expected))
    return int((~(same_inf & close)).sum())


def time_groups(
    solve: Callable[[np.ndarray, Group], np.ndarray], data: dict[Group, np.ndarray], N: int
) -> tuple[dict[Group, float], dict[Group, np.ndarray]]:
    """Seconds and heights per group for the first N instances of each group."""
    seconds, heights = {}, {}
    for group, P in data.items():
        start = time.perf_counter()
        heights[group] = np.asarray(solve(P[:N], group), dtype=np.float64)
        seconds[group] = time.perf_counter() - start
    return seconds, heights


def vertex_single_core(data: dict[Group, np.ndarray], convention: str) -> dict[Group, float]:
    """Vertex on one pinned core, after a warm-up that builds the index tables."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        for group, P in data.items():
            m_heights(P[:16], group[2], convention=convention)
        N = len(next(iter(data.values())))
        seconds, _ = time_groups(lambda P, g: m_heights(P, g[2], convention=convention), data, N)
    finally:
        os.sched_setaffinity(0, cpus)
    return seconds


def _vertex_chunk(parts: list[tuple[int, np.ndarray]], convention: str) -> list[np.ndarray]:
    """One Ray task: heights of its slice of every group."""
    from solver import m_heights as heights

    return [heights(P, m, convention=convention) for m, P in parts]


def vertex_ray(data: dict[Group, np.ndarray], convention: str, workers: int = 2) -> float:
    """Seconds for all groups on ``workers`` Ray tasks, each taking a slice of every group.

    Workers are warmed up first (imports, index tables) and the slices are in the object store
    before the clock starts, so the time is the parallel solve.
    """
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    # address="local": a fresh Ray of its own, never a cluster already running on this machine.
    ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(_vertex_chunk)
        warm = [(g[2], P[:16]) for g, P in data.items()]
        ray.get([task.remote(warm, convention) for _ in range(workers)])
        slices = [
            ray.put([(g[2], np.array_split(P, workers)[w]) for g, P in data.items()])
            for w in range(workers)
        ]
        start = time.perf_counter()
        ray.get([task.remote(ref, convention) for ref in slices])
        return time.perf_counter() - start
    finally:
        ray.shutdown()


def memory_probe(N: int, seed: int, convention: str) -> int:
    """Peak RSS (bytes) of this process after a 100k-style vertex batch for every group."""
    for group in COURSE_GROUPS:
        m_heights(instances(group, N, seed), group[2], convention=convention)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def peak_rss(N: int, seed: int, convention: str) -> int:
    """Run :func:`memory_probe` in a fresh interpreter so the number is its own."""
    argv = [sys.executable, __file__, "--memory-probe", str(N), "--seed", str(seed)]
    out = subprocess.run(
        [*argv, "--convention", convention], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def anchor_solvers() -> dict[str, Callable[[np.ndarray, Group], np.ndarray]]:
    """analog-ecc-heights's fastest Python method, and its C++ build when one is installed."""
    try:
        import analog_ecc_heights as aeh
    except ImportError:
        return {}
    method = getattr(aeh, ANCHOR_METHOD)

    def run(backend: str, **options) -> Callable[[np.ndarray, Group], np.ndarray]:
        def solve(P: np.ndarray, group: Group) -> np.ndarray:
            eye = np.eye(group[1])
            return np.array(
                [method(np.hstack([eye, p]), group[2], backend=backend, **options) for p in P]
            )

        return solve

    solvers = {"anchor_py": run("python")}
    if "cpp" in aeh.available_backends():
        solvers["anchor_cpp"] = run("cpp", num_threads=1)
    return solvers


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--convention", choices=("exact", "skip-unbounded"), default="exact")
    p.add_argument("--vertex-n", type=int, default=20_000, help="instances per group")
    p.add_argument("--highs-n", type=int, default=20)
    p.add_argument("--pulp-n", type=int, default=4)
    p.add_argument("--jiang-n", type=int, default=1)
    p.add_argument("--jiang-max-lps", type=int, default=15_000, help="groups Jiang runs on")
    p.add_argument("--anchor-py-n", type=int, default=2)
    p.add_argument("--anchor-cpp-n", type=int, default=200)
    p.add_argument("--memory-n", type=int, default=100_000, help="batch size, 0 skips it")
    p.add_argument("--json", metavar="PATH", help="write all results as JSON")
    p.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def run_benchmark(args: argparse.Namespace) -> dict:
    """All measurements; returns the JSON-able results."""
    conv = args.convention
    counts = {
        "vertex": args.vertex_n,
        "highs": args.highs_n,
        "pulp": args.pulp_n,
        "jiang": args.jiang_n,
        "anchor_py": args.anchor_py_n,
        "anchor_cpp": args.anchor_cpp_n,
    }
    most = max(counts.values())
    data = {g: instances(g, most, args.seed) for g in COURSE_GROUPS}
    vertex_data = {g: P[: args.vertex_n] for g, P in data.items()}
    results: dict = {"groups": {str(g): {} for g in COURSE_GROUPS}, "overall": {}, "mismatch": {}}

    def record(name: str, seconds: dict[Group, float], n_each: int, lp: str | None = None):
        for g, s in seconds.items():
            row = results["groups"][str(g)]
            row[name] = rate(n_each, s)
            if lp:
                row[f"{name}_us_per_lp"] = 1e6 * s / (n_each * lp_count(lp, g))
        total = sum(seconds.values())
        results["overall"][name] = rate(n_each * len(seconds), total)
        if lp:
            lps = n_each * sum(lp_count(lp, g) for g in seconds)
            results["overall"][f"{name}_us_per_lp"] = 1e6 * total / lps

    print(f"vertex, one core: {args.vertex_n} instances per group ...", flush=True)
    record("vertex_1core", vertex_single_core(vertex_data, conv), args.vertex_n)
    print("vertex, two cores through Ray ...", flush=True)
    seconds = vertex_ray(vertex_data, conv)
    results["overall"]["vertex_ray2"] = rate(args.vertex_n * len(COURSE_GROUPS), seconds)

    reference_n = max(v for k, v in counts.items() if k != "vertex")
    reference = {
        c: {g: m_heights(P[:reference_n], g[2], convention=c) for g, P in data.items()}
        for c in {conv, "exact"}
    }

    def lp_method(name: str) -> Callable[[np.ndarray, Group], np.ndarray]:
        return lambda P, g: m_heights(P, g[2], method=name, convention=conv)

    jiang_groups = [g for g in COURSE_GROUPS if lp_count("jiang", g) <= args.jiang_max_lps]
    runs = [(name, lp_method(name), COURSE_GROUPS, name, conv) for name in ("highs", "pulp")]
    runs.append(("jiang", lp_method("jiang"), jiang_groups, "jiang", conv))
    # The anchor has the exact convention (+inf when m >= d).
    runs += [(name, f, COURSE_GROUPS, None, "exact") for name, f in anchor_solvers().items()]
    for name, solve, groups, lp, ref_conv in runs:
        if counts[name] == 0 or not groups:
            continue  # switched off with --NAME-n 0
        print(f"{name}: {counts[name]} instances per group on {len(groups)} groups ...", flush=True)
        solve(data[groups[0]][:1], groups[0])  # warm-up: imports, solver start-up
        subset = {g: data[g] for g in groups}
        seconds, heights = time_groups(solve, subset, counts[name])
        record(name, seconds, counts[name], lp)
        results["mismatch"][name] = sum(
            mismatches(reference[ref_conv][g][: counts[name]], h) for g, h in heights.items()
        )

    if args.memory_n:
        print(f"peak RSS of {args.memory_n}-instance vertex batches (subprocess) ...", flush=True)
        results["memory_peak_bytes"] = peak_rss(args.memory_n, args.seed, conv)
    results["config"] = {
        **vars(args),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "anchor_method": ANCHOR_METHOD,
    }
    return results


def targets(results: dict) -> list[tuple[str, bool, str]]:
    """(name, passed, detail) for each target that was measured."""
    o = results["overall"]
    out = [
        (
            "vertex >= 40,000 inst/s on 2 cores (Ray)",
            o["vertex_ray2"] >= TARGETS["vertex_ray2_overall"],
            f"{o['vertex_ray2']:,.0f}/s",
        ),
        (
            "vertex >= 24,000 inst/s on 1 core",
            o["vertex_1core"] >= TARGETS["vertex_1core_overall"],
            f"{o['vertex_1core']:,.0f}/s",
        ),
        (
            "highs >= 5x faster per instance than pulp",
            o["highs"] >= TARGETS["highs_over_pulp"] * o["pulp"],
            f"{o['highs'] / o['pulp']:.1f}x",
        ),
    ]
    if "memory_peak_bytes" in results:
        gib = results["memory_peak_bytes"] / 2**30
        name = f"peak RSS of {results['config']['memory_n']:,}-instance vertex batches < 2 GiB"
        out.append((name, gib < TARGETS["memory_peak_gib"], f"{gib:.2f} GiB"))
    out.append(
        (
            "every method agrees with vertex",
            not any(results["mismatch"].values()),
            str(results["mismatch"]),
        )
    )
    return out


def print_table(results: dict) -> None:
    cols = ["vertex_1core", "highs", "highs_us_per_lp", "pulp", "pulp_us_per_lp", "jiang"]
    cols += ["jiang_us_per_lp", "anchor_py", "anchor_cpp"]
    cols = [c for c in cols if any(c in row for row in results["groups"].values())]
    print(
        "\ninstances/s per group (us_per_lp: microseconds per LP of the formulation; highs "
        "solves fewer, skipping LPs that weak duality bounds)"
    )
    print(f"{'group':<12}" + "".join(f"{c:>16}" for c in cols))
    for g, row in results["groups"].items():
        print(f"{g:<12}" + "".join(f"{row[c]:>16,.1f}" if c in row else f"{'-':>16}" for c in cols))
    print(
        f"{'overall':<12}"
        + "".join(f"{results['overall'].get(c, float('nan')):>16,.1f}" for c in cols)
    )
    print(f"vertex on 2 cores (Ray), overall: {results['overall']['vertex_ray2']:,.0f}/s\n")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.memory_probe is not None:
        print(memory_probe(args.memory_probe, args.seed, args.convention))
        return
    results = run_benchmark(args)
    print_table(results)
    results["targets"] = []
    for name, passed, detail in targets(results):
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
        results["targets"].append({"target": name, "passed": passed, "value": detail})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=float)


if __name__ == "__main__":
    main()
