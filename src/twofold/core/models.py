"""Plain, frozen records that cross the core's boundary. No behaviour beyond derived views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

GRANT_PASSWORD = "password"
GRANT_PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
GRANT_MFA_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
GRANT_MFA_OOB = "http://auth0.com/oauth/grant-type/mfa-oob"
GRANT_MFA_RECOVERY_CODE = "http://auth0.com/oauth/grant-type/mfa-recovery-code"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
# The hosted login's grants (Auth0's names): a code from /authorize exchanged at the token
# endpoint, and `implicit`, which a client needs for /authorize to answer an ID token directly
# (response_type=id_token; no token endpoint call).
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_IMPLICIT = "implicit"
# Auth0's native passkey login (the client's own WebAuthn ceremony, then this grant).
GRANT_WEBAUTHN = "urn:okta:params:oauth:grant-type:webauthn"

MFA_GRANTS = frozenset({GRANT_MFA_OTP, GRANT_MFA_OOB, GRANT_MFA_RECOVERY_CODE})
FIRST_PARTY_GRANTS = frozenset(
    {GRANT_PASSWORD, GRANT_PASSWORD_REALM, GRANT_REFRESH_TOKEN, *MFA_GRANTS}
)

AuthMethod = Literal["client_secret_post", "client_secret_basic", "private_key_jwt", "none"]
AUTH_METHODS: tuple[AuthMethod, ...] = (
    "client_secret_post",
    "client_secret_basic",
    "private_key_jwt",
    "none",
)

MfaPolicy = Literal["never", "always"]
MFA_POLICIES: tuple[MfaPolicy, ...] = ("never", "always")

# The algorithms a tenant may sign its tokens with. RS256 is the default because the Auth0 Python
# SDKs verify ID tokens with RS256 only. EdDSA means Ed25519 under RFC 8037's name, which PyJWT
# understands; RFC 9864's newer name "Ed25519" is neither published nor accepted.
SigningAlg = Literal["RS256", "ES256", "EdDSA"]
TENANT_SIGNING_ALGS: tuple[SigningAlg, ...] = ("RS256", "ES256", "EdDSA")

# Authenticator kinds as they appear in ids (`totp|dev_…`) and the factor they belong to.
AuthenticatorKind = Literal["totp", "sms", "voice", "email", "push", "recovery-code", "passkey"]
FACTORS = ("otp", "sms", "voice", "email", "push-notification", "recovery-code", "passkey")
# Kinds that are a first factor, not an MFA authenticator: Auth0's MFA API neither lists nor
# challenges, deletes or counts them (passkeys are managed by the My Account and Management APIs).
FIRST_FACTOR_KINDS: frozenset[str] = frozenset({"passkey"})

DEFAULT_REALM = "Username-Password-Authentication"
MFA_SCOPES = ("enroll", "read:authenticators", "remove:authenticators")
# The My Account API (https://{domain}/me/): a user's own factors. Auth0 documents these names;
# one of its SDKs writes them with hyphens (`read:me:authentication-methods`), which a token
# request may ask for too (MY_ACCOUNT_SCOPE_SPELLINGS) and which grants the same right.
MY_ACCOUNT_SCOPES = (
    "read:me:factors",
    "read:me:authentication_methods",
    "create:me:authentication_methods",
    "update:me:authentication_methods",
    "delete:me:authentication_methods",
)
MY_ACCOUNT_SCOPE_SPELLINGS = tuple(s.replace("_", "-") for s in MY_ACCOUNT_SCOPES if "_" in s)
# The built-in Management API (https://{domain}/api/v2/): the Auth0 scopes its endpoints check.
MANAGEMENT_API_NAME = "Auth0 Management API"
MANAGEMENT_SCOPES = (
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "update:users_app_metadata",
    "read:authentication_methods",
    "create:authentication_methods",
    "update:authentication_methods",
    "delete:authentication_methods",
    "read:guardian_enrollments",
    "delete:guardian_enrollments",
    "read:guardian_factors",
    "update:guardian_factors",
    "read:logs",
    "read:logs_users",
)
# Machine tokens for the Management API live a day, as Auth0's do.
MANAGEMENT_TOKEN_LIFETIME = 86_400
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


@dataclass(frozen=True, slots=True)
class Tenant:
    friendly_name: str = "Twofold"
    mfa_policy: MfaPolicy = "always"
    enabled_factors: frozenset[str] = frozenset({"otp", "recovery-code"})
    recovery_codes_enabled: bool = True
    access_token_lifetime: int = 86_400
    id_token_lifetime: int = 36_000
    refresh_token_lifetime: int = 2_592_000
    default_audience: str | None = None
    # The algorithm of the next signing key (the first one, and each `twofold keys rotate`).
    # Changing it does not touch the current key: tokens already issued keep verifying.
    signing_alg: SigningAlg = "RS256"
    # Whether email (enrolled, or the implicit authenticator of a verified email) counts as a
    # factor: then an email-only user must pass it before adding another factor or getting an
    # MFA-API token. False restores Auth0's lenient "email does not count", which lets anyone
    # with the password of an email-only user enrol a factor of their own.
    email_counts_as_factor: bool = True


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    auth_method: AuthMethod
    grant_types: frozenset[str]
    secret_hash: str | None = None
    # JWKS (as a dict with "keys") of the client's public keys, for private_key_jwt.
    jwks: dict[str, Any] | None = None
    # APIs (audiences) this client may get tokens for with client_credentials, with their scopes.
    api_grants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    created_at: float = 0.0
    # Where a browser may be sent back to (Auth0's names): redirect URIs after login, URLs after
    # logout, and the origins whose scripts may call the token, revocation and userinfo
    # endpoints. Matched exactly; `core/client_urls.py` checks what may be registered.
    callbacks: tuple[str, ...] = ()
    allowed_logout_urls: tuple[str, ...] = ()
    web_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Api:
    identifier: str
    name: str
    scopes: tuple[str, ...] = ()
    token_lifetime: int = 86_400
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    email: str
    password_hash: str
    realm: str = DEFAULT_REALM
    username: str | None = None
    email_verified: bool = False
    name: str | None = None
    created_at: float = 0.0
    # Management API fields (migration 0005). A blocked user's logins are refused.
    blocked: bool = False
    user_metadata: dict[str, Any] = field(default_factory=dict)
    app_metadata: dict[str, Any] = field(default_factory=dict)
    updated_at: float | None = None
    # A browser remembered (MFA skipped on it) before this time must pass MFA again. Set only by
    # `UserRepository.forget_remembered_browsers(user_id, now)` (False: no such user), never by
    # `update`, so that a concurrent profile change cannot write an older value back.
    remember_browser_invalidated_at: float | None = None


@dataclass(frozen=True, slots=True)
class UserQuery:
    """A page of users for the Management API: exact filters, one sort key, offset paging."""

    email: str | None = None
    user_id: str | None = None
    # One of the users table's sortable columns: created_at, updated_at, email, user_id, name.
    sort: str = "created_at"
    descending: bool = False
    offset: int = 0
    limit: int = 50


# An authenticator kind in the docs' vocabulary of `type` and `mfa_requirements`.
FACTOR_TYPES: dict[str, str] = {
    "totp": "otp",
    "sms": "phone",
    "voice": "phone",
    "email": "email",
    "push": "push-notification",
    "recovery-code": "recovery-code",
    "passkey": "passkey",
}


@dataclass(frozen=True, slots=True)
class Authenticator:
    id: str
    user_id: str
    kind: AuthenticatorKind
    active: bool
    created_at: float
    # AES-GCM envelope of the TOTP secret (totp only); never the clear secret.
    secret_enc: str | None = None
    # Last TOTP time step accepted; the replay guard only ever moves it forward.
    last_step: int | None = None
    # Masked phone/email or device name; the clear value lives encrypted in `target_enc`.
    name: str | None = None
    target_enc: str | None = None
    # Authenticators enrolled together and deleted together (sms+voice, push+totp).
    link_id: str | None = None
    confirmed_at: float | None = None
    last_used_at: float | None = None

    @property
    def authenticator_type(self) -> str:
        if self.kind == "totp":
            return "otp"
        if self.kind in ("recovery-code", "passkey"):
            return self.kind
        return "oob"

    @property
    def oob_channel(self) -> str | None:
        return {"sms": "sms", "voice": "voice", "email": "email", "push": "auth0"}.get(self.kind)

    @property
    def factor_type(self) -> str:
        """The docs vocabulary of `type` and `mfa_requirements`."""
        return FACTOR_TYPES[self.kind]


@dataclass(frozen=True, slots=True)
class WebAuthnCredential:
    """A passkey's WebAuthn side; its authenticator row (kind "passkey") carries the rest.

    Binary values are base64url without padding, as WebAuthn's JSON carries them. None of them
    is a secret: the private key never leaves the user's authenticator.
    """

    credential_id: str
    authenticator_id: str
    user_id: str
    # The COSE_Key of the credential, as the authenticator reported it at registration.
    public_key: str
    sign_count: int
    # The WebAuthn user.id the credential was created for (returned as userHandle on login).
    user_handle: str
    created_at: float
    transports: tuple[str, ...] = ()
    aaguid: str = "00000000-0000-0000-0000-000000000000"
    # Flags BE and BS: whether it may be synced (a multi-device passkey), and whether it is.
    backup_eligible: bool = False
    backed_up: bool = False
    name: str | None = None
    last_used_at: float | None = None
    # The User-Agent of the registration request, so the user can tell their passkeys apart.
    user_agent: str | None = None

    @property
    def device_type(self) -> str:
        return "multi_device" if self.backup_eligible else "single_device"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    private_key_enc: str
    public_jwk: dict[str, Any]
    created_at: float
    # "current" signs; "previous" is still published in JWKS; "retired" is neither.
    status: Literal["current", "previous", "retired"] = "current"


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token_hash: str
    family_id: str
    user_id: str
    client_id: str
    audience: str
    scope: str
    created_at: float
    expires_at: float
    mfa_at: float | None = None
    used_at: float | None = None
    revoked: bool = False
    # The hosted-login sign-in the family came from (migration 0011), which every ID token
    # refreshed from it repeats: when the user authenticated, how, and in which SSO session.
    # None for families from the other grants (and from before the migration).
    auth_time: int | None = None
    amr: tuple[str, ...] | None = None
    acr: str | None = None
    sid: str | None = None


@dataclass(frozen=True, slots=True)
class MfaToken:
    """What an mfa_token stands for: the password-time request waiting for a second factor."""

    id: str
    user_id: str
    client_id: str
    audience: str
    scope: str
    issued_at: float
    expires_at: float
    realm: str = DEFAULT_REALM
    # True when an MFA-API access token stands in for the mfa_token (confirming an enrolment).
    via_access_token: bool = False


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    expires_in: int
    scope: str
    token_type: str = "Bearer"
    id_token: str | None = None
    refresh_token: str | None = None
    recovery_code: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.id_token is not None:
            out["id_token"] = self.id_token
        if self.refresh_token is not None:
            out["refresh_token"] = self.refresh_token
        if self.recovery_code is not None:
            out["recovery_code"] = self.recovery_code
        return out


DeliveryChannel = Literal["sms", "voice", "email", "push"]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What the core asks a delivery channel to send; the channel renders the words.

    `to` is an E.164 number, an email address or a push device's notification target; `code`
    is the 6-digit binding code (None for push). Neither is ever logged: `repr` hides them.
    """

    channel: DeliveryChannel
    to: str = field(repr=False)
    purpose: Literal["enrollment", "challenge", "push"]
    code: str | None = field(default=None, repr=False)
    issuer: str = "Twofold"
    locale: str = "en"
    expires_in: int = 300
    # Push only: transaction id, device id, server base URL (none of them secret).
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry of the audit trail, typed with Auth0's log event names."""

    type: str
    at: float
    description: str
    user_id: str | None = None
    client_id: str | None = None
    ip: str | None = None
    # Never a secret: ids, factor kinds, counts.
    details: dict[str, Any] = field(default_factory=dict)
    # The row's sequence number once stored (the Management API's log_id); None before.
    seq: int | None = None


JobStatus = Literal["pending", "processing", "completed", "failed"]


@dataclass(frozen=True, slots=True)
class ImportJob:
    """A users-import job of the Management API. Its counts grow as records are processed, so
    any node can report its progress."""

    id: str
    connection_id: str
    created_at: float
    updated_at: float
    status: JobStatus = "pending"
    # The client that started it (Management API) or None (the operator's command).
    client_id: str | None = None
    external_id: str | None = None
    upsert: bool = False
    send_completion_email: bool = True
    # Records in the file (known once it is read), and how each processed one ended.
    total: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    status_details: str | None = None

    @property
    def processed(self) -> int:
        return self.inserted + self.updated + self.skipped + self.failed


@dataclass(frozen=True, slots=True)
class ImportFailure:
    """A record an import refused, with the line of the file it starts on and why. `user` is
    the record as given, its secrets (password hash, TOTP secret) masked."""

    line: int
    user: dict[str, Any]
    # Each {"code", "message", "path"}, as Auth0 reports a record's errors.
    errors: tuple[dict[str, str], ...]
