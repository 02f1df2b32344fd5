"""Evidence over ``/api/v1``: fairness assessments computed where the data is, judged by the server."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from charter.client.base import ClientBase, query, segment
from charter.evidence.schemas import EvidenceRead


def _evidence_path(model: str | int, version: str) -> str:
    return f"/api/v1/models/{segment(model)}/versions/{segment(version)}/evidence"


class EvidenceAPI(ClientBase):
    def check_model_fairness(
        self,
        model: str | int,
        version: str,
        data: Any = None,
        *,
        y_true: Any,
        y_pred: Any,
        sensitive_features: Any,
        scores: Any = None,
        sample_weight: Any = None,
        positive_label: Any = None,
        engine: str = "numpy",
        mode: str = "all_groups",
        reference_group: Any = None,
        thresholds: dict[str, tuple[str, float]] | None = None,
        title: str | None = None,
        data_fingerprint: str | None = None,
        data_description: str | None = None,
    ) -> EvidenceRead:
        """Assess a version's fairness and store it as evidence (disparate impact, equal opportunity, ...).

        The data is reduced here, on this machine, to per-group counts (``charter.compute.fairness``
        with the chosen engine); only those counts are sent. The server derives every metric from
        them, judges them against ``thresholds`` (default: its own) and stores the result on the
        version. Arguments are those of ``charter.compute.fairness.compute_statistics``.
        """
        from charter.compute.fairness import compute_statistics

        stats = compute_statistics(
            data,
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=sensitive_features,
            scores=scores,
            sample_weight=sample_weight,
            positive_label=positive_label,
            engine=engine,  # type: ignore[arg-type]
        )
        reference = None
        if reference_group is not None:
            reference = list(reference_group) if isinstance(reference_group, tuple | list) else [reference_group]
        body = query(
            statistics=stats.to_dict(),
            mode="reference" if reference is not None else mode,
            reference_group=reference,
            thresholds={k: list(v) for k, v in thresholds.items()} if thresholds is not None else None,
            title=title,
            data_fingerprint=data_fingerprint,
            data_description=data_description,
            engine=engine,
        )
        return self._post(EvidenceRead, _evidence_path(model, version) + "/fairness", body)

    def assess_logged_decisions(
        self,
        model: str | int,
        version: str,
        *,
        sensitive_features: str | Sequence[str],
        positive_output: Any,
        positive_outcome: Any = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        thresholds: dict[str, tuple[str, float]] | None = None,
        reference_group: Any = None,
        mode: str = "all_groups",
        min_group_size: int | None = None,
        n_resamples: int | None = None,
        title: str | None = None,
    ) -> EvidenceRead:
        """Assess the fairness of the decisions ``version`` logged, in a time window, and store it as evidence.

        The server reads the decisions that have an outcome and were decided in ``[since, until)``
        (ISO 8601 text or datetimes; UTC when they carry no zone): ``y_pred`` is ``output ==
        positive_output``, ``y_true`` is ``outcome == positive_outcome`` (default: ``positive_output``),
        groups come from the logged sensitive attributes named in ``sensitive_features``. Values compare
        as JSON values: ``1`` does not match ``"1"``. A ``reference_group`` (a value, or a tuple with
        one value per feature) implies ``mode="reference"``. Needs ``evidence:write`` and
        ``fairness:read`` on the model's team (a risk officer has both).
        """
        features = [sensitive_features] if isinstance(sensitive_features, str) else list(sensitive_features)
        reference = None
        if reference_group is not None:
            reference = list(reference_group) if isinstance(reference_group, tuple | list) else [reference_group]
        body = query(
            sensitive_features=features,
            positive_output=positive_output,
            positive_outcome=positive_outcome,
            since=since.isoformat() if isinstance(since, datetime) else since,
            until=until.isoformat() if isinstance(until, datetime) else until,
            title=title,
            mode="reference" if reference is not None else mode,
            reference_group=reference,
            thresholds={k: list(v) for k, v in thresholds.items()} if thresholds is not None else None,
            min_group_size=min_group_size,
            n_resamples=n_resamples,
        )
        if positive_output is None:  # a JSON null is a value one may log: send it, query() drops Nones
            body["positive_output"] = None
        return self._post(EvidenceRead, _evidence_path(model, version) + "/fairness-from-decisions", body)

    def list_evidence(self, model: str | int, version: str, *, kind: str | None = None) -> list[EvidenceRead]:
        """The version's evidence, newest first (summaries; ``get_evidence`` for the whole result)."""
        return self._get(list[EvidenceRead], _evidence_path(model, version), query(kind=kind))

    def get_evidence(self, model: str | int, version: str, evidence_id: int) -> EvidenceRead:
        return self._get(EvidenceRead, f"{_evidence_path(model, version)}/{evidence_id}")
