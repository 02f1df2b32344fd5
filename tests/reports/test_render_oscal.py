"""The OSCAL assessment results: valid, self-consistent, deterministic."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from trestle.oscal import OSCAL_VERSION
from trestle.oscal.assessment_results import AssessmentResults

from charter.reports.render import digest, oscal, render
from charter.reports.render.oscal import build_assessment_results
from charter.reports.schemas import ReportDocument
from tests.reports.sample import FAIRNESS_SHA, WAIVER_ID, model_report, organisation_report


def _load(document: ReportDocument) -> tuple[dict[str, Any], AssessmentResults]:
    raw = json.loads(render(document, "oscal"))
    assert list(raw) == ["assessment-results"]
    return raw["assessment-results"], AssessmentResults.model_validate(raw["assessment-results"])


def _props(item: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in item.get("props", []):
        out.setdefault(p["name"], []).append(p["value"])
    return out


def _check_references(ar: dict[str, Any]) -> None:
    result = ar["results"][0]
    observations = {o["uuid"] for o in result.get("observations", [])}
    components = {c["uuid"] for c in result["local-definitions"]["components"]}
    assets = result["local-definitions"]["assessment-assets"]
    platforms = {p["uuid"] for p in assets["assessment-platforms"]}
    asset_components = {c["uuid"] for c in assets["components"]}
    resources = {r["uuid"] for r in ar["back-matter"]["resources"]}
    every = [ar["uuid"], result["uuid"], *observations, *components, *platforms, *asset_components, *resources]
    every += [f["uuid"] for f in result.get("findings", [])]
    assert len(every) == len(set(every)), "uuids are unique"
    assert ar["import-ap"]["href"].removeprefix("#") in resources
    for p in assets["assessment-platforms"]:
        assert all(u["component-uuid"] in asset_components for u in p["uses-components"])
    for f in result.get("findings", []):
        for related in f.get("related-observations", []):
            assert related["observation-uuid"] in observations
        for origin in f["origins"]:
            assert all(a["actor-uuid"] in platforms for a in origin["actors"])
    selected = {
        c["control-id"]
        for s in result["reviewed-controls"]["control-selections"]
        for c in s.get("include-controls", [])
    }
    for f in result.get("findings", []):
        if selected:
            assert f["target"]["target-id"] in selected
    for o in result.get("observations", []):
        assert all(s["subject-uuid"] in components for s in o["subjects"])


def test_model_report_validates_and_references_resolve() -> None:
    document = model_report()
    ar, model = _load(document)
    assert str(model.metadata.oscal_version.root.root) == OSCAL_VERSION
    assert ar["metadata"]["last-modified"] == "2025-04-01T09:30:00+00:00"
    result = ar["results"][0]
    assert result["start"] == "2025-01-01T00:00:00+00:00"
    assert result["end"] == "2025-03-31T23:59:59+00:00"
    assert digest(document) in ar["metadata"]["version"]
    _check_references(ar)
    # One finding per requirement that applies (Art. 27 does not).
    findings = {_props(f["target"])["requirement"][0]: f for f in result["findings"]}
    assert set(findings) == {"Art. 9", "Art. 10", "Art. 14", "Art. 50(1)", "MEASURE 2.11"}
    states = {k: f["target"]["status"]["state"] for k, f in findings.items()}
    assert states == {
        "Art. 9": "satisfied",
        "Art. 10": "not-satisfied",
        "Art. 14": "not-satisfied",
        "Art. 50(1)": "satisfied",
        "MEASURE 2.11": "not-satisfied",
    }
    assert "attestation" in findings["Art. 50(1)"]["remarks"]
    assert "expired" in findings["Art. 14"]["remarks"]


def test_waived_gap_is_not_satisfied_and_names_the_waiver() -> None:
    ar, _ = _load(model_report())
    result = ar["results"][0]
    finding = next(f for f in result["findings"] if _props(f["target"])["requirement"] == ["Art. 10"])
    assert finding["target"]["status"] == {"state": "not-satisfied", "reason": "fail"}
    assert _props(finding["target"])["waiver-id"] == [str(WAIVER_ID)]
    assert f"waiver {WAIVER_ID}, expires 2025-06-30" in finding["remarks"]
    observations = {o["uuid"]: o for o in result["observations"]}
    decided_by = [observations[r["observation-uuid"]] for r in finding["related-observations"]]
    assert len(decided_by) == 2
    rule, evidence = decided_by
    assert rule["methods"] == ["TEST"] and _props(rule)["outcome"] == ["waived"]
    assert rule["expires"] == "2025-06-30T00:00:00+00:00"
    # The evidence observation carries the evidence's digest and the time it was recorded.
    assert evidence["collected"] == "2025-03-11T12:00:00+00:00"
    assert _props(evidence["relevant-evidence"][0])["evidence-sha256"] == [FAIRNESS_SHA]
    assert evidence["subjects"][0]["type"] == "component"


def test_same_document_same_bytes_and_uuids_follow_the_content() -> None:
    first = render(model_report(), "oscal")
    assert first == render(model_report(), "oscal")
    changed = model_report(title="Another title")
    assert (
        json.loads(first)["assessment-results"]["uuid"]
        != json.loads(render(changed, "oscal"))["assessment-results"]["uuid"]
    )


def test_organisation_report_lists_gaps_as_findings() -> None:
    document = organisation_report(300)
    ar, _ = _load(document)
    _check_references(ar)
    result = ar["results"][0]
    assert len(result["local-definitions"]["components"]) == 300
    assert len(result["findings"]) == sum(1 for m in document.models if m.gaps) == 42
    assert all(f["target"]["status"]["state"] == "not-satisfied" for f in result["findings"])
    assert all("include-all" in s for s in result["reviewed-controls"]["control-selections"])
    waived = [f for f in result["findings"] if "waiver-id" in _props(f["target"])]
    assert len(waived) == 21 and all("Waived: waiver" in f["remarks"] for f in waived)


# -- written from the dicts, validated with trestle's models ----------------------------------------


def _with_fractions(document: ReportDocument) -> ReportDocument:
    """Timestamps with microseconds, which trestle writes to the millisecond."""
    audit = document.audit.model_copy(update={"verified_at": datetime(2025, 4, 1, 9, 30, 1, 250127, tzinfo=UTC)})
    period = document.period.model_copy(update={"start": datetime(2025, 1, 1, 0, 0, 0, 250127, tzinfo=UTC)})
    return document.model_copy(
        update={"generated_at": datetime(2025, 4, 1, 9, 30, 0, 127, tzinfo=UTC), "audit": audit, "period": period}
    )


def test_bytes_are_what_trestle_writes_for_the_validated_model() -> None:
    """The dicts written by orjson round-trip through trestle: same content, same key order, same bytes."""
    for document in (model_report(), model_report(audit_ok=False), organisation_report(60)):
        for doc in (document, _with_fractions(document)):
            assert render(doc, "oscal") == build_assessment_results(doc).oscal_serialize_json_bytes(pretty=True)
    raw = json.loads(render(_with_fractions(organisation_report(30)), "oscal"))["assessment-results"]
    assert raw["metadata"]["last-modified"] == "2025-04-01T09:30:00+00:00"  # under a millisecond: none
    assert raw["results"][0]["start"] == "2025-01-01T00:00:00.250+00:00"
    assert "verified at 2025-04-01T09:30:01.250127+00:00" in raw["results"][0]["remarks"]


def test_every_chunk_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Observations and findings past the first chunk are validated too: a bad one late in the list fails."""
    monkeypatch.setattr(oscal, "CHUNK", 4)
    document = organisation_report(300)
    oscal._validate(oscal._Builder(document).build())  # 42 findings and observations: 11 chunks each
    for key, field in (("findings", "uuid"), ("observations", "uuid"), ("findings", "title")):
        data = oscal._Builder(document).build()
        items = data["results"][0][key]
        assert len(items) > 3 * oscal.CHUNK
        items[-2][field] = "not a uuid" if field == "uuid" else "two\nlines"
        with pytest.raises(ValidationError) as caught:
            oscal._validate(data)
        assert field in str(caught.value)


def test_organisation_report_of_every_gap_stays_within_memory() -> None:
    """32 findings and observations per model for 200 models: rendered with the validated objects dropped per chunk."""
    document = organisation_report(200)
    gaps = [g.model_copy(update={"requirement": f"Art. {k}"}) for k in range(32) for g in document.models[6].gaps]
    sections = [m.model_copy(update={"gaps": gaps}) for m in document.models]
    document = document.model_copy(update={"models": sections})
    ar = json.loads(render(document, "oscal"))["assessment-results"]
    result = ar["results"][0]
    assert len(result["findings"]) == len(result["observations"]) == 200 * 32
    _check_references(ar)
