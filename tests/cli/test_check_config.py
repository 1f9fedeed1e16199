"""`twofold check-config` checks what a start would and reaches the services it would use:
exit 0 with "ok" lines, or 1 with every problem listed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import Result

from web.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilio
from web.oob_support import free_port

SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret-pass"


class Sink:
    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[int, Sink]]:
    sink, port = Sink(), free_port()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield port, sink
    controller.stop()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


def lines(result: Result, prefix: str, stream: str) -> list[str]:
    text = result.stdout if stream == "stdout" else result.stderr
    return [line for line in text.splitlines() if line.startswith(prefix)]


def test_a_sound_configuration_is_ok(cli: Callable[..., Result]) -> None:
    result = cli("check-config")
    assert lines(result, "ok: ", "stdout")[:3] == [
        "ok: configuration: test, issuer https://twofold.test/",
        "ok: encryption keys: they decrypt the current signing key",
        "ok: database: reachable",
    ]
    assert "problem" not in result.stderr


def test_providers_are_reached_without_sending(
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    smtp: tuple[int, Sink],
    twilio: FakeTwilio,
) -> None:
    port, sink = smtp
    for name, value in {
        "SMTP_URL": f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{port}",
        "EMAIL_FROM": "no-reply@example.com",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": SENDER,
        "TWILIO_BASE_URL": twilio.url,
    }.items():
        monkeypatch.setenv(f"TWOFOLD_{name}", value)
    result = cli("check-config")
    out = result.stdout
    assert f"ok: email delivery: smtp smtp://127.0.0.1:{port} (logged in)" in out
    assert "ok: sms delivery: twilio " in out
    assert "ok: voice delivery: twilio " in out
    assert sink.messages == 0
    assert twilio.received == []
    assert SMTP_PASSWORD not in out
    assert AUTH_TOKEN not in out


def test_every_problem_is_listed_and_the_status_is_1(
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    smtp: tuple[int, Sink],
    twilio: FakeTwilio,
) -> None:
    port, _ = smtp
    for name, value in {
        "SMTP_URL": f"smtp://{SMTP_USER}:wrong-password@127.0.0.1:{port}",
        "EMAIL_FROM": "no-reply@example.com",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": "not-the-token",
        "TWILIO_FROM": SENDER,
        "TWILIO_BASE_URL": twilio.url,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "REDIS_TIMEOUT": "0.5",
    }.items():
        monkeypatch.setenv(f"TWOFOLD_{name}", value)
    result = cli("check-config", ok=False)
    assert result.exit_code == 1
    problems = lines(result, "problem: ", "stderr")
    assert problems == [
        "problem: redis: unreachable",
        f"problem: email delivery (smtp): smtp://127.0.0.1:{port}: login refused (535)",
        "problem: sms delivery (twilio): Twilio answered 401 (code 20003) "
        "(the account SID or auth token is wrong)",
        "problem: voice delivery (twilio): Twilio answered 401 (code 20003) "
        "(the account SID or auth token is wrong)",
    ]
    assert result.stderr.strip().endswith("Error: 4 problems in the configuration")
    assert "wrong-password" not in result.output


def test_configuration_errors_are_listed_together(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, cli_env: Path
) -> None:
    monkeypatch.setenv("TWOFOLD_LOG_LEVL", "debug")
    monkeypatch.setenv("TWOFOLD_SMTP_URLL", "smtp://x")
    # Wrong values are listed with the unknown names, not hidden behind them.
    monkeypatch.setenv("TWOFOLD_LOG_FORMAT", "text")
    monkeypatch.setenv("TWOFOLD_MAX_BODY_BYTES", "12")
    result = cli("check-config", ok=False)
    assert result.exit_code == 1
    assert lines(result, "problem: ", "stderr") == [
        "problem: TWOFOLD_LOG_LEVL: not a Twofold setting (did you mean TWOFOLD_LOG_LEVEL?)",
        "problem: TWOFOLD_SMTP_URLL: not a Twofold setting (did you mean TWOFOLD_SMTP_URL?)",
        "problem: TWOFOLD_LOG_FORMAT: Input should be 'json' or 'console' (got 'text')",
        "problem: TWOFOLD_MAX_BODY_BYTES: Input should be greater than or equal to 1024 (got '12')",
    ]
    assert result.stderr.strip().endswith("Error: 4 problems in the configuration")
    assert not (cli_env / "cli.db").exists()
