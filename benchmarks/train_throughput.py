"""Training throughput (samples/s) of each model family on the current device.

A synthetic dataset (course grid, toy labels) is loaded into device memory once; each model
then runs --warmup untimed and --steps timed optimisation steps with random batches, through
the same StepRunner as mh-train. Example:

    python benchmarks/train_throughput.py --device cuda --steps 200 --batch-size 4096
"""

from __future__ import annotations

import time

import click
import torch

from training.data import rows_from_table, to_tensors
from training.loop import StepRunner, build_optimizer
from training.models import DataSummary, build_model, make_model_config
from training.runtime import resolve_device, uses_bf16
from training.settings import TrainSettings
from training.synthetic import course_grid, synthetic_table

# name -> settings of the variant (sizes of the original experiments where it gave them)
VARIANTS = {
    "mlp": dict(model="mlp", widths=(512, 256, 128), dropout=0.3),
    "resnet-32x3": dict(model="resnet", channels=32, blocks=3),
    "resnet-64x5": dict(model="resnet", channels=64, blocks=5),
    "vit": dict(model="vit"),
    "moe-hard": dict(model="moe-hard", backbone="mlp"),
    "moe-sparse-6x64x5": dict(
        model="moe-sparse", backbone="resnet", channels=64, blocks=5, experts=6, top_k=2
    ),
    "moe-soft": dict(model="moe-soft", backbone="mlp", experts=4),
    "classify": dict(model="classify", backbone="mlp"),
    "exchange": dict(model="exchange"),
}


def measure(variant: dict, data, summary: DataSummary, device: torch.device, args) -> tuple:
    """(parameters, samples/s) of one variant."""
    settings = TrainSettings(**variant, augment=args["augment"])
    torch.manual_seed(0)
    model = build_model(make_model_config(settings, summary, p_scale=58.0)).to(device)
    forward = torch.compile(model) if args["compile"] else model
    runner = StepRunner(
        model,
        forward,
        build_optimizer(settings, model.parameters()),
        uses_bf16(args["precision"], device),
        settings.clip_grad,
        settings.augment,
    )
    gen = torch.Generator(device=device).manual_seed(0)
    batch = args["batch_size"]

    def run(steps: int) -> None:
        for _ in range(steps):
            index = torch.randint(len(data), (batch,), generator=gen, device=device)
            runner(data.P[index], data.nkm[index], data.y[index], gen)

    run(args["warmup"])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run(args["steps"])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return sum(p.numel() for p in model.parameters()), args["steps"] * batch / seconds


@click.command()
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option("--rows", default=200_000, show_default=True, help="Synthetic dataset size.")
@click.option("--steps", default=20, show_default=True, help="Timed steps per model.")
@click.option("--warmup", default=3, show_default=True, help="Untimed steps first.")
@click.option("--batch-size", default=4096, show_default=True)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    show_default=True,
    help="auto: bf16 autocast on CUDA.",
)
@click.option("--compile/--no-compile", default=False, show_default=True)
@click.option("--augment/--no-augment", default=False, show_default=True)
@click.option(
    "--only", default=",".join(VARIANTS), show_default=True, help="Comma-separated variants to run."
)
def main(device: str, rows: int, only: str, **args) -> None:
    """Print a table of training samples/s per model family."""
    dev = resolve_device(device)
    grid = course_grid()
    table = synthetic_table(grid, max(1, rows // len(grid)), seed=0)
    data = to_tensors(rows_from_table(table, "synthetic", need_height=True), 6, dev)
    keys = sorted({(n, k) for n, k, _ in grid})
    summary = DataSummary(6, float(data.y.mean()), [], float(data.y.max().ceil()), keys)
    threads = f"cpu, {torch.get_num_threads()} threads"
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else threads
    click.echo(
        f"device {name}; {len(data):,} rows; batch {args['batch_size']}; "
        f"{args['steps']} timed steps; bf16 {uses_bf16(args['precision'], dev)}; "
        f"compile {args['compile']}; augment {args['augment']}"
    )
    click.echo(f"| {'model':<18} | {'parameters':>10} | {'samples/s':>12} |")
    click.echo(f"|{'-' * 20}|{'-' * 11}:|{'-' * 13}:|")
    for variant in only.split(","):
        if variant not in VARIANTS:
            raise click.BadParameter(f"unknown variant {variant!r}", param_hint="--only")
        params, rate = measure(VARIANTS[variant], data, summary, dev, args)
        click.echo(f"| {variant:<18} | {params:>10,} | {rate:>12,.0f} |")


if __name__ == "__main__":
    main()
