"""Settings: one validated object, read from ``CHARTER_*`` environment variables.

Nothing reads ``os.environ`` elsewhere. Secrets live in ``CHARTER_SECRET_KEY``
or in key files under ``CHARTER_HOME/keys`` (created by ``charter init``),
never in the database. Outside development mode a missing, empty, short or
well-known secret is refused at start-up.
"""

from __future__ import annotations

import json
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, StringConstraints, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from charter.errors import ConfigurationError
from charter.incidents.lifecycle import DEFAULT_RESPONSE_SLAS, DURATION_PATTERN, Severity

#: Values people paste from tutorials; never acceptable as a production secret.
KNOWN_WEAK_SECRETS = frozenset(
    {"", "secret", "changeme", "change-me", "changethis", "dev", "development", "test", "charter", "password"}
)
MIN_SECRET_BYTES = 32
ROLE_MAP_HELP = 'a JSON object mapping a group to "role" or "role@team", e.g. {"ml-admins": "admin"}'
THRESHOLDS_HELP = 'JSON such as {"demographic_parity_ratio": [">=", 0.8]}'
SLAS_HELP = 'JSON such as {"SEV1": "15m", "SEV2": "1h", "SEV3": "4h", "SEV4": "1bd"} (units s, m, h, d, bd)'
JSON_SETTING_HELP = {
    "oidc_role_map": ROLE_MAP_HELP,
    "fairness_thresholds": THRESHOLDS_HELP,
    "incident_response_slas": SLAS_HELP,
}


Comparator = Literal[">=", "<=", ">", "<"]


def _default_fairness_thresholds() -> dict[str, tuple[Comparator, float]]:
    return {
        "demographic_parity_ratio": (">=", 0.8),
        "equalized_odds_difference": ("<=", 0.1),
        "equal_opportunity_difference": ("<=", 0.1),
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHARTER_", extra="ignore", frozen=True)

    env: Literal["production", "development"] = Field(
        default="production", description="`development` accepts weak secrets (never use it in production)"
    )
    home: Path = Field(
        default_factory=lambda: Path.home() / ".charter",
        description="where the SQLite database, key files and artifacts live",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default `sqlite:///$CHARTER_HOME/charter.db`; "
        "`postgresql://user@host/db` uses PostgreSQL (psycopg 3)",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="server secret (>= 32 bytes) that signs tokens; default: the key file "
        "`$CHARTER_HOME/keys/secret.key` made by `charter init`",
    )
    admin_password: SecretStr | None = Field(
        default=None, description="first administrator's password, read by `charter init` only"
    )

    # Tokens
    access_token_ttl: int = Field(default=900, ge=60, le=86_400, description="API access token lifetime, seconds")
    session_ttl: int = Field(default=8 * 3600, ge=300, le=7 * 86_400, description="dashboard session, seconds")
    jwt_issuer: str = Field(default="charter", description="`iss` of Charter's tokens; also names the audit log")
    jwt_audience: str = Field(default="charter-api", description="`aud` of Charter's access tokens")

    # External identity provider (optional)
    oidc_issuer: str | None = Field(default=None, description="issuer URL of an OpenID Connect provider")
    oidc_audience: str | None = Field(default=None, description="`aud` the provider's tokens must carry")
    oidc_jwks_url: str | None = Field(
        default=None, description="JWKS URL; default: discovered from the issuer's openid-configuration"
    )
    oidc_groups_claim: str = Field(default="groups", description="claim that lists the user's groups")
    oidc_username_claim: str = Field(default="preferred_username", description="claim that names the user")
    oidc_role_map: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict, description=ROLE_MAP_HELP)

    # Login throttling
    login_max_failures_per_account: int = Field(default=5, ge=1, description="failed sign-ins before a lockout")
    login_max_failures_per_address: int = Field(
        default=20, ge=1, description="failed sign-ins from one address (any account) before a lockout"
    )
    login_failure_window: int = Field(default=900, ge=1, description="window in which failures count, seconds")
    login_lockout: int = Field(default=900, ge=1, description="lockout duration, seconds")

    password_min_length: int = Field(default=12, ge=8, description="minimum password length (no composition rules)")

    # Audit
    audit_checkpoint_interval: int = Field(
        default=3600, ge=0, description="seconds between signed audit checkpoints made by the server; 0: off"
    )

    # Artifacts and model protection
    artifact_store: str | None = Field(
        default=None,
        description="where encrypted artifacts are kept: a folder (default `$CHARTER_HOME/artifacts`) or "
        "`s3://bucket/prefix?endpoint_url=...&region=...` (credentials from the AWS environment)",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="base64 of a 32-byte master key that wraps artifact data keys; default: the key files "
        "in `$CHARTER_HOME/keys/master/` made by `charter init` (`charter keys rotate` adds one)",
    )
    encrypt_artifacts: bool = Field(default=True, description="encrypt artifacts at rest (AES-256-GCM envelopes)")
    max_upload_bytes: int = Field(default=20 * 2**30, ge=1, description="largest artifact file accepted, bytes")
    max_archive_members: int = Field(default=10_000, ge=1, description="most files inside one uploaded archive")
    max_decompression_ratio: float = Field(
        default=100.0, gt=1, description="largest uncompressed/compressed size ratio of an archive member (zip bombs)"
    )

    # Fairness
    fairness_thresholds: Annotated[dict[str, tuple[Comparator, float]], NoDecode] = Field(
        default_factory=_default_fairness_thresholds,
        description='pass/fail thresholds of fairness assessments, JSON: {"metric": [">=", 0.8], ...}; '
        "the default is the four-fifths rule and 0.1 for equalized odds and equal opportunity",
    )
    fairness_min_group_size: int = Field(
        default=30, ge=1, description="groups with fewer rows are reported as too small, not used in aggregates"
    )

    # Transparency log of automated decisions
    decision_store: Literal["database", "parquet"] = Field(
        default="database",
        description="where logged decisions are kept: `database` (moderate volume) or `parquet` (high volume: "
        "files partitioned by model and date, read back with DuckDB or Spark; see docs/decisions.md)",
    )
    decision_log_dir: Path | None = Field(
        default=None, description="folder of the Parquet decision log; default `$CHARTER_HOME/decision-log`"
    )

    # Incidents
    incident_response_slas: Annotated[
        dict[Severity, Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]], NoDecode
    ] = Field(
        default_factory=lambda: dict(DEFAULT_RESPONSE_SLAS),
        description="time to triage an incident, per severity, JSON: "
        '{"SEV1": "15m", "SEV2": "1h", "SEV3": "4h", "SEV4": "1bd"} (the default; units s, m, h, d, '
        "bd = business days Mon-Fri); a severity left out keeps its default",
    )

    # Monitoring worker and notifications
    worker_interval: int = Field(
        default=30,
        ge=0,
        description="seconds between the in-process worker's rounds in `charter serve`; 0: off "
        "(run `charter worker` instead)",
    )
    notification_max_attempts: int = Field(
        default=8, ge=1, le=100, description="attempts to deliver a notification before it is dead-lettered"
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mail notifications")
    smtp_port: int = Field(default=25, ge=1, le=65_535, description="SMTP port")
    smtp_from: str = Field(default="charter@localhost", description="sender address of e-mail notifications")
    smtp_username: str | None = Field(default=None, description="SMTP user, if the server needs a login")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_starttls: bool = Field(default=False, description="upgrade the SMTP connection with STARTTLS")

    demo_data: Path | None = Field(
        default=None,
        description="folder holding adult.csv and compas_two_years.csv for `charter demo`; "
        "default: ../shared/data beside the checkout",
    )

    # Server
    cookie_secure: bool = Field(
        default=False, description="always mark the session cookie Secure (it is whenever the request is HTTPS)"
    )
    log_level: str = Field(default="INFO", description="log level of the JSON logs on standard error")

    @field_validator("oidc_role_map", "fairness_thresholds", "incident_response_slas", mode="before")
    @classmethod
    def _parse_json_object(cls, value: object, info: ValidationInfo) -> object:
        """These settings are JSON objects in the environment; an empty value is an empty object."""
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                name = f"CHARTER_{(info.field_name or '').upper()}"
                raise ValueError(f"{name} must be {JSON_SETTING_HELP[info.field_name or '']}") from exc
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("CHARTER_OIDC_AUDIENCE is required when CHARTER_OIDC_ISSUER is set")
        return self

    # -- derived values ---------------------------------------------------------------------------

    @property
    def dev_mode(self) -> bool:
        return self.env == "development"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def secret_key_file(self) -> Path:
        return self.keys_dir / "secret.key"

    @property
    def audit_key_file(self) -> Path:
        return self.keys_dir / "audit-ed25519.pem"

    @property
    def signing_key_file(self) -> Path:
        """EC P-256 key that signs model manifests (OpenSSF model-signing, private-key mode)."""
        return self.keys_dir / "model-signing-p256.pem"

    @property
    def effective_artifact_store(self) -> str:
        return self.artifact_store or str(self.home / "artifacts")

    @property
    def effective_decision_log_dir(self) -> Path:
        return self.decision_log_dir or self.home / "decision-log"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'charter.db'}"

    @cached_property
    def secret(self) -> bytes:
        """The server secret (signs tokens and CSRF values), checked for strength.

        Order: ``CHARTER_SECRET_KEY``, then the key file. Weak secrets are
        refused unless ``CHARTER_ENV=development``.
        """
        if self.secret_key is not None:
            raw = self.secret_key.get_secret_value().encode()
            source = "CHARTER_SECRET_KEY"
        elif self.secret_key_file.exists():
            raw = self.secret_key_file.read_bytes().strip()
            source = str(self.secret_key_file)
        else:
            raise ConfigurationError(
                f"No server secret: set CHARTER_SECRET_KEY or run `charter init` to create {self.secret_key_file}"
            )
        weak = raw.decode(errors="replace").strip().lower() in KNOWN_WEAK_SECRETS or len(raw) < MIN_SECRET_BYTES
        if weak and not self.dev_mode:
            raise ConfigurationError(
                f"The server secret from {source} is empty, too short (< {MIN_SECRET_BYTES} bytes) or a "
                "well-known default. Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'` "
                "or set CHARTER_ENV=development for local experiments."
            )
        return raw


def ensure_secret_key_file(settings: Settings) -> bool:
    """Create the server secret file if it does not exist. Returns True when created."""
    path = settings.secret_key_file
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private_file(path, secrets.token_urlsafe(48).encode())
    return True


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def get_settings() -> Settings:
    """Read settings from the environment (call once at the edge, pass the object down)."""
    return Settings()
