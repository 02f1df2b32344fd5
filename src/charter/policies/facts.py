"""The facts document: everything a policy may read about one model version, typed and documented.

Policies are CEL expressions over one variable, ``facts`` (:data:`FACTS` declares every field,
its type and its meaning; ``docs/policies.md`` lists them). The document is built from the
inventory, the evidence, the incidents and the event being decided:

- :func:`build` for one version (a gate), :func:`build_many` for many (a dry run): the same few
  set-based queries either way (versions with their models and teams, datasets, artifacts, stage
  transitions, the latest evidence of each kind, open incidents), never one query per version;
- ``sections`` limits the work to the top-level sections the policies read (a policy about
  fairness never pays for model-card completeness).

The queries are Core statements, built once, run on the session's connection: only columns are
read, and at a gate the facts cost more than evaluating fifty policies.

Nulls are facts too: an unassessed risk tier, evidence never recorded, a signature not checked.
Numbers that CEL treats as ``double`` are always floats here (CEL refuses ``1 + 2.5``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Executable, bindparam, func, select
from sqlalchemy.orm import Session

from charter.evidence.models import KINDS as EVIDENCE_KINDS
from charter.evidence.models import EvidenceRow
from charter.identity.models import TeamRow
from charter.incidents.lifecycle import OPEN, SEVERITIES
from charter.incidents.models import IncidentModelRow, IncidentRow
from charter.inventory import cards
from charter.inventory.models import (
    ArtifactRow,
    DatasetRow,
    ModelRow,
    ModelVersionRow,
    StageTransitionRow,
    VersionDatasetRow,
)
from charter.policies.types import (
    BOOL,
    DOUBLE,
    DYN,
    INT,
    STRING,
    TIMESTAMP,
    Fact,
    Type,
    list_of,
    map_of,
    struct,
    walk,
)
from charter.training.service import training_facts

__all__ = ["EVENT_KINDS", "FACTS", "ROOT", "SECTIONS", "Event", "build", "build_many", "reference"]

ROOT = "facts"
EVENT_KINDS = ("register", "promote", "download", "dry_run")
_CHUNK = 900  # ids per IN (...) list: well under SQLite's limit on bound parameters


def _f(type_: Type, doc: str) -> Fact:
    return Fact(type_, doc)


def _null(type_: Type) -> Type:
    return type_.or_null()


_EVIDENCE = struct(
    {
        "present": _f(BOOL, "whether evidence of this kind was ever recorded on the version"),
        "id": _f(_null(INT), "id of the latest such evidence"),
        "title": _f(_null(STRING), "its title"),
        "created_at": _f(_null(TIMESTAMP), "when it was recorded"),
        "created_by": _f(_null(STRING), "who recorded it"),
        "age_days": _f(_null(DOUBLE), "its age in days at the time of the decision"),
        "passed": _f(_null(BOOL), "whether it passed the thresholds it was judged by (null: it has none)"),
        "summary": _f(map_of(DYN), "its headline numbers as recorded (for fairness: failed, groups, metrics, ...)"),
        "metrics": _f(map_of(DOUBLE), "the numeric headline metrics (fairness: demographic_parity_ratio, ...)"),
        "disparate_impact": _f(
            _null(DOUBLE),
            "fairness only: the four-fifths ratio, lowest selection rate over highest among groups large "
            "enough to count (null for other kinds or when undefined)",
        ),
    }
)

_DATASET = struct(
    {
        "name": _f(STRING, "dataset name"),
        "role": _f(STRING, "training, evaluation or reference"),
        "classification": _f(STRING, "public, internal, personal or special_category"),
        "legal_basis": _f(_null(STRING), "GDPR Art. 6 basis (consent, contract, ...); null when none is recorded"),
        "consent_required": _f(BOOL, "whether processing needs the data subjects' consent"),
        "retention_days": _f(_null(INT), "how long the data is kept; null when unlimited or unknown"),
    }
)

FACTS: Type = struct(
    {
        "now": _f(TIMESTAMP, "the time of the decision (UTC)"),
        "event": _f(
            struct(
                {
                    "kind": _f(STRING, "what is being decided: register, promote, download or dry_run"),
                    "actor": _f(_null(STRING), "who asked (as named in the audit trail); null in a dry run"),
                    "from_stage": _f(_null(STRING), "the version's stage before the event (promotions)"),
                    "to_stage": _f(_null(STRING), "the stage a promotion moves the version to"),
                }
            ),
            "the event being decided",
        ),
        "model": _f(
            struct(
                {
                    "id": _f(INT, "model id"),
                    "name": _f(STRING, "model name"),
                    "team": _f(STRING, "owner team"),
                    "domain": _f(STRING, "credit, employment, health, biometrics, education, law_enforcement, ..."),
                    "risk_tier": _f(_null(STRING), "EU AI Act tier: unacceptable, high, limited, minimal; null: unset"),
                    "purpose": _f(_null(STRING), "what the system is for"),
                    "intended_use": _f(_null(STRING), "who uses it, for what decisions"),
                    "deployment_context": _f(_null(STRING), "where and how it is deployed"),
                    "out_of_scope_uses": _f(list_of(STRING), "uses it must not serve"),
                    "regulations": _f(list_of(STRING), "regulations recorded as applying"),
                    "tags": _f(list_of(STRING), "tags"),
                }
            ),
            "the AI system",
        ),
        "version": _f(
            struct(
                {
                    "id": _f(INT, "version id"),
                    "version": _f(STRING, "version label"),
                    "stage": _f(
                        STRING,
                        "the stage the decision is about: the target of a promotion, otherwise the current stage",
                    ),
                    "current_stage": _f(STRING, "the stage the version is in now"),
                    "framework": _f(_null(STRING), "framework, e.g. scikit-learn 1.5"),
                    "created_by": _f(STRING, "the author"),
                    "created_at": _f(TIMESTAMP, "when it was registered"),
                    "age_days": _f(DOUBLE, "days since it was registered"),
                    "metrics": _f(map_of(DOUBLE), "metrics recorded with the version (auc, accuracy, ...)"),
                }
            ),
            "the model version",
        ),
        "card": _f(
            struct(
                {
                    "complete": _f(BOOL, "every required model-card section is written"),
                    "missing": _f(list_of(STRING), "titles of the required sections still empty"),
                    "fields": _f(
                        struct({key: _f(_null(STRING), label) for key, label in cards.EDITABLE.items()}),
                        "the owner-written card fields (lists joined by new lines); null when not written",
                    ),
                }
            ),
            "the model card (see docs/models.md for the required sections)",
        ),
        "datasets": _f(list_of(_DATASET), "the datasets linked to the version (lineage), one entry per role"),
        "data": _f(
            struct(
                {
                    "personal": _f(BOOL, "a training dataset holds personal data (personal or special_category)"),
                    "special_category": _f(BOOL, "a training dataset holds special-category data (GDPR Art. 9)"),
                    "missing_legal_basis": _f(
                        list_of(STRING), "training datasets with personal data and no legal basis recorded"
                    ),
                }
            ),
            "what the training data is",
        ),
        "artifacts": _f(
            struct(
                {
                    "count": _f(INT, "number of files"),
                    "clean": _f(BOOL, "every file scanned clean or has an administrator's override (true if none)"),
                    "unsafe": _f(INT, "files scanned unsafe without an override"),
                    "not_verified": _f(INT, "files the scanner could not verify, without an override"),
                    "overridden": _f(INT, "flagged files an administrator let through"),
                    "formats": _f(list_of(STRING), "file formats found by the scanner"),
                }
            ),
            "the version's files and their scan verdicts",
        ),
        "signature": _f(
            struct(
                {
                    "signed": _f(BOOL, "a signature (OpenSSF model signing) covers the version's files"),
                    "key_id": _f(_null(STRING), "fingerprint of the key that signed"),
                    "signed_at": _f(_null(TIMESTAMP), "when it was signed"),
                    "verified": _f(
                        _null(BOOL),
                        "the signature verifies against the recorded files with the server's key; checked only "
                        "for versions the policy applies to, null when no check was possible (no files or no keys)",
                    ),
                }
            ),
            "the signature over the version's files",
        ),
        "approvals": _f(
            struct(
                {
                    "count": _f(
                        INT,
                        "distinct people other than the author who approved the version (moved it into "
                        "approved) or recorded attestation evidence on it",
                    ),
                    "approvers": _f(list_of(STRING), "who they are, as named in the audit trail, earliest first"),
                    "last_at": _f(_null(TIMESTAMP), "when it was last approved"),
                }
            ),
            "approvals of the version",
        ),
        "evidence": _f(
            struct({kind: _f(_EVIDENCE, f"the latest {kind.replace('_', ' ')} evidence") for kind in EVIDENCE_KINDS}),
            "the latest evidence of each kind recorded on the version",
        ),
        "incidents": _f(
            struct(
                {
                    "open": _f(INT, "open incidents (not resolved or closed) affecting the model or this version"),
                    "by_severity": _f(
                        struct({s: _f(INT, f"open {s} incidents") for s in SEVERITIES}),
                        "open incidents by severity",
                    ),
                    "worst": _f(_null(STRING), "the most severe open incident's severity (SEV1 is worst); null: none"),
                }
            ),
            "incidents affecting the model",
        ),
        "owners_trained": _f(
            _null(BOOL),
            "whether every owner and approver of the version holds current training in every required "
            "course (see docs/compliance.md); null when no course is required or nobody is to be checked",
        ),
        "training": _f(
            struct(
                {
                    "required": _f(list_of(STRING), "ids of the courses every owner and approver must hold"),
                    "people": _f(
                        list_of(STRING),
                        "the owners and approvers checked, as named in the audit trail (none when no course "
                        "is required)",
                    ),
                    "missing": _f(
                        list_of(
                            struct(
                                {
                                    "person": _f(STRING, "who lacks it"),
                                    "course": _f(STRING, "the required course"),
                                    "role": _f(STRING, "owner or approver"),
                                }
                            )
                        ),
                        "each required course a person lacks (for approvers: lacked when they approved)",
                    ),
                }
            ),
            "the training of the version's owners and approvers",
        ),
    }
)

#: The top-level sections, in the order the document lists them.
SECTIONS: tuple[str, ...] = tuple(FACTS.fields or {})
#: Sections that cost more than a lookup per version (the model card is built to judge it): a dry
#: run fills them only for the versions a policy applies to.
COSTLY: frozenset[str] = frozenset({"card"})


@dataclass(frozen=True)
class Event:
    """What is being decided. ``to_stage`` is the target of a promotion."""

    kind: str = "dry_run"
    actor: str | None = None
    from_stage: str | None = None
    to_stage: str | None = None


def reference() -> list[tuple[str, str, str]]:
    """(path, type, meaning) of every fact, for the docs and ``charter policy facts``."""
    return [(path, str(fact.type), fact.doc) for path, fact in walk(FACTS, ROOT)]


# -- building ---------------------------------------------------------------------------------------


def _days(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else (now - then).total_seconds() / 86_400.0


def _floats(values: Mapping[str, Any] | None) -> dict[str, float]:
    """The numeric entries as floats (CEL's double); booleans and text are not metrics."""
    out: dict[str, float] = {}
    for key, value in (values or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[str(key)] = float(value)
    return out


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def _card_text(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        text = "\n".join(str(v).strip() for v in value if str(v).strip())
    else:
        text = "" if value is None else str(value).strip()
    return text or None


def _absent_evidence() -> dict[str, Any]:
    return {
        "present": False,
        "id": None,
        "title": None,
        "created_at": None,
        "created_by": None,
        "age_days": None,
        "passed": None,
        "summary": {},
        "metrics": {},
        "disparate_impact": None,
    }


def _evidence(kind: str, row: Any, now: datetime) -> dict[str, Any]:
    summary = dict(row.summary or {})
    ratio = (summary.get("four_fifths") or {}).get("ratio") if kind == "fairness" else None
    return {
        "present": True,
        "id": row.id,
        "title": row.title,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "age_days": _days(now, row.created_at),
        "passed": row.passed,
        "summary": summary,
        "metrics": _floats(summary.get("metrics") if isinstance(summary.get("metrics"), Mapping) else None),
        "disparate_impact": float(ratio) if isinstance(ratio, int | float) and not isinstance(ratio, bool) else None,
    }


def build(
    session: Session,
    row: ModelVersionRow,
    now: datetime,
    *,
    event: Event | None = None,
    sections: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The facts of one version (a gate's view); see :func:`build_many`."""
    return build_many(session, [row.id], now, event=event, sections=sections)[row.id]


def build_many(
    session: Session,
    version_ids: Sequence[int],
    now: datetime,
    *,
    event: Event | None = None,
    sections: frozenset[str] | None = None,
) -> dict[int, dict[str, Any]]:
    """The facts of many versions with a handful of set-based queries; version id -> document.

    ``sections`` names the top-level sections to fill (None: all); the others are left out. Ids
    of versions that do not exist are left out of the answer.
    """
    wanted = frozenset(SECTIONS) if sections is None else sections
    event = event or Event()
    need_card = "card" in wanted
    base = _versions(session, version_ids, card=need_card)
    ids = list(base)
    datasets = _datasets(session, ids) if wanted & {"datasets", "data"} or need_card else {}
    artifacts = _artifacts(session, ids) if "artifacts" in wanted or need_card else {}
    transitions = _transitions(session, ids) if "approvals" in wanted or need_card else {}
    attesters = _attesters(session, ids) if "approvals" in wanted else {}
    evidence = _latest_evidence(session, ids) if "evidence" in wanted else {}
    incidents = _incidents(session, base) if "incidents" in wanted else {}
    trained = _training(session, ids, now, event) if wanted & {"owners_trained", "training"} else {}
    out: dict[int, dict[str, Any]] = {}
    for vid, v in base.items():
        doc: dict[str, Any] = {}
        stage = event.to_stage if event.kind == "promote" and event.to_stage else v["stage"]
        if "now" in wanted:
            doc["now"] = now
        if "event" in wanted:
            doc["event"] = {
                "kind": event.kind,
                "actor": event.actor,
                "from_stage": event.from_stage,
                "to_stage": event.to_stage,
            }
        if "model" in wanted:
            doc["model"] = {
                "id": v["model_id"],
                "name": v["model"],
                "team": v["team"],
                "domain": v["domain"],
                "risk_tier": v["risk_tier"],
                "purpose": v["purpose"],
                "intended_use": v["intended_use"],
                "deployment_context": v["deployment_context"],
                "out_of_scope_uses": list(v["out_of_scope_uses"] or []),
                "regulations": list(v["regulations"] or []),
                "tags": list(v["tags"] or []),
            }
        if "version" in wanted:
            doc["version"] = {
                "id": vid,
                "version": v["version"],
                "stage": stage,
                "current_stage": v["stage"],
                "framework": v["framework"],
                "created_by": v["created_by"],
                "created_at": v["created_at"],
                "age_days": _days(now, v["created_at"]),
                "metrics": _floats(v["metrics"]),
            }
        links = datasets.get(vid, [])
        if "datasets" in wanted:
            doc["datasets"] = [{k: d[k] for k in _DATASET_KEYS} for d in links]
        if "data" in wanted:
            training = [d for d in links if d["role"] == "training"]
            personal = [d for d in training if d["classification"] in ("personal", "special_category")]
            doc["data"] = {
                "personal": bool(personal),
                "special_category": any(d["classification"] == "special_category" for d in training),
                "missing_legal_basis": [d["name"] for d in personal if not d["legal_basis"]],
            }
        files = artifacts.get(vid, [])
        if "artifacts" in wanted:
            doc["artifacts"] = _artifact_facts(files)
        if "signature" in wanted:
            doc["signature"] = {
                "signed": v["signed"],
                "key_id": v["signature_key_id"],
                "signed_at": v["signed_at"],
                "verified": None,
            }
        moves = transitions.get(vid, [])
        if "approvals" in wanted:
            approvals = [t for t in moves if t.to_stage == "approved"]
            signers = [t.actor for t in approvals] + attesters.get(vid, [])
            approvers = [a for a in dict.fromkeys(signers) if a != v["created_by"]]
            doc["approvals"] = {
                "count": len(approvers),
                "approvers": approvers,
                "last_at": approvals[-1].at if approvals else None,
            }
        latest = evidence.get(vid, {})
        if "evidence" in wanted:
            doc["evidence"] = {
                kind: _evidence(kind, latest[kind], now) if kind in latest else _absent_evidence()
                for kind in EVIDENCE_KINDS
            }
        if need_card:
            doc["card"] = _card_facts(v, stage, links, files, moves)
        if "incidents" in wanted:
            doc["incidents"] = incidents.get(vid) or _incident_facts([])
        if "owners_trained" in wanted or "training" in wanted:
            doc.update({key: trained[vid][key] for key in ("owners_trained", "training") if key in wanted})
        out[vid] = doc
    return out


_DATASET_KEYS = ("name", "role", "classification", "legal_basis", "consent_required", "retention_days")


# The statements are built once (building one costs more than running it at a gate); each takes
# the ids as one expanding parameter.
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_MV, _M, _D, _VD, _A, _T, _E = (
    ModelVersionRow,
    ModelRow,
    DatasetRow,
    VersionDatasetRow,
    ArtifactRow,
    StageTransitionRow,
    EvidenceRow,
)
_VERSIONS = (
    select(
        _MV.id,
        _MV.model_id,
        _MV.version,
        _MV.stage,
        _MV.description,
        _MV.framework,
        _MV.created_by,
        _MV.created_at,
        _MV.metrics,
        _MV.signature.is_not(None).label("signed"),
        _MV.signature_key_id,
        _MV.signed_at,
        _M.name.label("model"),
        _M.description.label("model_description"),
        _M.domain,
        _M.risk_tier,
        _M.purpose,
        _M.intended_use,
        _M.deployment_context,
        _M.out_of_scope_uses,
        _M.regulations,
        _M.tags,
        TeamRow.name.label("team"),
    )
    .join(_M, _M.id == _MV.model_id)
    .join(TeamRow, TeamRow.id == _M.team_id)
    .where(_MV.id.in_(_IDS))
)
# With what only the model card needs (JSON columns: decoding them is most of the cost of a row).
_VERSIONS_AND_CARDS = _VERSIONS.add_columns(_MV.parameters, _MV.input_schema, _MV.output_schema, _MV.card)
_DATASETS = (
    select(
        _VD.version_id,
        _VD.role,
        _D.name,
        _D.classification,
        _D.legal_basis,
        _D.consent_required,
        _D.retention_days,
        _D.location,
        _D.description,
    )
    .join(_D, _D.id == _VD.dataset_id)
    .where(_VD.version_id.in_(_IDS))
    .order_by(_VD.version_id, _VD.dataset_id, _VD.role)
)
_ARTIFACTS = (
    select(_A.version_id, _A.path, _A.digest, _A.size, _A.format, _A.scan_verdict, _A.override_by)
    .where(_A.version_id.in_(_IDS))
    .order_by(_A.version_id, _A.path)
)
_TRANSITIONS = (
    select(_T.version_id, _T.from_stage, _T.to_stage, _T.actor, _T.at, _T.comment)
    .where(_T.version_id.in_(_IDS))
    .order_by(_T.version_id, _T.id)
)
_ATTESTERS = (
    select(_E.version_id, _E.created_by)
    .where(_E.version_id.in_(_IDS), _E.kind == "attestation")
    .order_by(_E.version_id, _E.id)
)
_NEWEST = select(func.max(_E.id).label("id")).where(_E.version_id.in_(_IDS)).group_by(_E.version_id, _E.kind).subquery()
_LATEST = select(_E.id, _E.version_id, _E.kind, _E.title, _E.summary, _E.passed, _E.created_at, _E.created_by).join(
    _NEWEST, _NEWEST.c.id == _E.id
)
_INCIDENTS = (
    select(IncidentModelRow.model_id, IncidentModelRow.version_id, IncidentRow.id, IncidentRow.severity)
    .join(IncidentRow, IncidentRow.id == IncidentModelRow.incident_id)
    .where(IncidentModelRow.model_id.in_(_IDS), IncidentRow.status.in_(OPEN))
)


def _rows(session: Session, statement: Executable, ids: Sequence[int]) -> Iterator[Any]:
    connection = session.connection()
    for chunk in _chunks(ids):
        yield from connection.execute(statement, {"ids": chunk})


def _versions(session: Session, version_ids: Sequence[int], *, card: bool) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for row in _rows(session, _VERSIONS_AND_CARDS if card else _VERSIONS, version_ids):
        values = dict(row._mapping)
        values["signed"] = bool(values["signed"])
        out[values["id"]] = values
    return {vid: out[vid] for vid in version_ids if vid in out}


def _datasets(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows(session, _DATASETS, ids):
        values = dict(row._mapping)
        values["consent_required"] = bool(values["consent_required"])
        out[values.pop("version_id")].append(values)
    return out


def _artifacts(session: Session, ids: list[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for row in _rows(session, _ARTIFACTS, ids):
        out[row.version_id].append(row)
    return out


def _artifact_facts(files: list[Any]) -> dict[str, Any]:
    flagged = [f for f in files if f.scan_verdict != "clean"]
    return {
        "count": len(files),
        "clean": all(f.override_by is not None for f in flagged),
        "unsafe": sum(1 for f in flagged if f.scan_verdict == "unsafe" and f.override_by is None),
        "not_verified": sum(1 for f in flagged if f.scan_verdict == "not_verified" and f.override_by is None),
        "overridden": sum(1 for f in flagged if f.override_by is not None),
        "formats": sorted({f.format for f in files if f.format}),
    }


def _transitions(session: Session, ids: list[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for row in _rows(session, _TRANSITIONS, ids):
        out[row.version_id].append(row)
    return out


def _attesters(session: Session, ids: list[int]) -> dict[int, list[str]]:
    """Who recorded attestation evidence on each version, earliest first (a sign-off counts as an approval)."""
    out: dict[int, list[str]] = defaultdict(list)
    for row in _rows(session, _ATTESTERS, ids):
        out[row.version_id].append(row.created_by)
    return out


def _latest_evidence(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = defaultdict(dict)
    for row in _rows(session, _LATEST, ids):
        out[row.version_id][row.kind] = row
    return out


def _incidents(session: Session, base: Mapping[int, Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Open incidents that name the version's model with no version, or this version."""
    by_model: dict[int, list[int]] = defaultdict(list)
    for vid, v in base.items():
        by_model[v["model_id"]].append(vid)
    links: dict[int, dict[int, str]] = defaultdict(dict)  # version id -> incident id -> severity
    for row in _rows(session, _INCIDENTS, list(by_model)):
        for vid in by_model[row.model_id] if row.version_id is None else [row.version_id]:
            if vid in base:
                links[vid][row.id] = row.severity
    return {vid: _incident_facts(list(found.values())) for vid, found in links.items()}


def _training(session: Session, ids: list[int], now: datetime, event: Event) -> dict[int, dict[str, Any]]:
    """Owners' and approvers' training (charter.training decides who they are and what counts)."""
    approving = event.kind == "promote" and event.to_stage == "approved"
    return training_facts(session, ids, now, deciding_approval_by=event.actor if approving else None)


def _incident_facts(severities: list[str]) -> dict[str, Any]:
    counts = {s: severities.count(s) for s in SEVERITIES}
    worst = next((s for s in SEVERITIES if counts[s]), None)
    return {"open": len(severities), "by_severity": counts, "worst": worst}


def _card_facts(
    v: Mapping[str, Any], stage: str, links: list[dict[str, Any]], files: list[Any], moves: list[Any]
) -> dict[str, Any]:
    """Completeness through the card builder itself, so that a policy and the card never disagree."""
    owner = dict(v["card"] or {})
    facts = cards.CardFacts(
        model=v["model"],
        version=v["version"],
        team=v["team"],
        stage=stage,
        description=v["description"] or v["model_description"],
        purpose=v["purpose"],
        intended_use=v["intended_use"],
        out_of_scope_uses=tuple(v["out_of_scope_uses"] or ()),
        domain=v["domain"],
        deployment_context=v["deployment_context"],
        regulations=tuple(v["regulations"] or ()),
        tags=tuple(v["tags"] or ()),
        risk_tier=v["risk_tier"],
        framework=v["framework"],
        metrics=dict(v["metrics"] or {}),
        parameters=dict(v["parameters"] or {}),
        input_schema=v["input_schema"],
        output_schema=v["output_schema"],
        datasets=tuple(
            cards.CardDataset(
                name=d["name"],
                role=d["role"],
                classification=d["classification"],
                location=d["location"],
                legal_basis=d["legal_basis"],
                description=d["description"],
            )
            for d in links
        ),
        artifacts=tuple(
            cards.CardArtifact(path=f.path, digest=f.digest, size=f.size, format=f.format, scan_verdict=f.scan_verdict)
            for f in files
        ),
        approvals=tuple(
            cards.CardApproval(actor=t.actor, at=t.at, comment=t.comment, from_stage=t.from_stage, to_stage=t.to_stage)
            for t in moves
        ),
        evidence=(),  # no required section depends on evidence
        owner_fields=owner,
        created_by=v["created_by"],
        created_at=v["created_at"],
        signed=v["signed"],
        signature_key_id=v["signature_key_id"],
    )
    missing = cards.build_card(facts).missing()
    return {
        "complete": not missing,
        "missing": missing,
        "fields": {key: _card_text(owner.get(key)) for key in cards.EDITABLE},
    }


#: Fills ``signature.verified`` for one version (the gate passes the server's check).
SignatureCheck = Callable[[int], bool | None]
