"""Framework documents: parse (YAML or JSON), validate, compile. Pure: no database, no web.

Validation happens when a framework is loaded or stored, never at evaluation time:

- every CEL expression (the framework's and each requirement's ``applies``, each check) compiles
  and type-checks against the policy facts; errors carry their field, line and column;
- every evidence kind is one Charter records; every policy rule named exists (``policy-id`` alone
  names all its rules); every ``maps_to`` names a requirement of a known framework (or of this one).

The frameworks shipped with Charter are ``charter/compliance/frameworks/*.yaml``; they are validated
together (they map to one another) against the starter policy pack.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson

from charter.compliance.schemas import CheckSpec, FrameworkDocument, RequirementSpec
from charter.errors import InvalidInput
from charter.policies import cel
from charter.policies.engine import compile_collecting
from charter.policies.text import parse_mapping, validate_model

__all__ = [
    "BUILTIN",
    "CompiledFramework",
    "CompiledRequirement",
    "Known",
    "builtin",
    "canonical",
    "links",
    "parse_data",
    "parse_text",
    "sha256",
    "split_rule",
    "validate",
]

# The data folder beside this module (no __init__.py: this module keeps the import name).
BUILTIN = ("charter.compliance", "frameworks")
MAX_TEXT = 1_000_000


@dataclass(frozen=True)
class CompiledRequirement:
    spec: RequirementSpec
    applies: cel.Compiled
    checks: tuple[tuple[CheckSpec, cel.Compiled], ...]

    @property
    def key(self) -> str:
        return self.spec.id


@dataclass(frozen=True)
class CompiledFramework:
    document: FrameworkDocument
    sha256: str
    applies: cel.Compiled
    requirements: tuple[CompiledRequirement, ...]
    builtin: bool

    @property
    def id(self) -> str:
        return self.document.id

    def expressions(self) -> Iterable[cel.Compiled]:
        yield self.applies
        for requirement in self.requirements:
            yield requirement.applies
            yield from (compiled for _spec, compiled in requirement.checks)

    def policy_rules(self) -> set[str]:
        return {ref for r in self.requirements for ref in r.spec.satisfied_by.policy_rules}


@dataclass(frozen=True)
class Known:
    """What a framework's references may name."""

    evidence_kinds: frozenset[str]
    # policy id -> its rule ids
    policy_rules: Mapping[str, frozenset[str]]
    # "framework:requirement" of every other framework
    requirements: frozenset[str]


def canonical(document: FrameworkDocument) -> dict[str, Any]:
    return document.model_dump(mode="json")


def sha256(document: FrameworkDocument) -> str:
    """SHA-256 of the document's canonical JSON (keys sorted): what a version is known by."""
    return hashlib.sha256(orjson.dumps(canonical(document), option=orjson.OPT_SORT_KEYS)).hexdigest()


def parse_text(text: str, *, name: str = "the framework") -> FrameworkDocument:
    """A framework from YAML or JSON text; errors name the line or the field."""
    fields = "id, title, version, source and requirements"
    return parse_data(parse_mapping(text, name=name, max_chars=MAX_TEXT, fields=fields), name=name)


def parse_data(data: Mapping[str, Any], *, name: str = "the framework") -> FrameworkDocument:
    return validate_model(FrameworkDocument, data, name=name, kind="a valid framework")


def split_rule(ref: str) -> tuple[str, str | None]:
    """``policy/rule`` -> (policy, rule); ``policy`` -> (policy, None)."""
    policy, _, rule = ref.partition("/")
    return policy, rule or None


def _problem(errors: list[dict[str, Any]], where: str, message: str) -> None:
    errors.append({"field": where, "line": None, "column": None, "message": message})


def _check_references(
    where: str, spec: RequirementSpec, own: frozenset[str], known: Known, errors: list[dict[str, Any]]
) -> None:
    satisfied = spec.satisfied_by
    for index, evidence in enumerate(satisfied.evidence):
        for kind in evidence.kinds:
            if kind not in known.evidence_kinds:
                choices = ", ".join(sorted(known.evidence_kinds))
                field = f"{where}.satisfied_by.evidence[{index}]"
                _problem(errors, field, f"unknown evidence kind {kind!r}: {choices}")
    for ref in satisfied.policy_rules:
        policy, rule = split_rule(ref)
        rules = known.policy_rules.get(policy)
        if rules is None:
            _problem(errors, f"{where}.satisfied_by.policy_rules", f"unknown policy {policy!r}")
        elif rule is not None and rule not in rules:
            listed = ", ".join(sorted(rules))
            _problem(errors, f"{where}.satisfied_by.policy_rules", f"policy {policy!r} has no rule {rule!r}: {listed}")
    seen: set[str] = set()
    for check in satisfied.checks:
        if check.id in seen:
            _problem(errors, f"{where}.satisfied_by.checks", f"two checks have the id {check.id!r}")
        seen.add(check.id)
    for target in spec.maps_to:
        framework, sep, requirement = target.partition(":")
        if not sep or not framework or not requirement:
            _problem(errors, f"{where}.maps_to", f"{target!r} is not 'framework:requirement'")
        elif target not in own and target not in known.requirements:
            _problem(errors, f"{where}.maps_to", f"{target!r} names no known requirement")


def _where(error: dict[str, Any]) -> str:
    where = str(error["field"])
    return where if error["line"] is None else f"{where}: line {error['line']}, column {error['column']}"


def validate(document: FrameworkDocument, known: Known | None, *, builtin: bool = False) -> CompiledFramework:
    """Compile and check the whole document; raise ``InvalidInput`` listing every error with its position.

    ``known`` None compiles without checking references: for stored documents, checked when they
    were stored (a policy removed since then shows as not installed in a status, never as an error).
    """
    errors: list[dict[str, Any]] = []
    own = frozenset(f"{document.id}:{r.id}" for r in document.requirements)
    applies = compile_collecting("applies", document.applies, errors)
    requirements: list[CompiledRequirement] = []
    for index, spec in enumerate(document.requirements):
        where = f"requirements[{index}] ({spec.id})"
        condition = compile_collecting(f"{where}.applies", spec.applies, errors)
        checks = []
        for position, check in enumerate(spec.satisfied_by.checks):
            compiled = compile_collecting(f"{where}.satisfied_by.checks[{position}] ({check.id})", check.expr, errors)
            if compiled is not None:
                checks.append((check, compiled))
        if known is not None:
            _check_references(where, spec, own, known, errors)
        if f"{document.id}:{spec.id}" in spec.maps_to:
            _problem(errors, f"{where}.maps_to", "a requirement cannot map to itself")
        if condition is not None:
            requirements.append(CompiledRequirement(spec, condition, tuple(checks)))
    if errors or applies is None:
        listed = "; ".join(_where(e) + f": {e['message']}" for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise InvalidInput(f"Framework {document.id!r} is not valid: {listed}{more}", details={"errors": errors})
    return CompiledFramework(document, sha256(document), applies, tuple(requirements), builtin)


def builtin_documents() -> list[FrameworkDocument]:
    """The frameworks shipped in ``charter/compliance/frameworks/*.yaml``, in file-name order."""
    folder = resources.files(BUILTIN[0]).joinpath(BUILTIN[1])
    files = sorted((f for f in folder.iterdir() if f.name.endswith((".yaml", ".yml"))), key=lambda f: f.name)
    return [parse_text(f.read_text(encoding="utf-8"), name=f"frameworks/{f.name}") for f in files]


def pack_rules() -> dict[str, frozenset[str]]:
    """The starter policy pack's rules: what the shipped frameworks may name."""
    from charter.policies.documents import pack_documents

    return {p.id: frozenset(r.id for r in p.rules) for p in pack_documents()}


@functools.cache
def builtin(evidence_kinds: frozenset[str]) -> tuple[CompiledFramework, ...]:
    """The shipped frameworks, validated together against the starter pack (compiled once per process)."""
    documents = builtin_documents()
    everything = frozenset(f"{d.id}:{r.id}" for d in documents for r in d.requirements)
    known = Known(evidence_kinds, pack_rules(), everything)
    return tuple(validate(d, known, builtin=True) for d in documents)


def links(frameworks: Iterable[CompiledFramework]) -> dict[str, set[str]]:
    """"framework:requirement" -> the requirements mapped to it, both ways (a mapping is symmetric, one hop)."""
    out: dict[str, set[str]] = defaultdict(set)
    for framework in frameworks:
        for requirement in framework.requirements:
            here = f"{framework.id}:{requirement.spec.id}"
            for target in requirement.spec.maps_to:
                out[here].add(target)
                out[target].add(here)
    return out
