"""Every family builds from its config, trains a few steps, and routes as documented."""

from __future__ import annotations

import pytest
import torch
from training_runs import fit_losses, random_batch

from pipeline.contract import InputError
from training.checkpoint import UNCHECKED_FORMAT, Checkpoint, EpochSums, load_model
from training.models import FAMILIES, DataSummary, ModelConfig, build_model, make_model_config
from training.settings import TrainSettings

TINY = dict(
    widths=(16,),
    channels=4,
    blocks=1,
    dim=8,
    depth=1,
    heads=2,
    patch=2,
    experts=3,
    gate_widths=(8,),
    bins=8,
)
SUMMARY = DataSummary(
    pad=6,
    target_mean=3.0,
    group_means=[[9, 4, 2, 2.5], [10, 5, 3, 4.0]],
    log2_max=8.0,
    keys=[(7, 3), (9, 4), (10, 5), (10, 6)],
)


def config(family: str, **changes) -> ModelConfig:
    return make_model_config(TrainSettings(model=family, **{**TINY, **changes}), SUMMARY, 50.0)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_learns_a_few_steps(family):
    torch.manual_seed(0)
    model = build_model(config(family, backbone="resnet" if family == "moe-soft" else "mlp"))
    losses = fit_losses(model, 30)
    assert losses[-1] < losses[0]
    model.eval()
    P, nkm = random_batch()
    pred = model.log2_pred(model(P, nkm))
    assert pred.shape == (len(P),) and torch.isfinite(pred).all()


@pytest.mark.parametrize("backbone", ["resnet", "vit"])
def test_moe_experts_accept_every_trunk(backbone):
    model = build_model(config("moe-sparse", backbone=backbone, top_k=1))
    P, nkm = random_batch()
    assert model.log2_pred(model(P, nkm)).shape == (len(P),)


def test_hard_moe_routes_by_n_and_k():
    model = build_model(config("moe-hard")).eval()
    P, nkm = random_batch()
    out = model(P, nkm)
    enc = model.encode(P, nkm)
    for e, (n, k) in enumerate(SUMMARY.keys):
        rows = (nkm[:, 0] == n) & (nkm[:, 1] == k)
        torch.testing.assert_close(out[rows], model.experts[e](enc)[rows])


def test_sparse_top1_output_is_one_experts_prediction():
    model = build_model(config("moe-sparse", top_k=1)).eval()
    P, nkm = random_batch()
    out, balance = model(P, nkm)
    each = model.expert_predictions(model.encode(P, nkm))
    assert ((each - out[:, None]).abs().min(1).values < 1e-5).all()
    assert balance.item() > 0


def test_classifier_predicts_inside_its_bins():
    model = build_model(config("classify")).eval()
    P, nkm = random_batch()
    pred = model.log2_pred(model(P, nkm))
    assert ((pred >= 0) & (pred <= 8.0)).all()


def test_unknown_family_and_broken_config_are_input_errors():
    with pytest.raises(InputError, match="unknown model family"):
        ModelConfig.from_json({"family": "gbm"})
    with pytest.raises(InputError, match="invalid mlp model config: missing p_scale"):
        ModelConfig.from_json({"family": "mlp", "pad": 6})
    with pytest.raises(InputError, match="invalid mlp model config: unknown trunk kind 'cnn'"):
        ModelConfig.from_json({**config("mlp").to_json(), "trunk": {"kind": "cnn"}})


@pytest.mark.parametrize("family", FAMILIES)
def test_config_json_round_trip(family):
    cfg = config(family)
    assert ModelConfig.from_json(cfg.to_json()) == cfg


def test_checkpoint_round_trip_gives_the_same_predictions(tmp_path):
    cfg = config("vit")
    model = build_model(cfg).eval()
    Checkpoint(cfg, model.state_dict()).save(tmp_path / "m.pt")
    loaded, _ = load_model(tmp_path / "m.pt", torch.device("cpu"))
    P, nkm = random_batch()
    torch.testing.assert_close(model(P, nkm), loaded(P, nkm))


def test_checkpoints_of_earlier_versions_still_load(tmp_path):
    """Format /1 (no checksum), a dict model config without "features", a list of partial sums."""
    cfg = config("mlp")
    model = build_model(cfg).eval()
    stored = cfg.to_json()
    del stored["features"]
    loop = {"epoch": 1, "step": 2, "world": 1, "best_val": 0.5, "best_epoch": 1,
            "bad_epochs": 0, "partial": [1.0, 2.0, 3.0, 4.0]}  # fmt: skip
    old = {"format": UNCHECKED_FORMAT, "model_config": stored, "model": model.state_dict()}
    torch.save({**old, "loop": loop}, tmp_path / "old.pt")
    ckpt = Checkpoint.load(tmp_path / "old.pt")
    assert ckpt.model_config == cfg and ckpt.loop.partial == EpochSums(1.0, 2.0, 3.0, 4.0)
    loaded, _ = load_model(tmp_path / "old.pt", torch.device("cpu"))
    P, nkm = random_batch()
    torch.testing.assert_close(model(P, nkm), loaded(P, nkm))
