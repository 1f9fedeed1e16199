"""Response headers: `Cache-Control: no-store` and `Pragma: no-cache` on every token
and MFA answer (success, error, 204), HSTS when serving TLS and only then, no server banner,
no `WWW-Authenticate` on token-endpoint errors."""

from __future__ import annotations

import httpx
import pytest

from e2e._server import Tls, TwofoldServer, free_port
from web.support import BASE_URL, assert_no_store

pytestmark = pytest.mark.anyio


async def _every_kind_of_answer(env) -> list[tuple[str, httpx.Response]]:
    out: list[tuple[str, httpx.Response]] = []
    client = await env.client()
    enrolled = await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    out.append(("token 403 mfa_required", await env.password(client)))
    out.append(("token 403 invalid_grant", await env.password(client, password="nope")))
    out.append(("token 401", await env.token({"grant_type": "password", "client_id": "x"})))
    out.append(("token 400", await env.token({"grant_type": "bogus"}, client)))
    out.append(
        (
            "token 415",
            await env.http.post(
                "/oauth/token", content=b"x", headers={"Content-Type": "text/plain"}
            ),
        )
    )
    out.append(("token 413", await env.http.post("/oauth/token", data={"x": "y" * 70_000})))
    out.append(("challenge 200", await env.challenge(client, mfa_token)))
    out.append(("challenge 400", await env.challenge(client, mfa_token, challenge_type="oob")))
    out.append(("authenticators 200", await env.list_authenticators(mfa_token)))
    out.append(("authenticators 401", await env.list_authenticators("nope")))
    out.append(("associate 403", await env.associate(mfa_token)))
    out.append(("otp 403", await env.otp_grant(client, mfa_token, "000000")))
    out.append(("otp 200", await env.otp_grant(client, mfa_token, env.code(enrolled.secret))))
    env.next_step()
    api = await env.mfa_api_token(client, enrolled, "remove:authenticators")
    ids = [a["id"] for a in (await env.list_authenticators(await env.mfa_token(client))).json()]
    out.append(
        (
            "delete 404",
            await env.delete_authenticator(api["access_token"], "totp|dev_0000000000000000"),
        )
    )
    out.append(("delete 204", await env.delete_authenticator(api["access_token"], ids[0])))
    return out


async def test_no_store_on_every_token_and_mfa_answer(env):
    answers = await _every_kind_of_answer(env)
    statuses = {label: r.status_code for label, r in answers}
    assert statuses["delete 204"] == 204, statuses
    assert statuses["otp 200"] == 200, statuses
    for label, resp in answers:
        try:
            assert_no_store(resp)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None
        assert "server" not in resp.headers, (label, resp.headers)
        assert resp.headers.get("x-content-type-options") == "nosniff", label
        assert "strict-transport-security" not in resp.headers, label  # not TLS here
        if label.startswith("token"):
            assert "www-authenticate" not in resp.headers, label


async def test_too_many_attempts_carries_retry_after_and_no_store(env):
    client = await env.client()
    await env.enrolled(client)
    mfa_token = await env.mfa_token(client)
    for _ in range(10):
        await env.otp_grant(client, mfa_token, "000000")
    resp = await env.otp_grant(client, mfa_token, "000000")
    assert resp.status_code == 429
    assert_no_store(resp)
    assert int(resp.headers["retry-after"]) > 0


async def test_hsts_when_serving_tls(services):
    from twofold.app import build_app

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(services, tls=True)), base_url=BASE_URL
    ) as http:
        for resp in (
            await http.get("/healthz"),
            await http.post("/oauth/token", data={"grant_type": "x"}),
            await http.get("/.well-known/jwks.json"),
        ):
            hsts = resp.headers.get("strict-transport-security", "")
            assert hsts.startswith("max-age="), resp.headers
            assert int(hsts.split("=")[1].split(";")[0]) >= 31_536_000


@pytest.mark.e2e
def test_real_server_over_tls(tmp_path):
    server = TwofoldServer(
        workdir=tmp_path, port=free_port(), tls=Tls.create(tmp_path), pycache_dir=tmp_path / "pyc"
    )
    server.migrate()
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, verify=server.tls.client_context()) as http:
            for resp in (
                http.get("/healthz"),
                http.post("/oauth/token", data={"grant_type": "password"}),
                http.get("/mfa/authenticators"),
                http.get("/nowhere"),
            ):
                assert "server" not in resp.headers, resp.headers
                assert "strict-transport-security" in resp.headers, resp.headers
                assert "uvicorn" not in str(resp.headers).lower()
            token = http.post("/oauth/token", data={"grant_type": "password"})
            assert token.headers["cache-control"] == "no-store"
            assert token.headers["pragma"] == "no-cache"
    finally:
        server.stop()
