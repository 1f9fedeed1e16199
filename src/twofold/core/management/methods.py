"""A user's MFA through the Management API: /users/{id}/authentication-methods[/{mid}],
and /users/{id}/authenticators (enrollments and recovery codes: `enrollments.py`).

These work on the authenticators the MFA API enrols and lists, with the same ids (a linked
sms+voice pair is one `phone` method here, led by its first row; either row's id finds it) and
the same deletion rule (`mfa.manage.remove`). A method created here (totp with a known secret,
phone, email) is stored already confirmed, encrypted like any other: the import path for
enrolments made elsewhere.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twofold.core import associated_data, audit, contact, ids
from twofold.core.deps import Deps
from twofold.core.errors import OAuthError
from twofold.core.factors import email as email_factor
from twofold.core.management import params
from twofold.core.management.errors import ManagementError, bad_body, no_method
from twofold.core.management.users import iso, load
from twofold.core.mfa import enrolled, enrolment_limits, manage
from twofold.core.models import FACTOR_TYPES, Authenticator, AuthenticatorKind

# The Management and My Account APIs name methods as the docs name factors, but for TOTP.
# (They list passkeys in the My Account API; the Management API's lists leave first factors out.)
METHOD_TYPE = {**FACTOR_TYPES, "totp": "totp"}
CREATABLE = ("totp", "phone", "email")
CREATE_FIELDS = frozenset(
    {"type", "name", "totp_secret", "phone_number", "email", "preferred_authentication_method"}
)
UPDATE_FIELDS = frozenset({"name", "preferred_authentication_method"})
MAX_METHODS_PER_PUT = 20
MIN_TOTP_SECRET_BYTES = 10
MAX_TOTP_SECRET_CHARS = 128
MAX_PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Method:
    """One method as the Management API sees it: linked rows together, the lead first."""

    rows: tuple[Authenticator, ...]

    @property
    def lead(self) -> Authenticator:
        return self.rows[0]

    def holds(self, method_id: str) -> bool:
        return any(a.id == method_id for a in self.rows)


def group(authenticators: Sequence[Authenticator]) -> list[Method]:
    """Linked rows (sms+voice; push and its companion TOTP) make one method, in list order; a
    push method is led by its push row."""
    order: list[str] = []
    rows: dict[str, list[Authenticator]] = {}
    for a in authenticators:
        key = a.link_id or a.id
        if key not in rows:
            order.append(key)
            rows[key] = []
        rows[key].append(a)
    methods = []
    for key in order:
        members = sorted(rows[key], key=lambda a: a.kind != "push")
        methods.append(Method(tuple(members)))
    return methods


def contact_target(deps: Deps, a: Authenticator) -> str | None:
    if a.target_enc is None or a.kind not in ("sms", "voice", "email"):
        return None
    return deps.keyring.decrypt(a.target_enc, associated_data.contact_target(a.id)).decode()


def view(deps: Deps, method: Method, user_email: str) -> dict[str, Any]:
    lead = method.lead
    out: dict[str, Any] = {
        "id": lead.id,
        "type": METHOD_TYPE[lead.kind],
        "confirmed": lead.active,
        "created_at": iso(lead.created_at),
    }
    if lead.name is not None:
        out["name"] = lead.name
    used = [a.last_used_at for a in method.rows if a.last_used_at is not None]
    if used:
        out["last_auth_at"] = iso(max(used))
    if lead.kind in ("sms", "voice"):
        out["phone_number"] = contact_target(deps, lead)
        out["preferred_authentication_method"] = lead.kind
    if lead.kind == "email":
        out["email"] = contact_target(deps, lead) or user_email
    if len(method.rows) > 1 or lead.kind in ("sms", "voice"):
        out["authentication_methods"] = [{"id": a.id, "type": a.kind} for a in method.rows]
    if lead.link_id is not None:
        out["link_id"] = lead.link_id
    return out


async def _methods(deps: Deps, user_id: str) -> tuple[list[Method], str]:
    user = await load(deps, user_id)
    return group(await enrolled.for_user(deps, user_id)), user.email


async def _find(deps: Deps, user_id: str, method_id: str) -> tuple[Method, str]:
    methods, user_email = await _methods(deps, user_id)
    found = next((m for m in methods if m.holds(method_id)), None)
    if found is None:
        raise no_method()
    return found, user_email


# ----- reading


async def list_methods(deps: Deps, user_id: str, query: Mapping[str, str]) -> Any:
    paging = params.paging(query, 10_000, MAX_PER_PAGE)
    methods, user_email = await _methods(deps, user_id)
    start = paging.start
    items = [view(deps, m, user_email) for m in methods[start : start + paging.per_page]]
    return paging.answer(items, len(methods), "authenticators", length=False)


async def get_method(deps: Deps, user_id: str, method_id: str) -> dict[str, Any]:
    method, user_email = await _find(deps, user_id, method_id)
    return view(deps, method, user_email)


# ----- creating


def _totp_secret(body: Mapping[str, Any]) -> str:
    raw = params.text(body, "totp_secret", required=True, max_chars=MAX_TOTP_SECRET_CHARS)
    assert raw is not None
    secret = raw.replace(" ", "").upper().rstrip("=")
    try:
        key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    except (binascii.Error, ValueError):
        raise bad_body("'totp_secret must be base32' on property totp_secret") from None
    if len(key) < MIN_TOTP_SECRET_BYTES:
        raise bad_body(
            f"'totp_secret must hold at least {MIN_TOTP_SECRET_BYTES} bytes' on property "
            "totp_secret"
        )
    return secret


def _contact(call: Any, *args: Any) -> str:
    try:
        value: str = call(*args)
    except OAuthError as exc:  # the factor's own 400, shown in the Management API's shape
        raise bad_body(f"'{exc.description}'") from None
    return value


async def plan_rows(deps: Deps, user_id: str, raw: Any, now: float) -> list[Authenticator]:
    """The confirmed rows one creation body stands for; nothing is written yet."""
    body = params.body_object(raw)
    params.allowed(body, CREATE_FIELDS)
    kind = params.text(body, "type", required=True, max_chars=64)
    if kind not in CREATABLE:
        raise bad_body(f"'type must be one of {', '.join(CREATABLE)}' on property type")
    name = params.text(body, "name", max_chars=255)
    preferred = params.text(body, "preferred_authentication_method", max_chars=16)
    if kind == "totp":
        secret = _totp_secret(body)
        row_id = ids.authenticator_id("totp")
        return [
            Authenticator(
                id=row_id,
                user_id=user_id,
                kind="totp",
                active=True,
                created_at=now,
                confirmed_at=now,
                name=name,
                secret_enc=deps.keyring.encrypt(
                    secret.encode(), associated_data.otp_secret(row_id)
                ),
            )
        ]
    kinds: list[AuthenticatorKind]
    if kind == "phone":
        if preferred not in (None, "sms", "voice"):
            raise bad_body(
                "'preferred_authentication_method must be sms or voice' on property "
                "preferred_authentication_method"
            )
        params.text(body, "phone_number", required=True, max_chars=64)
        address = _contact(
            contact.normalize_phone, body["phone_number"], deps.policy.phone_countries
        )
        first: AuthenticatorKind = "voice" if preferred == "voice" else "sms"
        other: AuthenticatorKind = "sms" if first == "voice" else "voice"
        tenant = await deps.tenant()
        kinds = [first, other] if other in tenant.enabled_factors else [first]
        masked = contact.mask_phone(address)
    else:
        params.text(body, "email", required=True, max_chars=320)
        address = _contact(contact.normalize_email, body["email"])
        kinds = ["email"]
        masked = contact.mask_email(address)
    suffix = ids.authenticator_id(kinds[0]).split("|", 1)[1]
    link = f"phone|{suffix}" if len(kinds) > 1 else None
    rows = []
    for row_kind in kinds:
        row_id = f"{row_kind}|{suffix}"
        rows.append(
            Authenticator(
                id=row_id,
                user_id=user_id,
                kind=row_kind,
                active=True,
                created_at=now,
                confirmed_at=now,
                name=name or masked,
                target_enc=deps.keyring.encrypt(
                    address.encode(), associated_data.contact_target(row_id)
                ),
                link_id=link,
            )
        )
    return rows


def check_room(deps: Deps, held: Sequence[Authenticator], rows: Sequence[Authenticator]) -> None:
    try:
        enrolment_limits.check_room(deps, held, rows[0].kind)
    except OAuthError as exc:
        raise ManagementError(400, "too_many_authentication_methods", exc.description) from None


async def _store(deps: Deps, rows: Sequence[Authenticator], client_id: str) -> None:
    for row in rows:
        await deps.storage.authenticators.add(row)
    await audit.record(
        deps,
        audit.ENROLLMENT_COMPLETE,
        user_id=rows[0].user_id,
        client_id=client_id,
        authenticator_ids=[r.id for r in rows],
        via="management_api",
    )


async def create_method(deps: Deps, user_id: str, raw: Any, client_id: str) -> dict[str, Any]:
    user = await load(deps, user_id)
    rows = await plan_rows(deps, user_id, raw, deps.clock.now())
    check_room(deps, await deps.storage.authenticators.list_for_user(user_id), rows)
    await _store(deps, rows, client_id)
    return view(deps, Method(tuple(rows)), user.email)


async def replace_methods(
    deps: Deps, user_id: str, raw: Any, client_id: str
) -> list[dict[str, Any]]:
    """PUT: the given methods replace every stored one (all or nothing)."""
    user = await load(deps, user_id)
    if not isinstance(raw, list):
        raise bad_body("'Expected type array but found another type'")
    if len(raw) > MAX_METHODS_PER_PUT:
        raise bad_body(f"'At most {MAX_METHODS_PER_PUT} methods'")
    now = deps.clock.now()
    plans = [await plan_rows(deps, user_id, item, now) for item in raw]
    held: list[Authenticator] = []
    for rows in plans:
        check_room(deps, held, rows)
        held.extend(rows)
    stored = await deps.storage.authenticators.list_for_user(user_id)
    async with deps.storage.unit_of_work():
        await deps.storage.authenticators.delete([a.id for a in stored])
        await deps.storage.recovery_codes.delete(user_id)
        for rows in plans:
            await _store(deps, rows, client_id)
    return [view(deps, Method(tuple(rows)), user.email) for rows in plans]


# ----- changing and deleting


async def update_method(deps: Deps, user_id: str, method_id: str, raw: Any) -> dict[str, Any]:
    body = params.body_object(raw)
    params.allowed(body, UPDATE_FIELDS)
    method, user_email = await _find(deps, user_id, method_id)
    name = params.text(body, "name", max_chars=255)
    preferred = params.text(body, "preferred_authentication_method", max_chars=16)
    if preferred is not None and preferred != view(deps, method, user_email).get(
        "preferred_authentication_method"
    ):
        # Twofold lets the user pick sms or voice at each challenge; there is no stored choice.
        raise bad_body(
            "'preferred_authentication_method cannot be changed' on property "
            "preferred_authentication_method"
        )
    if name is not None:
        stored = [a.id for a in method.rows if a.id != email_factor.implicit_id(user_id)]
        if not stored:
            raise bad_body("'The authenticator of a verified email has no name to change'")
        await deps.storage.authenticators.rename(stored, name)
        method, user_email = await _find(deps, user_id, method_id)
    return view(deps, method, user_email)


async def delete_method(deps: Deps, user_id: str, method_id: str, client_id: str) -> None:
    method, _ = await _find(deps, user_id, method_id)
    await manage.remove(deps, user_id, method.lead.id, client_id)


async def delete_all(deps: Deps, user_id: str, client_id: str | None) -> None:
    """Every stored authenticator and the recovery code (the implicit email stays: it is the
    user's verified address)."""
    await load(deps, user_id)
    stored = await deps.storage.authenticators.list_for_user(user_id)
    await deps.storage.authenticators.delete([a.id for a in stored])
    await deps.storage.recovery_codes.delete(user_id)
    if stored:
        await audit.record(
            deps,
            audit.UNENROLL,
            user_id=user_id,
            client_id=client_id,
            authenticator_ids=[a.id for a in stored],
        )
