"""Side by side with picklescan on one corpus: whatever picklescan calls dangerous, Charter calls
unsafe; benign controls are clean for both. (Charter flags more: its allowlist marks unknown imports,
memo and broken-stream tricks that picklescan's denylist lets through; those are tested elsewhere.)"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
from picklescan.scanner import scan_file_path

from charter.compute.scan import scan_path


class Reduce:
    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def _zip(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(member, data)
    return out.getvalue()


def _npy(value: Any) -> bytes:
    out = io.BytesIO()
    np.save(out, value, allow_pickle=True)
    return out.getvalue()


def corpus() -> dict[str, bytes]:
    payloads = {
        "system": Reduce(os.system, "id"),
        "popen": Reduce(subprocess.Popen, ["id"]),
        "eval": Reduce(eval, "1"),
        "exec": Reduce(exec, "1"),
        "loads": Reduce(pickle.loads, b"N."),
    }
    files: dict[str, bytes] = {}
    for name, payload in payloads.items():
        for protocol in range(6):
            files[f"{name}-p{protocol}.pkl"] = pickle.dumps(payload, protocol=protocol)
        files[f"{name}-second.pkl"] = pickle.dumps([1]) + pickle.dumps(payload)
        files[f"{name}-zip.pt"] = _zip("archive/data.pkl", pickle.dumps(payload))
        files[f"{name}-hidden.zip"] = _zip("data.txt", pickle.dumps(payload, protocol=2))
        files[f"{name}-object.npy"] = _npy(np.array([payload], dtype=object))
    for protocol in range(6):
        files[f"benign-p{protocol}.pkl"] = pickle.dumps(["a", "b", "c", OrderedDict(x=1)], protocol=protocol)
    files["benign-int.npy"] = _npy(np.arange(10))
    files["benign-array.pkl"] = pickle.dumps(np.arange(10.0))
    return files


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bool]]:
    root = tmp_path_factory.mktemp("corpus")
    results = {}
    for name, data in corpus().items():
        (root / name).write_bytes(data)
        theirs = scan_file_path(str(root / name))
        results[name] = (scan_path(root / name).verdict, theirs.infected_files > 0 or theirs.issues_count > 0)
    return results


def test_every_payload_picklescan_flags_is_unsafe(scanned: dict[str, tuple[str, bool]]) -> None:
    flagged = {name for name, (_, theirs) in scanned.items() if theirs}
    assert len(flagged) >= 40, "the corpus should give picklescan something to find"
    assert {name: scanned[name][0] for name in flagged} == dict.fromkeys(flagged, "unsafe")


def test_payloads_picklescan_misses_are_still_unsafe(scanned: dict[str, tuple[str, bool]]) -> None:
    payloads = {name for name in scanned if not name.startswith("benign")}
    assert {name for name in payloads if scanned[name][0] != "unsafe"} == set()


def test_benign_controls_are_clean_for_both(scanned: dict[str, tuple[str, bool]]) -> None:
    benign = {name: result for name, result in scanned.items() if name.startswith("benign")}
    assert benign == dict.fromkeys(benign, ("clean", False))
