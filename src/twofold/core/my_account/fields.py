"""Reading a My Account request body: only the fields an operation knows, each of its type,
or a 400 problem naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twofold.core.my_account.problems import invalid

MAX_TEXT = 255


def only(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in body:
        if name not in allowed:
            raise invalid(str(name)[:64], f"Unknown field: {str(name)[:64]}")


def text(body: Mapping[str, Any], name: str, *, max_chars: int = MAX_TEXT) -> str | None:
    """A string field: absent (or null) is None; empty, overlong, holding a NUL or of another
    type is refused."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, f"{name} must be a non-empty string")
    if len(value) > max_chars or "\x00" in value:
        raise invalid(name, f"{name} must be at most {max_chars} characters of text")
    return value


def choice(body: Mapping[str, Any], name: str, options: tuple[str, ...]) -> str | None:
    value = text(body, name, max_chars=64)
    if value is not None and value not in options:
        raise invalid(name, f"{name} must be one of: {', '.join(options)}")
    return value


def required(body: Mapping[str, Any], name: str, *, max_chars: int = MAX_TEXT) -> str:
    """A string field that must be there."""
    value = text(body, name, max_chars=max_chars)
    if value is None:
        raise invalid(name, f"Missing required field: {name}")
    return value
