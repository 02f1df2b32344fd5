"""The Charter Python SDK: a typed HTTP client that raises the server's own errors.

from charter.client import Charter

with Charter.login("https://charter.example.com", "alice", password) as charter:
    for user in charter.iter_users(kind="user"):
        print(user.name, [b.role for b in user.bindings])
"""

from __future__ import annotations

from charter.client._http import HttpClient, HttpResponse, request_id_of
from charter.client.models import Health, Readiness, RoleInfo
from charter.client.sdk import Charter

__all__ = ["Charter", "Health", "HttpClient", "HttpResponse", "Readiness", "RoleInfo", "request_id_of"]
