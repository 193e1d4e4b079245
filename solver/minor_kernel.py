"""Every square minor of P by the row expansion of :func:`solver.lattice.minors`, compiled.

The numpy sweep gathers whole blocks across a batch; at n = 20, k = 10 one matrix has 184,756
minors and a million products, and the gathers cost 40 ms per matrix where this loop takes
about one. The products and sums are the numpy sweep's, in the same order, so the floats (and
the int64 values, wrapping modulo 2^64 as numpy's do) are identical.
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np

from solver.lattice import minors, subset_signs


@cache
def expansion(k: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The expansion as flat arrays: minor i >= 1 sums the terms start[i] .. start[i+1]-1, term
    t being (-1)^(t - start[i]) P_flat[entry[t]] * minor[sub[t]] (minor 0 is the empty one)."""
    counts, entries, subs = [1], [], []
    base = 0  # where the previous size's block starts among all minors
    for step in minors(k, r).steps:
        rows, size = step.entry.shape
        counts.extend([size] * rows)
        entries.append(step.entry.reshape(-1))
        subs.append((step.sub + base).reshape(-1))
        base = len(counts) - rows
    start = np.zeros(len(counts) + 1, dtype=np.int64)
    start[2:] = np.cumsum(counts[1:])
    return start, np.concatenate(entries).astype(np.int64), np.concatenate(subs).astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _expand(row, start, entry, sub, out):
    out[0] = 1
    for i in range(1, start.size - 1):
        acc = out[0] - out[0]  # zero of the array's type
        plus = True
        for t in range(start[i], start[i + 1]):
            term = row[entry[t]] * out[sub[t]]
            if plus:
                acc += term
            else:
                acc -= term
            plus = not plus
        out[i] = acc


@numba.njit(cache=True, nogil=True)
def _batch(flat, start, entry, sub, pick, sign):
    """(N, len(pick)): sign * the picked minors of each row of flat (N, k*r)."""
    N = flat.shape[0]
    out = np.empty((N, pick.size), dtype=flat.dtype)
    work = np.empty(start.size - 1, dtype=flat.dtype)
    for j in range(N):
        _expand(flat[j], start, entry, sub, work)
        for i in range(pick.size):
            out[j, i] = work[pick[i]] * sign[i]
    return out


@numba.njit(cache=True, nogil=True)
def _permanents(absflat, start, entry, sub, pick):
    """perm |P_RT| and the sum of its cofactors' permanents, as solver.vertex.permanents."""
    N = absflat.shape[0]
    values = np.empty((N, pick.size))
    slopes = np.empty((N, pick.size))
    v = np.empty(start.size - 1)
    d = np.empty(start.size - 1)
    for j in range(N):
        v[0] = 1.0
        d[0] = 0.0
        for i in range(1, start.size - 1):
            acc_v = 0.0
            acc_d = 0.0
            for t in range(start[i], start[i + 1]):
                a = absflat[j, entry[t]]
                acc_v += a * v[sub[t]]
                acc_d += v[sub[t]] + a * d[sub[t]]
            v[i] = acc_v
            d[i] = acc_d
        for i in range(pick.size):
            values[j, i] = v[pick[i]]
            slopes[j, i] = d[pick[i]]
    return values, slopes


def subset_minors(P: np.ndarray, signed: bool = True) -> np.ndarray:
    """det G_X for every k-subset X of [n] (ascending masks), from P (N, k, r) as float64 or
    int64 (wrapping modulo 2^64 as numpy's products do): (N, C(n,k)) in P's dtype.
    ``signed=False``: the minor of P it equals up to sign (cheaper by nothing but the sign)."""
    N, k, r = P.shape
    start, entry, sub = expansion(k, r)
    pick = minors(k, r).subset_minor.astype(np.int64)
    sign = subset_signs(k + r, k) if signed else np.ones(pick.size)
    flat = np.ascontiguousarray(P.reshape(N, k * r))
    return _batch(flat, start, entry, sub, pick, sign.astype(flat.dtype))


def subset_permanents(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """perm |P_RT| and the cofactor-permanent sums of the same minors, (N, C(n,k)) each: the
    scale of real P's rounding noise (solver.pruned)."""
    N, k, r = P.shape
    start, entry, sub = expansion(k, r)
    pick = minors(k, r).subset_minor.astype(np.int64)
    absflat = np.ascontiguousarray(np.abs(P).reshape(N, k * r))
    return _permanents(absflat, start, entry, sub, pick)
