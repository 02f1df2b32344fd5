"""Policy documents as text (YAML or JSON) and the starter pack shipped with Charter as data."""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from charter.errors import InvalidInput
from charter.policies.schemas import PolicyDocument

PACK = "charter.policies.pack"
MAX_TEXT = 256_000


def sha256(document: PolicyDocument) -> str:
    """SHA-256 of the document's canonical JSON (keys sorted): what a version is known by."""
    return hashlib.sha256(orjson.dumps(canonical(document), option=orjson.OPT_SORT_KEYS)).hexdigest()


def canonical(document: PolicyDocument) -> dict[str, Any]:
    return document.model_dump(mode="json")


def parse_text(text: str, *, name: str = "the policy") -> PolicyDocument:
    """A policy from YAML or JSON text (JSON is YAML); errors name the field and the problem."""
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{name} is {len(text):,} characters long; at most {MAX_TEXT:,} are accepted.")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InvalidInput(f"{name} is not valid YAML or JSON{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{name} must be a mapping with id, title, owner, rationale, match and rules.")
    return parse_data(data, name=name)


def parse_data(data: dict[str, Any], *, name: str = "the policy") -> PolicyDocument:
    try:
        return PolicyDocument.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"location": [str(p) for p in e["loc"]], "message": e["msg"]} for e in exc.errors(include_input=False)
        ]
        listed = "; ".join(f"{'.'.join(p['location']) or 'document'}: {p['message']}" for p in problems[:5])
        raise InvalidInput(f"{name} is not a valid policy: {listed}", details={"errors": problems}) from None


def pack_documents() -> list[PolicyDocument]:
    """The starter policies shipped in ``charter/policies/pack/*.yaml``, in file-name order."""
    folder = resources.files(PACK)
    files = sorted((f for f in folder.iterdir() if f.name.endswith((".yaml", ".yml"))), key=lambda f: f.name)
    return [parse_text(f.read_text(encoding="utf-8"), name=f"pack/{f.name}") for f in files]
