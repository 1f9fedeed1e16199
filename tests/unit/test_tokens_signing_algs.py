"""Signing keys of every tenant algorithm (RS256, ES256, EdDSA): records, round trips, the
strict alg-equals-key rule across key types, third-party verification (PyJWT), the algorithms
discovery publishes, and the first key following the tenant's choice."""

from __future__ import annotations

import base64
import functools
import json
import time
import warnings
from dataclasses import replace
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry

from twofold.core import discovery
from twofold.core.claims import TokenInvalid
from twofold.core.clock import FrozenClock
from twofold.core.deps import Deps
from twofold.core.models import TENANT_SIGNING_ALGS, SigningKey, Tenant
from twofold.core.tokens import TokenSigner, generate_signing_key

from .test_tokens import AUDIENCE, ISSUER, NOW, b64url, keyring, private_of
from .test_tokens import claims as _claims

ALGS = ("RS256", "ES256", "EdDSA")
KTY = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}


@functools.cache
def key(alg: str) -> SigningKey:
    # Created one second apart in ALGS order, so EdDSA is the newest.
    return generate_signing_key(keyring(), NOW - 100 + ALGS.index(alg), alg)


def claims(**overrides: Any) -> dict[str, Any]:
    return _claims(**{"scope": "openid profile", **overrides})


def raw_jws(header: dict[str, Any], payload: dict[str, Any], private: Any, how: str) -> str:
    """Sign with `private` the way `how` says, whatever the header claims."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    data = signing_input.encode()
    if how == "RS256":
        signature = private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif how == "ES256":
        r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif how == "EdDSA":
        signature = private.sign(data)
    else:
        raise AssertionError(how)
    return f"{signing_input}.{b64url(signature)}"


def header_of(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def all_three() -> TokenSigner:
    """EdDSA current; ES256 and RS256 previous (a state no rotation makes, but a signer must
    keep keys apart however many it holds)."""
    previous = [replace(key(alg), status="previous") for alg in ("ES256", "RS256")]
    return TokenSigner([key("EdDSA"), *previous], keyring())


@functools.cache
def stranger(alg: str) -> Any:
    """A private key of the same type as ours for `alg`, which we never published."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return Ed25519PrivateKey.generate()


# --- key records ---------------------------------------------------------------------------


def test_tenant_algorithms() -> None:
    assert TENANT_SIGNING_ALGS == ALGS
    assert Tenant().signing_alg == "RS256"


@pytest.mark.parametrize("alg", ALGS)
def test_key_record(alg: str) -> None:
    record = key(alg)
    assert record.alg == alg
    assert record.status == "current"
    assert record.private_key_enc.startswith("v1.k1.")
    jwk = record.public_jwk
    assert jwk["kty"] == KTY[alg]
    assert jwk["alg"] == alg
    assert jwk["use"] == "sig"
    assert jwk["kid"] == record.kid
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    # The published JWK is readable by a third-party library as a key of the right type.
    assert pyjwt.PyJWK.from_dict(jwk).algorithm_name == alg


def test_eddsa_key_is_ed25519() -> None:
    record = key("EdDSA")
    assert record.public_jwk["crv"] == "Ed25519"
    assert set(record.public_jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    public = OKPKey.import_key({k: record.public_jwk[k] for k in ("kty", "crv", "x")})
    assert public.thumbprint() == record.kid  # RFC 7638 over crv, kty, x (RFC 8037 §2)
    assert isinstance(private_of(record), Ed25519PrivateKey)


# --- sign / verify -------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_round_trip(alg: str) -> None:
    signer = TokenSigner([key(alg)], keyring())
    token = signer.sign(claims())
    assert header_of(token) == {"typ": "JWT", "alg": alg, "kid": key(alg).kid}
    assert signer.verify(token, audience=AUDIENCE, issuer=ISSUER, now=NOW) == claims()
    assert signer.alg == alg
    assert signer.algs == (alg,)


@pytest.mark.parametrize("alg", ALGS)
def test_pyjwt_verifies_with_the_published_jwks(alg: str) -> None:
    signer = TokenSigner([key(alg)], keyring())
    now = int(time.time())  # PyJWT checks exp against the system clock
    token = signer.sign(claims(iat=now, exp=now + 600))
    jwks = pyjwt.PyJWKSet.from_dict(signer.jwks())
    public = next(k for k in jwks.keys if k.key_id == key(alg).kid)
    decoded = pyjwt.decode(token, public, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)
    assert decoded["sub"] == claims()["sub"]
    # A verifier expecting another algorithm refuses it (nothing is "any alg").
    other = "RS256" if alg != "RS256" else "ES256"
    with pytest.raises(pyjwt.InvalidAlgorithmError):
        pyjwt.decode(token, public, algorithms=[other], audience=AUDIENCE, issuer=ISSUER)


def test_eddsa_emits_no_warning_and_leaves_joserfc_alone() -> None:
    signer = TokenSigner([key("EdDSA")], keyring())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        token = signer.sign(claims())
        signer.verify(token, audience=AUDIENCE, issuer=ISSUER, now=NOW)
    assert caught == []
    # joserfc's own, process-wide registry still has its (warning) EdDSA.
    assert type(JWSRegistry.algorithms["EdDSA"]).__module__.startswith("joserfc")


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("claimed", [*ALGS, "Ed25519", "PS256", "HS256"])
def test_alg_must_equal_the_keys_alg(alg: str, claimed: str) -> None:
    """A token naming one of our keys but another algorithm is refused before any signature
    check, even when it is validly signed by another key we hold."""
    if claimed == alg:
        return
    signer = all_three()
    # Signed the way `claimed` says, with one of our keys of that type when we have one.
    signer_key = key(claimed) if claimed in ALGS else key("RS256")
    how = claimed if claimed in ALGS else "RS256"
    header = {"alg": claimed, "kid": key(alg).kid, "typ": "JWT"}
    token = raw_jws(header, claims(), private_of(signer_key), how)
    with pytest.raises(TokenInvalid, match="algorithm"):
        signer.verify(token, audience=AUDIENCE, issuer=ISSUER, now=NOW)


@pytest.mark.parametrize("alg", ALGS)
def test_right_alg_and_kid_but_a_strangers_signature(alg: str) -> None:
    signer = all_three()
    header = {"alg": alg, "kid": key(alg).kid, "typ": "JWT"}
    forged = raw_jws(header, claims(), stranger(alg), alg)
    with pytest.raises(TokenInvalid, match="signature"):
        signer.verify(forged, audience=AUDIENCE, issuer=ISSUER, now=NOW)
    # The same token signed by our key passes: the refusal above is about the signature.
    genuine = raw_jws(header, claims(), private_of(key(alg)), alg)
    assert signer.verify(genuine, audience=AUDIENCE, issuer=ISSUER, now=NOW)["iss"] == ISSUER


def test_hs256_keyed_with_our_eddsa_public_key_is_refused() -> None:
    import hashlib
    import hmac

    signer = all_three()
    header = {"alg": "HS256", "kid": key("EdDSA").kid, "typ": "JWT"}
    for secret in (
        key("EdDSA").public_jwk["x"].encode(),
        json.dumps(key("EdDSA").public_jwk).encode(),
    ):
        signing_input = (
            f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims()).encode())}"
        )
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(TokenInvalid):
            signer.verify(
                f"{signing_input}.{b64url(mac)}", audience=AUDIENCE, issuer=ISSUER, now=NOW
            )


def test_ed448_key_is_refused() -> None:
    ed448 = OKPKey.generate_key("Ed448")
    kid = ed448.thumbprint()
    record = SigningKey(
        kid=kid,
        alg="EdDSA",
        private_key_enc=keyring().encrypt(ed448.as_pem(private=True), f"signing_key:{kid}"),
        public_jwk={**ed448.as_dict(private=False), "kid": kid, "alg": "EdDSA", "use": "sig"},
        created_at=NOW,
    )
    with pytest.raises(ValueError, match="Ed25519"):
        TokenSigner([record], keyring())


# --- switching algorithms ------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [("RS256", "ES256"), ("RS256", "EdDSA")])
def test_switching_keeps_earlier_tokens_valid(before: str, after: str) -> None:
    old = TokenSigner([key(before)], keyring())
    earlier = old.sign(claims())
    new = TokenSigner([key(after), replace(key(before), status="previous")], keyring())
    assert header_of(new.sign(claims()))["alg"] == after
    assert new.verify(earlier, audience=AUDIENCE, issuer=ISSUER, now=NOW)["sub"]
    assert [k["alg"] for k in new.jwks()["keys"]] == [after, before]
    assert new.algs == (after, before)
    # Once the old key is retired, its tokens stop verifying and its alg is no longer listed.
    newest = TokenSigner(
        [replace(key(after), status="previous"), generate_signing_key(keyring(), NOW, after)],
        keyring(),
    )
    assert newest.algs == (after,)
    with pytest.raises(TokenInvalid, match="kid"):
        newest.verify(earlier, audience=AUDIENCE, issuer=ISSUER, now=NOW)


def test_algs_are_listed_once_current_first() -> None:
    assert all_three().algs == ("EdDSA", "ES256", "RS256")
    two_rsa = TokenSigner(
        [
            replace(key("RS256"), status="previous"),
            generate_signing_key(keyring(), NOW, "RS256"),
        ],
        keyring(),
    )
    assert two_rsa.algs == ("RS256",)


def test_discovery_lists_the_algorithms_given() -> None:
    doc = discovery.document(ISSUER, signing_algs=("ES256", "RS256"))
    assert doc["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    doc = discovery.document(ISSUER, signing_algs=all_three().algs)
    assert doc["id_token_signing_alg_values_supported"] == ["EdDSA", "ES256", "RS256"]


# --- the first key follows the tenant ------------------------------------------------------


class _Keys:
    def __init__(self) -> None:
        self.keys: list[SigningKey] = []

    async def list(self) -> list[SigningKey]:
        return list(self.keys)

    async def add_current(self, record: SigningKey) -> None:
        self.keys = [replace(k, status="previous") for k in self.keys] + [record]


class _TenantRepo:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    async def get(self) -> Tenant:
        return self.tenant


class _Storage:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = _TenantRepo(tenant)
        self.signing_keys = _Keys()


@pytest.mark.anyio
@pytest.mark.parametrize("alg", ALGS)
async def test_first_key_uses_the_tenants_algorithm(alg: str) -> None:
    storage = _Storage(Tenant(signing_alg=alg))  # type: ignore[arg-type]
    deps = Deps(
        storage=storage,  # type: ignore[arg-type]
        state=None,  # type: ignore[arg-type]
        clock=FrozenClock(NOW),
        keyring=keyring(),
        hasher=None,  # type: ignore[arg-type]
        issuer=ISSUER,
    )
    signer = await deps.signer()
    assert signer.alg == alg
    assert [k.alg for k in storage.signing_keys.keys] == [alg]
    assert header_of(signer.sign(claims()))["alg"] == alg
