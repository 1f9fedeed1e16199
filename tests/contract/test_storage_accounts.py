"""Contract: TenantRepository, ClientRepository, ApiRepository, UserRepository."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from sqlalchemy import text

from twofold.core.models import (
    DEFAULT_REALM,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_MFA_OTP,
    GRANT_PASSWORD,
    Api,
    Client,
    Tenant,
    User,
)
from twofold.core.ports import Conflict, Storage
from twofold.storage.repositories import SqlStorage

pytestmark = pytest.mark.anyio

MakeUser = Callable[..., Awaitable[User]]


async def test_sql_storage_satisfies_the_storage_port(storage: SqlStorage) -> None:
    # Static check (mypy) as much as a runtime one: SqlStorage must be assignable to Storage.
    port: Storage = storage
    assert port.tenant is storage.tenant


# --- tenant ----------------------------------------------------------------------------------


async def test_tenant_defaults_without_a_row(storage: SqlStorage) -> None:
    assert await storage.tenant.get() == Tenant()


async def test_tenant_save_round_trips_and_overwrites(storage: SqlStorage) -> None:
    custom = Tenant(
        friendly_name="Acme",
        mfa_policy="never",
        enabled_factors=frozenset({"otp", "sms", "email"}),
        recovery_codes_enabled=False,
        access_token_lifetime=600,
        id_token_lifetime=300,
        refresh_token_lifetime=3600,
        default_audience="https://api.acme.test",
    )
    await storage.tenant.save(custom)
    assert await storage.tenant.get() == custom

    again = Tenant(friendly_name="Acme 2")
    await storage.tenant.save(again)
    assert await storage.tenant.get() == again


# --- clients ---------------------------------------------------------------------------------


def _client(client_id: str = "cid1", created_at: float = 10.0) -> Client:
    return Client(
        client_id=client_id,
        name="Web app",
        auth_method="private_key_jwt",
        grant_types=frozenset({GRANT_PASSWORD, GRANT_MFA_OTP, GRANT_CLIENT_CREDENTIALS}),
        secret_hash=None,
        jwks={"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "kid": "k1"}]},
        api_grants={"https://api.test": ("read:x", "write:x"), "https://other.test": ()},
        created_at=created_at,
        callbacks=("https://app.test/cb", "http://localhost:3000/cb"),
        allowed_logout_urls=("https://app.test/bye",),
        web_origins=("https://app.test",),
    )


async def test_client_create_get_round_trip(storage: SqlStorage) -> None:
    assert await storage.clients.get("cid1") is None
    client = _client()
    await storage.clients.create(client)
    assert await storage.clients.get("cid1") == client


async def test_client_minimal_round_trip(storage: SqlStorage) -> None:
    client = Client("cid2", "CLI", "client_secret_post", frozenset(), secret_hash="$argon2id$x")
    await storage.clients.create(client)
    assert await storage.clients.get("cid2") == client


async def test_client_duplicate_id_conflicts(storage: SqlStorage) -> None:
    await storage.clients.create(_client())
    with pytest.raises(Conflict):
        await storage.clients.create(_client())


async def test_client_list_in_creation_order(storage: SqlStorage) -> None:
    assert await storage.clients.list() == []
    await storage.clients.create(_client("b", created_at=2.0))
    await storage.clients.create(_client("a", created_at=3.0))
    await storage.clients.create(_client("c", created_at=1.0))
    assert [c.client_id for c in await storage.clients.list()] == ["c", "b", "a"]


async def test_client_update_replaces_settings_but_not_created_at(storage: SqlStorage) -> None:
    await storage.clients.create(_client())
    changed = Client(
        client_id="cid1",
        name="Renamed",
        auth_method="client_secret_basic",
        grant_types=frozenset({GRANT_PASSWORD}),
        secret_hash="$argon2id$new",
        jwks=None,
        api_grants={},
        created_at=999.0,
    )
    await storage.clients.update(changed)
    got = await storage.clients.get("cid1")
    assert got is not None
    assert got.name == "Renamed"
    assert got.auth_method == "client_secret_basic"
    assert got.grant_types == frozenset({GRANT_PASSWORD})
    assert got.secret_hash == "$argon2id$new"
    assert got.jwks is None
    assert got.api_grants == {}
    assert got.created_at == 10.0


async def test_client_urls_update_and_web_origins_of_all_clients(storage: SqlStorage) -> None:
    assert await storage.clients.web_origins() == frozenset()
    await storage.clients.create(_client("a"))
    await storage.clients.create(
        replace(_client("b"), web_origins=("https://b.test", "https://c.test"))
    )
    await storage.clients.create(replace(_client("none"), web_origins=()))
    assert await storage.clients.web_origins() == {
        "https://app.test",
        "https://b.test",
        "https://c.test",
    }

    await storage.clients.update(
        replace(_client("a"), callbacks=(), web_origins=("https://d.test",))
    )
    got = await storage.clients.get("a")
    assert got is not None
    assert (got.callbacks, got.allowed_logout_urls) == ((), ("https://app.test/bye",))
    assert await storage.clients.web_origins() == {
        "https://d.test",
        "https://b.test",
        "https://c.test",
    }
    assert await storage.clients.delete("b")
    assert await storage.clients.web_origins() == {"https://d.test"}


async def test_client_update_of_unknown_client_creates_nothing(storage: SqlStorage) -> None:
    await storage.clients.update(_client("ghost"))
    assert await storage.clients.get("ghost") is None


# --- apis ------------------------------------------------------------------------------------


async def test_api_create_get_list(storage: SqlStorage) -> None:
    assert await storage.apis.get("https://api.test") is None
    assert await storage.apis.list() == []
    first = Api("https://api.test", "API", ("read:x", "write:x"), 600, created_at=1.0)
    second = Api("urn:other", "Other", created_at=2.0)
    await storage.apis.create(second)
    await storage.apis.create(first)
    assert await storage.apis.get("https://api.test") == first
    assert await storage.apis.list() == [first, second]


async def test_api_duplicate_identifier_conflicts(storage: SqlStorage) -> None:
    await storage.apis.create(Api("urn:a", "A"))
    with pytest.raises(Conflict):
        await storage.apis.create(Api("urn:a", "B"))


# --- users -----------------------------------------------------------------------------------


async def test_user_create_get_round_trip(storage: SqlStorage) -> None:
    assert await storage.users.get("auth0|1") is None
    user = User(
        user_id="auth0|1",
        email="ann@example.com",
        password_hash="$argon2id$h",
        username="ann",
        email_verified=True,
        name="Ann",
        created_at=5.0,
    )
    await storage.users.create(user)
    assert await storage.users.get("auth0|1") == user


async def test_user_email_is_stored_lowercased(storage: SqlStorage) -> None:
    await storage.users.create(User("auth0|1", "Ann.Lee@Example.COM", "h"))
    got = await storage.users.get("auth0|1")
    assert got is not None
    assert got.email == "ann.lee@example.com"


async def test_find_by_login(storage: SqlStorage, make_user: MakeUser) -> None:
    ann = await make_user("auth0|1", email="Ann@Example.com", username="ann")
    await make_user("auth0|2", email="bob@example.com")
    other_realm = await make_user("auth0|3", email="ann@example.com", realm="corp")

    by_email = await storage.users.find_by_login(DEFAULT_REALM, "ANN@example.COM")
    assert by_email is not None
    assert by_email.user_id == ann.user_id
    by_username = await storage.users.find_by_login(DEFAULT_REALM, "ann")
    assert by_username is not None
    assert by_username.user_id == ann.user_id
    in_corp = await storage.users.find_by_login("corp", "ann@example.com")
    assert in_corp is not None
    assert in_corp.user_id == other_realm.user_id

    assert await storage.users.find_by_login("corp", "ann") is None
    assert await storage.users.find_by_login(DEFAULT_REALM, "nobody@example.com") is None
    assert await storage.users.find_by_login("no-such-realm", "ann@example.com") is None


async def test_find_by_login_prefers_the_email_owner(
    storage: SqlStorage, make_user: MakeUser
) -> None:
    await make_user("auth0|1", username="carol@example.com", email="x@example.com")
    owner = await make_user("auth0|2", email="carol@example.com")
    found = await storage.users.find_by_login(DEFAULT_REALM, "carol@example.com")
    assert found is not None
    assert found.user_id == owner.user_id


async def test_user_conflicts(storage: SqlStorage, make_user: MakeUser) -> None:
    await make_user("auth0|1", email="ann@example.com", username="ann")
    with pytest.raises(Conflict):
        await make_user("auth0|1", email="other@example.com")
    with pytest.raises(Conflict):
        await make_user("auth0|2", email="ANN@example.com")
    with pytest.raises(Conflict):
        await make_user("auth0|3", email="new@example.com", username="ann")
    # The same email or username in another realm, and several users without a username, are fine.
    await make_user("auth0|4", email="ann@example.com", username="ann", realm="corp")
    await make_user("auth0|5", email="e5@example.com")
    await make_user("auth0|6", email="e6@example.com")


async def test_update_password_hash(storage: SqlStorage, make_user: MakeUser) -> None:
    await make_user("auth0|1")
    await storage.users.update_password_hash("auth0|1", "$argon2id$rehashed")
    got = await storage.users.get("auth0|1")
    assert got is not None
    assert got.password_hash == "$argon2id$rehashed"
    await storage.users.update_password_hash("auth0|missing", "x")  # no error, no row


async def test_deleting_a_user_cascades(storage: SqlStorage, make_user: MakeUser) -> None:
    # Proves foreign_keys=ON on every pooled connection: SQLite ignores ON DELETE otherwise.
    from twofold.core.models import Authenticator

    await make_user("auth0|1")
    await storage.authenticators.add(Authenticator("totp|dev_1", "auth0|1", "totp", True, 1.0))
    await storage.recovery_codes.set("auth0|1", "hash", 1.0)
    async with storage.database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM users WHERE user_id = 'auth0|1'"))
    assert await storage.authenticators.get("totp|dev_1") is None
    assert await storage.recovery_codes.get_hash("auth0|1") is None


async def test_lookups_with_unstorable_values_find_nothing(
    storage: SqlStorage, make_user: MakeUser
) -> None:
    # A NUL character (from a Basic header or a URL path) can be in no row; PostgreSQL refuses
    # to compare with it, SQLite finds nothing: both must answer "not found", not raise.
    await make_user("auth0|u1")
    odd = "auth0|u1\x00"
    assert await storage.clients.get(odd) is None
    assert await storage.apis.get(odd) is None
    assert await storage.users.get(odd) is None
    assert await storage.users.find_by_login(DEFAULT_REALM, odd) is None
    assert await storage.authenticators.get(odd) is None
    assert await storage.authenticators.list_for_user(odd) == []
    assert await storage.recovery_codes.get_hash(odd) is None
    assert await storage.refresh_tokens.get(odd) is None
