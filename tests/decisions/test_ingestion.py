"""The batch ingestion path: what it stores is what readers expect, computed independently here.

``log_decisions`` formats each distinct second of a batch once, pseudonymises with a lean per-value
path and keys the subject index on a prefix of the pseudonym; these tests pin each to a plain
reference (the standard library's ``hmac``, ``json`` and ``datetime``), not to the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter
from sqlalchemy import event, text

from charter.config import Settings
from charter.decisions.pseudonyms import keys_for
from charter.decisions.service import stamp, stamps
from charter.security.keys import derive_key
from tests.decisions.conftest import MODEL, Log, decision

SECRET = b"s" * 32
PARIS = ZoneInfo("Europe/Paris")


def reference_stamp(moment: datetime) -> str:
    """UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``; a time without a zone is UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return f"{moment.year:04d}-{moment:%m-%d %H:%M:%S}.{moment.microsecond:06d}"


def canonical(value: Any) -> str:
    """The log's JSON: compact, keys sorted, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def pseudonym(key: bytes, value: Any) -> str:
    raw = value.encode() if isinstance(value, str) else canonical(value).encode()
    return "ps:" + hmac.new(key, raw, hashlib.sha256).hexdigest()


# Pydantic's own UTC (what a parsed "...Z" carries), fixed offsets either side, a zone across its
# DST change, times without a zone, microseconds 0 and not, and the ends of the representable range.
TIMES = [
    TypeAdapter(datetime).validate_python("2026-01-05T09:00:00.123456Z"),
    datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
    datetime(2026, 1, 5, 9, 0, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=-11))),
    datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=PARIS),
    datetime(2026, 3, 29, 3, 0, tzinfo=PARIS),
    datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS),
    datetime(2026, 7, 1, 12, 0),
    datetime(1969, 12, 31, 23, 59, 59, 999_999),
    datetime(1, 1, 1, 0, 0),
    datetime(1, 1, 1, 5, 0, tzinfo=timezone(timedelta(hours=-3))),
    datetime(9999, 12, 31, 23, 59, 59, 999_999),
    datetime(9999, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=2))),
]


class NoOffset(tzinfo):
    """A zone that knows no offset: such a time is taken as UTC, like one without a zone."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> None:
        return None


def test_batch_times_are_formatted_as_one_by_one() -> None:
    # A run of times 0.997 s apart, across second, minute and day boundaries, in several zones: the
    # batch path formats each second once and must still give every time its own text.
    start = datetime(2025, 12, 31, 23, 59, 58, 500_000, tzinfo=UTC)
    zones = [UTC, timezone(timedelta(hours=-3, minutes=-30)), PARIS, None]
    run = [(start + timedelta(microseconds=997_000 * n)).astimezone(zones[n % 4]) for n in range(400)]
    run = [t.replace(tzinfo=None) if n % 4 == 3 else t for n, t in enumerate(run)]
    expected = [reference_stamp(t) for t in TIMES + run]
    assert stamps(TIMES + run, default="unused") == expected
    naive = datetime(2026, 5, 1, 12, 0, 0, 250)
    assert stamps([naive.replace(tzinfo=NoOffset())], default="unused") == [reference_stamp(naive)]
    expected = [reference_stamp(t) for t in TIMES]
    assert [stamp(t) for t in TIMES] == expected
    assert stamps(TIMES, default="unused") == expected
    assert stamps([None, TIMES[0], None], default="2026-02-02 00:00:00.000000") == [
        "2026-02-02 00:00:00.000000",
        expected[0],
        "2026-02-02 00:00:00.000000",
    ]
    assert stamps([], default="unused") == []


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1))),  # year 0 in UTC
        datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-2))),  # year 10000 in UTC
    ],
)
def test_a_time_beyond_the_years_1_to_9999_in_utc_is_refused(moment: datetime) -> None:
    with pytest.raises(OverflowError):
        stamp(moment)
    with pytest.raises(OverflowError):
        stamps([TIMES[0], moment], default="unused")


@pytest.mark.parametrize("value", ["ada@example.com", "", "é" * 50, 42, 3.5, True, ["a", 1], {"b": 1, "a": 2}])
def test_lean_pseudonymise_equals_protect_and_the_plain_hmac(value: Any) -> None:
    keys = keys_for(SECRET)
    key = derive_key(SECRET, "decision-pseudonym")

    class Text(str):
        pass

    inputs = {"f": value, "g": None, "h": "kept", "s": Text("sub")}
    fields = ["f", "g", "s", "absent"]
    lean = keys.pseudonymise(inputs, fields)
    assert lean == keys.protect(inputs, fields, encrypt=False)
    assert lean == {"f": pseudonym(key, value), "g": None, "h": "kept", "s": pseudonym(key, "sub")}
    assert inputs["f"] == value  # the caller's mapping is left alone


def test_stored_columns_are_what_readers_expect(log: Log, settings: Settings) -> None:
    sent = [
        decision(1, decided_at="2026-03-29T01:30:00.5+01:00"),
        decision(2, decided_at="2026-01-05T09:00:00", inputs={"name": "Zoë", "email": None, "n": 10**18}),
        decision(3, output={"grade": "B", "limit": 1500.25}, explanation=None, score=None),
        decision(4, subject=None, output=None, sensitive_attributes={"sex": "female", "age_band": "25-34"}),
    ]
    del sent[0]["subject"]  # a decision may name no subject at all
    response = log.send(sent)
    assert response.status_code == 200, response.text
    with log.db.session(write=False) as session:
        rows = session.execute(
            text(
                "SELECT decision_key, CAST(decided_at AS TEXT), subject_ref, CAST(inputs AS TEXT), "
                "CAST(personal_fields AS TEXT), CAST(output AS TEXT), score, CAST(explanation AS TEXT), digest, "
                "CAST(a.attributes AS TEXT) FROM decisions d "
                "LEFT JOIN decision_attributes a ON a.decision_id = d.id ORDER BY decision_key"
            )
        ).all()
    pseudonym_key = derive_key(settings.secret, "decision-pseudonym")
    digest_key = derive_key(settings.secret, "decision-digest")
    personal = ["email", "name"]
    assert [r[0] for r in rows] == ["d-1", "d-2", "d-3", "d-4"]
    for row, item in zip(rows, sent, strict=True):
        key, decided, subject, inputs, fields, output, score, explanation, digest, attributes = row
        moment = datetime.fromisoformat(item["decided_at"].replace("Z", "+00:00"))
        if log.db.dialect == "sqlite":  # the text as stored
            assert decided == reference_stamp(moment)
        else:  # a timestamp column: PostgreSQL prints it its own way
            assert datetime.fromisoformat(decided) == datetime.fromisoformat(reference_stamp(moment))
        subject_sent = item.get("subject")
        assert subject == (None if subject_sent is None else pseudonym(pseudonym_key, subject_sent))
        protected = {
            k: pseudonym(pseudonym_key, v) if k in personal and v is not None else v for k, v in item["inputs"].items()
        }
        assert json.loads(inputs) == protected
        assert json.loads(fields) == personal
        assert (None if output is None else json.loads(output)) == item["output"]
        assert score == item["score"]
        assert (None if explanation is None else json.loads(explanation)) == item["explanation"]
        assert (None if attributes is None else json.loads(attributes)) == item.get("sensitive_attributes")
        # The retry digest: the decision as sent, the time as stored, HMAC-ed under the digest key.
        fingerprint = [
            key,
            item["version"],
            reference_stamp(moment),
            item["inputs"],
            item["output"],
            item["score"],
            item["explanation"],
            subject_sent,
            item.get("sensitive_attributes"),
            personal,
        ]
        raw = canonical(fingerprint).encode()
        assert digest == hmac.new(digest_key, raw, hashlib.sha256).hexdigest()[:32]
    if log.db.dialect == "sqlite":  # the text as stored, byte for byte (PostgreSQL keeps json as sent)
        assert rows[2][3] == canonical(json.loads(rows[2][3]))
    # ... and the readers give back what was sent (personal fields as pseudonyms).
    found = {d["decision_id"]: d for d in log.items(attributes="true", headers=log.risk)}
    assert found["d-3"]["output"] == {"grade": "B", "limit": 1500.25}
    assert found["d-4"]["sensitive_attributes"] == {"sex": "female", "age_band": "25-34"}
    assert found["d-2"]["inputs"]["n"] == 10**18
    assert found["d-2"]["inputs"]["name"] == pseudonym(pseudonym_key, "Zoë")
    # A retry of the whole batch is recognised decision by decision.
    assert log.send(sent).json()["duplicates"] == 4


def test_a_decision_time_out_of_range_is_refused_naming_it(log: Log) -> None:
    refused = log.send([decision(1), decision(2, decided_at="0001-01-01T00:30:00+01:00")])
    assert refused.status_code == 422, refused.text
    assert "'d-2'" in refused.json()["error"]["message"]
    assert log.send([decision(1)]).json()["stored"] == 1  # nothing of the refused batch was kept


def test_subjects_are_searched_through_the_prefix_index(log: Log) -> None:
    # References that already are pseudonyms are stored as given: two share the 12 digits the index holds.
    near = ["ps:0123456789ab" + "1" * 52, "ps:0123456789ab" + "2" * 52, "ps:fedcba987654" + "1" * 52]
    items = [decision(n, subject=ref) for n, ref in enumerate(near, start=1)] + [decision(4, subject=near[0])]
    items += [decision(n) for n in range(100, 600)]  # other subjects: enough rows for a planner to choose by
    assert log.send(items).status_code == 200
    assert [d["decision_id"] for d in log.items(subject=near[0])] == ["d-4", "d-1"]
    assert [d["decision_id"] for d in log.items(subject=near[1])] == ["d-2"]
    assert log.items(subject="ps:0123456789ab") == []  # a prefix alone matches nothing
    export = log.client.get(f"/api/v1/models/{MODEL}/decisions/export", params={"subject": near[0]}, headers=log.owner)
    assert [json.loads(line)["decision_id"] for line in export.text.splitlines()] == ["d-1", "d-4"]

    # The queries the search and the export ran go through the index, on both databases.
    ran: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM decisions" in statement and "substr" in statement:
            ran.append((statement, parameters))

    event.listen(log.db.engine, "before_cursor_execute", capture)
    try:
        log.items(subject=near[1])
        log.client.get(f"/api/v1/models/{MODEL}/decisions/export", params={"subject": near[1]}, headers=log.owner)
    finally:
        event.remove(log.db.engine, "before_cursor_execute", capture)
    assert len(ran) >= 2
    for statement, parameters in ran:
        with log.db.engine.connect() as conn:
            if log.db.dialect == "sqlite":
                plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            else:  # the test table is tiny: with statistics, and no sequential scan to prefer over any index
                conn.exec_driver_sql("ANALYZE decisions")
                conn.exec_driver_sql("SET enable_seqscan = off")
                plan = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        assert "ix_decisions_model_subject_key" in repr(plan), plan
