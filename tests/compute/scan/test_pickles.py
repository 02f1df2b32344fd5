"""The pickle walker: payloads at every protocol, opcode and memo tricks, broken and concatenated
streams, benign controls. Payload bytes are made with ``pickle.dumps`` of objects whose
``__reduce__`` names a dangerous callable, or assembled by hand; nothing is ever unpickled."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import subprocess
from pathlib import Path
from typing import Any

import pytest

from charter.compute.scan import ScanLimits, ScanReport, scan_file
from charter.compute.scan.allowlist import judge
from charter.compute.scan.pickles import walk
from charter.compute.scan.report import Recorder
from charter.compute.scan.streams import Source


class Reduce:
    """Pickles as ``func(*args)``: the shape of every ``__reduce__`` payload."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def scan_bytes(tmp_path: Path, data: bytes, name: str = "model.pkl") -> ScanReport:
    path = tmp_path / name
    path.write_bytes(data)
    return scan_file(path)


def rules(report: ScanReport) -> set[str]:
    return {f.rule for f in report.findings}


def opcodes(data: bytes) -> set[str]:
    names = set()
    try:
        for op, _, _ in pickletools.genops(io.BytesIO(data)):
            names.add(op.name)
    except ValueError:
        pass
    return names


PAYLOADS = {
    "os.system": Reduce(os.system, "echo pwned"),
    "subprocess.Popen": Reduce(subprocess.Popen, ["echo"]),
    "builtins.eval": Reduce(eval, "1+1"),
    "builtins.exec": Reduce(exec, "x=1"),
    "builtins.getattr": Reduce(getattr, "text", "join"),
    "builtins.__import__": Reduce(__import__, "os"),
    "builtins.open": Reduce(open, "/etc/passwd"),
    "pickle.loads": Reduce(pickle.loads, b"N."),
}


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_reduce_payloads_are_critical_at_every_protocol(tmp_path: Path, payload: str, protocol: int) -> None:
    data = pickle.dumps(PAYLOADS[payload], protocol=protocol)
    # protocols 0-3 import with GLOBAL, 4-5 with STACK_GLOBAL: both paths are exercised
    assert ("STACK_GLOBAL" if protocol >= 4 else "GLOBAL") in opcodes(data)
    report = scan_bytes(tmp_path, data)
    assert report.verdict == "unsafe" and report.exit_code() == 1
    critical = [f for f in report.findings if f.severity == "critical"]
    assert critical and critical[0].rule == "pickle-dangerous-global"
    assert "calls it (REDUCE)" in critical[0].message


@pytest.mark.parametrize("protocol", range(6))
def test_benign_pickles_are_clean(tmp_path: Path, protocol: int) -> None:
    from collections import OrderedDict

    value = {"list": ["a", "b", "c"], "n": [1, 2.5, None, True], "od": OrderedDict(a=1), "s": {1, 2}, "b": b"x"}
    report = scan_bytes(tmp_path, pickle.dumps(value, protocol=protocol))
    assert report.verdict == "clean", report.findings
    assert report.files[0].format == "pickle"


def test_protocol_0_python2_names_are_mapped(tmp_path: Path) -> None:
    # __builtin__ is what Python 2 pickles name; pickle maps it to builtins at protocols < 3
    report = scan_bytes(tmp_path, b"c__builtin__\neval\n(S'1'\ntR.")
    finding = next(f for f in report.findings if f.rule == "pickle-dangerous-global")
    assert (finding.module, finding.name) == ("builtins", "eval")


def _stack_global_via_memo(module: str, name: str, *, decoy: bool = False) -> bytes:
    """Module and name strings memoized, then fetched with BINGET for STACK_GLOBAL."""
    out = b"\x80\x04"
    out += b"\x8c" + bytes([len(module)]) + module.encode() + b"q\x05"  # BINPUT 5
    out += b"\x8c" + bytes([len(name)]) + name.encode() + b"q\x06"  # BINPUT 6
    if decoy:  # a harmless global in between, as in picklescan's malicious11.pkl
        out += b"\x8c\x05torch\x8c\x0bLongStorage\x93" + b"0"
    out += b"0" + b"0"  # POP both strings: the stack no longer holds them
    out += b"h\x05h\x06\x93"  # BINGET 5, BINGET 6, STACK_GLOBAL
    out += b"\x8c\x04echo\x85R."  # ("echo",) REDUCE STOP
    return out


@pytest.mark.parametrize("decoy", [False, True])
def test_stack_global_resolved_through_the_memo(tmp_path: Path, decoy: bool) -> None:
    report = scan_bytes(tmp_path, _stack_global_via_memo("os", "system", decoy=decoy))
    finding = next(f for f in report.findings if f.rule == "pickle-dangerous-global")
    assert (finding.module, finding.name) == ("os", "system")
    assert report.verdict == "unsafe"


def test_stack_global_from_long_binget_memoize_and_dup(tmp_path: Path) -> None:
    data = (
        b"\x80\x04\x8c\nsubprocess\x94"  # MEMOIZE -> memo[0]
        b"\x8c\x05Popen\x94"  # memo[1]
        b"00"  # POP, POP
        b"j\x00\x00\x00\x00j\x01\x00\x00\x00"  # LONG_BINGET 0, LONG_BINGET 1
        b"\x93\x8c\x02ls\x852R."  # STACK_GLOBAL, ("ls",), DUP, REDUCE
    )
    finding = next(f for f in scan_bytes(tmp_path, data).findings if f.rule == "pickle-dangerous-global")
    assert (finding.module, finding.name) == ("subprocess", "Popen")


def test_stack_global_with_string_opcodes(tmp_path: Path) -> None:
    # protocol-0 STRING and BINSTRING feeding STACK_GLOBAL (GHSA-9gvj-pp9x-gcfr)
    data = b"\x80\x04S'os'\nT\x06\x00\x00\x00system\x93(S'id'\ntR."
    finding = next(f for f in scan_bytes(tmp_path, data).findings if f.rule == "pickle-dangerous-global")
    assert (finding.module, finding.name) == ("os", "system")


def test_stack_global_on_non_strings_fails_closed(tmp_path: Path) -> None:
    data = b"\x80\x04K\x01K\x02\x93)R."  # STACK_GLOBAL on two integers
    report = scan_bytes(tmp_path, data)
    assert "pickle-unresolved-global" in rules(report) and report.verdict == "unsafe"


def test_memo_keys_follow_the_unpicklers_rules(tmp_path: Path) -> None:
    # BINPUT 5 then MEMOIZE: MEMOIZE stores at len(memo) == 1, so BINGET 1 is the second string
    data = b"\x80\x04\x8c\x02osq\x05\x8c\x06system\x94h\x05h\x01\x93)R."
    finding = next(f for f in scan_bytes(tmp_path, data).findings if f.rule == "pickle-dangerous-global")
    assert (finding.module, finding.name) == ("os", "system")
    # a memoized string that cannot name a module is not kept: STACK_GLOBAL on it fails closed
    odd = b"\x80\x04\x8c\x06my-modq\x00\x8c\x01xq\x01h\x00h\x01\x93)R."
    assert "pickle-unresolved-global" in rules(scan_bytes(tmp_path, odd))


def test_missing_memo_key_is_not_clean(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, b"\x80\x04h\x07h\x08\x93)R.")
    assert report.verdict == "not_verified"
    assert any("memo key 7" in f.message for f in report.findings)


def test_inst_and_obj_call_imports(tmp_path: Path) -> None:
    inst = b"(S'echo'\nios\nsystem\n."  # INST: import and call with the marked arguments
    obj = b"\x80\x02(cposix\nsystem\nS'echo'\no."  # OBJ: the class is the first marked item
    for data in (inst, obj):
        report = scan_bytes(tmp_path, data)
        finding = next(f for f in report.findings if f.rule == "pickle-dangerous-global")
        assert finding.severity == "critical" and finding.name == "system"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os.path", "join"),  # a submodule of a banned module
        ("asyncio.unix_events", "_UnixSubprocessTransport"),
        ("pkgutil", "resolve_name"),
        ("pip", "main"),
        ("runpy", "_run_code"),
        ("functools", "partial"),
        ("torch", "load"),
        ("torch.storage", "_load_from_bytes"),
        ("numpy", "load"),
        ("numpy.core", "_ufunc_reconstruct"),
        ("operator", "attrgetter"),
        ("types", "CodeType"),
        ("ctypes", "CDLL"),
        ("webbrowser", "open"),
        ("requests.api", "get"),
        ("importlib", "import_module"),
        ("marshal", "loads"),
        ("dill", "loads"),
        ("collections", "OrderedDict.__init__.__globals__"),  # attribute walk into globals
        ("sklearn.utils._testing", "assert_run_python_script_without_output"),
        ("sklearn.datasets", "fetch_openml"),
        ("joblib", "load"),
    ],
)
def test_dangerous_globals(tmp_path: Path, module: str, name: str) -> None:
    assert judge(module, name) == "dangerous"
    data = b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n)R."
    finding = next(f for f in scan_bytes(tmp_path, data).findings if f.rule == "pickle-dangerous-global")
    assert finding.severity == "critical"


@pytest.mark.parametrize(
    ("module", "name", "expected"),
    [
        ("sklearn.linear_model._logistic", "LogisticRegression", "safe"),
        ("sklearn.tree._tree", "Tree", "safe"),
        ("sklearn._loss._loss", "__pyx_unpickle_CyHalfBinomialLoss", "safe"),
        ("sklearn.metrics._classification", "accuracy_score", "safe"),
        ("sklearn.utils.validation", "check_memory", "unknown"),  # a function outside sklearn.metrics
        ("sklearn.utils.parallel", "Parallel", "unknown"),  # joblib's Parallel re-exported
        ("numpy._core.multiarray", "_reconstruct", "safe"),
        ("numpy", "float64", "safe"),
        ("numpy", "memmap", "unknown"),
        ("scipy.sparse._csr", "csr_matrix", "safe"),
        ("torch._utils", "_rebuild_tensor_v2", "safe"),
        ("torch", "FloatStorage", "safe"),
        ("collections", "OrderedDict", "safe"),
        ("_codecs", "encode", "safe"),
        ("builtins", "set", "safe"),
        ("builtins", "print", "dangerous"),
        ("mylib.models", "Net", "unknown"),
        ("pandas.core.frame", "DataFrame", "unknown"),
    ],
)
def test_allowlist_judgements(module: str, name: str, expected: str) -> None:
    assert judge(module, name) == expected


def test_unknown_global_severity_depends_on_use(tmp_path: Path) -> None:
    referenced = b"\x80\x02cmylib\nThing\n."
    constructed = b"\x80\x02cmylib\nThing\n)\x81."  # NEWOBJ: the class's __new__
    called = b"\x80\x02cmylib\nrun\n)R."  # REDUCE: any callable
    severities = [scan_bytes(tmp_path, d).findings[0].severity for d in (referenced, constructed, called)]
    assert severities == ["medium", "medium", "high"]
    assert all(scan_bytes(tmp_path, d).verdict == "unsafe" for d in (referenced, constructed, called))


def test_build_on_an_imported_object_is_critical(tmp_path: Path) -> None:
    # numpy.prod.a = "os" through BUILD's state (modelscan issue #85), even with an allowlisted target
    data = b"\x80\x02cnumpy\nfloat64\nN}S'a'\nS'os'\ns\x86b."
    report = scan_bytes(tmp_path, data)
    assert "pickle-global-mutation" in rules(report) and report.verdict == "unsafe"


def test_ext_codes_and_indirect_calls_are_flagged(tmp_path: Path) -> None:
    assert "pickle-unresolved-global" in rules(scan_bytes(tmp_path, b"\x80\x02\x82\x01)R."))
    # collections.OrderedDict() is allowlisted, calling its result is not a model's business
    indirect = b"\x80\x02ccollections\nOrderedDict\n)R)R."
    assert "pickle-indirect-call" in rules(scan_bytes(tmp_path, indirect))


def test_payload_in_the_second_of_two_pickles(tmp_path: Path) -> None:
    data = pickle.dumps({"weights": [1.0, 2.0]}) + pickle.dumps(Reduce(os.system, "id"))
    report = scan_bytes(tmp_path, data)
    assert report.verdict == "unsafe"
    assert rules(report) == {"pickle-dangerous-global"}


def test_payload_before_a_broken_stream_is_unsafe_not_unverified(tmp_path: Path) -> None:
    # nullifAI: the payload runs, then deserialization fails on garbage
    data = pickle.dumps(Reduce(os.system, "id"), protocol=2)[:-1] + b"\xff\xfe garbage"
    report = scan_bytes(tmp_path, data)
    assert rules(report) == {"pickle-dangerous-global", "parse-error"}
    assert report.verdict == "unsafe" and report.exit_code() == 1


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_pickle_is_not_verified(tmp_path: Path, cut: int) -> None:
    data = pickle.dumps({"a": list(range(50)), "b": "text"}, protocol=4)
    report = scan_bytes(tmp_path, data[:-cut])
    assert report.verdict == "not_verified" and report.exit_code() == 2
    assert "truncated" in rules(report)


def test_garbage_after_a_valid_pickle_is_not_verified(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, pickle.dumps([1, 2]) + b"\x00\x01")
    assert report.verdict == "not_verified"


def test_invalid_utf8_in_global_is_not_clean(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, b"cmod\n\xf8\n.")
    assert report.verdict == "not_verified"


class CountingReader(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def read(self, size: int | None = -1) -> bytes:
        data = self._f.read(size)
        self.read_bytes += len(data)
        return data


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_large_payloads_are_skipped_not_read(protocol: int) -> None:
    blob = os.urandom(16 << 20)
    data = pickle.dumps({"weights": blob, "text": "é" * (4 << 20), "evil": Reduce(os.system, "id")}, protocol=protocol)
    reader = CountingReader(data)
    rec = Recorder("x", ScanLimits())
    walk(rec, None, Source(reader, size=len(data)))  # type: ignore[arg-type]
    assert {f.rule for f in rec.findings} == {"pickle-dangerous-global"}
    # (protocol 2 carries bytes as _codecs.encode(str, "latin1"): a large BINUNICODE, skipped too)
    assert reader.read_bytes < 2 << 20, "the payloads were read instead of skipped"


def test_huge_declared_argument_past_the_end_is_truncated(tmp_path: Path) -> None:
    data = b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + b"abc"
    report = scan_bytes(tmp_path, data)
    assert "truncated" in rules(report) and report.verdict == "not_verified"


# -- PyTorch legacy format (torch is not installed: the layout is written by hand) -------------------


def _legacy_torch(main: bytes, *, magic: bytes | None = None) -> bytes:
    magic = magic if magic is not None else pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    storages = (4).to_bytes(8, "little") + os.urandom(16)  # numel, then raw float32 bytes
    return (
        magic
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps(sys_info, protocol=2)
        + main
        + pickle.dumps(["0"], protocol=2)
        + storages
    )


def test_legacy_torch_file_is_clean_and_stops_before_raw_storages(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, _legacy_torch(pickle.dumps({"w": [1.0, 2.0]}, protocol=2)), "model.pt")
    assert report.verdict == "clean", report.findings
    assert report.files[0].format == "pytorch-legacy"


def test_legacy_torch_payload_in_the_main_pickle(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, _legacy_torch(pickle.dumps(Reduce(os.system, "id"), protocol=2)), "model.pt")
    assert report.verdict == "unsafe"


def test_legacy_torch_magic_made_by_eval(tmp_path: Path) -> None:
    # GHSA-97f8-7cmv-76j2: the magic number produced by eval, then a payload in pickle #5
    magic = pickle.dumps(Reduce(eval, "0x1950A86A20F9469CFC6C"), protocol=2)
    report = scan_bytes(tmp_path, _legacy_torch(pickle.dumps([1], protocol=2), magic=magic), "model.pt")
    assert report.verdict == "unsafe"
    assert any(f.name == "eval" for f in report.findings)


def test_a_key_nested_half_a_million_deep_does_not_crash_the_scanner(tmp_path: Path) -> None:
    # hashing such a tuple overflows the C stack (pickle.loads itself segfaults on this file)
    data = b"\x80\x02}" + b")" + b"\x85" * 500_000 + b"Ns."
    assert scan_bytes(tmp_path, data).verdict == "clean"
