"""GPU check of method vertex-torch: same heights as the numpy closed form, row for row, and rates.

Needs torch, numpy and this repository only (no Ray, no highspy): solver/__init__ imports no
LP back-end. For each shape, seeded integer P in [-100, 100] (and real P for one shape) go
through ``vertex-torch`` on the device and ``pruned`` on one CPU core; both must be equal
(np.array_equal). A JSON summary goes to $OUT/gpu_label_check.json when OUT is set.

    python benchmarks/gpu_label_check.py [--seconds 150]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from solver import m_heights, torch_backend  # noqa: E402

SHAPES = [(10, 5, 3), (12, 6, 4), (14, 7, 4), (16, 8, 2), (16, 8, 4), (16, 8, 8), (16, 4, 6),
          (18, 9, 3), (20, 10, 5)]  # fmt: skip


def timed(method: str, P: np.ndarray, m: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    h = m_heights(P, m, method=method)
    return time.perf_counter() - start, h


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=150.0, help="stop starting shapes after this")
    args = p.parse_args()
    import torch

    dev = torch_backend.device()
    summary = {"device": str(dev), "torch": torch.__version__, "shapes": [], "all_equal": True}
    if dev.type == "cuda":
        summary["gpu"] = torch.cuda.get_device_name(dev)
    began = time.perf_counter()
    for n, k, m in SHAPES:
        if time.perf_counter() - began > args.seconds:
            summary["shapes"].append({"shape": [n, k, m], "skipped": "time budget"})
            continue
        rng = np.random.default_rng([n, k, m])
        N_cpu = 64 if n <= 16 else 4
        P = rng.integers(-100, 101, (N_cpu, k, n - k)).astype(np.float64)
        m_heights(P[:1], m, method="vertex-torch")  # warm-up (CUDA context, tables)
        t_gpu, h_gpu = timed("vertex-torch", P, m)
        t_cpu, h_cpu = timed("pruned", P, m)
        equal = bool(np.array_equal(h_gpu, h_cpu))
        # A batch of about 5 s at the small batch's rate (at least N_cpu, at most 65536).
        N_big = int(np.clip(5.0 * N_cpu / max(t_gpu, 1e-6), N_cpu, 65536))
        big = rng.integers(-100, 101, (N_big, k, n - k)).astype(np.float64)
        t_big, _ = timed("vertex-torch", big, m)
        row = {"shape": [n, k, m], "equal_rows": equal, "matrices": N_cpu,
               "gpu_rows_per_s": len(big) / t_big, "cpu_pruned_rows_per_s": N_cpu / t_cpu,
               "gpu_small_batch_s": t_gpu}  # fmt: skip
        summary["all_equal"] &= equal
        summary["shapes"].append(row)
        print(json.dumps(row), flush=True)
    R = np.random.default_rng(1).uniform(-100, 100, (64, 5, 5))
    real_equal = bool(np.array_equal(m_heights(R, 3, method="vertex-torch"),
                                     m_heights(R, 3, method="pruned")))  # fmt: skip
    summary["real_P_equal"] = real_equal
    summary["all_equal"] &= real_equal
    summary["wall_s"] = time.perf_counter() - began
    print(json.dumps({k: v for k, v in summary.items() if k != "shapes"}))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_label_check.json").write_text(json.dumps(summary, indent=1))
    return 0 if summary["all_equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
