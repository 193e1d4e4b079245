"""exchange: a network on the basis-exchange graph of the code (docs/MATH.md, "Structure").

Why: by the closed form the m-height is a function of the k x k minors of G = [I_k | P] alone,
arranged on a graph whose nodes are the k-subsets X of the n columns (value L(X) = log2
|det G_X|) and whose edges are the exchanges X -> X - b + a. For a basis B and a column a
outside it, the exchange neighbours B - b + a (b in B) carry everything about the pair (B, a);
a code's height aggregates pairs over the subsets Y of n - m columns that avoid a: an inner
aggregation over the bases inside Y, an outer one over all (a, Y). This module builds that
structure and puts learned functions everywhere on it:

1. node features of every X from the square minors of P (minors.py's batched Laplace
   expansion): log2 |det G_X| centred per minor size (O(1) values), the centring it removed
   (level + offset is the code's own log2 |det G_X|, which the pair values need, as they are
   ratios of minors of different sizes), and a zero flag;
2. a pair token per (B, a): a learned linear function of each neighbour B - b + a, pooled over
   b by LearnedPool, then an MLP with B's own features;
3. per (a, Y): the pair tokens of the bases B inside Y, pooled by LearnedPool (bases with
   det G_B = 0 masked out), then an MLP;
4. over all (a, Y): LearnedPool again, then a head MLP with (n, k, m) that predicts the
   residual of log2 height over the group's mean training label (as every regressor here).

LearnedPool is a per-channel log-mean-exp at a learned temperature, taken both upwards
(a soft maximum) and downwards (a soft minimum): the network chooses how sharp and in which
direction each aggregation is. Nothing is taken from solver/: the subsets, exchanges and
(a, Y) memberships are enumerated here, and no exact min or max is taken anywhere.

Symmetries: |det| ignores sign flips, and a row or column permutation of P permutes the
columns of G, hence the nodes, pairs and sets, which every pooling step treats as unordered:
the prediction is invariant (tests check it). Shapes are limited by MAX_SET_BASES below,
since the (a, Y, B) memberships grow combinatorially with n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.models.base import HeightModel
from training.models.config import ModelConfig
from training.models.minors import FLOOR, LOG_SCALE, all_minors, minor_index

# Largest number of (a, Y, B) memberships of one (n, k, m): 12,600 on the course grid
# ((10, 4, 3) and (10, 4, 4)); the gathered tokens of a batch grow with it.
MAX_SET_BASES = 200_000
# Channels at the two widest stages (every exchange neighbour, every (a, Y, B) membership):
# the exact aggregations there act on one number each, and these stages dominate the cost.
NEIGHBOUR_CHANNELS = 8
PAIR_CHANNELS = 4


@dataclass(frozen=True)
class ShapeTables:
    """Index tables of one (n, k): nodes, pairs and their exchange neighbours."""

    node_minor: torch.Tensor  # (X,) row of [1; all minors of the padded P] giving det G_X
    node_size: torch.Tensor  # (X,) size of that square minor of P
    pair_base: torch.Tensor  # (Q,) node of B, for every pair (B, a) with a outside B
    pair_neighbours: torch.Tensor  # (Q, k) nodes B - b + a


@cache
def _minor_position(pad: int) -> dict[tuple[tuple[int, ...], tuple[int, ...]], int]:
    """(rows, cols) of a square minor of a pad x pad matrix -> its row in all_minors + 1."""
    position, start = {((), ()): 0}, 1
    for s in range(1, pad + 1):
        keys = [(R, T) for R in combinations(range(pad), s) for T in combinations(range(pad), s)]
        position.update((key, start + i) for i, key in enumerate(keys))
        start += len(keys)
    return position


@cache
def shape_tables(n: int, k: int, pad: int) -> ShapeTables:
    """Nodes (k-subsets of the n columns) and pairs of one (n, k), built once per shape.

    det G_X = +-det P[R, T] with T the parity columns in X and R the identity rows not in X.
    """
    position = _minor_position(pad)
    nodes = list(combinations(range(n), k))
    node_of = {X: i for i, X in enumerate(nodes)}
    node_minor, node_size = [], []
    for X in nodes:
        T = tuple(x - k for x in X if x >= k)
        R = tuple(r for r in range(k) if r not in X)
        node_minor.append(position[(R, T)])
        node_size.append(len(T))
    pair_base, pair_neighbours = [], []
    for i, B in enumerate(nodes):
        for a in range(n):
            if a in B:
                continue
            pair_base.append(i)
            pair_neighbours.append(
                [node_of[tuple(sorted(set(B) - {b} | {a}))] for b in B]  # B - b + a
            )
    return ShapeTables(
        torch.tensor(node_minor),
        torch.tensor(node_size),
        torch.tensor(pair_base),
        torch.tensor(pair_neighbours),
    )


@cache
def set_members(n: int, k: int, m: int) -> torch.Tensor:
    """(a, Y) x bases: pair index of (B, a) for every k-subset B of every Y (|Y| = n - m,
    a outside Y); pairs numbered as in shape_tables."""
    nodes = list(combinations(range(n), k))
    pair_of, q = {}, 0
    for B in nodes:
        for a in range(n):
            if a not in B:
                pair_of[(B, a)] = q
                q += 1
    rows = []
    for a in range(n):
        others = [c for c in range(n) if c != a]
        for Y in combinations(others, n - m):
            rows.append([pair_of[(B, a)] for B in combinations(Y, k)])
    return torch.tensor(rows)


def set_base_count(n: int, k: int, m: int) -> int:
    """Number of (a, Y, B) memberships: n C(n-1, n-m) C(n-m, k), from the combinatorics."""
    if not (1 <= k < n and 1 <= m <= n - k):
        return 0
    return n * math.comb(n - 1, n - m) * math.comb(n - m, k)


class LearnedPool(nn.Module):
    """Unordered pooling with learned sharpness: channel c gives s t_c log mean exp(s x_c / t_c),
    a soft maximum (s = +1, the first half of the channels) or a soft minimum (s = -1, the
    second half), each at its own learned temperature t_c (large t_c: the mean).

    Pooling is over index sets into a shared list of members (the exchange neighbours of each
    pair, the bases inside each Y), so each member's exponential is computed once however many
    sets hold it; sums run in float64, where the shifted exponentials cannot underflow to 0.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        start = math.log(math.expm1(1.0))  # softplus^-1(1): temperature 1 at initialisation
        self.raw_temperature = nn.Parameter(torch.full((channels,), start))
        sign = torch.ones(channels)
        sign[channels // 2 :] = -1.0
        self.register_buffer("sign", sign, persistent=False)

    def rate(self) -> torch.Tensor:
        """s_c / t_c per channel."""
        return self.sign / (F.softplus(self.raw_temperature) + 0.05)

    def forward(
        self, x: torch.Tensor, sets: torch.Tensor | None = None, present: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x: (b, N, C) member values; sets: (R, r) member indices of each of R sets, or None
        for one set of all N members; present: (b, N) bool, members that count (others are
        left out). Returns (b, R, C) float32, or (b, C) without sets; a set without members
        present pools to 0."""
        rate = self.rate().double()
        z = x.double() * rate
        shift = z.amax(1, keepdim=True).detach()  # (b, 1, C): the largest exponential is 1
        e = torch.exp(z - shift)
        if sets is None:
            return ((torch.log(e.mean(1)) + shift.squeeze(1)) / rate).float()
        count = x.new_full((1, 1, 1), sets.shape[1], dtype=torch.float64)
        if present is not None:
            e = e * present[..., None]
            count = _set_sums(present[..., None].double(), sets)
        total = _set_sums(e, sets)
        log_mean = torch.log(total.clamp_min(1e-300)) - torch.log(count.clamp_min(1))
        pooled = (log_mean + shift) / rate
        if present is not None:
            pooled = pooled * (count > 0)
        return pooled.float()


def _set_sums(values: torch.Tensor, sets: torch.Tensor) -> torch.Tensor:
    """values (b, N, C), sets (R, r) -> (b, R, C): the sum of the members of every set.

    Gathers whole rows of a member-major copy, so each index selects b * C contiguous values.
    """
    b, N, C = values.shape
    rows = values.permute(1, 0, 2).reshape(N, b * C)
    R, r = sets.shape
    summed = rows.index_select(0, sets.reshape(-1)).view(R, r, b * C).sum(1)
    return summed.view(R, b, C).permute(1, 0, 2)


class SkipMLP(nn.Module):
    """A one-hidden-layer MLP plus a linear path: the linear part of a learned function (e.g.
    log v(B, a) = LSE_b L(B-b+a) - L(B)) is there from the first step, the MLP learns the rest."""

    def __init__(self, width_in: int, hidden: int, width_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width_in, width_out)
        self.mlp = nn.Sequential(
            nn.Linear(width_in, hidden), nn.GELU(), nn.Linear(hidden, width_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.mlp(x)


class ExchangeModel(HeightModel):
    """--model exchange; config: hidden (width of every learned function), tokens (width of the
    pair and set tokens)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        pad, hidden, tokens = config.pad, config.hidden, config.tokens
        index = minor_index(pad)
        self.pad = pad
        for s in range(1, pad + 1):  # buffers follow the model to its device, never saved
            self.register_buffer(f"entry{s}", index.entry[s - 1], persistent=False)
            self.register_buffer(f"sub{s}", index.sub[s - 1], persistent=False)
        self.neighbour_in = nn.Linear(3, NEIGHBOUR_CHANNELS)
        self.neighbour_pool = LearnedPool(NEIGHBOUR_CHANNELS)
        self.pair_mlp = SkipMLP(NEIGHBOUR_CHANNELS + 2, hidden, PAIR_CHANNELS)
        self.base_pool = LearnedPool(PAIR_CHANNELS)
        self.set_mlp = SkipMLP(PAIR_CHANNELS, hidden, tokens)
        self.set_pool = LearnedPool(tokens)
        self.head = SkipMLP(tokens + 3, hidden, 1)
        self._tables: dict[tuple, Any] = {}  # index tables per shape and device, made on first use

    def _shape(self, n: int, k: int, device: torch.device) -> ShapeTables:
        key = (n, k, str(device))
        if key not in self._tables:
            t = shape_tables(n, k, self.pad)
            self._tables[key] = ShapeTables(*(x.to(device) for x in vars(t).values()))
        return self._tables[key]

    def _sets(self, n: int, k: int, m: int, device: torch.device) -> torch.Tensor:
        key = (n, k, m, str(device))
        if key not in self._tables:
            self._tables[key] = set_members(n, k, m).to(device)
        return self._tables[key]

    def forward(self, P: torch.Tensor, nkm: torch.Tensor) -> torch.Tensor:
        """log2 height of each row: the rows of each (n, k, m) go through its own tables."""
        minors = self._minors(P)
        out = torch.empty(len(P), device=P.device)
        keys = torch.unique(nkm, dim=0)
        for n, k, m in keys.tolist():
            rows = torch.nonzero((nkm == nkm.new_tensor([n, k, m])).all(1)).squeeze(1)
            out[rows] = self._group(minors[:, rows], nkm[rows], n, k, m)
        return out + self.baseline(nkm)

    def _minors(self, P: torch.Tensor) -> torch.Tensor:
        """[1; every square minor of P] as (1 + M, B) float64 (exact for integer P)."""
        entries = [getattr(self, f"entry{s}") for s in range(1, self.pad + 1)]
        subs = [getattr(self, f"sub{s}") for s in range(1, self.pad + 1)]
        with torch.autocast(P.device.type, enabled=False):
            minors = all_minors(P.double(), entries, subs)
        return torch.cat([minors.new_ones(1, minors.shape[1]), minors])

    def _group(self, minors: torch.Tensor, nkm: torch.Tensor, n: int, k: int, m: int):
        if set_base_count(n, k, m) > MAX_SET_BASES:
            raise ValueError(f"exchange supports up to {MAX_SET_BASES} (a, Y, B) per (n, k, m)")
        t = self._shape(n, k, minors.device)
        det = minors[t.node_minor].T  # (b, X)
        with torch.autocast(det.device.type, enabled=False):
            # log2 |det G_X| of the scaled P, centred per minor size as minors.py does (O(1)),
            # and what that removed: a pair value is a ratio of minors of different sizes, so
            # the unscaled log |det G_X| = level + offset is what the exact formula uses
            size = t.node_size.double()
            centre = torch.lgamma(size + 1) / (2 * math.log(2)) + size * math.log2(self.p_scale)
            zero = det == 0
            level = (det.abs().log2() - centre).clamp_min(FLOOR).float() / LOG_SCALE  # (b, X)
            offset = (centre.float() / LOG_SCALE).expand_as(level)
            node = torch.stack([level, offset, zero.float()], dim=-1)  # (b, X, 3)
            # soft max / min over each pair's exchange neighbours of a learned node function
            pooled = self.neighbour_pool(self.neighbour_in(node), t.pair_neighbours)  # (b, Q, C)
        base = node[:, t.pair_base]  # (b, Q, 3): level, offset and zero flag of B
        pair = self.pair_mlp(torch.cat([pooled, base[..., :2]], dim=-1))  # (b, Q, channels)
        members = self._sets(n, k, m, minors.device)  # (S, bases): pairs (B, a), B in Y
        with torch.autocast(det.device.type, enabled=False):
            sets = self.base_pool(pair.float(), members, ~zero[:, t.pair_base])  # (b, S, C)
        code = self.set_pool(self.set_mlp(sets))  # (b, tokens)
        feats = nkm.to(code.dtype) / (2 * self.pad)
        return self.head(torch.cat([code, feats], dim=-1)).squeeze(-1).float()

    def forward_encoded(self, enc: Any) -> torch.Tensor:  # pragma: no cover - not used
        raise NotImplementedError("exchange works on P directly")
