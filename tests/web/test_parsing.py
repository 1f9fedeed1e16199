"""Request parsing at /oauth/token and /mfa/challenge: content types, duplicates, malformed
bodies, size limits, unknown grants, and the headers every answer carries."""

from __future__ import annotations

import json

import pytest

from .support import (
    EMAIL,
    GRANT_PASSWORD,
    PASSWORD,
    assert_error,
    assert_no_store,
    assert_tokens,
)

pytestmark = pytest.mark.anyio

FORM = "application/x-www-form-urlencoded"
LIMIT = 64 * 1024


async def _post(env, path, content, content_type, **headers):
    hdrs = {**headers}
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    return await env.http.post(path, content=content, headers=hdrs)


def _form(params):
    from urllib.parse import urlencode

    return urlencode(params).encode()


# ----------------------------------------------------------------------------- content types


@pytest.mark.parametrize(
    "content_type",
    [
        FORM,
        FORM + "; charset=utf-8",
        "Application/X-WWW-Form-Urlencoded",
        "application/json",
        "application/json; charset=UTF-8",
    ],
)
async def test_accepted_content_types(env, content_type):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()
    params = {
        "grant_type": GRANT_PASSWORD,
        "username": EMAIL,
        "password": PASSWORD,
        **client.post(),
    }
    body = json.dumps(params).encode() if "json" in content_type else _form(params)

    resp = await _post(env, "/oauth/token", body, content_type)

    assert_tokens(resp)


@pytest.mark.parametrize("path", ["/oauth/token", "/mfa/challenge"])
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"]
)
async def test_unsupported_content_type(env, path, content_type):
    resp = await _post(env, path, b"grant_type=password", content_type)

    assert_error(resp, 415, "invalid_request")
    assert_no_store(resp)


@pytest.mark.parametrize("path", ["/oauth/token", "/mfa/challenge"])
async def test_malformed_json(env, path):
    resp = await _post(env, path, b'{"grant_type": "password",', "application/json")

    assert_error(resp, 400, "invalid_request", "Malformed JSON body")
    assert_no_store(resp)


@pytest.mark.parametrize("path", ["/oauth/token", "/mfa/challenge"])
@pytest.mark.parametrize("payload", [b"[]", b'"x"', b"1", b"null", b"\xff\xfe{}"])
async def test_json_that_is_not_an_object(env, path, payload):
    resp = await _post(env, path, payload, "application/json")

    assert_error(resp, 400, "invalid_request")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grant_type", 1),
        ("grant_type", None),
        ("grant_type", ["password"]),
        ("username", {"a": 1}),
        ("password", True),
        ("password", 3.5),
    ],
)
async def test_json_non_string_values(env, field, value):
    client = await env.client()
    await env.user()
    params = {
        "grant_type": GRANT_PASSWORD,
        "username": EMAIL,
        "password": PASSWORD,
        **client.post(),
    }
    params[field] = value

    resp = await env.http.post("/oauth/token", json=params)

    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] in ("invalid_request", "unsupported_grant_type")


async def test_non_utf8_form(env):
    resp = await _post(env, "/oauth/token", b"grant_type=%ff%fe&username=\xff", FORM)

    assert_error(resp, 400, "invalid_request")


# ----------------------------------------------------------------------------- duplicates, missing


async def test_duplicate_parameter(env):
    client = await env.client()
    await env.user()

    resp = await _post(
        env,
        "/oauth/token",
        _form(
            [
                ("grant_type", GRANT_PASSWORD),
                ("username", EMAIL),
                ("username", "other@example.com"),
                ("password", PASSWORD),
                ("client_id", client.client_id),
                ("client_secret", client.secret),
            ]
        ),
        FORM,
    )

    assert_error(resp, 400, "invalid_request", "Duplicate parameter: username")
    assert_no_store(resp)


async def test_duplicate_identical_values_are_still_duplicates(env):
    resp = await _post(env, "/oauth/token", b"grant_type=password&grant_type=password", FORM)

    assert_error(resp, 400, "invalid_request", "Duplicate parameter: grant_type")


async def test_duplicate_at_challenge(env):
    client = await env.client()

    resp = await _post(
        env,
        "/mfa/challenge",
        _form(
            [
                ("client_id", client.client_id),
                ("client_secret", client.secret),
                ("mfa_token", "a"),
                ("mfa_token", "b"),
            ]
        ),
        FORM,
    )

    assert_error(resp, 400, "invalid_request", "Duplicate parameter: mfa_token")


async def test_missing_grant_type(env):
    client = await env.client()

    resp = await env.token({"username": EMAIL}, client)

    assert_error(resp, 400, "invalid_request", "Missing required parameter: grant_type")


async def test_missing_grant_type_json(env):
    client = await env.client()

    resp = await env.token({"username": EMAIL}, client, json=True)

    assert_error(resp, 400, "invalid_request", "Missing required parameter: grant_type")


async def test_empty_body(env):
    resp = await _post(env, "/oauth/token", b"", FORM)

    assert_error(resp, 400, "invalid_request", "Missing required parameter: grant_type")


@pytest.mark.parametrize(
    "grant_type",
    [
        "foo",
        # implicit is a grant of /authorize, never of the token endpoint.
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "http://auth0.com/oauth/grant-type/mfa-recover-code",
    ],
)
async def test_unsupported_grant_type(env, grant_type):
    client = await env.client()

    resp = await env.token({"grant_type": grant_type}, client)

    assert_error(resp, 400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")
    assert_no_store(resp)


async def test_grant_not_allowed_for_client(env):
    client = await env.client(grant_types=["client_credentials"], api_grants={})
    await env.user()

    resp = await env.password(client)

    assert_error(
        resp, 403, "unauthorized_client", "Grant type 'password' not allowed for the client."
    )


# ----------------------------------------------------------------------------- size


@pytest.mark.parametrize("path", ["/oauth/token", "/mfa/challenge"])
async def test_body_over_64k(env, path):
    body = b"grant_type=password&username=" + b"a" * LIMIT

    resp = await _post(env, path, body, FORM)

    assert_error(resp, 413, "invalid_request")


@pytest.mark.parametrize("path", ["/oauth/token", "/mfa/challenge"])
async def test_streamed_body_over_64k_without_content_length(env, path):
    async def chunks():
        yield b"grant_type=password&username="
        for _ in range(20):
            yield b"a" * 4096

    resp = await env.http.post(path, content=chunks(), headers={"Content-Type": FORM})

    assert_error(resp, 413, "invalid_request")


async def test_body_just_under_the_limit_is_parsed(env):
    # Unknown parameters are ignored; each stays under any per-parameter cap (8 KiB).
    client = await env.client()
    body = _form({**client.post(), "grant_type": "foo"})
    n = 0
    while len(body) + 7000 < LIMIT:
        body += f"&pad{n}=".encode() + b"a" * 6980
        n += 1
    assert LIMIT - 8000 < len(body) < LIMIT

    resp = await _post(env, "/oauth/token", body, FORM)

    assert_error(resp, 400, "unsupported_grant_type", "Unsupported grant type: foo")


# ----------------------------------------------------------------------------- headers


async def test_success_headers(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()

    resp = await env.password(client)

    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert_no_store(resp)


async def test_error_body_is_exactly_the_envelope(env):
    client = await env.client()

    resp = await env.token({"grant_type": "foo"}, client)

    assert set(resp.json()) == {"error", "error_description"}
    assert "www-authenticate" not in resp.headers


async def test_query_string_parameters_are_not_credentials(env):
    await env.tenant(mfa_policy="never")
    client = await env.client()
    await env.user()

    resp = await env.http.post(
        "/oauth/token",
        params={"client_secret": client.secret},
        data={
            "grant_type": GRANT_PASSWORD,
            "username": EMAIL,
            "password": PASSWORD,
            "client_id": client.client_id,
        },
    )

    assert_error(resp, 401, "invalid_client", "Client authentication failed")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_wrong_method_on_token_endpoint(env, method):
    resp = await env.http.request(method, "/oauth/token")

    assert resp.status_code == 405, resp.text
