"""The demo's monitoring story: a drifting feed, an accuracy series, and an overdue breach report.

- ``credit-eligibility`` (in production) gets a drift monitor whose reference is the census data it
  was trained on, and a feed of 3,000 applicants who are older and work longer hours than that
  population, some in an occupation the training data never saw: the model decides on each, the
  decisions are logged, and the monitor (due on ingestion) finds the drift when the worker runs
  (``charter demo`` runs one round before serving): a drift alert and a SEV3 incident.
- Thirty days of hourly accuracy for that model, dipping over the last two: charts, trend, anomalies,
  and an accuracy monitor that alerts without opening an incident.
- A privacy incident detected four days ago and reportable under GDPR Art. 33 (72 hours), whose
  report has not been sent: its regulatory clock is overdue.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from charter.config import Settings
from charter.demo.data import ADULT
from charter.security.principal import Principal

MODEL = "credit-eligibility"
NUMERIC = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")
CATEGORICAL = ("workclass", "marital_status", "occupation", "relationship")
FEED = 3_000


def _census(data: Path) -> dict[str, list[object]]:
    with (data / ADULT).open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[object]] = {c: [float(r[c]) for r in rows] for c in NUMERIC}
    columns.update({c: [r[c].strip() for r in rows] for c in CATEGORICAL})
    return columns


def seed_monitoring(session: Session, settings: Settings, data: Path, model: object) -> None:
    """Monitors, the drifting feed, the accuracy series and the overdue incident (see the module docstring)."""
    from charter.compute.drift import profile
    from charter.demo.models import acting_as
    from charter.monitoring import service as monitoring
    from charter.monitoring.schemas import DriftMonitorCreate, MetricMonitorCreate

    olivia, rosa = acting_as(session, "olivia"), acting_as(session, "rosa")
    census = _census(data)
    reference = profile(census, categorical=list(CATEGORICAL), max_exact_rows=10_000).to_dict()
    monitoring.create_monitor(
        session,
        olivia,
        MODEL,
        DriftMonitorCreate.model_validate(
            {
                "name": "input-drift",
                "kind": "drift",
                # Credit inputs move together: a quarter of them drifting is already a different population.
                "config": {"reference_profile": reference, "window": 86_400, "min_rows": 200, "drift_share": 0.25},
                "interval": 3600,
                "on_ingest": True,
                "severity": "SEV3",
            }
        ),
    )
    monitoring.create_monitor(
        session,
        olivia,
        MODEL,
        MetricMonitorCreate.model_validate(
            {
                "name": "accuracy-floor",
                "kind": "metric_threshold",
                "config": {"metric": "accuracy", "op": ">=", "value": 0.8, "window": 86_400, "aggregate": "mean"},
                "interval": 3600,
                "severity": "SEV4",
                "open_incident": False,
            }
        ),
    )
    now = datetime.now(UTC).replace(microsecond=0)
    _log_feed(session, settings, olivia, census, model, now)
    _accuracy_series(session, olivia, now)
    _overdue_breach(session, settings, rosa, now)


def _log_feed(
    session: Session,
    settings: Settings,
    actor: Principal,
    census: dict[str, list[object]],
    model: object,
    now: datetime,
) -> None:
    from charter.decisions import service as decisions
    from charter.decisions.parquet import configured
    from charter.decisions.pseudonyms import keys_for
    from charter.decisions.schemas import DecisionBatch, DecisionIn, Explanation

    rng = np.random.default_rng(7)
    picked = rng.choice(len(census["age"]), size=FEED, replace=False)
    rows = []
    for i in picked:
        row = {c: census[c][i] for c in (*NUMERIC, *CATEGORICAL)}
        # The drift: older applicants working longer hours; a new kind of occupation.
        row["age"] = min(float(str(row["age"])) + 15.0, 90.0)
        row["hours_per_week"] = min(float(str(row["hours_per_week"])) + 12.0, 99.0)
        if rng.random() < 0.15:
            row["occupation"] = "Platform-gig-work"
        rows.append(row)
    x = np.array([[r[c] for c in NUMERIC] + [r[c] for c in CATEGORICAL] for r in rows], dtype=object)
    scores = model.predict_proba(x)[:, 1]  # type: ignore[attr-defined]
    items = [
        DecisionIn(
            decision_id=f"feed-{n:05d}",
            version="1.0.0",
            decided_at=now - timedelta(seconds=int(12 * 3600 * (FEED - n) / FEED)),
            inputs=row,
            output="eligible" if score >= 0.5 else "not eligible",
            score=round(float(score), 4),
            explanation=Explanation(text=f"Estimated probability of income above 50K: {score:.0%}."),
            subject=f"applicant-{int(i):05d}",
        )
        for n, (i, row, score) in enumerate(zip(picked, rows, scores, strict=True))
    ]
    parquet = configured(settings)
    decisions.log_decisions(
        session,
        actor,
        MODEL,
        DecisionBatch(decisions=items),
        keys=keys_for(settings.secret),
        sink=decisions.DATABASE if parquet is None else parquet,
    )


def _accuracy_series(session: Session, actor: Principal, now: datetime) -> None:
    from charter.metrics import service as metrics
    from charter.metrics.schemas import MetricBatch

    rng = np.random.default_rng(11)
    hours = 30 * 24
    start = now - timedelta(hours=hours)
    points = []
    for h in range(hours):
        daily = 0.006 * np.sin(2 * np.pi * h / 24)  # busier afternoons, slightly harder cases
        dip = -0.06 if h >= hours - 48 else 0.0  # the drift shows in accuracy over the last two days
        value = 0.845 + daily + dip + rng.normal(0, 0.004)
        points.append({"name": "accuracy", "value": round(float(value), 4), "time": start + timedelta(hours=h)})
    points[500]["value"] = 0.70  # one bad hour: an anomaly on the chart
    metrics.ingest(session, actor, MODEL, MetricBatch.model_validate({"points": points, "version": "1.0.0"}))


def _overdue_breach(session: Session, settings: Settings, actor: Principal, now: datetime) -> None:
    from charter.incidents import service as incidents
    from charter.incidents.schemas import IncidentCreate, ReportableMark

    read = incidents.report_incident(
        session,
        actor,
        IncidentCreate.model_validate(
            {
                "title": "Applicant export e-mailed to the wrong recipient",
                "type": "privacy",
                "severity": "SEV2",
                "description": "A CSV of 412 declined applications (names, incomes) went to an external address.",
                "models": [{"model": MODEL, "version": "1.0.0"}],
                "detected_at": now - timedelta(days=4),
                "affected_people": 412,
                "data_categories": ["identification", "financial"],
            }
        ),
        slas={str(k): v for k, v in settings.incident_response_slas.items()},
        now=now,
    )
    incidents.mark_reportable(
        session, actor, read.id, ReportableMark(regime="gdpr_breach", reason="Personal data of 412 people"), now=now
    )
