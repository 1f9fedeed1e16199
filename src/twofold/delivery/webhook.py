"""A generic webhook: JSON POSTed to an operator's URL, signed the Standard Webhooks way.

For any SMS gateway, email API or push relay. Headers (https://www.standardwebhooks.com/):
`webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`), keyed with the secret
`whsec_<base64>`. The body:

    {"type": "mfa.sms.challenge", "timestamp": "2025-…Z",
     "data": {"channel": "sms", "to": "+1555…", "code": "123456", "text": "…", "subject": null,
              "locale": "en", "issuer": "Example", "purpose": "challenge", "expires_in": 300}}

Push notifications (`type: "mfa.push.push"`) carry the device's notification target in `to`,
no code, and `transaction_id`, `device_id` and `base_url` in `data`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from twofold.core.models import OutboundMessage
from twofold.core.ports import DeliveryError
from twofold.delivery.templates import render


def decode_secret(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret must be whsec_ followed by base64") from None
    if len(key) < 16:
        raise ValueError("the webhook secret must be at least 16 bytes")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def payload(message: OutboundMessage) -> dict[str, Any]:
    rendered = render(message)
    return {
        "type": f"mfa.{message.channel}.{message.purpose}",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "channel": message.channel,
            "to": message.to,
            "code": message.code,
            "text": rendered.text,
            "subject": rendered.subject,
            "locale": rendered.locale,
            "issuer": message.issuer,
            "purpose": message.purpose,
            "expires_in": message.expires_in,
            **message.data,
        },
    }


class WebhookChannel:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("the webhook URL must be http(s)://")
        self._url = url
        self._key = decode_secret(secret)
        self._timeout = timeout
        self._transport = transport

    async def send(self, message: OutboundMessage) -> None:
        body = json.dumps(payload(message), separators=(",", ":")).encode()
        msg_id = "msg_" + secrets.token_urlsafe(18)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._key, msg_id, timestamp, body),
            "user-agent": "Twofold-Webhook/1",
        }
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as http:
                response = await http.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {type(exc).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook answered {response.status_code}")
