"""`charter metrics import` (CSV and Parquet, long and wide) and `charter metrics report`, in process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from charter.cli.main import app as cli
from charter.config import Settings
from charter.db.engine import Database
from charter.metrics import service
from charter.security.principal import Principal

runner = CliRunner()
READER = Principal.system("tests")


def run(*args: str, code: int = 0, raw: bool = False) -> str:
    """The output, with Rich's line wrapping undone (unless ``raw``)."""
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output if raw else " ".join(result.output.split())


@pytest.fixture
def env(home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CHARTER_HOME", str(home))
    monkeypatch.setenv("CHARTER_DATABASE_URL", db_url)
    monkeypatch.setenv("CHARTER_AUDIT_CHECKPOINT_INTERVAL", "0")
    run("init", "--admin-password", "the admin password")
    run("team", "create", "credit-risk")
    run("model", "register", "credit-scoring", "--team", "credit-risk", "--version", "1.0.0")
    return Settings()


def read(settings: Settings, **query: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], list[float]]:
    db = Database(settings.effective_database_url)
    try:
        with db.session(write=False) as session:
            found = service.read_series(
                session,
                READER,
                "credit-scoring",
                service.SeriesQuery(resolution="raw", **query),  # type: ignore[arg-type]
            )
    finally:
        db.dispose()
    return {(s.name, tuple(sorted(s.segment.items()))): s.value for s in found.series}


def test_import_a_long_csv_with_segments_then_again(env: Settings, tmp_path: Path) -> None:
    times = pd.date_range("2026-03-01", periods=12_000, freq="min", tz="UTC")
    frame = pd.DataFrame(
        {
            "time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "metric": np.where(np.arange(12_000) % 2 == 0, "accuracy", "latency_ms"),
            "value": np.arange(12_000, dtype=float),
            "region": np.where(np.arange(12_000) % 3 == 0, "eu", "us"),
        }
    )
    path = tmp_path / "metrics.csv"
    frame.to_csv(path, index=False)
    out = run(
        "metrics",
        "import",
        str(path),
        "--model",
        "credit-scoring",
        "--version",
        "1.0.0",
        "--name-col",
        "metric",
        "--value-col",
        "value",
        "--segment-col",
        "region",
    )
    assert "Imported 12,000 points into 4 series" in out and "0 already stored" in out
    found = read(env, version="1.0.0")
    eu_accuracy = frame[(frame.metric == "accuracy") & (frame.region == "eu")]["value"].tolist()
    assert found[("accuracy", (("region", "eu"),))] == eu_accuracy
    assert sum(len(v) for v in found.values()) == 12_000
    again = run(
        "metrics",
        "import",
        str(path),
        "-m",
        "credit-scoring",
        "-v",
        "1.0.0",
        "--name-col",
        "metric",
        "--value-col",
        "value",
        "--segment-col",
        "region",
    )
    assert "Imported 0 points" in again and "12,000 already stored" in again


def test_import_a_wide_parquet_skipping_empty_cells(env: Settings, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2026-03-01", periods=100, freq="h"),  # no zone: UTC
            "accuracy": np.linspace(0.9, 0.8, 100),
            "requests": np.arange(100),
            "note": ["x"] * 100,  # not numeric: not a metric
        }
    )
    frame.loc[5, "accuracy"] = np.nan
    path = tmp_path / "metrics.parquet"
    frame.to_parquet(path)
    out = run("metrics", "import", str(path), "--model", "credit-scoring")
    assert "Imported 199 points into 2 series" in out and "1 empty cells skipped" in out
    found = read(env)
    assert found[("requests", ())] == [float(i) for i in range(100)]
    assert len(found[("accuracy", ())]) == 99


def test_import_refusals(env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("when,accuracy\n2026-03-01T00:00:00Z,0.9\n")
    out = run("metrics", "import", str(path), "--model", "credit-scoring", code=2)
    assert "column 'time' not found" in out
    assert "go together" in run("metrics", "import", str(path), "-m", "credit-scoring", "--name-col", "x", code=2)
    assert "is not a file" in run("metrics", "import", str(tmp_path / "none.csv"), "-m", "credit-scoring", code=2)
    path.write_text("time,accuracy\nyesterday,0.9\n")
    assert "not a time" in run("metrics", "import", str(path), "-m", "credit-scoring", code=1)
    path.write_text("time,bad name\n2026-03-01T00:00:00Z,0.9\n")
    assert "not a metric name" in run("metrics", "import", str(path), "-m", "credit-scoring", code=1)
    path.write_text("time,accuracy\n2026-03-01T00:00:00Z,0.9\n")
    assert "No model 'nope'" in run("metrics", "import", str(path), "-m", "nope", code=1)
    assert "no version" in run("metrics", "import", str(path), "-m", "credit-scoring", "-v", "9", code=1)


def test_report_as_table_and_json(env: Settings, tmp_path: Path) -> None:
    values = np.r_[np.full(40, 0.92), np.full(40, 0.80)] + np.random.default_rng(0).normal(scale=0.003, size=80)
    frame = pd.DataFrame({"time": pd.date_range("2026-03-01", periods=80, freq="h"), "accuracy": values})
    path = tmp_path / "acc.csv"
    frame.to_csv(path, index=False)
    run("metrics", "import", str(path), "--model", "credit-scoring")
    table = run("metrics", "report", "-m", "credit-scoring", "--threshold", "accuracy:>=:0.85")
    assert "breaches accuracy >= 0.85 at 40 points, the latest 2026-03-02 16:00 to 2026-03-04 07:00" in table
    assert "accuracy: mean 0.9198 -> 0.8009 at 2026-03-02 16:00" in table
    body = json.loads(
        run("metrics", "report", "-m", "credit-scoring", "--format", "json", "--since", "2026-03-01T10:00")
    )
    (series,) = body["series"]
    assert series["points"] == 70 and series["change_points"][0]["time"] == "2026-03-02T16:00:00Z"
    assert "--since takes an ISO 8601 time" in run(
        "metrics", "report", "-m", "credit-scoring", "--since", "May", code=2
    )
    assert "NAME:OP:VALUE" in run("metrics", "report", "-m", "credit-scoring", "--threshold", "accuracy", code=1)
