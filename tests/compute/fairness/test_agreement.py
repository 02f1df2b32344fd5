"""Charter's numbers against Fairlearn 0.15 and AIF360 0.6.1, to 1e-9 where the definitions coincide.

Real data: COMPAS with ProPublica's filter (prediction: score_text Medium/High, label
two_year_recid, sensitive race) and Adult with a logistic regression trained here (sensitive sex,
race and sex x race, with and without the census weights ``fnlwgt``); and random data (several
seeds, 2 and 5 groups, weights). Where the libraries answer an undefined rate with 0 (Fairlearn)
Charter answers None: those places are asserted as the documented difference.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as fairlearn_metrics
from sklearn import metrics as sklearn_metrics

from charter.compute.fairness import FairnessResult, assess
from charter.demo.data import compas_propublica

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
TOL = 1e-9

# Fairlearn's name -> Charter's, for MetricFrame's per-group values.
RATES: dict[str, tuple[str, Callable[..., float]]] = {
    "selection_rate": ("selection_rate", fairlearn_metrics.selection_rate),
    "true_positive_rate": ("true_positive_rate", fairlearn_metrics.true_positive_rate),
    "false_positive_rate": ("false_positive_rate", fairlearn_metrics.false_positive_rate),
    "false_negative_rate": ("false_negative_rate", fairlearn_metrics.false_negative_rate),
    "true_negative_rate": ("true_negative_rate", fairlearn_metrics.true_negative_rate),
    "precision": ("precision", functools.partial(sklearn_metrics.precision_score, zero_division=np.nan)),
    "accuracy": ("accuracy", sklearn_metrics.accuracy_score),
}
AGGREGATES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
)


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not there")
    return path


@pytest.fixture(scope="module")
def compas() -> pd.DataFrame:
    _need(DATA / "compas_two_years.csv")
    df = compas_propublica(DATA)
    assert len(df) == 6172  # ProPublica's count
    df["pred"] = df.score_text.isin(["Medium", "High"]).astype(int)
    return df


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = pd.read_csv(_need(DATA / "adult.csv"))
    features = df[["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]].to_numpy(float)
    target = (df.income == ">50K").to_numpy(int)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, target)
    df["score"] = model.predict_proba(features)[:, 1]
    df["pred"] = (df.score >= 0.5).astype(int)
    df["label"] = target
    return df


def metric_frame(y_true: Any, y_pred: Any, sensitive: Any, weights: Any = None) -> Any:
    params = None if weights is None else {name: {"sample_weight": weights} for name in RATES}
    return fairlearn_metrics.MetricFrame(
        metrics={name: fn for name, (_, fn) in RATES.items()},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sensitive,
        sample_params=params,
    )


def assert_by_group(result: FairnessResult, frame: Any) -> None:
    """Every group's rates equal MetricFrame's; where Charter says undefined, Fairlearn says 0 (or NaN)."""
    by_group = frame.by_group
    assert len(by_group) == len(result.groups)
    for group in result.groups:
        key = group.group[0] if len(group.group) == 1 else group.group
        row = by_group.loc[key]
        for theirs, (ours, _) in RATES.items():
            value = group[ours]
            if value is None:
                assert row[theirs] == 0 or np.isnan(row[theirs]), (group.group, ours)
            else:
                assert value == pytest.approx(row[theirs], abs=TOL), (group.group, ours)


def assert_aggregates(result: FairnessResult, y_true: Any, y_pred: Any, sensitive: Any, weights: Any = None) -> None:
    for name in AGGREGATES:
        theirs = getattr(fairlearn_metrics, name)(y_true, y_pred, sensitive_features=sensitive, sample_weight=weights)
        assert result[name] == pytest.approx(theirs, abs=TOL), name


def aif_metric(
    df: pd.DataFrame, *, label: str, pred: str, group: str, privileged: Any, unprivileged: Any, weights: str | None
) -> Any:
    """AIF360's ClassificationMetric for one privileged and one unprivileged group, from a pandas DataFrame."""
    logging.getLogger().setLevel(logging.ERROR)  # AIF360 logs its optional dependencies on import
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import ClassificationMetric

    codes = {value: float(i) for i, value in enumerate(sorted(df[group].astype(str).unique()))}
    base = pd.DataFrame({"g": df[group].astype(str).map(codes).to_numpy(float)})
    base["w"] = 1.0 if weights is None else df[weights].to_numpy(float)

    def dataset(column: str) -> Any:
        frame = base.assign(y=df[column].to_numpy(float))
        return BinaryLabelDataset(
            df=frame,
            label_names=["y"],
            protected_attribute_names=["g"],
            instance_weights_name="w",
            favorable_label=1.0,
            unfavorable_label=0.0,
        )

    return ClassificationMetric(
        dataset(label),
        dataset(pred),
        unprivileged_groups=[{"g": codes[str(unprivileged)]}],
        privileged_groups=[{"g": codes[str(privileged)]}],
    )


def assert_aif(result: FairnessResult, metric: Any, privileged: Any, unprivileged: Any) -> None:
    """Charter's reference mode (reference = AIF360's privileged group) on two groups equals AIF360."""
    assert result.reference_group == (privileged,)
    pairs = {
        "demographic_parity_difference": metric.statistical_parity_difference(),
        "demographic_parity_ratio": metric.disparate_impact(),
        "equal_opportunity_difference": metric.equal_opportunity_difference(),
        "average_odds_difference": metric.average_odds_difference(),
        "average_absolute_odds_difference": metric.average_abs_odds_difference(),
        "equalized_odds_difference": metric.equalized_odds_difference(),
        "false_positive_rate_difference": metric.false_positive_rate_difference(),
        "false_discovery_rate_difference": metric.false_discovery_rate_difference(),
        "false_omission_rate_difference": metric.false_omission_rate_difference(),
    }
    for name, theirs in pairs.items():
        assert result[name] == pytest.approx(theirs, abs=TOL), name
    for flag, label in ((True, privileged), (False, unprivileged)):
        group = result.group(label)
        assert group["true_positive_rate"] == pytest.approx(metric.true_positive_rate(privileged=flag), abs=TOL)
        assert group["false_positive_rate"] == pytest.approx(metric.false_positive_rate(privileged=flag), abs=TOL)
        assert group["selection_rate"] == pytest.approx(metric.selection_rate(privileged=flag), abs=TOL)
        assert group["precision"] == pytest.approx(metric.positive_predictive_value(privileged=flag), abs=TOL)


# --- COMPAS ---------------------------------------------------------------------------------------


def test_compas_by_race_matches_fairlearn(compas: pd.DataFrame) -> None:
    result = assess(
        compas, y_true="two_year_recid", y_pred="pred", sensitive_features="race", min_group_size=0, n_resamples=0
    )
    assert [g.group[0] for g in result.groups] == sorted(compas.race.unique())
    frame = metric_frame(compas.two_year_recid, compas.pred, compas.race)
    assert_by_group(result, frame)
    assert_aggregates(result, compas.two_year_recid, compas.pred, compas.race)
    # The well-known finding: African-American defendants who did not reoffend were flagged far more often.
    gap = result.group("African-American")["false_positive_rate"] - result.group("Caucasian")["false_positive_rate"]
    assert gap == pytest.approx(0.2032, abs=1e-4)


def test_compas_pairwise_matches_aif360(compas: pd.DataFrame) -> None:
    pair = compas[compas.race.isin(["African-American", "Caucasian"])]
    result = assess(
        pair, y_true="two_year_recid", y_pred="pred", sensitive_features="race", mode="reference",
        reference_group="Caucasian", n_resamples=0,
    )  # fmt: skip
    metric = aif_metric(
        pair, label="two_year_recid", pred="pred", group="race", privileged="Caucasian",
        unprivileged="African-American", weights=None,
    )  # fmt: skip
    assert_aif(result, metric, "Caucasian", "African-American")


def test_compas_every_group_against_the_reference_matches_aif360_pairwise(compas: pd.DataFrame) -> None:
    """With 6 groups AIF360 would pool the unprivileged ones; Charter compares each: AIF360 pair by pair."""
    result = assess(
        compas, y_true="two_year_recid", y_pred="pred", sensitive_features="race", mode="reference",
        reference_group="Caucasian", min_group_size=0, n_resamples=0,
    )  # fmt: skip
    worst = 0.0
    for group in result.groups:
        if group.group == ("Caucasian",):
            assert group.vs_reference is None
            continue
        metric = aif_metric(
            compas, label="two_year_recid", pred="pred", group="race", privileged="Caucasian",
            unprivileged=group.group[0], weights=None,
        )  # fmt: skip
        assert group.vs_reference is not None
        spd = group.vs_reference["selection_rate"]
        assert spd.difference == pytest.approx(metric.statistical_parity_difference(), abs=TOL)
        assert spd.ratio == pytest.approx(metric.disparate_impact(), abs=TOL)
        tpr = group.vs_reference["true_positive_rate"].difference
        assert tpr == pytest.approx(metric.equal_opportunity_difference(), abs=TOL)
        if abs(metric.statistical_parity_difference()) > abs(worst):
            worst = metric.statistical_parity_difference()
    assert result["demographic_parity_difference"] == pytest.approx(worst, abs=TOL)


# --- Adult ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("features", "weighted"),
    [(["sex"], False), (["race"], False), (["sex", "race"], False), (["sex", "race"], True)],
    ids=["sex", "race", "sex-x-race", "sex-x-race-fnlwgt"],
)
def test_adult_matches_fairlearn(adult: pd.DataFrame, features: list[str], weighted: bool) -> None:
    weights = adult.fnlwgt.to_numpy(float) if weighted else None
    result = assess(
        adult, y_true="income", y_pred="pred", positive_label=">50K", sensitive_features=features,
        sample_weight="fnlwgt" if weighted else None, min_group_size=0, n_resamples=0,
    )  # fmt: skip
    sensitive = adult[features] if len(features) > 1 else adult[features[0]]
    assert_by_group(result, metric_frame(adult.label, adult.pred, sensitive, weights))
    assert_aggregates(result, adult.label, adult.pred, sensitive, weights)
    assert sum(g.count for g in result.groups) == len(adult)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "fnlwgt"])
def test_adult_sex_matches_aif360(adult: pd.DataFrame, weighted: bool) -> None:
    result = assess(
        adult, y_true="label", y_pred="pred", sensitive_features="sex", mode="reference", reference_group="Male",
        sample_weight="fnlwgt" if weighted else None, n_resamples=0,
    )  # fmt: skip
    metric = aif_metric(
        adult, label="label", pred="pred", group="sex", privileged="Male", unprivileged="Female",
        weights="fnlwgt" if weighted else None,
    )  # fmt: skip
    assert_aif(result, metric, "Male", "Female")
    assert result.four_fifths.passed is False  # the model selects women far less often


def test_adult_auc_by_group_is_close_to_scikit_learn(adult: pd.DataFrame) -> None:
    result = assess(adult, y_true="label", y_pred="pred", scores="score", sensitive_features="sex", n_resamples=0)
    for group in result.groups:
        rows = adult[adult.sex == group.group[0]]
        assert group["auc"] == pytest.approx(sklearn_metrics.roc_auc_score(rows.label, rows.score), abs=2e-3)


# --- random data ----------------------------------------------------------------------------------


def random_frame(seed: int, groups: int, n: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, n)
    base = 0.2 + 0.6 * group / max(1, groups - 1)
    y_true = (rng.random(n) < base).astype(int)
    y_pred = np.where(rng.random(n) < 0.7, y_true, 1 - y_true)
    return pd.DataFrame(
        {
            "y": y_true,
            "p": y_pred,
            "g": np.array([f"g{i}" for i in range(groups)], dtype=object)[group],
            "w": rng.uniform(0.1, 3.0, n),
        }
    )


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("groups", [2, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_data_matches_fairlearn(seed: int, groups: int, weighted: bool) -> None:
    df = random_frame(seed, groups)
    weights = df.w.to_numpy() if weighted else None
    result = assess(
        df, y_true="y", y_pred="p", sensitive_features="g", sample_weight="w" if weighted else None, n_resamples=0
    )
    assert_by_group(result, metric_frame(df.y, df.p, df.g, weights))
    assert_aggregates(result, df.y, df.p, df.g, weights)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_two_groups_match_aif360(seed: int, weighted: bool) -> None:
    df = random_frame(seed, 2)
    result = assess(
        df, y_true="y", y_pred="p", sensitive_features="g", mode="reference", reference_group="g0",
        sample_weight="w" if weighted else None, n_resamples=0,
    )  # fmt: skip
    metric = aif_metric(
        df, label="y", pred="p", group="g", privileged="g0", unprivileged="g1", weights="w" if weighted else None
    )
    assert_aif(result, metric, "g0", "g1")


def test_fairlearn_reports_zero_where_charter_reports_undefined() -> None:
    """The documented difference: a group with no actual positives has TPR 0 in Fairlearn, None here."""
    y_true = [1, 1, 0, 0] * 10 + [0, 0, 0, 0] * 10
    y_pred = [1, 0, 1, 0] * 10 + [1, 0, 0, 0] * 10
    group = ["a"] * 40 + ["b"] * 40
    result = assess(y_true=y_true, y_pred=y_pred, sensitive_features=group, n_resamples=0)
    assert result.group("b")["true_positive_rate"] is None
    assert "no actual positives" in result.group("b").undefined["true_positive_rate"]
    assert result["equal_opportunity_difference"] is None  # only one group has a TPR
    theirs = fairlearn_metrics.equal_opportunity_difference(y_true, y_pred, sensitive_features=group)
    assert theirs == pytest.approx(0.5)  # 0.5 - 0 (the silent zero)
