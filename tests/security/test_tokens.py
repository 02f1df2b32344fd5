"""Charter's JWTs: each way a token can be wrong is rejected, with a reason."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from charter.errors import InvalidToken
from charter.security.tokens import ALGORITHM, TokenCodec

SECRET = b"s" * 64
codec = TokenCodec(secret=SECRET, issuer="charter", audience="charter-api")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides: object) -> dict[str, object]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, object] = {
        "iss": "charter",
        "aud": "charter-api",
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, object], key: bytes = SECRET, typ: str = "at+jwt") -> str:
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"typ": typ})


def test_round_trip() -> None:
    token, issued = codec.issue("alice", ttl=600)
    claims = codec.decode(token)
    assert (claims.subject, claims.jti, claims.kind) == ("alice", issued.jti, "access")
    assert claims.expires_at - claims.issued_at == timedelta(seconds=600)


def test_each_token_has_its_own_jti() -> None:
    assert codec.issue("alice", ttl=60)[1].jti != codec.issue("alice", ttl=60)[1].jti


def test_expired() -> None:
    token, _ = codec.issue("alice", ttl=60, now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(InvalidToken, match="expired"):
        codec.decode(token)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": "another-service"}, "audience"),
        ({"iss": "someone-else"}, "issuer"),
        ({"exp": None}, "exp"),
        ({"jti": None}, "jti"),
        ({"sub": None}, "sub"),
        ({"iat": None}, "iat"),
    ],
)
def test_wrong_or_missing_claims(changes: dict[str, object], reason: str) -> None:
    # Claims made when the test runs, not when it is collected: a long suite would see them expire.
    with pytest.raises(InvalidToken, match=reason):
        codec.decode(_sign(_claims(**changes)))


def test_alg_none_is_rejected() -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(_claims())}."
    with pytest.raises(InvalidToken):
        codec.decode(token)


def test_signed_with_another_key() -> None:
    with pytest.raises(InvalidToken, match="invalid"):
        codec.decode(_sign(_claims(), key=b"k" * 48))


def test_tampered_payload() -> None:
    token, _ = codec.issue("alice", ttl=600)
    header, _payload, signature = token.split(".")
    forged = f"{header}.{_b64(_claims(sub='admin'))}.{signature}"
    with pytest.raises(InvalidToken):
        codec.decode(forged)


def test_other_algorithms_are_refused_even_with_the_right_key() -> None:
    token = jwt.encode(_claims(), SECRET, algorithm="HS512", headers={"typ": "at+jwt"})
    with pytest.raises(InvalidToken):
        codec.decode(token)


def test_a_session_is_not_an_access_token_and_back() -> None:
    session, _ = codec.issue("alice", ttl=600, kind="session")
    access, _ = codec.issue("alice", ttl=600, kind="access")
    with pytest.raises(InvalidToken):
        codec.decode(session, kind="access")
    with pytest.raises(InvalidToken):
        codec.decode(access, kind="session")
    assert codec.decode(session, kind="session").csrf


def test_wrong_typ_header_with_valid_signature() -> None:
    with pytest.raises(InvalidToken):
        codec.decode(_sign(_claims(), typ="JWT"))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9..."])
def test_garbage(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        codec.decode(garbage)
