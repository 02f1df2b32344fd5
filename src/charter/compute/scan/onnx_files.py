"""ONNX: no opcode runs code, but a tensor stored outside the model names a file to read.

Every tensor with ``data_location == EXTERNAL`` (graph initializers, sparse initializers, tensors in
node attributes, in subgraphs of ``If``/``Loop``/``Scan``, in local functions and training graphs)
has its ``location`` checked: an absolute path, a drive letter, or a relative path that leaves the
model's folder once normalised (``../x``, ``a/../../x``: CVE-2022-25882, CVE-2024-27318), or a
symlink there that resolves outside it, is ``onnx-external-data-escape`` (critical). Nodes in
operator domains outside ONNX's own and ONNX Runtime's need a native custom-op library: reported
as context (``onnx-custom-op``, no effect on the verdict).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from pathlib import Path

import onnx

from charter.compute.scan.report import Recorder

_STANDARD_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "com.microsoft"}
    | {"com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc", "org.pytorch.aten"}
)
_DRIVE = re.compile(r"^[A-Za-z]:")


def _graphs(model: onnx.ModelProto) -> Iterator[onnx.GraphProto]:
    todo = [model.graph, *(t.initialization for t in model.training_info), *(t.algorithm for t in model.training_info)]
    while todo:
        graph = todo.pop()
        yield graph
        for node in graph.node:
            for attr in node.attribute:
                if attr.HasField("g"):
                    todo.append(attr.g)
                todo.extend(attr.graphs)


def _nodes(model: onnx.ModelProto) -> Iterator[onnx.NodeProto]:
    for graph in _graphs(model):
        yield from graph.node
    for function in model.functions:
        yield from function.node


def _tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    for graph in _graphs(model):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
    for node in _nodes(model):
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield from (attr.sparse_tensor.values, attr.sparse_tensor.indices)
            for sparse in attr.sparse_tensors:
                yield from (sparse.values, sparse.indices)


def escape_reason(location: str, base: Path | None) -> str | None:
    """Why ``location`` reaches outside ``base`` (the model's folder), or None."""
    loc = location.replace("\\", "/")
    if loc.startswith("/") or _DRIVE.match(loc):
        return "is an absolute path"
    norm = posixpath.normpath(loc)
    if norm == ".." or norm.startswith("../"):
        return "leaves the model's folder"
    if base is not None:
        target = base / norm
        if target.is_symlink() or target.exists():
            try:
                target.resolve().relative_to(base.resolve())
            except ValueError:
                return "is a link to a file outside the model's folder"
    return None


def scan_onnx(rec: Recorder, path: Path, *, base: Path | None) -> set[Path]:
    """Check the model's external data; return the files it references inside ``base``."""
    referenced: set[Path] = set()
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, onnx's own errors, OSError: all mean "cannot read"
        rec.add(None, "parse-error", "medium", f"not a readable ONNX model: {exc}")
        return referenced
    if not model.HasField("graph") or model.ir_version == 0:
        rec.add(None, "parse-error", "medium", "not an ONNX model (no graph or IR version)")
        return referenced
    for tensor in _tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location")
        if not location:
            rec.add(None, "parse-error", "medium", f"tensor {tensor.name!r} is external but names no location")
            continue
        reason = escape_reason(location, base)
        if reason:
            rec.add(
                None,
                "onnx-external-data-escape",
                "critical",
                f"tensor {tensor.name!r} reads its data from {location!r}, which {reason}",
            )
        elif base is not None:
            referenced.add((base / posixpath.normpath(location.replace("\\", "/"))).resolve())
    local = {f.domain for f in model.functions}
    custom = sorted({n.domain for n in _nodes(model)} - _STANDARD_DOMAINS - local)
    if custom:
        rec.add(None, "onnx-custom-op", "low", f"operators from custom domains {custom}: they need a native library")
    return referenced
