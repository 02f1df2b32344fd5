"""Containers: PyTorch zip (written without torch), joblib, NumPy ``.npy``/``.npz``, zip tricks and limits."""

from __future__ import annotations

import io
import os
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from charter.compute.scan import ScanLimits, ScanReport, scan_file, scan_path


class Reduce:
    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


PAYLOAD = Reduce(os.system, "echo pwned")


def rules(report: ScanReport) -> set[str]:
    return {f.rule for f in report.findings}


# -- a torch.save-style state dict, written without torch --------------------------------------------


class Storage:
    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class Tensor:
    rebuild: Any = None

    def __init__(self, storage: Storage, shape: tuple[int, ...]) -> None:
        self.storage, self.shape = storage, shape

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        stride = (self.shape[1], 1) if len(self.shape) == 2 else (1,)
        return Tensor.rebuild, (self.storage, 0, self.shape, stride, False, OrderedDict())


@pytest.fixture
def torch_pickle(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``pickle.dumps`` of a state dict naming ``torch._utils._rebuild_tensor_v2`` and ``torch.FloatStorage``
    exactly as torch does: stub modules stand in for torch while the pickle is written."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args: Any) -> None:
        raise AssertionError("never called")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    float_storage = type("FloatStorage", (), {"__module__": "torch"})
    torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = float_storage, utils, _rebuild_tensor_v2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    monkeypatch.setattr(Tensor, "rebuild", _rebuild_tensor_v2)

    class TorchPickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            if isinstance(obj, Storage):
                return ("storage", float_storage, obj.key, "cpu", obj.numel)
            return None

    def dumps(extra: dict[str, Any] | None = None) -> bytes:
        state: Any = OrderedDict(weight=Tensor(Storage("0", 4), (2, 2)), bias=Tensor(Storage("1", 2), (2,)))
        state._metadata = OrderedDict({"": {"version": 1}})
        state.update(extra or {})
        out = io.BytesIO()
        TorchPickler(out, protocol=2).dump(state)
        return out.getvalue()

    return dumps


def torch_zip(path: Path, data_pkl: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", np.arange(4, dtype=np.float32).tobytes())
        z.writestr("archive/data/1", np.arange(2, dtype=np.float32).tobytes())
        z.writestr("archive/version", "3\n")
        z.writestr("archive/.data/serialization_id", "1234567890")
    return path


def test_torch_zip_state_dict_is_clean(tmp_path: Path, torch_pickle: Any) -> None:
    data = torch_pickle()
    assert b"_rebuild_tensor_v2" in data and b"FloatStorage" in data and b"OrderedDict" in data
    report = scan_path(torch_zip(tmp_path / "model.pt", data))
    assert report.verdict == "clean", report.findings
    assert report.files[0].format == "pytorch-zip"


def test_torch_zip_with_payload(tmp_path: Path, torch_pickle: Any) -> None:
    report = scan_path(torch_zip(tmp_path / "model.pt", torch_pickle({"evil": PAYLOAD})))
    assert report.verdict == "unsafe"
    finding = next(f for f in report.findings if f.rule == "pickle-dangerous-global")
    assert finding.member == "archive/data.pkl"


@pytest.mark.parametrize("name", ["archive/data.txt", "archive/weights", "README"])
@pytest.mark.parametrize("protocol", [0, 1, 2, 4])
def test_pickle_hidden_under_a_non_pickle_name(tmp_path: Path, name: str, protocol: int) -> None:
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": 1.0}))
        z.writestr("archive/data/0", np.arange(8, dtype=np.float32).tobytes())
        z.writestr(name, pickle.dumps(PAYLOAD, protocol=protocol))
    report = scan_path(path)
    assert report.verdict == "unsafe"
    assert {f.member for f in report.findings} == {name}


def test_members_of_a_plain_zip_are_judged_like_files_in_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("notes.txt", "cat: a line of text\n")
        z.writestr("config.json", '{"a": 1}')
    assert scan_path(path).verdict == "clean"
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("weights.raw", np.linspace(0, 1, 256).tobytes())  # no format the scanner knows
        z.writestr("binary.txt", b"\x00\x01")
    report = scan_path(path)
    assert report.verdict == "not_verified"
    assert {(f.member, f.rule) for f in report.findings} == {
        ("weights.raw", "unknown-format"),
        ("binary.txt", "unknown-format"),
    }


def _central_offset(data: bytes, name: str) -> int:
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:
        (length,) = struct.unpack("<H", data[start + 28 : start + 30])
        if data[start + 46 : start + 46 + length] == name.encode():
            return start
        start += 4
    raise AssertionError(f"{name} not in the central directory")


def patch_member(path: Path, name: str, *, flag: int = 0, local_name: bytes | None = None, crc: bool = False) -> None:
    """Edit a member's headers by hand: set flag bits, rename it in the local header, break its CRC."""
    data = bytearray(path.read_bytes())
    local = zipfile.ZipFile(path).getinfo(name).header_offset
    central = _central_offset(bytes(data), name)
    for offset in (local + 6, central + 8):
        (flags,) = struct.unpack("<H", data[offset : offset + 2])
        data[offset : offset + 2] = struct.pack("<H", flags | flag)
    if local_name is not None:
        data[local + 30 : local + 30 + len(local_name)] = local_name
    if crc:
        for offset in (local + 14, central + 16):
            data[offset : offset + 4] = b"\xde\xad\xbe\xef"
    path.write_bytes(bytes(data))


def test_encrypted_member_is_not_verified(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.pkl", pickle.dumps([1, 2]))
    patch_member(path, "data.pkl", flag=0x1)
    report = scan_path(path)
    assert report.verdict == "not_verified" and rules(report) == {"encrypted-member"}


def test_encrypted_member_beside_a_payload_is_unsafe(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.pkl", pickle.dumps([1, 2]))
        z.writestr("b.pkl", pickle.dumps(PAYLOAD))
    patch_member(path, "a.pkl", flag=0x1)
    report = scan_path(path)
    assert report.verdict == "unsafe" and {"encrypted-member", "pickle-dangerous-global"} <= rules(report)


@pytest.mark.parametrize("flag", [0x20, 0x40])
def test_flag_bits_that_crash_zipfile_do_not_hide_payloads(tmp_path: Path, flag: int) -> None:
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(PAYLOAD))
    patch_member(path, "archive/data.pkl", flag=flag)
    report = scan_path(path)
    assert report.verdict != "clean"
    if flag == 0x20:  # patched data is still read as a lenient loader would
        assert "pickle-dangerous-global" in rules(report)


def test_local_name_mismatch_and_bad_crc(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(PAYLOAD))
    patch_member(path, "archive/data.pkl", local_name=b"archive/datap.kl", crc=True)
    with pytest.raises(zipfile.BadZipFile):  # what CPython's zipfile makes of it
        zipfile.ZipFile(path).read("archive/data.pkl")
    report = scan_path(path)
    assert {"archive-name-mismatch", "pickle-dangerous-global"} <= rules(report)


@pytest.mark.parametrize("name", ["../../evil.pkl", "/etc/cron.d/evil", "C:\\Windows\\evil.pkl", "a/../../b"])
def test_path_traversal_in_member_names(tmp_path: Path, name: str) -> None:
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo(name), pickle.dumps([1]))
    report = scan_path(path)
    finding = next(f for f in report.findings if f.rule == "archive-path-traversal")
    assert finding.severity == "critical" and report.verdict == "unsafe"


def test_zip_bomb_ratio(tmp_path: Path) -> None:
    np.savez_compressed(tmp_path / "bomb.npz", zeros=np.zeros(20 << 17))  # 20 MiB of zeros
    report = scan_path(tmp_path / "bomb.npz")
    assert report.verdict == "not_verified" and rules(report) == {"limit-exceeded"}
    assert scan_path(tmp_path / "bomb.npz", limits=ScanLimits(max_compression_ratio=10_000)).verdict == "clean"


def _many(path: Path, *, payload: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        if payload:
            z.writestr("a.npy", _npy(np.array([PAYLOAD], dtype=object)))
        for i in range(5):
            z.writestr(f"m{i}.npy", _npy(np.arange(12)))
    return path


def _npy(array: Any) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def test_member_count_and_total_size_limits(tmp_path: Path) -> None:
    path = _many(tmp_path / "many.npz")
    assert scan_path(path).verdict == "clean"
    for limits in (ScanLimits(max_archive_members=3), ScanLimits(max_total_uncompressed=250)):
        report = scan_path(path, limits=limits)
        assert report.verdict == "not_verified" and rules(report) == {"limit-exceeded"}


def test_limit_does_not_hide_an_earlier_payload(tmp_path: Path) -> None:
    path = _many(tmp_path / "many.npz", payload=True)
    assert scan_path(path, limits=ScanLimits(max_archive_members=3)).verdict == "unsafe"


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_nested_zip_and_compression_methods(tmp_path: Path, compression: int) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", compression) as z:
        z.writestr("data.pkl", pickle.dumps(PAYLOAD))
    path = tmp_path / "outer.zip"
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("inner.zip", inner.getvalue())
    report = scan_path(path)
    assert report.verdict == "unsafe"
    assert next(f for f in report.findings if f.rule == "pickle-dangerous-global").member == "inner.zip!data.pkl"
    assert scan_path(path, limits=ScanLimits(max_archive_depth=0)).verdict == "not_verified"


def test_broken_zip_is_not_verified(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    path.write_bytes(b"PK\x03\x04" + os.urandom(64))
    assert scan_path(path).verdict == "not_verified"


def test_pickle_named_member_that_is_not_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.pkl", b"this is not a pickle")
    report = scan_path(path)
    assert report.verdict == "not_verified" and report.findings[0].member == "data.pkl"


# -- NumPy ---------------------------------------------------------------------------------------------


def test_int_npy_is_clean_and_object_npy_is_walked(tmp_path: Path) -> None:
    np.save(tmp_path / "ints.npy", np.arange(10))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, "b"], dtype=object), allow_pickle=True)
    np.save(tmp_path / "evil.npy", np.array([PAYLOAD], dtype=object), allow_pickle=True)
    assert scan_path(tmp_path / "ints.npy").verdict == "clean"
    assert scan_path(tmp_path / "objects.npy").verdict == "clean"
    report = scan_path(tmp_path / "evil.npy")
    assert report.verdict == "unsafe" and report.files[0].format == "npy"


def test_truncated_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "ints.npy", np.arange(1000))
    data = (tmp_path / "ints.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-10])
    (tmp_path / "header.npy").write_bytes(data[:20])
    assert scan_path(tmp_path / "cut.npy").verdict == "not_verified"
    assert scan_path(tmp_path / "header.npy").verdict == "not_verified"


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_object_arrays_inside_npz(tmp_path: Path, save: Any) -> None:
    save(tmp_path / "clean.npz", a=np.arange(3), b=np.eye(2))
    save(tmp_path / "evil.npz", a=np.arange(3), b=np.array([PAYLOAD], dtype=object))
    clean = scan_path(tmp_path / "clean.npz")
    assert clean.verdict == "clean" and clean.files[0].format == "npz"
    report = scan_path(tmp_path / "evil.npz")
    assert report.verdict == "unsafe"
    assert {f.member for f in report.findings} == {"b.npy"}


# -- joblib ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_joblib_arrays_are_skipped_and_a_payload_after_them_found(tmp_path: Path, compress: Any) -> None:
    clean = {"w": np.arange(1000.0), "o": np.array([1, "a", None], dtype=object), "i": np.eye(3, dtype=np.int8)}
    joblib.dump(clean, tmp_path / "clean.joblib", compress=compress)
    joblib.dump({**clean, "zz": PAYLOAD}, tmp_path / "evil.joblib", compress=compress)
    assert scan_path(tmp_path / "clean.joblib").verdict == "clean", scan_path(tmp_path / "clean.joblib").findings
    assert scan_path(tmp_path / "evil.joblib").verdict == "unsafe"


def test_payload_inside_a_joblib_object_array(tmp_path: Path) -> None:
    joblib.dump({"o": np.array([PAYLOAD], dtype=object), "w": np.arange(5.0)}, tmp_path / "m.joblib")
    assert scan_path(tmp_path / "m.joblib").verdict == "unsafe"


def test_compressed_stream_bomb_is_a_limit(tmp_path: Path) -> None:
    joblib.dump(np.zeros(4_000_000), tmp_path / "zeros.joblib", compress=3)
    report = scan_path(tmp_path / "zeros.joblib")
    assert report.verdict == "not_verified" and "limit-exceeded" in rules(report)


def test_scan_file_uses_the_logical_name(tmp_path: Path) -> None:
    path = tmp_path / "upload.tmp"
    path.write_bytes(b"(lp0\nI1\na.")  # a protocol-0 pickle: no magic, recognised by its name
    report = scan_file(path, name="weights/model.pkl")
    assert report.files[0].path == "weights/model.pkl" and report.files[0].format == "pickle"
    assert report.verdict == "clean"
