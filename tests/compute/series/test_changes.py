"""Change points: the same breakpoints as ruptures' binary segmentation; planted shifts found, noise left alone."""

from __future__ import annotations

import numpy as np
import pytest
import ruptures as rpt  # type: ignore[import-untyped]  # no stubs

from charter.compute.series import change_points
from charter.errors import InvalidInput
from tests.compute.series.conftest import Convert


def piecewise(seed: int, levels: list[float], lengths: list[int], noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(level, noise, size=n) for level, n in zip(levels, lengths, strict=True)])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("min_size", [2, 5, 20])
def test_same_breakpoints_as_ruptures_binseg(seed: int, min_size: int) -> None:
    rng = np.random.default_rng(100 + seed)
    lengths = rng.integers(30, 150, size=5).tolist()
    levels = rng.normal(0, 2, size=5).tolist()
    y = piecewise(seed, levels, lengths)
    for penalty in (5.0, 20.0, 80.0):
        ours = change_points(y, penalty=penalty, min_size=min_size, robust=False)
        theirs = rpt.Binseg(model="l2", min_size=min_size, jump=1).fit(y).predict(pen=penalty)
        assert ours.indices == theirs[:-1]  # ruptures ends its list with len(y)


def test_planted_shifts_are_found_where_they_are() -> None:
    y = piecewise(1, [10.0, 13.0, 9.0, 9.8], [400, 250, 300, 350])
    found = change_points(y)
    assert len(found.indices) == 3
    for got, want in zip(found.indices, [400, 650, 950], strict=True):
        assert abs(got - want) <= 3
    first = found.points[0]
    assert first.before_mean == pytest.approx(10.0, abs=0.2) and first.after_mean == pytest.approx(13.0, abs=0.2)
    assert first.shift == pytest.approx(3.0, abs=0.3) and first.gain > found.penalty
    assert found.sigma == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("n", [60, 500, 5_000, 50_000])
def test_pure_noise_has_no_change_point(n: int) -> None:
    for seed in range(5):
        assert change_points(np.random.default_rng(seed).normal(7.0, 2.0, size=n)).points == ()


def test_spikes_are_not_change_points_unless_robustness_is_off() -> None:
    y = np.random.default_rng(4).normal(size=1000)
    y[[200, 201, 600]] += 40.0
    assert change_points(y).points == ()
    assert change_points(y, robust=False).indices != []


def test_a_large_shift_survives_the_clipping_and_its_means_are_raw() -> None:
    y = piecewise(2, [0.0, 50.0], [300, 300])
    found = change_points(y)
    assert found.indices == [300]
    assert found.points[0].after_mean == pytest.approx(50.0, abs=0.2)


def test_a_million_points_in_one_vectorised_pass() -> None:
    y = piecewise(3, [0.0, 0.5, 0.0], [400_000, 200_000, 400_000])
    found = change_points(y)
    assert [round(i, -3) for i in found.indices] == [400_000, 600_000]


def test_max_changes_inputs_and_refusals(as_input: Convert) -> None:
    y = piecewise(5, [0.0, 5.0, 0.0, 5.0], [50, 50, 50, 50])
    assert len(change_points(as_input(y)).indices) == 3
    assert len(change_points(y, max_changes=1).indices) == 1
    assert change_points([]).points == () and change_points([1.0]).points == ()
    with pytest.raises(InvalidInput, match="min_size"):
        change_points(y, min_size=0)
    with pytest.raises(InvalidInput, match="penalty"):
        change_points(y, penalty=-1.0)
    with pytest.raises(InvalidInput, match="index 3"):
        change_points([1.0, 2.0, 3.0, float("inf")])
