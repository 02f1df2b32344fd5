"""The policy editor's text: a stored document as YAML, and every refusal placed on the line it is about.

The services refuse a policy with positions relative to what they looked at: the YAML parser with
the document's line and column, the schema with a field's location (``rules.0.id``), the expression
checker with a line and column *inside one expression*. Someone editing a YAML file wants them all
on the file's own lines, so each is mapped back onto the text here: the text is composed (YAML
nodes carry their source positions), the field is found among the nodes, and an expression's
position is carried through the scalar's quoting, folding or block indentation.

Pure: YAML and the policy library, no database, no web.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import yaml

from charter.errors import InvalidInput
from charter.policies import documents, engine
from charter.policies.schemas import PolicyDocument

__all__ = ["Checked", "Problem", "check", "locate", "to_yaml"]

# The order a person writes a policy in (the stored JSON has its keys sorted).
_KEY_ORDER = ("id", "title", "owner", "description", "rationale", "match", "review_days", "rules")
_RULE_ORDER = ("id", "severity", "expr", "message")
_RULE_FIELD = re.compile(r"^rules\[(\d+)\]")


@dataclass(frozen=True)
class Problem:
    """One reason the text is refused: where (a field, or ``document``), why, and the line it is on."""

    field: str
    message: str
    line: int | None = None  # 1-based, in the whole text
    column: int | None = None  # 1-based
    source: str | None = None  # the text's line, as typed

    @property
    def position(self) -> str:
        if self.line is None:
            return ""
        return f"line {self.line}, column {self.column}" if self.column is not None else f"line {self.line}"


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a text without saving it."""

    document: PolicyDocument | None
    compiled: engine.CompiledPolicy | None
    problems: list[Problem]

    @property
    def valid(self) -> bool:
        return self.compiled is not None and not self.problems


# -- showing a stored document ----------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Multi-line text as literal blocks (``|``), so that a long message reads as it was written."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_text)


def _ordered(values: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    keys = [k for k in order if k in values] + sorted(k for k in values if k not in order)
    return {k: values[k] for k in keys if values[k] is not None}


def to_yaml(document: PolicyDocument) -> str:
    """The document as YAML in the order people write it; parsing it back gives the same document."""
    data = _ordered(documents.canonical(document), _KEY_ORDER)
    data["rules"] = [_ordered(rule, _RULE_ORDER) for rule in data["rules"]]
    if "rationale" in data:
        data["rationale"] = _ordered(data["rationale"], ("text", "references"))
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)
    return text


# -- checking a text --------------------------------------------------------------------------------


def check(text: str, *, policy_id: str | None = None) -> Checked:
    """Parse, check the schema, compile every expression; with ``policy_id``, the id must be that one."""
    try:
        document = documents.parse_text(text)
    except InvalidInput as exc:
        return Checked(None, None, locate(text, exc))
    if policy_id is not None and document.id != policy_id:
        # The same refusal the service gives on saving, shown before anything is saved.
        message = f"The document's id {document.id!r} is not the policy's id {policy_id!r}."
        return Checked(document, None, locate(text, InvalidInput(message, details={"errors": [_at("id", message)]})))
    try:
        compiled = engine.validate(document)
    except InvalidInput as exc:
        return Checked(document, None, locate(text, exc))
    return Checked(document, compiled, [])


def _at(location: str, message: str) -> dict[str, Any]:
    return {"location": location.split("."), "message": message}


# -- placing refusals on the text's lines ------------------------------------------------------------


class _Text:
    """The text's lines, and offsets turned into (line, column)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def source(self, line: int) -> str | None:
        """The 1-based line, without its line break."""
        return self.lines[line - 1].rstrip("\r") if 1 <= line <= len(self.lines) else None

    def position(self, index: int) -> tuple[int, int]:
        row = bisect_right(self.starts, index) - 1
        return row + 1, index - self.starts[row] + 1

    def problem(self, field: str, message: str, line: int | None, column: int | None) -> Problem:
        return Problem(field, message, line, column, self.source(line) if line is not None else None)


def locate(text: str, error: InvalidInput) -> list[Problem]:
    """Each problem ``error`` names (a YAML, schema or expression error), on the line of ``text`` it is about."""
    where = _Text(text)
    try:
        root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        if mark is None:
            return [where.problem("document", error.message, None, None)]
        return [where.problem("document", error.message, mark.line + 1, mark.column + 1)]
    listed = error.details.get("errors") if isinstance(error.details, dict) else None
    if not listed:
        return [where.problem("document", error.message, None, None)]
    problems = []
    for item in listed:
        if "location" in item:  # the schema: a field's location, e.g. ["rules", "0", "id"]
            parts = [str(p) for p in item["location"]]
            node = _find(root, parts, key=True)
            line, column = _start(node)
            problems.append(where.problem(".".join(parts) or "document", str(item["message"]), line, column))
        else:  # an expression: its field, and the line and column inside the expression
            field = str(item["field"])
            match = _RULE_FIELD.match(field)
            parts = ["rules", match.group(1), "expr"] if match else [field]
            node = _find(root, parts, key=False)
            index = _inside(where, node, int(item["line"]), int(item["column"]))
            if index is None:  # the position could not be carried over: the field's first line
                line, column = _start(node)
            else:
                line, column = where.position(index)
            problems.append(where.problem(field, str(item["message"]), line, column))
    return problems


def _start(node: yaml.Node | None) -> tuple[int | None, int | None]:
    if node is None:
        return None, None
    return node.start_mark.line + 1, node.start_mark.column + 1


def _find(root: yaml.Node | None, parts: list[str], *, key: bool) -> yaml.Node | None:
    """The node at ``parts``: for a mapping's field, its key (``key=True``: the line that names it) or its
    value; when the path ends early (a missing field) the deepest node found, so the line still helps."""
    node = root
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        if isinstance(node, yaml.MappingNode):
            # The last of repeated keys: the one the parser keeps.
            pairs = [p for p in node.value if isinstance(p[0], yaml.ScalarNode) and p[0].value == part]
            pair = pairs[-1] if pairs else None
            if pair is None:
                return node
            node = pair[0] if key and last else pair[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
        else:
            return node
    return node


def _inside(where: _Text, node: yaml.Node | None, line: int, column: int) -> int | None:
    """The text offset of (``line``, ``column``) of the expression held by the scalar ``node``.

    The expression is the scalar's value with its ends stripped (as the schema strips them), and
    its characters appear in the source in order, with quoting, escapes, indentation and folded
    line breaks between them. They are matched one by one (white space matches white space: a
    folded line break is a space in the value), which carries a position through any style.
    """
    if not isinstance(node, yaml.ScalarNode):
        return None
    value: str = node.value
    lead = len(value) - len(value.lstrip())
    expression = value.strip()
    rows = expression.split("\n")
    if not 1 <= line <= len(rows):
        return None
    target = lead + sum(len(r) + 1 for r in rows[: line - 1]) + column - 1
    raw = where.text[node.start_mark.index : node.end_mark.index]
    j = -1
    for i, char in enumerate(value[: min(target, len(value) - 1) + 1] if value else ""):
        j += 1
        while j < len(raw) and not (raw[j] == char or (char.isspace() and raw[j].isspace())):
            j += 1
        if j >= len(raw):
            return None
        if i == target:
            return node.start_mark.index + j
    # Past the end of the value (an expression cut short): just after its last character.
    return node.start_mark.index + j + 1 + (target - len(value)) if value else None
