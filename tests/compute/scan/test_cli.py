"""``charter scan``, on a local Typer app (the command is wired into ``charter`` by cli/main.py)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from charter.cli.scan import register

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def root() -> None:  # a group, as in charter itself: `scan` is a subcommand
        """Charter."""

    return app


class Reduce:
    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    np.save(tmp_path / "clean.npy", np.arange(3))
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Reduce(os.system, "id")))
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps([1, 2, 3])[:-2])
    return {
        name: tmp_path / f"{name}{suffix}" for name, suffix in (("clean", ".npy"), ("evil", ".pkl"), ("cut", ".pkl"))
    }


@pytest.mark.parametrize(
    ("name", "code", "word"), [("clean", 0, "CLEAN"), ("evil", 1, "UNSAFE"), ("cut", 2, "NOT VERIFIED")]
)
def test_table_output_and_exit_codes(app: typer.Typer, files: dict[str, Path], name: str, code: int, word: str) -> None:
    result = runner.invoke(app, ["scan", str(files[name])])
    assert result.exit_code == code, result.output
    assert word in result.output
    if name == "evil":
        assert "pickle-dangerous-global" in result.output and "critical" in result.output


def test_json_output(app: typer.Typer, files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["scan", str(files["evil"].parent), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["verdict"] == "unsafe" and data["exit_code"] == 1
    assert data["summary"] == {"files": 3, "clean": 1, "unsafe": 1, "not_verified": 1, "findings": 2}
    assert {Path(f["path"]).name: f["verdict"] for f in data["files"]} == {
        "clean.npy": "clean",
        "cut.pkl": "not_verified",
        "evil.pkl": "unsafe",
    }
    assert {f["rule"] for f in data["findings"]} == {"pickle-dangerous-global", "truncated"}


def test_missing_path_and_bad_format(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such file or folder" in result.output
    assert runner.invoke(app, ["scan", str(tmp_path), "--format", "xml"]).exit_code == 2  # usage error
