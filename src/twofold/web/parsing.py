"""Turning a request into typed inputs for the core, or a 4xx OAuth error.

Bodies are read with a size cap; form and JSON are both accepted (as Auth0 does); a repeated
parameter is an error rather than "last one wins", so two layers can never disagree on which
value was meant.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from typing import Any
from urllib.parse import unquote, unquote_plus

from starlette.requests import Request

from twofold.core.client_auth import ClientCredentials
from twofold.core.errors import (
    InvalidClient,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)

MAX_PARAM_CHARS = 8192
MAX_JSON_DEPTH = 16
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge()
        except ValueError:
            raise InvalidRequest("Invalid Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidRequest(f"Duplicate parameter: {key[:64]}")
        out[key] = value
    return out


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def form_pairs(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True, errors="strict")`, field for field, without
    its calls per field where nothing needs decoding (most fields of a token request)."""
    pairs: list[tuple[str, str]] = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((_form_decoded(name), _form_decoded(value)))
    return pairs


def _form_decoded(part: str) -> str:
    if "%" in part or "+" in part:
        return unquote(part.replace("+", " "), errors="strict")
    return part


def _parse_form(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
        pairs = form_pairs(text)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("Malformed form body") from None
    return _reject_duplicates(pairs)


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except InvalidRequest:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("Malformed JSON body") from None
    if not isinstance(value, dict):
        raise InvalidRequest("The JSON body must be an object")
    # Both checks walk the whole value; the raw bytes say when they cannot fail. A depth over
    # the cap needs that many nested objects or arrays, so that many opening brackets.
    nestable = raw.count(b"{") + raw.count(b"[") >= MAX_JSON_DEPTH
    if nestable and _depth(value) > MAX_JSON_DEPTH:
        raise InvalidRequest("The JSON body is nested too deeply")
    # "\ud800" is valid JSON but no text: it cannot be hashed, stored or compared as UTF-8. The
    # UTF-8 decoding above refuses encoded surrogates, so only a \u escape can make one.
    if b"\\u" in raw:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest("Malformed JSON body") from None
    return value


async def parse_body(request: Request, limit: int) -> dict[str, Any]:
    """Form or JSON body as a dict (JSON values keep their types)."""
    raw = await read_body(request, limit)
    media = _media_type(request)
    if not raw.strip():
        if media in ("", FORM, JSON) or media.endswith("+json"):
            return {}
        raise UnsupportedMediaType(f"Unsupported content type: {media[:64]}")
    if media == FORM:
        return _parse_form(raw)
    if media == JSON or media.endswith("+json"):
        return _parse_json(raw)
    raise UnsupportedMediaType(f"Unsupported content type: {media[:64] or 'none'}")


def string_params(body: dict[str, Any]) -> dict[str, str]:
    """The token endpoint's parameters are strings; anything else is a client error."""
    out: dict[str, str] = {}
    for key, value in body.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidRequest(f"Invalid parameter: {key[:64]}")
        if len(value) > MAX_PARAM_CHARS:
            raise InvalidRequest(f"Parameter too long: {key[:64]}")
        if "\x00" in value:
            raise InvalidRequest(f"Invalid parameter: {key[:64]}")
        out[key] = value
    return out


# Token parameters that carry a JSON object: the passkey grant's `authn_response`, which
# @auth0/auth0-auth-js sends nested in a JSON body (a form body carries it as a JSON string).
JSON_OBJECT_PARAMS = frozenset({"authn_response"})
MAX_JSON_PARAM_CHARS = 32_768


def token_params(body: dict[str, Any]) -> dict[str, str]:
    """The token endpoint's parameters as strings; a JSON-object parameter becomes its JSON
    text (the grant parses it again), within its own, larger, size cap."""
    objects: dict[str, str] = {}
    rest: dict[str, Any] = {}
    for key, value in body.items():
        if key in JSON_OBJECT_PARAMS and isinstance(value, (dict, str)):
            text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            if len(text) > MAX_JSON_PARAM_CHARS:
                raise InvalidRequest(f"Parameter too long: {key}")
            if "\x00" in text:
                raise InvalidRequest(f"Invalid parameter: {key}")
            objects[key] = text
        else:
            rest[key] = value
    return {**string_params(rest), **objects}


def client_credentials(request: Request, params: dict[str, str]) -> ClientCredentials:
    basic = None
    header = request.headers.get("authorization")
    if header and header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidClient(debug="malformed Basic header") from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise InvalidClient(debug="malformed Basic header")
        # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        basic = (unquote_plus(client_id), unquote_plus(secret))
    return ClientCredentials(
        client_id=params.get("client_id") or None,
        client_secret=params.get("client_secret") or None,
        client_assertion=params.get("client_assertion") or None,
        client_assertion_type=params.get("client_assertion_type") or None,
        basic=basic,
    )


def claimed_client_id(request: Request, params: dict[str, str]) -> str | None:
    """The client the request says it is: body client_id, else the Basic user name.

    Unverified here, but the address only reaches a grant after client authentication, which
    refuses a Basic user or body client_id other than the client it authenticates.
    """
    if params.get("client_id"):
        return params["client_id"]
    try:
        basic = client_credentials(request, params).basic
    except InvalidClient:
        return None
    return basic[0] if basic else None


MAX_ADDRESS_CHARS = 64


def canonical_ip(value: str) -> str | None:
    """`value` as a canonical IP address, or None when it is not exactly one address.

    Forwarded addresses key rate limits and land in the audit trail and the access log, so only
    an address is accepted: no host names, no IPv6 zone ("%eth0", free text), nothing overlong.
    An IPv4-mapped IPv6 address is its IPv4 address, so one client has one bucket.
    """
    text = value.strip()
    if not text or len(text) > MAX_ADDRESS_CHARS:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return None
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
    return str(address)


def end_user_ip(request: Request, params: dict[str, str], trusted: frozenset[str]) -> str | None:
    """auth0-forwarded-for is believed only from clients configured as trusted."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("auth0-forwarded-for")
    if not forwarded or not trusted or claimed_client_id(request, params) not in trusted:
        return peer
    # Only a well-formed address: the value keys rate limits and lands in the audit trail.
    return canonical_ip(forwarded.split(",")[0]) or peer
