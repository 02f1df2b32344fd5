"""The types the policy checker knows: CEL's own, plus structs for the facts document.

A struct is a CEL map whose keys are known in advance (each fact, with its type and meaning), so
that a misspelt fact is refused when a policy is saved instead of failing at a gate. Pure: no
database, no web.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal[
    "bool", "int", "uint", "double", "string", "bytes", "null", "timestamp", "duration", "list", "map", "struct", "dyn"
]
NUMERIC: frozenset[str] = frozenset({"int", "uint", "double"})


@dataclass(frozen=True)
class Type:
    """A CEL type. ``nullable`` marks a fact that may be null (unknown or absent)."""

    kind: Kind
    elem: Type | None = None  # a list's element, a map's value
    fields: Mapping[str, Fact] | None = field(default=None, compare=False)
    nullable: bool = False

    def __str__(self) -> str:
        if self.kind == "list":
            text = f"list<{self.elem}>"
        elif self.kind == "map":
            text = f"map<string, {self.elem}>"
        elif self.kind == "struct":
            text = "object"
        else:
            text = self.kind
        return text + ("?" if self.nullable else "")

    def non_null(self) -> Type:
        return Type(self.kind, self.elem, self.fields) if self.nullable else self

    def or_null(self) -> Type:
        return Type(self.kind, self.elem, self.fields, nullable=True)


@dataclass(frozen=True)
class Fact:
    """One named fact: its type and what it means (the docs list every fact from these)."""

    type: Type
    doc: str


BOOL = Type("bool")
INT = Type("int")
UINT = Type("uint")
DOUBLE = Type("double")
STRING = Type("string")
BYTES = Type("bytes")
NULL = Type("null")
TIMESTAMP = Type("timestamp")
DURATION = Type("duration")
DYN = Type("dyn")


def list_of(elem: Type) -> Type:
    return Type("list", elem)


def map_of(value: Type) -> Type:
    return Type("map", value)


def struct(fields: Mapping[str, Fact], *, nullable: bool = False) -> Type:
    return Type("struct", fields=dict(fields), nullable=nullable)


def walk(root: Type, prefix: str) -> Iterator[tuple[str, Fact]]:
    """Every fact under ``root`` as (dotted path, fact), depth first, in declaration order.

    A list of structs shows its element's fields as ``path[].field``.
    """
    for name, fact in (root.fields or {}).items():
        path = f"{prefix}.{name}"
        yield path, fact
        inner = fact.type.elem if fact.type.kind == "list" else fact.type
        if inner is not None and inner.kind == "struct":
            yield from walk(inner, path + ("[]" if fact.type.kind == "list" else ""))
