"""The exchange family: its graph tables, symmetries, mixed batches, and what it learns."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
import torch
from training_runs import random_batch

from solver import m_heights
from training.data import TensorData, augment_batch
from training.inference import predict_log2
from training.models import DataSummary, ModelConfig, build_model, make_model_config
from training.models.exchange import (
    MAX_SET_BASES,
    LearnedPool,
    set_base_count,
    set_members,
    shape_tables,
)
from training.models.minors import all_minors, minor_index
from training.settings import TrainSettings


def exchange(group_means=(), target_mean=3.0, p_scale=50.0, **changes):
    summary = DataSummary(6, target_mean, [list(g) for g in group_means], 8.0, [])
    settings = TrainSettings(model="exchange", **{"hidden": 16, "tokens": 8, **changes})
    return build_model(make_model_config(settings, summary, p_scale))


def labelled(n: int, k: int, m: int, rows: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Integer P in [-100, 100] with exact finite heights (the solver labels, the model never
    sees it), padded to 6 x 6."""
    rng = np.random.default_rng(seed)
    P = rng.integers(-100, 101, size=(3 * rows, k, n - k)).astype(np.float64)
    h = m_heights(P, m)
    keep = np.flatnonzero(np.isfinite(h))[:rows]
    padded = torch.zeros(len(keep), 6, 6)
    padded[:, :k, : n - k] = torch.tensor(P[keep], dtype=torch.float32)
    nkm = torch.tensor([[n, k, m]] * len(keep))
    return padded, nkm, torch.tensor(np.log2(h[keep]), dtype=torch.float32)


@pytest.mark.parametrize("n,k", [(7, 3), (9, 4), (10, 6)])
def test_nodes_are_the_k_by_k_minors_of_G(n, k):
    rng = np.random.default_rng(n * k)
    P = rng.integers(-9, 10, size=(5, k, n - k)).astype(np.float64)
    padded = torch.zeros(5, 6, 6, dtype=torch.float64)
    padded[:, :k, : n - k] = torch.tensor(P)
    minors = exchange()._minors(padded[:, :k, : n - k])  # the block's own minors, no padding
    index = minor_index(k, n - k)
    assert torch.equal(minors[1:], all_minors(torch.tensor(P), index.entry, index.sub))
    tables = shape_tables(n, k)
    for i, X in enumerate(itertools.combinations(range(n), k)):
        G = np.concatenate([np.broadcast_to(np.eye(k), (5, k, k)), P], axis=2)
        expected = np.abs(np.linalg.det(G[:, :, X]))
        np.testing.assert_allclose(minors[tables.node_minor[i]].abs().numpy(), expected, atol=1e-6)
    assert tables.pair_neighbours.shape == (len(tables.pair_base), k)


def test_sets_hold_every_basis_of_every_y():
    for n, k, m in [(7, 3, 2), (9, 4, 3), (10, 4, 6)]:
        members = set_members(n, k, m)
        assert members.numel() == set_base_count(n, k, m)
        assert len(members.unique()) == len(shape_tables(n, k).pair_base)  # every pair used
    assert set_base_count(10, 4, 4) == 12_600 < MAX_SET_BASES < set_base_count(16, 8, 4)


def test_prediction_ignores_signs_permutations_and_padding():
    torch.manual_seed(0)
    model = exchange().eval()
    P, nkm = random_batch()
    with torch.no_grad():
        base = model(P, nkm)
        for seed in range(3):
            moved = augment_batch(P, nkm, torch.Generator().manual_seed(seed))
            torch.testing.assert_close(model(moved, nkm), base, rtol=1e-4, atol=1e-4)
        outside = torch.ones_like(P, dtype=torch.bool)
        for i, (n, k, _) in enumerate(nkm.tolist()):
            outside[i, :k, : n - k] = False
        junk = torch.where(outside, torch.randn(P.shape) * 100, P)
        torch.testing.assert_close(model(junk, nkm), base)


def test_a_mixed_batch_predicts_each_row_as_alone():
    torch.manual_seed(1)
    model = exchange().eval()
    P, nkm = random_batch()
    with torch.no_grad():
        mixed = model(P, nkm)
        alone = torch.cat([model(P[i : i + 1], nkm[i : i + 1]) for i in range(len(P))])
    torch.testing.assert_close(mixed, alone, rtol=1e-5, atol=1e-5)


def test_learns_real_heights_from_an_initialisation_no_better_than_the_group_means():
    """At initialisation the structure alone predicts nothing: every seed scores at least the
    group-mean baseline; trained briefly it beats that baseline by far on held-out rows."""
    train = labelled(9, 4, 5, 1500, seed=0)
    test = labelled(9, 4, 5, 500, seed=1)
    mean = float(train[2].mean())
    baseline = float((test[2] - mean).square().mean())
    for seed in range(3):
        torch.manual_seed(seed)
        model = exchange(group_means=[(9, 4, 5, mean)]).eval()
        with torch.no_grad():
            assert float((model(test[0], test[1]) - test[2]).square().mean()) >= 0.99 * baseline
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        idx = torch.randint(0, len(train[0]), (64,), generator=g)
        loss = model.loss(model(train[0][idx], train[1][idx]), train[2][idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        trained = float((model.eval()(test[0], test[1]) - test[2]).square().mean())
    assert trained < 0.6 * baseline, (trained, baseline)


def _pool_reference(pool: LearnedPool, x, sets, present):
    """LearnedPool written out member by member in float64."""
    rate = pool.rate().double()
    out = torch.zeros(len(sets), x.shape[1], x.shape[2], dtype=torch.float64)
    for r, members in enumerate(sets.tolist()):
        for row in range(x.shape[1]):
            keep = [i for i in members if present[i, row]]
            if keep:
                z = x[keep, row].double() * rate
                out[r, row] = torch.logsumexp(z, 0) - np.log(len(keep))
                out[r, row] /= rate
    return out


@pytest.mark.parametrize("spread", [5.0, 400.0])
def test_learned_pool_is_log_mean_exp_even_where_float32_would_underflow(spread):
    """The fused float32 sums, and the exact redo of sets whose members all underflow there
    (at a spread of 400 nats most do), give the per-set log-mean-exp without absent members."""
    gen = torch.Generator().manual_seed(0)
    pool = LearnedPool(4, temperature=1.0)
    x = (torch.rand(30, 3, 4, generator=gen) - 0.5) * spread
    sets = torch.randint(0, 30, (12, 5), generator=gen)
    present = torch.rand(30, 3, generator=gen) > 0.3
    present[sets[0]] = False  # a set with no member present pools to 0
    with torch.no_grad():
        got = pool(x, sets, present)
        torch.testing.assert_close(got, _pool_reference(pool, x, sets, present).float())
        everyone = torch.ones(30, 3, dtype=torch.bool)
        torch.testing.assert_close(pool(x, sets), _pool_reference(pool, x, sets, everyone).float())
        torch.testing.assert_close(
            pool(x, sets[:, :1], present), x[sets[:, 0]] * present[sets[:, 0], :, None]
        )


def test_small_and_legacy_configs_build_and_stay_invariant():
    """--pool-channels and --hidden 0 (linear pair and set functions) change widths, not the
    symmetries; a config from before those options rebuilds with the old widths."""
    torch.manual_seed(2)
    P, nkm = random_batch()
    small = exchange(pool_channels=(2, 2), hidden=0, head_hidden=8).eval()
    assert small.pair_mlp.mlp is None and small.base_pool.rate().shape == (2,)
    with torch.no_grad():
        moved = augment_batch(P, nkm, torch.Generator().manual_seed(0))
        torch.testing.assert_close(small(moved, nkm), small(P, nkm), rtol=1e-4, atol=1e-4)
    legacy = exchange().config.to_json()
    del legacy["pool_channels"], legacy["head_hidden"]
    old = build_model(ModelConfig.from_json(legacy))
    assert old.neighbour_pool.rate().shape == (8,) and old.base_pool.rate().shape == (4,)
    assert old.head.mlp[0].out_features == legacy["hidden"]


def test_predicting_on_two_threads_gives_the_one_thread_result_and_keeps_the_setting():
    """predict_log2 runs whole batches side by side, one torch thread each, in input order."""
    torch.manual_seed(3)
    model = exchange()
    P, nkm = random_batch()
    data = TensorData(P, nkm, None)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = predict_log2(model, data, batch_size=5)
        torch.set_num_threads(2)
        side_by_side = predict_log2(model, data, batch_size=5)
        assert torch.get_num_threads() == 2 and model.training
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(alone, side_by_side)
    with torch.no_grad():
        direct = model.eval()(P, nkm).clamp_min(0)
    torch.testing.assert_close(alone, direct)


def test_training_runs_without_ray_or_the_solver():
    """GPU nodes install only what training needs; exchange learns, it takes nothing from the
    solver. Of pipeline/, training uses the data contract and the CLI conventions only."""
    code = (
        "import sys\n"
        "for name in ('ray', 'highspy', 'pulp', 'pandas', 'filelock', 'solver'):\n"
        "    sys.modules[name] = None  # importing them now fails\n"
        "import training.cli, training.models.exchange\n"
        "used = sorted(m for m in sys.modules if m.split('.')[0] == 'pipeline')\n"
        "assert used == ['pipeline', 'pipeline.cli_common', 'pipeline.contract'], used\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
