"""Data and checks shared by the engine tests (DuckDB here, Spark in test_engines_spark.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from charter.compute.drift import DriftReport
from charter.demo.data import compas_propublica

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def adult_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """UCI Adult, men as the reference and women as the current data ("?" is a category, as in the file)."""
    source = DATA / "adult.csv"
    if not source.exists():
        pytest.skip(f"{source} is not there")
    df = pd.read_csv(source)
    return df[df.sex == "Male"].reset_index(drop=True), df[df.sex == "Female"].reset_index(drop=True)


def compas_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """COMPAS (ProPublica's rows): Caucasian defendants as the reference, African-American ones as current."""
    if not (DATA / "compas_two_years.csv").exists():
        pytest.skip("COMPAS is not there")
    df = compas_propublica(DATA)
    keep = ["age", "sex", "priors_count", "decile_score", "juv_fel_count", "c_charge_degree", "score_text",
            "two_year_recid", "v_decile_score"]  # fmt: skip
    ref = df[df.race == "Caucasian"][keep].reset_index(drop=True)
    cur = df[df.race == "African-American"][keep].reset_index(drop=True)
    return ref, cur


def random_split(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Awkward values: NaN, +-inf, -0.0, ties, heavy tails, missing and new categories, booleans."""
    rng = np.random.default_rng(seed)

    def one(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, n)
        x[rng.random(n) < 0.05] = np.nan
        x[rng.random(n) < 0.01] = np.inf
        x[rng.random(n) < 0.02] = -0.0
        x[rng.random(n) < 0.02] = 0.0
        color = rng.choice(["red", "green", "blue", "violet" if shift else "red"], n).astype(object)
        color[rng.random(n) < 0.04] = None
        return pd.DataFrame(
            {
                "x": x,
                "heavy": rng.lognormal(shift, 2, n),
                "ties": rng.integers(-3, 4, n).astype(np.float64) / 2,
                "count": rng.poisson(3 + shift, n),
                "color": color,
                "flag": rng.random(n) < 0.4 + shift / 10,
            }
        )

    return one(int(rng.integers(500, 3000)), 0.0), one(int(rng.integers(500, 3000)), 0.5)


def assert_same_report(a: DriftReport, b: DriftReport) -> None:
    """Two engines' reports: the same decisions and the same numbers (moments summed in another order)."""
    left, right = a.to_dict(), b.to_dict()
    left.pop("engine"), right.pop("engine")
    _close(left, right, "report")


def _close(x: Any, y: Any, where: str) -> None:
    if isinstance(x, dict):
        assert isinstance(y, dict) and set(x) == set(y), where
        for key in x:
            _close(x[key], y[key], f"{where}.{key}")
    elif isinstance(x, list):
        assert isinstance(y, list) and len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _close(u, v, f"{where}[{i}]")
    elif isinstance(x, float) and isinstance(y, float):
        assert x == pytest.approx(y, rel=1e-9, abs=1e-12), where
    else:
        assert x == y, where
