"""The push factor: Twofold's own device protocol (docs/push-protocol.md), since Auth0's
Guardian one is private. This module is the server's side of a push; `push_device` answers the
device's signed requests.

Enrolment. /mfa/associate with `oob_channels:["auth0"]` stores an inactive `push|dev_X` and its
companion `totp|dev_X` (linked), and answers a `barcode_uri` carrying a one-time enrolment
ticket and the server's base URL. The device binds its key to the push authenticator through
`push_device`, which marks the associate's `oob_code` approved, so the client's next poll of the
mfa-oob grant confirms both.

Challenges. A push challenge stores the `oob_code` record (pending) and a push request the device
can see, and tells the device through the push channel (a signed webhook to a relay) when it has a
notification target. The device approves or rejects the request; the mfa-oob grant reads the
answer from the `oob_code` record.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from joserfc.jwk import ECKey

from twofold.core import associated_data
from twofold.core.deps import Deps
from twofold.core.errors import InvalidRequest, OAuthError, PushRejected, ServerError
from twofold.core.factors import base, dispatch, oob_codes, totp_codes
from twofold.core.factors.base import Enrolment
from twofold.core.ids import digest
from twofold.core.limits import SendLimiter
from twofold.core.models import Authenticator, MfaToken, OutboundMessage

PROTOCOL = "twofold-push-v1"
ENROLMENT_LIFETIME = 300.0
# Unguessable: the proof is the device's signed answer, not a code typed in.
GUESSABLE = False
_ENQUEUE_TRIES = 16
describe = base.describe


def base_url(deps: Deps) -> str:
    return deps.issuer.rstrip("/")


def enrolment_key(ticket: str) -> str:
    return f"pushenrol:{digest(ticket, 'push_enrolment')}"


# State keys of a push request, and of the queue of requests a device has not answered yet.
REQUEST_KEY = "pushtx:"
QUEUE_KEY = "pushq:"


# ------------------------------------------------------------------------------------ enrolment


async def enrol(deps: Deps, enrolment: Enrolment) -> dict[str, Any]:
    """The /mfa/associate answer for `oob_channels:["auth0"]`."""
    base.require_enabled(enrolment.tenant, "push-notification")
    user, issuer = enrolment.user, enrolment.tenant.friendly_name
    now = deps.clock.now()
    stored = await deps.storage.authenticators.list_for_user(user.user_id)
    stale = [a for a in stored if a.kind == "push" and not a.active]
    stale_ids = [a.id for a in stale]
    stale_ids += [a.id for a in stored if a.link_id and a.link_id in {s.link_id for s in stale}]
    await deps.storage.authenticators.delete(sorted(set(stale_ids)))

    push_id, totp_id = enrolment.row_id("push"), enrolment.row_id("totp")
    link = push_id
    secret = totp_codes.new_secret()
    sealed = deps.keyring.encrypt(secret.encode(), associated_data.otp_secret(totp_id))
    await deps.storage.authenticators.add(
        base.pending(push_id, user.user_id, "push", now, link_id=link)
    )
    await deps.storage.authenticators.add(
        base.pending(totp_id, user.user_id, "totp", now, secret_enc=sealed, link_id=link)
    )
    oob_code, oob_key = await oob_codes.issue(
        deps, enrolment.owner, push_id, "auth0", enrolment=True, binding_code=None
    )
    ticket = secrets.token_hex(16)
    expires_at = min(now + ENROLMENT_LIFETIME, enrolment.not_after)
    record = {
        "user_id": user.user_id,
        "push_id": push_id,
        "totp_id": totp_id,
        "oob_key": oob_key,
        "expires_at": expires_at,
        "issuer": issuer,
        "account": user.email,
    }
    await deps.state.put(enrolment_key(ticket), json.dumps(record), ttl=max(1.0, expires_at - now))
    label = f"{quote(issuer, safe='')}:{quote(user.email, safe='')}"
    uri = (
        f"otpauth://totp/{label}?enrollment_tx_id={ticket}"
        f"&base_url={quote(base_url(deps), safe='')}&issuer={quote(issuer, safe='')}"
        f"&protocol={PROTOCOL}"
    )
    return {
        "authenticator_type": "oob",
        "barcode_uri": uri,
        "oob_channel": "auth0",
        "oob_code": oob_code,
    }


@dataclass(frozen=True, slots=True)
class Device:
    authenticator: Authenticator
    key: ECKey
    notification_target: str | None


def load_device(deps: Deps, authenticator: Authenticator) -> Device | None:
    if authenticator.kind != "push" or authenticator.target_enc is None:
        return None
    data = json.loads(
        deps.keyring.decrypt(
            authenticator.target_enc, associated_data.push_device(authenticator.id)
        )
    )
    return Device(authenticator, ECKey.import_key(data["jwk"]), data.get("notification_target"))


async def challenge(
    deps: Deps, mfa_token: MfaToken, authenticator: Authenticator
) -> dict[str, Any]:
    device = load_device(deps, authenticator)
    if device is None:
        raise InvalidRequest("The push authenticator has no device")
    owner = oob_codes.owner_of(mfa_token)
    oob_code, oob_key = await oob_codes.issue(
        deps, owner, authenticator.id, "auth0", enrolment=False, binding_code=None
    )
    now = deps.clock.now()
    request_id = secrets.token_hex(16)
    expires_at = min(now + deps.policy.oob_code_lifetime, mfa_token.expires_at)
    record = {
        "device_id": authenticator.id,
        "user_id": mfa_token.user_id,
        "client_id": mfa_token.client_id,
        "oob_key": oob_key,
        "created_at": now,
        "expires_at": expires_at,
    }
    await deps.state.put(
        REQUEST_KEY + request_id, json.dumps(record), ttl=max(1.0, expires_at - now)
    )
    # Queued before the notification goes out, so a device that reacts at once finds it.
    await _enqueue(deps, authenticator.id, request_id, expires_at)
    try:
        await _notify(deps, mfa_token, device, request_id, expires_at - now)
    except OAuthError:
        # The client gets no oob_code: nothing may stay for the device to answer.
        await oob_codes.spend(deps, oob_code)
        await deps.state.delete(REQUEST_KEY + request_id)
        raise
    return {"challenge_type": "oob", "oob_code": oob_code}


async def _notify(
    deps: Deps, mfa_token: MfaToken, device: Device, request_id: str, expires_in: float
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
                "transaction_id": request_id,
                "device_id": authenticator.id,
                "base_url": base_url(deps),
            },
        )
        await dispatch.send(
            deps,
            message,
            user_id=mfa_token.user_id,
            client_id=mfa_token.client_id,
            authenticator_id=authenticator.id,
        )
    else:
        # Nothing is sent (the device polls), but the push limit still holds.
        await SendLimiter.of(deps).take("push", mfa_token.user_id, None)


async def _enqueue(deps: Deps, device_id: str, request_id: str, expires_at: float) -> None:
    key = QUEUE_KEY + device_id
    for _ in range(_ENQUEUE_TRIES):
        raw = await deps.state.get(key)
        now = deps.clock.now()
        queue = [e for e in (json.loads(raw) if raw else []) if e[1] > now][-49:]
        queue.append([request_id, expires_at])
        ttl = max(e[1] for e in queue) - now + 1
        if await deps.state.cas(key, raw, json.dumps(queue), ttl=ttl):
            return
    # Only a storm of concurrent challenges for one device gets here; the client gets no
    # oob_code (the caller spends it), rather than one the device would never see.
    raise ServerError(debug=f"push queue for {device_id} still contended after {_ENQUEUE_TRIES}")


def verify(record: oob_codes.OobRecord, oob_code: str, binding_code: str | None) -> bool | None:
    """The device's answer: approved is proof, rejected is refused, and None while it waits."""
    if record.status == "rejected":
        raise PushRejected()
    if record.status != "approved":
        return None
    return True
