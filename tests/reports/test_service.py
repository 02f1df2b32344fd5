"""Stored reports: generation renders every format, stores it encrypted, hashes it, and audits the hashes once;
a download re-checks the hash; a file is recognised, or not, from its bytes."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text

from charter.audit.models import AuditEventRow
from charter.errors import DecryptionFailed, InvalidInput, NotFound, PermissionDenied, SignatureInvalid
from charter.inventory.artifacts import Protection
from charter.reports import service
from charter.reports.models import ReportFileRow, ReportRow
from charter.reports.render import MEDIA_TYPES
from charter.reports.schemas import FORMATS, ReportDocument, ReportRead
from tests.conftest import make_settings
from tests.reports.conftest import MODEL, Governed, as_user


def generate(governed: Governed, user: str = "rosa", protection: Protection | None = None, **kwargs: Any) -> ReportRead:
    kwargs.setdefault("kind", "model")
    if kwargs["kind"] == "model":
        kwargs.setdefault("model", MODEL)
    now = datetime.now(UTC)  # when the test runs, not at collection
    with governed.session() as s:
        return service.generate(
            s,
            as_user(s, user),
            protection or governed.protection,
            public_key=governed.public_key,
            start=now - timedelta(days=30),
            end=now + timedelta(minutes=5),
            **kwargs,
        )


def download(governed: Governed, report: int, fmt: str, protection: Protection | None = None) -> bytes:
    with governed.session() as s:
        _read, _file, content = service.read_file(s, as_user(s, "rosa"), protection or governed.protection, report, fmt)
    return content


def generate_events(governed: Governed) -> list[dict[str, Any]]:
    with governed.session(write=False) as s:
        bodies = s.scalars(select(AuditEventRow.body).order_by(AuditEventRow.seq))
        return [e for e in map(orjson.loads, bodies) if e["action"] == "report.generate"]


def test_every_format_is_stored_hashed_and_audited_once(governed: Governed) -> None:
    read = generate(governed, frameworks=["eu-ai-act"])
    assert [f.format for f in read.files] == list(FORMATS)
    assert (read.kind, read.model, read.version, read.frameworks) == ("model", MODEL, "1.0.0", ["eu-ai-act"])
    contents = {f.format: download(governed, read.id, f.format) for f in read.files}
    for file in read.files:
        assert hashlib.sha256(contents[file.format]).hexdigest() == file.sha256
        assert len(contents[file.format]) == file.size and file.media_type == MEDIA_TYPES[file.format]
    # The JSON file is the document; its hash is the report's; the other formats print it.
    document = ReportDocument.model_validate_json(contents["json"])
    assert read.document_sha256 == hashlib.sha256(contents["json"]).hexdigest()
    assert any(g.kind == "waived" and g.waiver == governed.waiver["id"] for g in document.models[0].gaps)
    assert read.document_sha256.encode() in contents["html"]
    assert contents["pdf"].startswith(b"%PDF")
    # Encrypted at rest: the store holds no plaintext.
    store = governed.protection.store
    for file in read.files:
        with store.open(file.sha256) as stored:
            assert contents[file.format][:64] not in stored.read()
    # One audit event names the report and every hash, and records where it sits in the chain.
    (event,) = generate_events(governed)
    assert event["resource_type"] == "report" and event["resource_id"] == str(read.id)
    assert event["seq"] == read.audit_seq and event["actor"] == "user:rosa"
    details = event["details"]
    assert details["document_sha256"] == read.document_sha256
    assert details["files"] == {f.format: {"sha256": f.sha256, "size": f.size} for f in read.files}


def test_json_is_always_kept_and_formats_are_checked(governed: Governed) -> None:
    read = generate(governed, formats=["pdf"])
    assert [f.format for f in read.files] == ["json", "pdf"]
    with pytest.raises(InvalidInput, match="Unknown report format 'xml'"):
        generate(governed, formats=["xml"])
    with pytest.raises(NotFound, match="has no html file; it was stored as json, pdf"):
        download(governed, read.id, "html")
    with pytest.raises(InvalidInput, match="needs a model"):
        generate(governed, model=None)
    with pytest.raises(InvalidInput, match="leave out model"):
        generate(governed, kind="organisation", model=MODEL)


def test_a_tampered_blob_is_named_and_never_handed_out(governed: Governed) -> None:
    read = generate(governed, formats=["html"])
    html = next(f for f in read.files if f.format == "html")
    store = governed.protection.store
    with store.open(html.sha256) as stored:
        sealed = bytearray(stored.read())
    sealed[len(sealed) // 2] ^= 0x01
    store.put(html.sha256, io.BytesIO(bytes(sealed)), size=len(sealed))
    with pytest.raises(DecryptionFailed, match=f"stored html file of report {read.id} cannot be read back intact"):
        download(governed, read.id, "html")
    assert download(governed, read.id, "json")  # the other files are untouched


def test_an_unencrypted_blob_changed_in_the_store_fails_its_hash(governed: Governed) -> None:
    plain = Protection(make_settings(governed.settings.home, governed.settings.database_url, encrypt_artifacts=False))
    read = generate(governed, protection=plain, formats=["json"])
    (file,) = read.files
    original = download(governed, read.id, "json", plain)
    altered = original.replace(b'"waived"', b'"passed"', 1)
    assert altered != original
    plain.store.put(file.sha256, io.BytesIO(altered), size=len(altered))
    with pytest.raises(SignatureInvalid, match=f"stored json file of report {read.id} was altered"):
        download(governed, read.id, "json", plain)


def test_verify_recognises_an_untouched_file_and_rejects_an_altered_one(governed: Governed) -> None:
    read = generate(governed)
    pdf = download(governed, read.id, "pdf")
    with governed.session(write=False) as s:
        found = service.verify_file(s, as_user(s, "aude"), pdf)
        assert found.matched and found.format == "pdf" and found.report is not None and found.report.id == read.id
        assert found.audit_intact is True and f"report {read.id}" in found.message
        altered = service.verify_file(s, as_user(s, "aude"), pdf[:-1] + bytes([pdf[-1] ^ 1]))
        assert not altered.matched and altered.report is None and "matches no stored report" in altered.message
        # A reader of another team cannot learn of this model's report from its bytes.
        assert not service.verify_file(s, as_user(s, "otto"), pdf).matched
    # An audit event rewritten after the fact no longer vouches for the file.
    with governed.session() as s:
        body = s.scalar(select(AuditEventRow.body).where(AuditEventRow.seq == read.audit_seq))
        assert body is not None
        pdf_sha = next(f.sha256 for f in read.files if f.format == "pdf")
        s.execute(
            text("UPDATE audit_events SET body = :b WHERE seq = :s"),
            {"b": body.replace(pdf_sha, "0" * 64), "s": read.audit_seq},
        )
    with governed.session(write=False) as s:
        found = service.verify_file(s, as_user(s, "aude"), pdf)
        assert found.matched and found.audit_intact is False and "was altered" in found.message


def test_reading_is_scoped_and_denied_by_default(governed: Governed) -> None:
    gov = governed.gov
    model_report = generate(governed)
    org_report = generate(governed, kind="organisation")
    team_report = generate(governed, kind="organisation", team="credit-risk")
    assert team_report.team == "credit-risk" and org_report.team is None
    with governed.session(write=False) as s:
        everything = service.list_reports(s, as_user(s, "aude"))
        assert [r.id for r in everything.items] == [team_report.id, org_report.id, model_report.id]
        # vera reads credit-risk only: the model's report and the team's, not the organisation's.
        vera = as_user(s, "vera")
        assert [r.id for r in service.list_reports(s, vera).items] == [team_report.id, model_report.id]
        with pytest.raises(PermissionDenied):
            service.read_report(s, vera, org_report.id)
        assert [r.id for r in service.list_reports(s, as_user(s, "otto")).items] == []
        assert [r.id for r in service.list_reports(s, vera, kind="model").items] == [model_report.id]
        assert [r.id for r in service.list_reports(s, as_user(s, "aude"), model=MODEL).items] == [model_report.id]
        page = service.list_reports(s, as_user(s, "aude"), limit=2)
        assert len(page.items) == 2 and page.next_cursor is not None
        rest = service.list_reports(s, as_user(s, "aude"), limit=2, cursor=page.next_cursor)
        assert [r.id for r in rest.items] == [model_report.id] and rest.next_cursor is None
    with pytest.raises(PermissionDenied):
        generate(governed, "vera", kind="organisation")
    with pytest.raises(PermissionDenied):
        generate(governed, "otto")
    # A service account holds no compliance:read: nothing at all.
    from tests.conftest import Factory

    Factory(gov.db, governed.settings).service_account("ci", "service@credit-risk")
    with governed.session(write=False) as s, pytest.raises(PermissionDenied):
        service.list_reports(s, as_user(s, "ci"))


def test_a_failed_generation_leaves_nothing_behind(governed: Governed) -> None:
    before = len(generate_events(governed))
    with pytest.raises(NotFound):
        generate(governed, frameworks=["sox"])
    with governed.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(ReportRow)) == 0
        assert s.scalar(select(func.count()).select_from(ReportFileRow)) == 0
    assert len(generate_events(governed)) == before
