"""Model cards: assembled from what the registry knows, plus the fields the owner writes.

A card is built from :class:`CardFacts` (what the registry holds about one model version: its
purpose and uses, linked datasets, metrics, artifacts, stage transitions, evidence) and the
owner-written fields listed in :data:`EDITABLE`. :func:`build_card` turns the facts into a tree of
:class:`CardSection` whose content is a few neutral blocks (:class:`Text`, :class:`Bullets`,
:class:`Fields`, :class:`Table`, :class:`Code`); the exports render that one tree:

- :func:`to_markdown`: YAML front matter and sections in the Hugging Face model-card layout
  (https://huggingface.co/docs/hub/model-cards), followed by Charter's own Governance and
  Artifacts sections. Required sections that are still empty show "_Not yet written_ (required)";
  optional sections with nothing in them are left out.
- :func:`to_json`: the facts, the section tree and ``missing_sections``; JSON-ready (datetimes as
  ISO 8601 strings, non-finite numbers as the strings ``"nan"``, ``"inf"``, ``"-inf"``).
- ``charter.inventory.bom.to_cyclonedx``: a CycloneDX 1.6 ML-BOM (see that module).

Required sections (:meth:`ModelCard.missing` lists those still empty, by title):

============================  =====================================================================
Model Description             the version's description, the model's purpose or the owner's summary
Direct Use                    the model's intended use
Out-of-Scope Use              at least one out-of-scope use
Limitations                   owner field ``limitations``
Ethical Considerations        owner field ``ethical_considerations``
Training Data                 at least one dataset linked with role ``training``
Evaluation                    at least one metric or one dataset linked with role ``evaluation``
                              (the owner's evaluation procedure alone is not evidence of one)
Approvals                     at least one transition into ``approved``: a draft's card therefore
                              lists it as missing until a reviewer approves the version
============================  =====================================================================

The contact section is not required: it always names the owner team.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import yaml

from charter.errors import InvalidInput

__all__ = [
    "EDITABLE",
    "MAX_ITEMS",
    "MAX_TEXT",
    "NOT_WRITTEN",
    "Block",
    "Bullets",
    "CardApproval",
    "CardArtifact",
    "CardDataset",
    "CardEvidence",
    "CardFacts",
    "CardSection",
    "Code",
    "Fields",
    "ModelCard",
    "Table",
    "Text",
    "build_card",
    "check_editable",
    "to_json",
    "to_markdown",
]

#: Owner-edited card fields -> human label, in the order the card shows them.
EDITABLE: dict[str, str] = {
    "summary": "Summary",
    "model_type": "Model type",
    "task": "Task (a Hugging Face task such as tabular-classification)",
    "base_model": "Base model",
    "languages": "Languages",
    "license": "License",
    "how_to_use": "How to use",
    "risks_and_biases": "Risks and biases",
    "limitations": "Limitations",
    "ethical_considerations": "Ethical considerations",
    "recommendations": "Recommendations",
    "caveats": "Caveats",
    "human_oversight": "Human oversight",
    "preprocessing": "Preprocessing",
    "training_procedure": "Training procedure",
    "evaluation_procedure": "Evaluation procedure",
    "results": "Results summary",
    "environmental_impact": "Environmental impact",
    "citation": "Citation",
    "contact": "Contact",
}
MAX_TEXT = 20_000
MAX_ITEMS = 100
NOT_WRITTEN = "_Not yet written_ (required)"


def check_editable(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate owner-written card fields and return them cleaned.

    Keys must be in :data:`EDITABLE`. A value is text (at most :data:`MAX_TEXT` characters) or a
    list of at most :data:`MAX_ITEMS` texts (each at most :data:`MAX_TEXT` characters). Text is
    stripped; blank list items are dropped; a blank text is kept as ``""`` and counts as not
    written. Raises :class:`~charter.errors.InvalidInput` naming the first offending field.
    """
    if not isinstance(fields, Mapping):
        raise InvalidInput("Model-card fields must be an object of field name -> text.")
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in EDITABLE:
            raise InvalidInput(
                f"Unknown model-card field {key!r}; allowed: {', '.join(EDITABLE)}.",
                details={"field": key, "allowed": list(EDITABLE)},
            )
        cleaned[key] = _clean_value(key, value)
    return cleaned


def _clean_value(key: str, value: Any) -> str | list[str]:
    if isinstance(value, str):
        return _clean_text(key, value)
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            raise InvalidInput(
                f"Model-card field {key!r} has {len(value)} items; at most {MAX_ITEMS} are allowed.",
                details={"field": key, "max_items": MAX_ITEMS},
            )
        items: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidInput(
                    f"Model-card field {key!r}: item {index} must be text, not {type(item).__name__}.",
                    details={"field": key, "item": index},
                )
            text = _clean_text(key, item)
            if text:
                items.append(text)
        return items
    raise InvalidInput(
        f"Model-card field {key!r} must be text or a list of texts, not {type(value).__name__}.",
        details={"field": key},
    )


def _clean_text(key: str, value: str) -> str:
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"Model-card field {key!r} is {len(text)} characters long; at most {MAX_TEXT} are allowed.",
            details={"field": key, "max_length": MAX_TEXT},
        )
    return text


# -- facts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardDataset:
    name: str
    role: str  # "training" | "evaluation" | "reference"
    classification: str
    location: str | None = None
    legal_basis: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class CardArtifact:
    path: str
    digest: str  # SHA-256 hex of the plaintext
    size: int
    format: str | None
    scan_verdict: str


@dataclass(frozen=True)
class CardApproval:
    """One stage transition (the name is the API's; only those into ``approved`` are approvals)."""

    actor: str
    at: datetime
    comment: str | None
    from_stage: str
    to_stage: str


@dataclass(frozen=True)
class CardEvidence:
    """A piece of evidence (fairness report, ...); rendered generically, one section per kind."""

    kind: str
    title: str
    summary: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class CardFacts:
    model: str
    version: str
    team: str
    stage: str
    description: str | None
    purpose: str | None
    intended_use: str | None
    out_of_scope_uses: tuple[str, ...]
    domain: str
    deployment_context: str | None
    regulations: tuple[str, ...]
    tags: tuple[str, ...]
    risk_tier: str | None
    framework: str | None
    metrics: Mapping[str, float]
    parameters: Mapping[str, Any]
    input_schema: Mapping[str, Any] | None
    output_schema: Mapping[str, Any] | None
    datasets: tuple[CardDataset, ...]
    artifacts: tuple[CardArtifact, ...]
    approvals: tuple[CardApproval, ...]  # every stage transition, oldest first
    evidence: tuple[CardEvidence, ...]
    owner_fields: Mapping[str, Any]
    created_by: str
    created_at: datetime
    signed: bool
    signature_key_id: str | None


# -- the card ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A paragraph of Markdown, rendered as it is (owners write Markdown)."""

    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Fields:
    """Label -> value pairs, like the Hugging Face "Model Description" list."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Code:
    text: str
    language: str = ""


Block: TypeAlias = Text | Bullets | Fields | Table | Code


@dataclass(frozen=True)
class CardSection:
    """One heading of the card. ``filled`` says whether the section's requirement is met."""

    key: str
    title: str
    required: bool = False
    filled: bool = False
    content: tuple[Block, ...] = ()
    subsections: tuple[CardSection, ...] = ()

    def walk(self) -> Iterator[CardSection]:
        yield self
        for sub in self.subsections:
            yield from sub.walk()


@dataclass(frozen=True)
class ModelCard:
    facts: CardFacts
    sections: tuple[CardSection, ...]

    def walk(self) -> Iterator[CardSection]:
        for section in self.sections:
            yield from section.walk()

    def section(self, key: str) -> CardSection:
        for section in self.walk():
            if section.key == key:
                return section
        raise KeyError(key)

    def missing(self) -> list[str]:
        """Titles of the required sections still empty, in card order."""
        return [s.title for s in self.walk() if s.required and not s.filled]


def _section(
    key: str,
    title: str,
    content: tuple[Block, ...] = (),
    subsections: tuple[CardSection, ...] = (),
    *,
    required: bool = False,
    filled: bool | None = None,
) -> CardSection:
    """``filled`` defaults to: the section or one of its subsections has content."""
    if filled is None:
        filled = bool(content) or any(s.filled for s in subsections)
    return CardSection(key, title, required, filled, content, subsections)


def _owner(facts: CardFacts, key: str) -> str | list[str] | None:
    """The owner's value, or None when blank. Tolerates values stored before validation existed."""
    value = facts.owner_fields.get(key)
    if isinstance(value, list | tuple):
        items = [str(item).strip() for item in value if str(item).strip()]
        return items or None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _owner_text(facts: CardFacts, key: str) -> str | None:
    value = _owner(facts, key)
    return ", ".join(value) if isinstance(value, list) else value


def _owner_blocks(facts: CardFacts, key: str) -> tuple[Block, ...]:
    value = _owner(facts, key)
    if value is None:
        return ()
    return (Bullets(tuple(value)),) if isinstance(value, list) else (Text(value),)


def _text(value: str | None, prefix: str = "") -> tuple[Block, ...]:
    return (Text(prefix + value.strip()),) if value and value.strip() else ()


def _fields(*pairs: tuple[str, str | None]) -> tuple[Block, ...]:
    items = tuple((label, value) for label, value in pairs if value)
    return (Fields(items),) if items else ()


def _ts(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _dataset_table(datasets: list[CardDataset]) -> tuple[Block, ...]:
    if not datasets:
        return ()
    rows = tuple(
        (d.name, d.classification, d.legal_basis or "—", d.location or "—", d.description or "") for d in datasets
    )
    return (Table(("Dataset", "Classification", "Legal basis", "Location", "Description"), rows),)


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(_jsonable(value), sort_keys=True)


def build_card(facts: CardFacts) -> ModelCard:
    """Assemble the card's sections from the facts, in the Hugging Face order plus Charter's own."""
    roles: dict[str, list[CardDataset]] = {"training": [], "evaluation": [], "reference": []}
    for dataset in facts.datasets:
        roles.setdefault(dataset.role, []).append(dataset)
    approvals = [t for t in facts.approvals if t.to_stage == "approved"]

    details = _section(
        "details",
        "Model Details",
        subsections=(
            _section(
                "description",
                "Model Description",
                _text(facts.description)
                + _text(facts.purpose, "**Purpose:** ")
                + _fields(
                    ("Developed by", facts.team),
                    ("Model type", _owner_text(facts, "model_type")),
                    ("Framework", facts.framework),
                    ("Language(s)", _owner_text(facts, "languages")),
                    ("License", _owner_text(facts, "license")),
                    ("Base model", _owner_text(facts, "base_model")),
                ),
                required=True,
                filled=bool(facts.description or facts.purpose or _owner(facts, "summary")),
            ),
        ),
    )
    uses = _section(
        "uses",
        "Uses",
        subsections=(
            _section(
                "direct_use",
                "Direct Use",
                _text(facts.intended_use) + _text(facts.deployment_context, "**Deployment context:** "),
                required=True,
                filled=bool(facts.intended_use),
            ),
            _section(
                "out_of_scope_use",
                "Out-of-Scope Use",
                (Bullets(facts.out_of_scope_uses),) if facts.out_of_scope_uses else (),
                required=True,
            ),
        ),
    )
    bias = _section(
        "bias_risks_limitations",
        "Bias, Risks, and Limitations",
        _owner_blocks(facts, "risks_and_biases"),
        (
            _section("limitations", "Limitations", _owner_blocks(facts, "limitations"), required=True),
            _section(
                "ethical_considerations",
                "Ethical Considerations",
                _owner_blocks(facts, "ethical_considerations"),
                required=True,
            ),
            _section("recommendations", "Recommendations", _owner_blocks(facts, "recommendations")),
            _section("caveats", "Caveats", _owner_blocks(facts, "caveats")),
        ),
    )
    get_started = _section("get_started", "How to Get Started with the Model", _owner_blocks(facts, "how_to_use"))
    parameters = tuple((name, _value_text(value)) for name, value in facts.parameters.items())
    training = _section(
        "training",
        "Training Details",
        subsections=(
            _section("training_data", "Training Data", _dataset_table(roles["training"]), required=True),
            _section("reference_data", "Reference Data", _dataset_table(roles["reference"])),
            _section(
                "training_procedure",
                "Training Procedure",
                _owner_blocks(facts, "training_procedure"),
                (
                    _section("preprocessing", "Preprocessing", _owner_blocks(facts, "preprocessing")),
                    _section(
                        "hyperparameters",
                        "Training Hyperparameters",
                        (Table(("Parameter", "Value"), parameters),) if parameters else (),
                    ),
                ),
            ),
        ),
    )
    metrics = tuple((name, _number_text(value)) for name, value in facts.metrics.items())
    evaluation = _section(
        "evaluation",
        "Evaluation",
        _owner_blocks(facts, "evaluation_procedure"),
        (
            _section("testing_data", "Testing Data", _dataset_table(roles["evaluation"])),
            _section("metrics", "Metrics", (Table(("Metric", "Value"), metrics),) if metrics else ()),
            _section("results", "Results", _owner_blocks(facts, "results")),
            *_evidence_sections(facts.evidence),
        ),
        required=True,
        filled=bool(facts.metrics or roles["evaluation"]),
    )
    environmental = _section(
        "environmental_impact", "Environmental Impact", _owner_blocks(facts, "environmental_impact")
    )
    technical = _section(
        "technical",
        "Technical Specifications",
        subsections=(
            _section("input_schema", "Input Schema", _schema(facts.input_schema)),
            _section("output_schema", "Output Schema", _schema(facts.output_schema)),
        ),
    )
    signature = f"signed (key {facts.signature_key_id})" if facts.signed else "not signed"
    governance = _section(
        "governance",
        "Governance",
        _fields(
            ("Stage", facts.stage),
            ("Risk tier", facts.risk_tier or "not assessed"),
            ("Domain", facts.domain),
            ("Regulations", ", ".join(facts.regulations) or None),
            ("Signature", signature),
            ("Registered by", f"{facts.created_by} at {_ts(facts.created_at)}"),
        ),
        (
            _section(
                "approvals",
                "Approvals",
                _transition_table(approvals, with_stages=False),
                required=True,
                filled=bool(approvals),
            ),
            _section("stage_history", "Stage History", _transition_table(list(facts.approvals), with_stages=True)),
            _section("human_oversight", "Human Oversight", _owner_blocks(facts, "human_oversight")),
        ),
    )
    artifact_rows = tuple((a.path, a.digest, str(a.size), a.format or "—", a.scan_verdict) for a in facts.artifacts)
    artifacts = _section(
        "artifacts",
        "Artifacts",
        (Table(("Path", "SHA-256", "Size (bytes)", "Format", "Scan verdict"), artifact_rows),) if artifact_rows else (),
    )
    citation = _owner_text(facts, "citation")
    citation_blocks: tuple[Block, ...] = ()
    if citation:
        # BibTeX is shown as code, as the Hugging Face template does; prose stays prose.
        citation_blocks = (Code(citation, "bibtex"),) if citation.startswith("@") else (Text(citation),)
    contact = _section(
        "contact",
        "Model Card Contact",
        _fields(("Owner team", facts.team), ("Contact", _owner_text(facts, "contact"))),
    )
    return ModelCard(
        facts,
        (
            details,
            uses,
            bias,
            get_started,
            training,
            evaluation,
            environmental,
            technical,
            governance,
            artifacts,
            _section("citation", "Citation", citation_blocks),
            contact,
        ),
    )


def _schema(schema: Mapping[str, Any] | None) -> tuple[Block, ...]:
    if not schema:
        return ()
    return (Code(json.dumps(_jsonable(schema), indent=2, sort_keys=True), "json"),)


def _transition_table(transitions: list[CardApproval], *, with_stages: bool) -> tuple[Block, ...]:
    if not transitions:
        return ()
    if with_stages:
        history = tuple((t.from_stage, t.to_stage, t.actor, _ts(t.at), t.comment or "") for t in transitions)
        return (Table(("From", "To", "By", "At", "Comment"), history),)
    approvals = tuple((t.actor, _ts(t.at), t.comment or "") for t in transitions)
    return (Table(("Approved by", "At", "Comment"), approvals),)


def _evidence_sections(evidence: tuple[CardEvidence, ...]) -> list[CardSection]:
    by_kind: dict[str, list[CardEvidence]] = {}
    for item in evidence:
        by_kind.setdefault(item.kind, []).append(item)
    sections = []
    for kind, items in by_kind.items():
        blocks: list[Block] = []
        for item in items:
            blocks.append(Text(f"**{item.title}** ({_ts(item.created_at)})"))
            if item.summary:
                rows = tuple((str(k), _value_text(v)) for k, v in item.summary.items())
                blocks.append(Table(("Measure", "Value"), rows))
        title = re.sub(r"[_-]+", " ", kind).strip().title() or "Evidence"
        sections.append(_section(f"evidence:{kind}", title, tuple(blocks)))
    return sections


# -- JSON -------------------------------------------------------------------------------------------


def _number_text(value: float) -> str:
    return str(_jsonable(value))


def _jsonable(value: Any) -> Any:
    """Plain JSON values: ISO datetimes, non-finite floats as "nan" / "inf" / "-inf"."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _block_json(block: Block) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    if isinstance(block, Bullets):
        return {"type": "bullets", "items": list(block.items)}
    if isinstance(block, Fields):
        return {"type": "fields", "items": [{"label": k, "value": v} for k, v in block.items]}
    if isinstance(block, Table):
        return {"type": "table", "columns": list(block.columns), "rows": [list(r) for r in block.rows]}
    return {"type": "code", "language": block.language, "text": block.text}


def _section_json(section: CardSection) -> dict[str, Any]:
    return {
        "key": section.key,
        "title": section.title,
        "required": section.required,
        "filled": section.filled,
        "content": [_block_json(b) for b in section.content],
        "subsections": [_section_json(s) for s in section.subsections],
    }


def to_json(card: ModelCard) -> dict[str, Any]:
    """The card as JSON-ready data: the facts, the section tree and the missing required sections."""
    facts = card.facts
    return {
        "model": facts.model,
        "version": facts.version,
        "stage": facts.stage,
        "missing_sections": card.missing(),
        "sections": [_section_json(s) for s in card.sections],
        "facts": _jsonable(facts),
    }


# -- Markdown ---------------------------------------------------------------------------------------

_NEWLINES = re.compile(r"\r\n|\r|\n")
# Hugging Face's `library_name` values for the framework names people usually write.
_LIBRARY_NAMES = {"scikit-learn": "sklearn", "sklearn": "sklearn", "torch": "pytorch", "pytorch": "pytorch"}


def _cell(value: str) -> str:
    """A table cell: an unescaped `|` would start a new cell and a newline would end the row."""
    return _NEWLINES.sub("<br>", value.strip().replace("|", "\\|"))


def _inline(value: str) -> str:
    """A list item: continuation lines are indented so they stay inside the item."""
    return _NEWLINES.sub("\n  ", value.strip())


def _render_block(block: Block) -> str:
    if isinstance(block, Text):
        return block.text.strip()
    if isinstance(block, Bullets):
        return "\n".join(f"- {_inline(item)}" for item in block.items)
    if isinstance(block, Fields):
        return "\n".join(f"- **{label}:** {_inline(value)}" for label, value in block.items)
    if isinstance(block, Table):
        lines = [
            "| " + " | ".join(_cell(c) for c in block.columns) + " |",
            "|" + "|".join(" --- " for _ in block.columns) + "|",
        ]
        lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows)
        return "\n".join(lines)
    # A fence longer than any run of backticks inside, so the code cannot close it early.
    longest = max((len(run) for run in re.findall(r"`+", block.text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{block.language}\n{block.text.rstrip()}\n{fence}"


def _render_section(section: CardSection, level: int) -> list[str]:
    children = [part for sub in section.subsections for part in _render_section(sub, level + 1)]
    if not (section.required or section.content or children):
        return []
    parts = [f"{'#' * level} {section.title}"]
    if section.required and not section.filled:
        parts.append(NOT_WRITTEN)
    parts.extend(_render_block(block) for block in section.content)
    return parts + children


def _front_matter(card: ModelCard) -> dict[str, Any]:
    facts = card.facts
    front: dict[str, Any] = {}
    license_ = _owner_text(facts, "license")
    if license_:
        if re.fullmatch(r"[A-Za-z0-9.+-]+", license_):
            front["license"] = license_.lower()
        else:  # Hugging Face's way of naming a licence that has no identifier
            front["license"] = "other"
            front["license_name"] = license_
    languages = _owner(facts, "languages")
    if languages:
        front["language"] = languages if isinstance(languages, list) else [languages]
    if facts.framework:
        library = facts.framework.split()[0].lower()
        front["library_name"] = _LIBRARY_NAMES.get(library, library)
    base_model = _owner_text(facts, "base_model")
    if base_model:
        front["base_model"] = base_model
    if facts.tags:
        front["tags"] = list(facts.tags)
    # Hugging Face's `datasets` are the ones the model was trained on.
    training = [d.name for d in facts.datasets if d.role == "training"]
    if training:
        front["datasets"] = list(dict.fromkeys(training))
    if facts.metrics:
        front["metrics"] = list(facts.metrics)
        front["model-index"] = [{"name": facts.model, "results": [_model_index_result(facts)]}]
    front["charter"] = {
        "model": facts.model,
        "version": facts.version,
        "team": facts.team,
        "stage": facts.stage,
        "domain": facts.domain,
        "risk_tier": facts.risk_tier,
        "regulations": list(facts.regulations),
        "signed": facts.signed,
        "signature_key_id": facts.signature_key_id,
        "created_by": facts.created_by,
        "created_at": facts.created_at.isoformat(),
        "missing_sections": card.missing(),
    }
    return front


def _model_index_result(facts: CardFacts) -> dict[str, Any]:
    # Charter's metrics are not tied to a dataset: name one only when a single evaluation set exists.
    evaluation = list(dict.fromkeys(d.name for d in facts.datasets if d.role == "evaluation"))
    dataset = evaluation[0] if len(evaluation) == 1 else "unspecified"
    return {
        "task": {"type": _owner_text(facts, "task") or "other"},
        "dataset": {"name": dataset, "type": dataset},
        "metrics": [{"type": name, "name": name, "value": value} for name, value in facts.metrics.items()],
    }


def to_markdown(card: ModelCard) -> str:
    """The card as Markdown with YAML front matter, in the Hugging Face model-card layout."""
    front = yaml.safe_dump(_front_matter(card), sort_keys=False, allow_unicode=True, default_flow_style=False)
    parts = [f"# {card.facts.model} {card.facts.version}"]
    summary = _owner_blocks(card.facts, "summary")
    parts.extend(_render_block(block) for block in summary)
    for section in card.sections:
        parts.extend(_render_section(section, 2))
    return f"---\n{front}---\n\n" + "\n\n".join(parts) + "\n"
