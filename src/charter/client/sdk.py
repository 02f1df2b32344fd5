"""``Charter``: the whole REST API as typed Python calls."""

from __future__ import annotations

from typing import Self

from pydantic import SecretStr

from charter.client._http import HttpClient, error_from_response
from charter.client.audit import AuditAPI
from charter.client.compliance import ComplianceAPI, TrainingAPI
from charter.client.decisions import DecisionsAPI
from charter.client.evidence import EvidenceAPI
from charter.client.identity import IdentityAPI
from charter.client.incidents import IncidentsAPI
from charter.client.inventory import InventoryAPI
from charter.client.metrics import MetricsAPI
from charter.client.models import Health, Readiness
from charter.client.monitoring import MonitoringAPI
from charter.client.policies import PoliciesAPI
from charter.client.reports import ReportsAPI
from charter.client.risk import RiskAPI
from charter.errors import CharterError


class Charter(
    IdentityAPI,
    AuditAPI,
    InventoryAPI,
    EvidenceAPI,
    DecisionsAPI,
    IncidentsAPI,
    MetricsAPI,
    MonitoringAPI,
    PoliciesAPI,
    RiskAPI,
    ComplianceAPI,
    TrainingAPI,
    ReportsAPI,
):
    """A client for one Charter server.

    Authenticate with an access ``token`` (see ``Charter.login``) or a service
    account's ``api_key``. Answers are the server's own pydantic schemas; a
    refusal raises the server's own error class (``NotFound``,
    ``PermissionDenied``, ...) with its message and details, plus
    ``details["request_id"]``; an unreachable server raises
    ``ServiceUnavailable``.

    ``http`` takes an ``httpx.Client``-compatible object to send through
    (a configured client, or a test client bound to an app in process); it
    stays open when this client closes.
    """

    @classmethod
    def login(
        cls,
        url: str,
        username: str,
        password: str | SecretStr,
        *,
        timeout: float = 30.0,
        http: HttpClient | None = None,
    ) -> Self:
        """Sign in with a username and password; the client sends the token it got from then on."""
        client = cls(url, timeout=timeout, http=http)
        try:
            client._transport.token = client._sign_in(username, password).access_token
        except BaseException:
            client.close()
            raise
        return client

    def health(self) -> Health:
        """Liveness: the server process answers (no credentials needed)."""
        return self._get(Health, "/healthz")

    def ready(self) -> Readiness:
        """Readiness: the database is reachable and its schema current.

        A not-ready server answers 503 with its reason; that is returned as
        ``Readiness(status="unavailable", reason=...)`` rather than raised,
        since "not yet" is an answer to this question, not a failure.
        """
        response = self._transport.send("GET", "/readyz", also_ok=(503,))
        try:
            return Readiness.model_validate(response.json())
        except ValueError:  # pydantic's ValidationError included: a 503 from something else (a proxy)
            if response.status_code == 503:
                raise error_from_response(response) from None
            raise CharterError("The answer to GET /readyz is not a readiness report.") from None

    def metrics(self) -> str:
        """The Prometheus exposition text (needs ``metrics:read``)."""
        return self._transport.send("GET", "/metrics").text
