"""Demo models trained at start-up on the real data sets (UCI Adult, ProPublica COMPAS) and registered
through the real services: scanned, encrypted, signed, sent through the lifecycle by the demo's people.

One more version carries a pickle that would run a shell command if loaded (it is never loaded): the
scanner flags it and the lifecycle keeps it out of approval, as it would any upload.
"""

from __future__ import annotations

import csv
import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from charter.config import Settings
from charter.demo.data import ADULT, COMPAS, compas_propublica
from charter.identity import auth
from charter.identity.service import get_principal
from charter.inventory import artifacts, service
from charter.inventory.schemas import (
    DatasetCreate,
    DatasetLink,
    ModelCreate,
    Promotion,
    VersionCreate,
)
from charter.security.principal import Principal


@dataclass(frozen=True)
class Trained:
    model: object
    metrics: dict[str, float]
    rows: int
    # The held-out rows: true labels, the model's decisions and scores, and the sensitive attributes.
    y_test: np.ndarray
    pred_test: np.ndarray
    score_test: np.ndarray
    sensitive_test: dict[str, np.ndarray]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _fit(
    features: np.ndarray, categorical: np.ndarray, labels: np.ndarray, sensitive: dict[str, np.ndarray]
) -> Trained:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x = np.concatenate([features.astype(object), categorical.astype(object)], axis=1)
    numeric = list(range(features.shape[1]))
    cats = list(range(features.shape[1], x.shape[1]))
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("numeric", StandardScaler(), numeric),
                        ("categorical", OneHotEncoder(handle_unknown="ignore"), cats),
                    ]
                ),
            ),
            ("classify", LogisticRegression(max_iter=1000)),
        ]
    )
    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=0.3, random_state=42, stratify=labels)
    pipeline.fit(x[train], labels[train])
    scores = pipeline.predict_proba(x[test])[:, 1]
    y_test = labels[test]
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, scores >= 0.5)), 4),
        "auc": round(float(roc_auc_score(y_test, scores)), 4),
    }
    return Trained(
        pipeline,
        metrics,
        len(labels),
        y_test=y_test,
        pred_test=(scores >= 0.5).astype(int),
        score_test=scores,
        sensitive_test={name: values[test] for name, values in sensitive.items()},
    )


def train_adult(data: Path) -> Trained:
    """Income above 50K from census attributes; sex and race are left out of the features (but not the data)."""
    rows = _read(data / ADULT)
    numeric = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")
    categorical = ("workclass", "marital_status", "occupation", "relationship")
    features = np.array([[float(r[c]) for c in numeric] for r in rows])
    cats = np.array([[r[c].strip() for c in categorical] for r in rows])
    labels = np.array([r["income"].strip() == ">50K" for r in rows], dtype=int)
    sensitive = {c: np.array([r[c].strip() for r in rows]) for c in ("sex", "race")}
    return _fit(features, cats, labels, sensitive)


def _propublica_rows(data: Path) -> list[dict[str, str]]:
    """ProPublica's COMPAS slice (``charter.demo.data.compas_propublica``) as rows of text, like ``_read``."""
    frame = compas_propublica(data)
    return [{k: str(v) for k, v in row.items()} for row in frame.to_dict("records")]


def train_compas(data: Path) -> Trained:
    """Two-year recidivism on ProPublica's filtered slice, from age, priors and charge degree."""
    rows = _propublica_rows(data)
    numeric = ("age", "priors_count", "juv_fel_count", "juv_misd_count", "juv_other_count")
    features = np.array([[float(r[c]) for c in numeric] for r in rows])
    cats = np.array([[r["c_charge_degree"]] for r in rows])
    labels = np.array([int(r["two_year_recid"]) for r in rows])
    sensitive = {c: np.array([r[c] for r in rows]) for c in ("race", "sex")}
    return _fit(features, cats, labels, sensitive)


def compas_tool_decisions(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ProPublica's analysis of the COMPAS tool itself: (two_year_recid, score_text in {Medium, High}, race)."""
    rows = _propublica_rows(data)
    return (
        np.array([int(r["two_year_recid"]) for r in rows]),
        np.array([int(r["score_text"] in ("Medium", "High")) for r in rows]),
        np.array([r["race"] for r in rows]),
    )


class _Payload:
    """Pickled only: loading it would run `id`. It shows what the scanner catches."""

    def __reduce__(self) -> tuple[Callable[[str], int], tuple[str]]:
        return (os.system, ("id",))


def _upload(
    session: Session,
    actor: Principal,
    protection: artifacts.Protection,
    model: str,
    version: str,
    name: str,
    blob: bytes,
) -> None:
    with tempfile.NamedTemporaryFile(dir=protection.scratch, prefix="demo-", delete=False) as f:
        f.write(blob)
        path = Path(f.name)
    try:
        artifacts.upload(session, actor, protection, model, version, path=name, plaintext=path)
    finally:
        path.unlink(missing_ok=True)


def acting_as(session: Session, name: str) -> Principal:
    """A demo user as the principal of the seed's calls."""
    return auth.to_principal(get_principal(session, name), auth_method="local")


def seed_models(session: Session, settings: Settings, data: Path) -> list[str]:
    """Train, register and move the demo models through the lifecycle. Returns the models' names."""
    protection = artifacts.Protection(settings)
    olivia, mateo, raj, rosa = (acting_as(session, n) for n in ("olivia", "mateo", "raj", "rosa"))
    names = []

    # Credit risk: an income-based eligibility model on UCI Adult, approved and in production.
    service.register_dataset(
        session,
        olivia,
        DatasetCreate(
            name="uci-adult-1994",
            team="credit-risk",
            description="UCI Adult census extract (32,561 people); holds sex and race.",
            location=str(data / ADULT),
            classification="special_category",
            legal_basis="legitimate_interests",
            retention_days=1825,
            tags=["census", "public-benchmark"],
        ),
    )
    adult = train_adult(data)
    service.register_model(
        session,
        olivia,
        ModelCreate(
            name="credit-eligibility",
            team="credit-risk",
            description="Logistic regression estimating whether an applicant's income exceeds 50K.",
            purpose="Pre-screen consumer credit applications for an income threshold.",
            intended_use="Decision support for credit officers; every decline is reviewed by a person.",
            out_of_scope_uses=["Fully automated declines", "Employment decisions"],
            domain="credit",
            deployment_context="Internal credit-origination workflow, EU customers.",
            data_sources=["UCI Adult census extract"],
            regulations=["EU AI Act Annex III (5)(b)", "GDPR Art. 22", "ECOA"],
            tags=["tabular", "scikit-learn"],
        ),
    )
    service.set_risk_tier(session, rosa, "credit-eligibility", "high")
    service.create_version(
        session,
        olivia,
        "credit-eligibility",
        VersionCreate(
            version="1.0.0",
            framework="scikit-learn",
            metrics=adult.metrics,
            parameters={"estimator": "LogisticRegression", "max_iter": 1000, "rows": adult.rows},
            datasets=[DatasetLink(dataset="uci-adult-1994", role="training")],
            card={
                "limitations": "Trained on 1994 US census data; income patterns and currency values are dated.",
                "ethical_considerations": "Sex and race are excluded as features but proxies (relationship, "
                "marital status) remain; fairness must be assessed before each release.",
            },
        ),
    )
    _upload(session, olivia, protection, "credit-eligibility", "1.0.0", "model.pkl", pickle.dumps(adult.model))
    for stage, actor, comment in (
        ("review", olivia, "First release candidate"),
        ("approved", raj, "Metrics and lineage reviewed"),
        ("production", olivia, "Rolled out to the credit workflow"),
    ):
        service.promote(
            session,
            actor,
            "credit-eligibility",
            "1.0.0",
            Promotion(stage=stage, comment=comment),
            protection=protection,
        )
    _assess(
        session,
        settings,
        olivia,
        "credit-eligibility",
        "1.0.0",
        adult,
        ["sex"],
        title="Eligibility by sex (hold-out set)",
    )
    _assess(
        session,
        settings,
        olivia,
        "credit-eligibility",
        "1.0.0",
        adult,
        ["sex", "race"],
        title="Eligibility by sex and race (hold-out set)",
    )
    from charter.demo.monitoring import seed_monitoring

    seed_monitoring(session, settings, data, adult.model)
    names.append("credit-eligibility")

    # People analytics: a recidivism model on COMPAS (a well-known biased benchmark), waiting in review.
    service.register_dataset(
        session,
        mateo,
        DatasetCreate(
            name="compas-broward-2013",
            team="people-analytics",
            description="ProPublica's COMPAS extract, Broward County 2013-2014; holds race.",
            location=str(data / COMPAS),
            classification="special_category",
            legal_basis="public_task",
            retention_days=3650,
        ),
    )
    compas = train_compas(data)
    service.register_model(
        session,
        mateo,
        ModelCreate(
            name="reoffence-risk",
            team="people-analytics",
            description="Logistic regression predicting two-year recidivism, a COMPAS replica.",
            purpose="Research replica of a pre-trial risk tool, to study its disparities.",
            intended_use="Fairness research only.",
            out_of_scope_uses=["Pre-trial, sentencing or parole decisions"],
            domain="law_enforcement",
            regulations=["EU AI Act Annex III (6)", "GDPR Art. 9"],
            tags=["tabular", "research"],
        ),
    )
    service.create_version(
        session,
        mateo,
        "reoffence-risk",
        VersionCreate(
            version="0.1.0",
            framework="scikit-learn",
            metrics=compas.metrics,
            datasets=[DatasetLink(dataset="compas-broward-2013", role="training")],
        ),
    )
    _upload(session, mateo, protection, "reoffence-risk", "0.1.0", "model.pkl", pickle.dumps(compas.model))
    service.promote(session, mateo, "reoffence-risk", "0.1.0", Promotion(stage="review"), protection=protection)
    # A vendor build whose pickle would run a command: flagged, and it cannot be approved.
    service.create_version(
        session, mateo, "reoffence-risk", VersionCreate(version="0.2.0", description="Vendor-supplied retrain")
    )
    _upload(session, mateo, protection, "reoffence-risk", "0.2.0", "model.pkl", pickle.dumps(_Payload()))
    service.promote(session, mateo, "reoffence-risk", "0.2.0", Promotion(stage="review"), protection=protection)
    _assess(session, settings, mateo, "reoffence-risk", "0.1.0", compas, ["race"], title="Replica by race (hold-out)")
    _log_decisions(session, settings, mateo, "reoffence-risk", "0.1.0", compas)
    # ProPublica's analysis of the COMPAS tool's own decisions: the false-positive-rate gap.
    from charter.compute.fairness import compute_statistics

    truth, tool, race = compas_tool_decisions(data)
    tool_stats = compute_statistics(y_true=truth, y_pred=tool, sensitive_features={"race": race})
    _record(
        session,
        settings,
        mateo,
        "reoffence-risk",
        "0.1.0",
        tool_stats,
        title="COMPAS tool decisions by race (ProPublica's slice)",
        description="compas_two_years.csv, 6,172 rows: two_year_recid vs score_text in {Medium, High}",
    )
    _govern(session, protection)
    names.append("reoffence-risk")
    return names


def _govern(session: Session, protection: artifacts.Protection) -> None:
    """Policies as code: the starter pack, its fairness policy enforced (proposed by the risk officer,
    approved by the administrator), and the COMPAS replica approved by its team's reviewer. Promoting
    the replica to production is then refused, naming the failed fairness rule, until the risk
    officer grants a waiver (the demo leaves that to the person trying it)."""
    from charter.policies import service as policies

    rosa, nadia, admin = (acting_as(session, n) for n in ("rosa", "nadia", "admin"))
    # A recidivism tool is high-risk under the EU AI Act (Annex III, point 6).
    service.set_risk_tier(session, rosa, "reoffence-risk", "high")
    comment = "Code, lineage and hold-out metrics reviewed; fairness gap noted."
    service.promote(
        session, nadia, "reoffence-risk", "0.1.0", Promotion(stage="approved", comment=comment), protection=protection
    )
    policies.install_pack(session, rosa)
    policies.change_state(session, rosa, "high-risk-fairness", "enforce", comment="Four-fifths rule for high-risk")
    policies.approve(session, admin, "high-risk-fairness", comment="Second pair of eyes")
    _risks(session)
    _report(session, protection, rosa)


def _answers(**yes: bool) -> dict[str, bool | None]:
    """Intake answers: every required question 'no' unless named."""
    from charter.risk.classification import QUESTIONS

    answers: dict[str, bool | None] = {q.id: False for q in QUESTIONS if q.required}
    answers.update(yes)
    return answers


def _risks(session: Session) -> None:
    """Risk: the EU AI Act intake of both models, an assessment of every version, and a register
    with real entries, so the heat map and each model's reasons are there to look at."""
    from datetime import UTC, date, datetime, timedelta

    from charter.risk import register
    from charter.risk import service as risk
    from charter.risk.schemas import ClassificationRequest, RiskCreate

    rosa, mateo, olivia = (acting_as(session, n) for n in ("rosa", "mateo", "olivia"))
    # Creditworthiness (Annex III 5(b)) and a criminal-risk tool (Annex III 6(d)) both profile people.
    risk.classify_model(
        session, rosa, "credit-eligibility", ClassificationRequest(answers=_answers(hr_essential_services=True))
    )
    risk.classify_model(
        session, rosa, "reoffence-risk", ClassificationRequest(answers=_answers(hr_law_enforcement=True))
    )
    for owner, model, versions in (
        (olivia, "credit-eligibility", ("1.0.0",)),
        (mateo, "reoffence-risk", ("0.1.0", "0.2.0")),
    ):
        for version in versions:
            risk.assess(session, owner, model, version)
    review = date.today() + timedelta(days=90)
    entries = [
        RiskCreate(
            model="reoffence-risk",
            title="False positive rates differ by race",
            description="ProPublica's finding reproduced: African-American defendants are flagged high risk "
            "without reoffending about twice as often as Caucasian defendants.",
            category="bias",
            likelihood=5,
            impact=5,
            controls=["Four-fifths rule enforced before production", "Human review of every high-risk flag"],
            control_rules=["high-risk-fairness/disparate-impact"],
            residual_likelihood=3,
            residual_impact=4,
            owner="rosa",
            treatment="mitigate",
            review_date=review,
        ),
        RiskCreate(
            model="reoffence-risk",
            title="Vendor retrain 0.2.0 ships an opaque artifact",
            category="security",
            likelihood=3,
            impact=4,
            controls=["Artifact scan before review"],
            residual_likelihood=2,
            residual_impact=4,
            owner="mateo",
            treatment="mitigate",
            review_date=review,
        ),
        RiskCreate(
            model="credit-eligibility",
            title="Income proxies for sex in eligibility",
            category="bias",
            likelihood=3,
            impact=4,
            controls=["Quarterly fairness assessment"],
            residual_likelihood=2,
            residual_impact=3,
            owner="olivia",
            treatment="mitigate",
            review_date=review,
        ),
        RiskCreate(
            model="credit-eligibility",
            title="Applicants' personal data retained past the purpose",
            category="privacy",
            likelihood=2,
            impact=3,
            owner="olivia",
            treatment="accept",
            # Left overdue on purpose: the heat map page counts reviews past their date.
            review_date=datetime.now(UTC).date() - timedelta(days=7),
        ),
    ]
    for entry in entries:
        register.create_risk(session, rosa, entry)


def _report(session: Session, protection: artifacts.Protection, officer: Principal) -> None:
    """The risk officer's EU AI Act report on the replica, in every format, stored and audited: the failed
    fairness rule is an open gap. After a waiver and the promotion it allows, a new report lists the
    waiver as an open gap (``charter report model reoffence-risk -f eu-ai-act``)."""
    from datetime import UTC, datetime, timedelta

    from charter.reports import service as reports
    from charter.security.keys import load_audit_key

    now = datetime.now(UTC)
    reports.generate(
        session,
        officer,
        protection,
        kind="model",
        model="reoffence-risk",
        version="0.1.0",  # the approved version, whose promotion the fairness policy blocks
        frameworks=["eu-ai-act"],
        start=now - timedelta(days=90),
        end=now + timedelta(minutes=1),
        public_key=load_audit_key(protection.settings.audit_key_file).public_key(),
    )


def _assess(
    session: Session,
    settings: Settings,
    actor: Principal,
    model: str,
    version: str,
    trained: Trained,
    features: list[str],
    *,
    title: str,
) -> None:
    from charter.compute.fairness import compute_statistics

    stats = compute_statistics(
        y_true=trained.y_test,
        y_pred=trained.pred_test,
        scores=trained.score_test,
        sensitive_features={f: trained.sensitive_test[f] for f in features},
    )
    description = f"{len(trained.y_test):,} held-out rows, decisions at score >= 0.5"
    _record(session, settings, actor, model, version, stats, title=title, description=description)


def _record(
    session: Session,
    settings: Settings,
    actor: Principal,
    model: str,
    version: str,
    stats: object,
    *,
    title: str,
    description: str,
) -> None:
    from charter.compute.fairness import GroupStats
    from charter.evidence import service as evidence
    from charter.evidence.schemas import FairnessEvidenceCreate

    assert isinstance(stats, GroupStats)
    evidence.record_fairness(
        session,
        actor,
        model,
        version,
        FairnessEvidenceCreate(
            statistics=stats.to_dict(), title=title, data_description=description, engine="numpy", n_resamples=200
        ),
        default_thresholds=dict(settings.fairness_thresholds),
        default_min_group_size=settings.fairness_min_group_size,
    )


def demo_data_folder(settings: Settings) -> Path | None:
    """Where the reference data sets are: CHARTER_DEMO_DATA, else ../shared/data beside the checkout."""
    candidates = [settings.demo_data] if settings.demo_data else []
    candidates.append(Path(__file__).resolve().parents[3].parent / "shared" / "data")
    candidates.append(Path.cwd().parent / "shared" / "data")
    for folder in candidates:
        if folder and (folder / ADULT).is_file() and (folder / COMPAS).is_file():
            return folder
    return None


def _log_decisions(
    session: Session, settings: Settings, actor: Principal, model: str, version: str, trained: Trained
) -> None:
    """The hold-out decisions, in the transparency log: output, score, ground truth, race kept apart."""
    from datetime import UTC, datetime, timedelta

    from charter.decisions import service as decisions
    from charter.decisions.parquet import configured
    from charter.decisions.pseudonyms import keys_for
    from charter.decisions.schemas import DecisionBatch, DecisionIn, Explanation, Outcome

    keys = keys_for(settings.secret)
    start = datetime.now(UTC) - timedelta(days=30)
    batch = [
        DecisionIn(
            decision_id=f"holdout-{i:05d}",
            version=version,
            decided_at=start + timedelta(minutes=15 * i),
            inputs={"case": f"case-{i:05d}"},
            output="high risk" if trained.pred_test[i] else "low risk",
            score=round(float(trained.score_test[i]), 4),
            explanation=Explanation(text=f"Estimated two-year reoffence probability {trained.score_test[i]:.0%}."),
            subject=f"defendant-{i:05d}",
            sensitive_attributes={"race": str(trained.sensitive_test["race"][i])},
        )
        for i in range(len(trained.y_test))
    ]
    parquet = configured(settings)
    sink = decisions.DATABASE if parquet is None else parquet
    logged = DecisionBatch(decisions=batch, personal_fields=["case"])
    decisions.log_decisions(session, actor, model, logged, keys=keys, sink=sink)
    for i in range(0, len(batch), 5):  # ground truth arrives later, for some of them
        outcome = Outcome(outcome=int(trained.y_test[i]))
        decisions.record_outcome(session, actor, model, batch[i].decision_id, outcome, parquet=parquet)
