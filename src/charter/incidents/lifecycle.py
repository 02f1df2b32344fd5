"""The incident lifecycle and its clocks. Pure: no database, no web; ``now`` is always passed in.

Status moves one step at a time along
``reported → triaged → investigating → mitigating → resolved → closed``; a resolved or closed
incident may be reopened, which sends it back to ``investigating`` (the work starts again from
the investigation, not from triage: the incident was already acknowledged).

Two kinds of clock run on an incident:

- the **response** clock: from the moment the incident was reported to Charter until it is
  triaged (acknowledged), with a limit per severity (``CHARTER_INCIDENT_RESPONSE_SLAS``);
- **regulatory** clocks: from the moment the incident was detected (the deadlines of EU AI Act
  Art. 73 and GDPR Art. 33 run from awareness) until the report to the authority is submitted,
  one per regime the incident is marked reportable under.

All times are timezone-aware UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

Status = Literal["reported", "triaged", "investigating", "mitigating", "resolved", "closed"]
Severity = Literal["SEV1", "SEV2", "SEV3", "SEV4"]
IncidentType = Literal["performance", "bias_fairness", "security", "privacy", "safety", "compliance", "availability"]
Source = Literal["monitoring_alert", "user_report", "automated_detection", "system_log"]
Regime = Literal["eu_ai_act_serious", "eu_ai_act_widespread", "eu_ai_act_death", "gdpr_breach"]
ClockKind = Literal["response", "regulatory"]

STATUSES: tuple[Status, ...] = get_args(Status)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
TYPES: tuple[IncidentType, ...] = get_args(IncidentType)
SOURCES: tuple[Source, ...] = get_args(Source)
REGIMES: tuple[Regime, ...] = get_args(Regime)

#: status -> the statuses it may move to next.
TRANSITIONS: dict[str, tuple[Status, ...]] = {
    "reported": ("triaged",),
    "triaged": ("investigating",),
    "investigating": ("mitigating",),
    "mitigating": ("resolved",),
    "resolved": ("closed", "investigating"),
    "closed": ("investigating",),
}
#: No longer being worked on: an alert with the same dedup key opens a new incident.
DONE: frozenset[Status] = frozenset({"resolved", "closed"})
OPEN: tuple[Status, ...] = tuple(s for s in STATUSES if s not in DONE)
#: Closing an incident of these severities needs a post-incident review.
REVIEW_REQUIRED: frozenset[Severity] = frozenset({"SEV1", "SEV2"})

#: How long after detection the authority must have the report (the outer limits of the law).
REGULATORY_PERIODS: dict[str, timedelta] = {
    # EU AI Act Art. 73(2): immediately, and not later than 15 days after becoming aware.
    "eu_ai_act_serious": timedelta(days=15),
    # Art. 73(3): widespread infringement or serious disruption of critical infrastructure: 2 days.
    "eu_ai_act_widespread": timedelta(days=2),
    # Art. 73(4): the death of a person: 10 days.
    "eu_ai_act_death": timedelta(days=10),
    # GDPR Art. 33(1): personal-data breach to the supervisory authority within 72 hours.
    "gdpr_breach": timedelta(hours=72),
}

#: The response SLAs when ``CHARTER_INCIDENT_RESPONSE_SLAS`` does not name a severity.
DEFAULT_RESPONSE_SLAS: dict[Severity, str] = {"SEV1": "15m", "SEV2": "1h", "SEV3": "4h", "SEV4": "1bd"}
DURATION_PATTERN = r"^[1-9][0-9]{0,5}(s|m|h|d|bd)$"
DURATION_HELP = "a positive whole number with a unit: s, m, h, d (calendar days) or bd (business days, Mon-Fri)"
_DURATION = re.compile(DURATION_PATTERN)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def allowed_next(status: str) -> tuple[Status, ...]:
    return TRANSITIONS.get(status, ())


def can_move(source: str, target: str) -> bool:
    return target in allowed_next(source)


def is_reopen(source: str, target: str) -> bool:
    return source in DONE and target not in DONE


def rank(severity: str) -> int:
    """1 for SEV1 (the worst) to 4 for SEV4: a lower rank is more severe."""
    return SEVERITIES.index(severity) + 1


# -- durations --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    """A fixed length of time, or a count of business days (which depends on where it starts)."""

    seconds: int = 0
    business_days: int = 0

    def after(self, start: datetime) -> datetime:
        """``start`` plus this duration.

        Business days skip Saturdays and Sundays (UTC; public holidays are not known): each step
        moves one calendar day and counts only when it lands on Monday to Friday, so one business
        day after Friday 10:00 is Monday 10:00, and after Saturday 10:00 also Monday 10:00.
        """
        if not self.business_days:
            return start + timedelta(seconds=self.seconds)
        moment, counted = start, 0
        while counted < self.business_days:
            moment += timedelta(days=1)
            if moment.weekday() < 5:
                counted += 1
        return moment


def parse_duration(text: str) -> Duration:
    """``"15m"`` → 900 s; ``"1bd"`` → one business day. ``ValueError`` names the grammar."""
    if not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration: use {DURATION_HELP}, e.g. 15m or 1bd")
    if text.endswith("bd"):
        return Duration(business_days=int(text[:-2]))
    return Duration(seconds=int(text[:-1]) * _UNIT_SECONDS[text[-1]])


def response_sla(severity: str, slas: Mapping[str, str] | None = None) -> Duration:
    """The time allowed to triage an incident of ``severity``: the configured value, else the default."""
    configured: dict[str, str] = {str(k): v for k, v in DEFAULT_RESPONSE_SLAS.items()}
    configured.update(slas or {})
    if severity not in configured:
        raise ValueError(f"{severity!r} is not a severity: use one of {', '.join(SEVERITIES)}")
    return parse_duration(configured[severity])


def response_due(reported_at: datetime, severity: str, slas: Mapping[str, str] | None = None) -> datetime:
    return response_sla(severity, slas).after(reported_at)


def regulatory_due(detected_at: datetime, regime: str) -> datetime:
    return detected_at + REGULATORY_PERIODS[regime]


# -- clock state ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockState:
    """Where a deadline stands at ``now``.

    ``overdue``: still running and past due (what alerting acts on). ``breached``: the deadline
    was missed, whether the clock is still running or was met late. ``remaining_seconds``: until
    the deadline (negative once past), None once met.
    """

    due_at: datetime
    met_at: datetime | None
    overdue: bool
    breached: bool
    remaining_seconds: int | None


def clock_state(due_at: datetime, met_at: datetime | None, now: datetime) -> ClockState:
    _check_aware(due_at, now)
    if met_at is not None:
        return ClockState(due_at, met_at, overdue=False, breached=met_at > due_at, remaining_seconds=None)
    remaining = due_at - now
    late = remaining < timedelta(0)
    # Whole seconds toward zero, so that one second before the deadline reads 1 and one after reads -1.
    seconds = int(remaining.total_seconds())
    return ClockState(due_at, None, overdue=late, breached=late, remaining_seconds=seconds)


def _check_aware(*moments: datetime) -> None:
    for moment in moments:
        if moment.tzinfo is None:
            raise ValueError("incident clocks take timezone-aware times (UTC)")


def utc(moment: datetime) -> datetime:
    """A time as UTC; a naive time is taken to be UTC already (as the API documents)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
