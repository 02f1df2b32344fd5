"""The version lifecycle: which stage may follow which, who may move it, and the gates on the way.

``draft → review → approved → production → deprecated → retired``, plus the ways back that real
work needs: a reviewer sends a version back to draft, a deprecated version returns to production
(rollback), and a draft or approved version that will never ship is retired.

Gates are the hook point for checks that can refuse a promotion: the artifact gates here (scan
verdicts, signature) and, later, governance policies. A gate returns the reasons it refuses;
an empty list lets the version through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from charter.security.permissions import Permission
from charter.security.principal import Principal

if TYPE_CHECKING:
    from charter.inventory.artifacts import Protection

P = Permission

#: stage -> {next stage: permissions, any one of which allows the move}
TRANSITIONS: dict[str, dict[str, tuple[Permission, ...]]] = {
    "draft": {"review": (P.MODEL_WRITE,), "retired": (P.MODEL_WRITE,)},
    # Back to draft: the author withdraws it, or a reviewer rejects it.
    "review": {"approved": (P.VERSION_APPROVE,), "draft": (P.MODEL_WRITE, P.VERSION_APPROVE)},
    "approved": {"production": (P.MODEL_WRITE,), "deprecated": (P.MODEL_WRITE,), "retired": (P.MODEL_WRITE,)},
    "production": {"deprecated": (P.MODEL_WRITE,)},
    "deprecated": {"production": (P.MODEL_WRITE,), "retired": (P.MODEL_WRITE,)},
    "retired": {},
}

#: Stages at which a version's files are frozen: nothing may be uploaded or replaced.
FROZEN = frozenset({"review", "approved", "production", "deprecated", "retired"})
#: Moving into one of these stages requires the artifacts to be clean (or overridden) and signed.
PROTECTED = frozenset({"approved", "production"})


def allowed_next(stage: str) -> list[str]:
    return list(TRANSITIONS.get(stage, {}))


def permissions_for(from_stage: str, to_stage: str) -> tuple[Permission, ...] | None:
    """The permissions that allow the move, or None when the lifecycle does not allow it at all."""
    return TRANSITIONS.get(from_stage, {}).get(to_stage)


@dataclass(frozen=True)
class GateInput:
    session: Session
    actor: Principal
    model_id: int
    version_id: int
    from_stage: str
    to_stage: str
    # The server's artifact protection (signature checks), when the caller has it.
    protection: Protection | None = None
    # Gates add what should not block but be shown to the person promoting (e.g. policies in `warn`).
    warnings: list[str] = field(default_factory=list)


Gate = Callable[[GateInput], Iterable[str]]


@dataclass
class GateRegistry:
    """Named checks run before every promotion, in registration order."""

    gates: dict[str, Gate] = field(default_factory=dict)

    def register(self, name: str, gate: Gate) -> None:
        self.gates[name] = gate

    def unregister(self, name: str) -> None:
        self.gates.pop(name, None)

    def refusals(self, request: GateInput) -> list[str]:
        reasons: list[str] = []
        for name, gate in self.gates.items():
            reasons.extend(f"{name}: {reason}" for reason in gate(request))
        return reasons


#: The process-wide registry; the inventory registers its artifact gates on import of the service.
gates = GateRegistry()
