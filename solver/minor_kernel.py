"""Every k x k minor of G = [I | P], signed, by the row expansion of :func:`solver.lattice.minors`,
compiled.

The numpy sweep gathers whole blocks across a batch; at n = 20, k = 10 one matrix has 184,756
minors and a million products, and the gathers cost 40 ms per matrix where this loop takes
about one. The products and sums are the numpy sweep's, in the same order, so the floats (and
the int64 values, wrapping modulo 2^64 as numpy's do) are identical. Each k-subset X of [n]
owns exactly one square minor of P (sizes 0..min(k, r), Vandermonde), so the sweep writes
straight into X's slot and no gather follows.
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np

from solver.lattice import minors, subset_signs


@cache
def expansion(k: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The expansion as flat arrays, in slots of k-subsets (ascending masks): minor i (sizes
    ascending) goes to slot place[i] and sums the terms start[i] .. start[i+1]-1, term t being
    signed[entry[t]] * slot[sub[t]] with signed = [P_flat, -P_flat] (entry carries the
    alternating sign: negating is exact, so the sums are the numpy sweep's); minor 0 is the
    empty one (= 1)."""
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
    place = np.empty(len(counts), dtype=np.int64)
    place[minors(k, r).subset_minor] = np.arange(len(counts))  # a bijection (Vandermonde)
    sub = place[np.concatenate(subs)]
    entry = np.concatenate(entries)
    odd = (np.arange(entry.size) - np.repeat(start[:-1], np.diff(start))) & 1
    return start, (entry + odd * k * r).astype(np.uint32), sub.astype(np.uint32), place


@numba.njit(cache=True, nogil=True, inline="always")
def _signed(flat, row):
    """row = [flat, -flat], the factors the expansion's entries index."""
    for e in range(flat.size):
        row[e] = flat[e]
        row[flat.size + e] = -flat[e]


@numba.njit(cache=True, nogil=True)
def _minors(flat, start, entry, sub, place, sign):
    """(N, C(n,k)): sign * the minor of each k-subset, from each row of flat (N, k*r)."""
    N = flat.shape[0]
    out = np.empty((N, place.size), dtype=flat.dtype)
    row = np.empty(2 * flat.shape[1], dtype=flat.dtype)
    for j in range(N):
        _signed(flat[j], row)
        slot = out[j]
        slot[place[0]] = 1
        for i in range(1, place.size):
            t = start[i]
            acc = row[entry[t]] * slot[sub[t]]  # = 0 + the first term, as numpy sums it
            for q in range(t + 1, start[i + 1]):
                acc += row[entry[q]] * slot[sub[q]]
            slot[place[i]] = acc
        for i in range(place.size):
            slot[i] *= sign[i]
    return out


@numba.njit(cache=True, nogil=True)
def _wrapped_minors(flat, start, entry, sub, place, sign):
    """The exact minors of integer P past int64: one sweep in int64 (exact modulo 2^64, as
    numpy wraps) and in float64 (an estimate whose error is far below 2^63) side by side; the
    estimate fixes the multiple of 2^64. Returns (N, C(n,k)) float64 (the exact integer
    rounded once) and the mask of zero minors."""
    N = flat.shape[0]
    out = np.empty((N, place.size))
    zero = np.empty((N, place.size), dtype=np.bool_)
    ints = np.empty(place.size, dtype=np.int64)
    floats = np.empty(place.size)
    row_i = np.empty(2 * flat.shape[1], dtype=np.int64)
    row_f = np.empty(2 * flat.shape[1])
    for j in range(N):
        _signed(flat[j], row_f)
        for e in range(row_f.size):
            row_i[e] = np.int64(row_f[e])
        ints[place[0]] = 1
        floats[place[0]] = 1.0
        for i in range(1, place.size):
            t = start[i]
            acc_i = row_i[entry[t]] * ints[sub[t]]
            acc_f = row_f[entry[t]] * floats[sub[t]]
            for q in range(t + 1, start[i + 1]):
                acc_i += row_i[entry[q]] * ints[sub[q]]
                acc_f += row_f[entry[q]] * floats[sub[q]]
            ints[place[i]] = acc_i
            floats[place[i]] = acc_f
        for i in range(place.size):
            wrapped = float(ints[i])
            turns = np.round((floats[i] - wrapped) / 2.0**64)
            out[j, i] = (turns * 2.0**64 + wrapped) * sign[i]
            zero[j, i] = ints[i] == 0 and turns == 0
    return out, zero


@numba.njit(cache=True, nogil=True)
def _permanents(absflat, start, entry, sub, place):
    """perm |P_RT| and the sum of its cofactors' permanents, as solver.vertex.permanents
    (absflat = [|P_flat|, |P_flat|], as the signed entries index it)."""
    N = absflat.shape[0]
    values = np.empty((N, place.size))
    slopes = np.empty((N, place.size))
    for j in range(N):
        row = absflat[j]
        v = values[j]
        d = slopes[j]
        v[place[0]] = 1.0
        d[place[0]] = 0.0
        for i in range(1, place.size):
            acc_v = 0.0
            acc_d = 0.0
            for t in range(start[i], start[i + 1]):
                a = row[entry[t]]
                acc_v += a * v[sub[t]]
                acc_d += v[sub[t]] + a * d[sub[t]]
            v[place[i]] = acc_v
            d[place[i]] = acc_d
    return values, slopes


def _sweep(P: np.ndarray, signed: bool) -> tuple:
    """The arguments of the minor kernels: P's rows flat (N, k*r), the expansion, and the sign
    of each k-subset's minor (all +1 for ``signed=False``)."""
    N, k, r = P.shape
    start, entry, sub, place = expansion(k, r)
    sign = subset_signs(k + r, k) if signed else np.ones(place.size)
    flat = np.ascontiguousarray(P.reshape(N, k * r))
    return flat, start, entry, sub, place, sign


def subset_minors(P: np.ndarray, signed: bool = True) -> np.ndarray:
    """det G_X for every k-subset X of [n] (ascending masks), from P (N, k, r) as float64 or
    int64 (wrapping modulo 2^64 as numpy's products do): (N, C(n,k)) in P's dtype.
    ``signed=False``: the minor of P it equals up to sign."""
    flat, start, entry, sub, place, sign = _sweep(P, signed)
    return _minors(flat, start, entry, sub, place, sign.astype(flat.dtype))


def wrapped_subset_minors(P: np.ndarray, signed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Exact det G_X of integer P whose minors pass 2^63 (solver.pruned.exact_kind "wrapped"),
    rounded to float64, and the mask of singular X; (N, C(n,k)) each."""
    return _wrapped_minors(*_sweep(P, signed))


def subset_permanents(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """perm |P_RT| and the cofactor-permanent sums of the same minors, (N, C(n,k)) each: the
    scale of real P's rounding noise (solver.pruned)."""
    N, k, r = P.shape
    start, entry, sub, place = expansion(k, r)
    absflat = np.tile(np.abs(P).reshape(N, k * r), 2)
    return _permanents(absflat, start, entry, sub, place)
