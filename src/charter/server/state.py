"""Everything a running server holds, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.config import Settings
from charter.db.engine import Database
from charter.security.keys import derive_key, load_audit_key
from charter.security.oidc import OidcVerifier
from charter.security.tokens import TokenCodec

if TYPE_CHECKING:
    from charter.inventory.artifacts import Protection


@dataclass
class AppState:
    settings: Settings
    db: Database
    codec: TokenCodec
    oidc: OidcVerifier | None = None

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None) -> AppState:
        # Reading the secret here makes a weak or missing secret fail at start-up, not at first login.
        secret = settings.secret
        oidc = None
        if settings.oidc_issuer and settings.oidc_audience:
            oidc = OidcVerifier(
                issuer=settings.oidc_issuer,
                audience=settings.oidc_audience,
                jwks_url=settings.oidc_jwks_url,
                role_map=settings.oidc_role_map,
                groups_claim=settings.oidc_groups_claim,
                username_claim=settings.oidc_username_claim,
            )
        return cls(
            settings=settings,
            db=db or Database(settings.effective_database_url),
            codec=TokenCodec(
                secret=derive_key(secret, "jwt"), issuer=settings.jwt_issuer, audience=settings.jwt_audience
            ),
            oidc=oidc,
        )

    @cached_property
    def audit_key(self) -> Ed25519PrivateKey:
        return load_audit_key(self.settings.audit_key_file)

    @cached_property
    def protection(self) -> Protection:
        """The artifact store, master keys and signing key (read on first use)."""
        from charter.inventory.artifacts import Protection

        return Protection(self.settings)

    @property
    def audit_origin(self) -> str:
        return f"{self.settings.jwt_issuer}/audit"
