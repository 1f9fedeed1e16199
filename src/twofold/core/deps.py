"""What every use case needs, handed in by the composition root (app.py).

The core never constructs an adapter; it receives this bundle. Signing keys are read from storage
and parsed once, then cached briefly so that a rotation made on another node is picked up without
a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from twofold.core.attempts import PASSWORD_PER_ADDRESS, PASSWORD_PER_USER, Bucket
from twofold.core.background import Background
from twofold.core.clock import Clock
from twofold.core.crypto import KeyRing
from twofold.core.models import Api, Client, SigningKey, Tenant
from twofold.core.passwords import PasswordHasher
from twofold.core.ports import (
    Channel,
    Metrics,
    NoMetrics,
    PushDeviceRepository,
    StateStore,
    Storage,
)
from twofold.core.sessions import BrowserSessions, NoBrowserSessions
from twofold.core.tokens import TokenSigner, generate_signing_key

SIGNER_CACHE_SECONDS = 30.0
# Tenant settings change rarely and are read several times per request; other nodes see a
# change within this many seconds, this node at once (Admin invalidates).
TENANT_CACHE_SECONDS = 5.0
# Clients are read by every token and challenge request. Same freshness as the tenant; only
# found clients are cached, so a client created on another node works there at once.
CLIENT_CACHE_SECONDS = 5.0
CLIENT_CACHE_MAX = 10_000
# Registered APIs are read by every grant that mints a token for one (client_credentials: its
# only read). Same freshness and rule as clients: only found APIs are cached, so an API created
# on another node works there at once.
API_CACHE_SECONDS = CLIENT_CACHE_SECONDS
API_CACHE_MAX = 10_000
T = TypeVar("T")


class _FoundCache(Generic[T]):
    """Rows read from storage by key, kept `ttl` seconds each. Only rows found are kept, so
    one created on another node is seen at once; at `limit` entries it starts afresh."""

    __slots__ = ("_entries", "_limit", "_ttl")

    def __init__(self, ttl: float, limit: int) -> None:
        self._entries: dict[str, tuple[float, T]] = {}
        self._ttl = ttl
        self._limit = limit

    async def get(
        self, now: float, key: str, load: Callable[[str], Awaitable[T | None]]
    ) -> T | None:
        cached = self._entries.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        value = await load(key)
        if value is None:
            self._entries.pop(key, None)
        else:
            if len(self._entries) >= self._limit:
                self._entries.clear()
            self._entries[key] = (now, value)
        return value

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


class _Cached(Generic[T]):
    """One value read from storage, kept for a number of seconds."""

    __slots__ = ("loaded_at", "value")

    def __init__(self) -> None:
        self.value: T | None = None
        self.loaded_at = float("-inf")

    async def get(self, now: float, ttl: float, load: Callable[[], Awaitable[T]]) -> T:
        if self.value is None or now - self.loaded_at >= ttl:
            self.value, self.loaded_at = await load(), now
        return self.value


@dataclass(frozen=True, slots=True)
class Policy:
    """Operator knobs the core reads; defaults are Auth0's values."""

    mfa_token_lifetime: int = 600
    mfa_api_token_lifetime: int = 600
    failed_attempts_capacity: int = 10
    failed_attempts_refill_seconds: float = 360.0
    # Password failures from one address across all users, and against one user from all
    # addresses (core/attempts.py); the per-user-and-address bucket is Auth0's, fixed.
    password_per_address: Bucket = PASSWORD_PER_ADDRESS
    password_per_user: Bucket = PASSWORD_PER_USER
    trusted_forwarding_clients: frozenset[str] = frozenset()
    # Out-of-band codes and the language of the messages that carry them.
    oob_code_lifetime: int = 300
    delivery_locale: str = "en"
    # Active authenticators one user may hold of each kind (a phone counts once).
    max_authenticators_per_kind: int = 5
    # /mfa/associate calls: a burst per user, refilled one every so many seconds, and at most
    # so many per mfa_token (or MFA-API token). They bound the enrolment state one user holds.
    associate_capacity: int = 20
    associate_refill_seconds: float = 60.0
    associate_per_token: int = 10
    # How long signing keys are cached: a rotation on another node is seen within this time.
    signing_key_cache_seconds: float = SIGNER_CACHE_SECONDS
    # Send caps per hour, whatever the user (core/limits.py); 0 switches one off. Per destination
    # (one phone number, sms and voice together; one email address), then tenant-wide per
    # channel: a breaker against SMS pumping and email bombing through many accounts.
    send_cap_per_phone_number: int = 10
    send_cap_per_email_address: int = 30
    send_cap_sms: int = 1000
    send_cap_voice: int = 1000
    send_cap_email: int = 5000
    send_cap_push: int = 10_000
    # Phone numbers /mfa/associate accepts: country calling codes ("+44") and regions ("US"), as
    # `contact.country_allow_list` normalises them; empty: every country.
    phone_countries: frozenset[str] = frozenset()
    # The WebAuthn relying party of passkeys: its id (a registrable domain), the name shown to
    # the user, and the origins whose ceremonies are accepted. The composition root fills them
    # from the issuer's domain unless the operator sets them.
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "Twofold"
    webauthn_origins: tuple[str, ...] = ("https://localhost",)
    # How long a /passkey/register or /passkey/challenge auth_session may be answered.
    passkey_session_lifetime: int = 300
    # Management API calls one client may make per minute (x-ratelimit-* headers, then 429).
    management_requests_per_minute: int = 1000
    # The hosted login's SSO session (core/login/sso.py): seconds it lives past its last use,
    # and after sign-in at most (Auth0's tenant defaults, 3 and 7 days).
    session_idle_lifetime: int = 3 * 86_400
    session_absolute_lifetime: int = 7 * 86_400
    # "Remember this browser" for MFA (core/login/remembered.py): seconds past its last use,
    # and after it was remembered at most.
    remember_browser_idle: int = 7 * 86_400
    remember_browser_lifetime: int = 30 * 86_400


@dataclass(slots=True)
class Deps:
    storage: Storage
    state: StateStore
    clock: Clock
    keyring: KeyRing
    hasher: PasswordHasher
    issuer: str
    policy: Policy = field(default_factory=Policy)
    # Delivery channels by name ("sms", "voice", "email", "push"); absent = not configured.
    channels: Mapping[str, Channel] = field(default_factory=dict)
    devices: PushDeviceRepository | None = None
    # Counters and timings for the operator (observability/metrics.py); off by default.
    metrics: Metrics = field(default_factory=NoMetrics)
    # Work started by a request that outlives it (import jobs); stopped at shutdown.
    background: Background = field(default_factory=Background)
    # Browsers' SSO sessions, which logout ends (none until the hosted login keeps them).
    sessions: BrowserSessions = field(default_factory=NoBrowserSessions)
    _signer: TokenSigner | None = None
    _signer_loaded_at: float = float("-inf")
    # The key rows the signer was built from: a reload that reads the same rows keeps it.
    _signer_keys: list[SigningKey] = field(default_factory=list)
    _signer_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _tenant: _Cached[Tenant] = field(default_factory=lambda: _Cached[Tenant]())
    _clients: _FoundCache[Client] = field(
        default_factory=lambda: _FoundCache[Client](CLIENT_CACHE_SECONDS, CLIENT_CACHE_MAX)
    )
    _apis: _FoundCache[Api] = field(
        default_factory=lambda: _FoundCache[Api](API_CACHE_SECONDS, API_CACHE_MAX)
    )
    _web_origins: _Cached[frozenset[str]] = field(default_factory=lambda: _Cached[frozenset[str]]())

    @property
    def mfa_audience(self) -> str:
        return f"{self.issuer}mfa/"

    @property
    def my_account_audience(self) -> str:
        return f"{self.issuer}me/"

    @property
    def userinfo_audience(self) -> str:
        return f"{self.issuer}userinfo"

    @property
    def management_audience(self) -> str:
        return f"{self.issuer}api/v2/"

    def is_management_audience(self, audience: str) -> bool:
        return audience in (self.management_audience, self.management_audience.rstrip("/"))

    def is_mfa_audience(self, audience: str) -> bool:
        # Older Auth0 docs write the MFA audience without the trailing slash; accept both.
        return audience in (self.mfa_audience, self.mfa_audience.rstrip("/"))

    def is_my_account_audience(self, audience: str) -> bool:
        return audience in (self.my_account_audience, self.my_account_audience.rstrip("/"))

    async def tenant(self) -> Tenant:
        return await self._tenant.get(
            self.clock.now(), TENANT_CACHE_SECONDS, self.storage.tenant.get
        )

    def forget_tenant(self) -> None:
        self._tenant.value = None

    async def client(self, client_id: str) -> Client | None:
        return await self._clients.get(self.clock.now(), client_id, self.storage.clients.get)

    def forget_client(self, client_id: str) -> None:
        self._clients.forget(client_id)

    async def api(self, identifier: str) -> Api | None:
        """The registered API with this identifier (the built-in ones are not stored)."""
        return await self._apis.get(self.clock.now(), identifier, self.storage.apis.get)

    async def web_origins(self) -> frozenset[str]:
        """Every client's web origins together (what a CORS preflight is checked against),
        as fresh as the client cache."""
        return await self._web_origins.get(
            self.clock.now(), CLIENT_CACHE_SECONDS, self.storage.clients.web_origins
        )

    def forget_web_origins(self) -> None:
        self._web_origins.value = None

    async def signer(self) -> TokenSigner:
        now = self.clock.now()
        ttl = self.policy.signing_key_cache_seconds
        if self._signer is not None and now - self._signer_loaded_at < ttl:
            return self._signer
        async with self._signer_lock:
            if self._signer is None or now - self._signer_loaded_at >= ttl:
                keys = await self.storage.signing_keys.list()
                if not keys:
                    # The first key: the tenant's chosen algorithm (RS256 unless set).
                    alg = (await self.tenant()).signing_alg
                    await self.storage.signing_keys.add_current(
                        generate_signing_key(self.keyring, now, alg)
                    )
                    keys = await self.storage.signing_keys.list()
                live = [k for k in keys if k.status != "retired"]
                if self._signer is None or live != self._signer_keys:
                    # Building a signer checks the private key (an RSA one: ~75 ms of CPU on
                    # the loop's thread, every cache period); unchanged rows need no new one.
                    self._signer = TokenSigner(live, self.keyring)
                    self._signer_keys = live
                self._signer_loaded_at = now
            return self._signer

    def forget_signer(self) -> None:
        self._signer = None
