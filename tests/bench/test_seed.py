"""bench/seed.py writes users the server takes for enrolled ones: a seeded user logs in with the
shared password, passes MFA with the TOTP code and the recovery code derived from the seed, and
`reset_factors` makes a used recovery code valid again. It runs against the server's real tables,
so a schema change that the seeder misses fails here rather than in a benchmark."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner
from seed import (
    MFA_ATTEMPTS_KEY,
    SeedError,
    SeedSpec,
    issue_mfa_tokens,
    reset_factors,
    seed_group,
    seed_users,
)

from contract._backends import REDIS_URL, redis_prefix
from twofold.app import build_app, create_services
from twofold.config import Settings
from twofold.core.factors import totp_codes as totp
from twofold.state.redis import GRACE_MS, RedisStateStore
from web.support import (
    BASE_URL,
    GRANT_OTP,
    GRANT_PASSWORD,
    GRANT_RECOVERY,
    operator_env,
)

PASSWORD = "seeded-password"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    operator_env(monkeypatch, tmp_path, "seed.db")
    return Settings()


def test_seeded_users_log_in_with_their_derived_factors(settings: Settings) -> None:
    spec = SeedSpec(seed="test-seed", prefix="t")
    report = seed_users(settings, spec, 3, PASSWORD, batch=2)
    assert report.count == 3

    async def flow() -> None:
        services = await create_services(settings)
        transport = httpx.ASGITransport(app=build_app(services))
        try:
            client, secret = await services.admin.create_client("bench")
            creds = {"client_id": client.client_id, "client_secret": secret}
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:

                async def token(**form: str) -> httpx.Response:
                    return await http.post("/oauth/token", data={**creds, **form})

                login = await token(
                    grant_type=GRANT_PASSWORD, username=spec.email(2), password=PASSWORD
                )
                assert login.status_code == 403, login.text
                assert login.json()["error"] == "mfa_required"
                otp = totp.code_at(spec.totp_secret(2), time.time())
                passed = await token(
                    grant_type=GRANT_OTP, mfa_token=login.json()["mfa_token"], otp=otp
                )
                assert passed.status_code == 200, passed.text

                for round_ in range(2):
                    (mfa_token,) = await asyncio.to_thread(
                        issue_mfa_tokens, settings, spec, [1], client_id=client.client_id
                    )
                    recovered = await token(
                        grant_type=GRANT_RECOVERY,
                        mfa_token=mfa_token,
                        recovery_code=spec.recovery_code(1),
                    )
                    assert recovered.status_code == 200, (round_, recovered.text)
                    # The code is spent (a new one was handed out): reset puts it back.
                    await asyncio.to_thread(reset_factors, settings, spec, [1])
        finally:
            await services.close()

    asyncio.run(flow())


def _sql_state_rows(settings: Settings) -> int:
    import sqlalchemy as sa

    from twofold.storage.database import make_sync_engine
    from twofold.storage.tables import state

    engine = make_sync_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(state)) or 0)
    finally:
        engine.dispose()


def test_with_redis_state_tokens_and_attempt_buckets_live_where_the_server_looks(
    settings: Settings,
) -> None:
    """With TWOFOLD_REDIS_URL the server keeps its state in Redis: the seeded mfa_tokens must be
    there, under the server's key prefix, readable by its store and with its TTL, and
    `reset_factors` must clear the attempt bucket a wrong code leaves behind."""
    spec = SeedSpec(seed="redis-seed", prefix="r")
    seed_users(settings, spec, 2, PASSWORD)

    async def flow() -> None:
        async with redis_prefix("bench-seed") as prefix:
            redis_settings = settings.model_copy(
                update={"redis_url": REDIS_URL, "redis_prefix": prefix}
            )
            services = await create_services(redis_settings)
            assert isinstance(services.state, RedisStateStore)
            raw = aioredis.Redis.from_url(REDIS_URL)
            transport = httpx.ASGITransport(app=build_app(services))
            try:
                client, secret = await services.admin.create_client("bench")
                creds = {"client_id": client.client_id, "client_secret": secret}

                def issue(index: int) -> list[str]:
                    return issue_mfa_tokens(
                        redis_settings, spec, [index], client_id=client.client_id
                    )

                (mfa_token,) = await asyncio.to_thread(issue, 1)
                (key,) = [k async for k in raw.scan_iter(match=f"{prefix}mfa:*")]
                assert _sql_state_rows(settings) == 0
                lifetime = redis_settings.mfa_token_lifetime + 3600
                assert 0 < lifetime * 1000 + GRACE_MS - await raw.pttl(key) < 60_000
                assert await services.state.get(key.decode()[len(prefix) :]) is not None

                async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:

                    async def token(**form: str) -> httpx.Response:
                        return await http.post("/oauth/token", data={**creds, **form})

                    wrong = await token(
                        grant_type=GRANT_RECOVERY, mfa_token=mfa_token, recovery_code="X" * 24
                    )
                    assert wrong.status_code == 403, wrong.text
                    bucket = (prefix + MFA_ATTEMPTS_KEY.format(user_id=spec.user_id(1))).encode()
                    assert await raw.exists(bucket)
                    await asyncio.to_thread(reset_factors, redis_settings, spec, [1])
                    assert not await raw.exists(bucket)

                    for round_ in range(2):
                        (mfa_token,) = await asyncio.to_thread(issue, 1)
                        recovered = await token(
                            grant_type=GRANT_RECOVERY,
                            mfa_token=mfa_token,
                            recovery_code=spec.recovery_code(1),
                        )
                        assert recovered.status_code == 200, (round_, recovered.text)
                        await asyncio.to_thread(reset_factors, redis_settings, spec, [1])
            finally:
                await raw.aclose()
                await services.close()

    asyncio.run(flow())


def test_seeding_is_refused_in_production(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SeedError, match="refused in production"):
        seed_users(
            settings.model_copy(update={"environment": "production"}), SeedSpec("s"), 1, PASSWORD
        )
    monkeypatch.setenv("TWOFOLD_ENVIRONMENT", "production")
    result = CliRunner().invoke(seed_group, ["users", "--count", "1", "--password", PASSWORD])
    assert result.exit_code == 1
    assert "refused in production" in result.stderr
