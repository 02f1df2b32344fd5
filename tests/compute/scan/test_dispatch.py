"""Format detection, folder walks, real scikit-learn models, and the report's shape."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from charter.compute.scan import FileResult, Finding, ScanReport, scan_file, scan_path


class Reduce:
    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    rng = np.random.RandomState(0)
    x, y = rng.rand(80, 4), (rng.rand(80) > 0.5).astype(int)
    return {
        "logistic": LogisticRegression().fit(x, y),
        "pipeline": Pipeline([("scale", StandardScaler()), ("rf", RandomForestClassifier(n_estimators=5))]).fit(x, y),
        "hist_gb": HistGradientBoostingClassifier(max_iter=5).fit(x, y),
        "kd_tree": KNeighborsClassifier(algorithm="kd_tree").fit(x, y),
        "log1p": Pipeline([("log", FunctionTransformer(np.log1p)), ("lr", LogisticRegression())]).fit(x, y),
    }


@pytest.mark.parametrize("name", ["logistic", "pipeline", "hist_gb", "kd_tree", "log1p"])
@pytest.mark.parametrize("how", ["pickle-2", "pickle-5", "joblib", "joblib-zlib"])
def test_real_scikit_learn_models_are_clean(tmp_path: Path, models: dict[str, Any], name: str, how: str) -> None:
    path = tmp_path / f"{name}.{'pkl' if how.startswith('pickle') else 'joblib'}"
    if how.startswith("pickle"):
        path.write_bytes(pickle.dumps(models[name], protocol=int(how[-1])))
    else:
        joblib.dump(models[name], path, compress=3 if how == "joblib-zlib" else 0)
    report = scan_path(path)
    assert report.verdict == "clean", report.findings
    assert report.exit_code() == 0


def test_function_transformer_with_a_dangerous_function(tmp_path: Path, models: dict[str, Any]) -> None:
    model = Pipeline([("f", FunctionTransformer(os.system)), ("lr", models["logistic"])])
    joblib.dump(model, tmp_path / "m.joblib")
    report = scan_path(tmp_path / "m.joblib")
    assert report.verdict == "unsafe"
    assert any((f.module, f.name) == ("posix", "system") for f in report.findings)


def make_folder(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "config.json").write_text('{"architectures": ["X"]}')
    (root / "README.md").write_text("# A model card\n")
    (root / "sub" / "weights.npy").write_bytes(b"")
    np.save(root / "sub" / "weights.npy", np.arange(4))
    (root / "sub" / "deeper" / "model.pkl").write_bytes(pickle.dumps({"w": [1.0]}))
    return root


def test_folder_scan_walks_recursively(tmp_path: Path) -> None:
    report = scan_path(make_folder(tmp_path / "m"))
    assert report.verdict == "clean", report.findings
    assert [Path(f.path).name for f in report.files] == ["README.md", "config.json", "model.pkl", "weights.npy"]
    assert {f.format for f in report.files} == {"text", "npy", "pickle"}


def test_folder_verdict_is_the_worst_file(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "m")
    (root / "script.py").write_text("import os\n")
    assert scan_path(root).verdict == "not_verified"
    (root / "sub" / "evil.pkl").write_bytes(pickle.dumps(Reduce(os.system, "id")))
    report = scan_path(root)
    assert report.verdict == "unsafe"
    verdicts = {Path(f.path).name: f.verdict for f in report.files}
    assert verdicts["script.py"] == "not_verified" and verdicts["evil.pkl"] == "unsafe"


@pytest.mark.parametrize(
    ("name", "content", "verdict", "fmt"),
    [
        ("empty.pkl", b"", "not_verified", "empty"),
        ("model.gguf", b"GGUF\x03\x00\x00\x00" + bytes(32), "not_verified", "unknown"),
        ("archive.7z", b"7z\xbc\xaf\x27\x1c" + bytes(32), "not_verified", "7z"),
        ("image.pt", b"\x89PNG\r\n\x1a\n" + bytes(32), "not_verified", "pickle"),  # a PNG renamed .pt
        ("notes.txt", "plain text, é".encode(), "clean", "text"),
        ("binary.txt", b"\x00\x01\x02", "not_verified", "unknown"),
        ("vocab.txt", b"cos\nsystem\n(S'id'\ntR.", "unsafe", "pickle"),  # a protocol-0 pickle named .txt
        ("payload", pickle.dumps(Reduce(os.system, "id"), protocol=0), "unsafe", "pickle"),  # no extension
        ("weights.raw", np.linspace(0, 1, 64).tobytes(), "not_verified", "unknown"),
    ],
)
def test_format_detection(tmp_path: Path, name: str, content: bytes, verdict: str, fmt: str) -> None:
    (tmp_path / name).write_bytes(content)
    report = scan_path(tmp_path / name)
    assert (report.verdict, report.files[0].format) == (verdict, fmt), report.findings


def test_scan_file_detects_by_logical_name(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"w": np.ones(3, dtype=np.float32)}, str(tmp_path / "upload-1234.tmp"))
    report = scan_file(tmp_path / "upload-1234.tmp", name="model.safetensors")
    assert report.files[0].path == "model.safetensors" and report.files[0].format == "safetensors"
    assert report.verdict == "clean"


def test_empty_folder_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = scan_path(tmp_path / "empty")
    assert report.verdict == "not_verified" and report.files == ()
    assert [f.rule for f in report.findings] == ["empty-folder"]
    with pytest.raises(FileNotFoundError):
        scan_path(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        scan_file(tmp_path / "missing")


def test_symlinks(tmp_path: Path) -> None:
    outside = make_folder(tmp_path / "outside")
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked-folder").symlink_to(outside, target_is_directory=True)
    (root / "model.pkl").symlink_to(outside / "sub" / "deeper" / "model.pkl")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    report = scan_path(root)
    by_name = {Path(f.path).name: f for f in report.files}
    assert set(by_name) == {"linked-folder", "model.pkl"}  # .git is skipped
    assert by_name["model.pkl"].verdict == "clean"  # a symlinked file is read, as a loader would
    assert by_name["linked-folder"].verdict == "not_verified"
    assert report.verdict == "not_verified"


def test_report_shape_and_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Reduce(os.system, "id")))
    report = scan_path(tmp_path / "evil.pkl")
    assert isinstance(report, ScanReport) and isinstance(report.files[0], FileResult)
    assert isinstance(report.findings[0], Finding)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["verdict"] == "unsafe" and data["exit_code"] == 1
    assert data["summary"] == {"files": 1, "clean": 0, "unsafe": 1, "not_verified": 0, "findings": 1}
    assert data["files"][0]["path"] == str(tmp_path / "evil.pkl")
    assert set(data["findings"][0]) == {"file", "member", "rule", "severity", "effect", "message", "module", "name"}
    assert data["findings"][0]["module"] == "posix" and data["findings"][0]["effect"] == "unsafe"
    assert [ScanReport(verdict=v, findings=(), files=()).exit_code() for v in ("clean", "unsafe", "not_verified")] == [
        0,
        1,
        2,
    ]
