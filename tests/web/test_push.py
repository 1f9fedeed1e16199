"""Push: enrolment through Twofold's device protocol with the reference authenticator, polling,
approve and reject, signed-request checks, the companion TOTP, notifications through the signed
webhook, the push send limit and linked deletion."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from twofold.authenticator import DeviceClient, StateFile
from twofold.core.clock import FrozenClock

from .oob_support import PENDING, REJECTED, SLOW_DOWN, associate_oob, oob_grant, oob_settings
from .receivers import WebhookReceiver
from .support import BASE_URL, MFA_AUDIENCE, Harness, assert_error, assert_tokens

pytestmark = pytest.mark.anyio
FACTORS = {"otp", "push-notification", "recovery-code"}
PUSH_ID = re.compile(r"^push\|dev_([A-Za-z0-9]{16})$")


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
        await svc.admin.update_tenant(mfa_policy="always", enabled_factors=FACTORS)
        yield svc
    finally:
        await svc.close()


@pytest.fixture
def device(env: Harness, tmp_path: Any, clock: FrozenClock) -> DeviceClient:
    return DeviceClient(StateFile(tmp_path / "device.json"), http=env.http, clock=clock.now)


async def _associate(env: Harness, client: Any) -> tuple[str, dict[str, Any]]:
    await env.user()
    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "auth0")
    assert resp.status_code == 200, resp.text
    return mfa_token, resp.json()


async def _enrolled(
    env: Harness, device: DeviceClient, client: Any, target: str | None = "relay:abc"
) -> None:
    mfa_token, body = await _associate(env, client)
    await device.enroll(body["barcode_uri"], name="Ada's phone", notification_target=target)
    env.clock.advance(5)
    assert_tokens(await oob_grant(env, client, mfa_token, body["oob_code"]))


async def _challenge(env: Harness, client: Any) -> tuple[str, str]:
    mfa_token = await env.mfa_token(client)
    resp = await env.challenge(client, mfa_token, challenge_type="oob")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body == {"challenge_type": "oob", "oob_code": body["oob_code"]}
    return mfa_token, body["oob_code"]


# ------------------------------------------------------------------------------- enrolment


async def test_associate_push_answers_barcode_uri_without_binding_method(env):
    client = await env.client()
    _, body = await _associate(env, client)
    assert set(body) == {
        "authenticator_type",
        "barcode_uri",
        "oob_channel",
        "oob_code",
        "recovery_codes",
    }
    assert body["authenticator_type"] == "oob"
    assert body["oob_channel"] == "auth0"
    uri = urlsplit(body["barcode_uri"])
    assert uri.scheme == "otpauth"
    assert uri.netloc == "totp"
    assert unquote(uri.path) == "/Twofold:u@example.com"
    query = parse_qs(uri.query)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", query["enrollment_tx_id"][0])
    assert query["base_url"] == [BASE_URL]
    assert "secret" not in query


async def test_push_and_companion_totp_are_listed_inactive_then_active(env, device):
    client = await env.client()
    mfa_token, body = await _associate(env, client)
    listed = (await env.list_authenticators(mfa_token)).json()
    push = next(a for a in listed if a.get("oob_channel") == "auth0")
    totp = next(a for a in listed if a["authenticator_type"] == "otp")
    match = PUSH_ID.match(push["id"])
    assert match
    assert totp["id"] == f"totp|dev_{match.group(1)}"
    assert push["active"] is False
    assert totp["active"] is False
    assert push["type"] == "push-notification"

    assert_error(
        await oob_grant(env, client, mfa_token, body["oob_code"]),
        400,
        "authorization_pending",
        PENDING,
    )
    assert_error(
        await oob_grant(env, client, mfa_token, body["oob_code"]), 400, "slow_down", SLOW_DOWN
    )

    account = await device.enroll(body["barcode_uri"], name="Ada's phone")
    assert account.device_id == push["id"]
    assert account.totp_secret
    env.clock.advance(5)
    assert_tokens(await oob_grant(env, client, mfa_token, body["oob_code"]))

    listed = (await env.list_authenticators(await env.mfa_token(client))).json()
    assert all(a["active"] for a in listed)
    push = next(a for a in listed if a.get("oob_channel") == "auth0")
    assert push["name"] == "Ada's phone"


async def test_enrolment_transaction_is_single_use_and_expires(env, device, tmp_path, clock):
    client = await env.client()
    _, body = await _associate(env, client)
    await device.enroll(body["barcode_uri"])
    other = DeviceClient(StateFile(tmp_path / "other.json"), http=env.http, clock=clock.now)
    with pytest.raises(Exception, match="404"):
        await other.enroll(body["barcode_uri"])

    mfa_token = await env.mfa_token(client)
    resp = await associate_oob(env, mfa_token, "auth0")
    assert resp.status_code == 200, resp.text
    clock.advance(301)
    with pytest.raises(Exception, match="404"):
        await other.enroll(resp.json()["barcode_uri"])


async def test_enrolment_must_be_signed_by_the_key_it_carries(env):
    client = await env.client()
    _, body = await _associate(env, client)
    tx = parse_qs(urlsplit(body["barcode_uri"]).query)["enrollment_tx_id"][0]
    signer, other = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    now = int(env.clock.now())
    claims = {
        "aud": BASE_URL,
        "action": "enroll",
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
        "enrollment_tx_id": tx,
    }
    token = jws.serialize_compact(
        {"alg": "ES256", "jwk": other.as_dict(private=False)}, json.dumps(claims), signer
    )
    resp = await env.http.post("/push/enroll", content=token)
    assert_error(resp, 401, "invalid_token")


# ------------------------------------------------------------------------------- challenge


async def test_push_challenge_approve(env, device, receiver):
    client = await env.client()
    await _enrolled(env, device, client)
    mfa_token, oob_code = await _challenge(env, client)

    assert_error(await oob_grant(env, client, mfa_token, oob_code), 400, "authorization_pending")
    [pending] = await device.pending()
    assert pending["client_name"] == client.client.name
    notification = receiver.last()
    assert notification["type"] == "mfa.push.push"
    assert notification["data"]["to"] == "relay:abc"
    assert notification["data"]["transaction_id"] == pending["transaction_id"]
    assert notification["data"]["code"] is None

    await device.decide(pending["transaction_id"], approve=True)
    assert await device.pending() == []
    env.clock.advance(5)
    assert_tokens(await oob_grant(env, client, mfa_token, oob_code))


async def test_push_challenge_reject(env, device):
    client = await env.client()
    await _enrolled(env, device, client)
    mfa_token, oob_code = await _challenge(env, client)
    [pending] = await device.pending()
    await device.decide(pending["transaction_id"], approve=False)
    resp = await oob_grant(env, client, mfa_token, oob_code)
    assert_error(resp, 400, "access_denied", REJECTED)
    # Still rejected on the next poll; and it cannot be approved afterwards.
    env.clock.advance(5)
    assert_error(await oob_grant(env, client, mfa_token, oob_code), 400, "access_denied", REJECTED)
    with pytest.raises(Exception, match="404"):
        await device.decide(pending["transaction_id"], approve=True, device_id=pending["device_id"])
    events = await env.services.deps.storage.audit.query(types=["gd_auth_rejected"])
    assert len(events) == 1


async def test_push_expires(env, device, clock):
    client = await env.client()
    await _enrolled(env, device, client)
    mfa_token, oob_code = await _challenge(env, client)
    [pending] = await device.pending()
    clock.advance(301)
    assert await device.pending() == []
    with pytest.raises(Exception, match="404"):
        await device.decide(pending["transaction_id"], approve=True, device_id=pending["device_id"])
    assert_error(await oob_grant(env, client, mfa_token, oob_code), 403, "expired_token")


async def test_push_oob_code_bound_to_its_mfa_token(env, device):
    client = await env.client()
    await _enrolled(env, device, client)
    _, oob_code = await _challenge(env, client)
    other = await env.mfa_token(client)
    resp = await oob_grant(env, client, other, oob_code)
    assert_error(resp, 400, "invalid_request", "The oob_code doesn't match the mfa_token")


async def test_companion_totp_works_with_the_otp_grant(env, device):
    client = await env.client()
    await _enrolled(env, device, client)
    mfa_token = await env.mfa_token(client)
    assert_tokens(await env.otp_grant(client, mfa_token, device.code()))


async def test_no_notification_target_means_polling_only(env, device, receiver):
    client = await env.client()
    await _enrolled(env, device, client, target=None)
    await _challenge(env, client)
    assert not receiver.verified
    assert len(await device.pending()) == 1


async def test_push_send_limit(env, device):
    client = await env.client()
    await _enrolled(env, device, client)
    mfa_token = await env.mfa_token(client)
    for _ in range(5):
        assert (await env.challenge(client, mfa_token, challenge_type="oob")).status_code == 200
    limited = await env.challenge(client, mfa_token, challenge_type="oob")
    assert_error(limited, 429, "too_many_requests")
    assert limited.headers["x-ratelimit-limit"] == "5"
    env.clock.advance(12)
    assert (await env.challenge(client, mfa_token, challenge_type="oob")).status_code == 200


async def test_relay_failure_is_a_502(env, device, receiver):
    client = await env.client()
    await _enrolled(env, device, client)
    receiver.status = 500
    resp = await env.challenge(client, await env.mfa_token(client), challenge_type="oob")
    assert_error(resp, 502, "bad_gateway")
    events = await env.services.deps.storage.audit.query(types=["gd_send_pn_failure"])
    assert len(events) == 1
    assert await device.pending() == []


async def test_deleting_push_removes_its_totp(env, device):
    client = await env.client()
    await _enrolled(env, device, client)
    mfa_token = await env.mfa_token(
        client, audience=MFA_AUDIENCE, scope="read:authenticators remove:authenticators"
    )
    token = assert_tokens(await env.otp_grant(client, mfa_token, device.code()))["access_token"]
    listed = (await env.list_authenticators(token)).json()
    push = next(a for a in listed if a.get("oob_channel") == "auth0")
    assert (await env.delete_authenticator(token, push["id"])).status_code == 204
    assert (await env.list_authenticators(token)).json() == []


# ------------------------------------------------------------------------ signed requests


def _request(key: ECKey, kid: str, action: str, now: float, **extra: Any) -> str:
    claims = {
        "iss": kid,
        "aud": BASE_URL,
        "action": action,
        "iat": int(now),
        "exp": int(now) + 60,
        "jti": secrets.token_urlsafe(12),
        **extra,
    }
    return jws.serialize_compact({"alg": "ES256", "kid": kid}, json.dumps(claims), key)


async def test_device_requests_must_be_signed_fresh_and_once(env, device, clock):
    client = await env.client()
    await _enrolled(env, device, client)
    account = device.select()
    key = account.key()
    kid = account.device_id
    now = clock.now()

    good = _request(key, kid, "pending", now)
    assert (await env.http.post("/push/pending", content=good)).status_code == 200
    replay = await env.http.post("/push/pending", content=good)
    assert_error(replay, 401, "invalid_token")

    stranger = _request(ECKey.generate_key("P-256"), kid, "pending", now)
    assert_error(await env.http.post("/push/pending", content=stranger), 401, "invalid_token")

    stale = _request(key, kid, "pending", now - 600)
    assert_error(await env.http.post("/push/pending", content=stale), 401, "invalid_token")

    wrong_action = _request(key, kid, "approve", now)
    assert_error(await env.http.post("/push/pending", content=wrong_action), 401, "invalid_token")

    other_aud = _request(key, kid, "pending", now, aud="https://elsewhere.test")
    assert_error(await env.http.post("/push/pending", content=other_aud), 401, "invalid_token")

    for garbage in [b"", b"not a jws", b"a.b.c", "é".encode()]:
        resp = await env.http.post("/push/pending", content=garbage)
        assert resp.status_code in (400, 401), resp.text


async def test_approve_needs_the_transaction_named_in_the_signature(env, device, clock):
    client = await env.client()
    await _enrolled(env, device, client)
    await _challenge(env, client)
    [pending] = await device.pending()
    account = device.select()
    token = _request(
        account.key(), account.device_id, "approve", clock.now(), transaction_id="x" * 32
    )
    resp = await env.http.post(
        f"/push/transactions/{pending['transaction_id']}/approve", content=token
    )
    assert_error(resp, 401, "invalid_token")
    resp = await env.http.post(
        f"/push/transactions/{pending['transaction_id']}/maybe", content=token
    )
    assert_error(resp, 404, "not_found")


async def test_another_users_device_cannot_answer(env, device, tmp_path, clock):
    client = await env.client()
    await _enrolled(env, device, client)
    await _challenge(env, client)
    [pending] = await device.pending()

    await env.user("b@example.com", "correct horse")
    mfa_token = await env.mfa_token(client, username="b@example.com")
    resp = await associate_oob(env, mfa_token, "auth0")
    mallory = DeviceClient(StateFile(tmp_path / "m.json"), http=env.http, clock=clock.now)
    await mallory.enroll(resp.json()["barcode_uri"])
    with pytest.raises(Exception, match="404"):
        await mallory.decide(
            pending["transaction_id"], approve=True, device_id=mallory.select().device_id
        )


async def test_otp_enrolment_leaves_a_pending_push_companion_alone(env, device):
    # Starting and confirming an OTP enrolment while a push enrolment is pending must neither
    # replace nor sweep away the push enrolment's companion TOTP (it goes with its push).
    client = await env.client()
    mfa_token, _ = await _associate(env, client)
    listed = (await env.list_authenticators(mfa_token)).json()
    companion = next(a["id"] for a in listed if a["authenticator_type"] == "otp")

    otp = await env.associate_otp(mfa_token)
    ids = {a["id"] for a in (await env.list_authenticators(mfa_token)).json()}
    assert companion in ids
    assert_tokens(await env.otp_grant(client, mfa_token, env.code(otp["secret"])))

    listed = (await env.list_authenticators(await env.mfa_token(client))).json()
    by_id = {a["id"]: a for a in listed}
    assert companion in by_id, listed
    assert by_id[companion]["active"] is False
    assert sum(1 for a in listed if a["authenticator_type"] == "otp" and a["active"]) == 1
