"""Charter's own JWTs (RFC 8725 practice).

- One algorithm, HS256 with the server secret, pinned on decode: the header's
  ``alg`` is never trusted (``none`` and RS/HS confusion fail).
- ``exp``, ``iat``, ``iss``, ``aud``, ``sub`` and ``jti`` are required.
- API access tokens and dashboard sessions have different audiences and
  ``typ`` headers, so one can never be replayed as the other.
- Revocation is by ``jti`` (checked by the identity service against the
  database), so logout takes effect before ``exp``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from charter.errors import InvalidToken

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
LEEWAY_SECONDS = 10

TokenKind = Literal["access", "session"]
_TYP: dict[TokenKind, str] = {"access": "at+jwt", "session": "charter-session+jwt"}


@dataclass(frozen=True)
class TokenClaims:
    subject: str  # principal name
    jti: str
    issued_at: datetime
    expires_at: datetime
    kind: TokenKind
    csrf: str | None = None  # sessions only: the value forms must echo back


class TokenCodec:
    """Issues and checks Charter tokens. Pure: no database, no clock but the one passed in."""

    def __init__(self, *, secret: bytes, issuer: str, audience: str) -> None:
        if not secret:
            raise ValueError("empty token secret")
        self._secret = secret
        self.issuer = issuer
        self._audiences: dict[TokenKind, str] = {"access": audience, "session": f"{audience}:web"}

    def issue(
        self,
        subject: str,
        *,
        ttl: int,
        kind: TokenKind = "access",
        now: datetime | None = None,
    ) -> tuple[str, TokenClaims]:
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        expires = now + timedelta(seconds=ttl)
        jti = secrets.token_urlsafe(18)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self._audiences[kind],
            "sub": subject,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": jti,
        }
        csrf = None
        if kind == "session":
            csrf = secrets.token_urlsafe(24)
            payload["csrf"] = csrf
        token = jwt.encode(payload, self._secret, algorithm=ALGORITHM, headers={"typ": _TYP[kind]})
        return token, TokenClaims(subject, jti, now, expires, kind, csrf)

    def decode(self, token: str, *, kind: TokenKind = "access") -> TokenClaims:
        """Return the claims of a valid token; raise ``InvalidToken`` saying why otherwise."""
        try:
            # One parse for header and payload; the header's ``alg`` is never used (``algorithms`` is pinned).
            decoded = jwt.decode_complete(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self._audiences[kind],
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True},
            )
            if decoded["header"].get("typ") != _TYP[kind]:
                raise InvalidToken(
                    "The token is not a Charter " + ("access token." if kind == "access" else "session.")
                )
            payload = decoded["payload"]
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The token has expired; sign in again.") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("The token was issued for another audience.") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("The token was issued by another issuer.") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"The token lacks the required claim {exc.claim!r}.") from exc
        except jwt.InvalidTokenError as exc:
            # Bad signature, wrong algorithm, malformed: say no more than that.
            raise InvalidToken("The token is invalid.") from exc
        subject, jti = payload["sub"], payload["jti"]
        if not isinstance(subject, str) or not isinstance(jti, str) or not subject or not jti:
            raise InvalidToken("The token is invalid.")
        csrf = payload.get("csrf")
        return TokenClaims(
            subject=subject,
            jti=jti,
            issued_at=datetime.fromtimestamp(payload["iat"], UTC),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            kind=kind,
            csrf=csrf if isinstance(csrf, str) else None,
        )
