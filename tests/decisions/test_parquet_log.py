"""The Parquet decision log (``CHARTER_DECISION_STORE=parquet``): the same API as the database log.

Every behaviour test here runs against both stores with the same expectations, so the Parquet log
is held to the database log's contract; the rest checks what only the files can show: the layout,
that the database stays empty, that a rolled-back batch leaves no file, and that DuckDB and Spark
read the files back to the same fairness counts.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from charter.config import Settings
from charter.decisions import service
from charter.decisions.parquet import configured
from charter.decisions.pseudonyms import keys_for
from charter.decisions.schemas import DecisionBatch, DecisionIn
from tests.conftest import OPERATOR, make_settings
from tests.decisions.conftest import MODEL, START, Log, at, decision


@pytest.fixture(params=["database", "parquet"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(home: Path, db_url: str, store: str) -> Settings:
    return make_settings(home, db_url, decision_store=store)


def database_rows(log: Log) -> int:
    with log.db.session(write=False) as session:
        return int(session.execute(text("SELECT COUNT(*) FROM decisions")).scalar_one())


def files(settings: Settings, kind: str) -> list[Path]:
    return sorted(settings.effective_decision_log_dir.glob(f"{kind}/**/*.parquet"))


def race(n: int) -> str:
    return ("African-American", "Caucasian", "Hispanic")[n % 3]


def batch(first: int, count: int, **fields: Any) -> list[dict[str, Any]]:
    return [decision(n, sensitive_attributes={"race": race(n)}, **fields) for n in range(first, first + count)]


def every_page(log: Log, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = log.search(**params, limit=3, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_batches_land_where_the_setting_says(log: Log, settings: Settings, store: str) -> None:
    # Decisions 0..2000 minutes after the start cover two days: a Parquet batch is one file per day.
    sent = log.send([*batch(0, 4), decision(2000, sensitive_attributes={"race": "Caucasian"}), decision(2001)])
    assert sent.status_code == 200 and sent.json()["stored"] == 6, sent.text
    if store == "database":
        assert database_rows(log) == 6 and not files(settings, "decisions")
        return
    assert database_rows(log) == 0
    decisions = files(settings, "decisions")
    assert [p.parent.name for p in decisions] == ["date=2026-01-05", "date=2026-01-06"]
    assert {p.parent.parent.name for p in decisions} == {"model_id=1"}
    assert decisions[0].name == decisions[1].name  # one batch
    assert sum(pq.read_metadata(p).num_rows for p in decisions) == 6
    # The attributes are kept in files of their own, for the decisions that carry them.
    attached = pq.read_table(files(settings, "attributes")).to_pylist()
    assert sorted(r["decision_key"] for r in attached) == ["d-0", "d-1", "d-2", "d-2000", "d-3"]
    # Personal data is protected before it reaches a file, as before a table.
    raw = b"".join(p.read_bytes() for p in decisions)
    assert b"Applicant 1" not in raw and b"customer-1" not in raw
    table = pq.read_table(decisions[0]).to_pylist()
    assert orjson.loads(table[0]["inputs"])["email"].startswith("ps:")
    (event,) = log.events("decision.log")  # one audit event per batch, as with the database
    assert event["details"]["stored"] == 6


def test_retries_are_skipped_and_conflicts_refused_with_nothing_stored(
    log: Log, settings: Settings, store: str
) -> None:
    assert log.send(batch(0, 3)).json()["stored"] == 3
    again = log.send(batch(0, 3) + batch(3, 1))
    assert again.status_code == 200 and again.json() | {"treatment": None} == {
        "model": MODEL,
        "received": 4,
        "stored": 1,
        "duplicates": 3,
        "treatment": None,
    }
    changed = log.send([decision(1, output="approve-with-conditions"), decision(10)])
    assert changed.status_code == 409 and "'d-1'" in changed.json()["error"]["message"]
    assert sorted(d["decision_id"] for d in log.items()) == ["d-0", "d-1", "d-2", "d-3"]
    if store == "parquet":
        assert len(files(settings, "decisions")) == 2


def test_search_filters_and_pages_agree(log: Log, store: str) -> None:
    assert log.send(batch(0, 8) + batch(8, 3, version="2.0.0")).status_code == 200
    for n in (1, 2, 5):
        assert log.outcome(f"d-{n}", {"outcome": n % 2}).status_code == 200
    newest_first = [f"d-{n}" for n in range(10, -1, -1)]
    assert [d["decision_id"] for d in every_page(log)] == newest_first
    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({"since": at(3), "until": at(6)}, [5, 4, 3]),
        ({"version": "2.0.0"}, [10, 9, 8]),
        ({"subject": "customer-4"}, [4]),
        ({"has_outcome": True}, [5, 2, 1]),
        ({"has_outcome": False, "version": "1.0.0"}, [7, 6, 4, 3, 0]),
        ({"output": '"approve"', "until": at(6)}, [5, 3, 1]),
        ({"output": "deny", "since": at(7)}, [10, 8]),
        ({"decision_id": "d-6"}, [6]),
    ]
    for params, expected in cases:
        assert [d["decision_id"] for d in every_page(log, **params)] == [f"d-{n}" for n in expected], params
    (first,) = log.items(decision_id="d-5")
    assert first["outcome"] == 1 and first["outcome_at"].endswith("Z")
    assert first["decided_at"] == at(5) and first["created_at"].endswith("Z")
    assert first["sensitive_attributes"] is None  # the owner does not hold fairness:read
    assert log.items(log.risk, decision_id="d-5")[0]["sensitive_attributes"] == {"race": race(5)}
    encrypted = log.items(log.risk, decision_id="d-9", reveal=True)[0]
    assert encrypted["inputs"]["email"] == "applicant9@example.com"
    bad = log.search(cursor="not-a-cursor")
    assert bad.status_code == 422


def test_outcomes_follow_the_same_rules(log: Log) -> None:
    log.send(batch(0, 2))
    assert log.outcome("d-0", {"outcome": 1}).status_code == 200
    assert log.outcome("d-0", {"outcome": 1}).status_code == 200  # the same again: accepted
    different = log.outcome("d-0", {"outcome": 0})
    assert different.status_code == 409 and "replace" in different.json()["error"]["message"]
    assert log.outcome("d-0", {"outcome": 0, "replace": True}).status_code == 200
    assert log.outcome("d-9", {"outcome": 1}).status_code == 404
    assert log.outcome("d-1", {"outcome": None}).status_code == 200  # a JSON null outcome is an outcome
    found = {d["decision_id"]: d for d in log.items()}
    assert found["d-0"]["outcome"] == 0
    assert found["d-1"]["outcome"] is None and found["d-1"]["outcome_at"] is not None
    replaced = [e["details"]["replaced"] for e in reversed(log.events("decision.outcome"))]
    assert replaced == [False, True, False]


def test_export_is_the_search_oldest_first(log: Log) -> None:
    log.send(batch(0, 5))
    response = log.client.get(f"/api/v1/models/{MODEL}/decisions/export", headers=log.risk, params={"until": at(4)})
    assert response.status_code == 200
    lines = [orjson.loads(line) for line in response.text.splitlines()]
    assert [d["decision_id"] for d in lines] == ["d-0", "d-1", "d-2", "d-3"]
    assert lines[2]["sensitive_attributes"] == {"race": race(2)}
    (event,) = log.events("decision.export")
    assert event["details"]["count"] == 4


def test_a_batch_whose_transaction_rolls_back_leaves_no_file(log: Log, settings: Settings, store: str) -> None:
    keys = keys_for(settings.secret)
    parquet = configured(settings)
    sink = service.DATABASE if parquet is None else parquet
    items = [DecisionIn.model_validate(d) for d in batch(0, 3)]
    with pytest.raises(RuntimeError), log.db.session() as session:
        service.log_decisions(session, OPERATOR, MODEL, DecisionBatch(decisions=items), keys=keys, sink=sink)
        raise RuntimeError("the transaction fails after the batch was written")
    assert log.items() == []
    assert not files(settings, "decisions") and not files(settings, "attributes")
    assert log.send(batch(0, 3)).json()["stored"] == 3  # and the batch can be sent again


def test_fairness_over_logged_decisions_agrees_with_fairlearn(log: Log) -> None:
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

    log.send(batch(0, 90))
    known = [n for n in range(90) if n % 5]  # ground truth arrives for four in five
    for n in known:
        log.outcome(f"d-{n}", {"outcome": "approve" if n % 4 else "deny"})
    body = {"sensitive_features": ["race"], "positive_output": "approve", "min_group_size": 1, "n_resamples": 0}
    path = f"/api/v1/models/{MODEL}/versions/1.0.0/evidence/fairness-from-decisions"
    response = log.client.post(path, json=body, headers=log.risk)
    assert response.status_code == 201, response.text
    by_group = {next(iter(g["group"].values())): g for g in response.json()["body"]["by_group"]}
    frame = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=[int(n % 4 != 0) for n in known],
        y_pred=[n % 2 for n in known],
        sensitive_features=[race(n) for n in known],
    )
    for group, row in frame.by_group.iterrows():
        assert by_group[group]["count"] == sum(race(n) == group for n in known)
        assert by_group[group]["selection_rate"] == pytest.approx(row["sr"], abs=1e-12)
        assert by_group[group]["true_positive_rate"] == pytest.approx(row["tpr"], abs=1e-12)
        assert by_group[group]["false_positive_rate"] == pytest.approx(row["fpr"], abs=1e-12)


def test_performance_per_window_agrees_with_scikit_learn(log: Log) -> None:
    from sklearn.metrics import accuracy_score, recall_score, roc_auc_score

    from charter.client import Charter

    # Four days of decisions, one every 30 minutes (``at`` counts minutes); scores rank them.
    items = [decision(n, decided_at=at(30 * n), score=round((n * 37 % 100) / 100, 2)) for n in range(192)]
    assert log.send(items).status_code == 200
    truth = {n: int((n * 37 % 100) > 40) if n % 7 else 1 for n in range(192)}
    for n in range(0, 192, 2):  # outcomes for every other decision
        log.outcome(f"d-{n}", {"outcome": truth[n]})
    sdk = Charter("http://testserver", token=log.risk["Authorization"].split()[1], http=log.client)
    read = sdk.decision_performance(MODEL, "1.0.0", positive_output="approve", positive_outcome=1, window="1d")
    # Windows are calendar days (UTC); the decisions start at 09:00, so they span five of them.
    day_of = {n: (START + timedelta(minutes=30 * n)).date() for n in range(192)}
    assert read.decisions == 96 and [w.start.date() for w in read.windows] == sorted(set(day_of.values()))
    for window in read.windows:
        known = [n for n in range(0, 192, 2) if day_of[n] == window.start.date()]
        y_true = [truth[n] for n in known]
        y_pred = [n % 2 for n in known]  # decision() approves odd n: none of these
        assert window.rows == len(known)
        assert window.accuracy == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
        assert window.recall == pytest.approx(recall_score(y_true, y_pred, zero_division=0), abs=1e-12)
        assert window.precision is None and "precision" in window.undefined  # nothing predicted positive
        scores = [(n * 37 % 100) / 100 for n in known]
        assert window.auc == pytest.approx(roc_auc_score(y_true, scores), abs=1e-12)
    assert log.events("decision.performance")[0]["details"]["decisions"] == 96
    outsider = log.client.get(
        f"/api/v1/models/{MODEL}/decisions/performance",
        params={"version": "1.0.0", "positive_output": '"approve"'},
        headers=log.outsider,
    )
    assert outsider.status_code == 403
    bad = log.client.get(
        f"/api/v1/models/{MODEL}/decisions/performance",
        params={"version": "1.0.0", "positive_output": '"approve"', "window": "often"},
        headers=log.risk,
    )
    assert bad.status_code == 422


@pytest.mark.slow
@pytest.mark.parametrize("store", ["parquet"])
def test_spark_reads_the_parquet_log_back(log: Log, settings: Settings) -> None:
    from charter.compute.fairness import SqlQuery, compute_statistics
    from charter.compute.fairness.engines.spark_local import local_session

    log.send(batch(0, 30))
    for n in range(0, 30, 3):
        log.outcome(f"d-{n}", {"outcome": n % 2})
    parquet = configured(settings)
    assert parquet is not None
    query = parquet.fairness_query(
        1, 1, features=["race"], positive_output='"approve"', positive_outcome="1", since=None, until=None
    )
    assert query is not None
    duck = compute_statistics(
        SqlQuery(query[0], params=query[1]), y_true="y_true", y_pred="y_pred", sensitive_features="race"
    )
    root = settings.effective_decision_log_dir
    with local_session() as spark:
        # Spark finds the partitions (model_id, date) in the folder names, as Hive tables lay them out.
        for kind in ("decisions", "attributes", "outcomes"):
            spark.read.parquet(str(root / kind)).createOrReplaceTempView(kind)
        frame = spark.sql(
            "SELECT o.outcome = '1' AS y_true, d.output = '\"approve\"' AS y_pred, "
            "get_json_object(a.attributes, '$.race') AS race "
            "FROM decisions d JOIN outcomes o ON o.decision_key = d.decision_key AND o.model_id = d.model_id "
            "LEFT JOIN attributes a ON a.decision_key = d.decision_key AND a.model_id = d.model_id "
            "WHERE d.model_id = 1 AND d.version_id = 1"
        )
        on_spark = compute_statistics(
            frame, y_true="y_true", y_pred="y_pred", sensitive_features="race", engine="spark"
        )
    assert on_spark.equals(duck)
    assert int(duck.rows.sum()) == 10
