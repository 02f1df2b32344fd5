"""Notifications: what is sent to a channel, how it is signed, and the outbox's retries.

Deliveries are rows written in the transaction that fires or resolves an alert (the outbox), so a
notification outage never loses an alert: the worker sends what is due, retries with exponential
backoff, and after ``CHARTER_NOTIFICATION_MAX_ATTEMPTS`` marks the delivery ``dead`` (a
dead-letter record that stays listed, with its last error, until someone looks).

Webhooks are signed like Stripe's and GitHub's: ``X-Charter-Signature: t=<unix time>,v1=<hex>``
where ``v1`` is HMAC-SHA256 of ``"<t>." + body`` under the channel's secret; receivers recompute
it and reject old timestamps. ``slack`` channels get Slack's incoming-webhook payload
(``{"text": ..., "blocks": [...]}``); ``email`` goes out through the SMTP server in the settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from charter.config import Settings
from charter.security.keys import derive_key

SIGNATURE_HEADER = "X-Charter-Signature"
TIMEOUT_SECONDS = 10.0
BACKOFF_FIRST = 30  # seconds before the first retry; doubled each time, at most an hour
BACKOFF_MAX = 3600
_NONCE = 12


def seal_secret(settings: Settings, secret: str) -> str:
    """A channel's signing secret as stored: AES-GCM under a key derived from the server secret."""
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(derive_key(settings.secret, "notification-channel")).encrypt(nonce, secret.encode(), b"channel")
    return base64.b64encode(nonce + sealed).decode()


def open_secret(settings: Settings, stored: str) -> str:
    raw = base64.b64decode(stored)
    key = derive_key(settings.secret, "notification-channel")
    return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], b"channel").decode()


SEALED = "sealed:"


def seal_target(settings: Settings, url: str) -> str:
    """A Slack incoming-webhook URL as stored: the URL is the credential, so it is sealed too."""
    return SEALED + seal_secret(settings, url)


def open_target(settings: Settings, stored: str) -> str:
    return open_secret(settings, stored[len(SEALED) :]) if stored.startswith(SEALED) else stored


def shown_target(stored: str) -> str:
    """What reads show of a channel's target: a sealed URL is never shown back."""
    return "(sealed webhook URL)" if stored.startswith(SEALED) else stored


def host_of(address: str) -> str:
    """The part of a URL that may appear in errors and the audit trail (its path may be a credential)."""
    return urlsplit(address).netloc or "the channel"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def backoff(attempts: int) -> timedelta:
    """The wait before retry number ``attempts`` (1-based): 30 s, 60 s, 2 min, ... at most 1 h."""
    return timedelta(seconds=min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX))


def payload(event: str, alert: dict[str, Any]) -> dict[str, Any]:
    """The JSON a webhook receives (and what the other channels are written from)."""
    return {"event": f"alert.{event}", "alert": alert}


def slack_payload(body: dict[str, Any]) -> dict[str, Any]:
    alert = body["alert"]
    state = "RESOLVED" if body["event"] == "alert.resolved" else alert["severity"]
    text = f"[{state}] {alert['title']}"
    detail = alert["message"]
    if alert.get("incident_id"):
        detail += f"\nIncident #{alert['incident_id']}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*\n{detail}"}},
        ],
    }


@dataclass(frozen=True)
class Target:
    kind: str
    address: str
    secret: str | None


Sender = Callable[[Target, dict[str, Any]], None]


def send(settings: Settings) -> Sender:
    """The real sender (tests use it too, against local HTTP and SMTP servers)."""

    def deliver(target: Target, body: dict[str, Any]) -> None:
        if target.kind == "email":
            _email(settings, target.address, body)
            return
        data = orjson.dumps(slack_payload(body) if target.kind == "slack" else body)
        headers = {"Content-Type": "application/json", "User-Agent": "Charter"}
        if target.secret:
            headers[SIGNATURE_HEADER] = signature(target.secret, int(time.time()), data)
        response = httpx.post(target.address, content=data, headers=headers, timeout=TIMEOUT_SECONDS)
        if response.status_code >= 300:
            raise DeliveryFailed(f"{host_of(target.address)} answered {response.status_code}")

    return deliver


class DeliveryFailed(Exception):
    pass


def _email(settings: Settings, to: str, body: dict[str, Any]) -> None:
    if not settings.smtp_host:
        raise DeliveryFailed("no SMTP server is configured (CHARTER_SMTP_HOST)")
    alert = body["alert"]
    message = EmailMessage()
    state = "Resolved" if body["event"] == "alert.resolved" else alert["severity"]
    message["Subject"] = f"[Charter {state}] {alert['title']}"
    message["From"] = settings.smtp_from
    message["To"] = to
    message.set_content(f"{alert['message']}\n\n{orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()}")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


def failure_text(exc: Exception, address: str) -> str:
    """What a failed attempt records: the error's kind and message, cut short, with the channel's URL
    reduced to its host (a webhook URL's path can be its credential) and no body echoed."""
    return f"{type(exc).__name__}: {exc}".replace(address, host_of(address))[:500]
