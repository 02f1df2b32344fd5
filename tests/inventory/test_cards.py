"""Model cards: required sections, the Markdown / JSON / CycloneDX exports, owner-field validation."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from charter.errors import InvalidInput
from charter.inventory.bom import to_cyclonedx
from charter.inventory.cards import (
    EDITABLE,
    MAX_ITEMS,
    MAX_TEXT,
    NOT_WRITTEN,
    CardApproval,
    CardArtifact,
    CardDataset,
    CardEvidence,
    CardFacts,
    build_card,
    check_editable,
    to_json,
    to_markdown,
)

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
T1 = datetime(2025, 3, 4, 16, 5, tzinfo=UTC)
MODEL_DIGEST = "3f" * 32
META_DIGEST = "a1" * 32
REQUIRED = [
    "Model Description",
    "Direct Use",
    "Out-of-Scope Use",
    "Limitations",
    "Ethical Considerations",
    "Training Data",
    "Evaluation",
    "Approvals",
]


def credit_facts(**changes: Any) -> CardFacts:
    """A realistic approved credit model: two datasets, two artifacts, one approval, card half written."""
    facts = CardFacts(
        model="credit-default",
        version="2.1.0",
        team="risk-ml",
        stage="approved",
        description="Gradient-boosted trees predicting 12-month default on retail loans.",
        purpose="Rank loan applications by default risk for underwriters.",
        intended_use="Decision support for underwriters; a human makes every decision.",
        out_of_scope_uses=("Fully automated rejection", "Employment screening"),
        domain="credit",
        deployment_context="Branch underwriting tool",
        regulations=("EU AI Act", "ECOA"),
        tags=("credit", "tabular"),
        risk_tier="high",
        framework="scikit-learn 1.5",
        metrics={"roc_auc": 0.812, "ks": 0.41},
        parameters={"n_estimators": 300, "max_depth": 4},
        input_schema={"type": "object", "properties": {"income": {"type": "number"}}},
        output_schema={"type": "number"},
        datasets=(
            CardDataset(
                name="loans-2019-2023",
                role="training",
                classification="personal",
                location="s3://risk/loans/2019-2023/",
                legal_basis="contract",
                description="Retail loan book, 2019-2023.",
            ),
            CardDataset(
                name="loans-2024-holdout",
                role="evaluation",
                classification="personal",
                location="s3://risk/loans/2024/",
                legal_basis="contract",
                description=None,
            ),
        ),
        artifacts=(
            CardArtifact(path="model.skops", digest=MODEL_DIGEST, size=482_113, format="skops", scan_verdict="clean"),
            CardArtifact(path="meta/features.json", digest=META_DIGEST, size=2_048, format=None, scan_verdict="clean"),
        ),
        approvals=(
            CardApproval(actor="carol", at=T0, comment=None, from_stage="draft", to_stage="review"),
            CardApproval(
                actor="dan", at=T1, comment="Fairness review passed.", from_stage="review", to_stage="approved"
            ),
        ),
        evidence=(),
        owner_fields={
            "summary": "Scores retail loan applications.",
            "limitations": ["Thin-file applicants are scored poorly.", "Trained before the 2024 rate rise."],
            "license": "Apache-2.0",
            "contact": "risk-ml@example.com",
        },
        created_by="carol",
        created_at=T0,
        signed=True,
        signature_key_id="charter-2025",
    )
    return replace(facts, **changes)


def bare_draft() -> CardFacts:
    """A freshly registered draft: nothing written, nothing linked."""
    return credit_facts(
        stage="draft",
        description=None,
        purpose=None,
        intended_use=None,
        out_of_scope_uses=(),
        metrics={},
        datasets=(),
        artifacts=(),
        approvals=(),
        owner_fields={},
    )


def front_matter(markdown: str) -> dict[str, Any]:
    assert markdown.startswith("---\n")
    yaml_text, _, _ = markdown[4:].partition("\n---\n")
    loaded = yaml.safe_load(yaml_text)
    assert isinstance(loaded, dict)
    return loaded


def headings(markdown: str) -> list[str]:
    return re.findall(r"^#{2,6} (.+)$", markdown, flags=re.MULTILINE)


def section_body(markdown: str, title: str) -> str:
    """The text between the heading ``title`` and the next heading."""
    match = re.search(rf"^#{{2,6}} {re.escape(title)}\n(.*?)(?=^#{{1,6}} |\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert match, f"no section {title!r}"
    return match.group(1)


def cdx(facts: CardFacts) -> dict[str, Any]:
    text = to_cyclonedx(build_card(facts))
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)
    bom = json.loads(text)
    assert isinstance(bom, dict)
    return bom


# -- required sections ------------------------------------------------------------------------------


def test_missing_names_exactly_the_empty_required_sections() -> None:
    assert build_card(credit_facts()).missing() == ["Ethical Considerations"]


def test_a_bare_draft_misses_every_required_section_and_they_go_as_facts_arrive() -> None:
    facts = bare_draft()
    assert build_card(facts).missing() == REQUIRED

    steps: list[tuple[dict[str, Any], str]] = [
        ({"purpose": "Rank applications."}, "Model Description"),
        ({"intended_use": "Underwriter support."}, "Direct Use"),
        ({"out_of_scope_uses": ("Automated rejection",)}, "Out-of-Scope Use"),
        ({"owner_fields": {"limitations": "Thin files."}}, "Limitations"),
        (
            {"owner_fields": {"limitations": "Thin files.", "ethical_considerations": "Proxy bias."}},
            "Ethical Considerations",
        ),
        ({"datasets": (CardDataset("loans", "training", "personal"),)}, "Training Data"),
        ({"metrics": {"roc_auc": 0.8}}, "Evaluation"),
        ({"approvals": (CardApproval("dan", T1, None, "review", "approved"),)}, "Approvals"),
    ]
    expected = list(REQUIRED)
    for change, filled in steps:
        facts = replace(facts, **change)
        expected.remove(filled)
        assert build_card(facts).missing() == expected
    assert expected == []


@pytest.mark.parametrize(
    ("change", "filled"),
    [
        ({"metrics": {"roc_auc": 0.8}}, True),
        ({"datasets": (CardDataset("holdout", "evaluation", "internal"),)}, True),
        ({"datasets": (CardDataset("loans", "training", "personal"),)}, False),
        ({"owner_fields": {"evaluation_procedure": "We will evaluate it."}}, False),
    ],
)
def test_evaluation_needs_metrics_or_an_evaluation_dataset(change: dict[str, Any], filled: bool) -> None:
    card = build_card(replace(bare_draft(), **change))
    assert card.section("evaluation").filled is filled
    assert ("Evaluation" in card.missing()) is not filled


def test_blank_owner_values_count_as_not_written() -> None:
    facts = credit_facts(owner_fields={"limitations": "   ", "ethical_considerations": ["", "  "]})
    assert build_card(facts).missing() == ["Limitations", "Ethical Considerations"]


def test_approvals_stay_missing_until_a_transition_into_approved() -> None:
    in_review = credit_facts(stage="review", approvals=(CardApproval("carol", T0, None, "draft", "review"),))
    card = build_card(in_review)
    assert "Approvals" in card.missing()
    assert card.section("stage_history").filled


# -- Markdown ---------------------------------------------------------------------------------------


def test_front_matter_parses_back_to_the_hugging_face_keys() -> None:
    front = front_matter(to_markdown(build_card(credit_facts())))
    assert front["license"] == "apache-2.0"
    assert front["library_name"] == "sklearn"
    assert front["tags"] == ["credit", "tabular"]
    assert front["datasets"] == ["loans-2019-2023"]  # Hugging Face's datasets are the training data
    assert front["metrics"] == ["roc_auc", "ks"]
    [entry] = front["model-index"]
    assert entry["name"] == "credit-default"
    [result] = entry["results"]
    assert result["dataset"]["name"] == "loans-2024-holdout"
    assert {m["type"]: m["value"] for m in result["metrics"]} == {"roc_auc": 0.812, "ks": 0.41}
    assert front["charter"]["stage"] == "approved"
    assert front["charter"]["risk_tier"] == "high"
    assert front["charter"]["missing_sections"] == ["Ethical Considerations"]


def test_markdown_title_and_sections_follow_the_hugging_face_order() -> None:
    markdown = to_markdown(build_card(credit_facts()))
    assert "\n---\n\n# credit-default 2.1.0\n\nScores retail loan applications.\n" in markdown
    found = headings(markdown)
    expected = [
        "Model Details",
        "Model Description",
        "Uses",
        "Direct Use",
        "Out-of-Scope Use",
        "Bias, Risks, and Limitations",
        "Limitations",
        "Ethical Considerations",
        "Training Details",
        "Training Data",
        "Training Procedure",
        "Training Hyperparameters",
        "Evaluation",
        "Testing Data",
        "Metrics",
        "Technical Specifications",
        "Input Schema",
        "Output Schema",
        "Governance",
        "Approvals",
        "Stage History",
        "Artifacts",
        "Model Card Contact",
    ]
    assert found == expected


def test_empty_required_sections_are_marked_and_empty_optional_ones_left_out() -> None:
    markdown = to_markdown(build_card(credit_facts()))
    assert NOT_WRITTEN in section_body(markdown, "Ethical Considerations")
    assert NOT_WRITTEN not in section_body(markdown, "Limitations")
    assert markdown.count(NOT_WRITTEN) == 1
    assert "Recommendations" not in headings(markdown)
    assert "How to Get Started with the Model" not in headings(markdown)

    written = credit_facts(
        owner_fields={"recommendations": "Review thin files by hand.", "how_to_use": "Call the scoring API."}
    )
    found = headings(to_markdown(build_card(written)))
    assert found.index("Bias, Risks, and Limitations") < found.index("Recommendations")
    assert found.index("Recommendations") < found.index("How to Get Started with the Model")
    assert found.index("How to Get Started with the Model") < found.index("Training Details")


def test_governance_and_artifacts_sections_carry_the_registry_facts() -> None:
    markdown = to_markdown(build_card(credit_facts()))
    approvals = section_body(markdown, "Approvals")
    assert "| dan | 2025-03-04T16:05:00+00:00 | Fairness review passed. |" in approvals
    assert "carol" not in approvals  # draft -> review is history, not an approval
    governance = section_body(markdown, "Governance")
    assert "**Risk tier:** high" in governance
    assert "**Signature:** signed (key charter-2025)" in governance
    artifacts = section_body(markdown, "Artifacts")
    assert f"| model.skops | {MODEL_DIGEST} | 482113 | skops | clean |" in artifacts
    assert f"| meta/features.json | {META_DIGEST} | 2048 | — | clean |" in artifacts


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_awkward_values_break_neither_tables_nor_yaml() -> None:
    awkward = "a | b\nsecond: line \"quoted\" 'single' # not a comment"
    facts = credit_facts(
        tags=("risk: high", 'say "hi"', "multi\nline", "- dash", "#hash"),
        regulations=("EU AI Act: Annex III",),
        datasets=(CardDataset("loans", "training", "personal", "s3://a|b", "contract", awkward),),
        approvals=(CardApproval("dan", T1, awkward, "review", "approved"),),
        owner_fields={"license": "Internal use only: see legal"},
    )
    markdown = to_markdown(build_card(facts))
    front = front_matter(markdown)
    assert front["tags"] == list(facts.tags)
    assert front["charter"]["regulations"] == ["EU AI Act: Annex III"]
    assert front["license"] == "other"
    assert front["license_name"] == "Internal use only: see legal"

    for title in ("Training Data", "Approvals"):
        rows = [line for line in section_body(markdown, title).splitlines() if line.startswith("|")]
        assert len(rows) == 3  # header, separator, one row: the newline did not end the row
        assert {_unescaped_pipes(row) for row in rows} == {_unescaped_pipes(rows[0])}
    assert "a \\| b<br>second: line" in section_body(markdown, "Training Data")


def test_code_fences_outlast_backticks_in_the_code() -> None:
    citation = "@misc{card,\n  note = {```not the end```}\n}"
    markdown = to_markdown(build_card(credit_facts(owner_fields={"citation": citation})))
    body = section_body(markdown, "Citation")
    assert body.strip() == f"````bibtex\n{citation}\n````"


def test_each_evidence_kind_gets_its_own_section_under_evaluation() -> None:
    evidence = (
        CardEvidence("fairness", "Disparate impact by sex", {"ratio": 0.91, "groups": ["f", "m"]}, T1),
        CardEvidence("robustness", "Noise test", {"auc_drop": 0.01}, T1),
        CardEvidence("fairness", "Equalised odds", {"gap": 0.03}, T1),
    )
    card = build_card(credit_facts(evidence=evidence))
    assert [s.title for s in card.section("evaluation").subsections][-2:] == ["Fairness", "Robustness"]
    markdown = to_markdown(card)
    fairness = section_body(markdown, "Fairness")
    assert "**Disparate impact by sex**" in fairness and "**Equalised odds**" in fairness
    assert '| groups | ["f", "m"] |' in fairness
    assert "| auc_drop | 0.01 |" in section_body(markdown, "Robustness")


# -- JSON -------------------------------------------------------------------------------------------


def test_json_round_trips_and_lists_the_missing_sections() -> None:
    facts = credit_facts(metrics={"roc_auc": 0.812, "calibration": float("nan")})
    data = to_json(build_card(facts))
    text = json.dumps(data, allow_nan=False)  # strict JSON: no NaN literal
    assert json.loads(text) == data
    assert data["missing_sections"] == ["Ethical Considerations"]
    assert data["facts"]["created_at"] == "2025-03-01T09:30:00+00:00"
    assert data["facts"]["metrics"] == {"roc_auc": 0.812, "calibration": "nan"}
    assert data["facts"]["approvals"][1]["at"] == "2025-03-04T16:05:00+00:00"
    [details, uses, *_] = data["sections"]
    assert details["subsections"][0]["key"] == "description"
    [direct, out_of_scope] = uses["subsections"]
    assert direct == {
        "key": "direct_use",
        "title": "Direct Use",
        "required": True,
        "filled": True,
        "content": [
            {"type": "text", "text": facts.intended_use},
            {"type": "text", "text": "**Deployment context:** Branch underwriting tool"},
        ],
        "subsections": [],
    }
    assert out_of_scope["content"] == [{"type": "bullets", "items": list(facts.out_of_scope_uses)}]


# -- CycloneDX --------------------------------------------------------------------------------------


def test_cyclonedx_is_a_valid_ml_bom_with_artifacts_datasets_and_lineage() -> None:
    bom = cdx(credit_facts())
    assert bom["specVersion"] == "1.6"
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    assert model["bom-ref"] == "model:credit-default@2.1.0"
    assert (model["name"], model["version"]) == ("credit-default", "2.1.0")
    assert "hashes" not in model  # two files: no single digest stands for the model
    files = {c["name"]: c for c in model["components"]}
    assert set(files) == {"model.skops", "meta/features.json"}
    assert files["model.skops"]["type"] == "file"
    assert files["model.skops"]["hashes"] == [{"alg": "SHA-256", "content": MODEL_DIGEST}]
    assert files["meta/features.json"]["hashes"] == [{"alg": "SHA-256", "content": META_DIGEST}]
    assert {"name": "charter:scan_verdict", "value": "clean"} in files["model.skops"]["properties"]

    data = {c["bom-ref"]: c for c in bom["components"]}
    assert set(data) == {"data:loans-2019-2023", "data:loans-2024-holdout"}
    assert all(c["type"] == "data" for c in data.values())
    assert "classification personal" in data["data:loans-2019-2023"]["description"]

    depends = {d["ref"]: set(d.get("dependsOn", [])) for d in bom["dependencies"]}
    assert depends["model:credit-default@2.1.0"] == {"data:loans-2019-2023", "data:loans-2024-holdout"}

    props = {(p["name"], p["value"]) for p in model["properties"]}
    assert {
        ("charter:stage", "approved"),
        ("charter:team", "risk-ml"),
        ("charter:risk_tier", "high"),
        ("charter:metric:roc_auc", "0.812"),
        ("charter:approval", "dan at 2025-03-04T16:05:00+00:00"),
        ("charter:missing_section", "Ethical Considerations"),
    } <= props
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]


def test_a_single_artifact_lends_its_digest_to_the_model() -> None:
    only = CardArtifact(path="model.onnx", digest=MODEL_DIGEST.upper(), size=10, format="onnx", scan_verdict="clean")
    model = cdx(credit_facts(artifacts=(only,)))["metadata"]["component"]
    assert model["hashes"] == [{"alg": "SHA-256", "content": MODEL_DIGEST}]
    assert [c["name"] for c in model["components"]] == ["model.onnx"]


def test_a_dataset_linked_in_two_roles_is_one_data_component() -> None:
    datasets = (CardDataset("loans", "training", "personal"), CardDataset("loans", "evaluation", "personal"))
    bom = cdx(credit_facts(datasets=datasets))
    [component] = bom["components"]
    assert component["bom-ref"] == "data:loans"
    assert {p["value"] for p in component["properties"] if p["name"] == "charter:role"} == {"training", "evaluation"}


def test_a_bare_draft_still_gives_a_valid_bom() -> None:
    bom = cdx(bare_draft())
    assert "components" not in bom or bom["components"] == []
    assert "components" not in bom["metadata"]["component"]


@pytest.mark.parametrize(
    ("license_", "expected"),
    [
        ("MIT", {"license": {"id": "MIT"}}),
        ("Apache-2.0 OR MIT", {"expression": "Apache-2.0 OR MIT"}),
        ("Internal use only", {"license": {"name": "Internal use only"}}),
    ],
)
def test_the_owners_license_becomes_a_cyclonedx_license(license_: str, expected: dict[str, Any]) -> None:
    model = cdx(credit_facts(owner_fields={"license": license_}))["metadata"]["component"]
    assert model["licenses"] == [expected]


def test_a_malformed_digest_is_refused_rather_than_exported() -> None:
    broken = CardArtifact(path="model.pkl", digest="not-a-digest", size=1, format=None, scan_verdict="clean")
    with pytest.raises(ValueError, match="SHA-256"):
        to_cyclonedx(build_card(credit_facts(artifacts=(broken,))))


# -- owner fields -----------------------------------------------------------------------------------


def test_editable_names_the_fields_owners_write() -> None:
    assert {
        "summary",
        "limitations",
        "ethical_considerations",
        "risks_and_biases",
        "recommendations",
        "training_procedure",
        "evaluation_procedure",
        "caveats",
        "license",
        "contact",
        "citation",
        "how_to_use",
    } <= set(EDITABLE)


def test_check_editable_strips_text_and_drops_blank_items() -> None:
    raw = {"summary": "  Scores loans.\n", "limitations": ["  thin files ", "", "   "], "caveats": "  "}
    assert check_editable(raw) == {"summary": "Scores loans.", "limitations": ["thin files"], "caveats": ""}
    assert raw["summary"] == "  Scores loans.\n"  # the input is left alone


def test_check_editable_refuses_unknown_fields_and_lists_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_editable({"summary": "ok", "owner_mood": "happy"})
    assert "'owner_mood'" in caught.value.message
    assert "ethical_considerations" in caught.value.message
    assert caught.value.details["allowed"] == list(EDITABLE)


@pytest.mark.parametrize("value", [3, 1.5, True, None, {"text": "x"}, ["ok", 2], [["nested"]]])
def test_check_editable_refuses_values_that_are_not_text(value: Any) -> None:
    with pytest.raises(InvalidInput, match="'limitations'"):
        check_editable({"limitations": value})


@pytest.mark.parametrize(
    "value",
    [
        "x" * (MAX_TEXT + 1),
        ["x"] * (MAX_ITEMS + 1),
        ["short", "x" * (MAX_TEXT + 1)],
    ],
)
def test_check_editable_refuses_values_that_are_too_long(value: Any) -> None:
    with pytest.raises(InvalidInput, match="'caveats'"):
        check_editable({"caveats": value})


def test_check_editable_accepts_values_at_the_limits() -> None:
    cleaned = check_editable({"caveats": "x" * MAX_TEXT, "limitations": ["y"] * MAX_ITEMS})
    assert len(cleaned["caveats"]) == MAX_TEXT
    assert len(cleaned["limitations"]) == MAX_ITEMS
