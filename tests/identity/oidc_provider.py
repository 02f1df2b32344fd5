"""A real, minimal OpenID provider for tests: discovery document and JWKS over HTTP on 127.0.0.1.

It serves what Charter fetches (``/.well-known/openid-configuration`` and the
``jwks_uri`` it names) from a background thread, and signs tokens with an RSA
key made for the test run. Tokens that no honest provider would issue
(``alg: none``, HMAC keyed with the public key) are assembled by hand, since
PyJWT rightly refuses to make them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

KID = "test-key-1"


def new_rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


class LocalProvider:
    """An issuer at ``http://127.0.0.1:<port>`` whose JWKS holds one RSA public key."""

    def __init__(self, key: RSAPrivateKey) -> None:
        self.key = key
        self.requests: list[str] = []  # paths served, in order
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests.append(self.path)
                documents = {
                    "/.well-known/openid-configuration": provider.discovery(),
                    "/jwks": provider.jwks(),
                }
                document = documents.get(self.path)
                body = json.dumps(document or {"error": "not found"}).encode()
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-provider", daemon=True)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}

    def public_key_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    # -- tokens -------------------------------------------------------------------------------------

    def claims(self, audience: str, **overrides: Any) -> dict[str, Any]:
        """A valid access token's claims; ``overrides`` replace them (``None`` drops a claim)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": "subject-1",
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "preferred_username": "alice",
            "email": "alice@example.com",
            "groups": [],
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], *, key: RSAPrivateKey | None = None, kid: str | None = KID) -> str:
        headers = {"kid": kid} if kid is not None else {}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers=headers)

    def unsigned(self, claims: dict[str, Any]) -> str:
        """``alg: none``: a header, the claims and an empty signature."""
        return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{_segment(claims)}."

    def hmac_with_public_key(self, claims: dict[str, Any]) -> str:
        """HS256 keyed with the provider's public key, the classic RS/HS key-confusion forgery."""
        signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': KID})}.{_segment(claims)}"
        signature = hmac.new(self.public_key_pem(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(signature)}"

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def running_provider(key: RSAPrivateKey) -> Iterator[LocalProvider]:
    provider = LocalProvider(key)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
