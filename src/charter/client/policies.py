"""Policies over ``/api/v1/policies``: write, dry-run, move through the lifecycle, approve, waive."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from charter.client._http import parse
from charter.client.base import ClientBase, query, segment
from charter.policies.schemas import DryRunResult, PolicyDocument, PolicyRead, PolicyVersionRead, WaiverRead


def _policy(policy: str, *parts: str) -> str:
    return "/".join([f"/api/v1/policies/{segment(policy)}", *parts])


def _document(document: PolicyDocument | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(document, PolicyDocument):
        return document.model_dump(mode="json")
    return dict(document)


class PoliciesAPI(ClientBase):
    def create_policy(self, document: PolicyDocument | Mapping[str, Any]) -> PolicyRead:
        """A new policy in draft; malformed expressions raise ``InvalidInput`` with their positions in ``details``."""
        return self._post(PolicyRead, "/api/v1/policies", _document(document))

    def add_policy_file(self, path: str | Path) -> PolicyRead:
        """Create a policy from a YAML or JSON file, or add a version to the draft policy with its id."""
        return self._post(PolicyRead, "/api/v1/policies/parse", {"text": Path(path).read_text(encoding="utf-8")})

    def update_policy(self, policy: str, document: PolicyDocument | Mapping[str, Any]) -> PolicyRead:
        """A new version of a draft policy."""
        data = self._transport.json("PUT", _policy(policy), json=_document(document))
        return parse(PolicyRead, data, where=f"PUT {_policy(policy)}")

    def policies(self, *, state: str | None = None) -> list[PolicyRead]:
        return self._get(list[PolicyRead], "/api/v1/policies", query(state=state))

    def get_policy(self, policy: str) -> PolicyRead:
        return self._get(PolicyRead, _policy(policy))

    def policy_versions(self, policy: str) -> list[PolicyVersionRead]:
        return self._get(list[PolicyVersionRead], _policy(policy, "versions"))

    def policy_facts(self) -> list[dict[str, str]]:
        """Every fact a policy may read: path, type and description."""
        return self._get(list[dict[str, str]], "/api/v1/policies/facts")

    def set_policy_state(self, policy: str, state: str, *, comment: str | None = None) -> PolicyRead:
        """Move a policy; ``enforce`` records a proposal that another person approves (:meth:`approve_policy`)."""
        return self._post(PolicyRead, _policy(policy, "state"), {"state": state, "comment": comment})

    def approve_policy(self, policy: str, *, comment: str | None = None) -> PolicyRead:
        return self._post(PolicyRead, _policy(policy, "approve"), {"comment": comment})

    def dry_run_policy(
        self,
        policy: str,
        *,
        model: str | None = None,
        stage: str | None = None,
        version: int | None = None,
        include_not_applicable: bool = False,
    ) -> DryRunResult:
        """What the policy would decide for every model version you may read (nothing is recorded)."""
        body = {"model": model, "stage": stage, "version": version, "include_not_applicable": include_not_applicable}
        return self._post(DryRunResult, _policy(policy, "dry-run"), body)

    def grant_waiver(self, policy: str, rule: str, *, model: str, days: int, reason: str) -> WaiverRead:
        """A time-boxed exception to one rule for one model (needs ``policy:approve``)."""
        body = {"rule": rule, "model": model, "days": days, "reason": reason}
        return self._post(WaiverRead, _policy(policy, "waivers"), body)

    def waivers(
        self, *, policy: str | None = None, model: str | None = None, status: str | None = None
    ) -> list[WaiverRead]:
        return self._get(list[WaiverRead], "/api/v1/waivers", query(policy=policy, model=model, status=status))

    def revoke_waiver(self, waiver: int, *, reason: str) -> WaiverRead:
        return self._post(WaiverRead, f"/api/v1/waivers/{segment(waiver)}/revoke", {"reason": reason})

    def install_policy_pack(self) -> dict[str, list[str]]:
        """Load the starter pack as drafts; returns the ids ``created`` and ``skipped`` (existing)."""
        return self._post(dict[str, list[str]], "/api/v1/policies/pack")
