"""Fixtures of the training tests: one thread, a tiny split folder, one trained run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_runs import TINY_MLP, train, write_split


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight other test processes)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def split_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_split(tmp_path_factory.mktemp("split"))


@pytest.fixture(scope="session")
def trained_run(split_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "mlp"
    result = train(split_dir, run, *TINY_MLP, "--p-scale", "auto")
    assert result.exit_code == 0, result.output
    return run
