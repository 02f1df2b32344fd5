"""The audit trail over ``/api/v1/audit``: search, verify, checkpoint, export.

Reading the trail is itself recorded by the server, so every call here
(except ``latest_checkpoint``) adds an event of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from charter.audit.schemas import AuditEventRead, CheckpointRead, VerifyReport
from charter.client.base import ClientBase, Moment, iso, paginate, query
from charter.errors import CharterError
from charter.pagination import Page


class AuditAPI(ClientBase):
    def audit_events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[AuditEventRead]:
        """One page of events, newest first. ``actor`` is e.g. ``"user:alice"``; ``since`` is
        inclusive and ``until`` exclusive."""
        params = query(
            actor=actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            since=iso(since),
            until=iso(until),
            cursor=cursor,
            limit=limit,
        )
        return self._get(Page[AuditEventRead], "/api/v1/audit/events", params)

    def iter_audit_events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        page_size: int | None = None,
    ) -> Iterator[AuditEventRead]:
        """Every matching event, newest first, following ``next_cursor`` page by page.

        Each page read is itself an ``audit.read`` event, appended after the
        search began; it is never among the results, because pages walk
        towards older events.
        """
        return paginate(
            lambda cursor: self.audit_events(
                actor=actor,
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                since=since,
                until=until,
                cursor=cursor,
                limit=page_size,
            )
        )

    def verify_audit(self, checkpoints: Sequence[CheckpointRead] | None = None) -> VerifyReport:
        """Walk the whole chain and check it against the server's checkpoints.

        Pass ``checkpoints`` you stored outside Charter (from ``create_checkpoint``)
        to also detect a truncated or rolled-back trail, which the server's own
        checkpoints cannot prove once they too are rolled back. A broken chain is
        a report with ``ok=False``, not an exception.
        """
        if checkpoints is None:
            return self._get(VerifyReport, "/api/v1/audit/verify")
        body = {"checkpoints": [c.model_dump(mode="json") for c in checkpoints]}
        return self._post(VerifyReport, "/api/v1/audit/verify", body)

    def create_checkpoint(self) -> CheckpointRead:
        """Sign the current head of the chain; keep the answer somewhere Charter cannot write."""
        return self._post(CheckpointRead, "/api/v1/audit/checkpoints")

    def latest_checkpoint(self) -> CheckpointRead:
        """The newest signed checkpoint; ``NotFound`` when none has been made."""
        return self._get(CheckpointRead, "/api/v1/audit/checkpoints/latest")

    def export_audit(self, since_seq: int = 0) -> Iterator[dict[str, Any]]:
        """Events after ``since_seq`` as ``{"seq", "body", "prev_hash", "hash"}``, streamed in order.

        ``body`` is the stored event text verbatim, so the chain can be checked
        without Charter: ``sha256(bytes.fromhex(prev_hash) + body.encode()).hexdigest() == hash``.
        The request is sent when iteration starts.
        """
        path = "/api/v1/audit/export"
        with self._transport.stream("GET", path, params={"since_seq": since_seq}) as response:
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError as exc:
                    raise CharterError(f"GET {path} sent a line that is not JSON: {line[:200]!r}") from exc
                if not isinstance(item, dict):
                    raise CharterError(f"GET {path} sent a line that is not a JSON object: {line[:200]!r}")
                yield item
