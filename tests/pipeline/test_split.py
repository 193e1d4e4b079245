"""Row selection of mh-split: balance, drops, dedup, leak-freedom, determinism, bad parameters."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipeline.contract import InputError, p_column
from pipeline.split import SplitParams, plan_split

GROUPS = {(5, 2, 1): 50, (5, 2, 2): 80, (6, 3, 2): 65}


def make_table(sizes: dict, *, seed: int = 0, copies: int = 0, infinite: int = 0) -> pa.Table:
    """Random integer P, heights >= 1; per group ``copies`` duplicate rows, ``infinite`` +inf."""
    rng = np.random.default_rng(seed)
    parts = []
    for (n, k, m), rows in sizes.items():
        P = rng.integers(-100, 101, size=(rows, k, n - k)).astype(float)
        P[rows - copies :] = P[:copies]
        height = rng.uniform(1, 1e4, rows)
        height[copies : copies + infinite] = np.inf
        parts.append(
            pa.table(
                {
                    "n": pa.array([n] * rows, pa.int32()),
                    "k": pa.array([k] * rows, pa.int32()),
                    "m": pa.array([m] * rows, pa.int32()),
                    "P": p_column(P),
                    "height": height,
                    "row": np.arange(rows),
                }
            )
        )
    return pa.concat_tables(parts)


def instances(table: pa.Table, rows: np.ndarray) -> list[tuple]:
    """(n, k, m, P) of the given rows, as hashable tuples."""
    part = table.take(pa.array(rows)).select(["n", "k", "m", "P"]).to_pylist()
    return [(r["n"], r["k"], r["m"], tuple(r["P"])) for r in part]


def test_every_group_gets_the_smallest_group_size_split_80_20():
    plan = plan_split(make_table(GROUPS), SplitParams())
    assert [g.key for g in plan] == sorted(GROUPS)
    for g in plan:
        assert {s: len(r) for s, r in g.rows.items()} == {"train": 40, "val": 10}


def test_fractions_give_exact_sizes_and_a_test_split():
    plan = plan_split(make_table(GROUPS), SplitParams(val_frac=0.2, test_frac=0.1, per_group=40))
    for g in plan:
        assert {s: len(r) for s, r in g.rows.items()} == {"train": 28, "val": 8, "test": 4}


def test_infinite_heights_are_dropped_and_counted():
    table = make_table(GROUPS, infinite=7)
    plan = plan_split(table, SplitParams())
    height = table["height"].to_numpy()
    for g in plan:
        assert g.infinite == 7
        assert sum(map(len, g.rows.values())) == 43  # smallest group: 50 - 7
        assert np.isfinite(height[np.concatenate(list(g.rows.values()))]).all()


def test_dedup_keeps_one_row_per_instance():
    table = make_table(GROUPS, copies=6)
    plan = plan_split(table, SplitParams())
    chosen = np.concatenate([r for g in plan for r in g.rows.values()])
    assert [g.duplicate for g in plan] == [6, 6, 6]
    assert [g.usable for g in plan] == [44, 74, 59]
    assert len(set(instances(table, chosen))) == len(chosen)


@pytest.mark.parametrize("seed", range(5))
def test_no_instance_in_two_splits_without_dedup(seed):
    """Each instance has 1 to 4 copies; copies must stay together, group sizes stay exact."""
    rng = np.random.default_rng(seed)
    base = make_table({(5, 2, 2): 40}, seed=seed)
    table = base.take(pa.array(np.repeat(np.arange(40), rng.integers(1, 5, 40))))
    params = SplitParams(seed=seed, test_frac=0.2, per_group=60, dedup=False)
    (group,) = plan_split(table, params)
    seen = [set(instances(table, rows)) for rows in group.rows.values()]
    assert sum(map(len, group.rows.values())) == 60
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert group.duplicate == 0 and len(table) > 60


def contents(table: pa.Table, params: SplitParams) -> dict:
    """{group: {split: instances in written order}} of a planned split."""
    return {
        g.key: {s: instances(table, r) for s, r in g.rows.items()}
        for g in plan_split(table, params)
    }


def test_choice_ignores_row_order_and_other_groups():
    """Same rows shuffled, or one group fewer: the same instances, in the same order."""
    table = make_table(GROUPS)
    params = SplitParams(seed=3, per_group=45)
    expected = contents(table, params)
    shuffled = table.take(pa.array(np.random.default_rng(9).permutation(len(table))))
    assert contents(shuffled, params) == expected
    fewer = table.filter(pc.not_equal(table["m"], 1))
    assert contents(fewer, params) == {key: v for key, v in expected.items() if key[2] != 1}


def test_seed_changes_the_choice():
    table = make_table(GROUPS)
    a, b = (plan_split(table, SplitParams(seed=s))[0].rows["val"] for s in (0, 1))
    assert set(a) != set(b)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (SplitParams(per_group=51), "exceeds the smallest group (n=5, k=2, m=1), which has 50"),
        (SplitParams(val_frac=0), "--val-frac 0 out of range"),
        (SplitParams(val_frac=1.5), "--val-frac 1.5 out of range"),
        (SplitParams(test_frac=-0.1), "--test-frac -0.1 out of range"),
        (SplitParams(val_frac=0.5, test_frac=0.5), "leaves no training rows"),
        (SplitParams(per_group=0), "at least 1 row"),
        (SplitParams(per_group=2, test_frac=0.1), "test would get no rows"),
        (SplitParams(seed=-1), "non-negative"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(InputError, match=re.escape(message)):
        plan_split(make_table(GROUPS), params)


def test_a_group_without_finite_rows_is_refused():
    with pytest.raises(InputError, match=r"\(n=5, k=2, m=1\) has no rows with a finite height"):
        plan_split(make_table({(5, 2, 1): 5, (5, 2, 2): 9}, infinite=5), SplitParams())
