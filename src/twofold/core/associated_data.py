"""The associated data every encrypted cell is sealed with, named once.

AES-GCM's associated data binds a ciphertext to the row and column it was written for, so a
cell copied into another row (or column) no longer opens. Every writer, every reader and key
rotation take their strings from here; each cell has exactly one.

A push authenticator keeps its device record (public key, name, notification target) in the
`target_enc` column that a phone or email authenticator uses for its address; its associated
data says which of the two it is, and the authenticator id's kind prefix tells which applies.
"""

from __future__ import annotations

SECRET_COLUMN = "authenticators.secret_enc"
TARGET_COLUMN = "authenticators.target_enc"
SIGNING_KEY_COLUMN = "signing_keys.private_key_enc"


def otp_secret(authenticator_id: str) -> str:
    """A TOTP authenticator's shared secret (also a push enrolment's companion TOTP)."""
    return f"authenticator:{authenticator_id}:secret"


def contact_target(authenticator_id: str) -> str:
    """The phone number or email address an out-of-band authenticator sends to."""
    return f"authenticator:{authenticator_id}:target"


def push_device(authenticator_id: str) -> str:
    """A push authenticator's device record."""
    return f"authenticator:{authenticator_id}:device"


def signing_key(kid: str) -> str:
    """A token signing key's private half."""
    return f"signing_key:{kid}"


def for_cell(column: str, key: str) -> str:
    """The one associated data of the cell `column` in the row whose primary key is `key`."""
    if column == SECRET_COLUMN:
        return otp_secret(key)
    if column == TARGET_COLUMN:
        return push_device(key) if key.startswith("push|") else contact_target(key)
    if column == SIGNING_KEY_COLUMN:
        return signing_key(key)
    raise KeyError(column)


COLUMNS = (SECRET_COLUMN, TARGET_COLUMN, SIGNING_KEY_COLUMN)
