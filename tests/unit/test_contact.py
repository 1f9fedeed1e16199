"""Phone numbers and email addresses for out-of-band factors: validation, E.164, masking."""

from __future__ import annotations

import pytest

from twofold.core import contact
from twofold.core.errors import InvalidRequest


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+16502530000", "+16502530000"),
        ("+1 (650) 253-0000", "+16502530000"),
        ("+1.650.253.0000", "+16502530000"),
        ("0044 20 7946 0000", "+442079460000"),
        ("  +49 151 12345678 ", "+4915112345678"),
    ],
)
def test_normalize_phone(raw: str, e164: str) -> None:
    assert contact.normalize_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        42,
        "6502530000",  # national form: region unknown
        "+15555550100",  # not a valid number
        "++16502530000",
        "+1 650 253 0000 ext 1",
        "+1650253000\uff10",  # fullwidth digit
        "+" + "1" * 40,
        "+1\n6502530000",
    ],
)
def test_invalid_phone(raw: object) -> None:
    with pytest.raises(InvalidRequest) as info:
        contact.normalize_phone(raw)
    assert info.value.description == contact.INVALID_PHONE


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("Ada@Example.COM", "ada@example.com"), (" a.b+c@sub.example.org ", "a.b+c@sub.example.org")],
)
def test_normalize_email(raw: str, normal: str) -> None:
    assert contact.normalize_email(raw) == normal


@pytest.mark.parametrize(
    "raw",
    ["", "plain", "a@b", "a@@b.com", "a b@c.com", "a@b..com", "a@-b.com", "x" * 300 + "@a.com", 7],
)
def test_invalid_email(raw: object) -> None:
    with pytest.raises(InvalidRequest):
        contact.normalize_email(raw)


def test_masks() -> None:
    assert contact.mask_phone("+16502530000") == "XXXXXXXX0000"
    assert contact.mask_email("user@example.com") == "****@exam*******"
    assert contact.mask_email("a@b.io") == "****@b.io"


@pytest.mark.parametrize(
    ("allowed", "raw"),
    [
        ({"+44"}, "+44 20 7946 0000"),
        ({"+1"}, "+1 876 555 0100"),  # Jamaica shares +1
        ({"US"}, "+1 650 253 0000"),
        ({"GB", "+49"}, "+49 151 12345678"),
    ],
)
def test_allowed_countries(allowed: set[str], raw: str) -> None:
    assert contact.normalize_phone(raw, frozenset(allowed)).startswith("+")


@pytest.mark.parametrize(
    ("allowed", "raw"),
    [
        ({"+44"}, "+1 650 253 0000"),
        ({"US"}, "+1 876 555 0100"),  # a region is finer than the +1 calling code
        ({"US", "+33"}, "+44 20 7946 0000"),
    ],
)
def test_countries_outside_the_allow_list_are_refused(allowed: set[str], raw: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        contact.normalize_phone(raw, frozenset(allowed))
    assert info.value.description == contact.COUNTRY_NOT_ALLOWED
    assert raw not in info.value.description


def test_an_invalid_number_is_invalid_before_its_country_is_judged() -> None:
    with pytest.raises(InvalidRequest) as info:
        contact.normalize_phone("+15555550100", frozenset({"+44"}))
    assert info.value.description == contact.INVALID_PHONE


def test_allow_list_setting_normal_form() -> None:
    from twofold.config import Settings, country_allow_list

    assert country_allow_list(["44", "+44", 1, "us", " gb "]) == {"+44", "+1", "US", "GB"}
    assert country_allow_list(["882"]) == {"+882"}  # international networks, no region
    for bad in (["999"], ["XX"], ["+"], ["0"], ["1234"], ["united states"]):
        with pytest.raises(ValueError):
            country_allow_list(bad)
    assert Settings(phone_countries=[44, "us"]).phone_countries == ["+44", "US"]
    assert Settings().phone_countries == []
