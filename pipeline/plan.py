"""What mh-gen is asked to produce: groups, their shards, and everything that fixes the rows.

:class:`GenConfig` holds exactly the arguments that change the data; it is what a resumed run
compares against the manifest, so worker counts, addresses and progress bars are left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipeline.contract import InputError
from pipeline.sampling import PDist
from solver.api import check_options, method_seconds, resolve_method

INFINITE_POLICIES = ("resample", "keep")
# Shards are sized by the solver's cost model (solver.api.method_seconds, seconds per row on
# one core): about SHARD_TARGET_S of work per task, so a cluster of hundreds of cores stays
# busy on any grid, and at most SHARD_MAX_ROWS rows (Parquet files of a few MB; course-sized
# groups keep the 50,000-row shards they always had). The model is a function of (n, k, m,
# method) alone, so the shard layout, and with it every row, is fixed by the arguments.
SHARD_TARGET_S = 20.0
SHARD_MAX_ROWS = 50_000
# A group whose rows are expected to cost more than this (core-seconds per row) is refused.
OUT_OF_REACH_S_PER_ROW = 3600.0
DEFAULT_SEED = 20250101


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
                raise InputError(f"need 1 <= k < n, got n={n}, k={k}")
            for m in sorted(set(ms)) if ms else range(2, n - k + 1):
                if not 1 <= m <= n - k:
                    raise InputError(
                        f"m={m} out of range for n={n}, k={k}: need 1 <= m <= n-k = {n - k} "
                        "(larger m only give infinite heights)"
                    )
                keys.append((n, k, m))
    if not keys:
        raise InputError(f"no group: n={ns}, k={ks} leave no m in 2..n-k; pass --m")
    return keys


def shard_rows(n: int, k: int, m: int, method: str) -> int:
    """Default rows per shard: about SHARD_TARGET_S of work, between 1 and SHARD_MAX_ROWS."""
    per_row = method_seconds(method, n, k, m)
    return int(min(SHARD_MAX_ROWS, max(1, round(SHARD_TARGET_S / per_row))))


def reach_error(n: int, k: int, m: int, method: str) -> str | None:
    """Why (n, k, m) is out of reach for ``method`` (one line with the estimate), or None."""
    per_row = method_seconds(method, n, k, m)
    if per_row <= OUT_OF_REACH_S_PER_ROW:
        return None
    return (
        f"n{n}_k{k}_m{m} is out of reach: about {per_row:.2g} core-s per row with {method} "
        f"(limit {OUT_OF_REACH_S_PER_ROW:g}); drop it or pick another m"
    )


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
        raise InputError(f"need at least 1 sample per group, got {min(rows)}")
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    if shard_size is not None and shard_size < 1:
        raise InputError(f"shard size must be >= 1, got {shard_size}")
    check_options(method, convention)
    if infinite not in INFINITE_POLICIES:
        raise InputError(f"unknown --infinite {infinite!r}; choose from {INFINITE_POLICIES}")
    p_dist.check()
    groups, unreachable = [], []
    for (n, k, m), count in zip(keys, rows, strict=True):
        resolved = resolve_method(method, n, k, m)
        if (why := reach_error(n, k, m, resolved)) is not None:
            unreachable.append(why)
        size = shard_size or shard_rows(n, k, m, resolved)
        groups.append(Group(n, k, m, count, resolved, size))
    if unreachable:
        more = f" (and {len(unreachable) - 1} more groups)" if len(unreachable) > 1 else ""
        raise InputError(unreachable[0] + more)
    return GenConfig(tuple(groups), seed, p_dist, infinite, convention)


# Named datasets: (n values, k values, total rows spread over the groups, P distribution).
PRESETS = {"course-1m": ((9, 10), (4, 5, 6), 1_000_000, PDist("int", -100.0, 100.0))}
