"""Choose which rows go to train/val/test: balanced by (n, k, m), reproducible, leak-free.

Decisions (documented in ``mh-split --help`` too):

* An instance is (n, k, m, P). Identical instances always land in the same split, with or without
  ``--dedup``: rows are grouped into instances before they are dealt out, so a duplicate can
  never leak from train into val. Deduplication is on by default because duplicates are almost
  always an accident (the same folder or seed read twice) and would otherwise weigh double.
* The choice depends only on the *set* of rows and the seed, not on file order or sharding:
  each group is first put in a canonical order (sorted by P, then height), then shuffled with a
  generator seeded by (seed, n, k, m), so adding or removing one group leaves the others alone.
* Every group gets exactly ``per_group`` rows (default: the smallest group); asking for more
  than the smallest group has is an error, never a silent shortfall. Split sizes are exact
  (rounded fractions of ``per_group``); only without dedup may val and test differ from their
  share, by less than the number of copies of one instance, train taking up the difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from pipeline.contract import CONTRACT_FIELDS, InputError, groups, parquet_files, read_table

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitParams:
    """What the user chose; recorded verbatim in split.json."""

    seed: int = 0
    val_frac: float = 0.2
    test_frac: float = 0.0
    per_group: int | None = None
    dedup: bool = True

    def check(self) -> None:
        """Raise InputError for fractions or sizes that cannot make a train and a val split."""
        if not 0 < self.val_frac < 1:
            raise InputError(f"--val-frac {self.val_frac} out of range: need 0 < val-frac < 1")
        if not 0 <= self.test_frac < 1:
            raise InputError(f"--test-frac {self.test_frac} out of range: need 0 <= test-frac < 1")
        if self.val_frac + self.test_frac >= 1:
            raise InputError(
                f"--val-frac + --test-frac = {self.val_frac + self.test_frac:g} leaves no "
                "training rows: need a sum below 1"
            )
        if self.per_group is not None and self.per_group < 1:
            raise InputError(f"--per-group {self.per_group}: need at least 1 row per group")
        if self.seed < 0:
            raise InputError(f"--seed {self.seed}: need a non-negative integer")

    def sizes(self, per_group: int) -> dict[str, int]:
        """Rows per split for one group; every requested split gets at least one row."""
        val = int(np.floor(per_group * self.val_frac + 0.5))
        test = int(np.floor(per_group * self.test_frac + 0.5))
        sizes = {"train": per_group - val - test, "val": val, "test": test}
        wanted = {"train": True, "val": True, "test": self.test_frac > 0}
        empty = [s for s in SPLITS if wanted[s] and sizes[s] < 1]
        if empty:
            raise InputError(
                f"--per-group {per_group} is too small for these fractions: "
                f"{', '.join(empty)} would get no rows"
            )
        return {s: sizes[s] for s in SPLITS if wanted[s]}


@dataclass
class GroupSplit:
    """One (n, k, m) group: what was dropped and which table rows each split received."""

    key: tuple[int, int, int]
    read: int
    infinite: int
    duplicate: int
    rows: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def usable(self) -> int:
        """Rows left after dropping infinite heights (and duplicates when deduplicating)."""
        return self.read - self.infinite - self.duplicate


def read_labelled(paths: list[str | Path]) -> pa.Table:
    """All rows of the Parquet files/folders in ``paths``, contract columns first, typed.

    Splitting needs every row in memory at once (balancing looks at whole groups), so the shards
    are read one by one (the contract names the culprit file on error) with a progress bar.
    """
    files = list(dict.fromkeys(f.resolve() for f in parquet_files(paths)))  # a file named twice
    names = [f.name for f in CONTRACT_FIELDS]
    tables = []
    with tqdm(files, desc="reading shards", unit="file", disable=None) as bar:
        for f in bar:
            table = read_table([f], require_height=True)
            tables.append(table.select(names + [c for c in table.column_names if c not in names]))
            bar.set_postfix(rows=sum(t.num_rows for t in tables), refresh=False)
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"inputs do not share column types: {exc}") from exc


def plan_split(table: pa.Table, params: SplitParams) -> list[GroupSplit]:
    """Assign rows of ``table`` (contract, with height) to splits; see the module docstring."""
    params.check()
    height = table["height"].to_numpy(zero_copy_only=False)
    prepared = [_prepare(key, rows, P, height, params.dedup) for key, rows, P in groups(table)]
    smallest = min(prepared, key=lambda g: len(g[1]))
    per_group = params.per_group if params.per_group is not None else len(smallest[1])
    if per_group > len(smallest[1]):
        n, k, m = smallest[0].key
        raise InputError(
            f"--per-group {per_group} exceeds the smallest group (n={n}, k={k}, m={m}), which "
            f"has {len(smallest[1])} usable rows"
        )
    if per_group == 0:
        n, k, m = smallest[0].key
        raise InputError(f"group (n={n}, k={k}, m={m}) has no rows with a finite height")
    sizes = params.sizes(per_group)
    for group, rows, instance in prepared:
        rng = np.random.default_rng([params.seed, *group.key])
        group.rows = _deal(rows, instance, sizes, rng)
    return [group for group, _, _ in prepared]


def _prepare(
    key: tuple[int, int, int], rows: np.ndarray, P: np.ndarray, height: np.ndarray, dedup: bool
) -> tuple[GroupSplit, np.ndarray, np.ndarray]:
    """Drop infinite rows, sort canonically, number the instances; dedup keeps one per instance."""
    flat = P.reshape(len(rows), -1)
    h = height[rows]
    finite = ~np.isinf(h)
    flat, h, rows = flat[finite], h[finite], rows[finite]
    order = np.lexsort((h, *flat.T[::-1]))
    flat, rows = flat[order], rows[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = np.any(flat[1:] != flat[:-1], axis=1)
    instance = np.cumsum(first) - 1
    duplicate = int(len(rows) - first.sum()) if dedup else 0
    if dedup:
        rows, instance = rows[first], instance[first]
    group = GroupSplit(key, read=len(P), infinite=int((~finite).sum()), duplicate=duplicate)
    return group, rows, instance


def _deal(
    rows: np.ndarray, instance: np.ndarray, sizes: dict[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Sample sum(sizes) rows, then hand out whole instances in shuffled order: val, test, train."""
    picked = rng.permutation(len(rows))[: sum(sizes.values())]
    _, first, inverse = np.unique(instance[picked], return_index=True, return_inverse=True)
    cluster = first[inverse]  # position where each row's instance first appears
    order = np.argsort(cluster, kind="stable")  # copies of one instance become adjacent
    picked, cluster = picked[order], cluster[order]
    start = np.searchsorted(cluster, cluster, side="left")  # where each instance's run begins
    where = np.searchsorted(np.cumsum([sizes["val"], sizes.get("test", 0)]), start, side="right")
    slot = {"val": 0, "test": 1, "train": 2}
    return {name: rows[picked[where == slot[name]]] for name in sizes}
