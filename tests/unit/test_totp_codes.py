from __future__ import annotations

import base64
import hashlib
import re

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twofold.core.factors import totp_codes as totp


def _hotp(secret_bytes: bytes, counter: int, digits: int = 6, digest=hashlib.sha1) -> str:
    """RFC 4226 HOTP over raw key bytes with any digest, by pyotp: the reference the module's
    own codes are checked against (TOTP is this at counter = step)."""
    secret = base64.b32encode(secret_bytes).decode("ascii").rstrip("=")
    return pyotp.HOTP(secret, digits=digits, digest=digest).at(counter)


# RFC 6238 Appendix B: the seeds are ASCII strings, one per hash, of the hash's output size.
SEEDS = {
    "SHA1": (b"12345678901234567890", hashlib.sha1),
    "SHA256": (b"12345678901234567890123456789012", hashlib.sha256),
    "SHA512": (b"1234567890123456789012345678901234567890123456789012345678901234", hashlib.sha512),
}
RFC6238_VECTORS = [
    (59, "94287082", "SHA1"),
    (59, "46119246", "SHA256"),
    (59, "90693936", "SHA512"),
    (1111111109, "07081804", "SHA1"),
    (1111111109, "68084774", "SHA256"),
    (1111111109, "25091201", "SHA512"),
    (1111111111, "14050471", "SHA1"),
    (1111111111, "67062674", "SHA256"),
    (1111111111, "99943326", "SHA512"),
    (1234567890, "89005924", "SHA1"),
    (1234567890, "91819424", "SHA256"),
    (1234567890, "93441116", "SHA512"),
    (2000000000, "69279037", "SHA1"),
    (2000000000, "90698825", "SHA256"),
    (2000000000, "38618901", "SHA512"),
    (20000000000, "65353130", "SHA1"),
    (20000000000, "77737706", "SHA256"),
    (20000000000, "47863826", "SHA512"),
]
# RFC 4226 Appendix D: HOTP, SHA1, 6 digits, counters 0..9.
RFC4226_VECTORS = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]
SHA1_SECRET = base64.b32encode(SEEDS["SHA1"][0]).decode()
NOW = 1_700_000_000.0


@pytest.mark.parametrize(("when", "expected", "mode"), RFC6238_VECTORS)
def test_rfc6238_vectors(when: int, expected: str, mode: str) -> None:
    seed, digest = SEEDS[mode]
    assert _hotp(seed, when // 30, digits=8, digest=digest) == expected
    # pyotp's own TOTP agrees, so the generic helper is not the only witness.
    secret = base64.b32encode(seed).decode()
    assert pyotp.TOTP(secret, digits=8, digest=digest, interval=30).at(when) == expected


@pytest.mark.parametrize(
    ("when", "expected"), [(when, code) for when, code, mode in RFC6238_VECTORS if mode == "SHA1"]
)
def test_module_path_matches_rfc6238_sha1(when: int, expected: str) -> None:
    # Six digits are the same truncated value modulo 10**6.
    assert totp.code_at(SHA1_SECRET, when) == expected[-6:]
    assert totp.matching_step(SHA1_SECRET, expected[-6:], when) == when // 30


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_VECTORS)))
def test_rfc4226_vectors(counter: int, expected: str) -> None:
    assert _hotp(SEEDS["SHA1"][0], counter) == expected


def test_new_secret() -> None:
    secret = totp.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20
    assert totp.new_secret() != secret


def test_barcode_uri_exact() -> None:
    uri = totp.barcode_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "My Test Tenant", "user@example.com")
    assert uri == (
        "otpauth://totp/My%20Test%20Tenant:user%40example.com"
        "?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=My%20Test%20Tenant"
        "&algorithm=SHA1&digits=6&period=30"
    )


def test_barcode_uri_encodes_separators() -> None:
    uri = totp.barcode_uri("S", "A:B&C", "x?y#z/w")
    assert uri.startswith("otpauth://totp/A%3AB%26C:x%3Fy%23z%2Fw?secret=S&issuer=A%3AB%26C&")


def test_barcode_uri_parses_back() -> None:
    secret = totp.new_secret()
    parsed = pyotp.parse_uri(totp.barcode_uri(secret, "My Test Tenant", "user@example.com"))
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == secret
    assert parsed.issuer == "My Test Tenant"
    assert parsed.name == "user@example.com"
    assert parsed.at(NOW) == totp.code_at(secret, NOW)


def test_code_at_matches_pyotp() -> None:
    secret = totp.new_secret()
    assert totp.code_at(secret, NOW) == pyotp.TOTP(secret).at(NOW)
    assert re.fullmatch(r"\d{6}", totp.code_at(secret, NOW))


def test_current_and_previous_steps_match() -> None:
    secret = totp.new_secret()
    step = int(NOW // 30)
    assert totp.matching_step(secret, totp.code_at(secret, NOW), NOW) == step
    assert totp.matching_step(secret, totp.code_at(secret, NOW - 30), NOW) == step - 1


def test_older_and_future_steps_do_not_match() -> None:
    secret = totp.new_secret()
    current = totp.code_at(secret, NOW)
    for other in (NOW - 60, NOW - 90, NOW + 30):
        code = totp.code_at(secret, other)
        if code != current and code != totp.code_at(secret, NOW - 30):
            assert totp.matching_step(secret, code, NOW) is None


def test_window_edges() -> None:
    secret = totp.new_secret()
    start = 30 * 56_666_666  # the first second of a step
    code = totp.code_at(secret, start)
    assert totp.matching_step(secret, code, start) == start // 30
    assert totp.matching_step(secret, code, start + 59.999) == start // 30
    if code not in (totp.code_at(secret, start + 60), totp.code_at(secret, start + 30)):
        assert totp.matching_step(secret, code, start + 60) is None


def test_current_step_is_checked_first(monkeypatch: pytest.MonkeyPatch) -> None:
    class SameCodeEveryStep:
        def generate(self, step: int) -> bytes:
            return b"123456"

    monkeypatch.setattr(totp, "_generator", lambda secret: SameCodeEveryStep())
    assert totp.matching_step("S", "123456", NOW) == int(NOW // 30)


def test_first_step_has_no_previous() -> None:
    secret = totp.new_secret()
    assert totp.matching_step(secret, totp.code_at(secret, 10), 10) == 0
    assert totp.matching_step(secret, totp.code_at(secret, 10), 40) == 0


@pytest.mark.parametrize(
    "code",
    [
        "",
        "12345",
        "1234567",
        "12345a",
        " 123456",
        "123456 ",
        "12 3456",
        "\uff11\uff12\uff13\uff14\uff15\uff16",  # fullwidth digits
        "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits
        "+12345",
    ],
)
def test_non_candidates_never_match(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Even if every step's code were this string, it is not six ASCII digits.
    monkeypatch.setattr(totp, "_code", lambda secret, step: code)
    assert totp.matching_step(totp.new_secret(), code, NOW) is None


@given(st.text(max_size=12), st.floats(min_value=0, max_value=2e10))
def test_matching_step_is_total(code: str, now: float) -> None:
    current = int(now // 30)
    expected = None
    if code == totp.code_at(SHA1_SECRET, current * 30):
        expected = current
    elif current > 0 and code == totp.code_at(SHA1_SECRET, (current - 1) * 30):
        expected = current - 1
    assert totp.matching_step(SHA1_SECRET, code, now) == expected


@given(st.from_regex(r"[0-9]{6}", fullmatch=True), st.integers(min_value=30, max_value=10**10))
def test_six_digit_guesses(code: str, now: int) -> None:
    step = totp.matching_step(SHA1_SECRET, code, now)
    assert step is None or totp.code_at(SHA1_SECRET, step * 30) == code


@given(st.integers(min_value=30, max_value=10**10))
def test_codes_just_generated_always_match(now: int) -> None:
    assert totp.matching_step(SHA1_SECRET, totp.code_at(SHA1_SECRET, now), now) == now // 30
