"""mh-train's work from settings to run folder, top to bottom: setup, loop, teardown.

Setup checks everything that can be refused (data, options, checkpoints) before the run folder
is touched, so bad input writes nothing; the loop is loop.Trainer; teardown writes the report.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from pipeline.contract import InputError
from training.checkpoint import BEST, LAST, Checkpoint
from training.data import MIN_PAD, Rows, TensorData, drop_infinite, read_rows, to_tensors
from training.inference import predict_log2
from training.loop import Trainer
from training.metrics import score_with_baseline
from training.models import (
    SINGLE_FAMILIES,
    DataSummary,
    ModelConfig,
    build_model,
    check_supported,
    make_model_config,
)
from training.models.base import HeightModel
from training.models.config import MOE_FAMILIES, TrunkConfig
from training.report import start_metrics, write_report
from training.runtime import (
    DistContext,
    init_distributed,
    is_main_process,
    resolve_device,
    shutdown,
    versions,
)
from training.settings import TrainSettings, merge_for_resume, refuse_inapplicable

CONFIG = "config.json"


def run_training(
    given: TrainSettings, run_dir: Path, *, resume: bool, explicit: set[str], quiet: bool
) -> bool:
    """Train into run_dir; True when training is complete, False when a signal stopped it."""
    # setup: settings, data and model, all checked before anything is written
    resumed = None
    if resume and (run_dir / LAST).exists():
        resumed = Checkpoint.load(run_dir / LAST)
        settings = merge_for_resume(resumed.settings, given, explicit)
    elif not resume and ((run_dir / LAST).exists() or (run_dir / CONFIG).exists()):
        raise InputError(f"{run_dir} already holds a run; pass --resume {run_dir} to continue it")
    else:
        settings = given
    refuse_inapplicable(settings, explicit)
    if not settings.train or not settings.val:
        raise InputError("no data: give --data SPLIT_DIR, or --train and --val")
    device = resolve_device(settings.device)
    train_rows, val_rows, data_info = _load_data(settings, announce=not quiet and is_main_process())
    if resumed is not None:
        _check_same_data(resumed.data, data_info)
        model_config, expert_states = resumed.model_config, []
    else:
        model_config, expert_states = _new_model_config(settings, train_rows, val_rows)
    check_supported(model_config, train_rows, "training data")
    check_supported(model_config, val_rows, "validation data")
    data_info["pad"] = model_config.pad
    torch.manual_seed(settings.seed)
    model = build_model(model_config)
    if resumed is not None:
        resumed.load_weights(model, run_dir / LAST)
    elif expert_states:
        try:
            model.init_experts(expert_states)
        except (ValueError, RuntimeError) as e:
            raise InputError(f"--init-experts: {e}") from None

    ctx = init_distributed(device)
    try:
        data = tuple(to_tensors(r, model_config.pad, ctx.device) for r in (train_rows, val_rows))
        trainer = Trainer(settings, model, data, data_info, ctx, run_dir, resumed, quiet=quiet)
        if ctx.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            _write_config(run_dir, settings, model, data_info, ctx, trainer)
            if resumed is None:
                start_metrics(run_dir)
        if trainer.done() and (run_dir / "report.md").exists():
            _say(quiet or not ctx.is_main, f"{run_dir}: training had already finished")
            return True
        # the loop
        finished = trainer.fit()
        # teardown: a stopped run says how to continue, a finished one writes its report
        state = trainer.state
        if not finished:
            signal_name = trainer.stop.signal_name or "a signal to another rank"
            _say(
                not ctx.is_main,  # even with --quiet: job logs should say why it ended
                f"stopped by {signal_name} at epoch {state.epoch + 1}, step {state.step}; "
                f"saved {run_dir / LAST}; continue with: mh-train --resume {run_dir}",
            )
            return False
        if ctx.is_main:
            _final_report(model, data[1], settings, trainer, data_info, run_dir)
            _say(
                quiet,
                f"best validation log2-MSE {state.best_val:.4f} at epoch {state.best_epoch}; "
                f"report: {run_dir / 'report.md'}",
            )
        return True
    finally:
        shutdown(ctx)


def resolve_p_scale(option: str, rows: Rows) -> float:
    """The divisor applied to P: 1 (off), the RMS of the valid training entries (auto), or given."""
    if option == "off":
        return 1.0
    if option == "auto":
        entries = float((rows.nkm[:, 1] * (rows.nkm[:, 0] - rows.nkm[:, 1])).sum())
        rms = math.sqrt(float(np.square(rows.P, dtype=np.float64).sum()) / entries)
        return rms if rms > 0 else 1.0
    return float(option)


def _load_data(s: TrainSettings, announce: bool) -> tuple[Rows, Rows, dict[str, Any]]:
    """Finite-height training and validation rows, and what config.json records of them."""
    info: dict[str, Any] = {}
    loaded = []
    for name, paths in (("train", s.train), ("val", s.val)):
        rows, dropped = drop_infinite(read_rows(paths, need_height=True))
        if len(rows) == 0:
            raise InputError(f"{name} data: no rows with a finite height")
        if dropped and announce:
            print(f"{name} data: dropped {dropped} rows with infinite height", file=sys.stderr)
        info[name] = {
            "paths": list(paths),
            "rows": len(rows),
            "dropped_infinite": dropped,
            "groups": len(np.unique(rows.nkm, axis=0)),
            "fingerprint": rows.fingerprint,
        }
        loaded.append(rows)
    return loaded[0], loaded[1], info


def _check_same_data(saved: dict[str, Any], now: dict[str, Any]) -> None:
    """A resumed run must see the data it started with (same fingerprints)."""
    for name in ("train", "val"):
        if saved[name]["fingerprint"] != now[name]["fingerprint"]:
            raise InputError(
                f"the {name} data changed since this run started (fingerprint "
                f"{saved[name]['fingerprint']} then, {now[name]['fingerprint']} now)"
            )


def _new_model_config(
    s: TrainSettings, train: Rows, val: Rows
) -> tuple[ModelConfig, list[dict[str, torch.Tensor]]]:
    """Model config for a fresh run, and expert weights when --init-experts is given."""
    y = np.log2(train.height)
    keys = sorted({(int(n), int(k)) for n, k in np.unique(train.nkm[:, :2], axis=0)})
    trunk, features, states = None, None, []
    if s.init_experts:
        if s.model not in MOE_FAMILIES:
            raise InputError(f"--init-experts needs a moe-* model, not {s.model}")
        expert, states = _load_experts(s.init_experts)
        pad, p_scale, trunk, features = expert.pad, expert.p_scale, expert.trunk, expert.features
    else:
        pad = max(MIN_PAD, *train.max_block, *val.max_block)
        p_scale = resolve_p_scale(s.p_scale, train)
    groups, inverse = np.unique(train.nkm, axis=0, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=y, minlength=len(groups))
    counts = np.bincount(inverse.ravel(), minlength=len(groups))
    means = [[*map(int, g), float(v)] for g, v in zip(groups, sums / counts, strict=True)]
    summary = DataSummary(
        pad=pad,
        target_mean=float(y.mean()),
        group_means=means,
        log2_max=float(max(1.0, math.ceil(y.max()))),
        keys=keys,
    )
    return make_model_config(s, summary, p_scale, trunk, features), states


def _load_experts(paths: tuple[str, ...]) -> tuple[ExpertShape, list[dict[str, torch.Tensor]]]:
    """Regressor weights of single-model checkpoints, which must share one architecture."""
    shapes, states = [], []
    for path in paths:
        ckpt = Checkpoint.load(path)
        config = ckpt.model_config
        if config.family not in SINGLE_FAMILIES:
            raise InputError(
                f"{path}: --init-experts needs an mlp, resnet or vit checkpoint, "
                f"not {config.family}"
            )
        shape = ExpertShape(config.pad, config.p_scale, config.trunk, config.features)
        if shapes and shape != shapes[0]:
            raise InputError(f"{path}: its architecture differs from {paths[0]}'s")
        shapes.append(shape)
        states.append({k.removeprefix("net."): v for k, v in ckpt.model.items()})
    return shapes[0], states


class ExpertShape(NamedTuple):
    """What experts taken from single-model checkpoints must share, and the MoE takes over."""

    pad: int
    p_scale: float
    trunk: TrunkConfig
    features: str


def _write_config(
    run_dir: Path,
    s: TrainSettings,
    model: HeightModel,
    data_info: dict[str, Any],
    ctx: DistContext,
    trainer: Trainer,
) -> None:
    """config.json: what this run (or this part of a resumed one) trained, where and with what."""
    device = str(ctx.device)
    if ctx.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(ctx.device)})"
    config = {
        "settings": s.to_dict(),
        "model_config": model.config.to_json(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": data_info,
        "device": device,
        "world_size": ctx.world,
        "bf16_autocast": trainer.bf16,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "started_at_epoch": trainer.state.epoch,
        "versions": versions(),
    }
    (run_dir / CONFIG).write_text(json.dumps(config, indent=2) + "\n")


def _final_report(
    model: HeightModel,
    val: TensorData,
    s: TrainSettings,
    trainer: Trainer,
    data_info: dict[str, Any],
    run_dir: Path,
) -> None:
    """report.md and its plots, from best.pt's weights on the validation data."""
    state = trainer.state
    Checkpoint.load(run_dir / BEST).load_weights(model, run_dir / BEST)
    pred = predict_log2(model, val)
    scores = score_with_baseline(pred, val.y, val.nkm, model.config)
    early = s.patience > 0 and state.bad_epochs >= s.patience
    summary = {
        "model": f"{s.model} ({sum(p.numel() for p in model.parameters()):,} parameters)",
        "model config": f"`{json.dumps(model.config.to_json())}`",
        "training rows": f"{data_info['train']['rows']:,} in {data_info['train']['groups']} "
        f"groups ({data_info['train']['dropped_infinite']} infinite dropped)",
        "validation rows": f"{data_info['val']['rows']:,} in {data_info['val']['groups']} "
        f"groups ({data_info['val']['dropped_infinite']} infinite dropped)",
        "epochs run": state.epoch,
        "stopped by": f"early stopping (patience {s.patience})" if early else "epoch limit",
        "best epoch": state.best_epoch,
    }
    write_report(
        run_dir, summary, scores, pred.cpu().numpy(), val.y.cpu().numpy(), val.nkm.cpu().numpy()
    )


def _say(silent: bool, message: str) -> None:
    if not silent:
        print(message, file=sys.stderr)
