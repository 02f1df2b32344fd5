"""The report as an OSCAL assessment-results document, for GRC tools.

Built as plain dicts, in the field order of compliance-trestle's pydantic models, and validated
once, whole, with trestle's ``AssessmentResults`` (so OSCAL's constraints are checked on every
report). The JSON is written with orjson from those dicts: validating and dumping them gives the
same content (datetimes are written as trestle writes them), so the bytes are those trestle's own
serialiser would give, without its per-field Python serialiser (the tests check both). The
validation runs with the garbage collector paused (:mod:`charter.gcpause`): the validated model of
an organisation report is hundreds of thousands of small objects, and collections walking them
cost five times the validation itself. The mapping:

* one ``result`` per report, start/end = the report's period;
* each model version is a ``component`` in the result's local definitions (the subject of the
  observations); Charter itself is the assessment platform that made them;
* one ``finding`` per (model, requirement): ``satisfied`` and ``attested`` are satisfied (an
  attestation is named in the remarks), ``not_satisfied`` and ``expired`` are not-satisfied, a
  requirement passing only through a waiver is not-satisfied with the waiver named; requirements
  that do not apply are left out (counted in the result's remarks);
* one ``observation`` per thing that decided a requirement (a rule's result, evidence, a check,
  an attestation), with the evidence's SHA-256 where the report carries it;
* organisation reports carry no per-requirement detail, only gaps: one not-satisfied finding per
  (model, requirement) with a gap, and the reviewed controls are "all" of each framework.

Control ids: OSCAL needs a token (letters, digits, ``_ - .``), requirement ids are "Art. 10",
"GOVERN 1"; the id is ``<framework>_<requirement with other characters as '-'>`` and the exact
requirement id travels in a ``requirement`` property.

``import-ap``: no OSCAL assessment plan exists separately; the plan is the set of Charter
frameworks reported on. ``import-ap`` points (``#uuid``) at a back-matter resource describing
them with their SHA-256, the standard OSCAL way to reference something inside the document.

UUIDs are version 5, derived from the report's digest and each item's identity, so one
document always renders to the same bytes and a re-run of the same report keeps its ids.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from pydantic import TypeAdapter
from trestle.oscal import OSCAL_VERSION
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.common import Finding as OscalFinding
from trestle.oscal.common import Observation as OscalObservation

from charter.compliance.schemas import Finding, Gap, RequirementStatus
from charter.gcpause import paused
from charter.reports.render import digest, text
from charter.reports.schemas import EvidenceSummary, ModelSection, ReportDocument

NS = "urn:charter:oscal"
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9_.-]+")
_STAGE_STATE = {"production": "operational", "retired": "disposition", "archived": "disposition"}
_METHODS = {"attestation": "EXAMINE", "applicability": "EXAMINE"}  # rules, evidence and checks: TEST
# Observations and findings validated per chunk of this many (see _validate).
CHUNK = 2000


def control_id(framework: str, requirement: str) -> str:
    """An OSCAL token for a requirement: ``eu-ai-act_Art.-10`` for ("eu-ai-act", "Art. 10")."""
    return f"{framework}_{_NOT_TOKEN.sub('-', requirement).strip('-') or 'x'}"


class _Ids:
    """Version-5 UUIDs under a namespace derived from the report's digest."""

    def __init__(self, sha256: str) -> None:
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:charter:report:{sha256}")

    def __call__(self, *identity: object) -> str:
        return str(uuid.uuid5(self.namespace, "\x1f".join(str(part) for part in identity)))


def _prop(name: str, value: object) -> dict[str, Any] | None:
    """A Charter property; None when the value is empty (OSCAL values are non-blank, one line)."""
    flat = text.one_line(str(value), 1000) if value is not None else ""
    return {"name": name, "ns": NS, "value": flat} if flat else None


def _props(*pairs: tuple[str, object]) -> list[dict[str, Any]] | None:
    props = [p for p in (_prop(n, v) for n, v in pairs) if p is not None]
    return props or None


def _at(value: datetime) -> str:
    """UTC with a ``+00:00`` offset, to the millisecond, the fraction left out when it is zero.

    That is how trestle writes a datetime, and this string is a fixed point of trestle's reading and
    writing (a fraction under a millisecond would be written ``.000`` and read back as none), so the
    dicts and the validated model say the same.
    """
    moment = text.utc(value)
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


def _clean(mapping: dict[str, Any]) -> dict[str, Any]:
    """Drop absent optional fields: OSCAL forbids empty lists and nulls."""
    return {k: v for k, v in mapping.items() if v is not None and v != []}


class _Builder:
    def __init__(self, document: ReportDocument) -> None:
        self.doc = document
        self.sha256 = digest(document)
        self.uid = _Ids(self.sha256)
        self.platform = self.uid("assessment-platform")
        self.observations: list[dict[str, Any]] = []
        self.findings: list[dict[str, Any]] = []
        self.controls: dict[str, list[str]] = {}
        self.skipped = 0
        self.subjects: dict[tuple[int, str], dict[str, Any]] = {}
        self._origin = {"actors": [{"type": "assessment-platform", "actor-uuid": self.platform}]}

    # -- subjects ---------------------------------------------------------------------------------

    def component_uuid(self, m: ModelSection) -> str:
        return self.uid("component", m.model_id, m.version)

    def component(self, m: ModelSection) -> dict[str, Any]:
        return _clean(
            {
                "uuid": self.component_uuid(m),
                "type": "software",
                "title": text.one_line(f"{m.model} {m.version}"),
                "description": f"Model {m.model} (id {m.model_id}), version {m.version}, stage {m.stage}.",
                "props": _props(
                    ("model", m.model),
                    ("model-id", m.model_id),
                    ("version", m.version),
                    ("stage", m.stage),
                    ("team", m.team),
                    ("owner", m.owner),
                    ("risk-tier", m.risk_tier),
                    ("risk-rating", m.risk.rating if m.risk else None),
                ),
                "status": {"state": _STAGE_STATE.get(m.stage, "under-development")},
            }
        )

    def subject(self, m: ModelSection) -> dict[str, Any]:
        """The model version as the subject of an observation: one dict per section, shared (never mutated)."""
        key = (m.model_id, m.version)
        found = self.subjects.get(key)
        if found is None:
            found = self.subjects[key] = {
                "subject-uuid": self.component_uuid(m),
                "type": "component",
                "title": text.one_line(f"{m.model} {m.version}"),
                "props": _props(("model", m.model), ("version", m.version)),
            }
        return found

    # -- observations -----------------------------------------------------------------------------

    def observation(
        self, m: ModelSection, framework: str, requirement: str, index: int, finding: Finding
    ) -> dict[str, Any]:
        evidence: list[dict[str, Any]] = []
        if finding.evidence is not None:
            summary = _evidence_by_id(m).get(finding.evidence)
            sha = f"; SHA-256 {summary.sha256}" if summary else ""
            evidence.append(
                _clean(
                    {
                        "description": f"Charter evidence {finding.evidence} ({finding.ref}){sha}",
                        "props": _props(
                            ("evidence-id", finding.evidence),
                            ("evidence-kind", finding.ref),
                            ("evidence-sha256", summary.sha256 if summary else None),
                        ),
                    }
                )
            )
        if finding.attestation is not None:
            evidence.append(
                {
                    "description": f"Charter attestation {finding.attestation}",
                    "props": _props(("attestation-id", finding.attestation)),
                }
            )
        if finding.waiver is not None:
            evidence.append(
                {
                    "description": f"Charter {text.waiver_note(finding.waiver, finding.waiver_expires_at)}",
                    "props": _props(("waiver-id", finding.waiver)),
                }
            )
        expires = finding.valid_until or finding.waiver_expires_at
        return _clean(
            {
                "uuid": self.uid("observation", m.model_id, m.version, framework, requirement, index),
                "title": text.one_line(f"{finding.kind.replace('_', ' ')} {finding.ref}: {finding.outcome}"),
                "description": finding.detail or finding.outcome,
                "props": _props(
                    ("finding-kind", finding.kind),
                    ("outcome", finding.outcome),
                    ("age-days", None if finding.age_days is None else f"{finding.age_days:.1f}"),
                    ("via", finding.via),
                ),
                "methods": [_METHODS.get(finding.kind, "TEST")],
                "types": ["control-objective"],
                "origins": [self.origin()],
                "subjects": [self.subject(m)],
                "relevant-evidence": evidence,
                "collected": _at(finding.created_at or self.doc.generated_at),
                "expires": _at(expires) if expires else None,
            }
        )

    def origin(self) -> dict[str, Any]:
        """Charter as the assessment platform: one dict for the whole document, shared (never mutated)."""
        return self._origin

    # -- findings ---------------------------------------------------------------------------------

    def finding(
        self,
        m: ModelSection,
        framework: str,
        requirement: str,
        title: str,
        status: str,
        waived: bool,
        observations: list[dict[str, Any]],
        waivers: list[tuple[int, datetime | None, str]],
    ) -> None:
        """One finding; ``waivers`` are (waiver id, expiry, what it excuses)."""
        cid = control_id(framework, requirement)
        ids = self.controls.setdefault(framework, [])
        if cid not in ids:
            ids.append(cid)
        self.observations.extend(observations)
        satisfied = status in ("satisfied", "attested")
        self.findings.append(
            _clean(
                {
                    "uuid": self.uid("finding", m.model_id, m.version, framework, requirement),
                    "title": text.one_line(f"{m.model} {m.version}: {framework} {requirement}"),
                    "description": text.one_line(f"{requirement} {title}: {text.status_label(status)}", 2000),
                    "props": _props(("model", m.model), ("version", m.version)),
                    "origins": [self.origin()],
                    "target": _clean(
                        {
                            "type": "objective-id",
                            "target-id": cid,
                            "title": text.one_line(f"{requirement} {title}"),
                            "props": _props(
                                ("framework", framework),
                                ("requirement", requirement),
                                ("charter-status", status),
                                ("waived", "true" if waived else None),
                                *(("waiver-id", w) for w, _, _ in waivers),
                            ),
                            "status": {
                                "state": "satisfied" if satisfied else "not-satisfied",
                                "reason": "pass" if satisfied else "fail",
                            },
                        }
                    ),
                    "related-observations": [{"observation-uuid": o["uuid"]} for o in observations],
                    "remarks": _remarks(status, waived, waivers),
                }
            )
        )

    def requirement(self, m: ModelSection, framework: str, r: RequirementStatus) -> None:
        if r.status == "not_applicable":
            self.skipped += 1
            return
        observations = [self.observation(m, framework, r.id, i, w) for i, w in enumerate(r.why)]
        if r.status == "attested":
            # An attestation is a person's word, not a check: say which one in the remarks.
            for w in r.why:
                if w.attestation is not None and w.outcome == "current":
                    observations[r.why.index(w)]["remarks"] = f"Satisfied by attestation {w.attestation}."
        waivers = [(w.waiver, w.waiver_expires_at, w.ref) for w in r.why if w.waiver is not None]
        self.finding(m, framework, r.id, r.title, r.status, r.waived, observations, waivers)

    def gap_observation(self, m: ModelSection, index: int, g: Gap) -> dict[str, Any]:
        evidence = None
        if g.waiver is not None:
            note = text.waiver_note(g.waiver, g.waiver_expires_at)
            evidence = [{"description": f"Charter {note}", "props": _props(("waiver-id", g.waiver))}]
        return _clean(
            {
                "uuid": self.uid("observation", m.model_id, m.version, g.framework, g.requirement, "gap", index),
                "title": text.one_line(f"gap {g.ref}: {g.kind}"),
                "description": g.detail or g.kind,
                "props": _props(("gap-kind", g.kind), ("ref", g.ref)),
                "methods": ["TEST"],
                "types": ["finding"],
                "origins": [self.origin()],
                "subjects": [self.subject(m)],
                "relevant-evidence": evidence,
                "collected": _at(self.doc.generated_at),
                "expires": _at(g.waiver_expires_at) if g.waiver_expires_at else None,
            }
        )

    def gaps(self, m: ModelSection, gaps: Iterable[Gap]) -> None:
        """Organisation reports: one not-satisfied finding per (model, requirement) with gaps."""
        grouped: dict[tuple[str, str], list[Gap]] = {}
        for g in gaps:
            grouped.setdefault((g.framework, g.requirement), []).append(g)
        for (framework, requirement), group in grouped.items():
            observations = [self.gap_observation(m, i, g) for i, g in enumerate(group)]
            waivers = [(g.waiver, g.waiver_expires_at, g.ref) for g in group if g.waiver is not None]
            waived = all(g.kind == "waived" for g in group)
            status = "expired" if all(g.status == "expired" for g in group) else "not_satisfied"
            self.finding(m, framework, requirement, group[0].title, status, waived, observations, waivers)

    # -- the document -----------------------------------------------------------------------------

    def build(self) -> dict[str, Any]:
        """The assessment results as JSON-ready dicts (not wrapped), keys in trestle's field order."""
        doc = self.doc
        for m in doc.models:
            if doc.kind == "model" and any(f.requirements for f in m.frameworks):
                for f in m.frameworks:
                    if f.applies:
                        for r in f.requirements:
                            self.requirement(m, f.framework, r)
            else:
                self.gaps(m, m.gaps)
        result = _clean(
            {
                "uuid": self.uid("result"),
                "title": text.one_line(doc.title),
                "description": (
                    f"Charter {doc.kind} report for {doc.organisation}, {text.period(doc)}: compliance of "
                    f"{len(doc.models)} model version(s) against {', '.join(doc.frameworks) or 'no framework'}."
                ),
                "start": _at(doc.period.start),
                "end": _at(doc.period.end),
                "props": _props(
                    ("report-kind", doc.kind),
                    ("report-sha256", self.sha256),
                    ("audit-chain-ok", "true" if doc.audit.ok else "false"),
                    ("audit-head-hash", doc.audit.head_hash),
                    ("audit-events", doc.audit.events),
                ),
                "local-definitions": _clean(
                    {
                        "components": [self.component(m) for m in doc.models],
                        "assessment-assets": {
                            "components": [self.charter_component()],
                            "assessment-platforms": [
                                {
                                    "uuid": self.platform,
                                    "title": f"Charter {doc.charter_version}",
                                    "uses-components": [{"component-uuid": self.uid("component", "charter")}],
                                }
                            ],
                        },
                    }
                ),
                "reviewed-controls": {"control-selections": self.control_selections()},
                "observations": self.observations,
                "findings": self.findings,
                "remarks": self.result_remarks(),
            }
        )
        plan = self.uid("resource", "assessment-plan")
        data: dict[str, Any] = {
            "uuid": self.uid("assessment-results"),
            "metadata": {
                "title": text.one_line(doc.title),
                "last-modified": _at(doc.generated_at),
                "version": f"sha256:{self.sha256}",
                "oscal-version": OSCAL_VERSION,
                "props": _props(
                    ("organisation", doc.organisation),
                    ("generated-by", doc.generated_by),
                    ("charter-version", doc.charter_version),
                    ("report-schema", doc.schema_),
                ),
                "parties": [
                    {"uuid": self.uid("party", "organisation"), "type": "organization", "name": doc.organisation}
                ]
                if doc.organisation.strip()
                else None,
            },
            "import-ap": {
                "href": f"#{plan}",
                "remarks": "No separate OSCAL assessment plan: the plan is the Charter frameworks described by "
                "the back-matter resource this points to.",
            },
            "results": [result],
            "back-matter": {"resources": [self.plan_resource(plan)]},
        }
        data["metadata"] = _clean(data["metadata"])
        return data

    def charter_component(self) -> dict[str, Any]:
        return {
            "uuid": self.uid("component", "charter"),
            "type": "software",
            "title": f"Charter {self.doc.charter_version}",
            "description": "The Charter governance platform: evaluates the frameworks and records the evidence.",
            "status": {"state": "operational"},
        }

    def control_selections(self) -> list[dict[str, Any]]:
        selections: list[dict[str, Any]] = []
        for framework in self.doc.frameworks or sorted(self.controls):
            ids = self.controls.get(framework, [])
            if self.doc.kind == "model" and ids:
                selections.append(
                    {
                        "description": f"The requirements of {framework} that apply.",
                        "props": _props(("framework", framework)),
                        "include-controls": [{"control-id": cid} for cid in ids],
                    }
                )
            else:
                selections.append(
                    {
                        "description": f"Every requirement of {framework}.",
                        "props": _props(("framework", framework)),
                        "include-all": {},
                    }
                )
        if not selections:
            selections.append({"description": "No framework was reported on.", "include-all": {}})
        return selections

    def result_remarks(self) -> str:
        a = self.doc.audit
        verified = text.utc(a.verified_at).isoformat()  # in words: to the microsecond, as the JSON says
        lines = [
            f"Report SHA-256 {self.sha256} (canonical JSON of the Charter report).",
            (
                f"Audit trail verified at {verified}: intact, {a.events} events."
                if a.ok
                else f"AUDIT CHAIN BROKEN (verified at {verified}): {a.fault or 'no detail recorded'}."
            ),
        ]
        if self.skipped:
            lines.append(f"{self.skipped} requirement(s) not applicable to their model are not listed as findings.")
        if self.doc.kind == "organisation":
            lines.append("Organisation report: only requirements with open gaps are listed as findings.")
        return "\n".join(lines)

    def plan_resource(self, plan: str) -> dict[str, Any]:
        seen: dict[str, tuple[str, str, str]] = {}
        for m in self.doc.models:
            for f in m.frameworks:
                seen.setdefault(f"{f.framework} {f.version} {f.sha256}", (f.framework, f.title, f.version))
        lines = [f"{fw} ({title}, {version}): SHA-256 {key.split()[-1]}" for key, (fw, title, version) in seen.items()]
        return _clean(
            {
                "uuid": plan,
                "title": "Assessment plan: the Charter frameworks reported on",
                "description": "Charter evaluates each model version against these frameworks continuously; "
                "a framework's SHA-256 identifies the exact document used.",
                "props": _props(*(("framework", fw) for fw in self.doc.frameworks)),
                "remarks": "\n".join(lines) or None,
            }
        )


def _remarks(status: str, waived: bool, waivers: list[tuple[int, datetime | None, str]]) -> str | None:
    notes = []
    if status == "attested":
        notes.append("Satisfied by attestation (a person's statement), not by automated checks.")
    if status == "expired":
        notes.append("Was satisfied, but what satisfied it (an attestation or evidence) has expired.")
    for waiver, expires, ref in waivers:
        notes.append(
            f"Waived: {text.waiver_note(waiver, expires)}; it excuses {ref}, which is still an open gap until it "
            "passes on its own."
        )
    if waived and not waivers:
        notes.append("Passes only through a waiver: still an open gap.")
    return " ".join(notes) or None


def _evidence_by_id(m: ModelSection) -> dict[int, EvidenceSummary]:
    return {e.id: e for e in (*m.fairness, *m.monitoring)}


@cache
def _item_adapters() -> dict[str, TypeAdapter[Any]]:
    return {"observations": TypeAdapter(list[OscalObservation]), "findings": TypeAdapter(list[OscalFinding])}


def _validate(data: dict[str, Any]) -> None:
    """Validate the assessment results with trestle's models; pydantic's ``ValidationError`` if invalid.

    The validated objects take four times the memory of the dicts (500 MB for an organisation report
    of 500 models), so a result's observations and findings past the first :data:`CHUNK` are
    validated a chunk at a time, each chunk with the trestle model of the ``Result`` field it sits in,
    and dropped. Trestle's models validate each list item on its own (no validator looks across
    items), so this checks exactly what validating the whole document at once checks.
    """
    adapters = _item_adapters()
    heads, rests = [], []
    for result in data["results"]:
        head, rest = dict(result), {}
        for key in adapters:
            items = result.get(key) or []
            if len(items) > CHUNK:
                head[key], rest[key] = items[:CHUNK], items[CHUNK:]
        heads.append(head)
        rests.append(rest)
    with paused():
        AssessmentResults.model_validate({**data, "results": heads})
        for rest in rests:
            for key, items in rest.items():
                for start in range(0, len(items), CHUNK):
                    adapters[key].validate_python(items[start : start + CHUNK])


def build_assessment_results(document: ReportDocument) -> AssessmentResults:
    """The report as a validated trestle ``AssessmentResults`` (the whole model in memory)."""
    data = _Builder(document).build()
    with paused():
        return AssessmentResults.model_validate(data)


def render_oscal(document: ReportDocument) -> bytes:
    """OSCAL assessment-results JSON (wrapped in ``assessment-results``), as trestle writes it.

    The dicts are validated with trestle's models (:func:`_validate`), then written indented by two.
    """
    data = _Builder(document).build()
    _validate(data)
    return orjson.dumps({"assessment-results": data}, option=orjson.OPT_INDENT_2)
