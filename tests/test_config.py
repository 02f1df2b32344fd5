"""Settings: validated, and insecure secrets refused outside development mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from charter.config import Settings, ensure_secret_key_file
from charter.errors import ConfigurationError


def test_defaults_live_under_charter_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    settings = Settings()
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'charter.db'}"
    assert settings.secret_key_file == tmp_path / "keys" / "secret.key"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTER_DATABASE_URL", "postgresql://db/charter")
    monkeypatch.setenv("CHARTER_ACCESS_TOKEN_TTL", "120")
    monkeypatch.setenv("CHARTER_OIDC_ROLE_MAP", '{"ml-admins": "admin"}')
    settings = Settings()
    assert settings.effective_database_url == "postgresql://db/charter"
    assert settings.access_token_ttl == 120
    assert settings.oidc_role_map == {"ml-admins": "admin"}


@pytest.mark.parametrize(
    ("name", "value"),
    [("CHARTER_ACCESS_TOKEN_TTL", "5"), ("CHARTER_ENV", "staging"), ("CHARTER_OIDC_ROLE_MAP", "not json")],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix("CHARTER_").lower()):
        Settings()


def test_oidc_issuer_needs_an_audience() -> None:
    with pytest.raises(ValidationError, match="CHARTER_OIDC_AUDIENCE"):
        Settings(oidc_issuer="https://idp.example")


@pytest.mark.parametrize("weak", ["", "secret", "changeme", "too-short-secret"])
def test_weak_secret_is_refused_outside_development(tmp_path: Path, weak: str) -> None:
    with pytest.raises(ConfigurationError, match="CHARTER_SECRET_KEY"):
        _ = Settings(home=tmp_path, secret_key=SecretStr(weak)).secret
    assert Settings(home=tmp_path, secret_key=SecretStr(weak), env="development").secret == weak.encode()


def test_missing_secret_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="charter init"):
        _ = Settings(home=tmp_path).secret


def test_generated_key_file_is_strong_and_private(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert ensure_secret_key_file(settings) is True
    assert ensure_secret_key_file(settings) is False  # never overwritten
    assert len(settings.secret) >= 48
    assert settings.secret_key_file.stat().st_mode & 0o777 == 0o600


def test_server_refuses_to_start_with_a_weak_secret(tmp_path: Path) -> None:
    from charter.server.app import create_app

    with pytest.raises(ConfigurationError):
        create_app(
            Settings(home=tmp_path, secret_key=SecretStr("changeme"), database_url=f"sqlite:///{tmp_path / 'x.db'}")
        )
