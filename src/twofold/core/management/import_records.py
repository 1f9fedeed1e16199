"""One user of Auth0's bulk import file, checked and read into what Twofold stores, or refused
with Auth0-style errors (`{code, message, path}`).

The fields are those of Auth0's import schema. `user_id` keeps its Auth0 form: `auth0|x` as the
export writes it, or `x` as the import takes it (then `auth0|` is put before it). Fields only an
export carries (`identities`, `created_at`, `logins_count`, …) and profile fields Twofold does
not keep (`given_name`, `family_name`, `nickname`, `picture`) are accepted and ignored; any other
field refuses the record, as Auth0's schema does. `mfa_factors` become the Management API's
method bodies, so that they are checked and stored by the same rules as a method created there.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from twofold.core import auth0_hashes
from twofold.core.management.import_file import Entry
from twofold.core.management.params import CONTROL_CHARACTERS
from twofold.core.management.users import (
    EMAIL_FORMAT,
    ID_SUFFIX_FORMAT,
    MAX_METADATA_CHARS,
    USER_ID_PREFIX,
)

MASK = "*****"
MAX_FACTORS = 10
FIELDS = frozenset(
    {
        "email",
        "email_verified",
        "user_id",
        "username",
        "name",
        "blocked",
        "password_hash",
        "custom_password_hash",
        "user_metadata",
        "app_metadata",
        "mfa_factors",
    }
)
IGNORED = frozenset(
    {
        "given_name",
        "family_name",
        "nickname",
        "picture",
        "created_at",
        "updated_at",
        "identities",
        "last_login",
        "last_ip",
        "logins_count",
        "last_password_reset",
        "password_set_date",
        "multifactor",
    }
)
_TOTP_SECRET = re.compile(r"^[A-Z2-7]+$")
_PHONE = re.compile(r"^\+[0-9]{1,15}$")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A record that passed its own checks; whether it fits the users already there is
    decided against the database."""

    line: int
    email: str
    user_id: str | None = None
    username: str | None = None
    name: str | None = None
    # None where the record leaves the field out (an upsert then keeps the stored value).
    email_verified: bool | None = None
    blocked: bool | None = None
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None
    # The stored form of the imported hash (`imported_hashes`); None: no password.
    password_hash: str | None = None
    # Management API bodies: {"type": "totp", "totp_secret": …}, phone, email.
    factors: tuple[dict[str, Any], ...] = ()


class RecordError(ValueError):
    """Why a record is refused, as Auth0's job errors say it."""

    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "path": self.path}


def masked(record: Any) -> dict[str, Any]:
    """The record as given, for an error report: password hashes, keys, salts and TOTP secrets
    replaced by *****."""
    if not isinstance(record, dict):
        return {}
    out = copy.deepcopy(record)
    if "password_hash" in out:
        out["password_hash"] = MASK
    custom = out.get("custom_password_hash")
    if isinstance(custom, dict):
        for part, inner in (("hash", "value"), ("salt", "value")):
            if isinstance(custom.get(part), dict) and inner in custom[part]:
                custom[part][inner] = MASK
        key = custom.get("hash", {}).get("key") if isinstance(custom.get("hash"), dict) else None
        if isinstance(key, dict) and "value" in key:
            key["value"] = MASK
    factors = out.get("mfa_factors")
    for factor in factors if isinstance(factors, list) else []:
        if isinstance(factor, dict) and isinstance(factor.get("totp"), dict):
            factor["totp"]["secret"] = MASK
    return out


def _string(record: dict[str, Any], name: str, max_chars: int) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError("INVALID_TYPE", f"Expected type string but found {_kind(value)}", name)
    if not value or len(value) > max_chars:
        raise RecordError("INVALID_FORMAT", f"{name} must be 1 to {max_chars} characters", name)
    if CONTROL_CHARACTERS.search(value):
        # No stored text holds control characters (PostgreSQL refuses NUL outright).
        raise RecordError("INVALID_FORMAT", "Control characters are not allowed", name)
    return value


def _boolean(record: dict[str, Any], name: str) -> bool | None:
    value = record.get(name)
    if value is not None and not isinstance(value, bool):
        raise RecordError("INVALID_TYPE", f"Expected type boolean but found {_kind(value)}", name)
    return value


def _metadata(record: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RecordError("INVALID_TYPE", f"Expected type object but found {_kind(value)}", name)
    if len(json.dumps(value)) > MAX_METADATA_CHARS:
        raise RecordError("MAX_LENGTH", f"{name} is over {MAX_METADATA_CHARS} characters", name)
    return value


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else "number"
    )


def _user_id(record: dict[str, Any]) -> str | None:
    raw = _string(record, "user_id", 255)
    if raw is None:
        return None
    provider, bar, suffix = raw.rpartition("|")
    if bar and provider != USER_ID_PREFIX.rstrip("|"):
        raise RecordError(
            "INVALID_FORMAT", "user_id must be an auth0| id (a database user)", "user_id"
        )
    if ID_SUFFIX_FORMAT.fullmatch(suffix) is None:
        raise RecordError("PATTERN", "user_id may only hold letters, digits, _ . and -", "user_id")
    return USER_ID_PREFIX + suffix


def _password_hash(record: dict[str, Any]) -> str | None:
    if "password_hash" in record and "custom_password_hash" in record:
        raise RecordError(
            "INVALID_PASSWORD_HASH",
            "password_hash and custom_password_hash cannot both be given",
            "custom_password_hash",
        )
    try:
        if record.get("password_hash") is not None:
            return auth0_hashes.from_bcrypt(record["password_hash"])
        if record.get("custom_password_hash") is not None:
            return auth0_hashes.from_auth0(record["custom_password_hash"])
    except auth0_hashes.HashRejected as exc:
        path = exc.path
        if not path.startswith(("password_hash", "custom_password_hash")):
            path = f"custom_password_hash.{path}"
        raise RecordError("INVALID_PASSWORD_HASH", exc.message, path) from None
    return None


def _factor(item: Any, path: str) -> dict[str, Any]:
    """One entry of `mfa_factors` as a Management API method body."""
    if not isinstance(item, dict) or len(item) != 1:
        raise RecordError(
            "MFA_FACTORS_FAILED", "each factor is an object with one of totp, phone, email", path
        )
    kind, value = next(iter(item.items()))
    field = {"totp": "secret", "phone": "value", "email": "value"}.get(kind)
    if field is None or not isinstance(value, dict) or set(value) != {field}:
        raise RecordError(
            "MFA_FACTORS_FAILED",
            "a factor is {totp: {secret}}, {phone: {value}} or {email: {value}}",
            path,
        )
    given = value[field]
    if not isinstance(given, str) or len(given) > 320:
        raise RecordError("MFA_FACTORS_FAILED", f"{kind}.{field} must be a string", path)
    if kind == "totp":
        if _TOTP_SECRET.fullmatch(given) is None:
            raise RecordError("MFA_FACTORS_FAILED", "totp.secret must be unpadded base32", path)
        return {"type": "totp", "totp_secret": given}
    if kind == "phone":
        if _PHONE.fullmatch(given) is None:
            raise RecordError(
                "MFA_FACTORS_FAILED", "phone.value must be + and up to 15 digits", path
            )
        return {"type": "phone", "phone_number": given}
    if EMAIL_FORMAT.fullmatch(given) is None:
        raise RecordError("MFA_FACTORS_FAILED", "email.value must be an email address", path)
    return {"type": "email", "email": given}


def _factors(record: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    raw = record.get("mfa_factors")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_FACTORS:
        raise RecordError(
            "MFA_FACTORS_FAILED",
            f"mfa_factors must be an array of 1 to {MAX_FACTORS} factors",
            "mfa_factors",
        )
    return tuple(_factor(item, f"mfa_factors[{i}]") for i, item in enumerate(raw))


def read(entry: Entry) -> Candidate:
    """The record's candidate user; RecordError says why it is refused."""
    if entry.error is not None:
        raise RecordError("INVALID_JSON", entry.error)
    record = entry.record
    if not isinstance(record, dict):
        raise RecordError("INVALID_TYPE", f"Expected type object but found {_kind(record)}")
    unknown = sorted(set(record) - FIELDS - IGNORED)
    if unknown:
        raise RecordError(
            "OBJECT_ADDITIONAL_PROPERTIES",
            f"Additional properties not allowed: {unknown[0]}",
            unknown[0],
        )
    email = _string(record, "email", 320)
    if email is None:
        raise RecordError(
            "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: email", "email"
        )
    if EMAIL_FORMAT.fullmatch(email.strip()) is None:
        raise RecordError("FORMAT", "Object didn't pass validation for format email", "email")
    return Candidate(
        line=entry.line,
        email=email.strip().lower(),
        user_id=_user_id(record),
        username=_string(record, "username", 128),
        name=_string(record, "name", 255),
        email_verified=_boolean(record, "email_verified"),
        blocked=_boolean(record, "blocked"),
        user_metadata=_metadata(record, "user_metadata"),
        app_metadata=_metadata(record, "app_metadata"),
        password_hash=_password_hash(record),
        factors=_factors(record),
    )
