"""``drift`` / ``compare``: the report's numbers, the decisions and their defaults, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from charter.compute.drift import DEFAULT_THRESHOLDS, compare, drift, profile
from charter.errors import InvalidInput

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    source = DATA / "adult.csv"
    if not source.exists():
        pytest.skip(f"{source} is not there")
    return pd.read_csv(source)


def test_adult_men_vs_women_against_scipy(adult: pd.DataFrame) -> None:
    """A real shift (Adult, men as reference, women as current): every number against SciPy."""
    men, women = adult[adult.sex == "Male"], adult[adult.sex == "Female"]
    report = drift(men, women, columns=["age", "hours_per_week", "capital_gain", "occupation", "relationship"],
                   target="income")  # fmt: skip
    for name in ("age", "hours_per_week", "capital_gain"):
        column = report[name]
        ks = stats.ks_2samp(men[name], women[name])
        assert column.kind == "numeric" and column.details["ks_method"] == "exact"
        assert abs(column["ks_statistic"] - ks.statistic) <= 1e-9  # type: ignore[operator]
        assert abs(column["ks_pvalue"] - ks.pvalue) <= 1e-9  # type: ignore[operator]
        w = stats.wasserstein_distance(men[name], women[name])
        assert abs(column["wasserstein_distance"] - w) <= 1e-9  # type: ignore[operator]
        assert column["wasserstein_distance_norm"] == pytest.approx(w / max(np.std(men[name]), 0.001), rel=1e-9)
        assert column.stattest == "wasserstein_distance_norm" and column.threshold == 0.1
    for name in ("occupation", "relationship"):
        column = report[name]
        categories = sorted(set(men[name]) | set(women[name]))
        table = np.array([[int((d[name] == c).sum()) for c in categories] for d in (men, women)])
        expected = stats.chi2_contingency(table, correction=False)
        assert column["chi2_statistic"] == pytest.approx(expected.statistic, rel=1e-12)
        assert abs(column["chi2_pvalue"] - expected.pvalue) <= 1e-9  # type: ignore[operator]
        assert abs(column["jensenshannon_distance"] - jensenshannon(table[0], table[1])) <= 1e-12  # type: ignore[operator]
        assert column.stattest == "jensenshannon_distance"
    assert report["relationship"].drifted is True  # husbands vs wives
    assert report["occupation"].missing_categories == ("Armed-Forces",)  # no woman in the armed forces
    assert report.target is not None and report.target.name == "income" and report.target.role == "target"
    assert "income" not in report.columns
    drifted = [name for name, c in report.columns.items() if c.drifted]
    assert report.drifted_columns == tuple(drifted)
    assert report.drift_share == len(drifted) / 5 and report.dataset_drift == (len(drifted) / 5 >= 0.5)


def frames(n_ref: int, n_cur: int, shift: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.normal(0, 1, n_ref), "c": rng.choice(["a", "b", "c"], n_ref, p=[0.5, 0.3, 0.2])})
    cur = pd.DataFrame(
        {
            "x": rng.normal(shift, 1, n_cur),
            "c": rng.choice(["a", "b", "c"], n_cur, p=[0.5 - shift / 2, 0.3, 0.2 + shift / 2]),
        }
    )
    return ref, cur


def test_auto_uses_tests_for_small_references_and_distances_for_large() -> None:
    small = drift(*frames(1000, 800, 0.3))
    assert small["x"].stattest == "ks_pvalue" and small["c"].stattest == "chi2_pvalue"
    assert small["x"].drifted is (small["x"]["ks_pvalue"] < 0.05)  # type: ignore[operator]
    large = drift(*frames(1001, 800, 0.3))
    assert large["x"].stattest == "wasserstein_distance_norm" and large["c"].stattest == "jensenshannon_distance"


def test_stattest_and_thresholds_override() -> None:
    ref, cur = frames(5000, 5000, 0.08)
    default = drift(ref, cur)
    assert default["x"].drifted is False  # W norm ~ 0.08 < 0.1
    assert default["x"]["ks_pvalue"] < 0.001  # type: ignore[operator]  # yet KS finds the shift at this size
    by_ks = drift(ref, cur, stattest={"numeric": "ks_pvalue"})
    assert by_ks["x"].stattest == "ks_pvalue" and by_ks["x"].drifted is True
    assert by_ks["c"].stattest == "jensenshannon_distance"  # the other kind keeps "auto"
    lower = drift(ref, cur, thresholds={"wasserstein_distance_norm": 0.05})
    assert lower["x"].threshold == 0.05 and lower["x"].drifted is True
    psi = drift(ref, cur, stattest="psi", thresholds={"psi": 0.001})
    assert psi["x"].stattest == psi["c"].stattest == "psi" and psi["x"].drifted is True
    raw = drift(ref, cur, stattest={"x": "wasserstein_distance"}, thresholds={"wasserstein_distance": 10.0})
    assert raw["x"].stattest == "wasserstein_distance" and raw["x"].drifted is False
    assert raw.thresholds == {**DEFAULT_THRESHOLDS, "wasserstein_distance": 10.0}


def test_dataset_verdict_is_the_share_of_drifted_features() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    ref = pd.DataFrame({f"f{i}": rng.normal(0, 1, n) for i in range(4)})
    cur = pd.DataFrame({f"f{i}": rng.normal(1.0 if i < 2 else 0.0, 1, n) for i in range(4)})
    report = drift(ref, cur)
    assert report.drifted_columns == ("f0", "f1") and report.drift_share == 0.5
    assert report.dataset_drift is True and report.verdict == "drift"
    assert drift(ref, cur, drift_share=0.75).verdict == "no_drift"
    # prediction drift is reported apart and does not count
    with_pred = drift(ref, cur, prediction="f0")
    assert with_pred.prediction is not None and with_pred.prediction.drifted is True
    assert with_pred.drifted_columns == ("f1",) and with_pred.drift_share == pytest.approx(1 / 3)


def test_missing_values_and_new_categories_are_reported_not_crashed_on() -> None:
    n = 3000
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n), "empty": np.full(n, np.nan)})
    x = rng.normal(size=n)
    x[: n // 2] = np.nan
    x[-5:] = np.inf
    cur = pd.DataFrame({"x": x, "c": rng.choice(["a", "b", "z"], n).astype(object), "empty": rng.normal(size=n)})
    cur.loc[:99, "c"] = None
    report = drift(ref, cur)
    col = report["x"]
    assert (col.current.count, col.current.missing, col.current.infinite) == (n // 2 - 5, n // 2, 5)
    assert col.current.missing_share == pytest.approx(0.5 + 5 / n) and col.reference.missing_share == 0.0
    finite = x[np.isfinite(x)]
    assert abs(col["ks_statistic"] - stats.ks_2samp(ref.x, finite).statistic) <= 1e-9  # type: ignore[operator]
    cat = report["c"]
    assert cat.new_categories == ("z",) and cat.missing_categories == ()
    assert cat.current.missing == 100 and cat.drifted is True
    empty = report["empty"]
    assert empty.drifted is None and empty.reason == "the reference has no non-missing values"
    assert empty.statistics and all(value is None for value in empty.statistics.values())
    assert report.undecided_columns == ("empty",) and report.drift_share == pytest.approx(1 / 2)
    body = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert body["columns"]["c"]["new_categories"] == ["z"] and body["columns"]["empty"]["psi"] is None


def test_profiles_compare_like_drift() -> None:
    ref, cur = frames(3000, 2000, 0.2)
    ref_profile = profile(ref)
    stored = json.loads(json.dumps(ref_profile.to_dict()))  # what a monitor keeps
    from charter.compute.drift import DatasetProfile

    again = compare(DatasetProfile.from_dict(stored), profile(cur, reference=DatasetProfile.from_dict(stored)))
    assert again.to_dict() == drift(ref, cur).to_dict()


def test_binned_when_values_are_not_kept() -> None:
    ref, cur = frames(20000, 20000, 0.05, seed=9)
    report = drift(ref, cur, max_exact_rows=10000)
    column = report["x"]
    assert column.details["ks_method"] == "binned" and column.details["wasserstein_method"] == "binned"
    exact_ks = stats.ks_2samp(ref.x, cur.x).statistic
    d, bound = column["ks_statistic"], column.details["ks_error_bound"]
    assert d is not None and d <= exact_ks <= d + bound and bound < 0.003
    w = column["wasserstein_distance"]
    assert (
        w is not None and abs(w - stats.wasserstein_distance(ref.x, cur.x)) <= column.details["wasserstein_error_bound"]
    )


def errors() -> list[tuple[dict[str, Any], str]]:
    return [
        ({"columns": ["x", "nope"]}, "reference: column 'nope' not found"),
        ({"stattest": "anderson"}, "unknown stattest 'anderson'"),
        ({"stattest": {"c": "ks_pvalue"}}, "'ks_pvalue' does not apply to categorical column 'c'"),
        ({"stattest": "ks_statistic"}, "no default threshold"),
        ({"thresholds": {"ks_pvalue": 5}}, "must lie strictly between 0 and 1"),
        ({"thresholds": {"nonsense": 0.1}}, "unknown statistic 'nonsense'"),
        ({"drift_share": 0}, "drift_share must lie in"),
        ({"prediction": "x", "target": "x"}, "same column"),
        ({"numeric": ["c"]}, "reference: column 'c' is numeric .* holds non-numeric values"),
        ({"psi_bins": 0}, "psi_bins must be a positive integer"),
    ]


@pytest.mark.parametrize(("options", "message"), errors())
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    ref, cur = frames(100, 100, 0.0)
    with pytest.raises(InvalidInput, match=message):
        drift(ref, cur, **options)


def test_bad_data_is_refused() -> None:
    ref, cur = frames(100, 100, 0.0)
    with pytest.raises(InvalidInput, match="current data: column 'x' is numeric in the reference but holds non"):
        drift(ref, cur.assign(x=cur.x.astype(str)))
    with pytest.raises(InvalidInput, match="current data: column 'c' not found"):
        drift(ref, cur.drop(columns=["c"]))
    with pytest.raises(InvalidInput, match="current data: the data has no rows"):
        drift(ref, cur.iloc[:0])
    with pytest.raises(InvalidInput, match="binned on other edges"):
        compare(profile(ref), profile(cur))
