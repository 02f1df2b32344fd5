"""One error tree for the whole of Charter.

Every error a user can cause carries a stable ``code`` and an HTTP status.
The server turns them into JSON (API) or an HTML page (dashboard) in one
place (``charter.server.errors``); the SDK rebuilds the same class from the
code, so ``except NotFound`` works the same in-process and over HTTP.
Nothing below the router raises ``HTTPException``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self


class CharterError(Exception):
    """Base class: a message for humans, a stable code for programs."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}
        # An audit event to record although the failing transaction is rolled back (a refused
        # promotion belongs in the model's history): keys action, resource_type, resource_id,
        # outcome, details. The server's error renderer and the CLI record it in a fresh transaction.
        self.audit: dict[str, Any] | None = None

    def recorded_as(
        self, action: str, *, resource_type: str, resource_id: str | int, outcome: str, details: dict[str, Any]
    ) -> Self:
        """Ask for this refusal to be audited although its transaction rolls back (see ``audit``).

        The event's details get the error's message as ``reason`` (cut to 500 characters).
        """
        self.audit = {
            "action": action,
            "resource_type": resource_type,
            "resource_id": str(resource_id),
            "outcome": outcome,
            "details": {**details, "reason": self.message[:500]},
        }
        return self

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(CharterError):
    """The request was understood but its content is wrong."""

    code = "invalid_input"
    status = 422


class BadRequest(CharterError):
    code = "bad_request"
    status = 400


class NotAuthenticated(CharterError):
    """No credentials, or credentials that do not prove an identity."""

    code = "not_authenticated"
    status = 401


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"


class InvalidToken(NotAuthenticated):
    code = "invalid_token"


class PermissionDenied(CharterError):
    code = "permission_denied"
    status = 403


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


class NotFound(CharterError):
    code = "not_found"
    status = 404


class Conflict(CharterError):
    """The change would break a uniqueness or state rule."""

    code = "conflict"
    status = 409


class RateLimited(CharterError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details={"retry_after": retry_after, **(details or {})})
        self.retry_after = retry_after


class AccountLocked(RateLimited):
    code = "account_locked"


class ConfigurationError(CharterError):
    """Settings or key files are missing or unsafe; raised at start-up."""

    code = "configuration_error"
    status = 500


class SchemaOutOfDate(CharterError):
    code = "schema_out_of_date"
    status = 503


class ServiceUnavailable(CharterError):
    code = "service_unavailable"
    status = 503


def _all_subclasses(cls: type[CharterError]) -> list[type[CharterError]]:
    found: list[type[CharterError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def error_class_for(code: str) -> type[CharterError]:
    """The class that owns ``code`` (used by the SDK to re-raise server errors)."""
    classes: list[type[CharterError]] = [CharterError, *_all_subclasses(CharterError)]
    for cls in classes:
        if cls.code == code:
            return cls
    return CharterError


class SignatureInvalid(CharterError):
    """A signature does not verify, or the signed content no longer matches it."""

    code = "signature_invalid"
    status = 409


class StorageError(ServiceUnavailable):
    """The artifact store cannot be reached or used (folder not writable, bucket missing, access denied)."""

    code = "storage_error"
    status = 503


class DecryptionFailed(CharterError):
    """Encrypted data cannot be decrypted: wrong key, or the data was modified, truncated or extended.

    Status 500: when stored data fails its authentication the requester did
    nothing wrong; the data at rest (or the key that protects it) is damaged
    or was tampered with, which an operator must look into. ``details["reason"]``
    says which check failed (``authentication``, ``truncated``, ``trailing_data``,
    ``bad_magic``, ``unsupported_version``, ``bad_header``; for a wrapped data key,
    ``authentication`` or ``bad_wrapped_key``). A caller decrypting something the
    user sent re-raises it as :class:`InvalidInput`.
    """

    code = "decryption_failed"
    status = 500


class KeyUnavailable(ConfigurationError):
    """Data is protected by a master key this installation cannot use (unknown or retired)."""

    code = "key_unavailable"
    status = 500


def named_list(items: Sequence[str], most: int = 20) -> str:
    """``a, b and 3 more``: enough of a list to act on, not a 10,000-item message."""
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")
