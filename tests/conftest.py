"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

# Real labelled data from outside the project: ../shared/data beside the repository (CI lays a
# copy there too); MHEIGHT_SHARED_DATA points elsewhere.
SHARED_DATA = Path(
    os.environ.get("MHEIGHT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(scope="session")
def course_sample_path() -> Path:
    """The 4,500 labelled course rows (n = 9); skipped where absent, but never in CI."""
    path = SHARED_DATA / "course_sample_n9.parquet"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} not present")
    return path
