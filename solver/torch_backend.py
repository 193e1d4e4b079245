"""The closed form on torch (``method="vertex-torch"``): the level recursion of solver.pruned
on a GPU when there is one, giving the same float64 heights as ``vertex`` row for row.

Integer P whose minors fit int64 (the common case) is expanded on the device in int64, exactly;
other P (real, or integers beyond int64) gets its minors from :func:`solver.pruned.subset_dets`
on the CPU. Pair values are summed in the same order as numpy's, and min/max only select, so
the result is bit for bit the numpy one. No pruning: on a GPU the plain recursion is cheaper
than the bookkeeping. torch is imported on first use only.
"""

from __future__ import annotations

import os
from math import comb

import numpy as np

from solver.lattice import level_children, minors, pair_tables
from solver.pruned import exact_kind, subset_dets

# Device: MHEIGHT_TORCH_DEVICE if set (cpu, cuda, cuda:1, ...), else cuda when available.
DEVICE_ENV = "MHEIGHT_TORCH_DEVICE"
# Floats held at once per chunk (all pair values of one column plus two levels), per device.
_BUDGET = {"cpu": 1 << 23, "cuda": 1 << 27}


def device():
    """The torch device labelling runs on."""
    import torch

    name = os.environ.get(DEVICE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise _invalid(f"unknown torch device {name!r} (cpu, cuda, cuda:1, ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise _invalid(f"device {name!r}: this torch has no CUDA device here")
    return dev


def _invalid(message: str) -> ValueError:
    from pipeline.contract import InputError

    return InputError(message)


def _tensor(array: np.ndarray, dev):
    import torch

    return torch.as_tensor(np.ascontiguousarray(array), device=dev)


def _dets(P: np.ndarray, dev):
    """(|det G_X| float64, singular bool) on ``dev``, in solver.lattice mask order."""
    import torch

    N, k, r = P.shape
    if exact_kind(P, min(k, r)) not in ("float", "int64"):  # int64 is exact for both
        dets, singular = subset_dets(P)
        return _tensor(dets, dev), _tensor(singular, dev)
    tables = minors(k, r)
    flat = _tensor(P.reshape(N, k * r).T.astype(np.int64), dev)
    blocks = [torch.ones((1, N), dtype=torch.int64, device=dev)]
    for step in tables.steps:
        prev = blocks[-1]
        entry, sub = _tensor(step.entry, dev), _tensor(step.sub, dev)
        cur = torch.zeros((step.entry.shape[0], N), dtype=torch.int64, device=dev)
        for j in range(step.entry.shape[1]):
            term = flat[entry[:, j]] * prev[sub[:, j]]
            cur += term if j % 2 == 0 else -term
        blocks.append(cur)
    signed = torch.cat(blocks)[_tensor(tables.subset_minor, dev)]
    return signed.abs().to(torch.float64), signed == 0


def _chunk_heights(P: np.ndarray, m: int, convention: str, dev) -> np.ndarray:
    import torch

    N, k, r = P.shape
    n = k + r
    dets, singular = _dets(P, dev)
    L = n - m
    children = [_tensor(c, dev) for c in level_children(n - 1, k, L)] if L > k else []
    best = torch.full((N,), -torch.inf, dtype=torch.float64, device=dev)
    for a in range(n):
        t = pair_tables(n, k, a)
        around, basis = _tensor(t.around, dev), _tensor(t.basis, dev)
        num = dets[around[:, 0]]
        for j in range(1, k + 1):  # T(B + a), summed as solver.pruned.superset_sums sums it
            num = num + dets[around[:, j]]
        den = dets[basis]
        num = num - den
        bad = singular[basis]
        values = num / torch.where(bad, torch.ones_like(num), den)
        values[bad] = torch.inf
        for child in children:
            cur = values[child[:, 0]]
            for j in range(1, child.shape[1]):
                torch.minimum(cur, values[child[:, j]], out=cur)
            values = cur
        if convention == "skip-unbounded":
            values = torch.where(torch.isinf(values), -torch.inf, values)
        best = torch.maximum(best, values.max(dim=0).values)
    return best.cpu().numpy()


def heights(P: np.ndarray, m: int, convention: str = "exact") -> np.ndarray:
    """Batched m-heights of G = [I | P_i] on torch; P validated, shape (N, k, n-k)."""
    N, k, r = P.shape
    n = k + r
    if n - m < k:
        return np.full(N, np.inf)
    dev = device()
    widest = max(comb(n - 1, s) for s in range(k, max(k, n - m) + 1))
    per_matrix = comb(n, k) + 3 * widest
    chunk = int(np.clip(_BUDGET.get(dev.type, _BUDGET["cpu"]) // per_matrix, 1, 65536))
    out = np.empty(N)
    for start in range(0, N, chunk):
        out[start : start + chunk] = _chunk_heights(P[start : start + chunk], m, convention, dev)
    out[out == -np.inf] = np.inf
    return out
