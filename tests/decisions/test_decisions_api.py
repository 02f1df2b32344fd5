"""The decision log through the REST API: personal data, sensitive attributes, outcomes, search, export, audit."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import text

from charter.config import Settings
from charter.decisions.pseudonyms import keys_for
from tests.decisions.conftest import MODEL, Log, at, decision


def stored(log: Log, sql: str, **params: Any) -> list[Any]:
    """Rows read straight from the tables, JSON columns as the text the database holds."""
    with log.db.session(write=False) as session:
        return list(session.execute(text(sql), params).all())


def stored_text(log: Log) -> str:
    rows = stored(
        log,
        "SELECT decision_key, subject_ref, CAST(inputs AS TEXT), CAST(output AS TEXT), CAST(explanation AS TEXT) "
        "FROM decisions ORDER BY id",
    )
    return repr(rows)


def audit_text(log: Log) -> str:
    return repr(stored(log, "SELECT body FROM audit_events"))


@pytest.mark.parametrize("who", ["owner", "service"])
def test_personal_fields_and_subjects_are_stored_as_keyed_pseudonyms(log: Log, who: str, settings: Settings) -> None:
    headers = getattr(log, who)
    first = log.send([decision(1), decision(2)], headers)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "model": MODEL,
        "received": 2,
        "stored": 2,
        "duplicates": 0,
        "treatment": {"1.0.0": "pseudonymised"},
    }
    # The same person decided on again, in another batch, under the same name and e-mail.
    again = decision(3, inputs={"name": "Applicant 1", "email": "applicant1@example.com", "income": 900})
    assert log.send([{**again, "subject": "customer-1"}], headers).status_code == 200

    rows = stored(log, "SELECT decision_key, subject_ref, CAST(inputs AS TEXT) FROM decisions ORDER BY id")
    inputs = {key: orjson.loads(raw) for key, _, raw in rows}
    subjects = {key: ref for key, ref, _ in rows}
    raw_values = ["Applicant 1", "applicant1@example.com", "Applicant 2", "applicant2@example.com", "customer-1"]
    for value in raw_values:
        assert value not in stored_text(log)
        assert value not in audit_text(log)
    assert inputs["d-1"]["income"] == 1000  # not personal: kept as sent
    assert inputs["d-1"]["email"].startswith("ps:") and len(inputs["d-1"]["email"]) == 3 + 64
    # Consistent: the same value has the same pseudonym across batches; a different value does not.
    assert inputs["d-3"]["email"] == inputs["d-1"]["email"] != inputs["d-2"]["email"]
    assert inputs["d-3"]["name"] == inputs["d-1"]["name"]
    assert subjects["d-3"] == subjects["d-1"] != subjects["d-2"]
    # ... and it is the server's keyed HMAC, which nobody without the server secret can recompute.
    keys = keys_for(settings.secret)
    assert inputs["d-1"]["email"] == keys.pseudonym("applicant1@example.com")
    assert subjects["d-1"] == keys.pseudonym("customer-1")

    # Readers see the pseudonyms and which fields hold them; the subject can be searched by reference.
    found = log.items(subject="customer-1")
    assert [d["decision_id"] for d in found] == ["d-3", "d-1"]
    assert found[1]["personal_fields"] == ["email", "name"]
    assert found[1]["inputs"]["email"] == inputs["d-1"]["email"]
    assert found[1]["subject"] == subjects["d-1"]
    assert [d["decision_id"] for d in log.items(subject=subjects["d-2"])] == ["d-2"]


def test_special_category_fields_are_encrypted_and_revealed_only_to_fairness_readers(log: Log) -> None:
    assert log.send([decision(1, version="2.0.0"), decision(2)]).json()["treatment"] == {
        "1.0.0": "pseudonymised",
        "2.0.0": "encrypted",
    }
    (raw,) = stored(log, "SELECT CAST(inputs AS TEXT) FROM decisions WHERE decision_key = 'd-1'")[0]
    assert orjson.loads(raw)["email"].startswith("enc:")
    assert "applicant1@example.com" not in stored_text(log)

    plain = log.items(decision_id="d-1")[0]
    assert plain["inputs"]["email"].startswith("enc:")
    # The owner operates the model but may not decrypt; neither may a reviewer-less viewer read at all.
    refused = log.search(log.owner, reveal="true")
    assert refused.status_code == 403 and "fairness:read" in refused.text
    assert log.search(log.viewer).status_code == 403

    revealed = {d["decision_id"]: d for d in log.items(log.risk, reveal="true")}
    assert revealed["d-1"]["inputs"]["email"] == "applicant1@example.com"
    assert revealed["d-1"]["inputs"]["name"] == "Applicant 1"
    assert revealed["d-2"]["inputs"]["email"].startswith("ps:")  # a pseudonym cannot be revealed
    (event,) = log.events("decision.reveal")
    assert event["actor"] == "user:rosa" and event["resource_type"] == "decision_log"
    assert event["details"]["count"] == 2 and event["details"]["decrypted_fields"] == 2
    assert event["details"]["reveal"] is True
    assert "applicant1@example.com" not in audit_text(log)


def test_a_ciphertext_moved_to_another_decision_does_not_decrypt(log: Log) -> None:
    log.send([decision(1, version="2.0.0"), decision(2, version="2.0.0")])
    (raw,) = stored(log, "SELECT CAST(inputs AS TEXT) FROM decisions WHERE decision_key = 'd-1'")[0]
    moved = orjson.loads(raw)
    with log.db.session() as session:
        (other,) = session.execute(text("SELECT CAST(inputs AS TEXT) FROM decisions WHERE decision_key = 'd-2'")).one()
        tampered = {**orjson.loads(other), "email": moved["email"]}
        session.execute(
            text("UPDATE decisions SET inputs = :inputs WHERE decision_key = 'd-2'"),
            {"inputs": orjson.dumps(tampered).decode()},
        )
    response = log.search(log.risk, reveal="true", decision_id="d-2")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "decryption_failed"
    assert "applicant1@example.com" not in response.text


def test_sensitive_attributes_are_kept_apart_and_shown_only_with_fairness_read(log: Log) -> None:
    items = [decision(1, sensitive_attributes={"sex": "female", "age_band": "25-34"}), decision(2)]
    assert log.send(items, log.service).status_code == 200
    # Stored in their own table, nowhere in the decision itself.
    rows = stored(log, "SELECT decision_id, CAST(attributes AS TEXT) FROM decision_attributes")
    assert len(rows) == 1 and orjson.loads(rows[0][1]) == {"age_band": "25-34", "sex": "female"}
    assert "female" not in stored_text(log)

    owner_view = log.items(log.owner)
    assert [d["sensitive_attributes"] for d in owner_view] == [None, None]
    demanded = log.search(log.owner, attributes="true")
    assert demanded.status_code == 403 and "fairness:read" in demanded.text
    assert log.search(log.viewer).status_code == 403  # a viewer holds no decision:read at all

    for reader in (log.risk, log.auditor):
        by_id = {d["decision_id"]: d["sensitive_attributes"] for d in log.items(reader)}
        assert by_id == {"d-1": {"sex": "female", "age_band": "25-34"}, "d-2": None}
    assert [d["sensitive_attributes"] for d in log.items(log.risk, attributes="false")] == [None, None]
    events = log.events("decision.read")
    assert [e["details"]["attributes"] for e in reversed(events)] == [False, True, True, False]


def test_outcomes_arrive_later_and_can_be_searched_for(log: Log) -> None:
    log.send([decision(n) for n in range(1, 5)])
    assert {d["decision_id"] for d in log.items(has_outcome="false")} == {"d-1", "d-2", "d-3", "d-4"}
    assert log.items(has_outcome="true") == []

    recorded = log.outcome("d-2", {"outcome": "repaid", "observed_at": "2026-06-01T00:00:00Z"}, log.service)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json() == {"decision_id": "d-2", "outcome": "repaid", "outcome_at": "2026-06-01T00:00:00Z"}
    assert log.outcome("d-3", {"outcome": 0}).status_code == 200
    assert [d["decision_id"] for d in log.items(has_outcome="true")] == ["d-3", "d-2"]
    assert [d["decision_id"] for d in log.items(has_outcome="false")] == ["d-4", "d-1"]
    shown = log.items(decision_id="d-2")[0]
    assert shown["outcome"] == "repaid" and shown["outcome_at"] == "2026-06-01T00:00:00Z"

    # The same outcome again is accepted as it is; a different one is a correction that must say so.
    assert log.outcome("d-2", {"outcome": "repaid"}).status_code == 200
    conflict = log.outcome("d-2", {"outcome": "defaulted"})
    assert conflict.status_code == 409 and "replace" in conflict.text
    assert log.outcome("d-2", {"outcome": "defaulted", "replace": True}).json()["outcome"] == "defaulted"
    assert log.outcome("d-99", {"outcome": 1}).status_code == 404
    assert log.outcome("d-4", {"outcome": 10**30}).status_code == 422
    assert log.outcome("d-1", {"outcome": 1}, log.viewer).status_code == 403
    events = log.events("decision.outcome")
    assert [(e["details"]["decision_id"], e["details"]["replaced"]) for e in reversed(events)] == [
        ("d-2", False),
        ("d-3", False),
        ("d-2", True),
    ]
    assert "defaulted" not in repr([e["details"] for e in events])  # ground truth stays out of the trail


def test_search_by_time_window_version_subject_and_output(log: Log) -> None:
    log.send([decision(n) for n in range(1, 7)] + [decision(n, version="2.0.0") for n in range(7, 10)])

    def ids(**params: Any) -> list[str]:
        return [d["decision_id"] for d in log.items(**params)]

    assert ids() == [f"d-{n}" for n in range(9, 0, -1)]  # newest first
    assert ids(since=at(3), until=at(6)) == ["d-5", "d-4", "d-3"]  # since inclusive, until exclusive
    assert ids(since="2026-01-05T09:08:00") == ["d-9", "d-8"]  # no zone: UTC
    assert ids(version="2.0.0") == ["d-9", "d-8", "d-7"]
    assert ids(version="1.0.0", since=at(5)) == ["d-6", "d-5"]
    assert ids(subject="customer-4") == ["d-4"]
    assert ids(subject="nobody") == []
    assert ids(output="deny") == ["d-8", "d-6", "d-4", "d-2"]  # not JSON: a string
    assert ids(output='"deny"', version="2.0.0") == ["d-8"]
    assert ids(decision_id="d-5") == ["d-5"]
    # A time without a zone is UTC, when logged as when searched.
    log.send([decision(10, decided_at="2026-01-05T09:30:00")])
    assert log.items(decision_id="d-10")[0]["decided_at"] == "2026-01-05T09:30:00Z"
    assert ids(since=at(30)) == ["d-10"]
    assert log.search(version="9.9.9").status_code == 404
    assert log.search(since="yesterday").status_code == 422


def test_numeric_and_structured_outputs_are_matched_as_json(log: Log) -> None:
    log.send(
        [
            decision(1, output=1),
            decision(2, output=0),
            decision(3, output=0.25),
            decision(4, output={"limit": 5000, "approved": True}),
            decision(5, output=True),
            decision(6, output=None),
        ]
    )

    def ids(output: str) -> list[str]:
        return [d["decision_id"] for d in log.items(output=output)]

    assert ids("1") == ["d-1"]
    assert ids("0") == ["d-2"]
    assert ids("0.25") == ["d-3"]
    assert ids('{"approved": true, "limit": 5000}') == ["d-4"]  # key order does not matter
    assert ids("true") == ["d-5"]
    assert ids("null") == ["d-6"]
    outputs = {d["decision_id"]: d["output"] for d in log.items()}
    assert outputs == {
        "d-1": 1,
        "d-2": 0,
        "d-3": 0.25,
        "d-4": {"limit": 5000, "approved": True},
        "d-5": True,
        "d-6": None,
    }


def test_pages_follow_the_cursor_without_gaps_or_repeats(log: Log) -> None:
    # Several decisions share a time: the cursor must still order and split them exactly.
    items = [decision(n, decided_at=at(n // 3)) for n in range(1, 12)]
    log.send(items)
    everything = [d["decision_id"] for d in log.items(limit=500)]
    assert sorted(everything) == sorted(d["decision_id"] for d in items)
    pages: list[str] = []
    cursor = None
    while True:
        page = log.search(limit=2, **({"cursor": cursor} if cursor else {})).json()
        assert len(page["items"]) <= 2
        pages += [d["decision_id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == everything
    assert log.search(cursor="not-a-cursor").status_code == 422
    # Each page read is one audited event with its own count.
    counts = [e["details"]["count"] for e in reversed(log.events("decision.read"))]
    assert counts == [11, 2, 2, 2, 2, 2, 1]


def test_export_streams_json_lines_oldest_first_and_is_audited(log: Log) -> None:
    log.send([decision(n, sensitive_attributes={"sex": "male"}) for n in range(1, 6)])
    url = f"/api/v1/models/{MODEL}/decisions/export"
    with log.client.stream("GET", url, params={"since": at(2)}, headers=log.owner) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [orjson.loads(line) for line in response.iter_lines() if line]
    assert [d["decision_id"] for d in lines] == ["d-2", "d-3", "d-4", "d-5"]
    assert lines[0]["inputs"]["email"].startswith("ps:") and lines[0]["sensitive_attributes"] is None
    with log.client.stream("GET", url, headers=log.risk) as response:
        risk_lines = [orjson.loads(line) for line in response.iter_lines() if line]
    assert [d["sensitive_attributes"] for d in risk_lines] == [{"sex": "male"}] * 5
    refused = log.client.get(url, params={"attributes": "true"}, headers=log.owner)
    assert refused.status_code == 403
    exports = [e["details"] for e in reversed(log.events("decision.export"))]
    assert [(e["count"], e["filters"], e["attributes"]) for e in exports] == [
        (4, {"since": "2026-01-05T09:02:00Z"}, False),
        (5, {}, True),
    ]


def test_every_search_is_audited_with_its_filters_and_count(log: Log) -> None:
    log.send([decision(n) for n in range(1, 4)])
    log.items(subject="customer-2", version="1.0.0")
    log.items(log.risk, has_outcome="false")
    events = list(reversed(log.events("decision.read")))
    assert len(events) == 2
    first, second = events
    assert first["actor"] == "user:olivia" and first["resource_id"] == "1"
    assert first["details"]["count"] == 1
    # The subject filter is recorded as its pseudonym, never as typed.
    assert first["details"]["filters"] == {"version": "1.0.0", "subject": log.items()[1]["subject"]}
    assert "customer-2" not in audit_text(log)
    assert second["details"] == {"filters": {"has_outcome": False}, "count": 3, "attributes": True, "reveal": False}
    (logged,) = log.events("decision.log")
    assert logged["details"]["received"] == 3 and logged["details"]["stored"] == 3
    assert logged["details"]["personal_fields"] == ["email", "name"]


def test_identical_resends_are_skipped_and_conflicting_ids_refused(log: Log) -> None:
    batch = [decision(n) for n in range(1, 4)]
    assert log.send(batch).json()["stored"] == 3
    again = log.send(batch)
    assert again.status_code == 200
    assert again.json() | {"treatment": None} == {
        "model": MODEL,
        "received": 3,
        "stored": 0,
        "duplicates": 3,
        "treatment": None,
    }
    # A retry that adds new decisions stores only those.
    assert log.send([*batch, decision(4)]).json() | {"treatment": None} == {
        "model": MODEL,
        "received": 4,
        "stored": 1,
        "duplicates": 3,
        "treatment": None,
    }
    # A different decision under a logged id: refused, naming it, and nothing of its batch is stored.
    changed = log.send([decision(2, output="approve"), decision(5)])
    assert changed.status_code == 409
    assert changed.json()["error"]["details"]["decision_ids"] == ["d-2"]
    assert "'d-2'" in changed.json()["error"]["message"]
    # Naming other personal fields changes what would be stored: also a different decision.
    assert log.send([decision(1)], personal_fields=["email"]).status_code == 409
    twice = log.send([decision(6), decision(6)])
    assert twice.status_code == 422 and "d-6" in twice.text
    assert stored(log, "SELECT COUNT(*) FROM decisions")[0][0] == 4
    assert [e["details"]["stored"] for e in reversed(log.events("decision.log"))] == [3, 0, 1]


def test_batch_limit_unknown_versions_and_models(log: Log) -> None:
    too_many = log.send([decision(n) for n in range(10_001)], personal_fields=[])
    assert too_many.status_code == 422
    assert "10000" in too_many.text or "10,000" in too_many.text
    assert stored(log, "SELECT COUNT(*) FROM decisions")[0][0] == 0
    full = log.send([decision(n) for n in range(10_000)])
    assert full.status_code == 200 and full.json()["stored"] == 10_000
    (event,) = log.events("decision.log")  # one event for the whole batch
    assert event["details"]["stored"] == 10_000

    unknown = log.send([decision(20_000, version="1.0.0"), decision(20_001, version="3.1.4")])
    assert unknown.status_code == 404 and "'3.1.4'" in unknown.json()["error"]["message"]
    assert log.send([decision(1)], model="no-such-model").status_code == 404
    assert log.send([decision(1, decision_id="has/slash")]).status_code == 422
    # Python's JSON reader takes NaN; a score must still be a finite number.
    nan = orjson.dumps({"decisions": [decision(1)]}).replace(b'"score":0.01', b'"score":NaN')
    headers = {**log.owner, "Content-Type": "application/json"}
    assert log.client.post(f"/api/v1/models/{MODEL}/decisions", content=nan, headers=headers).status_code == 422
    assert log.send([], personal_fields=[]).status_code == 422
    huge = log.send([decision(1, inputs={"account": 10**30})])
    assert huge.status_code == 422 and "'d-1'" in huge.json()["error"]["message"]


def test_other_teams_and_read_only_roles_cannot_log(log: Log) -> None:
    assert log.send([decision(1)], log.outsider).status_code == 403
    assert log.send([decision(1)], log.risk).status_code == 403
    assert log.send([decision(1)], log.viewer).status_code == 403
    log.send([decision(1)])
    assert log.search(log.outsider).status_code == 403
    assert log.search(log.service).status_code == 403  # the service account writes; it does not read
    assert stored(log, "SELECT COUNT(*) FROM decisions")[0][0] == 1
