"""``charter drift REFERENCE CURRENT``: no server, no database, no settings; tested on a local Typer app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from charter.cli import drift as command
from charter.compute.drift import drift
from tests.compute.drift.engines import adult_split

runner = CliRunner()


def app() -> typer.Typer:
    local = typer.Typer()
    command.register(local)

    @local.callback()
    def _root() -> None:  # a callback keeps "drift" a named sub-command, as in charter.cli.main
        """Test app."""

    return local


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command, "console", Console(width=250))  # prints to the runner's stdout


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app(), ["drift", *args])
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    men, women = adult_split()
    folder = tmp_path_factory.mktemp("drift-cli")
    men.to_csv(folder / "men.csv", index=False)
    women.to_parquet(folder / "women.parquet", index=False)
    return folder / "men.csv", folder / "women.parquet"


def test_json_names_every_statistic(files: tuple[Path, Path]) -> None:
    code, out = invoke(str(files[0]), str(files[1]), "--columns", "age,hours_per_week,occupation", "--target", "income",
                       "--format", "json")  # fmt: skip
    assert code == 0, out
    body = json.loads(out)
    numeric = {"psi", "ks_statistic", "ks_pvalue", "wasserstein_distance", "jensenshannon_distance"}
    categorical = {"psi", "chi2_statistic", "chi2_pvalue", "jensenshannon_distance"}
    for name in ("age", "hours_per_week"):
        column = body["columns"][name]
        assert column["kind"] == "numeric" and numeric <= set(column) and isinstance(column["drifted"], bool)
        assert column["ks_method"] == "exact" and column["ks_error_bound"] == 0.0
    occupation = body["columns"]["occupation"]
    assert occupation["kind"] == "categorical" and categorical <= set(occupation)
    assert occupation["missing_categories"] == ["Armed-Forces"]
    assert body["target"]["column"] == "income" and body["target"]["kind"] == "categorical"
    assert {"drift_share", "dataset_drift", "verdict", "drifted_columns"} <= set(body)
    assert body["verdict"] in ("drift", "no_drift")
    library = drift(str(files[0]), str(files[1]), columns=["age", "hours_per_week", "occupation"], target="income")
    assert body == json.loads(json.dumps(library.to_dict()))


def test_table_output_and_fail_on_drift(files: tuple[Path, Path]) -> None:
    code, out = invoke(str(files[0]), str(files[1]), "--columns", "relationship,age")
    assert code == 0, out
    for text in ("Drift by column", "relationship", "jensenshannon_distance", "DRIFT", "2 of 2 columns drifted"):
        assert text in out
    code, out = invoke(str(files[0]), str(files[1]), "--columns", "relationship,age", "--fail-on-drift")
    assert code == 1
    code, out = invoke(str(files[0]), str(files[1]), "--columns", "fnlwgt", "--fail-on-drift")
    assert code == 0 and "NO DRIFT" in out


def test_options_reach_the_library(files: tuple[Path, Path]) -> None:
    code, out = invoke(
        str(files[0]), str(files[1]), "--columns", "age,education_num", "--categorical", "education_num",
        "--stattest", "psi", "--threshold", "psi=0.5", "--drift-share", "0.9", "--format", "json",
    )  # fmt: skip
    assert code == 0, out
    body = json.loads(out)
    assert body["columns"]["education_num"]["kind"] == "categorical"
    assert body["columns"]["age"]["stattest"] == "psi" and body["columns"]["age"]["threshold"] == 0.5
    assert body["share_threshold"] == 0.9


def test_duckdb_engine_gives_the_same_json(files: tuple[Path, Path]) -> None:
    args = [str(files[0]), str(files[1]), "--columns", "age,capital_gain,race", "--format", "json"]
    numpy_body = json.loads(invoke(*args)[1])
    code, out = invoke(*args, "--engine", "duckdb")
    assert code == 0, out
    body = json.loads(out)
    assert body.pop("engine") == "duckdb" and numpy_body.pop("engine") == "numpy"
    assert body == numpy_body  # the sorted values are the same, so every number is


def test_bad_input(files: tuple[Path, Path], tmp_path: Path) -> None:
    code, out = invoke(str(files[0]), str(tmp_path / "nope.csv"))
    assert code == 2 and "no such file" in out
    code, out = invoke(str(files[0]), str(files[1]), "--columns", "age,salary")
    assert code == 2 and "column 'salary' not found" in out and "available columns: age" in out
    code, out = invoke(str(files[0]), str(files[1]), "--threshold", "psi")
    assert code == 2 and "NAME=NUMBER" in out
    code, out = invoke(str(files[0]), str(files[1]), "--stattest", "nonsense")
    assert code == 1 and "unknown stattest 'nonsense'" in out
    (tmp_path / "text.csv").write_text("age,race\nold,White\nyoung,Black\n")
    code, out = invoke(str(files[0]), str(tmp_path / "text.csv"), "--columns", "age")
    assert code == 1 and "current data: column 'age' is numeric in the reference but holds non-numeric" in out


def test_large_files_are_read_in_chunks(files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    args = [str(files[0]), str(files[1]), "--columns", "age,occupation", "--format", "json"]
    whole = json.loads(invoke(*args)[1])
    monkeypatch.setattr(command, "CHUNK_BYTES", 0)
    monkeypatch.setattr(command, "CHUNK_ROWS", 1000)
    code, out = invoke(*args)
    assert code == 0, out
    chunked = json.loads(out)
    assert chunked["columns"]["age"]["ks_statistic"] == whole["columns"]["age"]["ks_statistic"]
    assert chunked["columns"]["occupation"]["chi2_statistic"] == pytest.approx(
        whole["columns"]["occupation"]["chi2_statistic"], rel=1e-12
    )


def test_importing_the_command_loads_no_numpy() -> None:
    """``charter`` starts fast and starts no thread: NumPy is imported when the command runs."""
    code = (
        "import sys, threading; import charter.cli.drift, charter.cli.main; "
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'scipy') if m in sys.modules), "
        "threading.active_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] 1"


def test_help_lists_the_statistics() -> None:
    code, out = invoke("--help")
    assert code == 0 and "Kolmogorov-Smirnov" in out and "--fail-on-drift" in out
