"""``charter fairness FILE ...``: no server, no database, no settings; tested on a local Typer app."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from charter.cli import fairness as command
from charter.compute.fairness import DEFAULT_MIN_GROUP_SIZE, assess
from charter.demo.data import compas_propublica

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
runner = CliRunner()


def app() -> typer.Typer:
    local = typer.Typer()
    command.register(local)

    @local.callback()
    def _root() -> None:  # a callback keeps "fairness" a named sub-command, as in charter.cli.main
        """Test app."""

    return local


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command, "console", Console(width=200))  # prints to the runner's stdout


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app(), ["fairness", *args])
    return result.exit_code, " ".join(result.output.split())  # errors wrap at 80 columns


@pytest.fixture(scope="module")
def compas_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = DATA / "compas_two_years.csv"
    if not source.exists():
        pytest.skip(f"{source} is not there")
    df = compas_propublica(DATA)
    df = df.assign(pred=df.score_text.isin(["Medium", "High"]).astype(int), score=df.decile_score / 10)
    path = tmp_path_factory.mktemp("cli") / "compas.csv"
    df.to_csv(path, index=False)
    df.to_parquet(path.with_suffix(".parquet"), index=False)
    return path


def test_table_output(compas_csv: Path) -> None:
    code, out = invoke(str(compas_csv), "--label", "two_year_recid", "--pred", "pred", "--sensitive", "race")
    assert code == 0, out
    for text in ("African-American", "demographic_parity_ratio", "Four-fifths rule: fail", "fail (>= 0.8)"):
        assert text in out
    assert "Too small (< 30 rows), left out of the aggregates: Native American (11)" in out
    assert "FAIL" in out and "fail" in out  # the four-fifths rule fails on COMPAS


def test_json_output_is_the_library_result(compas_csv: Path) -> None:
    code, out = invoke(
        str(compas_csv), "--label", "two_year_recid", "--pred", "pred", "--sensitive", "race,sex",
        "--score", "score", "--format", "json", "--resamples", "50",
    )  # fmt: skip
    assert code == 0, out
    body = json.loads(out)
    expected = assess(
        str(compas_csv), y_true="two_year_recid", y_pred="pred", sensitive_features=["race", "sex"], scores="score",
        n_resamples=50, thresholds={"demographic_parity_ratio": (">=", 0.8)},
    )  # fmt: skip
    assert body["features"] == ["race", "sex"] and body["engine"] == "numpy"
    for name, aggregate in expected.aggregates.items():
        assert body["aggregates"][name]["value"] == aggregate.value, name
    assert {c["metric"] for c in body["thresholds"]["checks"]} == {
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equal_opportunity_difference",
    }
    assert body["by_group"][0]["auc"] is not None


def test_reference_weight_and_parquet(compas_csv: Path) -> None:
    code, out = invoke(
        str(compas_csv.with_suffix(".parquet")), "--label", "two_year_recid", "--pred", "pred",
        "--sensitive", "race", "--reference", "Caucasian", "--weight", "priors_count", "--format", "json",
        "--resamples", "0", "--min-group-size", "0",
    )  # fmt: skip
    assert code == 0, out
    body = json.loads(out)
    assert body["mode"] == "reference" and body["reference_group"] == {"race": "Caucasian"}
    assert body["statistics"]["weighted"] is True and body["min_group_size"] == 0
    assert body["aggregates"]["demographic_parity_difference"]["interval"] is None


def test_string_labels_need_the_positive_label(tmp_path: Path) -> None:
    path = tmp_path / "adult.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "income": rng.choice(["<=50K", ">50K"], 400),
            "pred": rng.integers(0, 2, 400),
            "sex": rng.choice(["F", "M"], 400),
        }
    ).to_csv(path, index=False)
    code, out = invoke(str(path), "--label", "income", "--pred", "pred", "--sensitive", "sex")
    assert code == 1 and "positive_label is required: the labels seen are ['<=50K', '>50K']" in out
    code, out = invoke(
        str(path), "--label", "income", "--pred", "pred", "--sensitive", "sex", "--positive-label", ">50K"
    )
    assert code == 0, out


def test_bad_column_names_the_available_ones(compas_csv: Path) -> None:
    code, out = invoke(str(compas_csv), "--label", "two_year_recid", "--pred", "pred", "--sensitive", "ethnicity")
    assert code == 2
    assert "column 'ethnicity' not found" in out and "available columns: sex, age, age_cat, race" in out


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    code, out = invoke(str(tmp_path / "nope.csv"), "--label", "a", "--pred", "b", "--sensitive", "c")
    assert code == 2 and "no such file" in out
    (tmp_path / "data.xlsx").write_bytes(b"")
    code, out = invoke(str(tmp_path / "data.xlsx"), "--label", "a", "--pred", "b", "--sensitive", "c")
    assert code == 2 and "not a Parquet or CSV file" in out


def test_large_files_are_read_in_chunks_with_a_progress_bar(compas_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = [str(compas_csv), "--label", "two_year_recid", "--pred", "pred", "--sensitive", "race", "--format", "json"]
    whole = json.loads(invoke(*args)[1])
    screen = io.StringIO()
    monkeypatch.setattr(command, "CHUNK_BYTES", 0)
    monkeypatch.setattr(command, "CHUNK_ROWS", 1000)
    monkeypatch.setattr(command, "err", Console(file=screen, force_terminal=True, width=100))
    code, out = invoke(*args)
    assert code == 0, out
    assert json.loads(out)["statistics"] == whole["statistics"]
    assert "reading" in screen.getvalue()  # the bar was drawn (on the terminal, not in the output)


def test_help_documents_the_library_default() -> None:
    code, out = invoke("--help")
    assert code == 0
    assert f"(default {DEFAULT_MIN_GROUP_SIZE})" in " ".join(out.split())


def test_importing_the_command_loads_no_numpy() -> None:
    """``charter`` starts fast and starts no thread: NumPy (and its BLAS) is imported when the command runs."""
    code = (
        "import sys; import charter.cli.fairness; "
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_duckdb_engine_from_the_command_line(compas_csv: Path) -> None:
    args = [str(compas_csv), "--label", "two_year_recid", "--pred", "pred", "--sensitive", "race", "--format", "json"]
    numpy_body = json.loads(invoke(*args)[1])
    code, out = invoke(*args, "--engine", "duckdb")
    assert code == 0, out
    body = json.loads(out)
    assert body["engine"] == "duckdb" and body["statistics"] == numpy_body["statistics"]


# -- --sql instead of a file --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compas_sqlite(compas_csv: Path) -> str:
    path = compas_csv.with_suffix(".db")
    with sqlite3.connect(path) as con:
        pd.read_csv(compas_csv).to_sql("predictions", con, index=False)
    return f"sqlite:///{path}"


def test_sql_over_parquet_agrees_with_fairlearn(compas_csv: Path) -> None:
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    parquet = compas_csv.with_suffix(".parquet")
    sql = f"SELECT two_year_recid, pred, race FROM read_parquet('{parquet}') WHERE age >= 21"
    code, out = invoke("--sql", sql, "--label", "two_year_recid", "--pred", "pred", "--sensitive", "race",
                       "--format", "json", "--resamples", "0")  # fmt: skip
    assert code == 0, out
    body = json.loads(out)
    df = pd.read_parquet(parquet)
    df = df[df["age"] >= 21]
    frame = MetricFrame(
        metrics={"select": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=df["two_year_recid"],
        y_pred=df["pred"],
        sensitive_features=df["race"],
    )
    by_group = {g["label"]: g for g in body["by_group"]}
    assert sorted(by_group) == sorted(frame.by_group.index)
    for race, row in frame.by_group.iterrows():
        assert by_group[race]["count"] == int((df["race"] == race).sum())
        assert by_group[race]["selection_rate"] == pytest.approx(row["select"], abs=1e-12)
        assert by_group[race]["true_positive_rate"] == pytest.approx(row["tpr"], abs=1e-12)
        assert by_group[race]["false_positive_rate"] == pytest.approx(row["fpr"], abs=1e-12)
    # Charter leaves groups under 30 rows out of the aggregates; Fairlearn over the same large groups:
    large = df[df["race"].isin([g for g, v in by_group.items() if not v["too_small"]])]
    assert len(large) < len(df)
    y, p, race = large["two_year_recid"], large["pred"], large["race"]
    aggregates = {name: a["value"] for name, a in body["aggregates"].items()}
    assert aggregates["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y, p, sensitive_features=race), abs=1e-12
    )
    assert aggregates["demographic_parity_ratio"] == pytest.approx(
        demographic_parity_ratio(y, p, sensitive_features=race), abs=1e-12
    )
    assert aggregates["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, p, sensitive_features=race), abs=1e-12
    )


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_sql_gives_the_statistics_of_the_file(compas_csv: Path, compas_sqlite: str, engine: str) -> None:
    args = ["--label", "two_year_recid", "--pred", "pred", "--sensitive", "race,sex", "--score", "score"]
    args += ["--format", "json", "--resamples", "0"]
    from_file = json.loads(invoke(str(compas_csv), *args)[1])
    sql = f"SELECT * FROM read_csv('{compas_csv}')"
    code, out = invoke("--sql", sql, *args, "--engine", engine)
    assert code == 0, out
    assert json.loads(out)["statistics"] == from_file["statistics"]
    if engine == "numpy":
        code, out = invoke("--sql", "SELECT * FROM predictions", "--db", compas_sqlite, *args)
        assert code == 0, out
        assert json.loads(out)["statistics"] == from_file["statistics"]


def test_sql_table_names_the_query(compas_sqlite: str) -> None:
    code, out = invoke("--sql", "SELECT * FROM predictions", "--db", compas_sqlite, "--label", "two_year_recid",
                       "--pred", "pred", "--sensitive", "race", "--resamples", "0")  # fmt: skip
    assert code == 0, out
    assert "Groups (race) in the SQL query on sqlite:///" in out and "African-American" in out


def test_sql_usage_errors(compas_csv: Path, compas_sqlite: str) -> None:
    roles = ["--label", "two_year_recid", "--pred", "pred", "--sensitive", "race"]
    cases = [
        ([str(compas_csv), "--sql", "SELECT 1", *roles], 2, "Give either PATH or --sql (exactly one of them)."),
        ([*roles], 2, "Give either PATH or --sql (exactly one of them)."),
        ([str(compas_csv), "--db", compas_sqlite, *roles], 2, "--db names the database a --sql query runs on"),
        (["--sql", "SELEC 1", *roles], 2, "cannot run the SQL query: Parser Error"),
        (["--sql", "SELECT * FROM nope", "--db", compas_sqlite, *roles], 2, "no such table: nope"),
        (["--sql", "SELECT two_year_recid, pred FROM predictions", "--db", compas_sqlite, *roles], 2,
         "column 'race' not found; available columns: two_year_recid, pred"),
        (["--sql", "SELECT 1", "--db", "postgresql://u:pw-secret@127.0.0.1:1/x", *roles], 2,
         "cannot run the SQL query on postgresql://u:***@127.0.0.1:1/x"),
        (["--sql", "SELECT 1", "--db", compas_sqlite, *roles, "--engine", "duckdb"], 1,
         "read by the numpy engine"),
        # The data's own errors stay 1, as for a file.
        (["--sql", "SELECT decile_score AS two_year_recid, pred, race FROM predictions", "--db", compas_sqlite,
          *roles], 1, "labels must be binary"),
    ]  # fmt: skip
    for args, want_code, message in cases:
        code, out = invoke(*args)
        assert (code, message in out) == (want_code, True), out
        assert "pw-secret" not in out


def test_sql_progress_bar_counts_rows(compas_sqlite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(command, "err", Console(file=screen, force_terminal=True, width=100))
    seen: list[tuple[int, int | None]] = []
    update = command.ReadProgress.update

    def spy(self: command.ReadProgress, done: int, total: int | None) -> None:
        seen.append((done, total))
        update(self, done, total)

    monkeypatch.setattr(command.ReadProgress, "update", spy)
    monkeypatch.setattr("charter.compute.fairness.sql.DATABASE_CHUNK_ROWS", 2000)
    code, out = invoke("--sql", "SELECT * FROM predictions", "--db", compas_sqlite, "--label", "two_year_recid",
                       "--pred", "pred", "--sensitive", "race", "--format", "json", "--resamples", "0")  # fmt: skip
    assert code == 0, out
    assert seen == [(2000, None), (4000, None), (6000, None), (6172, None)]
    assert "reading: 6,172 rows" in screen.getvalue()
