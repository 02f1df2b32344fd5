"""Input-type sweep shared by the series tests: every function takes list, NumPy, pandas and Arrow inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

Convert = Callable[[Any], Any]
CONVERTERS: dict[str, Convert] = {
    "list": lambda a: np.asarray(a).tolist(),
    "ndarray": np.asarray,
    "series": pd.Series,
    "arrow": pa.array,
}


@pytest.fixture(params=sorted(CONVERTERS))
def as_input(request: pytest.FixtureRequest) -> Convert:
    return CONVERTERS[request.param]


def hourly(n: int, start: str = "2026-01-05") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="h")
