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
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.models.base import HeightModel
from training.models.config import ModelConfig
from training.models.minors import FLOOR, LOG_SCALE, all_minors, minor_index, minor_position

# Largest number of (a, Y, B) memberships of one (n, k, m): 12,600 on the course grid
# ((10, 4, 3) and (10, 4, 4)); the gathered tokens of a batch grow with it.
MAX_SET_BASES = 200_000
# Temperatures are softplus(parameter) + TEMPERATURE_FLOOR: no pooling is sharper than this.
TEMPERATURE_FLOOR = 0.05
# Below this a float32 sum of exponentials (largest member 1) may have lost its members to
# underflow (e^-80 = 1.8e-35 is still a normal float32): such sums are redone exactly.
UNDERFLOW = 1e-34


@dataclass(frozen=True)
class ShapeTables:
    """Index tables of one (n, k): nodes, pairs and their exchange neighbours."""

    node_minor: torch.Tensor  # (X,) row of [1; all minors of the k x (n-k) P] giving det G_X
    node_size: torch.Tensor  # (X,) size of that square minor of P
    pair_base: torch.Tensor  # (Q,) node of B, for every pair (B, a) with a outside B
    pair_neighbours: torch.Tensor  # (Q, k) nodes B - b + a


@cache
def _pairs(n: int, k: int) -> list[tuple[tuple[int, ...], int]]:
    """Every pair (B, a), B a k-subset of the n columns and a a column outside it, in the
    order shape_tables and set_members number them."""
    return [(B, a) for B in combinations(range(n), k) for a in range(n) if a not in B]


@cache
def shape_tables(n: int, k: int) -> ShapeTables:
    """Nodes (k-subsets of the n columns) and pairs of one (n, k), built once per shape.

    det G_X = +-det P[R, T] with T the parity columns in X and R the identity rows not in X.
    """
    position = minor_position(k, n - k)
    nodes = list(combinations(range(n), k))
    node_of = {X: i for i, X in enumerate(nodes)}
    node_minor, node_size = [], []
    for X in nodes:
        T = tuple(x - k for x in X if x >= k)
        R = tuple(r for r in range(k) if r not in X)
        node_minor.append(position[(R, T)])
        node_size.append(len(T))
    pairs = _pairs(n, k)
    pair_neighbours = [[node_of[tuple(sorted(set(B) - {b} | {a}))] for b in B] for B, a in pairs]
    return ShapeTables(
        torch.tensor(node_minor),
        torch.tensor(node_size),
        torch.tensor([node_of[B] for B, _ in pairs]),
        torch.tensor(pair_neighbours),  # B - b + a for every b in B
    )


@cache
def set_members(n: int, k: int, m: int) -> torch.Tensor:
    """(a, Y) x bases: pair index of (B, a) for every k-subset B of every Y (|Y| = n - m,
    a outside Y); pairs numbered as in shape_tables."""
    pair_of = {pair: q for q, pair in enumerate(_pairs(n, k))}
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

    Pooling is over index sets into a shared, member-major list of members (the exchange
    neighbours of each pair, the bases inside each Y): each member's exponential is computed
    once however many sets hold it, shifted by the largest member per row and channel, and
    each set's sum is one embedding_bag (a fused gather and sum), all in float32. A set whose
    members all lie more than about 80 nats below that largest one sums to (nearly) 0 there,
    as float32 exponentials underflow; such sets, few even in sharply trained models, are
    redone exactly by a log-sum-exp over their own gathered members.
    """

    def __init__(self, channels: int, temperature: float) -> None:
        """temperature: every channel's at initialisation (> TEMPERATURE_FLOOR)."""
        super().__init__()
        start = math.log(math.expm1(temperature - TEMPERATURE_FLOOR))  # softplus^-1
        self.raw_temperature = nn.Parameter(torch.full((channels,), start))
        sign = torch.ones(channels)
        sign[channels // 2 :] = -1.0
        self.register_buffer("sign", sign, persistent=False)

    def rate(self) -> torch.Tensor:
        """s_c / t_c per channel."""
        return self.sign / (F.softplus(self.raw_temperature) + TEMPERATURE_FLOOR)

    def forward(
        self, x: torch.Tensor, sets: torch.Tensor | None = None, present: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x: (N, b, C) member values; sets: (R, r) member indices of each of R sets, or None
        for one set of all N members; present: (N, b) bool, members that count (others are
        left out). Returns (R, b, C) float32, or (b, C) without sets; a set without members
        present pools to 0."""
        with torch.autocast(x.device.type, enabled=False):
            return self._pool(x.float(), sets, present)

    def _pool(
        self, x: torch.Tensor, sets: torch.Tensor | None, present: torch.Tensor | None
    ) -> torch.Tensor:
        if sets is not None and sets.shape[1] == 1:  # the mean of one member is the member
            one = x[sets[:, 0]]
            return one if present is None else one * present[sets[:, 0], :, None]
        rate = self.rate()
        z = x * rate
        shift = z.detach().amax(0, keepdim=True)  # (1, b, C): the largest exponential is 1
        e = (z - shift).exp_()
        if sets is None:  # the largest member is in the set: its sum is at least 1
            return (torch.log(e.mean(0)) + shift[0]) / rate
        N, b, C = e.shape
        if present is not None and bool(present.all()):
            present = None  # every member counts: the plain mean over each set
        log_count: torch.Tensor | float = math.log(sets.shape[1])
        if present is not None:
            e = e * present[..., None]
            count = F.embedding_bag(sets, present.to(e.dtype), mode="sum")[..., None]  # (R, b, 1)
            log_count = torch.log(count.clamp_min(1))
        total = F.embedding_bag(sets, e.reshape(N, b * C), mode="sum").view(-1, b, C)
        log_total = torch.log(total.clamp_min(UNDERFLOW)) + shift
        deep = total < UNDERFLOW  # (R, b, C)
        if present is not None:
            deep &= count > 0  # an empty set has nothing to redo
        if bool(deep.any()):
            log_total = _redo_deep_sets(log_total, deep, z, sets, present)
        pooled = (log_total - log_count) / rate
        return pooled if present is None else torch.where(count > 0, pooled, 0.0)


def _redo_deep_sets(
    log_total: torch.Tensor,
    deep: torch.Tensor,
    z: torch.Tensor,
    sets: torch.Tensor,
    present: torch.Tensor | None,
) -> torch.Tensor:
    """log_total with its deep entries replaced by the exact log-sum-exp of their sets'
    members (absent members left out); only the sets holding a deep entry are gathered."""
    redo = torch.nonzero(deep.flatten(1).any(1)).squeeze(1)
    members = z[sets[redo]]  # (R', r, b, C)
    if present is not None:
        members = members.masked_fill(~present[sets[redo]][..., None], -torch.inf)
    exact = torch.logsumexp(members, dim=1)  # (R', b, C); finite: every deep set has a member
    return log_total.index_put((redo,), torch.where(deep[redo], exact, log_total[redo]))


class SkipMLP(nn.Module):
    """A one-hidden-layer MLP plus a linear path: the linear part of a learned function (e.g.
    log v(B, a) = LSE_b L(B-b+a) - L(B)) is there from the first step, the MLP learns the rest.
    With hidden = 0 it is the linear path alone (the cheapest learned function per pair)."""

    def __init__(self, width_in: int, hidden: int, width_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width_in, width_out)
        self.mlp = None
        if hidden:
            self.mlp = nn.Sequential(
                nn.Linear(width_in, hidden), nn.GELU(), nn.Linear(hidden, width_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) if self.mlp is None else self.linear(x) + self.mlp(x)


class ExchangeModel(HeightModel):
    """--model exchange; config: hidden (hidden width of the pair and set functions, 0 for
    linear ones), head_hidden (of the head; older configs: hidden), tokens (width of the set
    tokens), pool_channels (channels pooled over exchange neighbours and over the bases of
    each set; older configs: config.LEGACY_POOL_CHANNELS), pool_temperature (every
    pooling's temperature at initialisation: sharp ones learn from the first steps, as the
    node levels of one code spread by a few units only). The two widest stages (every
    exchange neighbour, every (a, Y, B) membership) dominate the cost."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        hidden, tokens, start = config.hidden, config.tokens, config.pool_temperature
        neighbour_channels, pair_channels = config.pool_channels
        self.pad = config.pad
        self.neighbour_in = nn.Linear(3, neighbour_channels)
        self.neighbour_pool = LearnedPool(neighbour_channels, start)
        self.pair_mlp = SkipMLP(neighbour_channels + 2, hidden, pair_channels)
        self.base_pool = LearnedPool(pair_channels, start)
        self.set_mlp = SkipMLP(pair_channels, hidden, tokens)
        self.set_pool = LearnedPool(tokens, start)
        self.head = SkipMLP(tokens + 3, config.head_hidden, 1)
        self._tables: dict[tuple, Any] = {}  # index tables per shape and device, made on first use

    def _on_device(self, key: tuple, device: torch.device, make: Callable[[], Any]) -> Any:
        """make()'s tables moved to device, made and moved once per key and device."""
        if (key, str(device)) not in self._tables:
            self._tables[key, str(device)] = make()
        return self._tables[key, str(device)]

    def _shape(self, n: int, k: int, device: torch.device) -> ShapeTables:
        def make() -> ShapeTables:
            return ShapeTables(*(x.to(device) for x in vars(shape_tables(n, k)).values()))

        return self._on_device(("shape", n, k), device, make)

    def _sets(self, n: int, k: int, m: int, device: torch.device) -> torch.Tensor:
        return self._on_device(("sets", n, k, m), device, lambda: set_members(n, k, m).to(device))

    def forward(self, P: torch.Tensor, nkm: torch.Tensor) -> torch.Tensor:
        """log2 height of each row: the rows of each (n, k, m) go through its own tables."""
        out = torch.empty(len(P), device=P.device)
        keys = torch.unique(nkm, dim=0)
        for n, k, m in keys.tolist():
            rows = torch.nonzero((nkm == nkm.new_tensor([n, k, m])).all(1)).squeeze(1)
            minors = self._minors(P[rows, :k, : n - k])
            out[rows] = self._group(minors, nkm[rows], n, k, m)
        return out + self.baseline(nkm)

    def _minors(self, P: torch.Tensor) -> torch.Tensor:
        """[1; every square minor of the k x (n-k) blocks P] as (1 + M, b) float64 (exact for
        integer P); only the block's own minors, not the padding's."""

        def make() -> list[list[torch.Tensor]]:
            index = minor_index(*P.shape[1:])
            return [[x.to(P.device) for x in tables] for tables in (index.entry, index.sub)]

        entries, subs = self._on_device(("minors", *P.shape[1:]), P.device, make)
        with torch.autocast(P.device.type, enabled=False):
            minors = all_minors(P.double(), entries, subs)
        return torch.cat([minors.new_ones(1, minors.shape[1]), minors])

    def _group(self, minors: torch.Tensor, nkm: torch.Tensor, n: int, k: int, m: int):
        if set_base_count(n, k, m) > MAX_SET_BASES:
            raise ValueError(f"exchange supports up to {MAX_SET_BASES} (a, Y, B) per (n, k, m)")
        t = self._shape(n, k, minors.device)
        # member-major throughout: (nodes | pairs | sets, rows, channels), so every gather of
        # the pooling steps copies whole contiguous rows
        det = minors[t.node_minor]  # (X, b)
        with torch.autocast(det.device.type, enabled=False):
            # log2 |det G_X| of the scaled P, centred per minor size as minors.py does (O(1)),
            # and what that removed: a pair value is a ratio of minors of different sizes, so
            # the unscaled log |det G_X| = level + offset is what the exact formula uses
            size = t.node_size.double()[:, None]
            centre = torch.lgamma(size + 1) / (2 * math.log(2)) + size * math.log2(self.p_scale)
            zero = det == 0
            level = det.abs().log2_().sub_(centre).clamp_min_(FLOOR).float().div_(LOG_SCALE)
            offset = (centre.float() / LOG_SCALE).expand_as(level)
            node = torch.stack([level, offset, zero.float()], dim=-1)  # (X, b, 3)
            # soft max / min over each pair's exchange neighbours of a learned node function
            pooled = self.neighbour_pool(self.neighbour_in(node), t.pair_neighbours)  # (Q, b, C)
        base = node[t.pair_base, :, :2]  # (Q, b, 2): level and offset of B
        pair = self.pair_mlp(torch.cat([pooled, base], dim=-1))  # (Q, b, channels)
        members = self._sets(n, k, m, minors.device)  # (S, bases): pairs (B, a), B in Y
        sets = self.base_pool(pair, members, ~zero[t.pair_base])  # (S, b, C)
        code = self.set_pool(self.set_mlp(sets))  # (b, tokens)
        feats = nkm.to(code.dtype) / (2 * self.pad)
        return self.head(torch.cat([code, feats], dim=-1)).squeeze(-1).float()

    def forward_encoded(self, enc: Any) -> torch.Tensor:  # pragma: no cover - not used
        raise NotImplementedError("exchange works on P directly")
