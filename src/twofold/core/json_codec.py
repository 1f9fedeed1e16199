"""JSON for what Twofold writes and reads on every token and MFA request: a token's claims, the
bodies of `json_response` (token, MFA API, /userinfo, push, passkey and account-page answers,
and every OAuth error), the mfa_token's record.

orjson does this in a fifth to a twentieth of the standard library's time, which spends 2 to 6
µs a call on these objects, and an MFA grant makes four such calls. Its output is what the
standard library writes with `ensure_ascii=False, separators=(",", ":")`: compact UTF-8, the
same escapes, the same digits. Where the two differ:
- a float's exponent may be written otherwise (`1e-7` for `1e-07`, `0.00001` for `1e-05`): the
  same number to any JSON reader;
- orjson refuses integers beyond 64 bits and keys that are not strings, and here also
  datetimes, dataclasses and subclasses of str, int, dict and list, which it would otherwise
  write in its own way (a datetime claim as text, a dataclass with every field): all of these
  go to the standard library, which writes or refuses them as it always did. UUIDs and Enums
  have no such option; nothing here passes them;
- orjson writes NaN and the infinities as null; before, responses refused them and claims held
  words that are not JSON. Only a value that orjson refuses for another reason sends them to
  the fallback, which refuses them. The numbers written here are Twofold's own (times,
  lifetimes, counts), never NaN;
- orjson reads an integer beyond 64 bits as a float, so `loads` is for records Twofold wrote
  itself from its own values, never for what a client or an administrator sent.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Values orjson would write differently from the standard library raise instead (see above).
_SAME_AS_STDLIB = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def dumps(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value, option=_SAME_AS_STDLIB)
    except TypeError:
        return json.dumps(
            value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()


def loads(text: str | bytes) -> Any:
    """A record that `dumps` wrote (see the module's note on large integers)."""
    return orjson.loads(text)
