"""Report fixtures: the policy tests' governed credit-scoring model (``gov``), taken through the demo's story.

People (see tests.policies.conftest): olivia (model owner, credit-risk), rita (reviewer, credit-risk),
rosa and rick (risk officers, organisation-wide), vera (viewer, credit-risk), aude (auditor),
ada (admin), otto (model owner of people-analytics).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from charter.config import Settings
from charter.identity import auth
from charter.identity.service import get_principal
from charter.inventory.artifacts import Protection
from charter.security.keys import load_audit_key
from charter.security.principal import Principal
from tests.policies.conftest import MODEL, Gov, gov

__all__ = ["MODEL", "Gov", "Governed", "as_user", "gov", "governed"]


@dataclass
class Governed:
    """The credit model after the demo's story: blocked by the enforced fairness policy, waived, promoted."""

    gov: Gov
    settings: Settings
    waiver: dict[str, Any]
    public_key: Ed25519PublicKey

    @property
    def protection(self) -> Protection:
        return Protection(self.settings)

    @contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        with self.gov.db.session(write=write) as session:
            yield session


def as_user(session: Session, name: str) -> Principal:
    return auth.to_principal(get_principal(session, name), auth_method="local")


@pytest.fixture
def governed(gov: Gov, settings: Settings) -> Governed:
    gov.ok(gov.post("/policies/pack"), 201)  # the starter pack, whose rules the EU AI Act framework names
    gov.enforce("high-risk-fairness")
    gov.to_approved("1.0.0")
    gov.fairness("1.0.0", (50, 20))  # selection rates 0.5 and 0.2: disparate impact 0.4
    blocked = gov.promote("1.0.0", "production")
    assert blocked.status_code == 409 and "high-risk-fairness/disparate-impact" in blocked.text
    body = {"rule": "disparate-impact", "model": MODEL, "days": 30, "reason": "Retraining under way; see RISK-12."}
    waiver = gov.ok(gov.post("/policies/high-risk-fairness/waivers", body), 201)
    gov.ok(gov.promote("1.0.0", "production"))
    return Governed(gov, settings, waiver, load_audit_key(settings.audit_key_file).public_key())
