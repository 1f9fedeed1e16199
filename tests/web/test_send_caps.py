"""Send caps through the real app, settings to delivery: a phone number or an email address gets
only so many messages an hour whoever asks, a tenant-wide cap per channel trips with an audit
row and a warning, phone numbers outside the country allow-list are refused at enrolment, and a
refused send costs the user nothing. SMS goes to a fake Twilio over HTTP, email to a real SMTP
server (aiosmtpd); codes and counts are read from what they received."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from twofold.core.clock import FrozenClock

from .fake_twilio import FakeTwilio, settings_for
from .oob_support import SmtpSink, associate_oob, oob_settings
from .support import BASE_URL, PASSWORD, Harness, assert_error

pytestmark = pytest.mark.anyio
FACTORS = {"otp", "sms", "voice", "email", "recovery-code"}
FROM = "Twofold <no-reply@twofold.test>"
VICTIM = "+1 650 253 0000"
VICTIM_E164 = "+16502530000"
TOO_MANY = "Too many messages sent. Try again later."
COUNTRY_REFUSED = "Phone numbers from this country are not accepted"


def uk_number(i: int) -> str:
    return f"+44 20 7946 {i:04d}"


@pytest.fixture
def serve(tmp_path: Any, clock: FrozenClock, twilio: FakeTwilio, smtp: SmtpSink) -> Any:
    """`async with serve(**settings) as env`: the app on these settings, delivery configured."""

    @asynccontextmanager
    async def serving(**extra: Any) -> AsyncIterator[Harness]:
        from twofold.app import build_app, create_services

        settings = oob_settings(
            tmp_path, **settings_for(twilio), smtp_url=smtp.url, email_from=FROM, **extra
        )
        services = await create_services(settings, clock=clock)
        try:
            await services.admin.update_tenant(mfa_policy="always", enabled_factors=FACTORS)
            transport = httpx.ASGITransport(app=build_app(services))
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
                yield Harness(http, services, clock)
        finally:
            await services.close()

    return serving


async def _token_for(env: Harness, client: Any, email: str) -> str:
    # Unverified: a verified email would be a factor already, and enrolment would need it first.
    await env.admin.create_user(email, PASSWORD, email_verified=False)
    return await env.mfa_token(client, username=email)


async def _phones(env: Harness, bearer: str) -> list[Any]:
    """The user's phone authenticators, confirmed or not (the list shows both)."""
    listed = (await env.list_authenticators(bearer)).json()
    return [a for a in listed if a.get("oob_channel") in ("sms", "voice")]


def _sent_to(twilio: FakeTwilio, number: str) -> int:
    return sum(1 for r in twilio.received if r.to == number)


async def test_one_number_is_capped_across_users(serve, twilio):
    async with serve(send_cap_per_phone_number=2) as env:
        client = await env.client()
        ada = await _token_for(env, client, "ada@example.com")
        bob = await _token_for(env, client, "bob@example.com")
        for _ in range(2):  # a re-associate sends again (and replaces the unconfirmed one)
            resp = await associate_oob(env, ada, "sms", phone_number=VICTIM)
            assert resp.status_code == 200, resp.text

        refused = await associate_oob(env, bob, "voice", phone_number=VICTIM)
        assert_error(refused, 429, "too_many_requests", TOO_MANY)
        assert refused.headers["x-ratelimit-limit"] == "2"
        assert int(refused.headers["retry-after"]) == 1800
        assert await _phones(env, bob) == []
        assert _sent_to(twilio, VICTIM_E164) == 2
        # Only that number is capped: Bob enrols another one at once.
        ok = await associate_oob(env, bob, "sms", phone_number=uk_number(1))
        assert ok.status_code == 200, ok.text


async def test_one_email_address_is_capped_across_users(serve, smtp):
    async with serve(send_cap_per_email_address=2) as env:
        client = await env.client()
        ada = await _token_for(env, client, "ada@example.com")
        bob = await _token_for(env, client, "bob@example.com")
        resp = await associate_oob(env, ada, "email", email="victim@mail.test")
        assert resp.status_code == 200, resp.text
        resp = await associate_oob(env, bob, "email", email="Victim+bob@Mail.test")
        assert resp.status_code == 200, resp.text

        refused = await associate_oob(env, bob, "email", email="victim+again@mail.test")
        assert_error(refused, 429, "too_many_requests", TOO_MANY)
        assert refused.headers["x-ratelimit-limit"] == "2"
        assert len(smtp.messages_to("victim@mail.test")) == 1
        assert len(smtp.messages_to("victim+bob@mail.test")) == 1
        assert not smtp.messages_to("victim+again@mail.test")


async def test_tenant_breaker_trips_with_an_audit_row_and_a_warning(serve, twilio, caplog):
    caplog.set_level(logging.WARNING)
    async with serve(send_cap_sms=3) as env:
        client = await env.client()
        for i in range(3):
            token = await _token_for(env, client, f"user{i}@example.com")
            resp = await associate_oob(env, token, "sms", phone_number=uk_number(i))
            assert resp.status_code == 200, resp.text

        pumper_user = await env.admin.create_user(
            "pumper@example.com", PASSWORD, email_verified=False
        )
        pumper_id = pumper_user.user_id
        pumper = await env.mfa_token(client, username="pumper@example.com")
        refused = await associate_oob(env, pumper, "sms", phone_number=VICTIM)
        assert_error(refused, 429, "too_many_requests", TOO_MANY)
        assert refused.headers["x-ratelimit-limit"] == "3"
        for i in range(3, 6):  # still refused, and reported only once
            again = await associate_oob(env, pumper, "sms", phone_number=uk_number(i))
            assert_error(again, 429, "too_many_requests")
        assert len(twilio.received) == 3

        # Voice has a breaker of its own, not tripped.
        voice = await associate_oob(env, pumper, "voice", phone_number=VICTIM)
        assert voice.status_code == 200, voice.text

        events = await env.services.deps.storage.audit.query(types=["limit_send_tenant"])
        assert len(events) == 1
        [event] = events
        assert event.user_id == pumper_id
        assert event.details["channel"] == "sms"
        assert event.details["cap_per_hour"] == 3
        assert event.details["destination"] == "XXXXXXXX0000"
        assert VICTIM_E164 not in str(event.details)
        warnings = [r for r in caplog.records if "send cap" in r.getMessage()]
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING
        assert "sms" in warnings[0].getMessage()
        assert "6502530000" not in caplog.text


async def test_country_outside_the_allow_list_is_refused_at_associate(serve, twilio):
    async with serve(phone_countries=["GB", "+49"]) as env:
        client = await env.client()
        token = await _token_for(env, client, "ada@example.com")
        for channel in ("sms", "voice"):
            refused = await associate_oob(env, token, channel, phone_number=VICTIM)
            assert_error(refused, 400, "invalid_request", COUNTRY_REFUSED)
            assert "650" not in refused.text
        assert await _phones(env, token) == []
        assert not twilio.received

        for number in (uk_number(7), "+49 151 12345678"):
            resp = await associate_oob(env, token, "sms", phone_number=number)
            assert resp.status_code == 200, resp.text
        assert len(twilio.received) == 2


async def test_a_refused_send_does_not_spend_the_users_budget(serve, twilio):
    # Enough associates for one mfa_token that only the send limits answer here.
    async with serve(
        send_cap_per_phone_number=1, associate_capacity=100, associate_per_token=100
    ) as env:
        client = await env.client()
        owner = await _token_for(env, client, "owner@example.com")
        assert (await associate_oob(env, owner, "sms", phone_number=VICTIM)).status_code == 200

        pumper = await _token_for(env, client, "pumper@example.com")
        for _ in range(12):
            refused = await associate_oob(env, pumper, "sms", phone_number=VICTIM)
            assert_error(refused, 429, "too_many_requests")
            assert refused.headers["x-ratelimit-limit"] == "1"
        # The whole burst of 10 is still there (each to a number of its own)…
        for i in range(10):
            resp = await associate_oob(env, pumper, "sms", phone_number=uk_number(i))
            assert resp.status_code == 200, resp.text
        # …and then the user's own limit answers, not a cap.
        limited = await associate_oob(env, pumper, "sms", phone_number=uk_number(10))
        assert_error(limited, 429, "too_many_requests")
        assert limited.headers["x-ratelimit-limit"] == "10"
        assert int(limited.headers["retry-after"]) == 3600
        assert _sent_to(twilio, VICTIM_E164) == 1
