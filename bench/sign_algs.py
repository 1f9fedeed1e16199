"""Cost and size of each tenant signing algorithm (RS256, ES256, EdDSA), in process.

For each algorithm: a key made by `generate_signing_key` (timed once), Twofold's own
`TokenSigner`, and tokens shaped like the ones an MFA grant answers (the access token of
`core/issuance.py` with `aud` [API, userinfo], `amr`, `jti`; the ID token with email and
profile claims). It reports the median time per sign and per verify through `TokenSigner` (its
`verify` is the check the MFA API makes on bearer tokens), the bare `cryptography` primitive on
the same bytes (what is left is JOSE work: JSON, base64url, checks), PyJWT's verify (a relying
party's) when PyJWT is installed, the JWT sizes and the size of the key's JWKS entry. It
reports, never asserts.

    .venv/bin/python bench/sign_algs.py                # ~45 s
    .venv/bin/python bench/sign_algs.py --json         # the same figures as JSON
    .venv/bin/python bench/sign_algs.py --seconds 0.1  # quicker, noisier

Each figure is the median over `--repeats` rounds of the per-operation time of a round that
runs for about `--seconds`; one thread, so on a busy machine it measures the machine too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from twofold.core.crypto import KeyRing  # noqa: E402
from twofold.core.models import SigningKey  # noqa: E402
from twofold.core.tokens import TokenSigner, generate_signing_key  # noqa: E402

ALGS = ("RS256", "ES256", "EdDSA")
ISSUER = "https://auth.example.com/"
API = "https://api.example.com/"
CLIENT_ID = "Xq3bM0c7nV2kT9wLp4sR8yZa1dF6gH5j"  # 32 characters, like ours
USER_ID = "auth0|0123456789abcdef01234567"


def access_claims(now: int) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": USER_ID,
        "aud": [API, f"{ISSUER}userinfo"],
        "iat": now,
        "exp": now + 86_400,
        "scope": "openid profile email",
        "azp": CLIENT_ID,
        "gty": "http://auth0.com/oauth/grant-type/mfa-otp",
        "jti": uuid.uuid4().hex,
        "amr": ["mfa"],
    }


def id_claims(now: int) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": USER_ID,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 36_000,
        "auth_time": now,
        "amr": ["mfa"],
        "email": "ada.lovelace@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
    }


def per_op_us(action: Callable[[], object], seconds: float, repeats: int) -> dict[str, float]:
    """Median and minimum microseconds per call over `repeats` rounds of ~`seconds` each."""
    start = time.perf_counter()
    action()
    once = max(time.perf_counter() - start, 1e-6)
    n = max(1, int(seconds / once))
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(n):
            action()
        rounds.append((time.perf_counter_ns() - start) / n / 1000)
    return {"median_us": statistics.median(rounds), "min_us": min(rounds), "calls": n * repeats}


def primitives(
    key: SigningKey, keyring: KeyRing, token: str
) -> tuple[Callable[[], object], Callable[[], object]]:
    """The bare `cryptography` sign and verify of this token's signing input: what the
    algorithm costs before any JOSE work (JSON, base64url, header and claim checks)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = keyring.decrypt(key.private_key_enc, f"signing_key:{key.kid}")
    private = serialization.load_pem_private_key(pem, password=None)
    public = private.public_key()
    data = token.rsplit(".", 1)[0].encode()
    if isinstance(private, rsa.RSAPrivateKey):
        pad, digest = padding.PKCS1v15(), hashes.SHA256()
        rsa_sig = private.sign(data, pad, digest)
        return (
            lambda: private.sign(data, pad, digest),
            lambda: public.verify(rsa_sig, data, pad, digest),
        )
    if isinstance(private, ec.EllipticCurvePrivateKey):
        ecdsa = ec.ECDSA(hashes.SHA256())
        ec_sig = private.sign(data, ecdsa)
        return (
            lambda: private.sign(data, ecdsa),
            lambda: public.verify(ec_sig, data, ecdsa),
        )
    assert isinstance(private, Ed25519PrivateKey)
    ed_sig = private.sign(data)
    return lambda: private.sign(data), lambda: public.verify(ed_sig, data)


def measure(alg: str, keyring: KeyRing, seconds: float, repeats: int) -> dict[str, Any]:
    now = int(time.time())
    start = time.perf_counter()
    key = generate_signing_key(keyring, now, alg)
    keygen_ms = (time.perf_counter() - start) * 1000
    signer = TokenSigner([key], keyring)
    claims = access_claims(now)
    access = signer.sign(claims)
    id_token = signer.sign(id_claims(now))
    audiences = [API]

    sign_raw, verify_raw = primitives(key, keyring, access)

    out: dict[str, Any] = {
        "alg": alg,
        "keygen_ms": keygen_ms,
        "sign": per_op_us(lambda: signer.sign(claims), seconds, repeats),
        "verify": per_op_us(
            lambda: signer.verify(access, audience=audiences, issuer=ISSUER, now=now),
            seconds,
            repeats,
        ),
        "sign_primitive": per_op_us(sign_raw, seconds, repeats),
        "verify_primitive": per_op_us(verify_raw, seconds, repeats),
        "access_token_bytes": len(access),
        "id_token_bytes": len(id_token),
        "signature_bytes": len(access.rsplit(".", 1)[1]),
        "jwks_entry_bytes": len(json.dumps(signer.jwks()["keys"][0], separators=(",", ":"))),
    }
    try:
        import jwt as pyjwt
    except ImportError:  # PyJWT comes with the dev dependencies (auth0-python)
        return out
    public = pyjwt.PyJWK.from_dict(signer.jwks()["keys"][0])
    out["pyjwt_verify"] = per_op_us(
        lambda: pyjwt.decode(access, public, algorithms=[alg], audience=API, issuer=ISSUER),
        seconds,
        repeats,
    )
    return out


def _sign_until(alg: str, start_at: float, seconds: float) -> tuple[int, float]:
    """One process's share of `parallel_sign_rate`: its own key and signer, then an mfa grant's
    two tokens, alternately, from the shared start time for `seconds`."""
    keyring = KeyRing({"bench": KeyRing.generate_key()}, "bench")
    now = int(time.time())
    signer = TokenSigner([generate_signing_key(keyring, now, alg)], keyring)
    access, id_token = access_claims(now), id_claims(now)
    signer.sign(access)
    time.sleep(max(0.0, start_at - time.time()))
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        signer.sign(access)
        signer.sign(id_token)
        done += 2
    return done, time.perf_counter() - started


def parallel_sign_rate(alg: str, processes: int, seconds: float) -> dict[str, Any]:
    """Signatures per second that `processes` processes reach together through Twofold's
    `TokenSigner`, all signing at once: what the machine's cores allow when they do nothing but
    sign. An MFA grant with `openid` signs two tokens, so half of it bounds the grants."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    # Every process makes its key first (RSA key generation varies); they start together.
    start_at = time.time() + 3.0
    with context.Pool(processes) as pool:
        shares = pool.starmap(_sign_until, [(alg, start_at, seconds)] * processes)
    rate = sum(done / elapsed for done, elapsed in shares)
    return {
        "alg": alg,
        "processes": processes,
        "seconds": seconds,
        "signatures_per_second": round(rate, 1),
        "us_per_signature_per_process": round(processes / rate * 1e6, 1),
        "grants_per_second_bound": round(rate / 2, 1),
    }


def environment() -> dict[str, Any]:
    import ssl

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "cryptography": version("cryptography"),
        "joserfc": version("joserfc"),
        "openssl": ssl.OPENSSL_VERSION,
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
    }


def table(results: list[dict[str, Any]]) -> str:
    has_pyjwt = all("pyjwt_verify" in r for r in results)
    head = ["alg", "sign µs", "verify µs", "sign µs (primitive)", "verify µs (primitive)"]
    head += ["verify µs (PyJWT)"] if has_pyjwt else []
    head += ["access token B", "ID token B", "signature B", "JWKS entry B", "keygen ms"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["alg"]] + [
            f"{r[name]['median_us']:.0f}"
            for name in ("sign", "verify", "sign_primitive", "verify_primitive")
        ]
        cells += [f"{r['pyjwt_verify']['median_us']:.0f}"] if has_pyjwt else []
        cells += [
            str(r["access_token_bytes"]),
            str(r["id_token_bytes"]),
            str(r["signature_bytes"]),
            str(r["jwks_entry_bytes"]),
            f"{r['keygen_ms']:.1f}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.4, help="length of one round")
    parser.add_argument("--repeats", type=int, default=7, help="rounds per figure")
    parser.add_argument("--algs", default=",".join(ALGS), help="comma-separated")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    keyring = KeyRing({"bench": KeyRing.generate_key()}, "bench")
    env = environment()
    results = [
        measure(alg, keyring, args.seconds, args.repeats) for alg in args.algs.split(",") if alg
    ]
    env["loadavg_after"] = os.getloadavg()
    if args.json:
        print(json.dumps({"environment": env, "results": results}, indent=2))
        return
    print(table(results))
    print()
    print(
        f"median of {args.repeats} rounds of ~{args.seconds} s; "
        f"Python {env['python']}, cryptography {env['cryptography']} ({env['openssl']}), "
        f"joserfc {env['joserfc']}; {env['cpu'] or 'unknown CPU'} x{env['cpus']}; "
        f"load average {env['loadavg_before'][0]:.2f} before, {env['loadavg_after'][0]:.2f} after"
    )


if __name__ == "__main__":
    main()
