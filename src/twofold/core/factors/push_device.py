"""The device's side of push: the signed requests a push authenticator app sends.

Every request is a compact JWS signed with the device's P-256 key: at enrolment the public key
comes in the header and proves itself by signing; afterwards the key stored for the push
authenticator (`kid` = its id) must have signed. Each request names its action and audience,
is good for a few minutes and is single-use (`jti`). Payloads are read as strictly as access
tokens (`claims.parse`): no duplicate members, no NaN or Infinity.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey

from twofold.core import associated_data, audit, claims
from twofold.core.deps import Deps
from twofold.core.errors import EnrolmentConflict, InvalidRequest, InvalidToken, NotFound
from twofold.core.factors import oob_codes, push, totp_codes
from twofold.core.factors.push import Device
from twofold.core.ids import digest

ALGORITHMS = ["ES256"]
MAX_JWS_CHARS = 8192
MAX_NAME = 64
MAX_TARGET = 2048
# A signed request is good for this long after its iat; clocks may differ by SKEW.
MAX_LIFETIME = 300
SKEW = 120
BAD_SIGNATURE = "Invalid device signature"


def _public_key(jwk: object) -> ECKey:
    if not isinstance(jwk, dict) or "d" in jwk or jwk.get("kty") != "EC":
        raise InvalidRequest("The device key must be a public P-256 JWK")
    if jwk.get("crv") != "P-256":
        raise InvalidRequest("The device key must be a public P-256 JWK")
    try:
        return ECKey.import_key({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
    except Exception:
        raise InvalidRequest("The device key must be a public P-256 JWK") from None


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS, unverified (to find the key)."""
    if not isinstance(token, str) or not token or len(token) > MAX_JWS_CHARS:
        raise InvalidToken(BAD_SIGNATURE)
    try:
        obj = jws.extract_compact(token.encode("ascii"))
        payload = claims.parse(obj.payload)
    except Exception:
        raise InvalidToken(BAD_SIGNATURE) from None
    return dict(obj.headers()), payload


def _verify(deps: Deps, token: str, key: ECKey, action: str) -> dict[str, Any]:
    try:
        obj = jws.deserialize_compact(token, key, algorithms=ALGORITHMS)
        payload = claims.parse(obj.payload)
        iat = claims.numeric_date(payload, "iat")
        exp = claims.numeric_date(payload, "exp")
    except Exception:
        raise InvalidToken(BAD_SIGNATURE) from None
    if iat is None or exp is None:
        raise InvalidToken(BAD_SIGNATURE)
    now = deps.clock.now()
    if iat > now + SKEW or exp <= now - SKEW or exp - iat > MAX_LIFETIME:
        raise InvalidToken("The signed request is expired or not yet valid")
    if payload.get("aud") != push.base_url(deps) or payload.get("action") != action:
        raise InvalidToken(BAD_SIGNATURE)
    jti = payload.get("jti")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
        raise InvalidToken(BAD_SIGNATURE)
    return payload


async def _once(deps: Deps, subject: str, payload: Mapping[str, Any]) -> None:
    ttl = MAX_LIFETIME + 2 * SKEW
    if not await deps.state.add(
        f"pushjti:{digest(subject + ':' + payload['jti'], 'jti')}", "1", ttl
    ):
        raise InvalidToken("The signed request was already used")


async def device_enroll(deps: Deps, token: str) -> dict[str, Any]:
    """POST /push/enroll: bind the device (its key proves itself by signing the request)."""
    header, _ = _split(token)
    key = _public_key(header.get("jwk"))
    payload = _verify(deps, token, key, "enroll")
    ticket = payload.get("enrollment_tx_id")
    name = payload.get("name") or "Twofold authenticator"
    target = payload.get("notification_target")
    if not isinstance(ticket, str) or not 16 <= len(ticket) <= 128:
        raise InvalidRequest("Missing required parameter: enrollment_tx_id")
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise InvalidRequest("name must be a string of at most 64 characters")
    if target is not None and (not isinstance(target, str) or len(target) > MAX_TARGET):
        raise InvalidRequest("notification_target must be a string")
    await _once(deps, key.thumbprint(), payload)
    raw = await deps.state.consume(push.enrolment_key(ticket))
    if raw is None:
        raise NotFound("Unknown or expired enrollment transaction")
    record = json.loads(raw)
    if deps.clock.now() >= record["expires_at"]:
        raise NotFound("Unknown or expired enrollment transaction")
    device = {"jwk": key.as_dict(private=False), "notification_target": target}
    device_enc = deps.keyring.encrypt(
        json.dumps(device).encode(), associated_data.push_device(record["push_id"])
    )
    if deps.devices is None or not await deps.devices.attach(record["push_id"], name, device_enc):
        raise EnrolmentConflict()
    await oob_codes.decide(deps, record["oob_key"], "approved")
    companion = await deps.storage.authenticators.get(record["totp_id"])
    out: dict[str, Any] = {
        "device_id": record["push_id"],
        "issuer": record["issuer"],
        "account": record["account"],
    }
    if companion is not None and companion.secret_enc is not None:
        secret = deps.keyring.decrypt(
            companion.secret_enc, associated_data.otp_secret(companion.id)
        ).decode()
        out["totp"] = {
            "secret": secret,
            "algorithm": totp_codes.ALGORITHM,
            "digits": totp_codes.DIGITS,
            "period": totp_codes.PERIOD,
        }
    await audit.record(
        deps, audit.UPDATE_DEVICE_ACCOUNT, user_id=record["user_id"], device_id=record["push_id"]
    )
    return out


async def _device_for(deps: Deps, token: str, action: str) -> tuple[Device, dict[str, Any]]:
    header, _ = _split(token)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid.startswith("push|"):
        raise InvalidToken(BAD_SIGNATURE)
    authenticator = await deps.storage.authenticators.get(kid)
    device = push.load_device(deps, authenticator) if authenticator is not None else None
    if device is None:
        raise InvalidToken(BAD_SIGNATURE)
    payload = _verify(deps, token, device.key, action)
    if payload.get("iss") != kid:
        raise InvalidToken(BAD_SIGNATURE)
    await _once(deps, kid, payload)
    return device, payload


async def device_pending(deps: Deps, token: str) -> list[dict[str, Any]]:
    """POST /push/pending: the device's push requests still waiting for an answer."""
    device, _ = await _device_for(deps, token, "pending")
    raw = await deps.state.get(push.QUEUE_KEY + device.authenticator.id)
    out: list[dict[str, Any]] = []
    for request_id, _expires in json.loads(raw) if raw else []:
        request_raw = await deps.state.get(push.REQUEST_KEY + request_id)
        if request_raw is None:
            continue
        request = json.loads(request_raw)
        if not await _is_pending(deps, request):
            continue
        client = await deps.storage.clients.get(request["client_id"])
        out.append(
            {
                "transaction_id": request_id,
                "created_at": int(request["created_at"]),
                "expires_at": int(request["expires_at"]),
                "client_name": client.name if client else None,
            }
        )
    return out


async def _is_pending(deps: Deps, request: Mapping[str, Any]) -> bool:
    if deps.clock.now() >= request["expires_at"]:
        return False
    raw = await deps.state.get(request["oob_key"])
    return raw is not None and json.loads(raw).get("status") == "pending"


async def device_decide(deps: Deps, token: str, request_id: str, approve: bool) -> None:
    """POST /push/transactions/{id}: approve or reject a pending push request."""
    action = "approve" if approve else "reject"
    device, payload = await _device_for(deps, token, action)
    if payload.get("transaction_id") != request_id:
        raise InvalidToken(BAD_SIGNATURE)
    raw = await deps.state.get(push.REQUEST_KEY + request_id) if len(request_id) <= 64 else None
    request = json.loads(raw) if raw else None
    if request is None or request["device_id"] != device.authenticator.id:
        raise NotFound("Unknown or expired transaction")
    if not await oob_codes.decide(deps, request["oob_key"], "approved" if approve else "rejected"):
        raise NotFound("The transaction is no longer pending")
    if not approve:
        await audit.record(
            deps,
            audit.AUTH_REJECTED,
            user_id=request["user_id"],
            client_id=request["client_id"],
            authenticator_id=device.authenticator.id,
        )
