"""The pure lifecycle: transitions, durations (business days), response SLAs and regulatory clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from charter.incidents import lifecycle
from charter.incidents.lifecycle import (
    STATUSES,
    Duration,
    allowed_next,
    can_move,
    clock_state,
    is_reopen,
    parse_duration,
    regulatory_due,
    response_due,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday
ALLOWED = {
    ("reported", "triaged"),
    ("triaged", "investigating"),
    ("investigating", "mitigating"),
    ("mitigating", "resolved"),
    ("resolved", "closed"),
    ("resolved", "investigating"),
    ("closed", "investigating"),
}
PAIRS = [(a, b) for a in STATUSES for b in STATUSES]


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_exactly_the_documented_moves_are_allowed(source: str, target: str) -> None:
    assert can_move(source, target) is ((source, target) in ALLOWED)
    assert (target in allowed_next(source)) is ((source, target) in ALLOWED)


def test_reopen_is_a_move_out_of_resolved_or_closed() -> None:
    assert is_reopen("resolved", "investigating") and is_reopen("closed", "investigating")
    assert not is_reopen("resolved", "closed") and not is_reopen("mitigating", "resolved")
    assert allowed_next("no-such-status") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", Duration(seconds=900)),
        ("1h", Duration(seconds=3600)),
        ("4h", Duration(seconds=14_400)),
        ("90s", Duration(seconds=90)),
        ("2d", Duration(seconds=172_800)),
        ("1bd", Duration(business_days=1)),
        ("3bd", Duration(business_days=3)),
    ],
)
def test_durations_parse(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "m", "0m", "-1h", "1.5h", "1w", "15 m", "1BD"])
def test_bad_durations_are_refused_with_the_grammar(text: str) -> None:
    with pytest.raises(ValueError, match="business days"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (datetime(2026, 3, 2, 10, tzinfo=UTC), 1, datetime(2026, 3, 3, 10, tzinfo=UTC)),  # Mon -> Tue
        (datetime(2026, 3, 5, 10, tzinfo=UTC), 1, datetime(2026, 3, 6, 10, tzinfo=UTC)),  # Thu -> Fri
        (datetime(2026, 3, 6, 10, tzinfo=UTC), 1, datetime(2026, 3, 9, 10, tzinfo=UTC)),  # Fri -> Mon
        (datetime(2026, 3, 7, 10, tzinfo=UTC), 1, datetime(2026, 3, 9, 10, tzinfo=UTC)),  # Sat -> Mon
        (datetime(2026, 3, 8, 23, tzinfo=UTC), 1, datetime(2026, 3, 9, 23, tzinfo=UTC)),  # Sun -> Mon
        (datetime(2026, 3, 6, 10, tzinfo=UTC), 5, datetime(2026, 3, 13, 10, tzinfo=UTC)),  # a working week
    ],
)
def test_business_days_skip_weekends(start: datetime, days: int, expected: datetime) -> None:
    assert Duration(business_days=days).after(start) == expected


def test_default_response_slas_by_severity() -> None:
    assert response_due(T0, "SEV1") == T0 + timedelta(minutes=15)
    assert response_due(T0, "SEV2") == T0 + timedelta(hours=1)
    assert response_due(T0, "SEV3") == T0 + timedelta(hours=4)
    assert response_due(T0, "SEV4") == T0 + timedelta(days=1)  # Monday -> Tuesday
    friday = datetime(2026, 3, 6, 16, tzinfo=UTC)
    assert response_due(friday, "SEV4") == datetime(2026, 3, 9, 16, tzinfo=UTC)


def test_configured_slas_override_only_the_severities_they_name() -> None:
    slas = {"SEV1": "5m"}
    assert response_due(T0, "SEV1", slas) == T0 + timedelta(minutes=5)
    assert response_due(T0, "SEV2", slas) == T0 + timedelta(hours=1)
    with pytest.raises(ValueError, match="not a severity"):
        lifecycle.response_sla("SEV9")


@pytest.mark.parametrize(
    ("regime", "period"),
    [
        ("eu_ai_act_serious", timedelta(days=15)),
        ("eu_ai_act_widespread", timedelta(days=2)),
        ("eu_ai_act_death", timedelta(days=10)),
        ("gdpr_breach", timedelta(hours=72)),
    ],
)
def test_regulatory_deadlines_run_from_detection(regime: str, period: timedelta) -> None:
    due = regulatory_due(T0, regime)
    assert due == T0 + period
    just_before = clock_state(due, None, due - timedelta(seconds=1))
    assert (just_before.overdue, just_before.breached, just_before.remaining_seconds) == (False, False, 1)
    at_deadline = clock_state(due, None, due)
    assert (at_deadline.overdue, at_deadline.remaining_seconds) == (False, 0)
    just_after = clock_state(due, None, due + timedelta(seconds=1))
    assert (just_after.overdue, just_after.breached, just_after.remaining_seconds) == (True, True, -1)


def test_a_met_clock_is_never_overdue_but_remembers_a_breach() -> None:
    due = T0 + timedelta(hours=72)
    on_time = clock_state(due, due - timedelta(hours=1), due + timedelta(days=30))
    assert (on_time.overdue, on_time.breached, on_time.remaining_seconds) == (False, False, None)
    late = clock_state(due, due + timedelta(hours=1), due + timedelta(days=30))
    assert (late.overdue, late.breached, late.met_at) == (False, True, due + timedelta(hours=1))


def test_clocks_refuse_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        clock_state(datetime(2026, 1, 1), None, T0)
    assert lifecycle.utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_severity_rank_orders_sev1_first() -> None:
    assert [lifecycle.rank(s) for s in lifecycle.SEVERITIES] == [1, 2, 3, 4]
