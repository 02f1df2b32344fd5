"""Keras configs (``.keras`` zip and ``.h5``), ONNX external data, safetensors headers."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from safetensors.numpy import save_file

from charter.compute.scan import ScanReport, scan_path
from charter.compute.scan.report import Recorder, ScanLimits
from charter.compute.scan.safetensors_files import scan_safetensors


def rules(report: ScanReport) -> set[str]:
    return {f.rule for f in report.findings}


# -- Keras ---------------------------------------------------------------------------------------------


def layer(class_name: str, config: dict[str, Any], module: str = "keras.layers") -> dict[str, Any]:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def keras_config(*layers: dict[str, Any]) -> dict[str, Any]:
    dense = layer(
        "Dense",
        {
            "name": "dense",
            "units": 2,
            "activation": "relu",
            "kernel_initializer": layer("GlorotUniform", {"seed": None}, "keras.initializers"),
            "dtype": layer("DTypePolicy", {"name": "float32"}, "keras"),
        },
    )
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": [layer("InputLayer", {"batch_shape": [None, 4]}), dense, *layers]},
        "registered_name": None,
        "compile_config": {"optimizer": layer("Adam", {"learning_rate": 0.001}, "keras.optimizers"), "loss": "mse"},
    }


LAMBDA = layer(
    "Lambda",
    {"name": "lambda", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA", "closure": None}}},
)
UNSAFE_KERAS = {
    "lambda": (LAMBDA, "keras-lambda", "critical"),
    "unsafe deserialization": (
        {
            "module": "keras.src.saving.serialization_lib",
            "class_name": "function",
            "config": "enable_unsafe_deserialization",
            "registered_name": None,
        },
        "keras-unknown-module",
        "critical",
    ),
    "load_model through an allowed module": (
        {"module": "keras.models", "class_name": "function", "config": "load_model", "registered_name": None},
        "keras-unknown-module",
        "critical",
    ),
    "os.system as activation": (
        {"module": "os", "class_name": "function", "config": "system", "registered_name": None},
        "keras-unknown-module",
        "critical",
    ),
    "third-party module": (layer("Attention", {}, "mylib.layers"), "keras-unknown-module", "high"),
    "custom registered object": (
        {**layer("Dense", {}), "registered_name": "my_package>MyDense"},
        "keras-unknown-module",
        "high",
    ),
}


def keras_zip(path: Path, config: dict[str, Any]) -> Path:
    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        f.create_dataset("vars/0", data=np.ones((4, 2), dtype=np.float32))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0", "date_saved": "2025-01-01"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights.getvalue())
    return path


def test_clean_keras_zip(tmp_path: Path) -> None:
    report = scan_path(keras_zip(tmp_path / "model.keras", keras_config()))
    assert report.verdict == "clean", report.findings
    assert report.files[0].format == "keras"


@pytest.mark.parametrize("case", sorted(UNSAFE_KERAS))
def test_unsafe_keras_zip(tmp_path: Path, case: str) -> None:
    entry, rule, severity = UNSAFE_KERAS[case]
    report = scan_path(keras_zip(tmp_path / "model.keras", keras_config(entry)))
    assert report.verdict == "unsafe"
    assert any(f.rule == rule and f.severity == severity and f.member == "config.json" for f in report.findings)


def test_keras_zip_without_config_is_not_verified(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", "{}")
    assert scan_path(path).verdict == "not_verified"


def legacy_h5(path: Path, *layers: dict[str, Any]) -> Path:
    config = {
        "class_name": "Sequential",
        "config": {"name": "s", "layers": [{"class_name": "Dense", "config": {"units": 2}}, *layers]},
    }
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
        f.create_dataset("model_weights/dense/kernel", data=np.ones((2, 2)))
    return path


def test_keras_h5(tmp_path: Path) -> None:
    keras2_lambda = {
        "class_name": "Lambda",
        "config": {"function": ["4wEAAAAA", None, None], "function_type": "lambda"},
    }
    clean = scan_path(legacy_h5(tmp_path / "clean.h5"))
    assert clean.verdict == "clean" and clean.files[0].format == "keras-h5"
    report = scan_path(legacy_h5(tmp_path / "lambda.h5", keras2_lambda))
    assert report.verdict == "unsafe"
    assert next(f for f in report.findings if f.rule == "keras-lambda").severity == "critical"
    tf_op = scan_path(
        legacy_h5(tmp_path / "tfop.h5", {"class_name": "TFOpLambda", "config": {"function": "io.write_file"}})
    )
    assert tf_op.verdict == "unsafe"


def test_plain_hdf5_and_broken_hdf5(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "weights.h5", "w") as f:
        f.create_dataset("w", data=np.arange(4))
    assert scan_path(tmp_path / "weights.h5").verdict == "clean"
    (tmp_path / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert scan_path(tmp_path / "broken.h5").verdict == "not_verified"


# -- ONNX ------------------------------------------------------------------------------------------------


def external(name: str, location: str) -> onnx.TensorProto:
    tensor = helper.make_tensor(name, TensorProto.FLOAT, [2], [0.0, 0.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def onnx_model(path: Path, location: str, *, in_subgraph: bool = False) -> Path:
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    if in_subgraph:  # the external tensor sits in an If node's branch, inside a Constant's attribute
        const = helper.make_node("Constant", [], ["y"], value=external("w", location))
        branch = helper.make_graph([const], "branch", [], [out])
        cond = helper.make_tensor("c", TensorProto.BOOL, [], [True])
        node = helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)
        graph = helper.make_graph([node], "g", [], [out], initializer=[cond])
    else:
        graph = helper.make_graph(
            [helper.make_node("Identity", ["w"], ["y"])], "g", [], [out], initializer=[external("w", location)]
        )
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../x.bin", "C:\\Windows\\x.bin"])
@pytest.mark.parametrize("in_subgraph", [False, True])
def test_onnx_external_data_escape(tmp_path: Path, location: str, in_subgraph: bool) -> None:
    report = scan_path(onnx_model(tmp_path / "model.onnx", location, in_subgraph=in_subgraph))
    assert report.verdict == "unsafe"
    finding = next(f for f in report.findings if f.rule == "onnx-external-data-escape")
    assert finding.severity == "critical"


def test_onnx_external_data_symlink_escape(tmp_path: Path) -> None:
    (tmp_path / "outside.bin").write_bytes(bytes(8))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").symlink_to(tmp_path / "outside.bin")
    report = scan_path(onnx_model(folder / "model.onnx", "weights.bin"))
    assert "onnx-external-data-escape" in rules(report)


def test_onnx_with_external_data_in_its_folder_is_clean(tmp_path: Path) -> None:
    onnx_model(tmp_path / "model.onnx", "weights.bin")
    (tmp_path / "weights.bin").write_bytes(np.zeros(2, dtype=np.float32).tobytes())
    report = scan_path(tmp_path)
    assert report.verdict == "clean", report.findings
    assert {f.format for f in report.files} == {"onnx", "onnx-external-data"}


def test_broken_onnx_is_not_verified(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07\x12\xff\xff\xff\xff garbage")
    (tmp_path / "empty.onnx").write_bytes(b"\x08\x01")
    assert scan_path(tmp_path / "model.onnx").verdict == "not_verified"
    assert scan_path(tmp_path / "empty.onnx").verdict == "not_verified"


def test_onnx_custom_domain_is_context_only(tmp_path: Path) -> None:
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    graph = helper.make_graph([helper.make_node("MyOp", ["x"], ["y"], domain="com.example")], "g", [x], [out])
    (tmp_path / "model.onnx").write_bytes(helper.make_model(graph).SerializeToString())
    report = scan_path(tmp_path / "model.onnx")
    assert report.verdict == "clean" and rules(report) == {"onnx-custom-op"}


# -- safetensors -------------------------------------------------------------------------------------------


def safetensors_bytes(header: Any, data: bytes = b"", *, raw: bytes | None = None) -> bytes:
    text = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


F32_2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
MALFORMED: dict[str, tuple[bytes, str, str]] = {
    "bad json": (safetensors_bytes(None, raw=b'{"a": '), "not_verified", "safetensors-unreadable-header"),
    "not an object": (safetensors_bytes(None, raw=b"[1, 2]"), "not_verified", "safetensors-unreadable-header"),
    "length past the end": (struct.pack("<Q", 1000) + b'{"a": 1}', "not_verified", "safetensors-unreadable-header"),
    "length over 100 MB": (struct.pack("<Q", 200_000_000) + b"{}", "not_verified", "safetensors-unreadable-header"),
    "shorter than 8 bytes": (b"\x05\x00", "not_verified", "safetensors-unreadable-header"),
    "unknown dtype": (
        safetensors_bytes({"w": {"dtype": "F128", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
        "not_verified",
        "safetensors-unknown-dtype",
    ),
    "offsets past the data": (
        safetensors_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(4)),
        "unsafe",
        "safetensors-malformed",
    ),
    "overlapping tensors": (
        safetensors_bytes({"a": F32_2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),
        "unsafe",
        "safetensors-malformed",
    ),
    "shape does not match span": (
        safetensors_bytes({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)),
        "unsafe",
        "safetensors-malformed",
    ),
    "reversed offsets": (
        safetensors_bytes({"w": {"dtype": "U8", "shape": [0], "data_offsets": [8, 0]}}, bytes(8)),
        "unsafe",
        "safetensors-malformed",
    ),
    "gap between tensors": (
        safetensors_bytes({"a": F32_2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}, bytes(20)),
        "unsafe",
        "safetensors-malformed",
    ),
    "duplicate keys": (
        safetensors_bytes(
            None, bytes(8), raw=b'{"w": ' + json.dumps(F32_2).encode() + b', "w": ' + json.dumps(F32_2).encode() + b"}"
        ),
        "unsafe",
        "safetensors-malformed",
    ),
    "metadata not strings": (
        safetensors_bytes({"__metadata__": {"a": 1}, "w": F32_2}, bytes(8)),
        "unsafe",
        "safetensors-malformed",
    ),
    "entry missing shape": (
        safetensors_bytes({"w": {"dtype": "F32", "data_offsets": [0, 8]}}, bytes(8)),
        "unsafe",
        "safetensors-malformed",
    ),
}


def test_valid_safetensors_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file({"w": np.ones((3, 4), dtype=np.float32), "b": np.zeros(2, dtype=np.int64)}, str(path), {"a": "b"})
    report = scan_path(path)
    assert report.verdict == "clean" and report.files[0].format == "safetensors"


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_safetensors(tmp_path: Path, case: str) -> None:
    data, verdict, rule = MALFORMED[case]
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    report = scan_path(path)
    assert report.verdict == verdict and rule in rules(report), report.findings


def test_safetensors_scan_reads_the_header_only() -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 28], "data_offsets": [0, 1 << 30]}}).encode()

    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            Counting.read_bytes += len(data)
            return data

    stream = Counting(struct.pack("<Q", len(header)) + header)
    rec = Recorder("x", ScanLimits())
    scan_safetensors(rec, None, stream, size=8 + len(header) + (1 << 30))  # the 1 GiB of data is not there
    assert rec.findings == [] and Counting.read_bytes == 8 + len(header)
