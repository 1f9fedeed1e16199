"""One Settings object, read from TWOFOLD_* environment variables and an optional TOML file.

Validated once at start-up; everything else receives the object, never the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from twofold.core.deps import Policy

# The core's defaults (Auth0's values) are the operator's defaults: one place says them.
POLICY = Policy()
DEFAULT_DATA_DIR = Path("var")
# The issuer when TWOFOLD_DOMAIN is unset and nothing derived one (`twofold serve` does).
FALLBACK_DOMAIN = "127.0.0.1:8080"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
DATABASE_URL_HELP = "expected sqlite:///path/to/twofold.db or postgresql://user@host:5432/dbname"
KEYS_HELP = (
    "expected kid:base64key[,kid2:base64key2] with 32-byte keys, e.g. k1:$(openssl rand -base64 32)"
)

# Each absolute lifetime setting, and the idle lifetime it may not be shorter than.
IDLE_OF = {
    "session_absolute_lifetime": "session_idle_lifetime",
    "remember_browser_lifetime": "remember_browser_idle",
}

# A burst of failures or calls one subject may spend before it is refused.
Budget = Annotated[int, Field(ge=1, le=1_000_000)]
# A count of connections or calls.
Capacity = Annotated[int, Field(ge=1, le=10_000)]
# Messages per hour over a whole delivery channel (0: no cap).
ChannelCap = Annotated[int, Field(ge=0, le=100_000_000)]
# Messages per hour to one phone number or email address (0: no cap).
DestinationCap = Annotated[int, Field(ge=0, le=1_000_000)]
# Seconds a client has to send a part of its request.
ReadTimeout = Annotated[float, Field(gt=0, le=3600)]
# Seconds until an attempt bucket gains one more try.
RefillSeconds = Annotated[float, Field(gt=0, le=86_400)]
# Seconds to wait for a backend (a pooled connection, a connect, a Redis reply).
Timeout = Annotated[float, Field(gt=0, le=300)]
# Seconds a browser's session or remembered browser lives (one year at most, Auth0's ceiling).
BrowserLifetime = Annotated[int, Field(ge=1, le=365 * 86_400)]


def country_allow_list(entries: Iterable[str | int]) -> frozenset[str]:
    """The operator's allow-list in normal form: `+<calling code>` or an upper-case region.

    Accepts `44`, `+44`, `"44"` and `us`, `US`; raises ValueError naming an entry that is neither
    a calling code nor a region libphonenumber knows.
    """
    allowed: set[str] = set()
    for entry in entries:
        text = str(entry).strip()
        code = text.removeprefix("+")
        if code.isascii() and code.isdigit() and len(code) <= 3:
            if int(code) not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                raise ValueError(f"unknown country calling code {text[:8]!r}")
            allowed.add(f"+{int(code)}")
        elif text.upper() in phonenumbers.SUPPORTED_REGIONS:
            allowed.add(text.upper())
        else:
            raise ValueError(
                f"{text[:8]!r} is neither a country calling code (44) nor a region (GB)"
            )
    return frozenset(allowed)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TWOFOLD_",
        extra="forbid",
        toml_file=os.environ.get("TWOFOLD_CONFIG_FILE") or None,
    )

    environment: Literal["development", "production", "test"] = "development"
    # Host (and port) clients use to reach us; the issuer is https://{domain}/. Outside
    # production, "http://host:port" keeps plain HTTP (a development server without TLS).
    # Empty: `twofold serve` derives it from what it serves (refused in production).
    domain: str = ""
    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / 'twofold.db'}"
    # "kid:base64key,kid2:base64key", first is current. Empty: a key file under data_dir
    # is created on first start (development convenience; production must set it).
    encryption_keys: str = ""
    data_dir: Path = DEFAULT_DATA_DIR
    log_level: str = "info"
    log_format: Literal["json", "console"] = "json"

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    hashing_concurrency: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    mfa_token_lifetime: int = Field(default=POLICY.mfa_token_lifetime, ge=30)
    # Management API calls one client may make per minute (then 429 too_many_requests).
    management_requests_per_minute: Budget = POLICY.management_requests_per_minute
    max_body_bytes: int = Field(default=65_536, ge=1024)
    # `twofold serve` (serving.py): seconds a client has to send a request head (its connection
    # is then closed) and, after the head, the body (408).
    header_read_timeout: ReadTimeout = 10.0
    body_read_timeout: ReadTimeout = 30.0
    # Clients whose auth0-forwarded-for header is believed (server-side apps).
    # Comma-separated in the environment (a JSON list works too).
    trusted_forwarding_clients: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Password failures (docs/configuration.md "Abuse limits"): from one address across all
    # users, and against one user from all addresses. Each: a burst, then one more every
    # `_refill` seconds.
    password_failures_per_address: Budget = 100
    password_failures_per_address_refill: RefillSeconds = 864.0
    password_failures_per_user: Budget = 500
    password_failures_per_user_refill: RefillSeconds = 60.0

    # Scale-out (docs/deploy.md). Database pool per worker process: pool_size connections kept,
    # up to max_overflow more under load, pool_timeout seconds to wait for one. No overflow by
    # default: overflow connections are closed as soon as they are returned, so steady load
    # above pool_size opened and closed a PostgreSQL connection per burst (half the throughput
    # of /mfa/challenge in bench/ went to that).
    # At least 2: starting on PostgreSQL holds one connection for an advisory lock while the
    # first signing key is written through another.
    db_pool_size: int = Field(default=15, ge=2, le=1000)
    db_max_overflow: int = Field(default=0, ge=0, le=1000)
    db_pool_timeout: Timeout = 10.0
    db_connect_timeout: Timeout = 5.0
    # psycopg prepares a statement on the server once it has run five times on a connection.
    # PgBouncer in transaction mode before 1.21 (or without max_prepared_statements) hands each
    # transaction a different server connection, where that statement does not exist: off.
    db_prepared_statements: bool = True
    # Redis for short-lived state (mfa_tokens, challenges, attempt buckets); empty: the database.
    redis_url: str = ""
    redis_prefix: str = "twofold:"
    redis_timeout: Timeout = 5.0
    redis_max_connections: Capacity = 50
    # Seconds a node keeps its signing keys before reading them again: a `twofold keys rotate`
    # reaches every node within this time.
    signing_key_cache_seconds: float = Field(
        default=POLICY.signing_key_cache_seconds, ge=1, le=3600
    )

    # Delivery of out-of-band codes and push notifications (docs/delivery.md). A channel left
    # unset is inferred: email → smtp when smtp_url is set, sms/voice → twilio when a Twilio
    # account is set, push → webhook when a webhook URL is set.
    email_channel: Literal["smtp", "webhook", "console"] | None = None
    sms_channel: Literal["twilio", "webhook", "console"] | None = None
    voice_channel: Literal["twilio", "webhook", "console"] | None = None
    push_channel: Literal["webhook", "console"] | None = None
    smtp_url: str = ""
    email_from: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    webhook_url: str = ""
    webhook_secret: str = ""
    push_webhook_url: str = ""
    delivery_timeout: float = Field(default=10.0, gt=0, le=60)
    delivery_locale: str = POLICY.delivery_locale
    # Send caps per hour, whatever the user (docs/delivery.md); 0 switches one off. Per
    # destination, then tenant-wide per channel (a circuit breaker against toll fraud).
    send_cap_per_phone_number: DestinationCap = POLICY.send_cap_per_phone_number
    send_cap_per_email_address: DestinationCap = POLICY.send_cap_per_email_address
    send_cap_sms: ChannelCap = POLICY.send_cap_sms
    send_cap_voice: ChannelCap = POLICY.send_cap_voice
    send_cap_email: ChannelCap = POLICY.send_cap_email
    send_cap_push: ChannelCap = POLICY.send_cap_push
    # Countries whose phone numbers may be enrolled for sms/voice: calling codes ("+44") and
    # regions ("US"); empty: all.
    phone_countries: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # What one user may cost (docs/configuration.md): active authenticators of each kind, and
    # /mfa/associate calls per user (a burst, then one per refill) and per mfa_token.
    max_authenticators_per_kind: int = Field(
        default=POLICY.max_authenticators_per_kind, ge=1, le=100
    )
    associate_capacity: Capacity = POLICY.associate_capacity
    associate_refill_seconds: RefillSeconds = POLICY.associate_refill_seconds
    associate_per_token: Capacity = POLICY.associate_per_token
    # Passkeys (docs/api.md "Passkeys"): the WebAuthn relying party. Empty RP ID: the issuer's
    # host name; empty origins: the issuer's origin (webauthn_policy). A native app's origin is
    # listed here too (android:apk-key-hash:…).
    webauthn_rp_id: str = ""
    webauthn_rp_name: str = POLICY.webauthn_rp_name
    webauthn_origins: list[str] = Field(default_factory=list)

    # The hosted login (docs/configuration.md "Browser sessions"): the SSO session lives so many
    # seconds past its last use and after sign-in at most; "remember this browser" for MFA the
    # same. Each absolute lifetime must be at least its idle one.
    session_idle_lifetime: BrowserLifetime = POLICY.session_idle_lifetime
    # Checked against the idle lifetime when left at their defaults too.
    session_absolute_lifetime: BrowserLifetime = Field(
        default=POLICY.session_absolute_lifetime, validate_default=True
    )
    remember_browser_idle: BrowserLifetime = POLICY.remember_browser_idle
    remember_browser_lifetime: BrowserLifetime = Field(
        default=POLICY.remember_browser_lifetime, validate_default=True
    )

    # The self-service security page at /account (docs/account-page.md); off: 404 there.
    account_page: bool = True

    # Prometheus metrics (docs/deploy.md "Metrics"): on a port of their own, which `twofold
    # serve` listens on at metrics_host (loopback unless set), and/or at /metrics on the main
    # port for `Authorization: Bearer <metrics_token>`. Neither set: no metrics, /metrics is 404.
    metrics_port: int | None = Field(default=None, ge=1, le=65_535)
    metrics_host: str = "127.0.0.1"
    metrics_token: SecretStr | None = None

    @field_validator("domain")
    @classmethod
    def _bare_domain(cls, value: str) -> str:
        # A bare host[:port]; "http://" is kept (plain HTTP, refused in production).
        value = value.strip().removeprefix("https://").rstrip("/")
        host = value.removeprefix("http://")
        if "/" in host or " " in host:
            raise ValueError("expected a host name and optional port, e.g. auth.example.com")
        return value

    @field_validator("session_absolute_lifetime", "remember_browser_lifetime")
    @classmethod
    def _not_shorter_than_idle(cls, value: int, info: ValidationInfo) -> int:
        idle_field = IDLE_OF[info.field_name or ""]
        idle = info.data.get(idle_field)
        # An idle value that failed its own check is reported there, not again here.
        if isinstance(idle, int) and value < idle:
            raise ValueError(f"must be at least TWOFOLD_{idle_field.upper()} ({idle})")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().lower() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return value.strip().lower()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        scheme = value.partition("://")[0].partition("+")[0].lower() if "://" in value else ""
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(DATABASE_URL_HELP)
        if scheme == "sqlite" and not value.partition("://")[2].startswith("/"):
            raise ValueError(DATABASE_URL_HELP + " (three slashes before a relative path)")
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _key_ring(cls, value: str) -> str:
        from twofold.core.crypto import KeyRing

        value = value.strip()
        if value:
            try:
                KeyRing.from_spec(value)
            except ValueError as exc:  # names a kid, never key material
                raise ValueError(f"{exc}; {KEYS_HELP}") from None
        return value

    @field_validator("trusted_forwarding_clients", "phone_countries", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                try:
                    return json.loads(text)
                except ValueError:
                    raise ValueError("expected a JSON list or comma-separated values") from None
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            # Not echoed back: a Redis URL may carry a password.
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("phone_countries", mode="before")
    @classmethod
    def _country_entries(cls, value: Any) -> Any:
        # JSON and TOML may give calling codes as numbers: [1, 44].
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("phone_countries")
    @classmethod
    def _known_countries(cls, value: list[str]) -> list[str]:
        return sorted(country_allow_list(value))

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _metrics_token(cls, value: Any) -> Any:
        # TWOFOLD_METRICS_TOKEN= (empty) leaves it unset. Its length is checked at start-up
        # (app.py), where the refusal cannot echo the value as a validation error would.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def metrics_enabled(self) -> bool:
        return self.metrics_port is not None or self.metrics_token is not None

    @property
    def scheme(self) -> str:
        return "http" if self.domain.startswith("http://") else "https"

    @property
    def host(self) -> str:
        """The domain without its scheme."""
        return self.domain.removeprefix("http://") or FALLBACK_DOMAIN

    @property
    def issuer(self) -> str:
        return f"{self.scheme}://{self.host}/"

    def problems(self) -> list[str]:
        """What a start refuses beyond each value's own type: combinations of settings."""
        found = []
        if self.environment == "production":
            if not self.domain:
                found.append(
                    "TWOFOLD_DOMAIN: must be set in production to the host name clients use "
                    "(the issuer is https://DOMAIN/)"
                )
            elif self.scheme == "http":
                found.append("TWOFOLD_DOMAIN: plain http:// is refused in production")
        return found

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def webauthn_policy(self) -> dict[str, Any]:
        """The WebAuthn relying party, as the core's Policy fields. Unset, the RP ID is the
        issuer's host name and the one origin is the issuer's (with its scheme and port)."""
        origin = f"{self.scheme}://{self.host}"
        return {
            "webauthn_rp_id": self.webauthn_rp_id.strip() or urlsplit(origin).hostname,
            "webauthn_rp_name": self.webauthn_rp_name.strip() or "Twofold",
            "webauthn_origins": tuple(
                o.strip().rstrip("/") for o in self.webauthn_origins if o.strip()
            )
            or (origin,),
        }

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments beat the environment, which beats the TOML file. The file's path is
        # read now, not when this module was imported.
        toml_file = os.environ.get("TWOFOLD_CONFIG_FILE") or None
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
        return (init_settings, env_settings, toml)
