"""The redaction step on its own: fields by name, strings by shape, exceptions without messages."""

from __future__ import annotations

import io
import json
import logging
import secrets

import pytest
import structlog

from twofold.observability.logging import configure
from twofold.observability.redaction import REDACTED, is_sensitive_key, redact, scrub, scrub_text

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
RECOVERY = "17EQHNZC2SZDYG7X4QXVX9SW"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdXRoMHwxMjMifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
OPAQUE = secrets.token_urlsafe(32)  # 43 url-safe characters, like an mfa_token


@pytest.fixture
def captured():
    """Route all logging through Twofold's configuration into a buffer; restore afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    buf = io.StringIO()
    configure("debug", "json", stream=buf)
    try:
        yield buf
    finally:
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "client_secret",
        "client_assertion",
        "mfa_token",
        "otp",
        "binding_code",
        "recovery_code",
        "recovery_codes",
        "refresh_token",
        "access_token",
        "id_token",
        "Authorization",
        "authorization",
        "secret",
        "oob_code",
        "totp_secret",
        "private_key",
        "secret_enc",
        "barcode_uri",
        "Cookie",
        "x-api-key",
    ],
)
def test_sensitive_names(name):
    assert is_sensitive_key(name)


@pytest.mark.parametrize(
    "name", ["grant_type", "client_id", "user_id", "token_type", "status_code", "event", "ip"]
)
def test_harmless_names(name):
    assert not is_sensitive_key(name)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("body grant_type=password&username=a&password=hunter2&client_id=x", "hunter2"),
        ('{"otp": "123456", "mfa_token": "abc"}', "123456"),
        ('{"otp": "123456", "mfa_token": "abc"}', "abc"),
        ("{'client_secret': 's3cr3t-value'}", "s3cr3t-value"),
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ("authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("headers=[('authorization', 'Bearer zzzzzzzzzz')]", "zzzzzzzzzz"),
        (f"token is {JWT} ok", JWT),
        (f"assertion {JWT[:40]}", JWT[:40]),
        (f"secret {TOTP_SECRET}", TOTP_SECRET),
        (f"otpauth://totp/X:u%40e.com?secret={TOTP_SECRET}&issuer=X", TOTP_SECRET),
        (f"recovery {RECOVERY}.", RECOVERY),
        (f"GET /mfa/authenticators?access_token={OPAQUE} HTTP/1.1", OPAQUE),
        (f"DELETE /mfa/authenticators/{OPAQUE}", OPAQUE),
        ("binding_code=654321 oob_code=Fe26.2*abc", "654321"),
        ("recovery_code = ABCD-EFGH", "ABCD-EFGH"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----", "MIIEv"),
    ],
)
def test_shapes_in_text(text, secret):
    out = scrub_text(text)
    assert secret not in out, out
    assert REDACTED in out, out


@pytest.mark.parametrize(
    "text",
    [
        "POST /oauth/token HTTP/1.1 200",
        "user auth0|0123456789abcdef01234567 client 0123456789ABCDEFabcdefGHIJKLMNop",
        "digest 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "token_type=Bearer expires_in=86400",
        "purged 12 expired state entries",
        "totp|dev_AbCdEf0123456789",
    ],
)
def test_ordinary_text_is_kept(text):
    assert scrub_text(text) == text


def test_nested_structures():
    event = {
        "event": "request",
        "body": {"grant_type": "password", "password": "pw", "nested": [{"otp": "1"}]},
        "headers": [("authorization", "Bearer x"), ("user-agent", "sdk")],
        "raw": b"client_secret=abc&scope=openid",
    }
    out = redact(None, "info", event)
    text = json.dumps(out, default=str)
    for secret in ('"pw"', '"1"', "Bearer x", "abc"):
        assert secret not in text, text
    assert out["body"]["grant_type"] == "password"
    assert "user-agent" in text


def test_scrub_keeps_scalars():
    assert scrub({"n": 1, "ok": True, "none": None}) == {"n": 1, "ok": True, "none": None}


def test_stdlib_records_are_redacted(captured):
    log = logging.getLogger("twofold.test")
    log.info("login with password=%s and otp %s", "hunter2", {"otp": "987654"})
    log.warning("client_assertion=%s", JWT)

    text = captured.getvalue()
    for secret in ("hunter2", "987654", JWT):
        assert secret not in text, text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["logger"] == "twofold.test"
    assert lines[0]["level"] == "info"


def test_structlog_records_are_redacted(captured):
    structlog.get_logger("twofold.test").info(
        "issued", refresh_token=OPAQUE, user_id="auth0|abc", detail=f"secret={TOTP_SECRET}"
    )

    text = captured.getvalue()
    assert OPAQUE not in text, text
    assert TOTP_SECRET not in text, text
    line = json.loads(text.splitlines()[-1])
    assert line["refresh_token"] == REDACTED
    assert line["user_id"] == "auth0|abc"


def test_exceptions_keep_type_and_frames_but_not_the_message(captured):
    def boom():
        raise ValueError("password was hunter2")

    try:
        boom()
    except ValueError:
        logging.getLogger("twofold.test").exception("failed")

    text = captured.getvalue()
    assert "hunter2" not in text, text
    line = json.loads(text.splitlines()[-1])
    assert line["exception"].startswith("ValueError at "), line
    assert "boom" in line["exception"], line
