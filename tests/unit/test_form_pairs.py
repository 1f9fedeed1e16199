"""The form parser of the web layer reads a body exactly as urllib's parse_qsl does (blank values
kept, strict UTF-8), errors included."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twofold.web.parsing import form_pairs

# The characters that matter to the format, a few others and some percent-escapes.
_PIECES = st.sampled_from(
    ["a", "b", "=", "&", "+", "%", "%2", "%2F", "%3d", "%26", "%C3%A9", "%FF", "%ZZ", "é", " "]
)


def _parse(text: str) -> list[tuple[str, str]] | type[Exception]:
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except ValueError as exc:
        return type(exc)


def _ours(text: str) -> list[tuple[str, str]] | type[Exception]:
    try:
        return form_pairs(text)
    except ValueError as exc:
        return type(exc)


@given(st.lists(_PIECES, max_size=24).map("".join))
def test_same_as_parse_qsl(text: str) -> None:
    assert _ours(text) == _parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "&&",
        "a",
        "a=",
        "=b",
        "a=b=c",
        "grant_type=http%3A%2F%2Fauth0.com%2Foauth%2Fgrant-type%2Fmfa-otp&otp=123456",
        "x=a+b%2Bc",
        "bad=%C3",
    ],
)
def test_examples(text: str) -> None:
    assert _ours(text) == _parse(text)
