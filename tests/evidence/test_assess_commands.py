"""Fairness evidence over a version's logged decisions (SDK and ``charter assess decisions``), and
``charter assess fairness`` on a SQL query and in chunks with a progress bar. The numbers are
checked against Fairlearn on the decisions as they were logged."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from charter.cli import fairness as fairness_cli
from charter.cli.main import app as cli
from charter.client import Charter
from charter.errors import InvalidInput, PermissionDenied
from tests.conftest import PASSWORD, Factory

MODEL, VERSION = "loan-approval", "1.0.0"
START = datetime(2026, 3, 1, tzinfo=UTC)
SINCE, UNTIL = datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 25, tzinfo=UTC)
runner = CliRunner()


@dataclass
class Logged:
    """What was logged, as a frame: one row per decision (``outcome`` None when not known)."""

    frame: pd.DataFrame
    owner: Charter
    risk: Charter

    def assessed(self, since: datetime | None = SINCE, until: datetime | None = UNTIL) -> pd.DataFrame:
        """The decisions an assessment of the window reads: those with an outcome, decided in [since, until)."""
        df = self.frame[self.frame["outcome"].notna()]
        if since is not None:
            df = df[df["decided_at"] >= since]
        if until is not None:
            df = df[df["decided_at"] < until]
        return df.assign(y_true=df["outcome"] == "repaid", y_pred=df["output"] == "approve")


@pytest.fixture
def registered(client: TestClient, factory: Factory, login: Callable[..., dict[str, str]]) -> tuple[Charter, Charter]:
    """The model version, its owner and a risk officer (signed in through the SDK)."""
    factory.user("olivia", "model_owner@credit-risk")
    factory.user("rosa", "risk_officer")
    headers = login("olivia")
    created = client.post("/api/v1/models", json={"name": MODEL, "team": "credit-risk"}, headers=headers)
    assert created.status_code == 201, created.text
    created = client.post(f"/api/v1/models/{MODEL}/versions", json={"version": VERSION}, headers=headers)
    assert created.status_code == 201, created.text
    owner = Charter.login("http://testserver", "olivia", PASSWORD, http=client)
    return owner, Charter.login("http://testserver", "rosa", PASSWORD, http=client)


@pytest.fixture
def logged(registered: tuple[Charter, Charter]) -> Logged:
    """400 decisions over four weeks, three groups (about 180, 120, 100) and two sexes; 3 in 4 outcomes known."""
    owner, risk = registered
    rng = np.random.default_rng(11)
    n = 400
    group = rng.choice(["a", "b", "c"], size=n, p=[0.45, 0.3, 0.25])
    sex = rng.choice(["female", "male"], size=n)
    repaid = rng.random(n) < np.select([group == "a", group == "b"], [0.7, 0.55], 0.5)
    approve = rng.random(n) < np.where(repaid, 0.8, 0.35) * np.select([group == "a", group == "b"], [1.0, 0.8], 0.6)
    decided = [START + timedelta(hours=int(h)) for h in rng.integers(0, 28 * 24, size=n)]
    known = rng.random(n) < 0.75
    outcome = [("repaid" if r else "default") if k else None for r, k in zip(repaid, known, strict=True)]
    frame = pd.DataFrame(
        {
            "decision_id": [f"loan-{i}" for i in range(n)],
            "group": group,
            "sex": sex,
            "output": np.where(approve, "approve", "deny"),
            "outcome": outcome,
            "decided_at": decided,
        }
    )
    owner.log_decisions(
        MODEL,
        [
            {
                "decision_id": row.decision_id,
                "version": VERSION,
                "decided_at": row.decided_at.isoformat(),
                "output": row.output,
                "sensitive_attributes": {"group": row.group, "sex": row.sex},
            }
            for row in frame.itertuples()
        ],
    )
    for row in frame[frame["outcome"].notna()].itertuples():
        owner.record_outcome(MODEL, row.decision_id, row.outcome)
    return Logged(frame, owner, risk)


def assert_agrees_with_fairlearn(body: dict[str, Any], df: pd.DataFrame, feature: str) -> None:
    """Per-group rates and the aggregates over the large-enough groups, as Fairlearn computes them."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    frame = MetricFrame(
        metrics={"select": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=df["y_true"],
        y_pred=df["y_pred"],
        sensitive_features=df[feature],
    )
    by_group = {g["label"]: g for g in body["by_group"]}
    assert sorted(by_group) == sorted(frame.by_group.index)
    for label, row in frame.by_group.iterrows():
        assert by_group[label]["count"] == int((df[feature] == label).sum())
        assert by_group[label]["selection_rate"] == pytest.approx(row["select"], abs=1e-12)
        assert by_group[label]["true_positive_rate"] == pytest.approx(row["tpr"], abs=1e-12)
        assert by_group[label]["false_positive_rate"] == pytest.approx(row["fpr"], abs=1e-12)
    assert not any(g["too_small"] for g in body["by_group"])  # so the aggregates cover the same groups
    y, p, s = df["y_true"], df["y_pred"], df[feature]
    value = {name: a["value"] for name, a in body["aggregates"].items()}
    assert value["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y, p, sensitive_features=s), abs=1e-12
    )
    assert value["demographic_parity_ratio"] == pytest.approx(
        demographic_parity_ratio(y, p, sensitive_features=s), abs=1e-12
    )
    assert value["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, p, sensitive_features=s), abs=1e-12
    )


# -- the SDK ------------------------------------------------------------------------------------------------


def test_sdk_assesses_logged_decisions_as_fairlearn_does(logged: Logged) -> None:
    # The owner may write evidence but may not read the sensitive attributes it needs.
    with pytest.raises(PermissionDenied):
        logged.owner.assess_logged_decisions(MODEL, VERSION, sensitive_features="group", positive_output="approve")
    with pytest.raises(InvalidInput, match="no logged decision with a known outcome in that window"):
        logged.risk.assess_logged_decisions(
            MODEL, VERSION, sensitive_features="group", positive_output="approve", since="2030-01-01T00:00:00Z"
        )
    assert logged.risk.list_evidence(MODEL, VERSION) == []
    evidence = logged.risk.assess_logged_decisions(
        MODEL,
        VERSION,
        sensitive_features="group",
        positive_output="approve",
        positive_outcome="repaid",
        since=SINCE,
        until="2026-03-25T00:00:00",  # no zone: UTC
        n_resamples=0,
        title="Approvals in March",
    )
    df = logged.assessed()
    assert 150 < len(df) < len(logged.assessed(since=None, until=None)) - 30  # the window matters
    assert evidence.kind == "fairness" and evidence.title == "Approvals in March" and evidence.body is not None
    assert_agrees_with_fairlearn(evidence.body, df, "group")
    assert f"{len(df):,} logged decisions with outcomes" in evidence.body["data_description"]
    assert [e.id for e in logged.risk.list_evidence(MODEL, VERSION)] == [evidence.id]


def test_sdk_reference_group_thresholds_and_intersections(logged: Logged) -> None:
    from fairlearn.metrics import MetricFrame, false_positive_rate

    df = logged.assessed(since=None, until=None)
    against = logged.risk.assess_logged_decisions(
        MODEL,
        VERSION,
        sensitive_features=["group"],
        positive_output="approve",
        positive_outcome="repaid",
        reference_group="a",
        thresholds={"demographic_parity_ratio": (">=", 0.5)},
        n_resamples=0,
    )
    assert against.body is not None and against.summary["mode"] == "reference"
    assert against.body["reference_group"] == {"group": "a"}
    fpr = MetricFrame(
        metrics=false_positive_rate, y_true=df["y_true"], y_pred=df["y_pred"], sensitive_features=df["group"]
    )
    c = next(g for g in against.body["by_group"] if g["label"] == "c")
    assert c["vs_reference"]["false_positive_rate"]["ratio"] == pytest.approx(
        fpr.by_group["c"] / fpr.by_group["a"], abs=1e-12
    )
    assert [check["metric"] for check in against.body["thresholds"]["checks"]] == ["demographic_parity_ratio"]
    both = logged.risk.assess_logged_decisions(
        MODEL, VERSION, sensitive_features=["group", "sex"], positive_output="approve", positive_outcome="repaid"
    )
    assert both.body is not None
    counts = {tuple(g["group"].values()): g["count"] for g in both.body["by_group"]}
    assert counts == {k: int(v) for k, v in df.groupby(["group", "sex"]).size().items()}


# -- the command line ---------------------------------------------------------------------------------------


@pytest.fixture
def on_the_server(home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line on the server's own database and keys."""
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", db_url)
    monkeypatch.setenv("CHARTER_AUDIT_CHECKPOINT_INTERVAL", "0")


@pytest.fixture
def local(logged: Logged, on_the_server: None) -> Logged:
    return logged


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_cli_assesses_logged_decisions_as_fairlearn_does(local: Logged) -> None:
    code, out = run(
        "assess", "decisions", "-m", MODEL, "-v", VERSION, "--sensitive", "group", "--positive-output", "approve",
        "--positive-outcome", "repaid", "--since", "2026-03-04", "--until", "2026-03-25T00:00:00Z",
        "--resamples", "0", "--json",
    )  # fmt: skip
    assert code == 0, out
    evidence = json.loads(out)
    assert_agrees_with_fairlearn(evidence["body"], local.assessed(), "group")
    assert evidence["created_by"].startswith("system:cli@")  # the local operator
    # The same evidence is visible to the server's users.
    assert [e.id for e in local.risk.list_evidence(MODEL, VERSION)] == [evidence["id"]]


def test_cli_table_reference_and_errors(local: Logged) -> None:
    code, out = run(
        "assess", "decisions", "-m", MODEL, "-v", VERSION, "--sensitive", "group", "--positive-output", "approve",
        "--positive-outcome", "repaid", "--reference", "a", "--resamples", "0",
    )  # fmt: skip
    assert code == 0, out
    assert "Groups (group)" in out and "(reference)" in out and "Stored as evidence" in out
    # Outputs were logged as text: the number 1 matches none of them, and the command says so.
    code, out = run(
        "assess", "decisions", "-m", MODEL, "-v", VERSION, "--sensitive", "group", "--positive-output", "1",
        "--resamples", "0",
    )  # fmt: skip
    assert code == 0, out
    assert "No decision in the window had the output 1 (int)" in " ".join(out.split())
    stored = len(local.risk.list_evidence(MODEL, VERSION))
    cases = [
        (["--since", "last tuesday"], 2, "--since must be an ISO 8601 time"),
        (["--sensitive", ""], 2, "sensitive_features"),
        (["-v", "9.9.9"], 1, "9.9.9"),
        (["--since", "2031-01-01"], 1, "no logged decision with a known outcome in that window"),
    ]
    for args, want, message in cases:
        options = {"-m": MODEL, "-v": VERSION, "--sensitive": "group", "--positive-output": "approve"}
        options.update(zip(args[::2], args[1::2], strict=True))
        code, out = run("assess", "decisions", *[part for pair in options.items() for part in pair], "--resamples", "0")
        assert (code, message in " ".join(out.split())) == (want, True), out
    assert len(local.risk.list_evidence(MODEL, VERSION)) == stored


def predictions(n: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < 0.5).astype(np.int64)
    p = (rng.random(n) < np.where(group == "a", 0.6, 0.4)).astype(np.int64)
    return pd.DataFrame({"group": group, "y": y, "p": p})


def test_cli_assess_fairness_on_a_query(
    registered: tuple[Charter, Charter], on_the_server: None, tmp_path: Path
) -> None:
    data = predictions(600)
    database = tmp_path / "scores.db"
    with sqlite3.connect(database) as con:
        data.to_sql("scores", con, index=False)
    sql = 'SELECT y, p, "group" FROM scores'
    url = f"sqlite:///{database}"
    code, out = run(
        "assess", "fairness", "-m", MODEL, "-v", VERSION, "--sql", sql, "--db", url, "--label", "y", "--pred", "p",
        "--sensitive", "group", "--json",
    )  # fmt: skip
    assert code == 0, out
    evidence = json.loads(out)
    assert evidence["data_fingerprint"] == "sha256:" + hashlib.sha256(f"{sql}\0{url}".encode()).hexdigest()
    assert "the SQL query on sqlite:///" in evidence["body"]["data_description"]
    assert_agrees_with_fairlearn(evidence["body"], data.assign(y_true=data["y"], y_pred=data["p"]), "group")
    code, out = run(
        "assess", "fairness", "-m", MODEL, "-v", VERSION, "--sql", sql, "--data", str(database), "--label", "y",
        "--pred", "p", "--sensitive", "group",
    )  # fmt: skip
    assert code == 2 and "Give either --data or --sql" in out


def test_cli_assess_fairness_reports_progress_on_large_inputs(
    registered: tuple[Charter, Charter], on_the_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over the chunk threshold is read in chunks, and the bar is told how far the reading got.

    (Parquet: the progress counts rows. For a CSV file it counts the bytes Arrow has read, and Arrow
    reads a small file ahead whole, so only a large one shows steps.)"""
    data = predictions(15_000)
    path = tmp_path / "scores.parquet"
    data.to_parquet(path, index=False)
    seen: list[tuple[int, int | None]] = []
    update = fairness_cli.ReadProgress.update

    def spy(self: fairness_cli.ReadProgress, done: int, total: int | None) -> None:
        seen.append((done, total))
        update(self, done, total)

    monkeypatch.setattr(fairness_cli.ReadProgress, "update", spy)
    monkeypatch.setattr(fairness_cli, "err", Console(file=io.StringIO(), force_terminal=True))
    monkeypatch.setattr(fairness_cli, "CHUNK_BYTES", path.stat().st_size - 1)
    monkeypatch.setattr(fairness_cli, "CHUNK_ROWS", 2000)
    args = ["--label", "y", "--pred", "p", "--sensitive", "group", "--json"]
    code, out = run("assess", "fairness", "-m", MODEL, "-v", VERSION, "--data", str(path), *args)
    assert code == 0, out
    assert seen == [(done, len(data)) for done in [*range(2000, len(data), 2000), len(data)]]
    counts = {g["label"]: g["count"] for g in json.loads(out)["body"]["by_group"]}
    assert counts == data["group"].value_counts().to_dict()
    # Under the threshold: read whole, no bar, no callback.
    seen.clear()
    monkeypatch.setattr(fairness_cli, "CHUNK_BYTES", path.stat().st_size)
    assert run("assess", "fairness", "-m", MODEL, "-v", VERSION, "--data", str(path), *args)[0] == 0
    assert seen == []
