"""docs/policies.md lists every fact a policy may read, with its type and meaning, as the code declares them."""

from __future__ import annotations

from pathlib import Path

from charter.policies.facts import reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "policies.md"


def test_every_fact_is_documented_with_its_type_and_meaning() -> None:
    text = DOC.read_text()
    missing = [path for path, type_, doc in reference() if f"| `{path}` | `{type_}` | {doc} |" not in text]
    assert missing == [], f"docs/policies.md is missing or has stale rows for {missing}"
    documented = [line.split("`")[1] for line in text.splitlines() if line.startswith("| `facts.")]
    assert documented == [path for path, _type, _doc in reference()], "the facts table has rows the code lacks"
