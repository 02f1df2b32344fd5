"""Reports through the REST API and the SDK (against the real app in process)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from charter.client import Charter
from charter.errors import InvalidInput, NotFound, PermissionDenied
from tests.reports.conftest import MODEL, Governed

BASE = "/api/v1/reports"


def create(governed: Governed, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    gov = governed.gov
    return gov.client.post(BASE, json=body, headers=headers or gov.risk)


def test_generate_list_read_download_and_verify(governed: Governed) -> None:
    gov = governed.gov
    body = {"kind": "model", "model": MODEL, "frameworks": ["eu-ai-act"], "formats": ["html", "pdf"]}
    report = gov.ok(create(governed, body), 201)
    assert [f["format"] for f in report["files"]] == ["json", "html", "pdf"]
    assert gov.ok(gov.client.get(f"{BASE}/{report['id']}", headers=gov.viewer)) == report
    listed = gov.ok(gov.client.get(BASE, params={"model": MODEL}, headers=gov.auditor))
    assert [r["id"] for r in listed["items"]] == [report["id"]] and listed["next_cursor"] is None
    pdf = gov.client.get(f"{BASE}/{report['id']}/files/pdf", headers=gov.viewer)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    sha = next(f["sha256"] for f in report["files"] if f["format"] == "pdf")
    assert pdf.headers["X-Charter-SHA256"] == sha == hashlib.sha256(pdf.content).hexdigest()
    assert f'filename="report-{report["id"]}-{MODEL}-' in pdf.headers["content-disposition"]
    document = gov.ok(gov.client.get(f"{BASE}/{report['id']}/files/json", headers=gov.viewer))
    gaps = document["models"][0]["gaps"]
    assert {"ref": "high-risk-fairness/disparate-impact", "waiver": governed.waiver["id"]}.items() <= next(
        g for g in gaps if g["kind"] == "waived"
    ).items()
    verified = gov.ok(gov.client.post(f"{BASE}/verify", files={"file": ("r.pdf", pdf.content)}, headers=gov.auditor))
    assert verified["matched"] and verified["format"] == "pdf" and verified["audit_intact"] is True
    assert verified["report"]["id"] == report["id"]
    altered = pdf.content.replace(b"credit-scoring", b"credit-scorinG", 1)
    refused = gov.ok(gov.client.post(f"{BASE}/verify", files={"file": ("r.pdf", altered)}, headers=gov.auditor))
    assert refused["matched"] is False and "matches no stored report" in refused["message"]
    # The generation is in the audit trail, with the hashes.
    (event,) = gov.events("report", "report.generate")
    assert event["details"]["files"]["pdf"]["sha256"] == sha


def test_bad_input_gets_a_clear_4xx(governed: Governed) -> None:
    gov = governed.gov

    def refused(body: dict[str, Any], status: int, words: str) -> None:
        response = create(governed, body)
        assert response.status_code == status, response.text
        assert words in response.json()["error"]["message"]

    refused({"model": MODEL, "start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, 422, "before it starts")
    refused({"model": MODEL, "frameworks": ["sox"]}, 404, "No compliance framework 'sox'")
    refused({"model": "ghost"}, 404, "No model 'ghost'")
    refused({"kind": "model"}, 422, "needs a model")
    refused({"model": MODEL, "formats": ["docx"]}, 422, "formats")
    refused({"kind": "organisation", "team": "ghosts"}, 404, "No team 'ghosts'")
    assert gov.client.get(f"{BASE}/999", headers=gov.risk).status_code == 404
    assert gov.client.get(f"{BASE}/1/files/docx", headers=gov.risk).status_code == 422
    assert gov.ok(gov.client.get(BASE, headers=gov.risk))["items"] == []  # nothing half-written


def test_permissions(governed: Governed, factory: Any, login: Any) -> None:
    gov = governed.gov
    factory.service_account("ci", "service@credit-risk")
    factory.user("sam", "model_owner@people-analytics")
    report = gov.ok(create(governed, {"kind": "organisation"}), 201)
    # vera's viewer role reads compliance in credit-risk only: not the organisation's report.
    assert create(governed, {"kind": "organisation"}, gov.viewer).status_code == 403
    assert gov.client.get(f"{BASE}/{report['id']}", headers=gov.viewer).status_code == 403
    assert gov.client.get(f"{BASE}/{report['id']}/files/json", headers=gov.viewer).status_code == 403
    assert create(governed, {"model": MODEL}, gov.outsider).status_code == 403
    # No compliance:read anywhere (a service account): refused at the door.
    key = gov.client.post("/api/v1/api-keys", json={"service_account": "ci", "name": "k"}, headers=gov.admin).json()[
        "key"
    ]
    robot = {"X-API-Key": key}
    assert gov.client.get(BASE, headers=robot).status_code == 403
    assert create(governed, {"model": MODEL}, robot).status_code == 403
    assert gov.client.post(f"{BASE}/verify", files={"file": ("x", b"x")}, headers=robot).status_code == 403


def test_the_sdk(governed: Governed) -> None:
    gov = governed.gov
    token = gov.risk["Authorization"].split()[1]
    with Charter("http://testserver", token=token, http=gov.client) as charter:
        made = charter.generate_report(MODEL, frameworks=["eu-ai-act"], formats=["json"])
        assert made.model == MODEL and made.frameworks == ["eu-ai-act"]
        assert [r.id for r in charter.reports(model=MODEL)] == [made.id]
        assert charter.get_report(made.id) == made
        content = charter.download_report(made.id, "json")
        assert hashlib.sha256(content).hexdigest() == made.document_sha256
        found = charter.verify_report_file(content)
        assert found.matched and found.report is not None and found.report.id == made.id
        assert not charter.verify_report_file(content + b" ").matched
        org = charter.create_report(kind="organisation", formats=["json"])
        assert org.kind == "organisation" and org.model is None
        with pytest.raises(NotFound, match="No model 'ghost'"):
            charter.generate_report("ghost")
        with pytest.raises(InvalidInput):
            charter.create_report(kind="model")
    viewer = gov.viewer["Authorization"].split()[1]
    with Charter("http://testserver", token=viewer, http=gov.client) as charter, pytest.raises(PermissionDenied):
        charter.generate_report(None)
