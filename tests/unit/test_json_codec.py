"""The hot path's JSON (orjson) writes what the standard library writes, and falls back to it
where orjson refuses a value."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

import pytest

from twofold.core import json_codec


class Tag(str):
    pass


class Document(dict[str, Any]):
    pass


@dataclasses.dataclass
class Record:
    secret: str


def stdlib(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


SAME_BYTES = [
    {"sub": "auth0|0000000000e433e198ebb8fd", "aud": ["https://api", "https://x/userinfo"]},
    {"iat": 1796487193, "exp": 2**63 - 1, "low": -(2**63), "ok": True, "no": False, "nil": None},
    {"name": "Zoë Ŧwofold 😀", "quote": '"\\/', "controls": "\x00\x1f\n\t\x7f\u2028\u2029"},
    {"expires_at": 1796487193.49108, "half": 1.5, "big": 1e22, "tiny": 5e-324, "neg": -0.0},
    [[], {}, "", 0, [{"nested": [1, 2.25, "three"]}]],
]


@pytest.mark.parametrize("value", SAME_BYTES)
def test_writes_the_standard_librarys_bytes(value: Any) -> None:
    assert json_codec.dumps(value) == stdlib(value)


@pytest.mark.parametrize("number", [1e-7, 1.5e-7, 1e-5, 2.5e-5])
def test_small_floats_may_be_spelt_otherwise_but_read_back_the_same(number: float) -> None:
    written = json_codec.dumps({"n": number})
    assert json.loads(written) == {"n": number}
    assert json_codec.loads(written) == {"n": number}


@pytest.mark.parametrize(
    "value",
    [
        {"n": 2**64, "name": "Zoë 😀"},  # beyond orjson's 64 bits
        {"n": -(2**63) - 1},
        {"deep": [{"n": 10**30}]},
        {1: "integer key"},  # orjson takes only string keys
        {"tag": Tag("a subclass of str")},
        Document({"k": "a subclass of dict"}),
    ],
)
def test_what_orjson_refuses_goes_to_the_standard_library(value: Any) -> None:
    written = json_codec.dumps(value)
    assert written == stdlib(value)
    # Read back exactly by the standard library: nothing rounded to a float.
    assert json.loads(written) == json.loads(stdlib(value))


@pytest.mark.parametrize(
    "value",
    [
        {"exp": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)},  # orjson: ISO text
        {"record": Record("s3cret")},  # orjson: every field
        {"n": 2**64, "nan": float("nan")},  # the fallback refuses NaN, as Starlette did
    ],
)
def test_what_the_standard_library_refuses_stays_refused(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        json.dumps(value, allow_nan=False)
    with pytest.raises((TypeError, ValueError)):
        json_codec.dumps(value)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_orjson_writes_nan_and_infinities_as_null(number: float) -> None:
    # Never JSON's words NaN or Infinity, which strict readers refuse.
    assert json_codec.dumps({"n": number}) == b'{"n":null}'


def test_a_lone_surrogate_is_refused_as_claims_and_responses_were() -> None:
    with pytest.raises(UnicodeEncodeError):
        stdlib({"name": "\ud800"})
    with pytest.raises(UnicodeEncodeError):
        json_codec.dumps({"name": "\ud800"})


def test_reads_what_it_and_the_standard_library_wrote() -> None:
    record = {"id": "6544bebc", "expires_at": 1796487193.49108, "scope": "openid é", "n": 3}
    assert json_codec.loads(json_codec.dumps(record)) == record
    assert json_codec.loads(json.dumps(record)) == record  # a record from before (", " and "\\u")
    assert json_codec.loads(json.dumps(record).encode()) == record
