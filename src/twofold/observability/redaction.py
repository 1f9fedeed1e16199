"""Redaction: the last step before a log record is rendered.

Every record passes through `redact` (a structlog processor, also run for stdlib records through
the ProcessorFormatter's pre-chain). It

- replaces the value of every field whose name says it holds a secret (passwords, codes, client
  secrets and assertions, tokens, Authorization headers, private keys, …), at any depth;
- rewrites strings (the message too) where a secret can be recognised by its shape: `key=value`
  and `"key": "value"` pairs with a sensitive key, `Authorization`/`Bearer`/`Basic` credentials,
  JWTs, `otpauth://` URIs, TOTP secrets (32 base32 characters), recovery codes (24 of `0-9A-Z`)
  and long random tokens (40+ url-safe characters mixing cases and digits);
- turns exception info into the exception type and its frames only: exception messages can carry
  request data (SQL parameters, parsed values) and are dropped.

Shapes cannot catch everything (a 6-digit code in free text looks like any number), so code must
still not log secrets; this is the net under that rule, not a licence to break it.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping, MutableMapping
from types import TracebackType
from typing import Any

REDACTED = "[REDACTED]"
_MAX_DEPTH = 8

# Field names (lower-cased, "-" as "_") that hold a secret wherever they appear.
_EXACT_KEYS = frozenset(
    {
        "code",
        "otp",
        "pin",
        "key",
        "secret",
        "auth",
        "dsn",
        "database_url",
        "encryption_keys",
        "binding_code",
        "recovery_code",
        "recovery_codes",
        "oob_code",
        "user_code",
        "device_code",
        "barcode_uri",
    }
)
_KEY_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "assertion",
    "authorization",
    "cookie",
    "private_key",
    "privatekey",
    "api_key",
    "apikey",
    "credential",
    "signature",
    "otp",
)
# Fields that look sensitive by name but describe, rather than hold, a secret.
_SAFE_KEYS = frozenset(
    {"token_type", "client_assertion_type", "token_endpoint_auth_method", "otp_length"}
)

_SENSITIVE_NAME = (
    r"(?:[a-z0-9_]*(?:password|passwd|passphrase|secret|token|assertion|authorization|cookie"
    r"|private_key|api_key|apikey|credential|signature)[a-z0-9_]*"
    r"|otp|code|binding_code|recovery_codes?|oob_code|pin|key|encryption_keys)"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "Authorization: Bearer x" / authorization=Basic x (headers in text, dumps of dicts).
    (
        re.compile(
            r"(?i)(\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(?:bearer|basic|dpop|digest)\s+)?[^\s\"',;&]+"
        ),
        r"\1" + REDACTED,
    ),
    (
        re.compile(r"(?i)(?<!=)\b(bearer|basic|dpop)(\s+)[A-Za-z0-9._~+/=-]{8,}"),
        r"\1\2" + REDACTED,
    ),
    # JSON / repr pairs: "password": "…", 'otp': '…'
    (
        re.compile(
            r"(?i)([\"'](?!token_type|client_assertion_type)" + _SENSITIVE_NAME + r"[\"']\s*:\s*)"
            r"(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,}\]]+)"
        ),
        r"\1" + '"' + REDACTED + '"',
    ),
    # Form, query strings and key=value text: password=…&otp=…
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9_])((?!token_type|client_assertion_type)"
            + _SENSITIVE_NAME
            + r"\s*=\s*)[^\s&,;\"')}\]]+"
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)otpauth://\S+"), "otpauth://" + REDACTED),
    # JWS/JWE compact serialisations.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){1,4}"), REDACTED),
    # PEM blocks (private keys).
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
        ),
        REDACTED,
    ),
    # TOTP secrets (160-bit base32) and recovery codes (24 of 0-9A-Z), by shape.
    (re.compile(r"(?<![A-Za-z0-9])[A-Z2-7]{32}(?![A-Za-z0-9])"), REDACTED),
    (
        re.compile(
            r"(?<![A-Za-z0-9])(?=[0-9A-Z]*[0-9])(?=[0-9A-Z]*[A-Z])[0-9A-Z]{24}(?![A-Za-z0-9])"
        ),
        REDACTED,
    ),
)
# Long url-safe random strings (client secrets, opaque tokens): 40+ characters with upper case,
# lower case and digits. Hex digests (lower case only) and 32-character client ids stay readable.
_RANDOM = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{40,}(?![A-Za-z0-9_-])")


def _looks_random(match: re.Match[str]) -> str:
    s = match.group(0)
    mixed = any(c.isupper() for c in s) and any(c.islower() for c in s)
    return REDACTED if mixed and any(c.isdigit() for c in s) else s


def is_sensitive_key(name: object) -> bool:
    if not isinstance(name, str):
        return False
    key = name.strip().lower().replace("-", "_")
    if key in _SAFE_KEYS:
        return False
    return key in _EXACT_KEYS or any(part in key for part in _KEY_PARTS)


def scrub_text(text: str) -> str:
    """Rewrite every secret recognisable by its shape in free text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _RANDOM.sub(_looks_random, text)


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with secrets removed (mappings by key, strings by shape)."""
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes | bytearray):
        return scrub_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {
            k: REDACTED if is_sensitive_key(k) else scrub(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        # Header lists arrive as (name, value) pairs.
        if (
            isinstance(value, tuple)
            and len(value) == 2
            and isinstance(value[0], str | bytes)
            and is_sensitive_key(
                value[0].decode("latin-1") if isinstance(value[0], bytes) else value[0]
            )
        ):
            return (value[0], REDACTED)
        return [scrub(v, depth + 1) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub_text(repr(value))


def describe_exception(exc_info: Any) -> str:
    """Type and frames (file:line:function), never the message."""
    if exc_info is True or exc_info is None:
        import sys

        exc_info = sys.exc_info()
    exc_type: Any = None
    tb: Any = None
    if isinstance(exc_info, BaseException):
        exc_type, tb = type(exc_info), exc_info.__traceback__
    elif isinstance(exc_info, tuple) and len(exc_info) == 3:
        exc_type, tb = exc_info[0], exc_info[2]
    if not isinstance(exc_type, type):
        return "exception"
    frames = traceback.extract_tb(tb if isinstance(tb, TracebackType) else None)[-8:]
    where = " <- ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in frames[::-1]
    )
    return f"{exc_type.__name__} at {where}" if where else exc_type.__name__


def redact(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor: scrub every field of the record; keep structlog's private keys."""
    out: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key in ("_record", "_from_structlog"):
            out[key] = value
        elif key == "exc_info":
            if value:
                out["exception"] = describe_exception(value)
        elif key == "stack_info":
            continue
        elif key == "positional_args":
            out[key] = scrub(value)
        elif is_sensitive_key(key):
            out[key] = REDACTED
        else:
            out[key] = scrub(value)
    return out
