"""The shipped frameworks load, validate and cover what they claim; bad documents are refused with positions."""

from __future__ import annotations

import re
from typing import Any

import pytest

from charter.compliance import frameworks
from charter.compliance.frameworks import Known
from charter.errors import InvalidInput
from charter.evidence.models import KINDS
from tests.compliance.conftest import framework, requirement

SHIPPED = frameworks.builtin(frozenset(KINDS))
BY_ID = {f.id: f for f in SHIPPED}


def ids(framework_id: str) -> list[str]:
    return [r.spec.id for r in BY_ID[framework_id].requirements]


def test_the_four_frameworks_load_and_validate_together() -> None:
    assert [f.id for f in SHIPPED] == ["eu-ai-act", "gdpr", "nist-ai-rmf", "iso-42001"]
    for shipped in SHIPPED:
        assert shipped.builtin and shipped.document.source.startswith("https://")
        assert len(shipped.sha256) == 64


def test_eu_ai_act_has_the_high_risk_obligations_and_article_50() -> None:
    wanted = ["Art. 9", "Art. 10", "Art. 11", "Art. 12", "Art. 13", "Art. 14", "Art. 15", "Art. 17", "Art. 26"]
    wanted += ["Art. 27", "Art. 72", "Art. 73", "Art. 50(1)", "Art. 50(2)", "Art. 50(3)", "Art. 50(4)"]
    assert set(wanted) <= set(ids("eu-ai-act"))
    high_risk = [r for r in BY_ID["eu-ai-act"].requirements if r.spec.id in wanted and "50" not in r.spec.id]
    # Every high-risk obligation applies only to high-risk models.
    assert len(high_risk) == len(wanted) - 4
    assert all("facts.model.risk_tier == 'high'" in r.spec.applies for r in high_risk)


def test_gdpr_nist_and_iso_are_complete_for_their_scope() -> None:
    articles = ["5", "6", "7", "9", "13", "14", "15", "17", "22", "25", "30", "32", "33", "34", "35"]
    assert ids("gdpr") == [f"Art. {a}" for a in articles]
    functions = {"GOVERN": 6, "MAP": 5, "MEASURE": 4, "MANAGE": 4}
    assert ids("nist-ai-rmf") == [f"{name} {n}" for name, count in functions.items() for n in range(1, count + 1)]
    # 72 subcategories in all, named in the categories' references (e.g. "GOVERN 1.1-1.7").
    spans = [re.search(r"(\d+)\.(\d+)-\d+\.(\d+)$", r.spec.references[0]) for r in BY_ID["nist-ai-rmf"].requirements]
    assert sum(int(m.group(3)) - int(m.group(2)) + 1 for m in spans if m) == 72
    iso = ids("iso-42001")
    assert len(iso) == 38 and iso[0] == "A.2.2" and iso[-1] == "A.10.4"
    assert {i.rsplit(".", 1)[0] for i in iso if i.count(".") == 2} == {f"A.{n}" for n in range(2, 11)} - {"A.6"}


def test_texts_are_short_paraphrases_and_every_mapping_resolves() -> None:
    known = {f"{f.id}:{r.spec.id}" for f in SHIPPED for r in f.requirements}
    links = frameworks.links(SHIPPED)
    for shipped in SHIPPED:
        for r in shipped.requirements:
            assert 0 < len(r.spec.text) <= 600, f"{shipped.id} {r.spec.id}"
            assert set(r.spec.maps_to) <= known
            for target in r.spec.maps_to:  # symmetric: the target knows its source
                assert f"{shipped.id}:{r.spec.id}" in links[target]
    assert links["iso-42001:A.6.2.8"] == {"eu-ai-act:Art. 12"}


def test_shipped_policy_references_name_starter_pack_rules() -> None:
    pack = frameworks.pack_rules()
    for shipped in SHIPPED:
        for ref in shipped.policy_rules():
            policy, rule = frameworks.split_rule(ref)
            assert policy in pack and (rule is None or rule in pack[policy]), ref


KNOWN = Known(
    evidence_kinds=frozenset(KINDS),
    policy_rules={"high-risk-fairness": frozenset({"disparate-impact"})},
    requirements=frozenset({"eu-ai-act:Art. 9"}),
)


def refused(document: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(InvalidInput) as caught:
        frameworks.validate(frameworks.parse_data(document), KNOWN)
    errors: list[dict[str, Any]] = caught.value.details["errors"]
    return errors


def test_bad_expressions_are_refused_with_field_line_and_column() -> None:
    bad = requirement("R1", applies="facts.model.risk_tier == 'high' &&\n  facts.model.tier == 'x'")
    check = requirement("R2", satisfied_by={"checks": [{"id": "c", "expr": "facts.card.complete +", "message": "m"}]})
    errors = refused(framework("x", bad, check, applies="facts.data.personal"))
    assert [(e["field"], e["line"], e["column"]) for e in errors] == [
        ("requirements[0] (R1).applies", 2, 15),
        ("requirements[1] (R2).satisfied_by.checks[0] (c)", 1, errors[1]["column"]),
    ]
    assert "unknown fact facts.model.tier" in errors[0]["message"]
    typed = refused(framework("x", requirement(applies="facts.model.risk_tier")))
    assert "must be true or false" in typed[0]["message"]


def test_unknown_references_are_refused() -> None:
    doc = framework(
        "x",
        requirement(
            "R1",
            satisfied_by={
                "evidence": [{"kind": "fairnes"}],
                "policy_rules": ["high-risk-fairness/four-fifths", "no-such-policy"],
            },
            maps_to=["eu-ai-act:Art. 99", "gdpr", "x:R1"],
        ),
    )
    messages = [e["message"] for e in refused(doc)]
    assert any("unknown evidence kind 'fairnes'" in m for m in messages)
    assert any("has no rule 'four-fifths'" in m for m in messages)
    assert any("unknown policy 'no-such-policy'" in m for m in messages)
    assert any("'eu-ai-act:Art. 99' names no known requirement" in m for m in messages)
    assert any("'gdpr' is not 'framework:requirement'" in m for m in messages)
    assert any("cannot map to itself" in m for m in messages)
    fine = framework("x", requirement("R1", maps_to=["eu-ai-act:Art. 9"]), requirement("R2", maps_to=["x:R1"]))
    assert frameworks.validate(frameworks.parse_data(fine), KNOWN).id == "x"


def test_structure_errors_name_the_field() -> None:
    with pytest.raises(InvalidInput, match="two requirements have the id 'R1'"):
        frameworks.parse_data(framework("x", requirement("R1"), requirement("R1")))
    with pytest.raises(InvalidInput, match=r"requirements\.0\.satisfied_by\.policy_rules"):
        frameworks.parse_data(framework("x", requirement(satisfied_by={"policy_rules": ["Bad Rule"]})))
    with pytest.raises(InvalidInput, match="not valid YAML or JSON at line 2"):
        frameworks.parse_text("id: x\n  title: [unclosed")
    with pytest.raises(InvalidInput, match="must be a mapping"):
        frameworks.parse_text("- a list")


def test_the_hash_is_of_the_content() -> None:
    doc = frameworks.parse_data(framework("x"))
    same = frameworks.parse_text(frameworks.parse_data(framework("x")).model_dump_json())
    assert frameworks.sha256(doc) == frameworks.sha256(same)
    assert frameworks.sha256(doc) != frameworks.sha256(frameworks.parse_data(framework("x", title="Other")))
