"""What every factor module offers, and what an enrolment hands it.

A factor is a plain module listed by authenticator kind in `registry.FACTORS`. /mfa/associate,
/mfa/challenge and the mfa-oob grant reach it only through that mapping, so each factor's whole
behaviour lives in its own module:

- `enrol(deps, enrolment)`: store the new, inactive authenticator(s) and answer /mfa/associate;
- `challenge(deps, mfa_token, chosen)`: answer /mfa/challenge for one of the user's authenticators;
- `verify(...)`: decide a proof without writing anything (its form is the factor's own: a TOTP
  code, or an `oob_code` with its binding code or the device's answer; None while an
  out-of-band proof has not arrived yet);
- `describe(authenticator)`: its entry in GET /mfa/authenticators.

Factors import neither grants nor the MFA use cases: they get what they need as arguments.
Recovery codes are not a factor here: they are never challenged and come with a user's first
enrolment (`recovery.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from twofold.core.deps import Deps
from twofold.core.errors import InvalidRequest
from twofold.core.factors.oob_codes import OobRecord, Owner
from twofold.core.ids import authenticator_id, device_suffix
from twofold.core.models import Authenticator, AuthenticatorKind, MfaToken, Tenant, User


@dataclass(frozen=True, slots=True)
class Enrolment:
    """An /mfa/associate request for one factor."""

    user: User
    client_id: str
    tenant: Tenant
    # What the confirming grant must present: "tx:<mfa_token id>" for an mfa_token,
    # "user:<user id>" for an MFA-API access token.
    binding: str
    # The enrolment cannot outlive the credential that started it.
    not_after: float
    body: Mapping[str, Any]
    # The one out-of-band channel asked for (sms, voice, email, auth0), already validated.
    oob_channel: str | None = None
    # The id suffix of the new authenticator(s): chosen up front, so a caller that must name
    # the enrolment before the factor has stored it (the My Account API) knows its id.
    suffix: str = field(default_factory=device_suffix)

    @property
    def owner(self) -> Owner:
        return Owner(self.user.user_id, self.client_id, self.binding, self.not_after)

    def row_id(self, kind: AuthenticatorKind) -> str:
        return authenticator_id(kind, self.suffix)


class Factor(Protocol):
    async def enrol(self, deps: Deps, enrolment: Enrolment) -> dict[str, Any]: ...

    async def challenge(
        self, deps: Deps, mfa_token: MfaToken, chosen: Authenticator
    ) -> dict[str, Any]: ...

    def describe(self, authenticator: Authenticator) -> dict[str, Any]: ...


class OobFactor(Factor, Protocol):
    """A factor whose challenges are `oob_code`s, decided by the mfa-oob grant."""

    # Whether a proof is a guess that draws on the user's failure bucket (a binding code),
    # or the device's own answer (push).
    GUESSABLE: bool

    def verify(self, record: OobRecord, oob_code: str, binding_code: str | None) -> bool | None: ...


def pending(
    row_id: str,
    user_id: str,
    kind: AuthenticatorKind,
    now: float,
    *,
    secret_enc: str | None = None,
    target_enc: str | None = None,
    name: str | None = None,
    link_id: str | None = None,
) -> Authenticator:
    """A new authenticator, inactive until an MFA grant confirms it."""
    return Authenticator(
        row_id, user_id, kind, False, now, secret_enc, None, name, target_enc, link_id
    )


def require_enabled(tenant: Tenant, factor: str) -> None:
    if factor not in tenant.enabled_factors:
        raise InvalidRequest(f"The {factor} factor is not enabled")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def describe(a: Authenticator) -> dict[str, Any]:
    """The GET /mfa/authenticators entry every kind shares (field order as Auth0 sends it)."""
    fields: list[tuple[str, Any]] = [
        ("id", a.id),
        ("authenticator_type", a.authenticator_type),
        ("active", a.active),
        ("oob_channel", a.oob_channel),
        ("name", a.name),
        ("type", a.factor_type),
        ("created_at", _iso(a.created_at)),
        ("last_auth", None if a.last_used_at is None else _iso(a.last_used_at)),
    ]
    # Absent rather than null, as Auth0 answers.
    return {name: value for name, value in fields if value is not None}
