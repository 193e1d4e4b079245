"""Helpers of the training tests: tiny synthetic split folders, random batches, mh-train runs.

Plain functions live in helper modules like this one; conftest.py files hold fixtures only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from click.testing import CliRunner, Result

from training.cli import train_main
from training.synthetic import synthetic_table

GROUPS = [(9, 4, 2), (9, 4, 3), (10, 5, 2), (10, 4, 4)]
TINY_MLP = ["--model", "mlp", "--widths", "32,16"]


def write_split(root: Path, train_rows: int = 120, val_rows: int = 40) -> Path:
    """A split folder as mh-split writes it: split/group/part files, plus extra columns."""
    for split, rows, seed in (("train", train_rows, 0), ("val", val_rows, 100)):
        for i, group in enumerate(GROUPS):
            table = synthetic_table([group], rows, seed=seed + i)
            table = table.append_column("instance_id", pa.array(np.arange(rows)))
            if split == "train" and i == 0:  # two infinite labels, which training drops
                height = table.column("height").to_numpy().copy()
                height[:2] = np.inf
                table = table.set_column(4, "height", pa.array(height))
            folder = root / split / "n{}_k{}_m{}".format(*group)
            folder.mkdir(parents=True)
            pq.write_table(table, folder / "part-00000.parquet")
    return root


def random_batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    nkm = torch.tensor([[9, 4, 2], [10, 5, 3], [10, 6, 4], [7, 3, 2]] * 8)
    P = torch.zeros(len(nkm), 6, 6)
    for i, (n, k, _) in enumerate(nkm.tolist()):
        P[i, :k, : n - k] = torch.randint(-100, 101, (k, n - k), generator=g).float()
    return P, nkm


def batch_labels(P: torch.Tensor, nkm: torch.Tensor) -> torch.Tensor:
    """A learnable stand-in for log2 heights: depends on m and on the size of P's entries."""
    return 1.0 + nkm[:, 2].float() + P.abs().mean((1, 2)) / 50


def fit_losses(model: torch.nn.Module, steps: int) -> list[float]:
    """Train ``model`` for ``steps`` Adam steps on one random batch; the loss after each."""
    P, nkm = random_batch()
    y = batch_labels(P, nkm)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = model.loss(model(P, nkm), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def invoke(command, args: list[str]) -> Result:
    return CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=True)


def train(split: Path, out: Path, *extra: str, epochs: int = 3) -> Result:
    args = [
        "--data",
        split,
        "--out",
        out,
        "--epochs",
        epochs,
        "--batch-size",
        32,
        "--lr",
        2e-3,
        "--quiet",
        *extra,
    ]
    return invoke(train_main, args)
