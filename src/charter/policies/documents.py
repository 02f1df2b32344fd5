"""Policy documents as text (YAML or JSON) and the starter pack shipped with Charter as data."""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

import orjson

from charter.policies.schemas import PolicyDocument
from charter.policies.text import parse_mapping, validate_model

PACK = "charter.policies.pack"
MAX_TEXT = 256_000


def sha256(document: PolicyDocument) -> str:
    """SHA-256 of the document's canonical JSON (keys sorted): what a version is known by."""
    return hashlib.sha256(orjson.dumps(canonical(document), option=orjson.OPT_SORT_KEYS)).hexdigest()


def canonical(document: PolicyDocument) -> dict[str, Any]:
    return document.model_dump(mode="json")


def parse_text(text: str, *, name: str = "the policy") -> PolicyDocument:
    """A policy from YAML or JSON text (JSON is YAML); errors name the field and the problem."""
    fields = "id, title, owner, rationale, match and rules"
    return parse_data(parse_mapping(text, name=name, max_chars=MAX_TEXT, fields=fields), name=name)


def parse_data(data: dict[str, Any], *, name: str = "the policy") -> PolicyDocument:
    return validate_model(PolicyDocument, data, name=name, kind="a valid policy")


def pack_documents() -> list[PolicyDocument]:
    """The starter policies shipped in ``charter/policies/pack/*.yaml``, in file-name order."""
    folder = resources.files(PACK)
    files = sorted((f for f in folder.iterdir() if f.name.endswith((".yaml", ".yml"))), key=lambda f: f.name)
    return [parse_text(f.read_text(encoding="utf-8"), name=f"pack/{f.name}") for f in files]
