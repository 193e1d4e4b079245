"""Console scripts mh-train, mh-eval and mh-predict (thin click wrappers).

Bad input of any kind ends with a one-line "Error: ..." and exit status 2, having written
nothing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import click
from click.core import ParameterSource

from training.errors import InputError
from training.evaluate import evaluate_checkpoint
from training.metrics import GroupScore, format_table
from training.models import FAMILIES, FEATURES, TRUNK_KINDS
from training.predict import Predictor, predict_file
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


class CliInputError(click.ClickException):
    """InputError as click reports it: one line, exit status 2."""

    exit_code = 2


@contextlib.contextmanager
def _input_errors() -> Iterator[None]:
    try:
        yield
    except InputError as e:
        raise CliInputError(str(e)) from None


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


@click.command(context_settings=CONTEXT, epilog=TRAIN_EPILOG)
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
@click.option(
    "--model",
    type=click.Choice(FAMILIES),
    default=D.model,
    show_default=True,
    help="Model family (mlp is the fastest on CPU).",
)
@click.option(
    "--widths",
    callback=_int_list,
    default=",".join(map(str, D.widths)),
    show_default=True,
    help="mlp trunk: hidden layer widths.",
)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    help="Dropout of mlp and vit trunks [default: 0.3 for mlp, 0.1 for vit].",
)
@click.option(
    "--channels",
    type=click.IntRange(1),
    default=D.channels,
    show_default=True,
    help="resnet trunk: channels.",
)
@click.option(
    "--blocks",
    type=click.IntRange(0),
    default=D.blocks,
    show_default=True,
    help="resnet trunk: residual blocks.",
)
@click.option(
    "--patch",
    type=click.IntRange(1),
    default=D.patch,
    show_default=True,
    help="vit trunk: patch side.",
)
@click.option(
    "--dim",
    type=click.IntRange(1),
    default=D.dim,
    show_default=True,
    help="vit trunk: token width.",
)
@click.option(
    "--depth",
    type=click.IntRange(1),
    default=D.depth,
    show_default=True,
    help="vit trunk: encoder layers.",
)
@click.option(
    "--heads",
    type=click.IntRange(1),
    default=D.heads,
    show_default=True,
    help="vit trunk: attention heads (must divide --dim).",
)
@click.option(
    "--backbone",
    type=click.Choice(TRUNK_KINDS),
    default=D.backbone,
    show_default=True,
    help="Trunk of the experts (moe-*) and of classify.",
)
@click.option(
    "--experts",
    type=click.IntRange(1),
    default=D.experts,
    show_default=True,
    help="moe-sparse/moe-soft: number of experts (moe-hard: one per (n,k)).",
)
@click.option(
    "--top-k",
    type=click.IntRange(1),
    default=D.top_k,
    show_default=True,
    help="moe-sparse: experts used per sample.",
)
@click.option(
    "--aux-weight",
    type=click.FloatRange(0),
    default=D.aux_weight,
    show_default=True,
    help="moe-sparse: weight of the load-balancing loss.",
)
@click.option(
    "--gate-widths",
    callback=_int_list,
    default=",".join(map(str, D.gate_widths)),
    show_default=True,
    help="moe-sparse/moe-soft: gate hidden widths ('' = linear).",
)
@click.option(
    "--init-experts",
    multiple=True,
    type=click.Path(path_type=Path),
    help="moe-*: start experts from mlp/resnet/vit checkpoints (one for all, or one "
    "per expert; repeatable); their architecture, pad, --p-scale and --features "
    "are used.",
)
@click.option(
    "--bins",
    type=click.IntRange(2),
    default=D.bins,
    show_default=True,
    help="classify: classes over log2 height.",
)
@click.option(
    "--p-scale",
    callback=_p_scale,
    default=D.p_scale,
    show_default=True,
    help="Divide P by: off (1), auto (RMS of the training entries) or a number.",
)
@click.option(
    "--features",
    type=click.Choice(FEATURES),
    default=D.features,
    show_default=True,
    help="Inputs besides P and (n,k,m): raw (none) or minors (log2 |minor| of every "
    "square submatrix of P, computed inside the model; k, n-k <= 8; best with "
    "--p-scale auto).",
)
@click.option(
    "--augment/--no-augment",
    default=D.augment,
    show_default=True,
    help="Random row/column permutations and sign flips of each valid block.",
)
@click.option(
    "--optimizer", type=click.Choice(["adam", "adamw"]), default=D.optimizer, show_default=True
)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=D.lr, show_default=True)
@click.option("--weight-decay", type=click.FloatRange(0), default=D.weight_decay, show_default=True)
@click.option(
    "--schedule",
    type=click.Choice(["cosine", "plateau", "none"]),
    default=D.schedule,
    show_default=True,
    help="Per epoch: cosine decay over --epochs, or halve after 3 flat epochs.",
)
@click.option("--epochs", type=click.IntRange(1), default=D.epochs, show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=D.batch_size,
    show_default=True,
    help="Samples per step and process.",
)
@click.option(
    "--patience",
    type=click.IntRange(0),
    default=D.patience,
    show_default=True,
    help="Early stopping: epochs without validation improvement (0 = off).",
)
@click.option(
    "--clip-grad",
    type=click.FloatRange(0),
    default=D.clip_grad,
    show_default=True,
    help="Gradient norm clipping (0 = off).",
)
@click.option(
    "--seed", type=int, default=D.seed, show_default=True, help="Same seed, same results on CPU."
)
@_device_option
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default=D.precision,
    show_default=True,
    help="auto: bf16 autocast on CUDA, fp32 on CPU.",
)
@click.option(
    "--compile/--no-compile", default=D.compile, show_default=True, help="torch.compile the model."
)
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
    with _input_errors():
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
        run_training(settings, run_dir, resume=resume is not None, explicit=explicit, quiet=quiet)


def _split_folders(data: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    for split in ("train", "val"):
        if not (data / split).is_dir():
            raise InputError(f"{data}: not a split folder (it has no {split}/ folder)")
    return (data / "train",), (data / "val",)


@click.command(context_settings=CONTEXT)
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
    "--split", default="val", show_default=True, help="Subfolder of a split folder to score."
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
    with _input_errors():
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


@click.command(context_settings=CONTEXT)
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(path_type=Path),
    help="best.pt or last.pt, or a run folder (its best.pt).",
)
@click.argument("input_file", metavar="IN.parquet", type=click.Path(path_type=Path))
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
    checkpoint: Path, input_file: Path, output: Path, device: str, batch_size: int | None
) -> None:
    """Add predicted heights (column height_pred, finite and >= 1) to a Parquet file with
    columns n, k, m, P (height optional, other columns kept)."""
    with _input_errors():
        rows = predict_file(Predictor(checkpoint, device, batch_size), input_file, output)
    click.echo(f"wrote {rows} predictions to {output}", err=True)
