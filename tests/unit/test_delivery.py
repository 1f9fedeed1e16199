"""Delivery adapters without a network: templates, Standard Webhooks signatures (checked with
the `standardwebhooks` package), SMTP URLs, Twilio requests, the console channel."""

from __future__ import annotations

import io

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from twofold.core.models import OutboundMessage
from twofold.core.ports import DeliveryError
from twofold.delivery import templates
from twofold.delivery.console import ConsoleChannel
from twofold.delivery.smtp import SmtpTarget
from twofold.delivery.twilio import TwilioChannel
from twofold.delivery.webhook import WebhookChannel, decode_secret

pytestmark = pytest.mark.anyio
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _msg(channel: str = "sms", locale: str = "en", **kw: object) -> OutboundMessage:
    return OutboundMessage(
        channel=channel,  # type: ignore[arg-type]
        to="+16502530000",
        purpose="challenge",
        code="042917",
        issuer="Example",
        locale=locale,
        **kw,  # type: ignore[arg-type]
    )


def test_repr_hides_recipient_and_code() -> None:
    text = repr(_msg())
    assert "042917" not in text
    assert "6502530000" not in text


@pytest.mark.parametrize(("locale", "resolved"), [("de-CH", "de"), ("fr_FR", "fr"), ("xx", "en")])
def test_locale_fallback(locale: str, resolved: str) -> None:
    rendered = templates.render(_msg(locale=locale))
    assert rendered.locale == resolved
    assert "042917" in rendered.text
    assert "Example" in rendered.text


def test_voice_spells_the_code_and_email_has_a_subject() -> None:
    assert "0, 4, 2, 9, 1, 7" in templates.render(_msg("voice")).text
    email = templates.render(_msg("email"))
    assert email.subject == "Your Example verification code"
    assert "5 minutes" in email.text


async def test_webhook_signature_verifies_with_standardwebhooks() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    channel = WebhookChannel("https://hook.test/x", SECRET, transport=httpx.MockTransport(handler))
    await channel.send(_msg())
    [request] = seen
    payload = Webhook(SECRET).verify(request.content, dict(request.headers))
    assert payload["data"]["code"] == "042917"
    assert payload["type"] == "mfa.sms.challenge"
    tampered = request.content.replace(b"042917", b"042918")
    with pytest.raises(Exception):
        Webhook(SECRET).verify(tampered, dict(request.headers))


async def test_webhook_failures_are_delivery_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"to": "+16502530000"})

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("nope")

    for handler in (refuse, broken):
        channel = WebhookChannel(
            "https://hook.test/x", SECRET, transport=httpx.MockTransport(handler)
        )
        with pytest.raises(DeliveryError) as info:
            await channel.send(_msg())
        assert "6502530000" not in str(info.value)
        assert "042917" not in str(info.value)


@pytest.mark.parametrize("bad", ["", "whsec_", "whsec_!!!", "whsec_c2hvcnQ="])
def test_bad_webhook_secrets(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_secret(bad)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:2525", ("smtp", "127.0.0.1", 2525, None, None)),
        ("smtps://u:p%40ss@mail.test", ("smtps", "mail.test", 465, "u", "p@ss")),
        ("smtp+starttls://u@mail.test", ("smtp+starttls", "mail.test", 587, "u", None)),
    ],
)
def test_smtp_urls(url: str, expected: tuple[object, ...]) -> None:
    t = SmtpTarget.parse(url)
    assert (t.scheme, t.host, t.port, t.username, t.password) == expected


@pytest.mark.parametrize("url", ["http://mail.test", "smtp://", "smtp://h:99999"])
def test_bad_smtp_urls(url: str) -> None:
    with pytest.raises(ValueError):
        SmtpTarget.parse(url)


async def test_twilio_requests() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SM1"})

    for kind in ("sms", "voice"):
        channel = TwilioChannel(
            kind,  # type: ignore[arg-type]
            account_sid="AC1",
            auth_token="tok",
            sender="MG123" if kind == "sms" else "+15005550006",
            base_url="https://twilio.test/",
            transport=httpx.MockTransport(handler),
        )
        await channel.send(_msg(kind))
    sms, voice = seen
    assert str(sms.url) == "https://twilio.test/2010-04-01/Accounts/AC1/Messages.json"
    assert b"MessagingServiceSid=MG123" in sms.content
    assert str(voice.url) == "https://twilio.test/2010-04-01/Accounts/AC1/Calls.json"
    assert b"Twiml=" in voice.content
    assert sms.headers["authorization"].startswith("Basic ")


async def test_twilio_error_summary_has_only_the_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"code": 21211, "message": "The 'To' +16502530000"})

    channel = TwilioChannel(
        "sms",
        account_sid="AC1",
        auth_token="tok",
        sender="+15005550006",
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(DeliveryError) as info:
        await channel.send(_msg())
    assert str(info.value) == "Twilio answered 400 (code 21211)"


async def test_console_channel() -> None:
    with pytest.raises(ValueError):
        ConsoleChannel("production")
    out = io.StringIO()
    await ConsoleChannel("development", stream=out).send(_msg())
    assert "042917" in out.getvalue()
