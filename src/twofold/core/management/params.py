"""Reading the Management API's query strings and JSON bodies: typed values or a 400 naming the
parameter or property."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twofold.core.management.errors import bad_body, bad_query

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_TRUE = ("true", "1")
_FALSE = ("false", "0")

_TYPE_NAMES = {bool: "boolean", str: "string", dict: "object", int: "integer", list: "array"}


def integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise bad_query(f"Expected type integer but found type string on property {name}")
    value = int(raw)
    if not low <= value <= high:
        raise bad_query(f"Value {value} is out of range ({low} to {high}) on property {name}")
    return value


@dataclass(frozen=True, slots=True)
class Paging:
    """`page`, `per_page` and `include_totals` of a list call."""

    page: int
    per_page: int
    totals: bool

    @property
    def start(self) -> int:
        return self.page * self.per_page

    def answer(self, items: Sequence[Any], total: int, key: str, *, length: bool = True) -> Any:
        """The list, or with include_totals Auth0's envelope around it (authentication methods
        have no `length` in it)."""
        if not self.totals:
            return items
        envelope: dict[str, Any] = {"start": self.start, "limit": self.per_page}
        if length:
            envelope["length"] = len(items)
        return {**envelope, "total": total, key: items}


def paging(query: Mapping[str, str], last_page: int, max_per_page: int) -> Paging:
    return Paging(
        integer(query, "page", 0, 0, last_page),
        integer(query, "per_page", 50, 1, max_per_page),
        boolean(query, "include_totals"),
    )


def boolean(params: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise bad_query(f"Expected type boolean but found type string on property {name}")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def body_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_body(f"'Expected type object but found type {_type_name(value)}'")
    return value


def allowed(body: Mapping[str, Any], names: frozenset[str]) -> None:
    extra = sorted(k for k in body if k not in names)
    if extra:
        shown = ", ".join(k[:64] for k in extra[:5])
        raise bad_body(f"'Additional properties not allowed: {shown}'")


def typed(body: Mapping[str, Any], name: str, kind: type, *, required: bool = False) -> Any:
    """The property as `kind` (bool never passes for another type), None when absent."""
    if name not in body or body[name] is None:
        if required:
            raise bad_body(f"'Missing required property: {name}'")
        if name in body and kind is not dict:
            raise bad_body(
                f"'Expected type {_TYPE_NAMES[kind]} but found type null' on property {name}"
            )
        return None
    value = body[name]
    if type(value) is not kind:
        raise bad_body(
            f"'Expected type {_TYPE_NAMES[kind]} but found type {_type_name(value)}' "
            f"on property {name}"
        )
    return value


def text(
    body: Mapping[str, Any], name: str, *, required: bool = False, max_chars: int = 320
) -> str | None:
    value: str | None = typed(body, name, str, required=required)
    if value is not None and not 1 <= len(value) <= max_chars:
        raise bad_body(f"'String length must be between 1 and {max_chars}' on property {name}")
    if value is not None and CONTROL_CHARACTERS.search(value):
        # No stored text holds control characters (PostgreSQL refuses NUL outright).
        raise bad_body(f"'Control characters are not allowed' on property {name}")
    return value


def search(q: str, fields: tuple[str, ...]) -> dict[str, str]:
    """A Lucene-style `q` reduced to what Twofold searches: `field:"x"` (or `field:x`) terms of
    these fields, joined by AND. Anything else is a 400 naming what is supported."""
    term = re.compile(rf'({"|".join(map(re.escape, fields))}):(?:"([^"]*)"|(\S+))')
    supported = " and ".join(f'{name}:"…"' for name in fields)
    refused = f"q supports {supported} terms joined by AND"
    out: dict[str, str] = {}
    rest = q.strip()
    while rest:
        match = term.match(rest)
        if match is None:
            raise bad_query(refused)
        field, quoted, bare = match.groups()
        out[field] = quoted if quoted is not None else bare
        rest = rest[match.end() :].strip()
        if rest.startswith("AND "):
            rest = rest[4:].strip()
        elif rest:
            raise bad_query(refused)
    return out
