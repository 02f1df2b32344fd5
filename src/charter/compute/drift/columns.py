"""Which columns are profiled, and as what: the one set of rules every engine applies.

A column's kind is detected from its type: integers, floats and decimals are numeric; text,
booleans and categoricals (pandas ``category``, Arrow dictionaries, DuckDB ENUM) are categorical;
other types (dates, times, binary, nested) are skipped when no columns were named and refused
when they were. ``categorical=[...]`` turns numeric columns (codes, small integers) into
categories; ``numeric=[...]`` asks for numbers and refuses a column that does not hold them. When
the current data is binned on a reference profile, the reference's kinds win.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from charter.compute.drift.profile import F64, Kind
from charter.errors import InvalidInput

Detected = Kind | None  # None: a type that is neither numeric nor categorical


@dataclass(frozen=True)
class Request:
    """What the caller asked to profile (validated by ``charter.compute.drift.api.profile``)."""

    columns: tuple[str, ...] | None
    categorical: frozenset[str]
    numeric: frozenset[str]
    bins: int
    max_exact_rows: int
    kinds: Mapping[str, Kind] | None = None  # from the reference profile
    edges: Mapping[str, F64] | None = None  # from the reference profile

    def names(self, available: Sequence[str], *, where: str = "the data") -> list[str]:
        """The columns to profile, checked against the data's (unknown names refused, naming the known)."""
        if self.columns is not None:
            wanted = list(self.columns)
        elif self.kinds is not None:
            wanted = list(self.kinds)
        else:
            return list(available)
        known = set(available)
        for name in wanted:
            if name not in known:
                raise InvalidInput(
                    f"column {name!r} not found in {where}; available columns: {', '.join(map(str, available))}",
                    details={"column": name, "available": [str(a) for a in available]},
                )
        return wanted

    def kind(self, name: str, detected: Detected, type_text: str) -> Kind | None:
        """The kind to profile ``name`` as; None to skip it. Raises for a type that cannot be that kind."""
        wanted: Kind | None = None
        source = ""
        if self.kinds is not None and name in self.kinds:
            wanted, source = self.kinds[name], "in the reference"
        elif name in self.categorical:
            wanted, source = "categorical", "(categorical=)"
        elif name in self.numeric:
            wanted, source = "numeric", "(numeric=)"
        if wanted == "numeric" and detected != "numeric":
            raise InvalidInput(
                f"column {name!r} is numeric {source} but holds non-numeric values (type {type_text})",
                details={"column": name, "type": type_text},
            )
        if wanted == "categorical" and detected is None and self.kinds is not None and name in self.kinds:
            raise InvalidInput(
                f"column {name!r} is categorical in the reference but its type here is {type_text}",
                details={"column": name, "type": type_text},
            )
        if wanted is not None:
            return wanted
        if detected is None and self.columns is not None:
            raise InvalidInput(
                f"column {name!r} has type {type_text}, which is neither numeric nor categorical; "
                "pass categorical=[...] to count its values",
                details={"column": name, "type": type_text},
            )
        return detected

    def edges_of(self, name: str) -> F64 | None:
        return None if self.edges is None else self.edges.get(name)


def skipped_reason(type_text: str) -> str:
    return f"type {type_text} is neither numeric nor categorical"
