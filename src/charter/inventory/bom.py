"""The model card as a CycloneDX 1.6 ML-BOM, built with ``cyclonedx-python-lib`` (never hand-written JSON).

BOM shape: ``metadata.component`` is the model (type ``machine-learning-model``, bom-ref
``model:<name>@<version>``). Its artifacts are *nested* in its ``components`` as ``file``
components (bom-ref ``artifact:<path>``, SHA-256 hash, scan verdict, size and format as
properties): the files are parts of the model, not things it depends on. When the version has
exactly one artifact, its SHA-256 is also the model component's hash. Each linked dataset is a
top-level ``data`` component (bom-ref ``data:<name>``; a dataset linked in two roles is one
component with both roles) and ``dependencies`` records the lineage model -> datasets.
Charter's governance facts are ``charter:*`` properties (stage, team, risk tier, metrics, ...).
"""

from __future__ import annotations

import re

from cyclonedx import spdx
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6

from charter.inventory.cards import CardDataset, ModelCard, _number_text, _owner_text

__all__ = ["to_cyclonedx"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _sha256(digest: str) -> HashType:
    value = digest.strip().lower()
    if not _SHA256.fullmatch(value):
        raise ValueError(f"Not a SHA-256 hex digest: {digest!r}")
    return HashType(alg=HashAlgorithm.SHA_256, content=value)


def _props(*pairs: tuple[str, str | None]) -> list[Property]:
    """``charter:``-namespaced properties; absent or blank values are left out."""
    return [Property(name=f"charter:{name}", value=value) for name, value in pairs if value]


def _licenses(value: str | None) -> list[License]:
    """An SPDX id, an SPDX expression, or a named licence (what LicenseFactory does, without its import)."""
    if not value:
        return []
    spdx_id = spdx.fixup_id(value)
    if spdx_id:
        return [DisjunctiveLicense(id=spdx_id)]
    if spdx.is_expression(value):
        return [LicenseExpression(value)]
    return [DisjunctiveLicense(name=value)]


def _model_properties(card: ModelCard) -> list[Property]:
    facts = card.facts
    props = _props(
        ("team", facts.team),
        ("stage", facts.stage),
        ("domain", facts.domain),
        ("risk_tier", facts.risk_tier),
        ("framework", facts.framework),
        ("intended_use", facts.intended_use),
        ("signed", "true" if facts.signed else "false"),
        ("signature_key_id", facts.signature_key_id),
        ("created_by", facts.created_by),
        ("created_at", facts.created_at.isoformat()),
    )
    props += _props(*(("regulation", r) for r in facts.regulations))
    props += _props(*(("out_of_scope_use", use) for use in facts.out_of_scope_uses))
    props += _props(*((f"metric:{name}", _number_text(value)) for name, value in facts.metrics.items()))
    props += _props(
        *(("approval", f"{t.actor} at {t.at.isoformat()}") for t in facts.approvals if t.to_stage == "approved")
    )
    props += _props(*(("evidence", f"{e.kind}: {e.title}") for e in facts.evidence))
    props += _props(*(("missing_section", title) for title in card.missing()))
    return props


def to_cyclonedx(card: ModelCard) -> str:
    """The version as a CycloneDX 1.6 ML-BOM (JSON); see the module docstring for its shape."""
    facts = card.facts
    files = [
        Component(
            type=ComponentType.FILE,
            name=a.path,
            bom_ref=f"artifact:{a.path}",
            hashes=[_sha256(a.digest)],
            properties=_props(("scan_verdict", a.scan_verdict), ("size", str(a.size)), ("format", a.format)),
        )
        for a in facts.artifacts
    ]
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=facts.model,
        version=facts.version,
        bom_ref=f"model:{facts.model}@{facts.version}",
        description=facts.description or facts.purpose or _owner_text(facts, "summary"),
        hashes=[_sha256(facts.artifacts[0].digest)] if len(facts.artifacts) == 1 else [],
        licenses=_licenses(_owner_text(facts, "license")),
        tags=facts.tags,
        properties=_model_properties(card),
        components=files,
    )
    # One component per dataset even when it is linked in two roles (bom-refs must be unique).
    by_name: dict[str, list[CardDataset]] = {}
    for dataset in facts.datasets:
        by_name.setdefault(dataset.name, []).append(dataset)
    data = [_data_component(name, links) for name, links in by_name.items()]
    bom = Bom(metadata=BomMetaData(component=model), components=data)
    if data:
        bom.register_dependency(model, data)
    return JsonV1Dot6(bom).output_as_string(indent=2)


def _data_component(name: str, links: list[CardDataset]) -> Component:
    first = links[0]
    roles = list(dict.fromkeys(link.role for link in links))
    summary = f"{' and '.join(roles).capitalize()} data, classification {first.classification}"
    if first.legal_basis:
        summary += f", legal basis {first.legal_basis}"
    description = f"{summary}. {first.description}" if first.description else f"{summary}."
    return Component(
        type=ComponentType.DATA,
        name=name,
        bom_ref=f"data:{name}",
        description=description,
        properties=_props(
            *(("role", role) for role in roles),
            ("classification", first.classification),
            ("legal_basis", first.legal_basis),
            ("location", first.location),
        ),
    )
