"""The generic webhook channel (Standard Webhooks signatures, checked by the `standardwebhooks`
package in a real HTTP receiver) and the development console channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from twofold.core.clock import FrozenClock

from .oob_support import associate_oob, code_in, oob_grant, oob_settings
from .receivers import WebhookReceiver, new_secret
from .support import EMAIL, assert_error, assert_tokens

pytestmark = pytest.mark.anyio
FACTORS = {"otp", "sms", "email", "recovery-code"}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver().start()
    try:
        yield hook
    finally:
        hook.stop()


@pytest.fixture
def server_secret(receiver: WebhookReceiver) -> str:
    return receiver.secret


@pytest.fixture
async def services(
    tmp_path: Any, clock: FrozenClock, receiver: WebhookReceiver, server_secret: str
) -> AsyncIterator[Any]:
    from twofold.app import create_services

    settings = oob_settings(
        tmp_path,
        sms_channel="webhook",
        email_channel="webhook",
        webhook_url=receiver.url,
        webhook_secret=server_secret,
        delivery_timeout=2.0,
    )
    svc = await create_services(settings, clock=clock)
    try:
        await svc.admin.update_tenant(mfa_policy="always", enabled_factors=FACTORS)
        yield svc
    finally:
        await svc.close()


async def test_sms_through_a_signed_webhook(env, receiver):
    # The verified-email user enrols SMS with an mfa_token: the lenient mode (email does not count).
    await env.tenant(email_counts_as_factor=False)
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "sms", phone_number="+44 20 7946 0000")
    assert resp.status_code == 200, resp.text

    payload = receiver.last()
    assert payload["type"] == "mfa.sms.enrollment"
    assert isinstance(payload["timestamp"], str)
    data = payload["data"]
    assert data["channel"] == "sms"
    assert data["to"] == "+442079460000"
    assert data["code"] in data["text"]
    assert data["locale"] == "en"
    assert data["expires_in"] == 300
    headers = receiver.headers[-1]
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    assert_tokens(await oob_grant(env, client, mfa_token, resp.json()["oob_code"], data["code"]))


async def test_email_through_the_webhook_has_a_subject(env, receiver):
    client = await env.client()
    await env.user()
    resp = await env.challenge(client, await env.mfa_token(client), challenge_type="oob")
    assert resp.status_code == 200, resp.text
    data = receiver.last()["data"]
    assert data["to"] == EMAIL
    assert data["subject"]
    assert code_in(data["text"]) == data["code"]


async def test_receiver_error_is_a_502(env, receiver):
    receiver.status = 500
    client = await env.client()
    await env.user()
    resp = await env.challenge(client, await env.mfa_token(client), challenge_type="oob")
    assert_error(resp, 502, "bad_gateway")
    [event] = await env.services.deps.storage.audit.query(types=["gd_send_email_failure"])
    assert "500" in event.details["reason"]


class TestWrongSecret:
    @pytest.fixture
    def server_secret(self) -> str:
        return new_secret()

    async def test_signature_under_another_secret_is_refused(self, env, receiver):
        client = await env.client()
        await env.user()
        resp = await env.challenge(client, await env.mfa_token(client), challenge_type="oob")
        assert_error(resp, 502, "bad_gateway")
        assert receiver.rejected == 1
        assert not receiver.verified


async def test_unreachable_webhook_is_a_502(env, receiver):
    receiver.stop()
    client = await env.client()
    await env.user()
    resp = await env.challenge(client, await env.mfa_token(client), challenge_type="oob")
    assert_error(resp, 502, "bad_gateway")
