"""Migration 0003 and the tenant's signing_alg on SQLite and PostgreSQL: an existing tenant row
becomes RS256 (what every key was before), and the setting round-trips."""

from __future__ import annotations

import pytest

from twofold.core.models import TENANT_SIGNING_ALGS, Tenant
from twofold.storage.repositories import SqlStorage

from ._migrations import tenant_after_upgrade

pytestmark = pytest.mark.anyio


async def test_existing_tenant_becomes_rs256(database_url: str) -> None:
    tenant = await tenant_after_upgrade(
        database_url,
        "0002",
        "INSERT INTO tenant (id, friendly_name, mfa_policy, enabled_factors,"
        " recovery_codes_enabled, access_token_lifetime, id_token_lifetime,"
        " refresh_token_lifetime) VALUES (1, 'Acme', 'never', '[\"otp\"]', true,"
        " 600, 300, 3600)",
    )
    assert tenant.friendly_name == "Acme"
    assert tenant.signing_alg == "RS256"


@pytest.mark.parametrize("alg", TENANT_SIGNING_ALGS)
async def test_signing_alg_round_trips(storage: SqlStorage, alg: str) -> None:
    await storage.tenant.save(Tenant(friendly_name="Acme", signing_alg=alg))  # type: ignore[arg-type]
    assert (await storage.tenant.get()).signing_alg == alg
    await storage.tenant.save(Tenant())
    assert (await storage.tenant.get()).signing_alg == "RS256"
