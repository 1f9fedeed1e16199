"""JWTs on joserfc: our signing keys, the tokens we issue, and the assertions clients send us.

This is the one place claims are checked. Verification is fail-closed: anything that is not a
well-formed token, signed by a key we expect with that key's own algorithm, carrying the claims
we require, raises `TokenInvalid` — whatever the library underneath raised on the way.

Rules kept here:
- The algorithm comes from our key, never from the token: a token's `alg` must equal the alg of
  the key its `kid` names, so `none`, `HS256` with a public key as secret and friends never reach
  a verifier.
- Headers that change how a token is read (`crit`, RFC 7797 `b64`) are refused.
- Time is always passed in (`now`), never read from the system clock.
- Our own keys are RS256 (the default), ES256 (P-256) or EdDSA (Ed25519 only, RFC 8037); a
  tenant picks the algorithm of its next key (`Tenant.signing_alg`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws, jwt
from joserfc.errors import InvalidKeyTypeError
from joserfc.jwa import EdDSAAlgorithm
from joserfc.jwk import ECKey, JWKRegistry, Key, OKPKey, RSAKey
from joserfc.jws import CompactSignature, JWSRegistry
from joserfc.util import urlsafe_b64decode

from twofold.core import associated_data, json_codec
from twofold.core import claims as claims_mod
from twofold.core.claims import TokenInvalid
from twofold.core.crypto import KeyRing
from twofold.core.models import SigningKey

SIGNING_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA")
CLIENT_ASSERTION_ALGS = ("RS256", "RS384", "PS256", "ES256")
RSA_KEY_BITS = 2048
# Our own tokens are a few hundred bytes; the cap only stops absurd input early.
MAX_TOKEN_LENGTH = 8192
MAX_ASSERTION_LENGTH = 2048
MAX_JTI_LENGTH = 64
# Each candidate key costs a signature check; a client's JWKS should never need more.
MAX_CLIENT_KEYS = 10
_MIN_CLIENT_RSA_BITS = 2048
_MAX_CLIENT_RSA_BITS = 8192


class _Ed25519Only(EdDSAAlgorithm):
    """JOSE "EdDSA" restricted to Ed25519 keys, without joserfc's per-call warning.

    joserfc warns on every use of "EdDSA" because RFC 9864 deprecates the name in favour of the
    fully specified "Ed25519": "EdDSA" alone does not say which curve. Here the curve is fixed
    (Ed448 keys are refused below and never generated), and "EdDSA" is the name PyJWT and the
    Auth0 ecosystem understand, so we publish it and drop the warning (which pytest turns into an
    error and which would cost a warnings lookup per token).
    """

    security_warning: str | None = None  # type: ignore[assignment]  # joserfc's model allows None

    def sign(self, msg: bytes, key: OKPKey) -> bytes:
        if not isinstance(key.get_op_key("sign"), Ed25519PrivateKey):
            raise InvalidKeyTypeError("EdDSA here means Ed25519")
        return super().sign(msg, key)

    def verify(self, msg: bytes, sig: bytes, key: OKPKey) -> bool:
        if not isinstance(key.get_op_key("verify"), Ed25519PublicKey):
            raise InvalidKeyTypeError("EdDSA here means Ed25519")
        return super().verify(msg, sig, key)


class _OwnJWSRegistry(JWSRegistry):
    # A subclass with its own table, so joserfc's process-wide registry stays untouched.
    algorithms = {**JWSRegistry.algorithms, "EdDSA": _Ed25519Only()}


# One registry per algorithm, each allowing only that algorithm. Strict header checking for our
# own tokens (we know every header we write); RFC 7515 says unknown headers from clients are
# to be ignored, so client assertions get a lenient header check (`crit` is refused separately).
_OWN_REGISTRIES = {alg: _OwnJWSRegistry(algorithms=[alg]) for alg in SIGNING_ALGS}
_CLIENT_REGISTRIES = {
    alg: JWSRegistry(algorithms=[alg], strict_check_header=False) for alg in CLIENT_ASSERTION_ALGS
}
_PARSE_OWN = _OwnJWSRegistry(algorithms=list(SIGNING_ALGS))
_PARSE_CLIENT = JWSRegistry(algorithms=list(CLIENT_ASSERTION_ALGS), strict_check_header=False)


def generate_signing_key(keyring: KeyRing, now: float, alg: str = "RS256") -> SigningKey:
    """A new key pair; the private half leaves here only encrypted, bound to its kid."""
    key: Key
    if alg.startswith(("RS", "PS")) and alg in SIGNING_ALGS:
        key = RSAKey.generate_key(RSA_KEY_BITS)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256")
    elif alg == "EdDSA":
        key = OKPKey.generate_key("Ed25519")
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    kid = key.thumbprint()
    public_jwk: dict[str, Any] = {
        **key.as_dict(private=False),
        "kid": kid,
        "alg": alg,
        "use": "sig",
    }
    return SigningKey(
        kid=kid,
        alg=alg,
        private_key_enc=keyring.encrypt(key.as_pem(private=True), associated_data.signing_key(kid)),
        public_jwk=public_jwk,
        created_at=now,
        status="current",
    )


class _Verifier(NamedTuple):
    alg: str
    key: Key


class TokenSigner:
    """Signs with the current key; verifies against the current and previous keys.

    Keys are parsed and the private key decrypted once, here: parsing PEM and JWKs per request
    would cost more than the signature itself.
    """

    def __init__(self, keys: Sequence[SigningKey], keyring: KeyRing) -> None:
        live = sorted(
            (k for k in keys if k.status != "retired"), key=lambda k: k.created_at, reverse=True
        )
        # Newest "current" wins; should a half-finished rotation leave two, the older is still
        # published and accepted, so nothing it signed breaks.
        current = next((k for k in live if k.status == "current"), None)
        if current is None:
            raise ValueError("no current signing key")
        ordered = [current, *(k for k in live if k is not current)]

        self._verifiers: dict[str, _Verifier] = {}
        published: list[dict[str, Any]] = []
        for record in ordered:
            if record.alg not in SIGNING_ALGS:
                raise ValueError(f"signing key {record.kid!r} has unsupported alg {record.alg!r}")
            if record.kid in self._verifiers:
                raise ValueError(f"duplicate signing key id {record.kid!r}")
            public = JWKRegistry.import_key(_public_part(record.public_jwk), _key_type(record.alg))
            if record.alg == "EdDSA" and record.public_jwk.get("crv") != "Ed25519":
                raise ValueError(f"signing key {record.kid!r} is not an Ed25519 key")
            if public.thumbprint() != record.kid:
                # A stored public key that does not hash to its kid was altered or mixed up.
                raise ValueError(f"signing key {record.kid!r} does not match its kid")
            self._verifiers[record.kid] = _Verifier(record.alg, public)
            published.append(
                {
                    **public.as_dict(private=False),
                    "kid": record.kid,
                    "alg": record.alg,
                    "use": "sig",
                }
            )
        self._jwks = published

        pem = keyring.decrypt(current.private_key_enc, associated_data.signing_key(current.kid))
        private = JWKRegistry.import_key(pem, _key_type(current.alg))
        if not private.is_private or private.thumbprint() != current.kid:
            raise ValueError(f"signing key {current.kid!r} does not match its kid")
        self._kid = current.kid
        self._alg = current.alg
        self._private = private
        self._sign_input = _signature_function(current.alg, private)
        # The header never changes for a key: serialized once, as joserfc would.
        self._header_segment = _b64(
            json.dumps(
                {"typ": "JWT", "alg": current.alg, "kid": current.kid},
                ensure_ascii=True,
                separators=(",", ":"),
            ).encode("ascii")
        )

    @property
    def kid(self) -> str:
        return self._kid

    @property
    def alg(self) -> str:
        return self._alg

    @property
    def algs(self) -> tuple[str, ...]:
        """The algorithms of the published keys, the current key's first, each once."""
        return tuple(dict.fromkeys(k["alg"] for k in self._jwks))

    def sign(self, claims: Mapping[str, Any]) -> str:
        if self._sign_input is None:
            header = {"alg": self._alg, "kid": self._kid, "typ": "JWT"}
            # A copy: joserfc rewrites datetime claims in place.
            return jwt.encode(
                header, dict(claims), self._private, registry=_OWN_REGISTRIES[self._alg]
            )
        # RFC 7515 compact serialization of our own header and claims, byte for byte what
        # joserfc writes (tests compare them), without its per-call header and registry work:
        # that was 30-45 µs a token, as much as an ES256 or Ed25519 signature. Only signing is
        # done here; every token we read goes through joserfc (`verify`).
        signing_input = self._header_segment + b"." + _b64(json_codec.dumps(claims))
        signature = _b64(self._sign_input(signing_input))
        return (signing_input + b"." + signature).decode("ascii")

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(k) for k in self._jwks]}

    def verify(
        self,
        token: str,
        *,
        audience: str | Sequence[str],
        issuer: str,
        now: float,
        leeway: int = 0,
        expired_ok: bool = False,
    ) -> dict[str, Any]:
        """The claims of a token we signed, for `audience`. `expired_ok` is for hints only
        (an ID token naming whom to log out), never for a token that grants access."""
        obj = _extract(token, MAX_TOKEN_LENGTH, _PARSE_OWN, SIGNING_ALGS)
        header = obj.headers()
        kid = header.get("kid")
        verifier = self._verifiers.get(kid) if isinstance(kid, str) else None
        if verifier is None:
            raise TokenInvalid("unknown kid")
        if header["alg"] != verifier.alg:
            raise TokenInvalid("algorithm does not match the key")
        if not _signature_ok(obj, verifier.key, _OWN_REGISTRIES[verifier.alg]):
            raise TokenInvalid("bad signature")

        claims = claims_mod.parse(obj.payload)
        claims_mod.check_times(claims, now, leeway, expired_ok=expired_ok)
        iss = claims.get("iss")
        if not isinstance(iss, str) or iss != issuer:
            raise TokenInvalid("wrong issuer")
        if not claims_mod.audience_ok(claims.get("aud"), audience):
            raise TokenInvalid("wrong audience")
        return claims


def verify_client_assertion(
    token: str,
    jwks: Mapping[str, Any],
    *,
    client_id: str,
    audiences: Sequence[str],
    now: float,
    max_lifetime: int = 300,
    leeway: int = 10,
) -> dict[str, Any]:
    """Check a private_key_jwt client assertion (RFC 7523 §3) against the client's JWKS.

    The caller must still record `jti` so the assertion cannot be replayed while it is valid.
    """
    obj = _extract(token, MAX_ASSERTION_LENGTH, _PARSE_CLIENT, CLIENT_ASSERTION_ALGS)
    header = obj.headers()
    alg = header["alg"]
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenInvalid("malformed kid")
    registry = _CLIENT_REGISTRIES[alg]
    if not any(_signature_ok(obj, key, registry) for key in _client_keys(jwks, alg, kid)):
        raise TokenInvalid("bad signature")

    claims = claims_mod.parse(obj.payload)
    exp = claims_mod.check_times(claims, now, leeway)
    if exp > now + max_lifetime + leeway:
        # A long-lived assertion is a long-lived password; RFC 7523 lets us refuse it.
        raise TokenInvalid("assertion lifetime too long")
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise TokenInvalid("iss and sub must be the client_id")
    if not claims_mod.audience_ok(claims.get("aud"), audiences):
        raise TokenInvalid("wrong audience")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise TokenInvalid("missing or oversized jti")
    return claims


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _signature_function(alg: str, key: Key) -> Callable[[bytes], bytes] | None:
    """The JWS signature (RFC 7518 §3) of the algorithms our tenants sign with, straight on the
    cryptography key; None for any other (joserfc signs those)."""
    private = key.get_op_key("sign")
    if alg == "RS256" and isinstance(private, rsa.RSAPrivateKey):
        rsa_key = private
        return lambda data: rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "ES256" and isinstance(private, ec.EllipticCurvePrivateKey):
        ec_key = private
        if ec_key.curve.name != "secp256r1":
            return None

        def es256(data: bytes) -> bytes:
            # JWS wants r and s as two 32-byte big-endian integers, not DER.
            r, s = decode_dss_signature(ec_key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return es256
    if alg == "EdDSA" and isinstance(private, Ed25519PrivateKey):
        return private.sign
    return None


def _key_type(alg: str) -> Literal["RSA", "EC", "OKP"]:
    if alg == "EdDSA":
        return "OKP"
    return "EC" if alg.startswith("ES") else "RSA"


_PUBLIC_MEMBERS = {
    "RSA": ("kty", "n", "e"),
    "EC": ("kty", "crv", "x", "y"),
    "OKP": ("kty", "crv", "x"),
}


def _public_part(jwk: Mapping[str, Any]) -> dict[str, str | list[str]]:
    # Only the members that define the public key: private members, `key_ops` or an odd `use`
    # from storage or a client must not change what the key is allowed to do.
    members = _PUBLIC_MEMBERS.get(str(jwk.get("kty")), ())
    return {m: jwk[m] for m in members if m in jwk}


def _extract(
    token: object, max_length: int, registry: JWSRegistry, allowed: Sequence[str]
) -> CompactSignature:
    if not isinstance(token, str) or not token or len(token) > max_length:
        raise TokenInvalid("malformed token")
    try:
        obj = jws.extract_compact(token.encode("ascii"), registry=registry)
        header = obj.headers()
        ok = isinstance(header, dict) and header.get("alg") in allowed
    except Exception:
        # Fail closed: whatever a parser raises on hostile input, the answer is "invalid".
        raise TokenInvalid("malformed token") from None
    if not ok:
        raise TokenInvalid("algorithm not allowed")
    if "crit" in header or "b64" in header:
        raise TokenInvalid("unsupported header")
    return obj


def _signature_ok(obj: CompactSignature, key: Key, registry: JWSRegistry) -> bool:
    try:
        return jws.validate_compact(obj, key, registry=registry)
    except Exception:
        return False


def _client_keys(jwks: Mapping[str, Any], alg: str, kid: str | None) -> list[Key]:
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(entries, list):
        return []
    kty = _key_type(alg)
    keys: list[Key] = []
    for entry in entries[:MAX_CLIENT_KEYS]:
        if not isinstance(entry, Mapping) or entry.get("kty") != kty:
            continue
        # A kid in the header is a hint: keys without a kid stay candidates.
        if kid is not None and entry.get("kid") not in (None, kid):
            continue
        if entry.get("use") not in (None, "sig") or entry.get("alg") not in (None, alg):
            continue
        if kty == "RSA" and not _client_rsa_size_ok(entry.get("n")):
            continue
        if kty == "EC" and entry.get("crv") != "P-256":
            continue
        try:
            keys.append(JWKRegistry.import_key(_public_part(entry), kty))
        except Exception:  # noqa: S112 - one broken key in a client's JWKS must not hide the others
            continue
    return keys


def _client_rsa_size_ok(n: object) -> bool:
    # Checked before import: joserfc only warns about short RSA keys, and we refuse them.
    if not isinstance(n, str) or len(n) > _MAX_CLIENT_RSA_BITS:
        return False
    try:
        bits = int.from_bytes(urlsafe_b64decode(n.encode("ascii")), "big").bit_length()
    except Exception:
        return False
    return _MIN_CLIENT_RSA_BITS <= bits <= _MAX_CLIENT_RSA_BITS
