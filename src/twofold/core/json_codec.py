"""JSON for what Twofold writes and reads on every request: a token's claims, the token and MFA
endpoints' response bodies, the mfa_token's record.

orjson does this in a fifth to a twentieth of the standard library's time, which spends 2 to 6
µs a call on these objects, and an MFA grant makes four such calls. Its output is what the
standard library writes with `ensure_ascii=False, separators=(",", ":")`: compact UTF-8, the
same escapes, the same digits. Where the two differ:
- a float's exponent may be written otherwise (`1e-7` for `1e-07`, `0.00001` for `1e-05`): the
  same number to any JSON reader;
- orjson refuses integers beyond 64 bits and keys that are not strings; `dumps` hands those
  values to the standard library, so nothing that was written before now fails.
- orjson reads an integer beyond 64 bits as a float, so `loads` is for records Twofold wrote
  itself from its own values, never for what a client or an administrator sent.
- orjson writes NaN and the infinities as null, where the standard library writes words that
  are not JSON. The numbers written here are Twofold's own (times, lifetimes, counts).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def loads(text: str | bytes) -> Any:
    """A record that `dumps` wrote (see the module's note on large integers)."""
    return orjson.loads(text)
