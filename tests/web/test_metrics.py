"""Prometheus metrics over HTTP: real requests move the counters by the right amounts under the
right labels, /metrics on the main port answers only its bearer token, and no label ever holds
an id, a token or a path a client made up. Scrapes go through GET /metrics like Prometheus's."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from twofold.core.clock import FrozenClock

from .oob_support import SmtpSink, oob_grant, oob_settings
from .support import (
    BASE_URL,
    EMAIL,
    GRANT_OOB,
    GRANT_OTP,
    GRANT_PASSWORD,
    Harness,
    assert_error,
    assert_no_store,
    assert_tokens,
    wrong_code,
)

pytestmark = pytest.mark.anyio

TOKEN = "metrics-token-for-tests-0123456789"
FROM = "Twofold <no-reply@twofold.test>"
FACTORS = {"otp", "email", "recovery-code"}
TOKEN_ROUTE = "/oauth/token"
DELETE_ROUTE = "/mfa/authenticators/{authenticator_id:path}"

Samples = Counter[tuple[str, frozenset[tuple[str, str]]]]


def parse(text: str) -> Samples:
    samples: Samples = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] += sample.value
    return samples


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return (name, frozenset(labels.items()))


class Scraper:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def scrape(self) -> Samples:
        resp = await self.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/plain"), resp.headers
        return parse(resp.text)

    async def text(self) -> str:
        resp = await self.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200, resp.text
        return resp.text


def moved(before: Samples, after: Samples) -> Samples:
    """What changed between two scrapes (only series that moved)."""
    delta: Samples = Counter()
    for series in set(before) | set(after):
        change = after[series] - before[series]
        if change:
            delta[series] = change
    return delta


@pytest.fixture
async def services(tmp_path: Any, clock: FrozenClock, smtp: SmtpSink) -> AsyncIterator[Any]:
    from twofold.app import create_services
    from twofold.observability.metrics import PrometheusMetrics

    settings = oob_settings(
        tmp_path, smtp_url=smtp.url, email_from=FROM, metrics_token=TOKEN, send_cap_email=2
    )
    # A registry of its own: counts start at zero in every test.
    metrics = PrometheusMetrics(CollectorRegistry())
    svc = await create_services(settings, clock=clock, metrics=metrics)
    try:
        # Lenient email (it does not count as a factor), so that TOTP can be enrolled beside it.
        await svc.admin.update_tenant(
            mfa_policy="always", enabled_factors=FACTORS, email_counts_as_factor=False
        )
        yield svc
    finally:
        await svc.close()


@pytest.fixture
def scraper(http: httpx.AsyncClient) -> Scraper:
    return Scraper(http)


# ------------------------------------------------------------------------------ the counters


async def test_a_login_moves_the_counters_by_the_right_amounts(
    env: Harness, scraper: Scraper, smtp: SmtpSink
) -> None:
    client = await env.client()
    enrolled = await env.enrolled(client)
    before = await scraper.scrape()

    # password -> mfa_required -> wrong otp -> right otp
    mfa_token = await env.mfa_token(client, username=enrolled.email, password=enrolled.password)
    code = env.code(enrolled.secret)
    assert_error(await env.otp_grant(client, mfa_token, wrong_code(code)), 403, "invalid_grant")
    tokens = assert_tokens(await env.otp_grant(client, mfa_token, code))
    signatures = 2 if "id_token" in tokens else 1

    # then a second login through the email factor: a challenge, a wrong and a right code
    mfa_token = await env.mfa_token(client, username=enrolled.email, password=enrolled.password)
    listed = (await env.list_authenticators(mfa_token)).json()
    [email] = [a for a in listed if a.get("oob_channel") == "email"]
    resp = await env.challenge(
        client, mfa_token, challenge_type="oob", authenticator_id=email["id"]
    )
    assert resp.status_code == 200, resp.text
    oob_code = resp.json()["oob_code"]
    sent = smtp.last_code(EMAIL)
    assert_error(
        await oob_grant(env, client, mfa_token, oob_code, wrong_code(sent)), 403, "invalid_grant"
    )
    tokens = assert_tokens(await oob_grant(env, client, mfa_token, oob_code, sent))
    signatures += 2 if "id_token" in tokens else 1

    after = await scraper.scrape()
    delta = moved(before, after)
    grants = "twofold_token_grants_total"
    http = "twofold_http_requests_total"
    expected = {
        key(grants, grant_type=GRANT_PASSWORD, outcome="mfa_required"): 2,
        key(grants, grant_type=GRANT_OTP, outcome="invalid_grant"): 1,
        key(grants, grant_type=GRANT_OTP, outcome="success"): 1,
        key(grants, grant_type=GRANT_OOB, outcome="invalid_grant"): 1,
        key(grants, grant_type=GRANT_OOB, outcome="success"): 1,
        key("twofold_mfa_failures_total", factor="otp"): 1,
        key("twofold_mfa_failures_total", factor="email"): 1,
        key("twofold_deliveries_total", channel="email", outcome="sent"): 1,
        key("twofold_token_signing_seconds_count", alg="RS256"): signatures,
        key(http, method="POST", route=TOKEN_ROUTE, status="403"): 4,
        key(http, method="POST", route=TOKEN_ROUTE, status="200"): 2,
        key(http, method="POST", route="/mfa/challenge", status="200"): 1,
        key(http, method="GET", route="/mfa/authenticators", status="200"): 1,
        # the first scrape, answered before it could count itself
        key(http, method="GET", route="/metrics", status="200"): 1,
        key("twofold_http_request_duration_seconds_count", method="POST", route=TOKEN_ROUTE): 6,
    }
    for series, amount in expected.items():
        assert delta[series] == amount, (series, delta[series], sorted(delta.items()))
    # Nothing else was counted under those names (no other outcome, factor or status).
    for series, amount in delta.items():
        if series[0] in {grants, http, "twofold_mfa_failures_total", "twofold_deliveries_total"}:
            assert expected.get(series) == amount, (series, amount)
    assert not [s for s in delta if s[0] == "twofold_mfa_rate_limited_total"]
    assert delta[key("twofold_backend_errors_total", backend="database")] == 0


async def test_429s_are_counted_by_factor_and_the_tenant_breaker_trips(
    env: Harness, scraper: Scraper, smtp: SmtpSink
) -> None:
    client = await env.client()
    enrolled = await env.enrolled(client)
    before = await scraper.scrape()

    mfa_token = await env.mfa_token(client, username=enrolled.email, password=enrolled.password)
    code = env.code(enrolled.secret)
    statuses = []
    for _ in range(11):  # the failed-attempts bucket holds 10
        resp = await env.otp_grant(client, mfa_token, wrong_code(code))
        statuses.append(resp.status_code)
    assert statuses == [403] * 10 + [429], statuses

    # send_cap_email=2 in these settings: the third email of the hour trips the tenant cap.
    listed = (await env.list_authenticators(mfa_token)).json()
    [email] = [a for a in listed if a.get("oob_channel") == "email"]
    for expected_status in (200, 200, 429):
        resp = await env.challenge(
            client, mfa_token, challenge_type="oob", authenticator_id=email["id"]
        )
        assert resp.status_code == expected_status, resp.text

    delta = moved(before, await scraper.scrape())
    assert delta[key("twofold_mfa_failures_total", factor="otp")] == 10
    assert delta[key("twofold_mfa_rate_limited_total", factor="otp", limit="attempts")] == 1
    assert delta[key("twofold_mfa_rate_limited_total", factor="email", limit="tenant")] == 1
    assert delta[key("twofold_send_cap_trips_total", channel="email")] == 1
    assert delta[key("twofold_deliveries_total", channel="email", outcome="sent")] == 2
    assert (
        delta[key("twofold_token_grants_total", grant_type=GRANT_OTP, outcome="too_many_attempts")]
        == 1
    )
    http = "twofold_http_requests_total"
    assert delta[key(http, method="POST", route=TOKEN_ROUTE, status="429")] == 1
    assert delta[key(http, method="POST", route="/mfa/challenge", status="429")] == 1


async def test_a_delivery_failure_is_counted(tmp_path: Any, clock: FrozenClock) -> None:
    from twofold.app import build_app, create_services
    from twofold.observability.metrics import PrometheusMetrics

    # An SMTP server that is not there: the send fails, the client gets 502.
    settings = oob_settings(
        tmp_path,
        smtp_url="smtp://127.0.0.1:1",
        email_from=FROM,
        metrics_token=TOKEN,
        delivery_timeout=2.0,
    )
    svc = await create_services(settings, clock=clock, metrics=PrometheusMetrics())
    try:
        await svc.admin.update_tenant(mfa_policy="always", enabled_factors=FACTORS)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(svc)), base_url=BASE_URL
        ) as http:
            env = Harness(http, svc, clock)
            client = await env.client()
            await env.user()
            mfa_token = await env.mfa_token(client)
            resp = await env.challenge(client, mfa_token, challenge_type="oob")
            assert_error(resp, 502, "bad_gateway")
            delta = await Scraper(http).scrape()
    finally:
        await svc.close()
    assert delta[key("twofold_deliveries_total", channel="email", outcome="failed")] == 1
    assert not delta[key("twofold_deliveries_total", channel="email", outcome="sent")]


async def test_backend_outages_are_counted_by_backend(tmp_path: Any) -> None:
    from twofold.app import build_app, create_services
    from twofold.observability.metrics import PrometheusMetrics

    settings = oob_settings(
        tmp_path, redis_url="redis://127.0.0.1:1/0", redis_timeout=1.0, metrics_token=TOKEN
    )
    svc = await create_services(settings, metrics=PrometheusMetrics())
    try:
        await svc.admin.update_tenant(mfa_policy="always")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(svc)), base_url=BASE_URL
        ) as http:
            env = Harness(http, svc, FrozenClock(0))
            client = await env.client()
            await env.user()
            assert_error(await env.password(client), 503, "temporarily_unavailable")
            samples = await Scraper(http).scrape()
    finally:
        await svc.close()
    assert samples[key("twofold_backend_errors_total", backend="redis")] == 1
    assert samples[key("twofold_backend_errors_total", backend="database")] == 0
    assert (
        samples[
            key(
                "twofold_token_grants_total",
                grant_type=GRANT_PASSWORD,
                outcome="temporarily_unavailable",
            )
        ]
        == 1
    )


# ------------------------------------------------------------------------------ labels


async def test_labels_hold_route_templates_never_ids_or_tokens(
    env: Harness, scraper: Scraper
) -> None:
    client = await env.client()
    enrolled = await env.enrolled(client)
    token = await env.mfa_api_token(client, enrolled, "remove:authenticators read:authenticators")
    access = token["access_token"]
    listed = (await env.list_authenticators(access)).json()
    [otp] = [a for a in listed if a["authenticator_type"] == "otp"]
    resp = await env.delete_authenticator(access, otp["id"])
    assert resp.status_code == 204, resp.text
    # Again (404 now), an id that never existed, and paths and methods a client made up.
    assert (await env.delete_authenticator(access, otp["id"])).status_code == 404
    canary = "canary-0d2b7f1e9c"
    assert (await env.delete_authenticator(access, f"totp|dev_{canary}")).status_code == 404
    assert (await env.http.get(f"/mfa/{canary}/{access}")).status_code == 404
    assert (await env.http.request("PROPFIND", f"/{canary}")).status_code == 404
    resp = await env.token({"grant_type": f"urn:{canary}"}, client)
    assert_error(resp, 400, "unsupported_grant_type")

    text = await scraper.text()
    samples = parse(text)
    http = "twofold_http_requests_total"
    assert samples[key(http, method="DELETE", route=DELETE_ROUTE, status="204")] == 1
    assert samples[key(http, method="DELETE", route=DELETE_ROUTE, status="404")] == 2
    assert samples[key(http, method="GET", route="unmatched", status="404")] == 1
    assert samples[key(http, method="other", route="unmatched", status="404")] == 1
    assert (
        samples[
            key("twofold_token_grants_total", grant_type="other", outcome="unsupported_grant_type")
        ]
        == 1
    )
    secrets = [
        otp["id"],
        otp["id"].split("|")[-1],
        enrolled.user.user_id,
        access,
        enrolled.secret,
        canary,
        client.client_id,
        "PROPFIND",
    ]
    for secret in secrets:
        assert secret not in text, secret
    routes = {
        dict(labels).get("route") for name, labels in samples if name.startswith("twofold_http")
    }
    assert routes <= {
        TOKEN_ROUTE,
        "/mfa/associate",
        "/mfa/authenticators",
        DELETE_ROUTE,
        "/metrics",
        "unmatched",
    }, routes


async def test_static_files_are_labelled_by_their_mount(env: Harness, scraper: Scraper) -> None:
    for path in ("/account/static/account.css", "/u/static/login.css", "/u/static/nothing.js"):
        await env.http.get(path)
    samples = parse(await scraper.text())
    http = "twofold_http_requests_total"
    assert samples[key(http, method="GET", route="/account/static", status="200")] == 1
    assert samples[key(http, method="GET", route="/u/static", status="200")] == 1
    assert samples[key(http, method="GET", route="/u/static", status="404")] == 1
    routes = {dict(labels).get("route") for name, labels in samples if name == http}
    assert not any("static/" in str(route) for route in routes), routes


# ------------------------------------------------------------------------------ protection


async def test_metrics_on_the_main_port_need_the_bearer_token(
    http: httpx.AsyncClient, scraper: Scraper
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN[:-1]}x"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": "Bearer \u00e9t\u00e9".encode("latin-1")},
    ):
        resp = await http.get("/metrics", headers=headers)
        body = assert_error(resp, 401, "invalid_token")
        assert set(body) == {"error", "error_description"}
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert_no_store(resp)
        assert "twofold_" not in resp.text
    resp = await http.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert_error(resp, 405, "invalid_request")
    resp = await http.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert resp.status_code == 200
    assert "# TYPE twofold_http_requests_total counter" in resp.text
    samples = await scraper.scrape()
    # the refusals are counted like any answer
    assert (
        samples[key("twofold_http_requests_total", method="GET", route="/metrics", status="401")]
        == 7
    )


@pytest.mark.parametrize("settings_extra", [{}, {"metrics_port": 9}], ids=["off", "port-only"])
async def test_without_a_token_the_main_port_has_no_metrics(
    tmp_path: Any, settings_extra: dict[str, Any]
) -> None:
    from twofold.app import build_app, create_services
    from twofold.observability.metrics import PrometheusMetrics

    settings = oob_settings(tmp_path, **settings_extra)
    assert settings.metrics_enabled is bool(settings_extra)
    metrics = PrometheusMetrics() if settings.metrics_enabled else None
    svc = await create_services(settings, metrics=metrics)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(svc)), base_url=BASE_URL
        ) as http:
            for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
                assert_error(await http.get("/metrics", headers=headers), 404, "not_found")
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await svc.close()
    if metrics is not None:
        # Port-only: counted all the same, for the metrics port to report.
        samples = parse(metrics.exposition().decode())
        http_requests = "twofold_http_requests_total"
        assert samples[key(http_requests, method="GET", route="unmatched", status="404")] == 2
        assert samples[key(http_requests, method="GET", route="/healthz", status="200")] == 1


async def test_a_short_metrics_token_is_refused_at_start_up(tmp_path: Any) -> None:
    from twofold.app import ConfigurationError, create_services

    secret = "short-secret"
    with pytest.raises(ConfigurationError) as refused:
        await create_services(oob_settings(tmp_path, metrics_token=secret))
    assert "TWOFOLD_METRICS_TOKEN" in str(refused.value)
    assert secret not in str(refused.value)
