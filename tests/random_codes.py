"""Random codes for the property-based tests: shapes, entry distributions and scalings."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def instances(draw, max_n: int, kinds=("int", "small", "real")):
    """(P, m): a shape up to max_n, an entry distribution and a power-of-ten scaling."""
    n = draw(st.integers(3, max_n))
    k = draw(st.integers(1, n - 1))
    m = draw(st.integers(1, n - 1))
    kind = draw(st.sampled_from(kinds))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "int":
        P = rng.integers(-100, 101, (k, n - k)).astype(np.float64)
    elif kind == "small":
        P = rng.integers(-2, 3, (k, n - k)).astype(np.float64)
    else:
        P = rng.uniform(-100, 100, (k, n - k))
    scale = 10.0 ** draw(st.integers(-12, 12))
    return P * scale, m
