"""Never a 500: hypothesis throws arbitrary forms, JSON and headers at every endpoint.

Hypothesis drives synchronous tests, so one app per module runs inside an anyio blocking portal
and each example is sent through it. Every answer must be a non-5xx with, for errors, the JSON
envelope.
"""

from __future__ import annotations

import base64
import functools
import json
from urllib.parse import urlencode

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twofold.core.clock import FrozenClock
from twofold.core.models import FIRST_PARTY_GRANTS

from .support import (
    BASE_URL,
    EMAIL,
    GRANT_CC,
    GRANT_OTP,
    GRANT_PASSWORD,
    GRANT_PASSWORD_REALM,
    GRANT_RECOVERY,
    GRANT_REFRESH,
    PASSWORD,
    START,
    make_settings,
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

KEYS = [
    "grant_type",
    "username",
    "password",
    "client_id",
    "client_secret",
    "audience",
    "scope",
    "realm",
    "mfa_token",
    "otp",
    "recovery_code",
    "refresh_token",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_assertion",
    "client_assertion_type",
    "challenge_type",
    "authenticator_id",
    "oob_channel",
    "oob_code",
    "binding_code",
    "authenticator_types",
    "oob_channels",
    "phone_number",
    "email",
]
GRANTS = [
    GRANT_PASSWORD,
    GRANT_PASSWORD_REALM,
    GRANT_OTP,
    GRANT_RECOVERY,
    GRANT_REFRESH,
    GRANT_CC,
    "http://auth0.com/oauth/grant-type/mfa-oob",
    "authorization_code",
]

text = st.text(max_size=40)
json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | text
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
key = st.sampled_from(KEYS) | text
value_for_form = st.sampled_from(GRANTS) | text
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


class Fuzz:
    def __init__(self, portal, http, client_id, secret, mfa_token):
        self.portal = portal
        self.http = http
        self.client_id = client_id
        self.secret = secret
        self.mfa_token = mfa_token

    def request(self, method, path, **kwargs):
        return self.portal.call(functools.partial(self.http.request, method, path, **kwargs))


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    from twofold.app import build_app, create_services

    tmp = tmp_path_factory.mktemp("fuzz")
    clock = FrozenClock(START)
    with start_blocking_portal("asyncio") as portal:
        services = portal.call(functools.partial(create_services, make_settings(tmp), clock=clock))
        try:

            async def seed():
                await services.admin.update_tenant(mfa_policy="always")
                client, secret = await services.admin.create_client(
                    "fuzz",
                    # The default grants, and the code grant so that fuzzed codes reach it.
                    grant_types=[*FIRST_PARTY_GRANTS, "authorization_code"],
                    auth_method="client_secret_post",
                    jwks=None,
                    api_grants=None,
                )
                await services.admin.create_user(
                    EMAIL,
                    PASSWORD,
                    realm="Username-Password-Authentication",
                    username=None,
                    email_verified=True,
                )
                return client.client_id, secret

            client_id, secret = portal.call(seed)
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=build_app(services)), base_url=BASE_URL
            )
            f = Fuzz(portal, http, client_id, secret, None)
            resp = f.request(
                "POST",
                "/oauth/token",
                data={
                    "grant_type": GRANT_PASSWORD,
                    "username": EMAIL,
                    "password": PASSWORD,
                    "client_id": client_id,
                    "client_secret": secret,
                },
            )
            f.mfa_token = resp.json().get("mfa_token")
            yield f
            portal.call(http.aclose)
        finally:
            portal.call(services.close)


def _check(resp):
    assert resp.status_code < 500, (resp.status_code, resp.text)
    if resp.status_code >= 400 and resp.status_code not in (404, 405):
        body = resp.json()
        assert isinstance(body, dict), body
        assert isinstance(body.get("error"), str), body
        assert isinstance(body.get("error_description"), str), body


def _with_creds(fuzz, params, use_creds, use_token):
    out = dict(params)
    if use_creds:
        out.setdefault("client_id", fuzz.client_id)
        out.setdefault("client_secret", fuzz.secret)
    if use_token and fuzz.mfa_token:
        out.setdefault("mfa_token", fuzz.mfa_token)
    return out


@FUZZ
@given(
    pairs=st.lists(st.tuples(key, value_for_form), max_size=8),
    path=st.sampled_from(["/oauth/token", "/mfa/challenge"]),
    use_creds=st.booleans(),
    use_token=st.booleans(),
)
def test_form_bodies_never_500(fuzz, pairs, path, use_creds, use_token):
    params = _with_creds(fuzz, {}, use_creds, use_token)
    body = urlencode(list(params.items()) + pairs).encode()

    _check(
        fuzz.request(
            "POST",
            path,
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    )


@FUZZ
@given(
    obj=st.dictionaries(key, json_value | st.sampled_from(GRANTS), max_size=8),
    path=st.sampled_from(["/oauth/token", "/mfa/challenge", "/mfa/associate"]),
    use_creds=st.booleans(),
    use_token=st.booleans(),
)
def test_json_bodies_never_500(fuzz, obj, path, use_creds, use_token):
    payload = _with_creds(fuzz, obj, use_creds, use_token)
    headers = {"Content-Type": "application/json"}
    if path == "/mfa/associate" and fuzz.mfa_token and use_token:
        headers["Authorization"] = f"Bearer {fuzz.mfa_token}"

    _check(fuzz.request("POST", path, content=json.dumps(payload).encode(), headers=headers))


@FUZZ
@given(
    raw=st.binary(max_size=300),
    path=st.sampled_from(["/oauth/token", "/mfa/challenge", "/mfa/associate"]),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "",
            "application/json; charset=latin-1",
            "application/x-www-form-urlencoded; charset=bogus",
        ]
    ),
)
def test_raw_bytes_never_500(fuzz, raw, path, content_type):
    headers = {"Content-Type": content_type} if content_type else {}

    _check(fuzz.request("POST", path, content=raw, headers=headers))


@FUZZ
@given(
    authorization=header_text
    | st.builds(lambda s: "Bearer " + s, header_text)
    | st.builds(lambda s: "Basic " + s, header_text)
    | st.builds(lambda s: "Basic " + base64.b64encode(s).decode(), st.binary(max_size=60)),
    target=st.sampled_from(
        [
            ("GET", "/mfa/authenticators"),
            ("POST", "/mfa/associate"),
            ("DELETE", "/mfa/authenticators/totp%7Cdev_AAAAAAAAAAAAAAAA"),
            ("POST", "/oauth/token"),
            ("POST", "/mfa/challenge"),
        ]
    ),
)
def test_authorization_headers_never_500(fuzz, authorization, target):
    method, path = target
    kwargs = {"headers": {"Authorization": authorization}}
    if method == "POST":
        kwargs["json"] = {"authenticator_types": ["otp"], "grant_type": GRANT_CC, "mfa_token": "x"}

    _check(fuzz.request(method, path, **kwargs))


@FUZZ
@given(segment=st.text(min_size=1, max_size=60))
def test_authenticator_ids_never_500(fuzz, segment):
    from urllib.parse import quote

    resp = fuzz.request(
        "DELETE",
        "/mfa/authenticators/" + quote(segment, safe=""),
        headers={"Authorization": f"Bearer {fuzz.mfa_token}"},
    )

    _check(resp)
