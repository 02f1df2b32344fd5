"""Risk over ``/api/v1/risk``: assessments with their reasons, scoring rules, EU AI Act classification,
the risk register and its heat map."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from charter.client._http import parse
from charter.client.base import ClientBase, plain, query, segment
from charter.risk.schemas import (
    AssessmentRead,
    ClassificationRead,
    HeatMap,
    QuestionnaireRead,
    RiskCreate,
    RiskRead,
    RiskUpdate,
    RulesDocument,
    RulesRead,
)

_BASE = "/api/v1/risk"


def _assessments(model: str, version: str) -> str:
    return f"{_BASE}/models/{segment(model)}/versions/{segment(version)}/assessments"


class RiskAPI(ClientBase):
    # -- assessments --------------------------------------------------------------------------------

    def assess_risk(self, model: str, version: str) -> AssessmentRead:
        """Assess a model version now: data privacy, model bias, security, compliance, transparency and
        robustness, each scored 0-1 with the rules that fired and the facts they read, and the overall
        rating. Stored, and recorded as ``risk_assessment`` evidence on the version."""
        return self._post(AssessmentRead, _assessments(model, version))

    def risk_assessments(self, model: str, version: str, *, limit: int | None = None) -> list[AssessmentRead]:
        """The version's assessment history, newest first."""
        return self._get(list[AssessmentRead], _assessments(model, version), query(limit=limit))

    def latest_risk_assessment(self, model: str, version: str) -> AssessmentRead:
        return self._get(AssessmentRead, _assessments(model, version) + "/latest")

    def get_risk_assessment(self, assessment_id: int) -> AssessmentRead:
        return self._get(AssessmentRead, f"{_BASE}/assessments/{assessment_id}")

    # -- rules --------------------------------------------------------------------------------------

    def risk_rules(self, *, number: int | None = None) -> RulesRead:
        """The scoring rules in force (or version ``number``); number 0 is the shipped default, not yet stored."""
        return self._get(RulesRead, f"{_BASE}/rules", query(number=number))

    def risk_rule_versions(self) -> list[RulesRead]:
        return self._get(list[RulesRead], f"{_BASE}/rules/versions")

    def save_risk_rules(self, document: RulesDocument | Mapping[str, Any], *, comment: str | None = None) -> RulesRead:
        """A new version of the scoring rules; bad conditions raise ``InvalidInput`` with positions in ``details``."""
        body = document.model_dump(mode="json") if isinstance(document, RulesDocument) else dict(document)
        data = self._transport.json("PUT", f"{_BASE}/rules", json={"document": body, "comment": comment})
        return parse(RulesRead, data, where=f"PUT {_BASE}/rules")

    def save_risk_rules_file(self, path: str | Path, *, comment: str | None = None) -> RulesRead:
        """As :meth:`save_risk_rules`, from a YAML or JSON file."""
        text = Path(path).read_text(encoding="utf-8")
        data = self._transport.json("PUT", f"{_BASE}/rules/text", json={"text": text, "comment": comment})
        return parse(RulesRead, data, where=f"PUT {_BASE}/rules/text")

    def install_risk_rules(self) -> RulesRead:
        """Make the shipped default rules the rules in force."""
        return self._post(RulesRead, f"{_BASE}/rules/install")

    # -- EU AI Act ----------------------------------------------------------------------------------

    def risk_questionnaire(self) -> QuestionnaireRead:
        """The EU AI Act intake questionnaire (question ids, text, article, answer type)."""
        return self._get(QuestionnaireRead, f"{_BASE}/questionnaire")

    def classify_model(
        self, model: str, answers: Mapping[str, bool | float | None], *, apply_tier: bool = False
    ) -> ClassificationRead:
        """Classify a model under the EU AI Act from the questionnaire answers; ``apply_tier`` sets its risk tier."""
        path = f"{_BASE}/models/{segment(model)}/classification"
        data = self._transport.json("PUT", path, json={"answers": dict(answers), "apply_tier": apply_tier})
        return parse(ClassificationRead, data, where=f"PUT {path}")

    def model_classifications(self, model: str) -> list[ClassificationRead]:
        return self._get(list[ClassificationRead], f"{_BASE}/models/{segment(model)}/classifications")

    # -- the register -------------------------------------------------------------------------------

    def add_risk(self, data: RiskCreate | Mapping[str, Any]) -> RiskRead:
        """A new risk in the register (``RiskCreate`` fields: title, category, likelihood, impact, owner, ...)."""
        body = data.model_dump(mode="json", exclude_unset=True) if isinstance(data, RiskCreate) else plain(dict(data))
        return self._post(RiskRead, f"{_BASE}/register", body)

    def risks(
        self,
        *,
        model: str | None = None,
        status: str | None = None,
        category: str | None = None,
        overdue: bool | None = None,
    ) -> list[RiskRead]:
        """Risks you may read, highest residual score first."""
        params = query(model=model, status=status, category=category, overdue=overdue)
        return self._get(list[RiskRead], f"{_BASE}/register", params)

    def get_risk(self, risk_id: int) -> RiskRead:
        return self._get(RiskRead, f"{_BASE}/register/{risk_id}")

    def update_risk(self, risk_id: int, changes: RiskUpdate | Mapping[str, Any]) -> RiskRead:
        """Change the fields given (the others stay)."""
        body = (
            changes.model_dump(mode="json", exclude_unset=True)
            if isinstance(changes, RiskUpdate)
            else plain(dict(changes))
        )
        path = f"{_BASE}/register/{risk_id}"
        return parse(RiskRead, self._transport.json("PATCH", path, json=body), where=f"PATCH {path}")

    def accept_risk(self, risk_id: int, note: str, *, review_date: date | None = None) -> RiskRead:
        """Accept the residual risk (a high or critical one needs ``risk:accept``)."""
        body = {"note": note, "review_date": review_date.isoformat() if review_date else None}
        return self._post(RiskRead, f"{_BASE}/register/{risk_id}/accept", body)

    def risk_heat_map(self) -> HeatMap:
        """Risks per (likelihood, impact) cell, inherent and residual, and each model's latest rating."""
        return self._get(HeatMap, f"{_BASE}/register/heat-map")
