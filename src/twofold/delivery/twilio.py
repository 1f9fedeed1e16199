"""SMS and voice over Twilio's REST API (no SDK): Messages.json and Calls.json.

`base_url` is configurable (`TWOFOLD_TWILIO_BASE_URL`) so tests and regional or proxied
deployments can point it elsewhere. A sender starting with `MG` is used as a Messaging Service
SID for SMS. Twilio's error body is summarised by its numeric code only.
"""

from __future__ import annotations

from typing import Any, Literal
from xml.sax.saxutils import escape

import httpx

from twofold.core.models import OutboundMessage
from twofold.core.ports import DeliveryError
from twofold.delivery.templates import VOICE_LANGUAGES, render

API_VERSION = "2010-04-01"


class TwilioChannel:
    def __init__(
        self,
        kind: Literal["sms", "voice"],
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        base_url: str = "https://api.twilio.com",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not account_sid or not auth_token or not sender:
            raise ValueError(
                "Twilio needs TWOFOLD_TWILIO_ACCOUNT_SID, TWOFOLD_TWILIO_AUTH_TOKEN and "
                "TWOFOLD_TWILIO_FROM"
            )
        self._kind = kind
        self._sid = account_sid
        self._token = auth_token
        self._sender = sender
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._transport = transport

    def _request(self, message: OutboundMessage) -> tuple[str, dict[str, str]]:
        rendered = render(message)
        root = f"{self._base}/{API_VERSION}/Accounts/{self._sid}"
        if self._kind == "voice":
            language = VOICE_LANGUAGES.get(rendered.locale, "en-US")
            twiml = (
                f'<Response><Say language="{language}">{escape(rendered.text)}</Say>'
                f'<Pause length="1"/><Say language="{language}">{escape(rendered.text)}</Say>'
                "</Response>"
            )
            return f"{root}/Calls.json", {"To": message.to, "From": self._sender, "Twiml": twiml}
        data = {"To": message.to, "Body": rendered.text}
        if self._sender.startswith("MG"):
            data["MessagingServiceSid"] = self._sender
        else:
            data["From"] = self._sender
        return f"{root}/Messages.json", data

    async def _call(self, method: str, url: str, who: str, **kwargs: Any) -> httpx.Response:
        """One request with the account's credentials; a transport failure is a DeliveryError
        naming `who` and the failure's kind (never the URL's credentials)."""
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as http:
                return await http.request(method, url, auth=(self._sid, self._token), **kwargs)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{who} {type(exc).__name__}") from None

    async def send(self, message: OutboundMessage) -> None:
        url, data = self._request(message)
        response = await self._call("POST", url, "Twilio", data=data)
        if response.status_code >= 300:
            code = _error_code(response)
            raise DeliveryError(f"Twilio answered {response.status_code} (code {code})")

    async def check(self) -> str:
        """Twilio's credentials check: GET the account resource. Sends nothing."""
        url = f"{self._base}/{API_VERSION}/Accounts/{self._sid}.json"
        response = await self._call("GET", url, f"{self._base}:")
        if response.status_code != 200:
            code = _error_code(response)
            refused = (
                " (the account SID or auth token is wrong)"
                if response.status_code in (401, 403, 404)
                else ""
            )
            raise DeliveryError(f"Twilio answered {response.status_code} (code {code}){refused}")
        return f"{self._base} account {self._sid[:6]}… ({self._kind})"


def _error_code(response: httpx.Response) -> object:
    """Twilio's error code from an error answer's JSON body, if it has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None
