"""The GPU check of the trainer (run by gpu_check.sh): every family one epoch in bf16, training
and prediction samples/s, then a short exchange training scored on a held-out test set.

Needs torch, numpy and pyarrow (no Ray, no highspy): exact course-grid labels come from the
numpy closed form of solver/ in-process, written as Parquet splits that mh-train's own
run_training reads. Prints one JSON summary and writes it to --out. On a CPU, --smoke runs the
same path on a few rows (the slow test suite does, so the script cannot rot unseen).
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a bare checkout

from solver import m_heights  # noqa: E402
from training.data import rows_from_table, to_tensors  # noqa: E402
from training.inference import predict_log2  # noqa: E402
from training.loop import (
    StepRunner,  # noqa: E402
    build_optimizer,  # noqa: E402
)
from training.metrics import group_log2_mse  # noqa: E402
from training.models import FAMILIES, DataSummary, build_model, make_model_config  # noqa: E402
from training.predict import evaluate_checkpoint  # noqa: E402
from training.run import run_training  # noqa: E402
from training.runtime import resolve_device, uses_bf16  # noqa: E402
from training.settings import TrainSettings  # noqa: E402

GRID = [(n, k, m) for n in (9, 10) for k in (4, 5, 6) for m in range(2, n - k + 1)]
# each family's recipe, as in benchmarks/model_zoo.py (minor features where a family takes them)
RECIPES = {family: {"model": family, "features": "minors", "dropout": 0.0} for family in FAMILIES}
RECIPES["exchange"] = {"model": "exchange"}
RECIPES["resnet"] = {"model": "resnet", "features": "minors"}


def labelled_table(rows_per_group: int, seed: int):
    """Course-grid rows with integer P in [-100, 100] and exact finite heights (Parquet table)."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    parts = []
    for n, k, m in GRID:
        P = rng.integers(-100, 101, size=(2 * rows_per_group, k, n - k)).astype(np.float64)
        h = m_heights(P, m, method="vertex")
        keep = np.flatnonzero(np.isfinite(h))[:rows_per_group]
        parts.append(
            pa.table(
                {
                    "n": pa.array([n] * len(keep), pa.int32()),
                    "k": pa.array([k] * len(keep), pa.int32()),
                    "m": pa.array([m] * len(keep), pa.int32()),
                    "P": pa.array(list(P[keep].reshape(len(keep), -1))),
                    "height": pa.array(h[keep]),
                }
            )
        )
    return pa.concat_tables(parts)


def family_rates(family: str, train, val, summary: DataSummary, device, batch: int) -> dict:
    """One epoch of training (bf16 autocast on CUDA) and one pass of prediction, timed."""
    torch.manual_seed(0)
    settings = TrainSettings(**RECIPES[family])
    model = build_model(make_model_config(settings, summary, 57.7)).to(device)
    runner = StepRunner(
        model,
        model,
        build_optimizer(settings, model.parameters()),
        uses_bf16("auto", device),
        settings.clip_grad,
        augment=False,
    )
    order = torch.randperm(len(train), device=device).split(batch)
    gen = torch.Generator(device=device).manual_seed(0)
    runner(train.P[order[0]], train.nkm[order[0]], train.y[order[0]], gen)  # warm-up, untimed
    _sync(device)
    started = time.perf_counter()
    for index in order[1:]:
        runner(train.P[index], train.nkm[index], train.y[index], gen)
    _sync(device)
    train_rate = (len(train) - len(order[0])) / (time.perf_counter() - started)
    predict_log2(model, val)  # warm-up
    _sync(device)
    started = time.perf_counter()
    pred = predict_log2(model, val)
    _sync(device)
    predict_rate = len(val) / (time.perf_counter() - started)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_samples_per_s": train_rate,
        "predict_samples_per_s": predict_rate,
        "val_log2_mse_after_one_epoch": group_log2_mse(pred, val.y, val.nkm)[0],
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@click.command()
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--rows", default=20_000, show_default=True, help="Training rows per group.")
@click.option("--batch-size", default=8192, show_default=True, help="Rates (mlp: x4).")
@click.option("--exchange-epochs", default=4, show_default=True)
@click.option("--smoke", is_flag=True, help="A few rows, to check the path on a CPU.")
def main(device: str, out: Path, rows: int, batch_size: int, exchange_epochs: int, smoke: bool):
    """Run the GPU check and write its JSON summary to OUT."""
    dev = resolve_device(device)
    if smoke:
        rows, batch_size, exchange_epochs = 40, 64, 1
    summary: dict = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor(),
        "torch": torch.__version__,
        "bf16": uses_bf16("auto", dev),
        "rows_per_group": rows,
    }
    started = time.perf_counter()
    train_table = labelled_table(rows, seed=0)
    val_table, test_table = (
        labelled_table(max(rows // 10, 20), 1),
        labelled_table(2 * rows // 10, 2),
    )
    summary["labelling_seconds"] = time.perf_counter() - started
    train = to_tensors(rows_from_table(train_table, "train", True), 6, dev)
    val = to_tensors(rows_from_table(val_table, "val", True), 6, dev)
    y = train.y.cpu().numpy()
    nkm = train.nkm.cpu().numpy()
    means = [[n, k, m, float(y[(nkm == (n, k, m)).all(1)].mean())] for n, k, m in GRID]
    data = DataSummary(
        6, float(y.mean()), means, float(np.ceil(y.max())), sorted({g[:2] for g in GRID})
    )

    summary["families"] = {}
    for family in FAMILIES:
        batch = 4 * batch_size if family == "mlp" else batch_size
        summary["families"][family] = family_rates(family, train, val, data, dev, batch)
        summary["families"][family]["batch_size"] = batch
        print(family, json.dumps(summary["families"][family]), flush=True)
    mlp_rate = summary["families"]["mlp"]["train_samples_per_s"]
    summary["target_mlp_1M_train_samples_per_s"] = "PASS" if mlp_rate >= 1e6 else "FAIL"

    with tempfile.TemporaryDirectory() as tmp:
        import pyarrow.parquet as pq

        folders = {}
        for name, table in (("train", train_table), ("val", val_table), ("test", test_table)):
            folders[name] = Path(tmp) / "split" / name
            folders[name].mkdir(parents=True)
            pq.write_table(table, folders[name] / "course.parquet")
        settings = TrainSettings(
            train=(str(folders["train"]),),
            val=(str(folders["val"]),),
            epochs=exchange_epochs,
            batch_size=min(batch_size, 2048),
            device=dev.type,
        )
        started = time.perf_counter()
        run_training(settings, Path(tmp) / "run", resume=False, explicit=set(), quiet=True)
        seconds = time.perf_counter() - started
        scored = evaluate_checkpoint(Path(tmp) / "run", folders["test"], "test", dev.type, None)
    summary["exchange_training"] = {
        "epochs": exchange_epochs,
        "seconds": seconds,
        "test_log2_mse": scored["log2_mse"],
        "test_baseline": scored["baseline_log2_mse"],
        "groups": scored["groups"],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "families"}, indent=2))


if __name__ == "__main__":
    main()
