"""What the audit service returns and accepts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Outcome = Literal["allowed", "denied", "failed"]


class AuditEventRead(BaseModel):
    seq: int
    ts: str = Field(description="UTC, ISO 8601 with microseconds")
    actor: str = Field(description="`user:<name>`, `service:<name>`, `system:<name>` or `anonymous`")
    action: str
    resource_type: str
    resource_id: str | None
    outcome: Outcome
    details: dict[str, Any]
    request_id: str | None
    source_ip: str | None
    prev_hash: str
    hash: str


class AuditFilter(BaseModel):
    actor: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: str | None = Field(default=None, description="ISO 8601 time, inclusive")
    until: str | None = Field(default=None, description="ISO 8601 time, exclusive")


class FaultRead(BaseModel):
    seq: int
    kind: str
    message: str


class VerifyReport(BaseModel):
    ok: bool
    size: int = Field(description="events verified")
    head_hash: str
    checkpoints_checked: int
    fault: FaultRead | None = None
    seconds: float


class CheckpointRead(BaseModel):
    origin: str
    size: int
    head_hash: str
    created_at: str
    key_id: str
    signature: str
