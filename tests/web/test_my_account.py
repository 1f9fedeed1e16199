"""The My Account API (/me/v1): its tokens, reading and managing the caller's methods, the scope
each operation needs, and the problem-details shape of every error."""

from __future__ import annotations

import re
from typing import Any

import pytest

from twofold.core.admin import AdminError

from .my_account_support import (
    ME,
    SCOPES,
    Me,
    assert_problem,
    first_party,
    me_token,
    path,
    signed_in,
)
from .support import Harness, assert_tokens, audiences

pytestmark = pytest.mark.anyio
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# ----------------------------------------------------------------------------- tokens


async def test_a_my_account_token_takes_the_password_and_the_factor(env: Harness) -> None:
    client = await first_party(env)
    enrolled = await env.enrolled(client)
    # The hyphenated spelling is asked for, and granted, as one SDK documents it.
    scope = "read:me:authentication-methods read:me:factors offline_access"
    mfa = await env.mfa_required(client, audience=ME, scope=scope)
    tokens = assert_tokens(await env.otp_grant(client, mfa["mfa_token"], env.code(enrolled.secret)))
    assert tokens["scope"] == "read:me:authentication-methods read:me:factors"
    assert "refresh_token" not in tokens  # never refreshed, like the MFA API's tokens
    assert tokens["expires_in"] == 600
    _, claims = await env.decode(tokens["access_token"])
    assert audiences(claims) == [ME]
    assert claims["amr"] == ["mfa"]
    assert claims["sub"] == enrolled.user.user_id


async def test_without_a_scope_asked_for_the_five_scopes_are_granted(env: Harness) -> None:
    client = await first_party(env)
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client, audience=ME.rstrip("/"))
    tokens = assert_tokens(await env.otp_grant(client, mfa_token, env.code(enrolled.secret)))
    assert tokens["scope"].split() == list(SCOPES)


async def test_the_my_account_audience_is_built_in(env: Harness) -> None:
    with pytest.raises(AdminError):
        await env.admin.create_api(ME, scopes=("read:me:factors",))


# ----------------------------------------------------------------------------- reading


async def test_factors_are_passkeys_and_the_tenants_enabled_factors(env: Harness) -> None:
    _, _, me = await signed_in(env)
    await env.tenant(
        enabled_factors={"otp", "voice", "email", "push-notification", "recovery-code"}
    )
    resp = await me.factors()
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    assert resp.json() == [
        {"type": "passkey", "usage": ["primary"]},
        {"type": "totp", "usage": ["secondary"]},
        {"type": "phone", "usage": ["secondary"]},
        {"type": "email", "usage": ["secondary"]},
        {"type": "push-notification", "usage": ["secondary"]},
        {"type": "recovery-code", "usage": ["secondary"]},
    ]
    await env.tenant(enabled_factors={"otp"}, recovery_codes_enabled=False)
    assert [f["type"] for f in (await me.factors()).json()] == ["passkey", "totp"]


async def test_methods_are_the_mfa_apis_authenticators(env: Harness) -> None:
    _, enrolled, me = await signed_in(env)
    listed = await me.methods()
    mfa = await env.list_authenticators(
        (await env.mfa_api_token(await first_party(env), enrolled, "read:authenticators"))[
            "access_token"
        ]
    )
    assert [m["id"] for m in listed] == [a["id"] for a in mfa.json()]
    totp, recovery = listed
    assert set(totp) == {"id", "type", "created_at", "usage", "confirmed", "last_auth_at"}
    assert totp["type"] == "totp"
    assert totp["usage"] == ["secondary"]
    assert totp["confirmed"] is True
    assert ISO.match(totp["created_at"]), totp
    assert ISO.match(totp["last_auth_at"]), totp
    assert recovery["type"] == "recovery-code"
    assert recovery["confirmed"] is True


async def test_list_by_type(env: Harness) -> None:
    _, _, me = await signed_in(env)
    resp = await me.list("totp")
    assert resp.status_code == 200, resp.text
    assert [m["type"] for m in resp.json()["authentication_methods"]] == ["totp"]
    assert (await me.list("passkey")).json() == {"authentication_methods": []}
    assert_problem(await me.list("password"), 400, pointer="type")


async def test_get_one_method_or_404(env: Harness) -> None:
    _, _, me = await signed_in(env)
    totp = (await me.methods())[0]
    resp = await me.get(totp["id"])
    assert resp.status_code == 200, resp.text
    assert resp.json() == totp
    assert_problem(await me.get("totp|dev_nosuchmethod0000"), 404)


# ----------------------------------------------------------------------------- changing


async def test_rename_is_seen_by_the_mfa_api(env: Harness) -> None:
    client, enrolled, me = await signed_in(env)
    totp = (await me.methods())[0]
    resp = await me.update(totp["id"], {"name": "Work phone"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {**totp, "name": "Work phone"}
    token = (await env.mfa_api_token(client, enrolled, "read:authenticators"))["access_token"]
    listed = (await env.list_authenticators(token)).json()
    assert listed[0]["name"] == "Work phone"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"name": ""}, "/name"),
        ({"name": "x" * 256}, "/name"),
        ({"name": 7}, "/name"),
        ({"preferred_authentication_method": "sms"}, "/preferred_authentication_method"),
        ({"preferred_authentication_method": "pigeon"}, "/preferred_authentication_method"),
        ({"confirmed": False}, "/confirmed"),
    ],
)
async def test_bad_updates_name_their_field(
    env: Harness, body: dict[str, Any], pointer: str
) -> None:
    _, _, me = await signed_in(env)
    totp = (await me.methods())[0]
    problem = assert_problem(await me.update(totp["id"], body), 400, pointer=pointer, number=3)
    assert problem["validation_errors"][0]["source"] == "body"
    assert (await me.get(totp["id"])).json() == totp


async def test_delete_goes_through_the_one_deletion_rule(env: Harness) -> None:
    client, enrolled, me = await signed_in(env)
    totp = (await me.methods())[0]
    resp = await me.delete(totp["id"])
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    # The last factor went, and the recovery code with it (nothing left to recover).
    assert await me.methods() == []
    assert_problem(await me.delete(totp["id"]), 404)
    # The login sees no factor to challenge any more: the user is asked to enrol one.
    required = await env.mfa_required(client, username=enrolled.email)
    assert required["mfa_requirements"] == {"enroll": [{"type": "otp"}]}


# ----------------------------------------------------------------------------- scopes


OPERATIONS = [
    ("GET", "/me/v1/factors", "read:me:factors"),
    ("GET", "/me/v1/authentication-methods", "read:me:authentication_methods"),
    ("GET", "/me/v1/authentication-methods/{id}", "read:me:authentication_methods"),
    ("PATCH", "/me/v1/authentication-methods/{id}", "update:me:authentication_methods"),
    ("DELETE", "/me/v1/authentication-methods/{id}", "delete:me:authentication_methods"),
    ("POST", "/me/v1/authentication-methods", "create:me:authentication_methods"),
    ("POST", "/me/v1/authentication-methods/{id}/verify", "create:me:authentication_methods"),
]


async def _call(me: Me, method: str, template: str, method_id: str) -> Any:
    url = template.replace("{id}", method_id.replace("|", "%7C"))
    headers = {"Authorization": f"Bearer {me.token}"}
    body = {"type": "totp"} if method == "POST" else {}
    if method in ("GET", "DELETE"):
        return await me.http.request(method, url, headers=headers)
    return await me.http.request(method, url, headers=headers, json=body)


@pytest.mark.parametrize(("method", "template", "scope"), OPERATIONS)
async def test_each_operation_needs_its_scope(
    env: Harness, method: str, template: str, scope: str
) -> None:
    client, enrolled, me = await signed_in(env, scope=" ".join(s for s in SCOPES if s != scope))
    totp = (await Me(env, await me_token(env, client, enrolled)).methods())[0]
    problem = assert_problem(await _call(me, method, template, totp["id"]), 403, number=2)
    assert problem["detail"] == f"Insufficient scope, expected: {scope}"
    assert len(await Me(env, await me_token(env, client, enrolled)).methods()) == 2


@pytest.mark.parametrize(("method", "template", "scope"), OPERATIONS)
async def test_the_hyphenated_scope_grants_the_same(
    env: Harness, method: str, template: str, scope: str
) -> None:
    _, _, me = await signed_in(env, scope=scope.replace("_", "-"))
    resp = await _call(me, method, template, "totp|dev_nosuchmethod0000")
    # Past the scope check: the operation itself answers (the method is unknown).
    assert resp.status_code in (200, 202, 204, 400, 404), resp.text
    assert "scope" not in resp.text


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic abc", "Bearer not-a-jwt", "Bearer a.b.c", "bearer  "],
)
async def test_missing_or_bad_tokens_are_401_problems(
    env: Harness, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    resp = await env.http.get(path(), headers=headers)
    assert_problem(resp, 401)


async def test_an_unknown_path_or_method_is_a_problem_too(env: Harness) -> None:
    _, _, me = await signed_in(env)
    headers = {"Authorization": f"Bearer {me.token}"}
    assert_problem(await env.http.get("/me/v1/nothing", headers=headers), 404)
    assert_problem(await env.http.get("/me/", headers=headers), 404)
    assert_problem(await env.http.put("/me/v1/factors", headers=headers), 405)
    assert_problem(await env.http.delete(path(), headers=headers), 405)


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b"[1]", "application/json", 400),
        (b'{"type": "totp", "type": "totp"}', "application/json", 400),
        (b"type=totp", "application/x-www-form-urlencoded", 415),
        (b"<x/>", "text/xml", 415),
    ],
)
async def test_bodies_must_be_one_json_object(
    env: Harness, content: bytes, content_type: str, status: int
) -> None:
    _, _, me = await signed_in(env)
    headers = {"Authorization": f"Bearer {me.token}", "Content-Type": content_type}
    assert_problem(await env.http.post(path(), content=content, headers=headers), status)


async def test_an_oversized_body_is_a_413_problem(env: Harness) -> None:
    _, _, me = await signed_in(env)
    resp = await me.enrol({"type": "totp", "email": "x" * 2_000_000})
    assert_problem(resp, 413)
