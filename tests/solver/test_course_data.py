"""The 4,500 labelled course rows (n = 9): the labels follow the skip-unbounded convention.

Labels come from the course's LP generator (docs/MATH.md, "Conventions for infinite heights"):
all but one are reproduced under skip-unbounded, and under exact every disagreement is +inf.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.contract import groups, read_table
from solver import m_heights


@pytest.fixture(scope="module")
def course(course_sample_path: Path) -> list[tuple[tuple[int, int, int], np.ndarray, np.ndarray]]:
    """[((n, k, m), P (rows, k, n-k), labels)] for the 9 groups of the sample."""
    table = read_table([course_sample_path], require_height=True)
    labels = table["height"].to_numpy()
    return [(key, P, labels[rows]) for key, rows, P in groups(table)]


def _mismatch(labels: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Rows whose height differs from the label by more than 1e-9 relative (or is infinite)."""
    with np.errstate(invalid="ignore"):
        close = np.abs(heights - labels) <= 1e-9 * np.abs(labels)
    return ~close


def test_sample_has_4500_rows_in_9_groups(course):
    assert len(course) == 9
    assert sum(P.shape[0] for _, P, _ in course) == 4500


def test_skip_unbounded_reproduces_all_but_one_label(course):
    wrong = sum(
        int(_mismatch(y, m_heights(P, m, convention="skip-unbounded")).sum())
        for (_, _, m), P, y in course
    )
    assert wrong <= 1


def test_exact_disagrees_only_with_153_infinite_heights(course):
    """Among them the one label skip-unbounded misses (row 1689, group (9, 4, 5): label
    7318.77, skip-unbounded 3786, exact +inf): no bounded LP of that matrix gives the label."""
    infinite = 0
    for (_, _, m), P, y in course:
        exact = m_heights(P, m, convention="exact")
        wrong = _mismatch(y, exact)
        assert np.isinf(exact[wrong]).all()
        infinite += int(wrong.sum())
    assert infinite == 153


@pytest.mark.parametrize("rows", [pytest.param(8), pytest.param(50, marks=pytest.mark.slow)])
def test_highs_matches_vertex_on_course_rows(course, rows, same_heights):
    for (_, _, m), P, _ in course:
        part = P[:rows]
        expected = m_heights(part, m, method="vertex", convention="skip-unbounded")
        same_heights(expected, m_heights(part, m, method="highs", convention="skip-unbounded"))
