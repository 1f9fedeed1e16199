"""Migration 0004 and the tenant's email_counts_as_factor on SQLite and PostgreSQL: an existing
tenant row gets the strict setting (email counts), and the setting round-trips."""

from __future__ import annotations

import pytest

from twofold.core.models import Tenant
from twofold.storage.repositories import SqlStorage

from ._migrations import tenant_after_upgrade

pytestmark = pytest.mark.anyio


async def test_existing_tenant_counts_email_as_a_factor(database_url: str) -> None:
    tenant = await tenant_after_upgrade(
        database_url,
        "0003",
        "INSERT INTO tenant (id, friendly_name, mfa_policy, enabled_factors,"
        " recovery_codes_enabled, access_token_lifetime, id_token_lifetime,"
        " refresh_token_lifetime, signing_alg) VALUES (1, 'Acme', 'always',"
        " '[\"email\", \"otp\"]', true, 600, 300, 3600, 'RS256')",
    )
    assert tenant.friendly_name == "Acme"
    assert tenant.email_counts_as_factor is True


async def test_email_counts_as_factor_round_trips(storage: SqlStorage) -> None:
    await storage.tenant.save(Tenant(friendly_name="Acme", email_counts_as_factor=False))
    assert (await storage.tenant.get()).email_counts_as_factor is False
    await storage.tenant.save(Tenant())
    assert (await storage.tenant.get()).email_counts_as_factor is True
