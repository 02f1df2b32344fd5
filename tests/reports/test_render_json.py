"""Canonical JSON and the digest: deterministic, and sensitive to every field."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from charter.errors import InvalidInput
from charter.reports.render import EXTENSIONS, MEDIA_TYPES, canonical_json, digest, render
from charter.reports.schemas import FORMATS, ReportDocument
from tests.reports.sample import OWNER, model_report


def test_canonical_json_is_deterministic_and_compact() -> None:
    a, b = model_report(), model_report()
    assert a is not b
    assert canonical_json(a) == canonical_json(b)
    raw = canonical_json(a)
    parsed = json.loads(raw)
    assert raw == json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # Sorted keys at every level, the schema under its alias, non-ASCII text kept as UTF-8.
    assert list(parsed) == sorted(parsed)
    assert list(parsed["models"][0]) == sorted(parsed["models"][0])
    assert parsed["schema"] == "charter.report/1"
    assert OWNER.encode("utf-8") in raw
    assert digest(a) == hashlib.sha256(raw).hexdigest()
    assert render(a, "json") == raw


def test_round_trip_keeps_the_digest() -> None:
    document = model_report()
    again = ReportDocument.model_validate_json(canonical_json(document))
    assert digest(again) == digest(document)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: setattr(d, "title", d.title + "."),
        lambda d: setattr(d, "generated_at", d.generated_at + timedelta(seconds=1)),
        lambda d: setattr(d.models[0].gaps[0], "waiver", 8),
        lambda d: setattr(d.models[0].frameworks[0].requirements[1], "status", "satisfied"),
        lambda d: setattr(d.audit, "ok", False),
        lambda d: d.models[0].fairness[0].highlights.update(disparate_impact=0.8),
    ],
)
def test_digest_changes_when_a_field_changes(change: object) -> None:
    document = model_report()
    before = digest(document)
    assert callable(change)
    change(document)
    assert digest(document) != before


def test_every_format_has_a_media_type_and_extension() -> None:
    assert set(MEDIA_TYPES) == set(FORMATS) == set(EXTENSIONS)
    assert all(ext.startswith(".") for ext in EXTENSIONS.values())


def test_unknown_format_is_a_clear_4xx_error() -> None:
    with pytest.raises(InvalidInput, match="unknown report format 'docx'") as caught:
        render(model_report(), "docx")  # type: ignore[arg-type]
    assert 400 <= caught.value.status < 500
