"""Build the delivery channels named by the settings (docs/delivery.md); app.py wires them.

Raises ValueError with an operator-facing message when a channel is chosen but not configured,
or when the console channel is chosen in production.
"""

from __future__ import annotations

from twofold.config import Settings
from twofold.core.ports import Channel
from twofold.delivery.console import ConsoleChannel
from twofold.delivery.smtp import SmtpChannel
from twofold.delivery.twilio import TwilioChannel
from twofold.delivery.webhook import WebhookChannel


def _webhook(settings: Settings, url: str) -> WebhookChannel:
    if not url or not settings.webhook_secret:
        raise ValueError("the webhook channel needs TWOFOLD_WEBHOOK_URL and TWOFOLD_WEBHOOK_SECRET")
    return WebhookChannel(url, settings.webhook_secret, timeout=settings.delivery_timeout)


def _twilio(settings: Settings, kind: str) -> TwilioChannel:
    return TwilioChannel(
        "voice" if kind == "voice" else "sms",
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        sender=settings.twilio_from,
        base_url=settings.twilio_base_url,
        timeout=settings.delivery_timeout,
    )


def chosen(settings: Settings) -> dict[str, str]:
    """Which provider serves each channel, explicit or inferred ("" = none)."""
    phone = "twilio" if settings.twilio_account_sid else ""
    return {
        "email": settings.email_channel or ("smtp" if settings.smtp_url else ""),
        "sms": settings.sms_channel or phone,
        "voice": settings.voice_channel or phone,
        "push": settings.push_channel
        or ("webhook" if settings.push_webhook_url or settings.webhook_url else ""),
    }


def build_channels(settings: Settings) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for name, provider in chosen(settings).items():
        if provider == "console":
            channels[name] = ConsoleChannel(settings.environment)
        elif provider == "smtp":
            if not settings.smtp_url:
                raise ValueError("the smtp channel needs TWOFOLD_SMTP_URL and TWOFOLD_EMAIL_FROM")
            channels[name] = SmtpChannel(
                settings.smtp_url, settings.email_from, timeout=settings.delivery_timeout
            )
        elif provider == "twilio":
            channels[name] = _twilio(settings, name)
        elif provider == "webhook":
            url = settings.push_webhook_url if name == "push" else ""
            channels[name] = _webhook(settings, url or settings.webhook_url)
    return channels
