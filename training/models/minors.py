"""Square-minor features of P (--features minors): log2 |minor| of every square submatrix.

Why: by the closed form (docs/MATH.md, "The closed form") the m-height depends on P only through the
absolute k x k minors of G = [I_k | P], and every such minor is, up to sign, a square minor of
P of some size 0..min(k, n-k). For m = n-k the height is exactly
max over (B, a) of sum_b |D(B-b+a)| / |D(B)|, a max of sums of ratios of minors, so in log space
it is a smooth-max of differences of log |minor|. A network that gets these numbers as inputs
only has to learn that combination, not how to compute determinants from raw entries.

What: for a pad x pad input every minor of every size s = 1..pad (sum_s C(pad, s)^2 of them:
923 for pad 6) is computed for the whole batch on its device, by Laplace expansion along the
first row: minor(R, T) = sum_j (-1)^j P[R0, T_j] minor(R - R0, T - T_j), using index tables
built once per pad. The arithmetic is float64 on the raw P, which is exact for integer entries
of magnitude <= 100 up to pad 6 (|minor| <= 6! * 100^6 < 2^53). Each feature is
max(log2 |minor(P / p_scale)| - log2 sqrt(s!), FLOOR) / LOG_SCALE, zero minors landing on
FLOOR: sqrt(s!) * sigma^s is the RMS of an s x s determinant of iid entries of RMS sigma, so
with --p-scale auto every size is centred near 0 (and spread about +-1). Minors reaching
outside the valid k x (n-k) block are 0, and a 0/1 validity indicator per minor follows the
values, so the features are [values (M), indicators (M)]. Sign flips of rows or columns of P
leave the features unchanged; row and column permutations permute them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations

import torch
from torch import nn

MAX_PAD = 8  # 12,869 minors (25,738 features) at pad 8; pad 6 (the course grid) has 923
FLOOR = -24.0  # floor of the centred log2 |minor|: where zero minors (of integer P) land
LOG_SCALE = 4.0  # divides the centred log2 |minor| so features stay O(1)


@dataclass(frozen=True)
class MinorIndex:
    """Where each minor of a rows x cols matrix comes from, all sizes concatenated (s = 1, 2, ...).

    Size-s minor i = sum_j (-1)^j P.flat[entry[s-1][j, i]] * size-(s-1) minor sub[s-1][j, i]
    (the size-0 minor is the constant 1). Minor (R, T) with rows R and columns T needs a block
    of at least rows_needed = max R + 1 rows and cols_needed = max T + 1 columns.
    """

    entry: tuple[torch.Tensor, ...]  # per size s: (s, C(rows, s) C(cols, s)) flat index into P
    sub: tuple[torch.Tensor, ...]  # per size s: (s, C(rows, s) C(cols, s)) index into size s-1
    size: torch.Tensor  # (M,) s of every minor
    rows_needed: torch.Tensor  # (M,)
    cols_needed: torch.Tensor  # (M,)

    @property
    def count(self) -> int:
        return len(self.size)


def _square_minors(rows: int, cols: int, s: int) -> list[tuple[tuple[int, ...], ...]]:
    """(row set, column set) of every s x s minor of a rows x cols matrix, in the order of
    minor_index and all_minors."""
    return [(R, T) for R in combinations(range(rows), s) for T in combinations(range(cols), s)]


@cache
def minor_position(rows: int, cols: int) -> dict[tuple[tuple[int, ...], ...], int]:
    """(row set, column set) of every square minor of a rows x cols matrix -> its row in
    [1; all_minors] (the empty minor, 1, is row 0)."""
    position, start = {((), ()): 0}, 1
    for s in range(1, min(rows, cols) + 1):
        keys = _square_minors(rows, cols, s)
        position.update((key, start + i) for i, key in enumerate(keys))
        start += len(keys)
    return position


@cache
def minor_index(rows: int, cols: int | None = None) -> MinorIndex:
    """Index tables for all square minors of a rows x cols matrix (pad x pad with one
    argument), built once per shape."""
    cols = rows if cols is None else cols
    if not (1 <= rows <= MAX_PAD and 1 <= cols <= MAX_PAD):
        raise ValueError(f"minor features support sides 1..{MAX_PAD}, not {rows} x {cols}")
    previous: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {((), ()): 0}
    entries, subs, size, rows_needed, cols_needed = [], [], [], [], []
    for s in range(1, min(rows, cols) + 1):
        keys = _square_minors(rows, cols, s)
        entries.append(
            torch.tensor(
                [[R[0] * cols + T[j] for R, T in keys] for j in range(s)], dtype=torch.long
            )
        )
        subs.append(
            torch.tensor(
                [[previous[(R[1:], T[:j] + T[j + 1 :])] for R, T in keys] for j in range(s)],
                dtype=torch.long,
            )
        )
        previous = {key: i for i, key in enumerate(keys)}
        size += [s] * len(keys)
        rows_needed += [R[-1] + 1 for R, _ in keys]
        cols_needed += [T[-1] + 1 for _, T in keys]
    return MinorIndex(
        tuple(entries),
        tuple(subs),
        torch.tensor(size),
        torch.tensor(rows_needed),
        torch.tensor(cols_needed),
    )


def all_minors(
    P: torch.Tensor, entries: Sequence[torch.Tensor], subs: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Every square minor of each matrix of P (B, rows, cols), sizes 1..min(rows, cols): (M, B),
    P's dtype.

    entries and subs are MinorIndex's tables, on P's device. Minor-major layout: each step
    gathers whole rows of B contiguous values (about 2x faster on CPU than batch-major).
    """
    flat = P.flatten(1).T.contiguous()  # (rows * cols, B)
    previous = flat.new_ones(1, len(P))
    out = []
    for entry, sub in zip(entries, subs, strict=True):
        minors = flat.index_select(0, entry[0]) * previous.index_select(0, sub[0])
        for j in range(1, len(entry)):
            term = flat.index_select(0, entry[j]) * previous.index_select(0, sub[j])
            minors = minors.sub_(term) if j % 2 else minors.add_(term)
        out.append(minors)
        previous = minors
    return torch.cat(out)


class MinorFeatures(nn.Module):
    """(P, nkm) -> (B, 2M) float32: scaled log2 |minor| of every square minor, then validity."""

    def __init__(self, pad: int, p_scale: float) -> None:
        super().__init__()
        index = minor_index(pad)
        self.pad, self.dim = pad, 2 * index.count
        size = index.size.double()
        centre = size * math.log2(p_scale) + torch.lgamma(size + 1) / (2 * math.log(2))
        # buffers follow the model to its device; none is saved in checkpoints
        for s in range(1, pad + 1):
            self.register_buffer(f"entry{s}", index.entry[s - 1], persistent=False)
            self.register_buffer(f"sub{s}", index.sub[s - 1], persistent=False)
        self.register_buffer("centre", centre, persistent=False)
        self.register_buffer("rows_needed", index.rows_needed, persistent=False)
        self.register_buffer("cols_needed", index.cols_needed, persistent=False)

    @torch.no_grad()
    def forward(self, P: torch.Tensor, nkm: torch.Tensor) -> torch.Tensor:
        entries = [getattr(self, f"entry{s}") for s in range(1, self.pad + 1)]
        subs = [getattr(self, f"sub{s}") for s in range(1, self.pad + 1)]
        with torch.autocast(P.device.type, enabled=False):  # float64 throughout
            minors = all_minors(P.double(), entries, subs)
            logs = (minors.abs().log2() - self.centre[:, None]).clamp_min(FLOOR) / LOG_SCALE
            logs = logs.T
        k, c = nkm[:, 1:2], nkm[:, 0:1] - nkm[:, 1:2]
        valid = (self.rows_needed <= k) & (self.cols_needed <= c)
        values = torch.where(valid, logs, torch.zeros_like(logs))
        return torch.cat([values, valid.double()], dim=1).float()
