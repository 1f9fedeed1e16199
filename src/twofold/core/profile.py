"""The user's standard claims a token's scopes release: the ID token's and /userinfo's."""

from __future__ import annotations

from collections.abc import Collection

from twofold.core.management.users import iso
from twofold.core.models import User


def claims(user: User, scopes: Collection[str]) -> dict[str, object]:
    """`profile` releases name, nickname (the username, when the user has one) and updated_at
    (ISO 8601, as Auth0 writes it); `email` releases email and email_verified."""
    out: dict[str, object] = {}
    if "profile" in scopes:
        out["name"] = user.name or user.email
        if user.username:
            out["nickname"] = user.username
        out["updated_at"] = iso(user.updated_at if user.updated_at is not None else user.created_at)
    if "email" in scopes:
        out["email"] = user.email
        out["email_verified"] = user.email_verified
    return out
