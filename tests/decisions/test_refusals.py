"""A refused batch stores nothing: a decision id logged before as a different decision, an id a
concurrent request logged between the lookup and the insert, a value JSON cannot hold."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from charter.config import Settings
from charter.decisions import service
from charter.decisions.pseudonyms import keys_for
from charter.decisions.schemas import DecisionBatch
from charter.errors import Conflict
from tests.conftest import OPERATOR
from tests.decisions.conftest import MODEL, Log, decision


def numbered(count: int, *, changed: Iterable[int] = ()) -> list[dict[str, Any]]:
    """Decisions d-1 to d-``count``; those in ``changed`` differ from what was logged under their ids."""
    different = set(changed)
    return [decision(n, **({"output": "changed"} if n in different else {})) for n in range(1, count + 1)]


def count_rows(log: Log) -> int:
    with log.db.session(write=False) as session:
        return int(session.execute(text("SELECT count(*) FROM decisions")).scalar_one())


def test_a_conflict_at_the_end_of_a_batch_stores_nothing(log: Log) -> None:
    assert log.send([decision(10)]).status_code == 200
    refused = log.send(numbered(10, changed=[10]))
    assert refused.status_code == 409, refused.text
    message = refused.json()["error"]["message"]
    assert "'d-10'" in message and "nothing in this batch was stored" in message
    assert count_rows(log) == 1
    assert log.send(numbered(9)).json()["stored"] == 9


def test_conflicts_are_named_in_the_batch_order(log: Log) -> None:
    assert log.send(numbered(13)[3:]).status_code == 200  # d-4 to d-13
    refused = log.send(list(reversed(numbered(13, changed=[5, 7, 12]))))
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["details"] == {"decision_ids": ["d-12", "d-7", "d-5"], "conflicts": 3}
    assert count_rows(log) == 10


class RacingSink(service.DatabaseSink):
    """The database sink, whose lookup misses what a concurrent request logged meanwhile (PostgreSQL's
    race; on SQLite, whose writer holds the write lock from the start, the lookup cannot miss it)."""

    def stored_digests(self, session: Session, model_id: int, keys: list[str], days: Iterable[str]) -> dict[str, str]:
        return {}


def test_an_id_logged_by_a_concurrent_request_is_a_conflict(log: Log, settings: Settings) -> None:
    assert log.send([decision(8)]).status_code == 200
    data = DecisionBatch.model_validate({"decisions": numbered(10), "personal_fields": ["name", "email"]})
    with pytest.raises(Conflict) as refused, log.db.session() as session:
        service.log_decisions(session, OPERATOR, MODEL, data, keys=keys_for(settings.secret), sink=RacingSink())
    assert "logged by a concurrent request" in refused.value.message
    assert count_rows(log) == 1


def test_a_value_json_cannot_hold_is_refused_by_name_and_stores_nothing(log: Log) -> None:
    sent = numbered(10)
    sent[8]["inputs"]["n"] = 2**70  # beyond 64 bits: not every JSON reader can take it
    refused = log.send(sent)
    assert refused.status_code == 422, refused.text
    assert "'d-9'" in refused.json()["error"]["message"]
    assert count_rows(log) == 0
