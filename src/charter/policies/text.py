"""Documents as YAML or JSON text (JSON is YAML), read into a pydantic model. Pure: no database, no web.

Policies, risk scoring rules and compliance frameworks are all stored this way; each errs with an
``InvalidInput`` that names the line and column of a syntax error, or the fields that are wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from charter.errors import InvalidInput

__all__ = ["parse_mapping", "validate_model"]

M = TypeVar("M", bound=BaseModel)

#: How many field errors the message lists (all of them are in ``details["errors"]``).
_LISTED = 5


def parse_mapping(text: str, *, name: str, max_chars: int, fields: str) -> dict[str, Any]:
    """The mapping ``text`` holds, at most ``max_chars`` long; ``fields`` is what the mapping should have."""
    if len(text) > max_chars:
        raise InvalidInput(f"{name} is {len(text):,} characters long; at most {max_chars:,} are accepted.")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InvalidInput(f"{name} is not valid YAML or JSON{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{name} must be a mapping with {fields}.")
    return data


def validate_model(model: type[M], data: Mapping[str, Any], *, name: str, kind: str) -> M:
    """``data`` as a ``model``; otherwise ``InvalidInput`` "<name> is not <kind>: <field>: <problem>; ..."."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"location": [str(p) for p in e["loc"]], "message": e["msg"]} for e in exc.errors(include_input=False)
        ]
        listed = "; ".join(f"{'.'.join(p['location']) or 'document'}: {p['message']}" for p in problems[:_LISTED])
        raise InvalidInput(f"{name} is not {kind}: {listed}", details={"errors": problems}) from None
