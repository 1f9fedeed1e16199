"""Operator actions shared by the CLI and the tests: tenants, clients, APIs, users, keys, the
audit trail. The `twofold` command calls only these (never a repository), so its rules are the
ones written here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

from twofold.core.audience import find_api
from twofold.core.client_auth import secret_hash
from twofold.core.client_urls import UrlRefused, origin_list, url_list
from twofold.core.deps import Deps
from twofold.core.encryption_rotation import RotationReport, rotate
from twofold.core.ids import new_client_id, new_client_secret, new_user_id, opaque_token
from twofold.core.models import (
    AUTH_METHODS,
    DEFAULT_REALM,
    FIRST_PARTY_GRANTS,
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_IMPLICIT,
    GRANT_WEBAUTHN,
    MFA_GRANTS,
    MFA_POLICIES,
    TENANT_SIGNING_ALGS,
    Api,
    AuthMethod,
    Client,
    SigningKey,
    Tenant,
    User,
)
from twofold.core.ports import AuditLog, EncryptedColumns
from twofold.core.tokens import generate_signing_key

KNOWN_GRANTS = frozenset(
    {
        *FIRST_PARTY_GRANTS,
        GRANT_CLIENT_CREDENTIALS,
        *MFA_GRANTS,
        GRANT_WEBAUTHN,
        GRANT_AUTHORIZATION_CODE,
        GRANT_IMPLICIT,
    }
)


class AdminError(ValueError):
    """An operator input that cannot be applied; the message is safe to print."""


def _url_fields(
    callbacks: Iterable[str], logout_urls: Iterable[str], web_origins: Iterable[str]
) -> dict[str, Any]:
    try:
        return {
            "callbacks": url_list(callbacks, "callback"),
            "allowed_logout_urls": url_list(logout_urls, "logout URL"),
            "web_origins": origin_list(web_origins),
        }
    except UrlRefused as exc:
        raise AdminError(str(exc)) from None


def _known_grants(grant_types: Iterable[str]) -> frozenset[str]:
    grants = frozenset(grant_types)
    if unknown := grants - KNOWN_GRANTS:
        raise AdminError(f"unknown grant types: {', '.join(sorted(unknown))}")
    return grants


DEMO_CLIENT_NAME = "Twofold demo app"
DEMO_EMAIL = "demo@example.com"


class Admin:
    def __init__(self, deps: Deps, encrypted_columns: EncryptedColumns) -> None:
        self._deps = deps
        self._encrypted_columns = encrypted_columns

    # ----- clients

    async def create_client(
        self,
        name: str,
        *,
        grant_types: Iterable[str] | None = None,
        auth_method: AuthMethod = "client_secret_post",
        jwks: dict[str, Any] | None = None,
        api_grants: Mapping[str, Sequence[str]] | None = None,
        callbacks: Iterable[str] = (),
        logout_urls: Iterable[str] = (),
        web_origins: Iterable[str] = (),
    ) -> tuple[Client, str | None]:
        if auth_method not in AUTH_METHODS:
            raise AdminError(f"unknown auth method {auth_method!r}")
        grants = _known_grants(grant_types) if grant_types else FIRST_PARTY_GRANTS
        if auth_method == "private_key_jwt" and not (jwks and jwks.get("keys")):
            raise AdminError("private_key_jwt needs the client's public keys (a JWKS)")
        granted: dict[str, tuple[str, ...]] = {}
        for audience, scopes in (api_grants or {}).items():
            api = await find_api(self._deps, audience)
            if api is None:
                raise AdminError(f"no API with identifier {audience!r}")
            if unknown_scopes := set(scopes) - set(api.scopes):
                raise AdminError(f"{audience} defines no scope {', '.join(sorted(unknown_scopes))}")
            # Keyed by the API's own identifier (the Management API's with its trailing slash,
            # however the operator wrote it): what the token endpoint looks up.
            granted[api.identifier] = tuple(scopes)
        if api_grants:
            grants = grants | {GRANT_CLIENT_CREDENTIALS}
        secret = new_client_secret() if auth_method.startswith("client_secret") else None
        client = Client(
            client_id=new_client_id(),
            name=name,
            auth_method=auth_method,
            grant_types=grants,
            secret_hash=secret_hash(secret) if secret else None,
            jwks=jwks,
            api_grants=granted,
            created_at=self._deps.clock.now(),
            **_url_fields(callbacks, logout_urls, web_origins),
        )
        await self._deps.storage.clients.create(client)
        self._deps.forget_web_origins()
        return client, secret

    async def get_client(self, client_id: str) -> Client:
        client = await self._deps.storage.clients.get(client_id)
        if client is None:
            raise AdminError(f"no client {client_id!r}")
        return client

    async def update_client(
        self,
        client_id: str,
        *,
        name: str | None = None,
        callbacks: Iterable[str] | None = None,
        logout_urls: Iterable[str] | None = None,
        web_origins: Iterable[str] | None = None,
        grant_types: Iterable[str] | None = None,
    ) -> Client:
        """Change a client's name, or replace its grant types or any of its URL lists (None:
        keep it)."""
        client = await self.get_client(client_id)
        fields = _url_fields(
            client.callbacks if callbacks is None else callbacks,
            client.allowed_logout_urls if logout_urls is None else logout_urls,
            client.web_origins if web_origins is None else web_origins,
        )
        if name is not None:
            if not name.strip():
                raise AdminError("a client's name cannot be empty")
            fields["name"] = name
        if grant_types is not None:
            grants = _known_grants(grant_types)
            if not grants:
                raise AdminError("a client needs at least one grant type")
            if client.api_grants:
                # Its APIs are granted through client_credentials, as at creation.
                grants |= {GRANT_CLIENT_CREDENTIALS}
            fields["grant_types"] = grants
        updated = replace(client, **fields)
        await self._deps.storage.clients.update(updated)
        self._deps.forget_client(client_id)
        self._deps.forget_web_origins()
        return updated

    async def list_clients(self) -> Sequence[Client]:
        return await self._deps.storage.clients.list()

    async def delete_client(self, client_id: str) -> None:
        """The client's tokens stop being accepted where the client is looked up (token
        endpoint, Management API) at once on this node, within the client cache's seconds on
        others; its signed access tokens for other APIs live out their lifetime."""
        if not await self._deps.storage.clients.delete(client_id):
            raise AdminError(f"no client {client_id!r}")
        self._deps.forget_client(client_id)
        self._deps.forget_web_origins()

    async def rotate_client_secret(self, client_id: str) -> str:
        """A new secret for a client_secret_* client; the old one stops working now."""
        client = await self._deps.storage.clients.get(client_id)
        if client is None:
            raise AdminError(f"no client {client_id!r}")
        if not client.auth_method.startswith("client_secret"):
            raise AdminError(f"client {client_id!r} authenticates with {client.auth_method}")
        secret = new_client_secret()
        await self._deps.storage.clients.update(replace(client, secret_hash=secret_hash(secret)))
        self._deps.forget_client(client_id)
        return secret

    async def all_scopes_of(self, audiences: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Each API's whole scope list, as `api_grants` for `create_client`. An unknown API
        maps to no scopes here; `create_client` then refuses it."""
        grants: dict[str, tuple[str, ...]] = {}
        for audience in audiences:
            api = await find_api(self._deps, audience)
            grants[audience] = api.scopes if api else ()
        return grants

    async def narrow_scopes(
        self, api_grants: Mapping[str, Sequence[str]], wanted: Sequence[str]
    ) -> dict[str, tuple[str, ...]]:
        """Keep only the `wanted` scopes of each API; a wanted scope no API defines is refused."""
        if unknown := set(wanted) - {s for scopes in api_grants.values() for s in scopes}:
            raise AdminError(f"no --audience API defines {', '.join(sorted(unknown))}")
        return {aud: tuple(s for s in scopes if s in wanted) for aud, scopes in api_grants.items()}

    # ----- APIs, users

    async def create_api(
        self,
        identifier: str,
        *,
        scopes: Sequence[str] = (),
        name: str | None = None,
        token_lifetime: int = 86_400,
    ) -> Api:
        if self._deps.is_mfa_audience(identifier):
            raise AdminError("the MFA API audience is built in")
        if self._deps.is_my_account_audience(identifier):
            raise AdminError("the My Account API audience is built in")
        if self._deps.is_management_audience(identifier):
            raise AdminError("the Management API audience is built in")
        api = Api(
            identifier=identifier,
            name=name or identifier,
            scopes=tuple(dict.fromkeys(scopes)),
            token_lifetime=token_lifetime,
            created_at=self._deps.clock.now(),
        )
        await self._deps.storage.apis.create(api)
        return api

    async def list_apis(self) -> Sequence[Api]:
        return await self._deps.storage.apis.list()

    async def create_user(
        self,
        email: str,
        password: str,
        *,
        realm: str = DEFAULT_REALM,
        username: str | None = None,
        email_verified: bool = False,
        name: str | None = None,
    ) -> User:
        if "@" not in email or len(email) > 320:
            raise AdminError("a valid email address is required")
        if len(password) < 8:
            raise AdminError("passwords must have at least 8 characters")
        user = User(
            user_id=new_user_id(),
            email=email.strip().lower(),
            password_hash=await self._deps.hasher.hash(password),
            realm=realm,
            username=username,
            email_verified=email_verified,
            name=name,
            created_at=self._deps.clock.now(),
        )
        await self._deps.storage.users.create(user)
        return user

    async def find_user(self, ref: str, *, realm: str = DEFAULT_REALM) -> User:
        """A user by id, or by email or username within `realm`."""
        user = await self._deps.storage.users.get(ref)
        if user is None:
            user = await self._deps.storage.users.find_by_login(realm, ref.strip())
        if user is None:
            raise AdminError(f"no user {ref[:320]!r} (by id, or by email in realm {realm!r})")
        return user

    # ----- tenant

    async def tenant(self) -> Tenant:
        return await self._deps.tenant()

    async def update_tenant(self, **changes: Any) -> Tenant:
        allowed = {f.name for f in fields(Tenant)}
        if unknown := set(changes) - allowed:
            raise AdminError(f"unknown tenant settings: {', '.join(sorted(unknown))}")
        if "mfa_policy" in changes and changes["mfa_policy"] not in MFA_POLICIES:
            raise AdminError("mfa_policy must be 'never' or 'always'")
        if "signing_alg" in changes and changes["signing_alg"] not in TENANT_SIGNING_ALGS:
            raise AdminError(f"signing_alg must be one of {', '.join(TENANT_SIGNING_ALGS)}")
        if "email_counts_as_factor" in changes and not isinstance(
            changes["email_counts_as_factor"], bool
        ):
            raise AdminError("email_counts_as_factor must be true or false")
        if "enabled_factors" in changes:
            changes["enabled_factors"] = frozenset(changes["enabled_factors"])
        tenant = replace(await self._deps.tenant(), **changes)
        await self._deps.storage.tenant.save(tenant)
        self._deps.forget_tenant()
        return tenant

    # ----- keys

    async def signing_keys(self) -> Sequence[SigningKey]:
        return await self._deps.storage.signing_keys.list()

    async def rotate_signing_key(self, alg: str | None = None) -> SigningKey:
        """A new current key with the tenant's `signing_alg`; with `alg`, that algorithm is saved
        as the tenant's setting first, so later rotations keep it. The previous key stays
        published, so tokens it signed (whatever their algorithm) keep verifying."""
        if alg is not None:
            # Saved before rotating: should the rotation fail, running the same command again
            # rotates once, instead of rotating twice (which would retire the old key early).
            tenant = await self.update_tenant(signing_alg=alg)
        else:
            tenant = await self._deps.tenant()
        key = generate_signing_key(self._deps.keyring, self._deps.clock.now(), tenant.signing_alg)
        await self._deps.storage.signing_keys.add_current(key)
        self._deps.forget_signer()
        return key

    async def ensure_signing_key(self) -> None:
        await self._deps.signer()

    async def rotate_encryption(self, *, batch: int, dry_run: bool = False) -> RotationReport:
        """Re-encrypt every secret at rest under the key ring's current key (see
        `encryption_rotation`)."""
        return await rotate(
            self._encrypted_columns, self._deps.keyring, batch=batch, dry_run=dry_run
        )

    # ----- audit trail

    @property
    def audit(self) -> AuditLog:
        """The audit trail, to query (newest first)."""
        return self._deps.storage.audit

    # ----- demo tenant

    async def ensure_demo(self) -> tuple[Client, str, User, str]:
        """The demo client and user for `make run`. Their secrets are never stored in clear, so
        each start sets new ones and returns them for printing."""
        deps = self._deps
        existing = [c for c in await deps.storage.clients.list() if c.name == DEMO_CLIENT_NAME]
        secret = new_client_secret()
        if existing:
            client = replace(existing[0], secret_hash=secret_hash(secret))
            await deps.storage.clients.update(client)
            deps.forget_client(client.client_id)
        else:
            client, created = await self.create_client(DEMO_CLIENT_NAME)
            assert created is not None
            secret = created
        password = opaque_token(16)
        user = await deps.storage.users.find_by_login(DEFAULT_REALM, DEMO_EMAIL)
        if user is None:
            user = await self.create_user(
                DEMO_EMAIL, password, email_verified=True, name="Demo User"
            )
        else:
            await deps.storage.users.update_password_hash(
                user.user_id, await deps.hasher.hash(password)
            )
        return client, secret, user, password
