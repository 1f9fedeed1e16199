from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twofold.core import ids
from twofold.core.factors import recovery

# Codes seen on real tenants and in Auth0's docs.
OBSERVED = [
    "17EQHNZC2SZDYG7X4QXVX9SW",
    "MZCRK3YX5V3AKNNYY6JEBQCL",
    "G14KWJB572GUSD2T3NJV625L",
    "N3BGPZZWJ85JLCNPZBDW6QXC",
    "K6LGLV3RSH3VERMKET8L7QKU",
    "FA45S1Z87MYARX9RG6EVMAPE",
]


def test_new_code_shape() -> None:
    code = recovery.new_code()
    assert re.fullmatch(r"[0-9A-Z]{24}", code)
    assert recovery.is_well_formed(code)


def test_new_codes_differ_and_use_the_alphabet() -> None:
    codes = [recovery.new_code() for _ in range(200)]
    assert len(set(codes)) == 200
    assert set("".join(codes)) == set(recovery.ALPHABET)


@pytest.mark.parametrize("code", OBSERVED)
def test_observed_codes_are_well_formed(code: str) -> None:
    assert recovery.is_well_formed(code)


def test_normalize() -> None:
    assert recovery.normalize(" n3bg-pzzw j85j-lcnp zbdw-6qxc ") == "N3BGPZZWJ85JLCNPZBDW6QXC"


@pytest.mark.parametrize(
    "code",
    [
        "",
        "N3BGPZZWJ85JLCNPZBDW6QX",  # 23
        "N3BGPZZWJ85JLCNPZBDW6QXCA",  # 25
        "N3BGPZZWJ85JLCNPZBDW6QX_",
        "N3BGPZZWJ85JLCNPZBDW6QX\n",
        "N3BGPZZWJ85JLCNPZBDW6QXÉ",
        "N3BGPZZWJ85JLCNPZBDW6Qß",  # "ß".upper() == "SS" must not make 24
        "N3BGPZZWJ85JLCNPZBDW6QX٣",  # an Arabic-Indic digit
        "N3BGPZZWJ85JLCNPZBDW6QX\ud800",
    ],
)
def test_malformed_codes(code: str) -> None:
    assert not recovery.is_well_formed(code)


def test_hash_ignores_case_spaces_and_hyphens() -> None:
    code = "N3BGPZZWJ85JLCNPZBDW6QXC"
    expected = ids.digest(code, "recovery-code")
    for variant in (
        code,
        code.lower(),
        "n3bg-pzzw-j85j-lcnp-zbdw-6qxc",
        " N3BG PZZW J85J LCNP ZBDW 6QXC ",
    ):
        assert recovery.hash_code(variant) == expected
    assert recovery.hash_code("N3BGPZZWJ85JLCNPZBDW6QXD") != expected


@given(st.data())
def test_formatting_never_changes_the_hash(data: st.DataObject) -> None:
    code = recovery.new_code()
    pieces = []
    for ch in code:
        pieces.append(data.draw(st.sampled_from([ch, ch.lower()])))
        pieces.append(data.draw(st.sampled_from(["", " ", "-", "  ", "- "])))
    formatted = "".join(pieces)
    assert recovery.is_well_formed(formatted)
    assert recovery.hash_code(formatted) == recovery.hash_code(code)


@given(st.text(max_size=60))
def test_total_on_any_text(text: str) -> None:
    well_formed = recovery.is_well_formed(text)
    assert well_formed == bool(re.fullmatch(r"[0-9A-Z]{24}", recovery.normalize(text)))
    assert re.fullmatch(r"[0-9a-f]{64}", recovery.hash_code(text))
