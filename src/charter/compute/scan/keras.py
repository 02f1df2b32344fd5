"""Keras: the model's JSON config (``config.json`` in a ``.keras`` zip, the ``model_config`` and
``training_config`` attributes of an ``.h5`` file) names the classes and functions to rebuild.

* ``Lambda`` layers (``class_name`` ``Lambda`` or ``__lambda__``) carry marshalled Python bytecode:
  critical (CVE-2024-3660). ``TFOpLambda``/``SlicingOpLambda`` call a TensorFlow function by name: high.
* Keras 3 entries also name a ``module`` (and functions a ``config`` name): Keras imports it and
  looks the name up, which is how CVE-2025-1550 runs arbitrary code and CVE-2025-8747/9906 call
  ``keras.config.enable_unsafe_deserialization``. A module outside the allowlist below is high
  (critical when the pickle allowlist calls it dangerous, e.g. ``os``, ``builtins``), as is a
  function outside the activation/loss/metric/ops modules or a loader like ``load_model``.
* A ``registered_name`` of the form ``package>Name`` is a custom object: user code, high.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from charter.compute.scan.allowlist import judge
from charter.compute.scan.report import Recorder

# Modules whose classes Keras rebuilds from configs without running user code.
_MODULES = tuple(
    f"{root}.{part}"
    for root in ("keras", "keras.src")
    for part in (
        "layers",
        "models",
        "engine",
        "optimizers",
        "losses",
        "metrics",
        "initializers",
        "regularizers",
        "constraints",
        "activations",
        "ops",
        "backend",
        "dtype_policies",
        "legacy.layers",
        "mixed_precision",
        "random",
    )
)
# Modules whose *functions* may be named in a config (activations, losses, metrics, tensor ops).
_FUNCTION_MODULES = tuple(
    f"{root}.{part}" for root in ("keras", "keras.src") for part in ("activations", "losses", "metrics", "ops")
)
_FORBIDDEN_NAMES = frozenset(
    {"load_model", "model_from_json", "model_from_config", "model_from_yaml", "enable_unsafe_deserialization"}
    | {"get_file", "load_weights", "deserialize_keras_object", "import_module", "exec", "eval"}
)
_LAMBDAS = {"Lambda": "critical", "__lambda__": "critical", "TFOpLambda": "high", "SlicingOpLambda": "high"}


def _allowed(module: str, roots: tuple[str, ...]) -> bool:
    return module == "keras" or any(module == r or module.startswith(r + ".") for r in roots)


def check_config(rec: Recorder, member: str | None, config: object) -> None:
    """Walk a parsed config (iteratively: configs can nest deeply)."""
    todo: list[Any] = [config]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        todo.extend(node.values())
        _check_entry(rec, member, node)


def _check_entry(rec: Recorder, member: str | None, node: dict[str, Any]) -> None:
    class_name, module, registered = node.get("class_name"), node.get("module"), node.get("registered_name")
    if not isinstance(class_name, str):
        return
    where = f"{class_name} ({node['config'].get('name')})" if isinstance(node.get("config"), dict) else class_name
    severity = _LAMBDAS.get(class_name)
    if severity == "critical":
        rec.add(member, "keras-lambda", "critical", f"a {where} layer carries Python bytecode that runs on load")
    elif severity == "high":
        rec.add(member, "keras-lambda", "high", f"a {where} layer calls a TensorFlow function named in the file")
    name = node.get("config") if class_name == "function" else class_name
    if isinstance(module, str):
        roots = _FUNCTION_MODULES if class_name == "function" else _MODULES
        if not _allowed(module, roots) or (isinstance(name, str) and name in _FORBIDDEN_NAMES):
            dangerous = isinstance(name, str) and (judge(module, name) == "dangerous" or name in _FORBIDDEN_NAMES)
            rec.add(
                member,
                "keras-unknown-module",
                "critical" if dangerous else "high",
                f"the config makes Keras import {module}.{name}, outside the Keras allowlist",
                module=module,
                name=name if isinstance(name, str) else None,
            )
    if isinstance(registered, str) and ">" in registered and not registered.startswith("keras>"):
        rec.add(
            member,
            "keras-unknown-module",
            "high",
            f"{where} is a custom object ({registered}): loading it runs the package's own code",
            name=registered,
        )


def check_config_text(rec: Recorder, member: str | None, text: str | bytes, what: str) -> None:
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as exc:
        rec.add(member, "parse-error", "medium", f"the Keras {what} is not JSON: {exc}")
        return
    check_config(rec, member, config)


def scan_h5(rec: Recorder, path: Path) -> bool:
    """Check a Keras ``.h5`` file's configs; False when the file is not readable HDF5."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            attrs = {key: f.attrs[key] for key in ("model_config", "training_config") if key in f.attrs}
    except (OSError, ValueError, KeyError) as exc:
        rec.add(None, "parse-error", "medium", f"unreadable HDF5 file: {exc}")
        return False
    for key, value in attrs.items():
        if hasattr(value, "tobytes") and not isinstance(value, bytes):
            value = value.tobytes()
        if isinstance(value, bytes | str):
            check_config_text(rec, None, value, key)
        else:
            rec.add(None, "parse-error", "medium", f"the HDF5 attribute {key} is not text")
    return True
