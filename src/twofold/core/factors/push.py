"""Push: Twofold's own device protocol (docs/push-protocol.md), since Auth0's Guardian one is
private.

Enrolment. /mfa/associate with `oob_channels:["auth0"]` stores an inactive `push|dev_X` and its
companion `totp|dev_X` (linked), and answers a `barcode_uri` carrying a one-time enrolment
transaction and the server's base URL. The device makes a P-256 key and posts a JWS signed with it
(public key in the header) to `/push/enroll`; the server binds key, name and notification target
to the push authenticator, hands back the companion TOTP secret, and marks the associate's
`oob_code` approved, so the client's next poll of the mfa-oob grant confirms both.

Challenges. A push challenge stores the `oob_code` record (pending), a push transaction the device
can see, and tells the device through the push channel (a signed webhook to a relay) when it has a
notification target. The device lists its pending transactions and approves or rejects one with
requests signed by its key (`kid` = the authenticator id; single-use `jti`; short lifetime).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from joserfc import jws
from joserfc.jwk import ECKey

from twofold.core import audit, ids
from twofold.core.deps import Deps
from twofold.core.errors import InvalidRequest, InvalidToken, NotFound, OAuthError
from twofold.core.factors import dispatch, oob, totp
from twofold.core.ids import digest
from twofold.core.limits import SendLimiter
from twofold.core.models import Authenticator, MfaTransaction, OutboundMessage, User

PROTOCOL = "twofold-push-v1"
ALGORITHMS = ["ES256"]
MAX_JWS_CHARS = 8192
MAX_NAME = 64
MAX_TARGET = 2048
# A signed request is good for this long after its iat; clocks may differ by SKEW.
MAX_LIFETIME = 300
SKEW = 120
ENROLMENT_LIFETIME = 300.0
BAD_SIGNATURE = "Invalid device signature"


class EnrolmentConflict(OAuthError):
    status = 409
    error = "invalid_request"
    default_description = "The enrollment transaction was already used"


def base_url(deps: Deps) -> str:
    return deps.issuer.rstrip("/")


def device_aad(authenticator_id: str) -> str:
    return f"authenticator:{authenticator_id}:device"


def secret_aad(authenticator_id: str) -> str:
    # The companion TOTP's secret, under the same associated data as any TOTP secret.
    return f"authenticator:{authenticator_id}:secret"


def _enrol_key(tx_id: str) -> str:
    return f"pushenrol:{digest(tx_id, 'push_enrolment')}"


def _tx_key(tx_id: str) -> str:
    return f"pushtx:{tx_id}"


def _queue_key(device_id: str) -> str:
    return f"pushq:{device_id}"


# ------------------------------------------------------------------------------------ enrolment


async def enroll(
    deps: Deps, user: User, *, binding: str, client_id: str, not_after: float, issuer: str
) -> dict[str, Any]:
    """The /mfa/associate answer for `oob_channels:["auth0"]` (spec §6.3)."""
    now = deps.clock.now()
    stored = await deps.storage.authenticators.list_for_user(user.user_id)
    stale = [a for a in stored if a.kind == "push" and not a.active]
    stale_ids = [a.id for a in stale]
    stale_ids += [a.id for a in stored if a.link_id and a.link_id in {s.link_id for s in stale}]
    await deps.storage.authenticators.delete(sorted(set(stale_ids)))

    suffix = ids.authenticator_id("push").split("|", 1)[1]
    push_id, totp_id, link = f"push|{suffix}", f"totp|{suffix}", f"push|{suffix}"
    secret = totp.new_secret()
    await deps.storage.authenticators.add(
        Authenticator(
            id=push_id,
            user_id=user.user_id,
            kind="push",
            active=False,
            created_at=now,
            link_id=link,
        )
    )
    await deps.storage.authenticators.add(
        Authenticator(
            id=totp_id,
            user_id=user.user_id,
            kind="totp",
            active=False,
            created_at=now,
            secret_enc=deps.keyring.encrypt(secret.encode(), secret_aad(totp_id)),
            link_id=link,
        )
    )
    oob_code, oob_key = await oob.issue(
        deps,
        user_id=user.user_id,
        client_id=client_id,
        binding=binding,
        authenticator_id=push_id,
        channel="auth0",
        enrolment=True,
        not_after=not_after,
        binding_code=None,
    )
    tx_id = secrets.token_hex(16)
    expires_at = min(now + ENROLMENT_LIFETIME, not_after)
    record = {
        "user_id": user.user_id,
        "push_id": push_id,
        "totp_id": totp_id,
        "oob_key": oob_key,
        "expires_at": expires_at,
        "issuer": issuer,
        "account": user.email,
    }
    await deps.state.put(_enrol_key(tx_id), json.dumps(record), ttl=max(1.0, expires_at - now))
    label = f"{quote(issuer, safe='')}:{quote(user.email, safe='')}"
    uri = (
        f"otpauth://totp/{label}?enrollment_tx_id={tx_id}"
        f"&base_url={quote(base_url(deps), safe='')}&issuer={quote(issuer, safe='')}"
        f"&protocol={PROTOCOL}"
    )
    return {
        "authenticator_type": "oob",
        "barcode_uri": uri,
        "oob_channel": "auth0",
        "oob_code": oob_code,
    }


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
        claims = json.loads(obj.payload)
    except Exception:
        raise InvalidToken(BAD_SIGNATURE) from None
    if not isinstance(claims, dict):
        raise InvalidToken(BAD_SIGNATURE)
    return dict(obj.headers()), claims


def _verify(deps: Deps, token: str, key: ECKey, action: str) -> dict[str, Any]:
    try:
        obj = jws.deserialize_compact(token, key, algorithms=ALGORITHMS)
        claims = json.loads(obj.payload)
    except Exception:
        raise InvalidToken(BAD_SIGNATURE) from None
    now = deps.clock.now()
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise InvalidToken(BAD_SIGNATURE)
    if iat > now + SKEW or exp <= now - SKEW or exp - iat > MAX_LIFETIME:
        raise InvalidToken("The signed request is expired or not yet valid")
    if claims.get("aud") != base_url(deps) or claims.get("action") != action:
        raise InvalidToken(BAD_SIGNATURE)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
        raise InvalidToken(BAD_SIGNATURE)
    return dict(claims)


async def _once(deps: Deps, subject: str, claims: Mapping[str, Any]) -> None:
    ttl = MAX_LIFETIME + 2 * SKEW
    if not await deps.state.add(
        f"pushjti:{digest(subject + ':' + claims['jti'], 'jti')}", "1", ttl
    ):
        raise InvalidToken("The signed request was already used")


async def device_enroll(deps: Deps, token: str) -> dict[str, Any]:
    """POST /push/enroll: bind the device (its key proves itself by signing the request)."""
    header, _ = _split(token)
    key = _public_key(header.get("jwk"))
    claims = _verify(deps, token, key, "enroll")
    tx_id = claims.get("enrollment_tx_id")
    name = claims.get("name") or "Twofold authenticator"
    target = claims.get("notification_target")
    if not isinstance(tx_id, str) or not 16 <= len(tx_id) <= 128:
        raise InvalidRequest("Missing required parameter: enrollment_tx_id")
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise InvalidRequest("name must be a string of at most 64 characters")
    if target is not None and (not isinstance(target, str) or len(target) > MAX_TARGET):
        raise InvalidRequest("notification_target must be a string")
    await _once(deps, key.thumbprint(), claims)
    raw = await deps.state.consume(_enrol_key(tx_id))
    if raw is None:
        raise NotFound("Unknown or expired enrollment transaction")
    record = json.loads(raw)
    if deps.clock.now() >= record["expires_at"]:
        raise NotFound("Unknown or expired enrollment transaction")
    device = {"jwk": key.as_dict(private=False), "notification_target": target}
    device_enc = deps.keyring.encrypt(json.dumps(device).encode(), device_aad(record["push_id"]))
    if deps.devices is None or not await deps.devices.attach(record["push_id"], name, device_enc):
        raise EnrolmentConflict()
    await oob.decide(deps, record["oob_key"], "approved")
    companion = await deps.storage.authenticators.get(record["totp_id"])
    out: dict[str, Any] = {
        "device_id": record["push_id"],
        "issuer": record["issuer"],
        "account": record["account"],
    }
    if companion is not None and companion.secret_enc is not None:
        secret = deps.keyring.decrypt(companion.secret_enc, secret_aad(companion.id)).decode()
        out["totp"] = {"secret": secret, "algorithm": "SHA1", "digits": 6, "period": 30}
    await audit.record(
        deps, "gd_update_device_account", user_id=record["user_id"], device_id=record["push_id"]
    )
    return out


# ------------------------------------------------------------------------------------ challenge


@dataclass(frozen=True, slots=True)
class Device:
    authenticator: Authenticator
    key: ECKey
    notification_target: str | None


def load_device(deps: Deps, authenticator: Authenticator) -> Device | None:
    if authenticator.kind != "push" or authenticator.target_enc is None:
        return None
    data = json.loads(deps.keyring.decrypt(authenticator.target_enc, device_aad(authenticator.id)))
    return Device(authenticator, ECKey.import_key(data["jwk"]), data.get("notification_target"))


async def challenge(deps: Deps, tx: MfaTransaction, authenticator: Authenticator) -> dict[str, Any]:
    device = load_device(deps, authenticator)
    if device is None:
        raise InvalidRequest("The push authenticator has no device")
    oob_code, oob_key = await oob.issue(
        deps,
        user_id=tx.user_id,
        client_id=tx.client_id,
        binding=oob.binding_for(tx),
        authenticator_id=authenticator.id,
        channel="auth0",
        enrolment=False,
        not_after=tx.expires_at,
        binding_code=None,
    )
    now = deps.clock.now()
    tx_id = secrets.token_hex(16)
    expires_at = min(now + deps.policy.oob_code_lifetime, tx.expires_at)
    record = {
        "device_id": authenticator.id,
        "user_id": tx.user_id,
        "client_id": tx.client_id,
        "oob_key": oob_key,
        "created_at": now,
        "expires_at": expires_at,
    }
    await deps.state.put(_tx_key(tx_id), json.dumps(record), ttl=max(1.0, expires_at - now))
    # Queued before the notification goes out, so a device that reacts at once finds it.
    await _enqueue(deps, authenticator.id, tx_id, expires_at)
    try:
        await _notify(deps, tx, device, tx_id, expires_at - now)
    except OAuthError:
        # The client gets no oob_code: nothing may stay for the device to answer.
        await oob.spend(deps, oob_code)
        await deps.state.delete(_tx_key(tx_id))
        raise
    return {"challenge_type": "oob", "oob_code": oob_code}


async def _notify(
    deps: Deps, tx: MfaTransaction, device: Device, tx_id: str, expires_in: float
) -> None:
    authenticator = device.authenticator
    if device.notification_target and "push" in deps.channels:
        message = OutboundMessage(
            channel="push",
            to=device.notification_target,
            purpose="push",
            issuer=(await deps.tenant()).friendly_name,
            locale=deps.policy.delivery_locale,
            expires_in=int(expires_in),
            data={
                "transaction_id": tx_id,
                "device_id": authenticator.id,
                "base_url": base_url(deps),
            },
        )
        await dispatch.send(
            deps,
            message,
            user_id=tx.user_id,
            client_id=tx.client_id,
            authenticator_id=authenticator.id,
        )
    else:
        # Nothing is sent (the device polls), but the push limit still holds.
        await SendLimiter.of(deps).take("push", tx.user_id, None)


async def _enqueue(deps: Deps, device_id: str, tx_id: str, expires_at: float) -> None:
    key = _queue_key(device_id)
    for _ in range(16):
        raw = await deps.state.get(key)
        now = deps.clock.now()
        queue = [e for e in (json.loads(raw) if raw else []) if e[1] > now][-49:]
        queue.append([tx_id, expires_at])
        ttl = max(e[1] for e in queue) - now + 1
        if await deps.state.cas(key, raw, json.dumps(queue), ttl=ttl):
            return


async def _device_for(deps: Deps, token: str, action: str) -> tuple[Device, dict[str, Any]]:
    header, _ = _split(token)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid.startswith("push|"):
        raise InvalidToken(BAD_SIGNATURE)
    authenticator = await deps.storage.authenticators.get(kid)
    device = load_device(deps, authenticator) if authenticator is not None else None
    if device is None:
        raise InvalidToken(BAD_SIGNATURE)
    claims = _verify(deps, token, device.key, action)
    if claims.get("iss") != kid:
        raise InvalidToken(BAD_SIGNATURE)
    await _once(deps, kid, claims)
    return device, claims


async def device_pending(deps: Deps, token: str) -> list[dict[str, Any]]:
    """POST /push/pending: the device's transactions still waiting for an answer."""
    device, _ = await _device_for(deps, token, "pending")
    raw = await deps.state.get(_queue_key(device.authenticator.id))
    out: list[dict[str, Any]] = []
    for tx_id, _expires in json.loads(raw) if raw else []:
        tx_raw = await deps.state.get(_tx_key(tx_id))
        if tx_raw is None:
            continue
        tx = json.loads(tx_raw)
        if not await _is_pending(deps, tx):
            continue
        client = await deps.storage.clients.get(tx["client_id"])
        out.append(
            {
                "transaction_id": tx_id,
                "created_at": int(tx["created_at"]),
                "expires_at": int(tx["expires_at"]),
                "client_name": client.name if client else None,
            }
        )
    return out


async def _is_pending(deps: Deps, tx: Mapping[str, Any]) -> bool:
    if deps.clock.now() >= tx["expires_at"]:
        return False
    raw = await deps.state.get(tx["oob_key"])
    return raw is not None and json.loads(raw).get("status") == "pending"


async def device_decide(deps: Deps, token: str, tx_id: str, approve: bool) -> None:
    """POST /push/transactions/{id}: approve or reject a pending transaction."""
    action = "approve" if approve else "reject"
    device, claims = await _device_for(deps, token, action)
    if claims.get("transaction_id") != tx_id:
        raise InvalidToken(BAD_SIGNATURE)
    raw = await deps.state.get(_tx_key(tx_id)) if len(tx_id) <= 64 else None
    tx = json.loads(raw) if raw else None
    if tx is None or tx["device_id"] != device.authenticator.id:
        raise NotFound("Unknown or expired transaction")
    if not await oob.decide(deps, tx["oob_key"], "approved" if approve else "rejected"):
        raise NotFound("The transaction is no longer pending")
    if not approve:
        await audit.record(
            deps,
            audit.AUTH_REJECTED,
            user_id=tx["user_id"],
            client_id=tx["client_id"],
            authenticator_id=device.authenticator.id,
        )
