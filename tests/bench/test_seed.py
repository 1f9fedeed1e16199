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
from click.testing import CliRunner
from seed import SeedError, SeedSpec, issue_mfa_tokens, reset_factors, seed_group, seed_users

from twofold.app import build_app, create_services
from twofold.config import Settings
from twofold.core.factors import totp_codes as totp
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
