"""Augmentation keeps the m-height invariants; the metric weighs every group the same."""

from __future__ import annotations

import numpy as np
import torch
from training_runs import random_batch

from training.data import augment_batch
from training.metrics import clamp_log2, format_table, group_log2_mse, score_with_baseline
from training.models import ModelConfig
from training.synthetic import toy_log2_height


def test_augment_is_a_signed_permutation_of_each_valid_block():
    P, nkm = random_batch()
    out = augment_batch(P, nkm, torch.Generator().manual_seed(1))
    changed = 0
    for i, (n, k, m) in enumerate(nkm.tolist()):
        a, b = P[i, :k, : n - k].numpy(), out[i, :k, : n - k].numpy()
        assert out[i].abs().sum() == np.abs(b).sum()  # padding stays zero
        # same multisets of rows and columns up to order and sign
        assert sorted(map(sorted, np.abs(a).tolist())) == sorted(map(sorted, np.abs(b).tolist()))
        assert sorted(map(sorted, np.abs(a.T).tolist())) == sorted(
            map(sorted, np.abs(b.T).tolist())
        )
        # and the toy label, invariant like the m-height, does not move
        np.testing.assert_allclose(toy_log2_height(a[None], m), toy_log2_height(b[None], m))
        changed += not np.array_equal(a, b)
    assert changed > len(nkm) // 2


def test_augment_is_reproducible_per_generator_seed():
    P, nkm = random_batch()
    a = augment_batch(P, nkm, torch.Generator().manual_seed(5))
    b = augment_batch(P, nkm, torch.Generator().manual_seed(5))
    c = augment_batch(P, nkm, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_group_mean_weighs_groups_equally():
    nkm = torch.tensor([[9, 4, 2]] + [[9, 4, 3]] * 3)
    true = torch.zeros(4)
    pred = torch.tensor([2.0, 1.0, 1.0, 1.0])
    overall, table = group_log2_mse(pred, true, nkm)
    assert overall == (4.0 + 1.0) / 2
    assert [(s.m, s.rows, s.log2_mse) for s in table] == [(2, 1, 4.0), (3, 3, 1.0)]


def test_group_mean_baseline_uses_the_configs_group_means_then_target_mean():
    nkm = torch.tensor([[9, 4, 2], [9, 4, 2], [10, 5, 3]])
    true = torch.tensor([1.0, 3.0, 7.0])
    means = ((9, 4, 2, 2.5), (9, 4, 4, 9.0))
    config = ModelConfig("mlp", 6, 1.0, "raw", 4.0, group_means=means)
    scores = score_with_baseline(torch.tensor([1.0, 3.0, 6.0]), true, nkm, config)
    assert scores.log2_mse == (0.0 + 1.0) / 2
    # (9,4,2) predicted 2.5: (2.25 + 0.25) / 2; (10,5,3) is absent: target_mean 4, error 9
    assert scores.baseline_log2_mse == (1.25 + 9.0) / 2
    assert [s.baseline_log2_mse for s in scores.groups] == [1.25, 9.0]
    assert "| 9 | 4 | 2 | 2 | 0.0000 | 1.2500 |" in format_table(scores.groups)


def test_clamped_predictions_are_finite_heights_at_least_one():
    out = clamp_log2(torch.tensor([float("nan"), float("inf"), -float("inf"), -3.0, 2.5]))
    assert torch.isfinite(torch.exp2(out.double())).all() and (out >= 0).all()
    assert out[-1] == 2.5
