"""Console scripts mh-train, mh-eval and mh-predict (thin click wrappers).

Bad input of any kind ends with a one-line "Error: ..." and exit status 2, having written
nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from pipeline.cli_common import Command, check_writable
from pipeline.contract import InputError
from training.metrics import GroupScore, format_table
from training.models import FAMILIES, FEATURES, TRUNK_KINDS
from training.predict import Predictor, evaluate_checkpoint, predict_file
from training.run import run_training
from training.settings import TrainSettings

D = TrainSettings()  # defaults shown by --help come from the settings record
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

TRAIN_EPILOG = """\b
Outputs in RUN_DIR: config.json (settings, model config, data fingerprints, versions),
best.pt and last.pt (model config + weights + optimizer + loop state), metrics.csv (per
epoch), and, once training has finished, report.md with learning_curves.png and
pred_vs_true.png.

\b
Resuming and SLURM: on SIGUSR1 or SIGTERM the current step finishes, last.pt is saved and
mh-train exits with status 0. `--resume RUN_DIR` continues from last.pt (mid-epoch too),
and starts a fresh run in RUN_DIR when it has no last.pt, so a job script can always pass
it with its full command line; options that would change the recipe must then match the
saved run (only --epochs, --patience, --device, --precision and --compile may change).
A finished run is left as it is. report.md exists once training has finished.

\b
Multi-GPU: launch with torchrun (e.g. `torchrun --standalone --nproc_per_node=4
--no-python mh-train ...`); DDP uses nccl on CUDA and gloo on CPU, --batch-size is per
process, and only rank 0 writes.

\b
Exit status: 0 finished or stopped by a signal (last.pt saved); 2 bad input.
"""


def _int_list(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    try:
        widths = tuple(int(w) for w in value.replace(" ", "").split(",") if w)
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if any(w < 1 for w in widths):
        raise click.BadParameter("widths must be positive")
    return widths


def _pool_channels(ctx: click.Context, param: click.Parameter, value: str | None):
    channels = _int_list(ctx, param, value)
    if channels is not None and (len(channels) != 2 or min(channels) < 2):
        raise click.BadParameter("expected two numbers, each >= 2 (e.g. 4,2)")
    return channels


def _p_scale(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value in ("off", "auto"):
        return value
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number < float("inf"):
        raise click.BadParameter(f"expected off, auto or a positive number, got {value!r}")
    return value


def _device_option(f):
    return click.option(
        "--device",
        type=click.Choice(["auto", "cpu", "cuda"]),
        default="auto",
        show_default=True,
        help="auto: CUDA when available.",
    )(f)


def _setting(flag: str, type_: Any = None, help: str | None = None, **extra: Any):
    """An mh-train option whose default, shown by --help, is the TrainSettings field it sets."""
    value = getattr(D, flag.lstrip("-").split("/")[0].replace("-", "_"))
    default = ",".join(map(str, value)) if isinstance(value, tuple) else value
    return click.option(flag, type=type_, default=default, show_default=True, help=help, **extra)


@click.command(cls=Command, context_settings=CONTEXT, epilog=TRAIN_EPILOG)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Split folder from mh-split: trains on DATA/train, validates on DATA/val.",
)
@click.option(
    "--train",
    "train_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Training Parquet file or folder (read recursively); repeatable.",
)
@click.option(
    "--val",
    "val_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Validation Parquet file or folder; repeatable.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder to create (must not hold a run yet).",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder to continue from its last.pt (fresh start there if it has none).",
)
@_setting(
    "--model",
    click.Choice(FAMILIES),
    "Model family: exchange (learned message passing on the basis-exchange graph of the "
    "code, the most accurate), mlp (the fastest), or the original experiments' others. "
    "Options of other families are refused.",
)
@_setting("--widths", None, "mlp trunk: hidden layer widths.", callback=_int_list)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    help="Dropout of mlp and vit trunks [default: 0.3 for mlp, 0.1 for vit].",
)
@_setting("--channels", click.IntRange(1), "resnet trunk: channels.")
@_setting("--blocks", click.IntRange(0), "resnet trunk: residual blocks.")
@_setting("--patch", click.IntRange(1), "vit trunk: patch side.")
@_setting("--dim", click.IntRange(1), "vit trunk: token width.")
@_setting("--depth", click.IntRange(1), "vit trunk: encoder layers.")
@_setting("--heads", click.IntRange(1), "vit trunk: attention heads (must divide --dim).")
@_setting("--backbone", click.Choice(TRUNK_KINDS), "Trunk of the experts (moe-*) and of classify.")
@_setting(
    "--experts",
    click.IntRange(1),
    "moe-sparse/moe-soft: number of experts (moe-hard: one per (n,k)).",
)
@_setting("--top-k", click.IntRange(1), "moe-sparse: experts used per sample.")
@_setting("--aux-weight", click.FloatRange(0), "moe-sparse: weight of the load-balancing loss.")
@_setting(
    "--gate-widths",
    None,
    "moe-sparse/moe-soft: gate hidden widths ('' = linear).",
    callback=_int_list,
)
@click.option(
    "--init-experts",
    multiple=True,
    type=click.Path(path_type=Path),
    help="moe-*: start experts from mlp/resnet/vit checkpoints (one for all, or one "
    "per expert; repeatable); their architecture, pad, --p-scale and --features "
    "are used.",
)
@_setting("--bins", click.IntRange(2), "classify: classes over log2 height.")
@_setting(
    "--hidden",
    click.IntRange(0),
    "exchange: hidden width of its pair and set functions (0: linear).",
)
@_setting("--head-hidden", click.IntRange(1), "exchange: hidden width of its head.")
@_setting("--tokens", click.IntRange(2), "exchange: width of its (a, Y) set tokens.")
@_setting(
    "--pool-channels",
    None,
    "exchange: channels pooled over exchange neighbours and over each set's bases (two "
    "numbers, each >= 2: half soft maxima, half soft minima).",
    callback=_pool_channels,
)
@_setting(
    "--pool-temperature",
    click.FloatRange(0.05, min_open=True),
    "exchange: temperature of every learned pooling at the start (lower: sharper).",
)
@_setting(
    "--p-scale",
    None,
    "Divide P by: off (1), auto (RMS of the training entries) or a number.",
    callback=_p_scale,
)
@_setting(
    "--features",
    click.Choice(FEATURES),
    "Inputs besides P and (n,k,m): raw (none) or minors (log2 |minor| of every "
    "square submatrix of P, computed inside the model; k, n-k <= 8; best with "
    "--p-scale auto).",
)
@_setting(
    "--augment/--no-augment",
    None,
    "Random row/column permutations and sign flips of each valid block.",
)
@_setting("--optimizer", click.Choice(["adam", "adamw"]))
@_setting("--lr", click.FloatRange(0, min_open=True))
@_setting("--weight-decay", click.FloatRange(0))
@_setting(
    "--schedule",
    click.Choice(["cosine", "plateau", "none"]),
    "Per epoch: cosine decay over --epochs, or halve after 3 flat epochs.",
)
@_setting("--epochs", click.IntRange(1))
@_setting("--batch-size", click.IntRange(1), "Samples per step and process.")
@_setting(
    "--patience",
    click.IntRange(0),
    "Early stopping: epochs without validation improvement (0 = off).",
)
@_setting("--clip-grad", click.FloatRange(0), "Gradient norm clipping (0 = off).")
@_setting("--seed", int, "Same seed, same results on CPU.")
@_device_option
@_setting(
    "--precision",
    click.Choice(["auto", "fp32", "bf16"]),
    "auto: bf16 autocast on CUDA, fp32 on CPU.",
)
@_setting("--compile/--no-compile", None, "torch.compile the model.")
@click.option("--quiet", is_flag=True, help="No progress bars or epoch lines.")
@click.pass_context
def train_main(
    ctx: click.Context,
    data: Path | None,
    train_paths: tuple[Path, ...],
    val_paths: tuple[Path, ...],
    out: Path | None,
    resume: Path | None,
    quiet: bool,
    **options,
) -> None:
    """Train a model of the m-height on Parquet data (log2-MSE loss)."""
    if data is not None and (train_paths or val_paths):
        raise click.UsageError("give either --data or --train/--val, not both")
    if out is not None and resume is not None and out.resolve() != resume.resolve():
        raise click.UsageError("--out and --resume name different folders")
    run_dir = resume or out
    if run_dir is None:
        raise click.UsageError("give --out RUN_DIR (or --resume RUN_DIR)")
    if data is not None:
        train_paths, val_paths = _split_folders(data)
    explicit = {
        name for name in options if ctx.get_parameter_source(name) != ParameterSource.DEFAULT
    }
    if train_paths or val_paths:
        explicit |= {"train", "val"}
    settings = TrainSettings(
        train=tuple(str(p.resolve()) for p in train_paths),
        val=tuple(str(p.resolve()) for p in val_paths),
        init_experts=tuple(str(p.resolve()) for p in options.pop("init_experts")),
        **options,
    )
    check_writable(run_dir, "run folder")
    run_training(settings, run_dir, resume=resume is not None, explicit=explicit, quiet=quiet)


def _split_folders(data: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    for split in ("train", "val"):
        if not (data / split).is_dir():
            raise InputError(f"{data}: not a split folder (it has no {split}/ folder)")
    return (data / "train",), (data / "val",)


@click.command(cls=Command, context_settings=CONTEXT)
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(path_type=Path),
    help="best.pt or last.pt, or a run folder (its best.pt).",
)
@click.option(
    "--data",
    required=True,
    type=click.Path(path_type=Path),
    help="A split folder (its --split subfolder is used), a folder of Parquet files "
    "(read recursively) or one Parquet file.",
)
@click.option(
    "--split",
    type=click.Choice(["train", "val", "test"]),
    default="val",
    show_default=True,
    help="Subfolder of a split folder to score (a split folder without it is refused).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
@_device_option
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    help="Rows per forward pass [default: 8192 on GPU, 1024 on CPU].",
)
def eval_main(
    checkpoint: Path, data: Path, split: str, as_json: bool, device: str, batch_size: int | None
) -> None:
    """Score a checkpoint on labelled Parquet data: log2-MSE, the mean of per-(n,k,m) group
    means (each group weighs the same); rows with infinite height are left out and counted."""
    result = evaluate_checkpoint(checkpoint, data, split, device, batch_size)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"log2-MSE {result['log2_mse']:.4f}  (group-mean baseline "
        f"{result['baseline_log2_mse']:.4f}; mean over {len(result['groups'])} "
        f"(n,k,m) groups of {result['rows']} rows; {result['dropped_infinite']} rows "
        f"with infinite height left out)"
    )
    click.echo(format_table([GroupScore(**g) for g in result["groups"]]))


@click.command(cls=Command, context_settings=CONTEXT)
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(path_type=Path),
    help="best.pt or last.pt, or a run folder (its best.pt).",
)
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parquet file to write: every input column plus height_pred.",
)
@_device_option
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    help="Rows per forward pass [default: 8192 on GPU, 1024 on CPU].",
)
def predict_main(
    checkpoint: Path, source: Path, output: Path, device: str, batch_size: int | None
) -> None:
    """Add predicted heights (column height_pred, finite and >= 1) to the rows of IN, a Parquet
    file or a folder of them (read recursively, as mh-eval reads it), with columns n, k, m, P
    (height optional, other columns kept); one output file, the input's rows in order."""
    check_writable(output, "output file", file=True)
    rows = predict_file(Predictor(checkpoint, device, batch_size), source, output)
    click.echo(f"wrote {rows} predictions to {output}", err=True)
