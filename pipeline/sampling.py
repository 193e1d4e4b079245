"""Random instances for mh-gen: the P distribution and each shard's own random stream.

A shard's stream depends on (seed, n, k, m, shard) alone, and infinite rows are redrawn from
that same stream, so the rows never depend on scheduling, worker count or interruptions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.contract import InputError

P_KINDS = ("int", "real")
# Redraw rounds before giving up on a group whose heights are (almost) always infinite.
MAX_REDRAW_ROUNDS = 1000


@dataclass(frozen=True)
class PDist:
    """P entries i.i.d.: integers uniform in [lo, hi] ('int'), or reals uniform in [lo, hi)
    rounded to float32 ('real')."""

    kind: str = "int"
    lo: float = -100.0
    hi: float = 100.0

    def check(self) -> None:
        """Raise InputError unless the distribution is well defined."""
        if self.kind not in P_KINDS:
            raise InputError(f"unknown P distribution {self.kind!r}; choose from {P_KINDS}")
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)):
            raise InputError(f"P range must be finite, got [{self.lo}, {self.hi}]")
        if self.lo > self.hi:
            raise InputError(f"P range LO={self.lo:g} is above HI={self.hi:g}")
        if self.kind == "int" and not (float(self.lo).is_integer() and float(self.hi).is_integer()):
            raise InputError(f"integer P needs integer bounds, got [{self.lo:g}, {self.hi:g}]")

    def draw(self, rng: np.random.Generator, rows: int, k: int, r: int) -> np.ndarray:
        """``rows`` matrices of shape (k, r), float64."""
        size = (rows, k, r)
        if self.kind == "int":
            return rng.integers(int(self.lo), int(self.hi), size=size, endpoint=True).astype(
                np.float64
            )
        # float32 values, as the 2025 course stored them: the stored P is exactly what was labelled
        return rng.uniform(self.lo, self.hi, size=size).astype(np.float32).astype(np.float64)

    def to_json(self) -> dict:
        values = {"kind": self.kind, "lo": float(self.lo), "hi": float(self.hi)}
        if self.kind == "real":  # older real datasets were float64: resuming one is refused
            values["float32"] = True
        return values


def shard_rng(seed: int, n: int, k: int, m: int, shard: int) -> np.random.Generator:
    """The random stream of one shard: SeedSequence(entropy=seed, spawn_key=(n, k, m, shard))."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(n, k, m, shard)))


@dataclass
class Drawn:
    """Labelled rows of one shard, with the work it took."""

    P: np.ndarray
    height: np.ndarray
    redraws: int
    sample_s: float
    solve_s: float


def draw_labelled(
    rng: np.random.Generator,
    rows: int,
    k: int,
    r: int,
    dist: PDist,
    label: Callable[[np.ndarray], np.ndarray],
    *,
    resample: bool,
) -> Drawn:
    """Draw and label ``rows`` matrices; with ``resample``, redraw infinite rows until none is."""
    clock = time.perf_counter
    t0 = clock()
    P = dist.draw(rng, rows, k, r)
    t1 = clock()
    height = label(P)
    out = Drawn(P, height, 0, t1 - t0, clock() - t1)
    todo = np.flatnonzero(np.isinf(height)) if resample else np.empty(0, dtype=np.intp)
    rounds = 0
    while todo.size:
        rounds += 1
        if rounds > MAX_REDRAW_ROUNDS:
            raise InputError(
                f"{todo.size} rows still infinite after {MAX_REDRAW_ROUNDS} redraw rounds; "
                "use --infinite keep or another P range"
            )
        t0 = clock()
        fresh = dist.draw(rng, todo.size, k, r)
        t1 = clock()
        h = label(fresh)
        out.solve_s += clock() - t1
        out.sample_s += t1 - t0
        out.redraws += todo.size
        out.P[todo] = fresh
        out.height[todo] = h
        todo = todo[np.isinf(h)]
    return out
