"""mh-train's work from settings to run folder: data, model (new or resumed), training, report.

Everything that can be refused (data, options, checkpoints) is checked before the run folder
is touched, so bad input writes nothing.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from pipeline.contract import InputError
from training.checkpoint import BEST, LAST, load_checkpoint, load_weights
from training.data import MIN_PAD, Rows, drop_infinite, read_rows, to_tensors
from training.distributed import DistContext, init_distributed, is_main_process, shutdown
from training.inference import predict_log2
from training.interrupt import StopRequest
from training.loop import LoopState, StepRunner, Trainer
from training.metrics import score_with_baseline
from training.models import SINGLE_FAMILIES, build_model
from training.models.base import HeightModel
from training.models.registry import MOE_FAMILIES, DataSummary, check_supported, make_model_config
from training.optim import build_optimizer, build_scheduler
from training.report import start_metrics, write_report
from training.runtime import resolve_device, uses_bf16, versions
from training.settings import TrainSettings, merge_for_resume, refuse_inapplicable

CONFIG = "config.json"


def run_training(
    given: TrainSettings, run_dir: Path, *, resume: bool, explicit: set[str], quiet: bool
) -> bool:
    """Train into run_dir; True when training is complete, False when a signal stopped it."""
    ckpt = None
    if resume and (run_dir / LAST).exists():
        ckpt = load_checkpoint(run_dir / LAST)
        settings = merge_for_resume(TrainSettings.from_dict(ckpt["settings"]), given, explicit)
    elif not resume and ((run_dir / LAST).exists() or (run_dir / CONFIG).exists()):
        raise InputError(f"{run_dir} already holds a run; pass --resume {run_dir} to continue it")
    else:
        settings = given
    refuse_inapplicable(settings, explicit)
    if not settings.train or not settings.val:
        raise InputError("no data: give --data SPLIT_DIR, or --train and --val")
    device = resolve_device(settings.device)
    train_rows, val_rows, data_info = _load_data(settings, announce=not quiet and is_main_process())
    if ckpt is not None:
        _check_same_data(ckpt["data"], data_info)
        model_config, expert_states = ckpt["model_config"], []
    else:
        model_config, expert_states = _new_model_config(settings, train_rows, val_rows)
    check_supported(model_config, train_rows, "training data")
    check_supported(model_config, val_rows, "validation data")
    data_info["pad"] = model_config["pad"]

    torch.manual_seed(settings.seed)
    model = build_model(model_config)
    if ckpt is not None:
        load_weights(model, ckpt["model"], run_dir / LAST)
    elif expert_states:
        try:
            model.init_experts(expert_states)
        except (ValueError, RuntimeError) as e:
            raise InputError(f"--init-experts: {e}") from None

    ctx = init_distributed(device)
    try:
        return _train(
            settings,
            model,
            model_config,
            ckpt,
            train_rows,
            val_rows,
            data_info,
            ctx,
            run_dir,
            quiet,
        )
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


def _train(
    settings: TrainSettings,
    model: HeightModel,
    model_config: dict[str, Any],
    ckpt: dict[str, Any] | None,
    train_rows: Rows,
    val_rows: Rows,
    data_info: dict[str, Any],
    ctx: DistContext,
    run_dir: Path,
    quiet: bool,
) -> bool:
    model.to(ctx.device)
    forward: Any = model
    if ctx.active:
        forward = DistributedDataParallel(
            model,
            device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
            find_unused_parameters=model.conditional_experts,
        )
    if settings.compile:
        forward = torch.compile(forward)
    optimizer = build_optimizer(settings, model.parameters())
    scheduler = build_scheduler(settings, optimizer)
    state = LoopState()
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None and ckpt["scheduler"] is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        state = LoopState.from_dict(ckpt["loop"])
    pad = model_config["pad"]
    train, val = to_tensors(train_rows, pad, ctx.device), to_tensors(val_rows, pad, ctx.device)
    bf16 = uses_bf16(settings.precision, ctx.device)
    runner = StepRunner(model, forward, optimizer, bf16, settings.clip_grad, settings.augment)
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_config(run_dir, settings, model_config, model, data_info, ctx, bf16, state)
        if ckpt is None:
            start_metrics(run_dir)
    with StopRequest() as stop:
        trainer = Trainer(
            model=model,
            runner=runner,
            scheduler=scheduler,
            settings=settings,
            train=train,
            val=val,
            ctx=ctx,
            run_dir=run_dir,
            state=state,
            stop=stop,
            checkpoint_info={"model_config": model_config, "data": data_info},
            quiet=quiet,
        )
        if trainer.done() and (run_dir / "report.md").exists():
            _say(quiet or not ctx.is_main, f"{run_dir}: training had already finished")
            return True
        finished = trainer.fit()
    if not finished:
        signal_name = stop.signal_name or "a signal to another rank"
        _say(
            not ctx.is_main,  # even with --quiet: job logs should say why it ended
            f"stopped by {signal_name} at epoch {state.epoch + 1}, step {state.step}; "
            f"saved {run_dir / LAST}; continue with: mh-train --resume {run_dir}",
        )
        return False
    if ctx.is_main:
        _final_report(model, val, settings, state, data_info, run_dir)
        _say(
            quiet,
            f"best validation log2-MSE {state.best_val:.4f} at epoch {state.best_epoch}; "
            f"report: {run_dir / 'report.md'}",
        )
    return True


def _load_data(s: TrainSettings, announce: bool) -> tuple[Rows, Rows, dict[str, Any]]:
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
    for name in ("train", "val"):
        if saved[name]["fingerprint"] != now[name]["fingerprint"]:
            raise InputError(
                f"the {name} data changed since this run started (fingerprint "
                f"{saved[name]['fingerprint']} then, {now[name]['fingerprint']} now)"
            )


def _new_model_config(
    s: TrainSettings, train: Rows, val: Rows
) -> tuple[dict[str, Any], list[dict[str, torch.Tensor]]]:
    """Model config for a fresh run, and expert weights when --init-experts is given."""
    y = np.log2(train.height)
    keys = sorted({(int(n), int(k)) for n, k in np.unique(train.nkm[:, :2], axis=0)})
    trunk, features, states = None, None, []
    if s.init_experts:
        if s.model not in MOE_FAMILIES:
            raise InputError(f"--init-experts needs a moe-* model, not {s.model}")
        expert_config, states = _load_experts(s.init_experts)
        pad, p_scale, trunk = expert_config["pad"], expert_config["p_scale"], expert_config["trunk"]
        features = expert_config["features"]
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


def _load_experts(paths: tuple[str, ...]) -> tuple[dict[str, Any], list[dict[str, torch.Tensor]]]:
    """Regressor weights of single-model checkpoints, which must share one architecture."""
    configs, states = [], []
    for path in paths:
        ckpt = load_checkpoint(path)
        config = ckpt["model_config"]
        if config.get("family") not in SINGLE_FAMILIES:
            raise InputError(
                f"{path}: --init-experts needs an mlp, resnet or vit checkpoint, "
                f"not {config.get('family')}"
            )
        shape = {key: config[key] for key in ("pad", "p_scale", "trunk")}
        shape["features"] = config.get("features", "raw")
        if configs and shape != configs[0]:
            raise InputError(f"{path}: its architecture differs from {paths[0]}'s")
        configs.append(shape)
        states.append({k.removeprefix("net."): v for k, v in ckpt["model"].items()})
    return configs[0], states


def _write_config(
    run_dir: Path,
    s: TrainSettings,
    model_config: dict[str, Any],
    model: HeightModel,
    data_info: dict[str, Any],
    ctx: DistContext,
    bf16: bool,
    state: LoopState,
) -> None:
    device = str(ctx.device)
    if ctx.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(ctx.device)})"
    config = {
        "settings": s.to_dict(),
        "model_config": model_config,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": data_info,
        "device": device,
        "world_size": ctx.world,
        "bf16_autocast": bf16,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "started_at_epoch": state.epoch,
        "versions": versions(),
    }
    (run_dir / CONFIG).write_text(json.dumps(config, indent=2) + "\n")


def _final_report(
    model: HeightModel,
    val: Any,
    s: TrainSettings,
    state: LoopState,
    data_info: dict[str, Any],
    run_dir: Path,
) -> None:
    load_weights(model, load_checkpoint(run_dir / BEST)["model"], run_dir / BEST)
    pred = predict_log2(model, val)
    scores = score_with_baseline(pred, val.y, val.nkm, model.config)
    early = s.patience > 0 and state.bad_epochs >= s.patience
    summary = {
        "model": f"{s.model} ({sum(p.numel() for p in model.parameters()):,} parameters)",
        "model config": f"`{json.dumps(model.config)}`",
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
