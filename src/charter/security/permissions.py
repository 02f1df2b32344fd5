"""Permissions and the roles that bundle them.

A permission names one kind of act on one kind of thing (``model:write``).
Roles are fixed bundles, so that "what can a reviewer do" has one answer in
one place. Later capabilities use the permissions already listed here.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    # Inventory and model protection
    MODEL_READ = "model:read"
    MODEL_WRITE = "model:write"
    VERSION_APPROVE = "version:approve"
    ARTIFACT_READ = "artifact:read"
    # Let a flagged (or unverified) artifact proceed past review; administrators only, always audited.
    ARTIFACT_OVERRIDE = "artifact:override"
    DATASET_READ = "dataset:read"
    DATASET_WRITE = "dataset:write"
    EVIDENCE_WRITE = "evidence:write"
    # Governance
    POLICY_READ = "policy:read"
    POLICY_WRITE = "policy:write"
    POLICY_APPROVE = "policy:approve"
    RISK_READ = "risk:read"
    RISK_WRITE = "risk:write"
    RISK_ACCEPT = "risk:accept"
    COMPLIANCE_READ = "compliance:read"
    COMPLIANCE_WRITE = "compliance:write"
    # Monitoring and incidents
    MONITOR_READ = "monitor:read"
    MONITOR_WRITE = "monitor:write"
    INCIDENT_READ = "incident:read"
    INCIDENT_WRITE = "incident:write"
    DECISION_READ = "decision:read"
    DECISION_WRITE = "decision:write"
    # Sensitive attributes logged with decisions (and decrypting special-category inputs): the data
    # that fairness is measured over, kept from those who only operate the model.
    FAIRNESS_READ = "fairness:read"
    # Administration
    TEAM_READ = "team:read"
    TEAM_WRITE = "team:write"
    USER_READ = "user:read"
    USER_WRITE = "user:write"
    ROLE_GRANT = "role:grant"
    APIKEY_WRITE = "apikey:write"
    AUDIT_READ = "audit:read"
    AUDIT_CHECKPOINT = "audit:checkpoint"
    METRICS_READ = "metrics:read"
    # Held by every signed-in principal, whatever its roles (see ``principal._grants``): it guards
    # "who am I", changing one's own password and signing out, which nobody should be refused.
    SELF = "self"


class Role(StrEnum):
    ADMIN = "admin"
    MODEL_OWNER = "model_owner"
    REVIEWER = "reviewer"
    RISK_OFFICER = "risk_officer"
    AUDITOR = "auditor"
    VIEWER = "viewer"
    SERVICE = "service"


P = Permission

#: Role names this version knows. A stored binding with any other name (written by a newer or older
#: version) is ignored wherever bindings are read, never widened into something it is not.
KNOWN_ROLES = frozenset(r.value for r in Role)

_READ_ALL = frozenset(
    {
        P.MODEL_READ,
        P.ARTIFACT_READ,
        P.DATASET_READ,
        P.POLICY_READ,
        P.RISK_READ,
        P.COMPLIANCE_READ,
        P.MONITOR_READ,
        P.INCIDENT_READ,
        P.DECISION_READ,
        P.TEAM_READ,
        P.USER_READ,
    }
)
_VIEW = frozenset(
    {
        P.MODEL_READ,
        P.DATASET_READ,
        P.POLICY_READ,
        P.RISK_READ,
        P.COMPLIANCE_READ,
        P.MONITOR_READ,
        P.INCIDENT_READ,
        P.TEAM_READ,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    # Reads everything, the audit trail included, and changes nothing.
    Role.AUDITOR: _READ_ALL | {P.AUDIT_READ, P.METRICS_READ, P.FAIRNESS_READ},
    Role.VIEWER: _VIEW,
    Role.MODEL_OWNER: _VIEW
    | {
        P.MODEL_WRITE,
        P.ARTIFACT_READ,
        P.DATASET_WRITE,
        P.EVIDENCE_WRITE,
        P.MONITOR_WRITE,
        P.INCIDENT_WRITE,
        P.DECISION_READ,
        P.DECISION_WRITE,
    },
    Role.REVIEWER: _VIEW | {P.VERSION_APPROVE, P.ARTIFACT_READ, P.DECISION_READ, P.EVIDENCE_WRITE},
    Role.RISK_OFFICER: _VIEW
    | {
        P.RISK_WRITE,
        P.EVIDENCE_WRITE,
        P.RISK_ACCEPT,
        P.COMPLIANCE_WRITE,
        P.POLICY_WRITE,
        P.POLICY_APPROVE,
        P.INCIDENT_WRITE,
        P.DECISION_READ,
        P.FAIRNESS_READ,
        P.USER_READ,
    },
    # Automation (CI jobs, monitors, Prometheus): writes evidence, metrics and decisions; no administration.
    Role.SERVICE: frozenset(
        {
            P.MODEL_READ,
            P.MODEL_WRITE,
            P.ARTIFACT_READ,
            P.DATASET_READ,
            P.EVIDENCE_WRITE,
            P.MONITOR_READ,
            P.MONITOR_WRITE,
            P.DECISION_WRITE,
            P.METRICS_READ,
        }
    ),
}
