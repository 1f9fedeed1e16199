from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, JWKRegistry, RSAKey

from twofold.core.claims import TokenInvalid
from twofold.core.crypto import DecryptionError, KeyRing
from twofold.core.models import SigningKey
from twofold.core.tokens import (
    TokenSigner,
    generate_signing_key,
    verify_client_assertion,
)

NOW = 1_700_000_000
ISSUER = "https://tenant.example.com/"
AUDIENCE = "https://api.example.com/"
CLIENT_ID = "c" * 32
TOKEN_URL = "https://tenant.example.com/oauth/token"


# --- helpers -------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jws(header: Any, payload: Any, key: Any, alg: str = "RS256") -> str:
    """Sign anything, bypassing every library check, to hand-craft hostile tokens."""
    header_part = b64url(header if isinstance(header, bytes) else json.dumps(header).encode())
    payload_part = b64url(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    signing_input = f"{header_part}.{payload_part}".encode()
    if alg == "none":
        return f"{header_part}.{payload_part}."
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    if alg.startswith("RS"):
        signature = key.sign(signing_input, padding.PKCS1v15(), digest)
    elif alg.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        signature = key.sign(signing_input, pss, digest)
    elif alg.startswith("ES"):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest)))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg.startswith("HS"):
        signature = hmac.new(key, signing_input, getattr(hashlib, f"sha{alg[2:]}")).digest()
    else:
        raise AssertionError(alg)
    return f"{header_part}.{payload_part}.{b64url(signature)}"


@functools.cache
def keyring() -> KeyRing:
    return KeyRing({"k1": bytes(range(32))}, "k1")


@functools.cache
def signing_key() -> SigningKey:
    return generate_signing_key(keyring(), NOW - 1000)


@functools.cache
def signer() -> TokenSigner:
    return TokenSigner([signing_key()], keyring())


def private_of(key: SigningKey) -> Any:
    pem = keyring().decrypt(key.private_key_enc, f"signing_key:{key.kid}")
    return serialization.load_pem_private_key(pem, password=None)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "auth0|0123456789abcdef01234567",
        "aud": AUDIENCE,
        "iat": NOW,
        "exp": NOW + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def verify(token: Any, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"audience": AUDIENCE, "issuer": ISSUER, "now": NOW}
    options.update(kwargs)
    return signer().verify(token, **options)


def forge(header_overrides: dict[str, Any] | None = None, payload: Any = None) -> str:
    """A token with our kid, signed by our real private key, with whatever header/payload."""
    header = {"alg": "RS256", "kid": signing_key().kid, "typ": "JWT", **(header_overrides or {})}
    return raw_jws(header, claims() if payload is None else payload, private_of(signing_key()))


# --- signing keys --------------------------------------------------------------------------


def test_generated_key_record() -> None:
    key = signing_key()
    assert key.alg == "RS256"
    assert key.status == "current"
    assert key.created_at == NOW - 1000
    assert key.private_key_enc.startswith("v1.k1.")
    jwk = key.public_jwk
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert jwk["use"] == "sig"
    assert jwk["alg"] == "RS256"
    assert jwk["kid"] == key.kid
    public = RSAKey.import_key({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]})
    assert public.thumbprint() == key.kid  # RFC 7638
    assert public.raw_value.key_size == 2048


def test_private_key_is_bound_to_its_kid() -> None:
    key = signing_key()
    with pytest.raises(DecryptionError):
        keyring().decrypt(key.private_key_enc, "signing_key:someone-else")


def test_unsupported_alg() -> None:
    # EdDSA is supported (Ed25519); RFC 9864's "Ed25519" name and other curves are not.
    for alg in ("HS256", "none", "Ed25519", "Ed448", "ES384", "RS1"):
        with pytest.raises(ValueError):
            generate_signing_key(keyring(), NOW, alg)


# --- sign / verify -------------------------------------------------------------------------


def test_round_trip() -> None:
    token = signer().sign(claims(scope="openid"))
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"typ": "JWT", "alg": "RS256", "kid": signing_key().kid}
    assert verify(token) == claims(scope="openid")


def test_sign_does_not_mutate_claims() -> None:
    original = claims()
    snapshot = dict(original)
    signer().sign(original)
    assert original == snapshot


def test_jwks() -> None:
    jwks = signer().jwks()
    assert jwks == {"keys": [signing_key().public_jwk]}
    assert "d" not in jwks["keys"][0]
    jwks["keys"].clear()  # the caller's copy; the signer's stays intact
    assert signer().jwks()["keys"]


def test_verify_does_not_parse_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    token = signer().sign(claims())

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("keys parsed during verify")

    monkeypatch.setattr(JWKRegistry, "import_key", boom)
    assert verify(token)["sub"]
    assert signer().sign(claims())


@pytest.mark.parametrize(
    ("token_aud", "accepted"),
    [
        (AUDIENCE, AUDIENCE),
        (AUDIENCE, [AUDIENCE, "other"]),
        ([AUDIENCE, "https://tenant.example.com/userinfo"], AUDIENCE),
        (["x", AUDIENCE], ("y", AUDIENCE)),
    ],
)
def test_audiences_accepted(token_aud: Any, accepted: Any) -> None:
    assert verify(signer().sign(claims(aud=token_aud)), audience=accepted)


@pytest.mark.parametrize(
    ("token_aud", "accepted"),
    [
        ("https://other/", AUDIENCE),
        (["https://other/"], AUDIENCE),
        ([], AUDIENCE),
        (None, AUDIENCE),
        ([AUDIENCE, 5], AUDIENCE),
        ({"aud": AUDIENCE}, AUDIENCE),
        (AUDIENCE, []),
        (AUDIENCE, "https://api.example.com"),  # no trailing slash: exact match only
    ],
)
def test_wrong_audience(token_aud: Any, accepted: Any) -> None:
    token = signer().sign(claims(aud=token_aud))
    with pytest.raises(TokenInvalid):
        verify(token, audience=accepted)


@pytest.mark.parametrize(
    "iss", ["https://evil.example.com/", "https://tenant.example.com", None, 1]
)
def test_wrong_issuer(iss: Any) -> None:
    with pytest.raises(TokenInvalid):
        verify(signer().sign(claims(iss=iss)))


def test_expiry_and_leeway() -> None:
    token = signer().sign(claims(exp=NOW + 10))
    assert verify(token, now=NOW + 9.999)
    with pytest.raises(TokenInvalid, match="expired"):
        verify(token, now=NOW + 10)
    with pytest.raises(TokenInvalid, match="expired"):
        verify(token, now=NOW + 1000)
    assert verify(token, now=NOW + 12, leeway=5)


def test_not_before_and_issued_at() -> None:
    with pytest.raises(TokenInvalid):
        verify(signer().sign(claims(nbf=NOW + 60)))
    assert verify(signer().sign(claims(nbf=NOW + 5)), leeway=5)
    with pytest.raises(TokenInvalid):
        verify(signer().sign(claims(iat=NOW + 60)))


@pytest.mark.parametrize("exp", [None, "1700000600", True, [NOW + 600], {"t": 1}])
def test_exp_required_and_numeric(exp: Any) -> None:
    with pytest.raises(TokenInvalid):
        verify(signer().sign(claims(exp=exp)))


@pytest.mark.parametrize(
    "payload",
    [
        b'{"iss":"%s","aud":"%s","exp":NaN}',
        b'{"iss":"%s","aud":"%s","exp":Infinity}',
        b'{"iss":"%s","aud":"%s","exp":1e999}',
        b'{"iss":"%s","aud":"%s","exp":9999999999,"exp":1}',
        b'{"iss":"%s","aud":"%s","aud":"x","exp":9999999999}',
        b'["%s","%s"]',
        b'"%s%s"',
        b"\xff%s%s",
        b"{%s%s",
    ],
)
def test_hostile_payloads(payload: bytes) -> None:
    token = forge(payload=payload % (ISSUER.encode(), AUDIENCE.encode()))
    with pytest.raises(TokenInvalid):
        verify(token)


def test_forge_helper_is_faithful() -> None:
    # The hand-made tokens above fail for their payloads, not because the helper is wrong.
    assert verify(forge())


def test_alg_none_rejected() -> None:
    for alg in ("none", "None", "NONE"):
        token = raw_jws({"alg": alg, "kid": signing_key().kid}, claims(), None, "none")
        with pytest.raises(TokenInvalid):
            verify(token)
        with pytest.raises(TokenInvalid):
            verify(token.rsplit(".", 1)[0] + ".")


def test_hs256_with_public_key_rejected() -> None:
    """Algorithm confusion: HMAC keyed with our public key, which anyone can fetch."""
    public = private_of(signing_key()).public_key()
    candidates = [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        json.dumps(signing_key().public_jwk).encode(),
    ]
    for secret in candidates:
        for alg in ("HS256", "HS384", "HS512"):
            token = raw_jws(
                {"alg": alg, "kid": signing_key().kid, "typ": "JWT"}, claims(), secret, alg
            )
            with pytest.raises(TokenInvalid):
                verify(token)


def test_alg_must_match_the_key() -> None:
    # Our RSA key, but the token claims PS256: same key type, other algorithm.
    token = raw_jws(
        {"alg": "PS256", "kid": signing_key().kid}, claims(), private_of(signing_key()), "PS256"
    )
    with pytest.raises(TokenInvalid, match="algorithm"):
        verify(token)


def test_unknown_or_missing_kid() -> None:
    for header in ({"alg": "RS256"}, {"alg": "RS256", "kid": "nope"}, {"alg": "RS256", "kid": 7}):
        with pytest.raises(TokenInvalid):
            verify(raw_jws(header, claims(), private_of(signing_key())))


def test_other_key_claiming_our_kid() -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = raw_jws({"alg": "RS256", "kid": signing_key().kid}, claims(), stranger)
    with pytest.raises(TokenInvalid, match="signature"):
        verify(token)


def test_tampered_parts() -> None:
    token = signer().sign(claims())
    header, payload, signature = token.split(".")
    evil_payload = b64url(json.dumps(claims(sub="admin")).encode())
    for bad in (
        f"{header}.{evil_payload}.{signature}",
        f"{header}.{payload}.{signature[:-2]}",
        f"{header}.{payload}.",
        f"{header}.{payload}",
        f"{header}.{payload}.{signature}.{signature}",
        f"{header}..{signature}",
        token + "A",
        " " + token,
    ):
        with pytest.raises(TokenInvalid):
            verify(bad)


@pytest.mark.parametrize(
    "extra", [{"crit": ["b64"], "b64": False}, {"b64": True}, {"crit": ["exp"]}, {"zip": "DEF"}]
)
def test_dangerous_headers(extra: dict[str, Any]) -> None:
    with pytest.raises(TokenInvalid):
        verify(forge(extra))


@pytest.mark.parametrize("token", [None, 1, b"a.b.c", ["a", "b"], "", "a" * 1_000_000, "é.é.é"])
def test_non_tokens(token: Any) -> None:
    with pytest.raises(TokenInvalid):
        verify(token)


B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_garbage_text(token: str) -> None:
    with pytest.raises(TokenInvalid):
        verify(token)


@settings(max_examples=300)
@given(st.lists(st.text(alphabet=B64_CHARS, max_size=60), min_size=1, max_size=5))
def test_garbage_segments(parts: list[str]) -> None:
    with pytest.raises(TokenInvalid):
        verify(".".join(parts))
    with pytest.raises(TokenInvalid):
        verify_client_assertion(
            ".".join(parts), client_jwks(), client_id=CLIENT_ID, audiences=[TOKEN_URL], now=NOW
        )


@settings(max_examples=200)
@given(JSON, JSON, st.binary(max_size=300))
def test_garbage_json_segments(header: Any, payload: Any, signature: bytes) -> None:
    token = (
        ".".join(b64url(json.dumps(p).encode()) for p in (header, payload))
        + "."
        + b64url(signature)
    )
    with pytest.raises(TokenInvalid):
        verify(token)
    with pytest.raises(TokenInvalid):
        verify_client_assertion(
            token, client_jwks(), client_id=CLIENT_ID, audiences=[TOKEN_URL], now=NOW
        )


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=6), JSON, max_size=4), JSON)
def test_validly_signed_oddities_are_accepted_or_invalid(
    extra_header: dict[str, Any], body: Any
) -> None:
    """A correct signature over any header and payload: only dict results or TokenInvalid."""
    header = {"alg": "RS256", "kid": signing_key().kid, **extra_header}
    try:
        header_bytes = json.dumps(header).encode()
    except ValueError:
        return
    token = raw_jws(header_bytes, json.dumps(body).encode(), private_of(signing_key()))
    try:
        result = verify(token)
    except TokenInvalid:
        return
    assert isinstance(result, dict)
    assert result["iss"] == ISSUER


# --- rotation ------------------------------------------------------------------------------


@functools.cache
def rotated() -> tuple[SigningKey, SigningKey, SigningKey]:
    old = replace(generate_signing_key(keyring(), NOW - 3000), status="retired")
    previous = replace(signing_key(), status="previous")
    current = generate_signing_key(keyring(), NOW)
    return old, previous, current


def test_rotation() -> None:
    old, previous, current = rotated()
    before_rotation = signer().sign(claims())
    after = TokenSigner([current, previous, old], keyring())
    assert after.kid == current.kid
    assert [k["kid"] for k in after.jwks()["keys"]] == [current.kid, previous.kid]
    # Tokens signed before the rotation still verify; new ones use the new key.
    assert after.verify(before_rotation, audience=AUDIENCE, issuer=ISSUER, now=NOW)
    fresh = after.sign(claims())
    assert json.loads(base64.urlsafe_b64decode(fresh.split(".")[0] + "=="))["kid"] == current.kid
    assert after.verify(fresh, audience=AUDIENCE, issuer=ISSUER, now=NOW)
    # A retired key is neither published nor trusted.
    retired_signer = TokenSigner([replace(old, status="current")], keyring())
    with pytest.raises(TokenInvalid):
        after.verify(retired_signer.sign(claims()), audience=AUDIENCE, issuer=ISSUER, now=NOW)


def test_key_order_does_not_matter() -> None:
    old, previous, current = rotated()
    assert TokenSigner([old, previous, current], keyring()).kid == current.kid


def test_signer_needs_a_current_key() -> None:
    old, previous, _ = rotated()
    with pytest.raises(ValueError):
        TokenSigner([old, previous], keyring())
    with pytest.raises(ValueError):
        TokenSigner([], keyring())


def test_signer_refuses_mismatched_records() -> None:
    _, _, current = rotated()
    swapped = replace(current, public_jwk=signing_key().public_jwk)
    with pytest.raises(ValueError):
        TokenSigner([swapped], keyring())
    wrong_private = replace(current, private_key_enc=signing_key().private_key_enc)
    with pytest.raises(DecryptionError):
        TokenSigner([wrong_private], keyring())
    with pytest.raises(ValueError):
        TokenSigner([current, replace(current, status="previous")], keyring())


def test_signer_needs_the_right_keyring() -> None:
    other = KeyRing({"k1": bytes(32)}, "k1")
    with pytest.raises(DecryptionError):
        TokenSigner([signing_key()], other)


def test_es256_signer() -> None:
    key = generate_signing_key(keyring(), NOW, "ES256")
    assert key.public_jwk["crv"] == "P-256"
    assert (
        ECKey.import_key({k: key.public_jwk[k] for k in ("kty", "crv", "x", "y")}).thumbprint()
        == key.kid
    )
    es = TokenSigner([key], keyring())
    token = es.sign(claims())
    assert es.verify(token, audience=AUDIENCE, issuer=ISSUER, now=NOW)["sub"]
    with pytest.raises(TokenInvalid):
        verify(token)  # the RSA signer does not know this kid


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_tokens_are_byte_for_byte_what_joserfc_writes(alg: str) -> None:
    # TokenSigner serializes its own tokens (joserfc's per-call work cost as much as an ES256
    # signature). Both algorithms are deterministic, so the whole token must be identical.
    from joserfc import jwt as joserfc_jwt

    from twofold.core.tokens import _OWN_REGISTRIES  # joserfc's own path, as before

    key = generate_signing_key(keyring(), NOW, alg)
    ours = TokenSigner([key], keyring())
    private = JWKRegistry.import_key(
        keyring().decrypt(key.private_key_enc, f"signing_key:{key.kid}"),
        "OKP" if alg == "EdDSA" else "RSA",
    )
    body = claims(aud=[AUDIENCE, ISSUER + "userinfo"], name="Zoë Ŧwofold", amr=["mfa"], n=1.5)
    theirs = joserfc_jwt.encode(
        {"alg": alg, "kid": key.kid, "typ": "JWT"},
        dict(body),
        private,
        registry=_OWN_REGISTRIES[alg],
    )
    assert ours.sign(body) == theirs


def test_es256_tokens_carry_raw_signatures_that_other_libraries_verify() -> None:
    import jwt as pyjwt

    key = generate_signing_key(keyring(), NOW, "ES256")
    token = TokenSigner([key], keyring()).sign(claims())
    header, _payload, signature = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {
        "typ": "JWT",
        "alg": "ES256",
        "kid": key.kid,
    }
    assert len(base64.urlsafe_b64decode(signature + "==")) == 64  # r || s, not DER
    public = pyjwt.PyJWK.from_dict(key.public_jwk)
    decoded = pyjwt.decode(
        token, public, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER, leeway=10**9
    )
    assert decoded["sub"] == claims()["sub"]


# --- private_key_jwt client assertions -----------------------------------------------------


@functools.cache
def client_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def client_ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, **params: Any) -> dict[str, Any]:
    jwk = (RSAKey if isinstance(key, rsa.RSAPrivateKey) else ECKey).import_key(key.public_key())
    return {**jwk.as_dict(private=False), **params}


def client_jwks() -> dict[str, Any]:
    return {
        "keys": [
            public_jwk(client_rsa(), kid="rsa-1"),
            public_jwk(client_ec(), kid="ec-1"),
        ]
    }


def assertion_claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": TOKEN_URL,
        "iat": NOW,
        "exp": NOW + 60,
        "jti": "0f7c0a3e-5b1c-4a55-9a8e-7c7b2e6d9f10",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def assertion(
    alg: str = "RS256", kid: str | None = "rsa-1", key: Any = None, **overrides: Any
) -> str:
    if key is None:
        key = client_ec() if alg.startswith("ES") else client_rsa()
    header = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    return raw_jws(header, assertion_claims(**overrides), key, alg)


def check(token: str, jwks: Any = None, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "audiences": [TOKEN_URL, ISSUER],
        "now": NOW,
    }
    options.update(kwargs)
    return verify_client_assertion(token, client_jwks() if jwks is None else jwks, **options)


@pytest.mark.parametrize(
    ("alg", "kid"),
    [
        ("RS256", "rsa-1"),
        ("RS256", None),
        ("RS384", "rsa-1"),
        ("PS256", None),
        ("ES256", "ec-1"),
        ("ES256", None),
    ],
)
def test_valid_assertions(alg: str, kid: str | None) -> None:
    assert check(assertion(alg, kid))["jti"] == assertion_claims()["jti"]


def test_assertion_audience_forms() -> None:
    assert check(assertion(aud=ISSUER))
    assert check(assertion(aud=["https://elsewhere/", TOKEN_URL]))
    for aud in ("https://elsewhere/", ["https://elsewhere/"], [], None, 3):
        with pytest.raises(TokenInvalid):
            check(assertion(aud=aud))


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"sub": "someone-else"},
        {"iss": None},
        {"sub": None},
        {"jti": None},
        {"jti": ""},
        {"jti": "x" * 65},
        {"jti": 12345},
        {"exp": None},
        {"exp": NOW - 11},
        {"exp": NOW + 300 + 10 + 1},
        {"exp": str(NOW + 60)},
        {"nbf": NOW + 11},
        {"iat": NOW + 11},
    ],
)
def test_invalid_assertion_claims(overrides: dict[str, Any]) -> None:
    with pytest.raises(TokenInvalid):
        check(assertion(**overrides))


def test_assertion_time_edges() -> None:
    assert check(assertion(exp=NOW - 9))  # within the 10 s leeway
    assert check(assertion(exp=NOW + 310))  # max_lifetime + leeway
    assert check(assertion(nbf=NOW + 10, iat=NOW + 10))
    assert check(assertion(jti="x" * 64))
    assert check(assertion(exp=NOW + 900, iat=NOW), max_lifetime=900)


def test_assertion_size_limit() -> None:
    sized = {len(t): t for t in (assertion(padding="x" * n) for n in range(900, 1100))}
    fits = sized[max(n for n in sized if n <= 2048)]
    too_big = sized[min(n for n in sized if n > 2048)]
    assert len(fits) > 2040
    assert check(fits)
    with pytest.raises(TokenInvalid):
        check(too_big)


def test_assertion_algorithms_not_allowed() -> None:
    rsa_key = client_rsa()
    for alg in ("RS512", "PS384", "PS512"):
        with pytest.raises(TokenInvalid):
            check(assertion(alg, key=rsa_key))
    with pytest.raises(TokenInvalid):
        check(raw_jws({"alg": "none"}, assertion_claims(), None, "none"))
    secret = json.dumps(public_jwk(rsa_key)).encode()
    with pytest.raises(TokenInvalid):
        check(raw_jws({"alg": "HS256", "kid": "rsa-1"}, assertion_claims(), secret, "HS256"))
    # A client that registered an oct key still cannot use HMAC.
    oct_jwks = {"keys": [{"kty": "oct", "k": b64url(b"k" * 32), "kid": "o"}]}
    with pytest.raises(TokenInvalid):
        check(
            raw_jws({"alg": "HS256", "kid": "o"}, assertion_claims(), b"k" * 32, "HS256"), oct_jwks
        )


def test_assertion_signed_by_an_unknown_key() -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for kid in ("rsa-1", None):
        with pytest.raises(TokenInvalid, match="signature"):
            check(assertion(kid=kid, key=stranger))


def test_assertion_kid_selection() -> None:
    # A kid naming another key in the set does not match.
    with pytest.raises(TokenInvalid):
        check(assertion(kid="ec-1"))
    with pytest.raises(TokenInvalid):
        check(assertion(kid="missing"))
    # Keys registered without a kid stay candidates for any kid.
    no_kids = {"keys": [public_jwk(client_rsa())]}
    assert check(assertion(kid="whatever"), no_kids)
    with pytest.raises(TokenInvalid):
        check(raw_jws({"alg": "RS256", "kid": 5}, assertion_claims(), client_rsa()))


def test_assertion_key_restrictions() -> None:
    token = assertion(kid=None)
    for params in ({"use": "enc"}, {"alg": "RS384"}, {"key_ops": ["verify"], "use": "sig"}):
        jwks = {"keys": [public_jwk(client_rsa(), **params)]}
        if params.get("use") == "sig":
            assert check(token, jwks)
        else:
            with pytest.raises(TokenInvalid):
                check(token, jwks)


def test_weak_client_rsa_key_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    numbers = weak.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "n": b64url(numbers.n.to_bytes(128, "big")),
        "e": b64url(numbers.e.to_bytes(3, "big")),
    }
    # Refused before joserfc would merely warn (warnings are errors in this suite).
    with pytest.raises(TokenInvalid):
        check(assertion(kid=None, key=weak), {"keys": [jwk]})


@pytest.mark.parametrize(
    "jwks",
    [
        {},
        {"keys": None},
        {"keys": "nope"},
        {"keys": []},
        {"keys": [None, 1, "x", [], {}]},
        {"keys": [{"kty": "RSA"}, {"kty": "RSA", "n": "!!", "e": "AQAB"}, {"kty": "RSA", "n": 5}]},
        {
            "keys": [
                {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
                {"kty": "EC", "crv": "P-256"},
            ]
        },
    ],
)
def test_broken_jwks(jwks: Any) -> None:
    with pytest.raises(TokenInvalid):
        check(assertion(kid=None), jwks)
    # One good key among broken ones still works.
    entries = jwks.get("keys")
    mixed = {"keys": [*(entries if isinstance(entries, list) else []), public_jwk(client_rsa())]}
    assert check(assertion(kid=None), mixed)


def test_private_members_in_client_jwks_are_ignored() -> None:
    full = RSAKey.import_key(client_rsa()).as_dict(private=True)
    assert "d" in full
    assert check(assertion(kid=None), {"keys": [full]})


@settings(max_examples=200)
@given(st.text(max_size=400))
def test_assertion_garbage(token: str) -> None:
    with pytest.raises(TokenInvalid):
        check(token)
