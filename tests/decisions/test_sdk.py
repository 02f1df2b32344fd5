"""The decision log through the SDK, in process: batches, one decision, the decorator, outcomes, search, export."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from charter.client import Charter
from charter.client.decisions import new_decision_id
from charter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.conftest import PASSWORD
from tests.decisions.conftest import MODEL, Log, decision

URL = "http://testserver"


def sdk(client: TestClient, username: str) -> Charter:
    return Charter.login(URL, username, PASSWORD, http=client)


@pytest.fixture
def owner(log: Log) -> Charter:
    return sdk(log.client, "olivia")


@pytest.fixture
def risk(log: Log) -> Charter:
    return sdk(log.client, "rosa")


def test_log_in_batches_search_record_outcomes_and_export(owner: Charter, risk: Charter) -> None:
    def generated() -> Iterator[dict[str, Any]]:
        for n in range(1, 26):
            yield decision(n, sensitive_attributes={"sex": "female" if n % 2 else "male"})

    result = owner.log_decisions(MODEL, generated(), personal_fields=["name", "email"], batch_size=10)
    assert (result.received, result.stored, result.duplicates) == (25, 25, 0)
    assert result.treatment == {"1.0.0": "pseudonymised"}
    # Sending everything again is safe.
    again = owner.log_decisions(MODEL, generated(), personal_fields=["name", "email"], batch_size=10)
    assert (again.stored, again.duplicates) == (0, 25)

    found = list(owner.decisions(MODEL, page_size=7))
    assert [d.decision_id for d in found] == [f"d-{n}" for n in range(25, 0, -1)]
    assert found[0].inputs["email"].startswith("ps:") and found[0].sensitive_attributes is None
    assert found[0].explanation is not None and found[0].explanation.attributions == {"income": 0.7, "name": 0.0}
    assert [d.decision_id for d in owner.decisions(MODEL, output="deny", since="2026-01-05T09:20:00Z")] == [
        "d-24",
        "d-22",
        "d-20",
    ]
    with pytest.raises(PermissionDenied):
        owner.decision_page(MODEL, attributes=True)
    assert risk.decision_page(MODEL, decision_id="d-3").items[0].sensitive_attributes == {"sex": "female"}

    owned = owner.record_outcome(MODEL, "d-3", {"repaid": True}, observed_at=datetime(2026, 6, 1, tzinfo=UTC))
    assert owned.outcome == {"repaid": True} and owned.outcome_at == datetime(2026, 6, 1, tzinfo=UTC)
    with pytest.raises(Conflict):
        owner.record_outcome(MODEL, "d-3", {"repaid": False})
    assert owner.record_outcome(MODEL, "d-3", {"repaid": False}, replace=True).outcome == {"repaid": False}
    with pytest.raises(NotFound):
        owner.record_outcome(MODEL, "d-404", 1)
    assert [d.decision_id for d in owner.decisions(MODEL, has_outcome=True)] == ["d-3"]

    exported = list(risk.export_decisions(MODEL, version="1.0.0", until="2026-01-05T09:04:00Z"))
    assert [d.decision_id for d in exported] == ["d-1", "d-2", "d-3"]
    assert exported[2].outcome == {"repaid": False} and exported[2].sensitive_attributes == {"sex": "female"}


def test_log_model_decision_and_the_errors_it_raises(owner: Charter, log: Log) -> None:
    decision_id = owner.log_model_decision(
        MODEL,
        version="2.0.0",
        inputs={"name": "Ada", "income": np.float64(5200.5), "history": np.array([1, 0, 1])},
        output=np.int64(1),
        score=0.91,
        explanation="Stable income",
        subject="customer-ada",
        personal_fields=["name"],
    )
    (logged,) = owner.decisions(MODEL, decision_id=decision_id)
    assert logged.version == "2.0.0" and logged.output == 1 and logged.score == 0.91
    assert logged.inputs["income"] == 5200.5 and logged.inputs["history"] == [1, 0, 1]
    assert logged.inputs["name"].startswith("enc:")  # version 2.0.0 was trained on special-category data
    assert logged.explanation is not None and logged.explanation.text == "Stable income"
    assert logged.subject is not None and logged.subject.startswith("ps:")
    assert [d.decision_id for d in owner.decisions(MODEL, subject="customer-ada")] == [decision_id]
    with pytest.raises(NotFound, match=r"3\.0\.0"):
        owner.log_model_decision(MODEL, version="3.0.0", inputs={}, output=0)
    with pytest.raises(Conflict):
        owner.log_model_decision(MODEL, version="2.0.0", inputs={}, output=0, decision_id=decision_id)
    with pytest.raises(InvalidInput):
        owner.log_decisions(MODEL, [{"decision_id": "x"}])
    outsider = sdk(log.client, "otto")
    with pytest.raises(PermissionDenied):
        outsider.log_model_decision(MODEL, version="1.0.0", inputs={}, output=0)


def test_the_decorator_logs_every_call_and_returns_the_result_unchanged(owner: Charter) -> None:
    logger = owner.decision_logger(MODEL, version="1.0.0", personal_fields=["email"], subject="email")

    @logger
    def predict(applicant: dict[str, Any]) -> tuple[str, float]:
        score = applicant["income"] / 10_000
        return ("approve" if score > 0.5 else "deny"), score

    assert predict({"email": "a@example.com", "income": 7000}) == ("approve", 0.7)
    assert predict({"email": "b@example.com", "income": 2000}) == ("deny", 0.2)

    # A method, called with keyword arguments: its arguments by name are the inputs (``self`` left out).
    class Scorer:
        threshold = 0.5

        @logger
        def score(self, income: float, debts: float = 0.0) -> tuple[str, float]:
            value = income / (income + debts + 1)
            return ("approve" if value > self.threshold else "deny"), value

    assert Scorer().score(900, debts=100) == ("approve", 900 / 1001)

    logged = list(owner.decisions(MODEL))
    assert len(logged) == 3
    method, second, first = logged
    assert (first.output, first.score, first.inputs["income"]) == ("approve", 0.7, 7000)
    assert first.inputs["email"].startswith("ps:") and first.subject == first.inputs["email"]
    assert (second.output, second.score) == ("deny", 0.2)
    assert method.inputs == {"income": 900, "debts": 100} and method.output == "approve"
    assert len({d.decision_id for d in logged}) == 3


def test_a_buffering_decorator_sends_batches_and_flushes_at_the_end(owner: Charter, log: Log) -> None:
    with owner.decision_logger(MODEL, version="1.0.0", batch_size=3) as logger:

        @logger
        def predict(x: float) -> float:
            return x * 2

        results = [predict(float(n)) for n in range(7)]
        assert results == [n * 2.0 for n in range(7)]  # no score: the whole result is the output
        assert len(list(owner.decisions(MODEL))) == 6  # two full batches sent, one decision waiting
    assert sorted(d.output for d in owner.decisions(MODEL)) == [n * 2.0 for n in range(7)]
    assert [e["details"]["stored"] for e in reversed(log.events("decision.log"))] == [3, 3, 1]


def test_a_decorator_that_cannot_log_raises_or_warns_as_asked(owner: Charter) -> None:
    strict = owner.decision_logger(MODEL, version="9.9.9")

    @strict
    def predict(x: int) -> int:
        return x + 1

    with pytest.raises(NotFound):
        predict(1)

    lenient = owner.decision_logger(MODEL, version="9.9.9", on_error="warn")

    @lenient
    def tolerant(x: int) -> int:
        return x + 1

    with pytest.warns(UserWarning, match="could not log 1 decisions"):
        assert tolerant(1) == 2
    # Kept for the next flush; once the version exists the buffered decision goes through.
    owner.create_version(MODEL, "9.9.9")
    lenient.flush()
    assert [d.inputs for d in owner.decisions(MODEL)] == [{"x": 1}]


def test_fresh_decision_ids_grow_with_time() -> None:
    ids = [new_decision_id() for _ in range(1000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    times = [i[:16] for i in ids]  # the time in nanoseconds, as fixed-width hex: sorts as it grows
    assert times == sorted(times)
    assert len(set(ids)) == 1000
    assert [i[:16] for i in ids] == sorted(i[:16] for i in ids)
