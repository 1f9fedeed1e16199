"""The console channel: prints codes for development, refuses production; delivery config errors."""

from __future__ import annotations

from typing import Any

import pytest

from twofold.core.clock import FrozenClock

from .oob_support import code_in, oob_grant, oob_settings
from .support import START, Harness, assert_error, assert_tokens

pytestmark = pytest.mark.anyio


async def test_console_channel_prints_the_code(tmp_path, capsys):
    import httpx

    from twofold.app import build_app, create_services

    clock = FrozenClock(START)
    svc = await create_services(oob_settings(tmp_path, email_channel="console"), clock=clock)
    try:
        await svc.admin.update_tenant(
            mfa_policy="always", enabled_factors={"otp", "email", "recovery-code"}
        )
        transport = httpx.ASGITransport(app=build_app(svc))
        async with httpx.AsyncClient(transport=transport, base_url="https://twofold.test") as http:
            env = Harness(http, svc, clock)
            client = await env.client()
            await env.user()
            mfa_token = await env.mfa_token(client)
            resp = await env.challenge(client, mfa_token, challenge_type="oob")
            assert resp.status_code == 200, resp.text
            printed = capsys.readouterr().err
            assert "[twofold console email to u@example.com]" in printed
            code = code_in(printed)
            assert_tokens(await oob_grant(env, client, mfa_token, resp.json()["oob_code"], code))
    finally:
        await svc.close()


@pytest.mark.parametrize(
    "settings",
    [
        {"environment": "production", "sms_channel": "console"},
        {"email_channel": "smtp"},
        {"smtp_url": "http://mail.example.com", "email_from": "a@example.com"},
        {"smtp_url": "smtp://mail.example.com"},
        {"sms_channel": "twilio"},
        {"push_channel": "webhook", "webhook_url": "https://relay.example.com"},
        {"webhook_url": "https://hook.example.com", "webhook_secret": "not base64!"},
    ],
)
async def test_bad_delivery_configuration_refuses_to_start(tmp_path, settings: dict[str, Any]):
    from twofold.app import ConfigurationError, create_services

    with pytest.raises(ConfigurationError) as info:
        await create_services(oob_settings(tmp_path, **settings))
    assert "docs/delivery.md" in str(info.value)


async def test_no_channel_configured_is_a_502(env):
    await env.tenant(enabled_factors={"otp", "email", "recovery-code"})
    client = await env.client()
    await env.user()
    resp = await env.challenge(client, await env.mfa_token(client), challenge_type="oob")
    assert_error(resp, 502, "bad_gateway")
    [event] = await env.services.deps.storage.audit.query(types=["gd_send_email_failure"])
    assert event.details["reason"] == "no delivery channel configured"
