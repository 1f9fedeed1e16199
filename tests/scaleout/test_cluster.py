"""Three `twofold serve` nodes on one PostgreSQL schema and one Redis prefix, behind nginx
(round robin, the configuration of docs/deploy.md), driven over HTTPS like a client would.

- the whole login flow with consecutive requests answered by different nodes, and a TOTP step
  accepted on one node refused on each of the others;
- 50 simultaneous mfa-otp grants with one valid code, spread over the nodes: exactly one 200;
- the failed-attempt bucket is shared: 10 wrong codes over the nodes, then 429 on every node;
- an email challenge made on one node is granted on a second and refused as spent on the third;
- `twofold keys rotate` against the shared database: every node signs with and publishes the new
  key within the signing-key cache time, and tokens verify against every node's JWKS;
- `twofold tenant set`: every node uses the new settings within the tenant cache time;
- a node stopped with SIGTERM under traffic shuts down gracefully while nginx keeps every
  request answered, and comes back.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

from contract._backends import postgres_schema
from e2e._oob import SmtpSink
from e2e._otp import code_for_step, current_step, step_with_time_left, wrong_code
from e2e._server import free_port, twofold_command

from ._cluster import SIGNING_KEY_CACHE_SECONDS, Cluster, Node
from .conftest import Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.scaleout]

UPSTREAM = "x-twofold-upstream"
LOGIN_SCOPE = "openid profile email offline_access"
GRANT_PASSWORD = "password"
GRANT_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
GRANT_RECOVERY = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
GRANT_OOB = "http://auth0.com/oauth/grant-type/mfa-oob"
INVALID_OTP = (403, {"error": "invalid_grant", "error_description": "Invalid otp_code."})
RACERS = 50
FAILURE_BUCKET = 10
CONFIRM_MARGIN = 5.0  # seconds left in the TOTP step when the previous step's code is sent
ROTATION_DEADLINE = SIGNING_KEY_CACHE_SECONDS + 20.0
TENANT_DEADLINE = 5.0 + 20.0  # core/deps.py caches tenant settings for 5 s


# ---- helpers ------------------------------------------------------------------------------------


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _outcome(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, _body(response)


def _tally(results: list[tuple[int, Any]]) -> str:
    def line(status: int, body: Any) -> str:
        return f"{status} token response" if status == 200 else f"{status} {body!r}"

    counts = Counter(line(s, b) for s, b in results)
    return "\n".join(f"{n} x {text}" for text, n in counts.most_common())


def _is_too_many(result: tuple[int, Any]) -> bool:
    status, body = result
    return status == 429 and isinstance(body, dict) and body.get("error") == "too_many_attempts"


class Route:
    """An HTTP client through nginx that remembers which node answered each request."""

    def __init__(self, cluster: Cluster, tenant: Tenant) -> None:
        self.cluster = cluster
        self.tenant = tenant
        assert cluster.nginx is not None
        self.http = httpx.Client(
            base_url=cluster.base_url, verify=cluster.tls.client_context(), timeout=30.0
        )
        self.upstreams: list[str] = []

    def __enter__(self) -> Route:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        upstream = response.headers.get(UPSTREAM)
        assert upstream, f"nginx did not say which node answered {method} {path}"
        self.upstreams.append(upstream)
        return response

    def client_params(self) -> dict[str, str]:
        c = self.tenant.client
        return {"client_id": c.client_id, "client_secret": c.client_secret}

    def login(self, label: str) -> str:
        """Password grant; the tenant requires MFA, so this answers 403 mfa_required."""
        user = self.tenant.users[label]
        response = self.send(
            "POST",
            "/oauth/token",
            data={
                "grant_type": GRANT_PASSWORD,
                "username": user.email,
                "password": user.password,
                "scope": LOGIN_SCOPE,
                "audience": self.tenant.api,
                **self.client_params(),
            },
        )
        assert response.status_code == 403, _body(response)
        body = response.json()
        assert body["error"] == "mfa_required", body
        return str(body["mfa_token"])

    def otp_grant(self, mfa_token: str, otp: str) -> httpx.Response:
        data = {"grant_type": GRANT_OTP, "mfa_token": mfa_token, "otp": otp}
        return self.send("POST", "/oauth/token", data={**data, **self.client_params()})

    def enrol(self, label: str) -> tuple[str, str, int]:
        """Associate an OTP authenticator and confirm it with the previous step's code, which
        leaves the current step unused. (secret, recovery code, the unused step)."""
        mfa_token = self.login(label)
        response = self.send(
            "POST",
            "/mfa/associate",
            headers={"Authorization": f"Bearer {mfa_token}"},
            json={"authenticator_types": ["otp"]},
        )
        assert response.status_code == 200, _body(response)
        body = response.json()
        secret, recovery = body["secret"], body["recovery_codes"][0]
        step = asyncio.run(step_with_time_left(CONFIRM_MARGIN))
        confirmed = self.otp_grant(mfa_token, code_for_step(secret, step - 1))
        assert confirmed.status_code == 200, _body(confirmed)
        return secret, recovery, step


def _jwks(base_url: str, **kwargs: Any) -> dict[str, Any]:
    response = httpx.get(f"{base_url}/.well-known/jwks.json", timeout=10.0, **kwargs)
    assert response.status_code == 200, response.text
    jwks: dict[str, Any] = response.json()
    return jwks


def _verify(token: str, jwks: dict[str, Any], *, issuer: str, audience: str) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    keys = {k["kid"]: k for k in jwks["keys"]}
    assert kid in keys, f"kid {kid} is not published: {sorted(keys)}"
    key = jwt.PyJWK.from_dict(keys[kid])
    claims: dict[str, Any] = jwt.decode(
        token,
        key=key,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        leeway=5,
    )
    return claims


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def _m2m_token(node: Node, tenant: Tenant) -> str:
    response = httpx.post(
        f"{node.base_url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.m2m.client_id,
            "client_secret": tenant.m2m.client_secret,
            "audience": tenant.api,
        },
        timeout=10.0,
    )
    assert response.status_code == 200, (node.name, _body(response))
    return str(response.json()["access_token"])


# ---- tests --------------------------------------------------------------------------------------


def test_full_flow_hops_between_nodes(cluster: Cluster, tenant: Tenant) -> None:
    with Route(cluster, tenant) as route:
        # Enrolment: password grant, associate, confirm (three requests, three nodes).
        secret, recovery, step = route.enrol("flow")

        # Next login: challenge, then the OTP grant with the step left unused.
        mfa_token = route.login("flow")
        challenge = route.send(
            "POST", "/mfa/challenge", json={"mfa_token": mfa_token, **route.client_params()}
        )
        assert challenge.status_code == 200, _body(challenge)
        assert challenge.json() == {"challenge_type": "otp"}
        code = code_for_step(secret, step)
        granted = route.otp_grant(mfa_token, code)
        assert granted.status_code == 200, _body(granted)
        tokens = granted.json()
        accepted_by = route.upstreams[-1]

        # The same step on each of the other nodes, addressed directly: refused everywhere.
        replay_token = route.login("flow")
        for node in cluster.nodes:
            if node.address == accepted_by:
                continue
            replay = httpx.post(
                f"{node.base_url}/oauth/token",
                data={
                    "grant_type": GRANT_OTP,
                    "mfa_token": replay_token,
                    "otp": code,
                    **route.client_params(),
                },
                timeout=10.0,
            )
            assert _outcome(replay) == INVALID_OTP, (node.name, _body(replay))

        # The authenticators, then the recovery code (which answers a new one).
        listed = route.send(
            "GET", "/mfa/authenticators", headers={"Authorization": f"Bearer {replay_token}"}
        )
        assert listed.status_code == 200, _body(listed)
        # (The tenant has email enabled: a verified email is an implicit authenticator too.)
        kinds = {a["authenticator_type"] for a in listed.json() if a["active"]}
        assert kinds >= {"otp", "recovery-code"}, listed.json()
        recovered = route.send(
            "POST",
            "/oauth/token",
            data={
                "grant_type": GRANT_RECOVERY,
                "mfa_token": replay_token,
                "recovery_code": recovery,
                **route.client_params(),
            },
        )
        assert recovered.status_code == 200, _body(recovered)
        assert recovered.json()["recovery_code"] != recovery

        # The refresh token from one node works on the next.
        refreshed = route.send(
            "POST",
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                **route.client_params(),
            },
        )
        assert refreshed.status_code == 200, _body(refreshed)

        jwks = route.send("GET", "/.well-known/jwks.json").json()
        upstreams = list(route.upstreams)

    claims = _verify(
        refreshed.json()["access_token"], jwks, issuer=cluster.issuer, audience=tenant.api
    )
    assert claims["sub"] == tenant.users["flow"].user_id
    # Round robin: no two consecutive requests were answered by the same node.
    assert len(upstreams) >= 10
    assert {cluster.node_at(u).name for u in upstreams} == {"node1", "node2", "node3"}
    repeats = [(i, a) for i, (a, b) in enumerate(itertools.pairwise(upstreams)) if a == b]
    assert repeats == [], f"consecutive requests on one node: {upstreams}"


def test_a_password_only_mfa_api_token_dies_on_every_node_with_the_first_enrolment(
    cluster: Cluster, tenant: Tenant
) -> None:
    """A password-only MFA-API token taken on one node, the user's enrolment on others: every
    node refuses the token from then on (the authenticators are shared state)."""
    user = tenant.users["stale"]
    with Route(cluster, tenant) as route:
        taken = route.send(
            "POST",
            "/oauth/token",
            data={
                "grant_type": GRANT_PASSWORD,
                "username": user.email,
                "password": user.password,
                "audience": f"{cluster.issuer}mfa/",
                "scope": "enroll read:authenticators offline_access",
                **route.client_params(),
            },
        )
        assert taken.status_code == 200, _body(taken)
        assert "refresh_token" not in taken.json(), taken.json()
        stale = taken.json()["access_token"]
        route.enrol("stale")

    for node in cluster.nodes:
        listed = httpx.get(
            f"{node.base_url}/mfa/authenticators",
            headers={"Authorization": f"Bearer {stale}"},
            timeout=10.0,
        )
        assert _outcome(listed) == (
            403,
            {"error": "access_denied", "error_description": "User is already enrolled"},
        ), node.name


def test_fifty_simultaneous_grants_with_one_code_succeed_once(
    cluster: Cluster, tenant: Tenant
) -> None:
    with Route(cluster, tenant) as route:
        secret, _, step = route.enrol("racer")

    async def race() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=2 * RACERS, max_keepalive_connections=2 * RACERS)
        async with httpx.AsyncClient(
            base_url=cluster.base_url,
            verify=cluster.tls.client_context(),
            limits=limits,
            timeout=60.0,
        ) as http:
            user, client = tenant.users["racer"], tenant.client
            creds = {"client_id": client.client_id, "client_secret": client.client_secret}

            # Password attempts are reserved before the check too (20 per user and address),
            # so the 50 logins go a few at a time.
            logins = asyncio.Semaphore(8)

            async def login() -> str:
                async with logins:
                    response = await http.post(
                        "/oauth/token",
                        data={
                            "grant_type": GRANT_PASSWORD,
                            "username": user.email,
                            "password": user.password,
                            "audience": tenant.api,
                            **creds,
                        },
                    )
                assert response.status_code == 403, _body(response)
                return str(response.json()["mfa_token"])

            mfa_tokens = await asyncio.gather(*(login() for _ in range(RACERS)))
            assert len(set(mfa_tokens)) == RACERS
            # Open every connection first (TLS done), so the grants leave together.
            warm = await asyncio.gather(*(http.get("/healthz") for _ in range(RACERS)))
            assert all(r.status_code == 200 for r in warm)
            assert current_step() <= step + 1, "the race step left the accepted window"
            code = code_for_step(secret, step)
            return list(
                await asyncio.gather(
                    *(
                        http.post(
                            "/oauth/token",
                            data={
                                "grant_type": GRANT_OTP,
                                "mfa_token": t,
                                "otp": code,
                                **creds,
                            },
                        )
                        for t in mfa_tokens
                    )
                )
            )

    responses = asyncio.run(race())
    results = [_outcome(r) for r in responses]
    described = _tally(results)
    nodes = Counter(cluster.node_at(r.headers[UPSTREAM]).name for r in responses)
    assert set(nodes) == {"node1", "node2", "node3"}, f"not spread over the nodes: {nodes}"

    winners = [r for r in results if r[0] == 200]
    assert len(winners) == 1, f"expected exactly one 200 for one TOTP step:\n{described}"
    losers = [r for r in results if r[0] != 200]
    # Each request reserves a failure-bucket slot before its code is checked, so while more
    # than the bucket's 10 are in flight the surplus gets 429; every loser that was checked is
    # a replay of the spent step (403; a replay of a good code is refunded, not a failure).
    replays = [r for r in losers if r == INVALID_OTP]
    too_many = [r for r in losers if _is_too_many(r)]
    assert len(replays) + len(too_many) == RACERS - 1, f"unexpected answers:\n{described}"
    assert replays, f"at least one replay must be checked and refused:\n{described}"
    replayed_on = {cluster.node_at(r.headers[UPSTREAM]).name for r in responses}
    assert len(replayed_on) == 3


def test_the_failure_bucket_is_shared_by_all_nodes(cluster: Cluster, tenant: Tenant) -> None:
    with Route(cluster, tenant) as route:
        secret, _, step = route.enrol("guesser")
        mfa_token = route.login("guesser")
        wrong = wrong_code(secret)
        start = len(route.upstreams)
        for _ in range(FAILURE_BUCKET):
            assert _outcome(route.otp_grant(mfa_token, wrong)) == INVALID_OTP
        guessed_on = {cluster.node_at(u).name for u in route.upstreams[start:]}
        assert guessed_on == {"node1", "node2", "node3"}

        # The 11th wrong code, on each node directly: every one refuses before checking it.
        for node in cluster.nodes:
            response = httpx.post(
                f"{node.base_url}/oauth/token",
                data={
                    "grant_type": GRANT_OTP,
                    "mfa_token": mfa_token,
                    "otp": wrong,
                    **route.client_params(),
                },
                timeout=10.0,
            )
            assert _is_too_many(_outcome(response)), (node.name, _body(response))
            assert int(response.headers["retry-after"]) > 0

        # And the right code, through nginx: still 429, the bucket is checked first.
        right = route.otp_grant(mfa_token, code_for_step(secret, step))
        assert _is_too_many(_outcome(right)), _body(right)


def test_the_associate_allowance_of_an_mfa_token_is_shared_by_all_nodes(
    cluster: Cluster, tenant: Tenant
) -> None:
    # An mfa_token starts at most 10 enrolments (the default), whichever nodes it reaches.
    with Route(cluster, tenant) as route:
        mfa_token = route.login("associator")
        start = len(route.upstreams)
        for _ in range(10):
            response = route.send(
                "POST",
                "/mfa/associate",
                headers={"Authorization": f"Bearer {mfa_token}"},
                json={"authenticator_types": ["otp"]},
            )
            assert response.status_code == 200, _body(response)
        assert {cluster.node_at(u).name for u in route.upstreams[start:]} == {
            "node1",
            "node2",
            "node3",
        }
        for node in cluster.nodes:
            refused = httpx.post(
                f"{node.base_url}/mfa/associate",
                headers={"Authorization": f"Bearer {mfa_token}"},
                json={"authenticator_types": ["otp"]},
                timeout=10.0,
            )
            assert refused.status_code == 429, (node.name, _body(refused))
            assert refused.json()["error"] == "too_many_requests"
            assert int(refused.headers["retry-after"]) > 0


def test_an_email_challenge_made_on_one_node_is_granted_on_another(
    cluster: Cluster, tenant: Tenant, smtp: SmtpSink
) -> None:
    user = tenant.users["mailer"]
    with Route(cluster, tenant) as route:
        # Enrol the email: the code is sent by one node, confirmed on the next.
        mfa_token = route.login("mailer")
        associated = route.send(
            "POST",
            "/mfa/associate",
            headers={"Authorization": f"Bearer {mfa_token}"},
            json={"authenticator_types": ["oob"], "oob_channels": ["email"], "email": user.email},
        )
        assert associated.status_code == 200, _body(associated)
        confirmed = route.send(
            "POST",
            "/oauth/token",
            data={
                "grant_type": GRANT_OOB,
                "mfa_token": mfa_token,
                "oob_code": associated.json()["oob_code"],
                "binding_code": smtp.wait_code(user.email, 1),
                **route.client_params(),
            },
        )
        assert confirmed.status_code == 200, _body(confirmed)

        # Next login: the challenge on one node...
        mfa_token = route.login("mailer")
        listed = route.send(
            "GET", "/mfa/authenticators", headers={"Authorization": f"Bearer {mfa_token}"}
        )
        emails = [a for a in listed.json() if a.get("oob_channel") == "email" and a["active"]]
        assert emails, listed.json()
        challenged = route.send(
            "POST",
            "/mfa/challenge",
            json={
                "mfa_token": mfa_token,
                "challenge_type": "oob",
                "authenticator_id": emails[0]["id"],
                **route.client_params(),
            },
        )
        assert challenged.status_code == 200, _body(challenged)
        challenged_on = route.upstreams[-1]
        grant = {
            "grant_type": GRANT_OOB,
            "mfa_token": mfa_token,
            "oob_code": challenged.json()["oob_code"],
            "binding_code": smtp.wait_code(user.email, 2),
            **route.client_params(),
        }

    # ...granted on another, addressed directly; then spent on the third.
    others = [n for n in cluster.nodes if n.address != challenged_on]
    granted = httpx.post(f"{others[0].base_url}/oauth/token", data=grant, timeout=10.0)
    assert granted.status_code == 200, (others[0].name, _body(granted))
    replayed = httpx.post(f"{others[1].base_url}/oauth/token", data=grant, timeout=10.0)
    assert replayed.status_code == 403, (others[1].name, _body(replayed))
    assert replayed.json()["error"] == "invalid_grant"


def test_a_rotated_key_reaches_every_node_within_the_cache_time(
    cluster: Cluster, tenant: Tenant
) -> None:
    before = {node.name: _m2m_token(node, tenant) for node in cluster.nodes}
    old_kids = {_kid(t) for t in before.values()}
    assert len(old_kids) == 1, f"nodes sign with different keys before the rotation: {old_kids}"

    out = cluster.cli("keys", "rotate")  # from "one node": the CLI on the shared database
    # "new current key: <kid> (<alg>)"
    match = re.fullmatch(r"new current key: (\S+) \((\w+)\)", out.strip())
    assert match, out
    new_kid = match.group(1)
    assert new_kid not in old_kids, out

    # Poll every node (bounded) until it signs with the new key and publishes it.
    deadline = time.monotonic() + ROTATION_DEADLINE
    after: dict[str, str] = {}
    while len(after) < len(cluster.nodes):
        assert time.monotonic() < deadline, (
            f"after {ROTATION_DEADLINE:.0f} s only {sorted(after)} use the new key {new_kid}"
        )
        for node in cluster.nodes:
            if node.name in after:
                continue
            token = _m2m_token(node, tenant)
            published = {k["kid"] for k in _jwks(node.base_url)["keys"]}
            if _kid(token) == new_kid and new_kid in published:
                after[node.name] = token
        time.sleep(0.2)

    # Every token, old and new, verifies against every node's JWKS and nginx's.
    sets = {node.name: _jwks(node.base_url) for node in cluster.nodes}
    sets["nginx"] = _jwks(cluster.base_url, verify=cluster.tls.client_context())
    for name, jwks in sets.items():
        assert {k["kid"] for k in jwks["keys"]} >= {new_kid, *old_kids}, name
        for token in [*before.values(), *after.values()]:
            _verify(token, jwks, issuer=cluster.issuer, audience=tenant.api)


def test_tenant_settings_reach_every_node_within_the_cache_time(
    cluster: Cluster, tenant: Tenant
) -> None:
    """`twofold tenant set` on the shared database: each node's next enrolment shows the new
    friendly name (the issuer in the otpauth URI) within the tenant cache time (5 s)."""
    name = f"Scale-out {time.monotonic_ns()}"
    cluster.cli("tenant", "set", "--friendly-name", name)
    user, client = tenant.users["viewer"], tenant.client
    creds = {"client_id": client.client_id, "client_secret": client.client_secret}
    deadline = time.monotonic() + TENANT_DEADLINE
    pending = {node.name: node for node in cluster.nodes}
    while pending:
        assert time.monotonic() < deadline, f"{sorted(pending)} still show the old name"
        for node in list(pending.values()):
            login = httpx.post(
                f"{node.base_url}/oauth/token",
                data={
                    "grant_type": GRANT_PASSWORD,
                    "username": user.email,
                    "password": user.password,
                    **creds,
                },
                timeout=10.0,
            )
            assert login.status_code == 403, _body(login)
            # The user never confirms, so every associate is a fresh, pending enrolment.
            associated = httpx.post(
                f"{node.base_url}/mfa/associate",
                headers={"Authorization": f"Bearer {login.json()['mfa_token']}"},
                json={"authenticator_types": ["otp"]},
                timeout=10.0,
            )
            assert associated.status_code == 200, _body(associated)
            uri = associated.json()["barcode_uri"]
            if f"issuer={quote(name)}" in uri:
                del pending[node.name]
        time.sleep(0.3)


def test_sigterm_drains_a_node_while_nginx_keeps_answering(
    cluster: Cluster, tenant: Tenant
) -> None:
    """Graceful shutdown is uvicorn's: the stopped node finishes what it has, closes its pools
    and exits; nginx sends everything else to the other two. Then the node comes back (a
    rolling restart)."""
    node = cluster.nodes[0]
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(
            base_url=cluster.base_url, verify=cluster.tls.client_context(), timeout=30.0
        ) as http:
            for _ in range(2000):  # bounded; ends when told
                if stop.is_set():
                    return
                statuses.append(http.get("/.well-known/jwks.json").status_code)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        while len(statuses) < 20 and worker.is_alive():
            time.sleep(0.05)
        # uvicorn drains, runs the lifespan shutdown (pools closed), then re-raises the signal,
        # so the exit status says "ended by SIGTERM", as service managers expect.
        assert node.stop() in (0, -signal.SIGTERM), f"{node.name} did not stop on SIGTERM"
        log = node.log_file.read_text()
        for line in ("Shutting down", "Application shutdown complete.", "Finished server process"):
            assert line in log, f"{node.name} did not shut down gracefully: no {line!r}"
        seen = len(statuses)
        while len(statuses) < seen + 30 and worker.is_alive():
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    assert len(statuses) >= 50
    assert set(statuses) == {200}, Counter(statuses)

    node.spawn()  # back in rotation: nginx retries it after fail_timeout
    node.wait_ready()


def test_serve_refuses_an_unmigrated_postgresql(tmp_path: Path, cluster: Cluster) -> None:
    with postgres_schema("unmigrated") as url:
        env = {**cluster.env(), "TWOFOLD_DATABASE_URL": url}
        cmd = [*twofold_command(), "serve", "--host", "127.0.0.1", "--port", str(free_port())]
        done = subprocess.run(
            cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode != 0
    assert "run `twofold migrate` first" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
