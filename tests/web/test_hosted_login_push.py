"""Push on the hosted MFA page: the notification goes out when the page shows the factor, the
page's poll says nothing until the device answers, then the page's form finishes the sign-in;
a rejection is shown on the page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from twofold.authenticator import DeviceClient, StateFile
from twofold.core.clock import FrozenClock

from .hosted_support import Browser, app_client, hidden
from .oob_support import associate_oob, oob_grant, oob_settings
from .receivers import WebhookReceiver
from .support import EMAIL, PASSWORD, Harness, assert_tokens

pytestmark = pytest.mark.anyio


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver().start()
    try:
        yield hook
    finally:
        hook.stop()


@pytest.fixture
async def services(
    tmp_path: Any, clock: FrozenClock, receiver: WebhookReceiver
) -> AsyncIterator[Any]:
    from twofold.app import create_services

    settings = oob_settings(tmp_path, push_webhook_url=receiver.url, webhook_secret=receiver.secret)
    svc = await create_services(settings, clock=clock)
    try:
        await svc.admin.update_tenant(
            mfa_policy="always", enabled_factors={"otp", "push-notification", "recovery-code"}
        )
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def device(env: Harness, tmp_path: Any, clock: FrozenClock) -> DeviceClient:
    device = DeviceClient(StateFile(tmp_path / "device.json"), http=env.http, clock=clock.now)
    client = await env.client()
    await env.user()
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "auth0")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    await device.enroll(body["barcode_uri"], name="Ada's phone", notification_target="relay:abc")
    clock.advance(5)
    assert_tokens(await oob_grant(env, client, mfa_token, body["oob_code"]))
    return device


async def _push_page(env: Harness) -> tuple[Browser, str, str]:
    browser = Browser(env, await app_client(env))
    await browser.authorize()
    await browser.login(EMAIL, PASSWORD)
    url, page = await browser.page("/u/mfa")
    assert 'id="push-form"' in page
    return browser, url, page


async def _poll(browser: Browser, url: str, csrf: str) -> Any:
    resp = await browser.http.post("/u/mfa/poll?" + url.split("?", 1)[1], data={"csrf": csrf})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_approved_push_signs_in(env, device, receiver):
    browser, url, page = await _push_page(env)
    csrf = hidden(page, "csrf")
    assert receiver.last()["type"] == "mfa.push.push"
    assert await _poll(browser, url, csrf) == {"approved": False}
    [pending] = await device.pending()
    await device.decide(pending["transaction_id"], approve=True)
    env.clock.advance(5)
    assert await _poll(browser, url, csrf) == {"approved": True}
    await browser.post(url, {"csrf": csrf, "action": "poll"})
    tokens = await browser.tokens()
    _, claims = await env.decode(tokens["id_token"])
    assert "mfa" in claims["amr"]
    assert "mca" in claims["amr"]


async def test_rejected_push_is_shown_on_the_page(env, device):
    browser, url, page = await _push_page(env)
    csrf = hidden(page, "csrf")
    [pending] = await device.pending()
    await device.decide(pending["transaction_id"], approve=False)
    env.clock.advance(5)
    answer = await _poll(browser, url, csrf)
    assert answer.get("error") == "The sign-in was not approved."
    resp = await browser.post(url, {"csrf": csrf, "action": "poll"})
    assert "location" not in resp.headers or "code=" not in resp.headers["location"]
