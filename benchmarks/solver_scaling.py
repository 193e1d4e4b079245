"""Scaling of the exact labelling to n = 20: ours (auto) against the anchor, one thread each.

For every shape (n = 9..20, k in {4, n/2}, m in {2, the middle, n-k}) both solvers label the
same seeded integer P in [-100, 100]; rates are matrices per CPU-second of the process
(time.process_time, so other load on the machine inflates them less than wall time would).
The anchor is analog-ecc-heights' C++ backend (the optional ``bench`` extra), its fastest
exact method per shape among a few (picked on 3 matrices, then timed on doubling batches up
to one CPU-second), one thread, in a subprocess with a time limit; when it is not installed
the anchor columns are empty. Heights must agree where both finish.
Prints a Markdown table (shape, both rates, ratio, fraction pruned) and PASS/FAIL lines for
the issue-12 targets; --json writes everything.

    .venv/bin/python benchmarks/solver_scaling.py [--max-n 20] [--anchor-timeout 8] [--json F]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from solver import m_heights, pair_search
from solver.api import method_seconds, resolve_method

ANCHOR_METHODS = (
    "h_m_roth_primal_combinatorial_pruning",
    "h_m_roth_primal_combinatorial",
    "h_m_roth_dual_combinatorial_generator",
)
# The anchor's child process: each method on the first `pick` matrices, then the fastest on
# doubling batches until `budget` CPU-seconds; prints its progress as JSON after every step, so a
# parent that stops it at its time limit still reads the last complete measurement.
ANCHOR_SCRIPT = r"""
import json, sys, time
import numpy as np
import analog_ecc_heights as aeh
if "cpp" not in aeh.available_backends():
    print(json.dumps({"error": "no cpp backend"})); sys.exit(0)
m, methods, P, pick, budget = json.loads(sys.stdin.read())
P = np.array(P, dtype=float)
k = P.shape[1]
def timed(f, P):
    start = time.process_time()
    h = [f(np.hstack([np.eye(k), p]), m, backend="cpp", num_threads=1) for p in P]
    return {"seconds": time.process_time() - start, "heights": [float(x) for x in h]}
out = {"pick": {}}
for name in methods:
    out["pick"][name] = timed(getattr(aeh, name), P[:pick])
    print(json.dumps(out), flush=True)
name = min(out["pick"], key=lambda x: out["pick"][x]["seconds"])
N, spent = pick, out["pick"][name]["seconds"]
while spent < budget and N < len(P):
    N = min(2 * N, len(P))
    out["timed"] = {"method": name, "matrices": N, **timed(getattr(aeh, name), P[:N])}
    spent = out["timed"]["seconds"]
    print(json.dumps(out), flush=True)
"""


def shapes(max_n: int) -> list[tuple[int, int, int]]:
    out = []
    for n in range(9, max_n + 1):
        for k in sorted({4, n // 2}):
            r = n - k
            for m in sorted({2, r // 2 + 1, r}):
                if 1 <= m <= r:
                    out.append((n, k, m))
    return out


def instances(n: int, k: int, m: int, N: int) -> np.ndarray:
    rng = np.random.default_rng([12, n, k, m])
    return rng.integers(-100, 101, (N, k, n - k)).astype(np.float64)


def ours(n: int, k: int, m: int, budget_s: float) -> dict:
    """Matrices per CPU-second of auto, after a warm-up matrix (tables), doubling the batch
    until it takes ``budget_s``; and the share of pair values (B, a) the search never examined
    after making them (solver.pair_search.last_stats)."""
    P = instances(n, k, m, 4096)
    method = resolve_method("auto", n, k, m)
    start = time.process_time()
    m_heights(P[:1], m)
    tables_s = time.process_time() - start
    N = 1
    while True:
        pair_search.last_stats[:] = 0
        start = time.process_time()
        h = m_heights(P[:N], m)
        spent = time.process_time() - start
        if spent >= budget_s or N >= 4096:
            break
        N *= 2
    pairs, examined = pair_search.last_stats
    share = 1 - examined / pairs if pairs and method == "pruned" else None
    return {"method": method, "rate": N / spent, "matrices": N, "heights": h.tolist(),
            "pruned": share, "first_call_s": tables_s}  # fmt: skip


def anchor(n: int, k: int, m: int, args: argparse.Namespace) -> dict | None:
    """The anchor's fastest method (picked on the first ``args.anchor_pick`` matrices), timed on
    up to ``args.anchor_matrices`` of them within ``args.anchor_budget`` CPU-seconds; None if not
    one method finished the pick within ``args.anchor_timeout`` wall seconds. A rate from 3 matrices
    moved 2x between runs at fast shapes (the first (18, 4, 14) read 1,322/s, then 605/s, and
    396/s over 37 matrices), hence the doubling batches."""
    P = instances(n, k, m, args.anchor_matrices)
    payload = json.dumps(
        [m, list(ANCHOR_METHODS), P.tolist(), args.anchor_pick, args.anchor_budget]
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", ANCHOR_SCRIPT], input=payload, capture_output=True,
            text=True, timeout=args.anchor_timeout,
        )  # fmt: skip
        lines = done.stdout.strip().splitlines()
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        lines = out.strip().splitlines()
    if not lines:
        return None
    results = json.loads(lines[-1])
    if "error" in results:
        return {"error": results["error"]}
    if "timed" in results:
        best = results["timed"]
    else:
        name, best = min(results["pick"].items(), key=lambda kv: kv[1]["seconds"])
        best = {"method": name, "matrices": args.anchor_pick, **best}
    rate = best["matrices"] / max(best["seconds"], 1e-9)
    return {"method": best["method"], "rate": rate, "matrices": best["matrices"],
            "heights": best["heights"]}  # fmt: skip


def anchor_available() -> bool:
    try:
        import analog_ecc_heights as aeh
    except ImportError:
        return False
    return "cpp" in aeh.available_backends()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-n", type=int, default=20)
    p.add_argument("--min-n", type=int, default=9)
    p.add_argument("--budget", type=float, default=0.5, help="CPU-seconds of ours per shape")
    p.add_argument("--anchor-pick", type=int, default=3, help="matrices to pick its method on")
    p.add_argument("--anchor-matrices", type=int, default=256, help="most matrices it is timed on")
    p.add_argument("--anchor-budget", type=float, default=1.0, help="its CPU-seconds per shape")
    p.add_argument("--anchor-timeout", type=float, default=8.0, help="wall seconds per shape")
    p.add_argument("--json", help="write all results here")
    args = p.parse_args()
    has_anchor = anchor_available()
    if not has_anchor:
        print("analog-ecc-heights with its cpp backend is not installed: anchor columns empty")
    rows, gave_up = [], set()
    print("| n | k | m | ours (method) /s | anchor /s (method) | ratio | pruned |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, k, m in shapes(args.max_n):
        if n < args.min_n:
            continue
        mine = ours(n, k, m, args.budget)
        theirs = None
        series = (k == 4, m == 2, m == n - k)
        if has_anchor and series not in gave_up:
            theirs = anchor(n, k, m, args)
            if theirs is None:
                gave_up.add(series)  # larger n of the same series would not finish either
        row = {"shape": (n, k, m), "ours": mine, "anchor": theirs,
               "model_s": method_seconds(mine["method"], n, k, m)}  # fmt: skip
        if theirs and "rate" in theirs:
            a = np.array(theirs["heights"])
            b = m_heights(instances(n, k, m, len(a)), m)
            if not np.allclose(a, b, rtol=1e-6, atol=0):
                raise SystemExit(f"ours and the anchor disagree on {(n, k, m)}: {a} vs {b}")
            row["ratio"] = mine["rate"] / theirs["rate"]
        rows.append(row)
        pr = f"{mine['pruned']:.2f}" if mine["pruned"] is not None else "-"
        an = "did not finish" if has_anchor else "-"
        if theirs and "rate" in theirs:
            an = f"{theirs['rate']:,.1f} ({theirs['method'].removeprefix('h_m_roth_')})"
        ratio = f"{row['ratio']:.1f}x" if "ratio" in row else "-"
        mine_s = f"{mine['rate']:,.1f} ({mine['method']})"
        print(f"| {n} | {k} | {m} | {mine_s} | {an} | {ratio} | {pr} |", flush=True)
    _verdicts(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1, default=str)
    return 0


def _verdicts(rows: list[dict]) -> None:
    """PASS/FAIL lines: >= 20x the anchor, and growth per +1 n no worse than the anchor's."""
    ratios = [(r["shape"], r["ratio"]) for r in rows if "ratio" in r]
    if not ratios:
        print("\nno shape finished by the anchor: ratio targets not checked")
        return
    low = [(s, round(x, 1)) for s, x in ratios if x < 20]
    print(f"\n{'PASS' if not low else 'FAIL'}  >= 20x the anchor at every shape it finishes"
          + (f": below at {low}" if low else ""))  # fmt: skip
    by_shape = {tuple(r["shape"]): r for r in rows}
    worse = []
    for (n, k, m), r in by_shape.items():
        if "ratio" not in r:
            continue
        k2 = 4 if k == 4 else (n + 1) // 2
        m2 = {2: 2, n - k: n + 1 - k2}.get(m, (n + 1 - k2) // 2 + 1)
        nxt = by_shape.get((n + 1, k2, m2))
        if nxt and "ratio" in nxt:
            ours_growth = r["ours"]["rate"] / nxt["ours"]["rate"]
            their_growth = r["anchor"]["rate"] / nxt["anchor"]["rate"]
            if ours_growth > their_growth * 1.1:
                worse.append(((n, k, m), round(ours_growth, 2), round(their_growth, 2)))
    print(f"{'PASS' if not worse else 'FAIL'}  growth per +1 n no worse than the anchor's"
          + (f" (10% slack): worse at (shape, ours, anchor) {worse}" if worse else ""))  # fmt: skip
    _series_growth(rows)


def _series_growth(rows: list[dict]) -> None:
    """The same target over each series (k = 4 or n/2; m = 2, middle, n - k): the growth per +1
    n of a log-linear fit over every n both finished, less noisy than single steps (the anchor's
    rates at the slowest shapes come from 3 matrices)."""
    series: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for r in rows:
        n, k, m = r["shape"]
        if "ratio" in r:
            key = ("k=4" if k == 4 else "k=n/2", {2: "m=2", n - k: "m=n-k"}.get(m, "middle m"))
            series.setdefault(key, []).append((n, r["ours"]["rate"], r["anchor"]["rate"]))
    worse = []
    for key, points in sorted(series.items()):
        if len(points) < 3:
            continue
        n, ours, theirs = (np.array(c, dtype=float) for c in zip(*points, strict=True))
        growth = [float(np.exp(-np.polyfit(n, np.log(rate), 1)[0])) for rate in (ours, theirs)]
        print(f"      {key[0]}, {key[1]}: ours x{growth[0]:.2f} per +1 n, anchor x{growth[1]:.2f}")
        if growth[0] > growth[1] * 1.02:
            worse.append(key)
    print(f"{'PASS' if not worse else 'FAIL'}  growth per +1 n by series (fit) no worse than the"
          " anchor's" + (f": worse for {worse}" if worse else ""))  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
