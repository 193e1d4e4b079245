"""What mh-gen is asked to produce: groups, their shards, and everything that fixes the rows.

:class:`GenConfig` holds exactly the arguments that change the data; it is what a resumed run
compares against the manifest, so worker counts, addresses and progress bars are left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipeline.sampling import PDist
from solver.api import CONVENTIONS, METHODS, resolve_method

INFINITE_POLICIES = ("resample", "keep")
# Rows per shard so that one shard takes seconds: vertex labels ~50k rows/s on one core
# (measured); the LP methods are orders of magnitude slower (rough guesses, ~seconds each).
SHARD_ROWS = {"vertex": 50_000, "highs": 200, "pulp": 20, "jiang": 2}
DEFAULT_SEED = 20250101


class PlanError(ValueError):
    """Arguments that do not describe a dataset (one-line message naming the problem)."""


@dataclass(frozen=True)
class Group:
    """One (n, k, m) group: its row count, the resolved solver method and its shard size."""

    n: int
    k: int
    m: int
    rows: int
    method: str
    shard_size: int

    @property
    def name(self) -> str:
        return f"n{self.n}_k{self.k}_m{self.m}"

    def shards(self) -> list[Shard]:
        return [
            Shard(self, i, start, min(self.shard_size, self.rows - start))
            for i, start in enumerate(range(0, self.rows, self.shard_size))
        ]


@dataclass(frozen=True)
class Shard:
    """Rows [start, start + rows) of a group, written by one task to one file."""

    group: Group
    index: int
    start: int
    rows: int

    @property
    def path(self) -> str:
        """Path relative to the output folder."""
        return f"{self.group.name}/part-{self.index:05d}.parquet"


@dataclass(frozen=True)
class GenConfig:
    """Every argument that changes the generated rows."""

    groups: tuple[Group, ...]
    seed: int
    p_dist: PDist
    infinite: str
    convention: str

    def shards(self) -> list[Shard]:
        return [s for g in self.groups for s in g.shards()]

    @property
    def rows(self) -> int:
        return sum(g.rows for g in self.groups)

    def to_json(self) -> dict:
        return {
            "groups": [asdict(g) for g in self.groups],
            "seed": self.seed,
            "p_dist": self.p_dist.to_json(),
            "infinite": self.infinite,
            "convention": self.convention,
        }


def grid(ns: list[int], ks: list[int], ms: list[int] | None) -> list[tuple[int, int, int]]:
    """Every (n, k, m) of the grid n x k x m, sorted; m defaults to 2..n-k for each (n, k)."""
    keys = []
    for n in sorted(set(ns)):
        for k in sorted(set(ks)):
            if not 1 <= k < n:
                raise PlanError(f"need 1 <= k < n, got n={n}, k={k}")
            for m in sorted(set(ms)) if ms else range(2, n - k + 1):
                if not 1 <= m <= n - k:
                    raise PlanError(
                        f"m={m} out of range for n={n}, k={k}: need 1 <= m <= n-k = {n - k} "
                        "(larger m only give infinite heights)"
                    )
                keys.append((n, k, m))
    if not keys:
        raise PlanError(f"no group: n={ns}, k={ks} leave no m in 2..n-k; pass --m")
    return keys


def spread(total: int, parts: int) -> list[int]:
    """``total`` rows over ``parts`` groups as evenly as possible; the first groups get one more."""
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def make_config(
    keys: list[tuple[int, int, int]],
    rows: list[int],
    *,
    seed: int,
    p_dist: PDist,
    infinite: str,
    convention: str,
    method: str,
    shard_size: int | None,
) -> GenConfig:
    """Validate the arguments and resolve methods and shard sizes per group."""
    if any(r < 1 for r in rows):
        raise PlanError(f"need at least 1 sample per group, got {min(rows)}")
    if seed < 0:
        raise PlanError(f"seed must be >= 0, got {seed}")
    if shard_size is not None and shard_size < 1:
        raise PlanError(f"shard size must be >= 1, got {shard_size}")
    if method not in METHODS:
        raise PlanError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if convention not in CONVENTIONS:
        raise PlanError(f"unknown convention {convention!r}; choose from {', '.join(CONVENTIONS)}")
    if infinite not in INFINITE_POLICIES:
        raise PlanError(f"unknown --infinite {infinite!r}; choose from {INFINITE_POLICIES}")
    p_dist.check()
    groups = []
    for (n, k, m), count in zip(keys, rows, strict=True):
        resolved = resolve_method(method, n, k, m)
        groups.append(Group(n, k, m, count, resolved, shard_size or SHARD_ROWS[resolved]))
    return GenConfig(tuple(groups), seed, p_dist, infinite, convention)


# Named datasets: (n values, k values, total rows spread over the groups, P distribution).
PRESETS = {"course-1m": ((9, 10), (4, 5, 6), 1_000_000, PDist("int", -100.0, 100.0))}
