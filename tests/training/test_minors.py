"""--features minors: every square minor of P, its log features, and models that use them."""

from __future__ import annotations

import json
import math
from itertools import combinations

import numpy as np
import pytest
import torch
from training_runs import TINY_MLP, fit_losses, invoke, random_batch, train

from training.cli import eval_main
from training.models import FAMILIES, ModelConfig, build_model, make_model_config
from training.models.minors import FLOOR, LOG_SCALE, MinorFeatures, all_minors, minor_index
from training.models.trunks import encode
from training.settings import TrainSettings

from .test_models import SUMMARY, TINY


def minor_keys(pad: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(rows, columns) of every minor, in the order of minor_index(pad)."""
    return [
        (R, T)
        for s in range(1, pad + 1)
        for R in combinations(range(pad), s)
        for T in combinations(range(pad), s)
    ]


def integer_det(rows: list[list[int]]) -> int:
    """Exact determinant by fraction-free (Bareiss) elimination."""
    a, n, sign, prev = [list(r) for r in rows], len(rows), 1, 1
    for i in range(n - 1):
        if a[i][i] == 0:
            swap = next((r for r in range(i + 1, n) if a[r][i]), None)
            if swap is None:
                return 0
            a[i], a[swap], sign = a[swap], a[i], -sign
        for r in range(i + 1, n):
            for c in range(i + 1, n):
                a[r][c] = (a[r][c] * a[i][i] - a[r][i] * a[i][c]) // prev
        prev = a[i][i]
    return sign * a[-1][-1]


@pytest.mark.parametrize("pad", [1, 3, 6])
def test_minors_match_numpy_det_on_random_matrices(pad):
    index = minor_index(pad)
    assert index.count == sum(math.comb(pad, s) ** 2 for s in range(1, pad + 1))
    P = torch.randn(20, pad, pad, generator=torch.Generator().manual_seed(pad), dtype=torch.float64)
    minors = all_minors(P, index.entry, index.sub)
    assert minors.shape == (index.count, 20)
    expected = np.stack(
        [np.linalg.det(P.numpy()[:, list(R)][:, :, list(T)]) for R, T in minor_keys(pad)]
    )
    np.testing.assert_allclose(minors.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert index.size.tolist() == [len(R) for R, _ in minor_keys(pad)]


def test_integer_minors_are_exact_at_the_largest_magnitudes():
    g = torch.Generator().manual_seed(0)
    P = torch.randint(-100, 101, (6, 6, 6), generator=g).double()
    P[0] = 100 * torch.where(torch.rand(6, 6, generator=g) < 0.5, -1.0, 1.0)  # |det| ~ 1e13
    index = minor_index(6)
    full = all_minors(P, index.entry, index.sub)[-1]  # the 6 x 6 determinants
    assert full.tolist() == [float(integer_det(p.long().tolist())) for p in P]


def test_features_are_scaled_logs_zero_outside_the_block_and_floored_at_zero_minors():
    pad, p_scale = 6, 50.0
    P, nkm = random_batch()
    P[0, 0, 0] = 0.0  # a zero minor inside the block of row 0 (n=9, k=4: 4 x 5)
    feats = MinorFeatures(pad, p_scale)(P, nkm)
    index = minor_index(pad)
    M = index.count
    assert feats.shape == (len(P), 2 * M) and feats.dtype == torch.float32
    minors = all_minors(P.double(), index.entry, index.sub).T
    for i, (n, k, _) in enumerate(nkm.tolist()):
        for j, (R, T) in enumerate(minor_keys(pad)):
            inside = max(R) < k and max(T) < n - k
            assert feats[i, M + j] == float(inside)
            if not inside:
                assert feats[i, j] == 0.0
            elif minors[i, j] == 0:
                assert feats[i, j] == pytest.approx(FLOOR / LOG_SCALE)
            else:
                s = len(R)
                centre = s * math.log2(p_scale) + 0.5 * math.log2(math.factorial(s))
                want = (math.log2(abs(minors[i, j].item())) - centre) / LOG_SCALE
                assert feats[i, j].item() == pytest.approx(max(want, FLOOR / LOG_SCALE), abs=1e-5)
    assert feats[0, 0] == pytest.approx(FLOOR / LOG_SCALE)


def test_features_ignore_signs_and_padding_and_permute_with_the_block():
    P, nkm = random_batch()
    features = MinorFeatures(6, 1.0)
    base = features(P, nkm)
    g = torch.Generator().manual_seed(3)
    signs = torch.where(torch.rand(len(P), 6, 2, generator=g) < 0.5, -1.0, 1.0)
    flipped = P * signs[:, :, :1] * signs[:, None, :, 1]
    torch.testing.assert_close(features(flipped, nkm), base)
    outside = encode(P, nkm, 1.0).mask == 0
    junk = torch.where(outside, torch.randn(P.shape, generator=g) * 100, P)  # padding only
    torch.testing.assert_close(features(junk, nkm), base)
    swapped = P.clone()  # swap the first two rows: the same minors, in another order
    swapped[:, [0, 1]] = P[:, [1, 0]]
    M = minor_index(6).count
    torch.testing.assert_close(
        features(swapped, nkm)[:, :M].sort(1).values, base[:, :M].sort(1).values
    )


def config(family: str, **changes) -> dict:
    settings = TrainSettings(model=family, features="minors", **{**TINY, **changes})
    return make_model_config(settings, SUMMARY, 50.0)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "exchange"])  # minors of its own
def test_each_family_learns_a_few_steps_on_minor_features(family):
    torch.manual_seed(0)
    model = build_model(config(family, backbone="vit" if family == "moe-soft" else "mlp"))
    assert model.extra_dim == 2 * 923
    assert not any("extra_features" in key for key in model.state_dict())  # rebuilt, not saved
    losses = fit_losses(model, 20)
    assert losses[-1] < losses[0]


def test_old_configs_without_features_mean_raw():
    stored = make_model_config(TrainSettings(**TINY), SUMMARY, 50.0).to_json()
    assert stored.pop("features") == "raw"
    model = build_model(ModelConfig.from_json(stored))
    assert model.extra_features is None and model.encode(*random_batch()).extra.shape == (32, 0)


def test_mh_train_with_minors_augments_evaluates_and_reports_the_baseline(split_dir, tmp_path):
    run = tmp_path / "minors"
    result = train(
        split_dir,
        run,
        *TINY_MLP,
        "--features",
        "minors",
        "--augment",
        "--p-scale",
        "auto",
        epochs=2,
    )
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["model_config"]["features"] == "minors"
    scored = invoke(eval_main, ["--checkpoint", run, "--data", split_dir, "--json"])
    assert scored.exit_code == 0, scored.output
    out = json.loads(scored.stdout)
    assert out["baseline_log2_mse"] > 0
    assert all(g["baseline_log2_mse"] > 0 for g in out["groups"])
    assert "group-mean baseline" in (run / "report.md").read_text()


def test_features_do_not_change_under_bf16_autocast():
    P, nkm = random_batch()
    features = MinorFeatures(6, 50.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = features(P, nkm)
    assert torch.equal(inside, features(P, nkm))
