"""Edge cases with expectations computed by hand from the confusion counts in each test."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from charter.compute.fairness import (
    AGGREGATE_NAMES,
    FairnessResult,
    GroupStats,
    assess,
    compute_statistics,
    fairness_metrics,
)
from charter.errors import InvalidInput

Counts = tuple[int, int, int, int]  # TP, FP, FN, TN


def rows(spec: dict[Any, Counts]) -> tuple[list[int], list[int], list[Any]]:
    """y_true, y_pred and group for the given confusion counts per group."""
    y_true: list[int] = []
    y_pred: list[int] = []
    group: list[Any] = []
    for label, (tp, fp, fn, tn) in spec.items():
        for truth, pred, n in ((1, 1, tp), (0, 1, fp), (1, 0, fn), (0, 0, tn)):
            y_true += [truth] * n
            y_pred += [pred] * n
            group += [label] * n
    return y_true, y_pred, group


def run(spec: dict[Any, Counts], **kwargs: Any) -> FairnessResult:
    y_true, y_pred, group = rows(spec)
    kwargs.setdefault("n_resamples", 0)
    return assess(y_true=y_true, y_pred=y_pred, sensitive_features=group, **kwargs)


A: Counts = (30, 10, 10, 50)  # SR .4  TPR .75  FPR 1/6  PPV .75
B: Counts = (20, 5, 20, 55)  # SR .25 TPR .5   FPR 1/12 PPV .8
C: Counts = (45, 15, 5, 35)  # SR .6  TPR .9   FPR .3   PPV .75


def approx(value: float) -> Any:
    return pytest.approx(value, abs=1e-12)


def test_two_groups_all_groups_mode() -> None:
    result = run({"A": A, "B": B})
    a, b = result.group("A"), result.group("B")
    assert (a["selection_rate"], b["selection_rate"]) == (approx(0.4), approx(0.25))
    assert (a["true_positive_rate"], b["true_positive_rate"]) == (approx(0.75), approx(0.5))
    assert (a["false_positive_rate"], b["false_positive_rate"]) == (approx(1 / 6), approx(1 / 12))
    assert (a["precision"], b["precision"]) == (approx(0.75), approx(0.8))
    assert (a["negative_predictive_value"], b["negative_predictive_value"]) == (approx(50 / 60), approx(55 / 75))
    assert (a["accuracy"], a["base_rate"], a["false_negative_rate"]) == (approx(0.8), approx(0.4), approx(0.25))
    assert result["demographic_parity_difference"] == approx(0.15)
    assert result["demographic_parity_ratio"] == approx(0.625)
    assert result["equal_opportunity_difference"] == approx(0.25)
    assert result["equal_opportunity_ratio"] == approx(2 / 3)
    assert result["equalized_odds_difference"] == approx(0.25)  # max(.25, 1/12)
    assert result["equalized_odds_ratio"] == approx(0.5)  # min(2/3, .5)
    assert result["average_absolute_odds_difference"] == approx((0.25 + 1 / 12) / 2)
    assert result["predictive_parity_difference"] == approx(0.05)
    assert result["predictive_parity_ratio"] == approx(0.75 / 0.8)
    assert result["false_omission_rate_difference"] == approx(20 / 75 - 10 / 60)
    assert result["average_odds_difference"] is None  # signed: needs a reference
    assert "reference" in (result.aggregates["average_odds_difference"].reason or "")
    assert result.aggregates["demographic_parity_difference"].compared == (("A",), ("B",))
    assert result.aggregates["demographic_parity_ratio"].compared == (("B",), ("A",))
    four = result.four_fifths
    assert (four.ratio, four.passed, four.most_favoured, four.below) == (approx(0.625), False, ("A",), (("B",),))
    assert result.group("B")["impact_ratio"] == approx(0.625)
    assert result.mode == "all_groups" and result.reference_group is None


def test_two_groups_reference_mode_is_signed_group_minus_reference() -> None:
    result = run({"A": A, "B": B}, mode="reference")
    assert result.reference_group == ("A",)  # the most favoured by default
    assert result["demographic_parity_difference"] == approx(-0.15)
    assert result["demographic_parity_ratio"] == approx(0.625)
    assert result["equal_opportunity_difference"] == approx(-0.25)
    assert result["average_odds_difference"] == approx((-1 / 12 - 0.25) / 2)
    assert result["average_absolute_odds_difference"] == approx((1 / 12 + 0.25) / 2)
    assert result["equalized_odds_difference"] == approx(0.25)
    assert result["equalized_odds_ratio"] == approx(0.5)  # the FPR ratio, farther from 1 than 2/3
    assert result.aggregates["demographic_parity_difference"].compared == (("B",), ("A",))
    versus = result.group("B").vs_reference
    assert versus is not None and versus["precision"].difference == approx(0.05)
    assert result.group("A").vs_reference is None
    flipped = run({"A": A, "B": B}, mode="reference", reference_group="B")
    assert flipped["demographic_parity_difference"] == approx(0.15)
    assert flipped["demographic_parity_ratio"] == approx(1.6)  # raw ratio, AIF360's orientation


def test_identical_groups_show_no_disparity_and_swapping_labels_changes_nothing() -> None:
    same = run({"A": A, "B": A})
    assert same["demographic_parity_difference"] == 0 and same["demographic_parity_ratio"] == 1
    assert same["equalized_odds_difference"] == 0 and same["equalized_odds_ratio"] == 1
    forward, backward = run({"A": A, "B": B}), run({"A": B, "B": A})
    for name in AGGREGATE_NAMES:
        assert forward[name] == backward[name], name


def test_three_groups() -> None:
    result = run({"A": A, "B": B, "C": C})
    assert result["demographic_parity_difference"] == approx(0.35)
    assert result["demographic_parity_ratio"] == approx(0.25 / 0.6)
    assert result.aggregates["demographic_parity_difference"].compared == (("C",), ("B",))
    assert result["equal_opportunity_difference"] == approx(0.4)
    assert result["equalized_odds_difference"] == approx(0.4)  # max(.4, .3 - 1/12)
    assert result.four_fifths.below == (("A",), ("B",))

    by_default = run({"A": A, "B": B, "C": C}, mode="reference")
    assert by_default.reference_group == ("C",)
    assert by_default["demographic_parity_difference"] == approx(-0.35)

    against_a = run({"A": A, "B": B, "C": C}, mode="reference", reference_group="A")
    assert against_a["demographic_parity_difference"] == approx(0.2)  # C - A beats B - A (-.15) in magnitude
    assert against_a.aggregates["demographic_parity_difference"].compared == (("C",), ("A",))
    assert against_a["demographic_parity_ratio"] == approx(0.625)  # B/A (.625) is farther from 1 than C/A (1.5)
    assert against_a["equal_opportunity_difference"] == approx(-0.25)
    assert against_a["average_odds_difference"] == approx(-1 / 6)  # B: (-1/12 - .25)/2; C: (.3-1/6 + .15)/2
    assert against_a.four_fifths.most_favoured == ("C",)  # four-fifths: always the most favoured group


def test_group_without_actual_positives() -> None:
    result = run({"A": A, "B": B, "D": (0, 5, 0, 45)})
    d = result.group("D")
    assert d["true_positive_rate"] is None and d["false_negative_rate"] is None
    assert d.undefined["true_positive_rate"] == "no actual positives (TP + FN = 0)"
    assert d["precision"] == 0 and d["false_positive_rate"] == approx(0.1)
    opportunity = result.aggregates["equal_opportunity_difference"]
    assert opportunity.value == approx(0.25)  # over A and B; D skipped, not counted as 0
    assert opportunity.groups == (("A",), ("B",))
    assert opportunity.skipped == ((("D",), "true_positive_rate: no actual positives (TP + FN = 0)"),)
    assert result["equalized_odds_difference"] == approx(0.25)


def test_group_without_predicted_positives() -> None:
    result = run({"A": A, "B": B, "E": (0, 0, 10, 40)})
    e = result.group("E")
    assert e["selection_rate"] == 0 and e["true_positive_rate"] == 0
    assert e["precision"] is None and e["false_discovery_rate"] is None
    assert e.undefined["precision"] == "no predicted positives (TP + FP = 0)"
    assert result["demographic_parity_ratio"] == 0
    assert result.four_fifths.passed is False and ("E",) in result.four_fifths.below
    assert result["predictive_parity_difference"] == approx(0.05)  # A and B only
    against_e = run({"A": A, "B": B, "E": (0, 0, 10, 40)}, mode="reference", reference_group="E")
    assert against_e["demographic_parity_ratio"] is None
    assert against_e.aggregates["demographic_parity_ratio"].reason == (
        "the reference group's selection_rate is 0 (division by zero)"
    )
    assert against_e["demographic_parity_difference"] == approx(0.4)
    assert against_e["predictive_parity_difference"] is None
    versus = against_e.group("A").vs_reference
    assert versus is not None and versus["selection_rate"].ratio is None and versus["precision"].difference is None


def test_all_zero_selection() -> None:
    result = run({"A": (0, 0, 10, 40), "B": (0, 0, 20, 30)})
    assert result["demographic_parity_difference"] == 0
    assert result["demographic_parity_ratio"] is None
    assert result.aggregates["demographic_parity_ratio"].reason == "every group's selection_rate is 0 (0 / 0)"
    assert result.four_fifths.ratio is None and result.four_fifths.passed is None
    assert result["predictive_parity_difference"] is None
    assert result.aggregates["predictive_parity_difference"].reason == "fewer than 2 groups have a defined precision"
    assert len(result.aggregates["predictive_parity_difference"].skipped) == 2
    assert result["equal_opportunity_difference"] == 0 and result["equal_opportunity_ratio"] is None
    assert result.group("A")["impact_ratio"] is None


def test_sample_weights_equal_repeated_rows() -> None:
    rng = np.random.default_rng(3)
    n = 600
    y_true, y_pred = rng.integers(0, 2, n), rng.integers(0, 2, n)
    group = rng.choice(["a", "b", "c"], n)
    weights = rng.integers(1, 4, n)
    weighted = assess(y_true=y_true, y_pred=y_pred, sensitive_features=group, sample_weight=weights, n_resamples=0)
    repeated = assess(
        y_true=np.repeat(y_true, weights), y_pred=np.repeat(y_pred, weights),
        sensitive_features=np.repeat(group, weights), n_resamples=0,
    )  # fmt: skip
    for mine, theirs in zip(weighted.groups, repeated.groups, strict=True):
        assert mine.count == int((group == mine.group[0]).sum())  # rows stay unweighted
        assert mine.weight == theirs.count
        for name, value in mine.values.items():
            assert value == pytest.approx(theirs.values[name], abs=1e-12), name
    for name in AGGREGATE_NAMES:
        assert weighted[name] == pytest.approx(repeated[name], abs=1e-12, nan_ok=True), name
    assert weighted.statistics.weighted and not repeated.statistics.weighted


def test_weights_of_zero_make_a_groups_rates_undefined() -> None:
    result = assess(
        y_true=[1, 0, 1, 0] * 10, y_pred=[1, 1, 0, 0] * 10, sensitive_features=["a", "a", "b", "b"] * 10,
        sample_weight=[1.0, 1.0, 0.0, 0.0] * 10, n_resamples=0, min_group_size=0,
    )  # fmt: skip
    b = result.group("b")
    assert b.count == 20 and b.weight == 0 and b["selection_rate"] is None
    assert b.undefined["selection_rate"] == "the group's total weight is 0"


def test_string_labels_and_positive_label() -> None:
    y_true, y_pred, group = rows({"A": A, "B": B})
    words = {1: "yes", 0: "no"}
    as_words = assess(
        y_true=[words[v] for v in y_true], y_pred=[words[v] for v in y_pred], sensitive_features=group,
        positive_label="yes", n_resamples=0,
    )  # fmt: skip
    mixed = assess(  # y_pred 0/1 beside words in y_true: taken as already binary
        y_true=[words[v] for v in y_true], y_pred=y_pred, sensitive_features=group, positive_label="yes",
        n_resamples=0,
    )  # fmt: skip
    plain = run({"A": A, "B": B})
    assert as_words.statistics.equals(plain.statistics) and mixed.statistics.equals(plain.statistics)
    flipped = assess(y_true=y_true, y_pred=y_pred, sensitive_features=group, positive_label=0, n_resamples=0)
    assert flipped.group("A")["selection_rate"] == approx(0.6)
    booleans = assess(
        y_true=[bool(v) for v in y_true], y_pred=[bool(v) for v in y_pred], sensitive_features=group, n_resamples=0
    )
    assert booleans.statistics.equals(plain.statistics)
    with pytest.raises(InvalidInput, match=r"positive_label is required: the labels seen are \['no', 'yes'\]"):
        compute_statistics(y_true=[words[v] for v in y_true], y_pred=y_pred, sensitive_features=group)
    with pytest.raises(InvalidInput, match="positive_label 'Yes' is not one of the labels seen"):
        compute_statistics(
            y_true=[words[v] for v in y_true], y_pred=[words[v] for v in y_pred], sensitive_features=group,
            positive_label="Yes",
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="labels must be binary"):
        compute_statistics(y_true=[0, 1, 2], y_pred=[0, 1, 1], sensitive_features=["a"] * 3, positive_label=1)


def test_missing_sensitive_values() -> None:
    y_true, y_pred, group = rows({"A": A, "B": B})
    group[:7] = [None] * 7
    result = assess(y_true=y_true, y_pred=y_pred, sensitive_features={"race": group}, n_resamples=0, min_group_size=0)
    assert result.groups[-1].group == (None,) and result.groups[-1].count == 7
    body = result.to_dict()
    assert body["by_group"][-1]["label"] == "(missing)" and body["by_group"][-1]["group"] == {"race": None}
    with pytest.raises(InvalidInput, match=r"sensitive feature 'race' has 7 missing values \(missing='error'"):
        compute_statistics(y_true=y_true, y_pred=y_pred, sensitive_features={"race": group}, missing="error")


def test_too_small_groups_are_reported_but_left_out() -> None:
    result = run({"A": A, "B": B, "C": (5, 0, 0, 5)}, min_group_size=30)
    assert result.too_small == (("C",),)
    assert result.group("C").too_small and result.group("C")["selection_rate"] == 0.5
    assert result["demographic_parity_difference"] == approx(0.15)  # C (SR .5, TPR 1) takes no part
    assert result.aggregates["demographic_parity_difference"].groups == (("A",), ("B",))
    assert result.to_dict()["too_small"] == [{"group": {"sensitive_feature_0": "C"}, "count": 10}]
    included = run({"A": A, "B": B, "C": (5, 0, 0, 5)}, min_group_size=0)
    assert included["demographic_parity_difference"] == approx(0.25)
    with pytest.raises(InvalidInput, match="has 10 rows, fewer than min_group_size"):
        run({"A": A, "B": B, "C": (5, 0, 0, 5)}, mode="reference", reference_group="C")
    alone = run({"A": A, "C": (5, 0, 0, 5)})
    assert alone["demographic_parity_difference"] is None
    assert alone.aggregates["demographic_parity_difference"].reason == (
        "fewer than 2 groups are large enough (min_group_size)"
    )


def test_bootstrap_intervals_are_seeded_and_contain_the_estimate() -> None:
    spec = {"A": tuple(10 * c for c in A), "B": tuple(10 * c for c in B), "C": tuple(10 * c for c in C)}
    y_true, y_pred, group = rows(spec)  # type: ignore[arg-type]
    stats = compute_statistics(y_true=y_true, y_pred=y_pred, sensitive_features=group)
    first = fairness_metrics(stats, n_resamples=400, seed=7)
    again = fairness_metrics(stats, n_resamples=400, seed=7)
    other = fairness_metrics(stats, n_resamples=400, seed=8)
    for name in ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference"):
        interval = first.aggregates[name].interval
        assert interval is not None and interval.low is not None and interval.high is not None
        assert interval.low <= first[name] <= interval.high, name  # type: ignore[operator]
        assert (interval.resamples, interval.defined, interval.confidence) == (400, 400, 0.95)
        assert again.aggregates[name].interval == interval
        assert other.aggregates[name].interval != interval
    narrow = fairness_metrics(stats, n_resamples=400, seed=7, confidence=0.5).aggregates
    wide = first.aggregates
    assert narrow["demographic_parity_difference"].interval.low >= wide["demographic_parity_difference"].interval.low  # type: ignore[union-attr, operator]
    assert fairness_metrics(stats, n_resamples=0).aggregates["demographic_parity_difference"].interval is None
    assert first.aggregates["average_odds_difference"].interval is None  # undefined in all-groups mode


def test_bootstrap_of_weighted_statistics_scales_with_the_weights() -> None:
    y_true, y_pred, group = rows({"A": A, "B": B})
    plain = assess(y_true=y_true, y_pred=y_pred, sensitive_features=group, n_resamples=200)
    doubled = assess(
        y_true=y_true, y_pred=y_pred, sensitive_features=group, sample_weight=[2.0] * len(y_true), n_resamples=200
    )
    for name in ("demographic_parity_difference", "equalized_odds_ratio"):
        assert plain.aggregates[name].interval == doubled.aggregates[name].interval


def test_thresholds() -> None:
    thresholds = {"demographic_parity_ratio": (">=", 0.8), "equalized_odds_difference": ("<=", 0.3)}
    result = run({"A": A, "B": B}, thresholds=thresholds)
    checks = {c.metric: c for c in result.thresholds}
    assert checks["demographic_parity_ratio"].passed is False
    assert checks["equalized_odds_difference"].passed is True
    assert result.passed is False
    assert result.aggregates["demographic_parity_ratio"].threshold == checks["demographic_parity_ratio"]
    # Against B the raw ratio is 1.6; thresholds look at the folded ratio 1/1.6 = .625.
    against_b = run({"A": A, "B": B}, mode="reference", reference_group="B", thresholds=thresholds)
    check = against_b.thresholds[0]
    assert (check.value, check.measured, check.passed) == (approx(1.6), approx(0.625), False)
    # A signed difference is judged by its magnitude.
    signed = run({"A": A, "B": B}, mode="reference", thresholds={"demographic_parity_difference": ("<=", 0.1)})
    assert signed.thresholds[0].measured == approx(0.15) and signed.passed is False
    undefined = run({"A": A, "B": B}, thresholds={"average_odds_difference": ("<=", 0.1)})
    assert undefined.thresholds[0].passed is None and undefined.passed is None
    assert run({"A": A, "B": B}).passed is None  # no thresholds, no verdict
    with pytest.raises(InvalidInput, match="unknown metric 'disparate_impact'"):
        run({"A": A, "B": B}, thresholds={"disparate_impact": (">=", 0.8)})
    with pytest.raises(InvalidInput, match="op must be one of"):
        run({"A": A, "B": B}, thresholds={"demographic_parity_ratio": ("=>", 0.8)})


def test_json_is_strict_and_names_undefined_values() -> None:
    result = run(
        {"A": A, "B": B, "D": (0, 5, 0, 45)}, n_resamples=50, thresholds={"demographic_parity_ratio": (">=", 0.8)}
    )
    body = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    group = body["by_group"][2]
    for key in (
        "count",
        "selection_rate",
        "true_positive_rate",
        "false_positive_rate",
        "false_negative_rate",
        "precision",
    ):
        assert key in group
    assert group["true_positive_rate"] is None
    assert group["undefined"]["true_positive_rate"] == "no actual positives (TP + FN = 0)"
    assert set(body["aggregates"]) == set(AGGREGATE_NAMES)
    assert body["aggregates"]["average_odds_difference"]["value"] is None
    assert body["aggregates"]["average_odds_difference"]["reason"]
    assert body["aggregates"]["demographic_parity_ratio"]["threshold"]["passed"] is False
    assert body["thresholds"]["passed"] is False
    assert body["mode"] == "all_groups" and body["engine"] == "numpy" and body["version"]
    assert GroupStats.from_dict(body["statistics"]).equals(result.statistics)
    assert result.summary()["failed"] == ["demographic_parity_ratio"]


def test_auc_equals_scikit_learn_on_binned_scores() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    group = rng.choice(["a", "b"], n)
    y_true = rng.integers(0, 2, n)
    raw = np.clip(rng.normal(0.4 + 0.2 * y_true, 0.2), 0, 1)
    on_bins = rng.integers(0, 1000, n) / 1000  # multiples of 1/bins below 1 (1.0 shares the last bin with .999)
    weights = rng.uniform(0.5, 2, n)
    for scores in (raw, on_bins):
        result = assess(y_true=y_true, y_pred=y_true, scores=scores, sensitive_features=group, n_resamples=0)
        weighted = assess(
            y_true=y_true, y_pred=y_true, scores=scores, sensitive_features=group, sample_weight=weights, n_resamples=0
        )
        for label in ("a", "b"):
            rows_ = group == label
            binned = np.minimum(np.floor(scores[rows_] * 1000), 999) / 1000
            exact = roc_auc_score(y_true[rows_], binned)
            assert result.group(label)["auc"] == pytest.approx(exact, abs=1e-12)
            exact_weighted = roc_auc_score(y_true[rows_], binned, sample_weight=weights[rows_])
            assert weighted.group(label)["auc"] == pytest.approx(exact_weighted, abs=1e-12)
            assert result.group(label)["auc"] == pytest.approx(roc_auc_score(y_true[rows_], scores[rows_]), abs=1e-3)
        if scores is on_bins:  # already on the bins: scikit-learn's value on the scores themselves
            for label in ("a", "b"):
                rows_ = group == label
                assert result.group(label)["auc"] == approx(roc_auc_score(y_true[rows_], scores[rows_]))
    assert result["auc_difference"] is not None and result.aggregates["auc_difference"].compared is not None


def test_auc_and_calibration_edge_cases() -> None:
    y_true = [1, 1, 0, 0] * 10 + [1] * 40
    scores = [0.9, 0.7, 0.3, 0.1] * 10 + [0.8] * 40
    group = ["a"] * 40 + ["b"] * 40
    result = assess(y_true=y_true, y_pred=y_true, scores=scores, sensitive_features=group, n_resamples=20)
    assert result.group("a")["auc"] == 1.0
    assert result.group("b")["auc"] is None and result.group("b").undefined["auc"] == "no actual negatives"
    assert result["auc_difference"] is None
    bins = result.group("a").calibration
    assert bins is not None and len(bins) == 10
    assert sum(b.weight for b in bins) == 40
    filled = [b for b in bins if b.weight]
    assert [(b.lower, b.observed) for b in filled] == [(0.1, 0.0), (0.3, 0.0), (0.7, 1.0), (0.9, 1.0)]
    assert all(b.lower <= (b.mean_predicted or 0) <= b.upper for b in filled)
    assert result.group("a")["calibration_error"] == pytest.approx((0.1005 + 0.3005 + 0.2995 + 0.0995) / 4)
    without = run({"A": A, "B": B})
    assert without.group("A")["auc"] is None and without.group("A").undefined["auc"] == "no scores given"
    assert without.aggregates["auc_difference"].reason == "no scores given"


def test_intersectional_groups() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    sex, race = rng.choice(["F", "M"], n), rng.choice(["x", "y", "z"], n)
    y = rng.integers(0, 2, n)
    result = assess(y_true=y, y_pred=y, sensitive_features={"sex": sex, "race": race}, n_resamples=0)
    assert result.features == ("sex", "race")
    assert [g.group for g in result.groups] == [(s, r) for s in "FM" for r in "xyz"]
    for g in result.groups:
        assert g.count == int(((sex == g.group[0]) & (race == g.group[1])).sum())
    assert result.group(("M", "y")).label == "M, y"
    chosen = fairness_metrics(result.statistics, mode="reference", reference_group="M, y", n_resamples=0)
    assert chosen.reference_group == ("M", "y")
    assert fairness_metrics(
        result.statistics, mode="reference", reference_group={"race": "y", "sex": "M"}
    ).reference_group == ("M", "y")


def test_argument_errors() -> None:
    stats = compute_statistics(y_true=[1, 0], y_pred=[1, 0], sensitive_features=["a", "b"])
    with pytest.raises(InvalidInput, match="only in mode='reference'"):
        fairness_metrics(stats, reference_group="a")
    with pytest.raises(InvalidInput, match="reference group 'c' not found; the groups are: a; b"):
        fairness_metrics(stats, mode="reference", reference_group="c", min_group_size=0)
    with pytest.raises(InvalidInput, match="mode must be"):
        fairness_metrics(stats, mode="pairwise")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="confidence"):
        fairness_metrics(stats, confidence=1.0)
    with pytest.raises(InvalidInput, match="min_group_size"):
        fairness_metrics(stats, min_group_size=-1)
    with pytest.raises(InvalidInput, match="missing must be"):
        compute_statistics(y_true=[1], y_pred=[1], sensitive_features=["a"], missing="drop")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="bins"):
        compute_statistics(y_true=[1], y_pred=[1], sensitive_features=["a"], bins=0)
    with pytest.raises(InvalidInput, match="engine must be"):
        compute_statistics(y_true=[1], y_pred=[1], sensitive_features=["a"], engine="polars")  # type: ignore[arg-type]


def test_no_rows_gives_undefined_aggregates() -> None:
    result = assess(y_true=np.zeros(0, int), y_pred=np.zeros(0, int), sensitive_features=np.zeros(0, int))
    assert result.groups == () and result["demographic_parity_difference"] is None
    json.dumps(result.to_dict(), allow_nan=False)


def test_auc_draws_spread_like_a_row_bootstrap() -> None:
    """The AUC's resampling (DeLong's variance from the histograms) matches resampling the rows."""
    from charter.compute.fairness.bootstrap import resample_auc

    rng = np.random.default_rng(9)
    n = 2000
    y_true = rng.integers(0, 2, n)
    scores = np.clip(rng.normal(0.4 + 0.2 * y_true, 0.25), 0, 1)
    stats = compute_statistics(y_true=y_true, y_pred=y_true, sensitive_features=np.zeros(n, int), scores=scores)
    drawn = resample_auc(stats, 4000, rng)[:, 0]
    binned = np.minimum(np.floor(scores * 1000), 999) / 1000
    rows = [rng.integers(0, n, n) for _ in range(400)]
    by_rows = np.std([roc_auc_score(y_true[i], binned[i]) for i in rows])
    assert np.std(drawn) == pytest.approx(by_rows, rel=0.15)
    assert np.mean(drawn) == pytest.approx(roc_auc_score(y_true, binned), abs=1e-3)
    result = fairness_metrics(
        compute_statistics(y_true=y_true, y_pred=y_true, sensitive_features=rng.choice(["a", "b"], n), scores=scores),
        n_resamples=300,
    )
    interval = result.aggregates["auc_difference"].interval
    assert interval is not None and interval.defined == 300
