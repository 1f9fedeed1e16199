"""Email over SMTP with aiosmtplib.

`TWOFOLD_SMTP_URL`:
- `smtp://host:25` plain SMTP (no TLS; for a local relay),
- `smtp+starttls://user:pass@host:587` STARTTLS required,
- `smtps://user:pass@host:465` implicit TLS.
User and password are percent-decoded. Failures become DeliveryError without the recipient.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from twofold.core.models import OutboundMessage
from twofold.core.ports import DeliveryError
from twofold.delivery.templates import render

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError(
                "TWOFOLD_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://"
            )
        if not parts.hostname:
            raise ValueError("TWOFOLD_SMTP_URL needs a host")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            raise ValueError("TWOFOLD_SMTP_URL has an invalid port") from None
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class SmtpChannel:
    def __init__(
        self,
        url: str,
        sender: str,
        *,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if not sender or "@" not in sender:
            raise ValueError("TWOFOLD_EMAIL_FROM must be an email address")
        self._target = SmtpTarget.parse(url)
        self._sender = sender
        self._timeout = timeout
        self._tls_context = tls_context

    def _build(self, message: OutboundMessage) -> EmailMessage:
        rendered = render(message)
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = message.to
        mail["Subject"] = rendered.subject or message.issuer
        mail["Date"] = format_datetime(datetime.now(UTC))
        mail["Message-ID"] = make_msgid(domain=self._sender.rsplit("@", 1)[-1])
        mail["Content-Language"] = rendered.locale
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(rendered.text)
        return mail

    def _connection(self) -> dict[str, Any]:
        """Where and how to connect: the same for a send and for check()."""
        target = self._target
        return {
            "hostname": target.host,
            "port": target.port,
            "use_tls": target.scheme == "smtps",
            "start_tls": target.scheme == "smtp+starttls",
            "tls_context": self._tls_context,
            "timeout": self._timeout,
        }

    async def send(self, message: OutboundMessage) -> None:
        target = self._target
        try:
            await aiosmtplib.send(
                self._build(message),
                **self._connection(),
                username=target.username,
                password=target.password,
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP server answered {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP {type(exc).__name__}") from None

    async def check(self) -> str:
        """Connect, EHLO, STARTTLS or TLS as configured, and log in, without sending; what was
        reached, or DeliveryError saying what failed (never the password)."""
        target = self._target
        smtp = aiosmtplib.SMTP(**self._connection())
        where = f"{target.scheme}://{target.host}:{target.port}"
        try:
            await smtp.connect()
            if target.username:
                await smtp.login(target.username, target.password or "")
            await smtp.quit()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"{where}: login refused ({exc.code})") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{where}: server answered {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}: {str(exc)[:200]}") from None
        finally:
            smtp.close()
        return where + (" (logged in)" if target.username else "")
