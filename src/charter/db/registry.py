"""Import every table so that ``Base.metadata`` is complete (migrations and the schema test use it)."""

from charter.audit import models as audit_models
from charter.compliance import models as compliance_models
from charter.db.base import Base
from charter.decisions import models as decision_models
from charter.evidence import models as evidence_models
from charter.identity import models as identity_models
from charter.incidents import models as incident_models
from charter.inventory import models as inventory_models
from charter.metrics import models as metric_models
from charter.monitoring import models as monitoring_models
from charter.policies import models as policy_models
from charter.reports import models as report_models
from charter.risk import models as risk_models
from charter.training import models as training_models

metadata = Base.metadata

__all__ = [
    "audit_models",
    "compliance_models",
    "decision_models",
    "evidence_models",
    "identity_models",
    "incident_models",
    "inventory_models",
    "metadata",
    "metric_models",
    "monitoring_models",
    "policy_models",
    "report_models",
    "risk_models",
    "training_models",
]
