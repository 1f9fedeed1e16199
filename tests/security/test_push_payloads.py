"""A push device's signed requests are read as strictly as access tokens: NaN, Infinity or a
boolean in a date, or a member given twice, is refused however well the request is signed."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from web.support import BASE_URL, assert_error
from web.test_push import _enrolled, device, receiver, services  # noqa: F401

pytestmark = pytest.mark.anyio


def _signed(key: ECKey, kid: str, payload: str) -> str:
    return jws.serialize_compact({"alg": "ES256", "kid": kid}, payload, key)


def _payload(
    kid: str, now: float, iat: str, exp: str, extra: str = "", action: str = "pending"
) -> str:
    jti = secrets.token_urlsafe(12)
    return (
        f'{{"iss":"{kid}","aud":"{BASE_URL}","action":"{action}","iat":{iat},"exp":{exp},'
        f'"jti":"{jti}"{extra}}}'
    )


@pytest.mark.parametrize(
    ("iat", "exp"),
    [
        ("NaN", "NaN"),
        ("{now}", "NaN"),
        ("NaN", "{later}"),
        ("-Infinity", "Infinity"),
        ("{now}", "Infinity"),
        ("true", "{later}"),
    ],
)
async def test_non_finite_or_boolean_dates_are_refused(
    env,
    device,  # noqa: F811
    clock,
    iat: str,
    exp: str,
):
    client = await env.client()
    await _enrolled(env, device, client)
    account = device.select()
    now = int(clock.now())
    fill: dict[str, Any] = {"now": now, "later": now + 60}
    token = _signed(
        account.key(),
        account.device_id,
        _payload(account.device_id, now, iat.format(**fill), exp.format(**fill)),
    )
    resp = await env.http.post("/push/pending", content=token)
    assert_error(resp, 401, "invalid_token")
    # The same request with finite dates is accepted: the refusal is about the dates alone.
    fine = _signed(
        account.key(), account.device_id, _payload(account.device_id, now, str(now), str(now + 60))
    )
    assert (await env.http.post("/push/pending", content=fine)).status_code == 200


async def test_a_member_given_twice_is_refused(env, device, clock):  # noqa: F811
    client = await env.client()
    await _enrolled(env, device, client)
    account = device.select()
    now = int(clock.now())
    # A lenient parser keeps the last "action" and reads a request for this endpoint.
    twice = _payload(
        account.device_id, now, str(now), str(now + 60), ',"action":"pending"', action="approve"
    )
    token = _signed(account.key(), account.device_id, twice)
    assert_error(await env.http.post("/push/pending", content=token), 401, "invalid_token")
