"""A batch is prepared (pseudonyms, encryption, JSON, digests) before its writing transaction, and
written only if what the preparation used still holds; the route prepares without the write lock."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from charter.config import Settings
from charter.decisions import service
from charter.decisions.models import DecisionRow
from charter.decisions.pseudonyms import DecisionKeys, keys_for
from charter.decisions.schemas import DecisionBatch
from charter.errors import Conflict
from charter.security.principal import Principal
from tests.conftest import OPERATOR, SqliteProbe, probe_sqlite
from tests.decisions.conftest import MODEL, Log, decision


def batch(*numbers: int) -> DecisionBatch:
    return DecisionBatch.model_validate(
        {"decisions": [decision(n) for n in numbers], "personal_fields": ["name", "email"]}
    )


def prepare(log: Log, actor: Principal, data: DecisionBatch, keys: DecisionKeys) -> service.PreparedBatch:
    """As the route prepares: the target found in a reading transaction, the batch prepared after it."""
    with log.db.session(write=False) as session:
        target = service.batch_target(session, actor, MODEL, data)
    return service.prepare_decisions(target, data, keys=keys)


def stored(log: Log) -> list[DecisionRow]:
    with log.db.session(write=False) as session:
        return list(session.scalars(select(DecisionRow).order_by(DecisionRow.decision_key)))


def test_a_prepared_batch_is_written_as_prepared(log: Log, settings: Settings) -> None:
    keys = keys_for(settings.secret)
    prepared = prepare(log, OPERATOR, batch(1, 2), keys)
    with log.db.session() as session:
        result = service.log_decisions(session, OPERATOR, MODEL, batch(1, 2), keys=keys, prepared=prepared)
    assert (result.stored, result.treatment) == (2, {"1.0.0": "pseudonymised"})
    rows = stored(log)
    # The rows carry the preparation's time: they were not prepared again.
    assert {r.created_at for r in rows} == {prepared.now}
    assert rows[0].inputs["name"].startswith("ps:") and rows[0].inputs["income"] == 1000


def test_a_batch_prepared_before_its_lineage_changed_is_prepared_again(log: Log, settings: Settings) -> None:
    keys = keys_for(settings.secret)
    prepared = prepare(log, OPERATOR, batch(1), keys)
    assert prepared.rows[0][5].count("ps:") == 2  # pseudonymised as prepared
    # Meanwhile the version's training data turns out to be special-category: its fields must now be
    # encrypted, not pseudonymised as they were prepared.
    with log.db.session() as session:
        session.execute(text("UPDATE datasets SET classification = 'special_category' WHERE name = 'applications'"))
    with log.db.session() as session:
        result = service.log_decisions(session, OPERATOR, MODEL, batch(1), keys=keys, prepared=prepared)
    assert result.treatment == {"1.0.0": "encrypted"}
    (row,) = stored(log)
    assert row.inputs["name"].startswith("enc:") and row.inputs["email"].startswith("enc:")
    assert row.created_at != prepared.now


def test_a_batch_prepared_by_another_actor_is_prepared_again(log: Log, settings: Settings) -> None:
    keys = keys_for(settings.secret)
    prepared = prepare(log, Principal.system("someone-else"), batch(1), keys)
    with log.db.session() as session:
        service.log_decisions(session, OPERATOR, MODEL, batch(1), keys=keys, prepared=prepared)
    assert [r.created_by for r in stored(log)] == [OPERATOR.actor]


def test_logged_ids_are_looked_up_when_writing_not_when_preparing(log: Log, settings: Settings) -> None:
    keys = keys_for(settings.secret)
    prepared = prepare(log, OPERATOR, batch(1, 2, 3), keys)
    # Logged after the preparation: d-2 as sent (a duplicate), d-3 as a different decision.
    assert log.send([decision(2), decision(3, output="changed")]).status_code == 200
    with pytest.raises(Conflict) as refused, log.db.session() as session:
        service.log_decisions(session, OPERATOR, MODEL, batch(1, 2, 3), keys=keys, prepared=prepared)
    assert refused.value.details == {"decision_ids": ["d-3"], "conflicts": 1}
    assert [r.decision_key for r in stored(log)] == ["d-2", "d-3"]
    with log.db.session() as session:
        result = service.log_decisions(session, OPERATOR, MODEL, batch(1, 2), keys=keys, prepared=None)
    assert (result.stored, result.duplicates) == (1, 1)


def test_the_route_prepares_a_batch_without_the_write_lock_or_a_snapshot(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    if log.db.dialect != "sqlite":
        pytest.skip("SQLite's write lock and WAL snapshots: PostgreSQL has neither")
    path = log.db.engine.url.database
    assert path is not None
    probes: list[SqliteProbe] = []
    original = service.prepare_decisions

    def prepare_then_probe(*args: Any, **kwargs: Any) -> service.PreparedBatch:
        prepared = original(*args, **kwargs)
        probes.append(probe_sqlite(path))
        return prepared

    monkeypatch.setattr(service, "prepare_decisions", prepare_then_probe)
    response = log.send([decision(1), decision(2)])
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 2
    assert probes == [SqliteProbe(write_lock_free=True, wal_checkpointed=True)]
    assert len(log.events("decision.log")) == 1


def test_a_batch_prepared_from_other_decisions_is_prepared_again(log: Log, settings: Settings) -> None:
    keys = keys_for(settings.secret)
    prepared = prepare(log, OPERATOR, batch(1, 2), keys)
    with log.db.session() as session:
        result = service.log_decisions(session, OPERATOR, MODEL, batch(3), keys=keys, prepared=prepared)
    assert result.stored == 1
    assert [r.decision_key for r in stored(log)] == ["d-3"]
