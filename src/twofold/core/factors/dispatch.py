"""Handing a message to its delivery channel: send limits, a time cap, the audit trail.

Every failure to deliver (no channel configured, the provider refused, it timed out, the adapter
broke) becomes 502 bad_gateway for the client and a `gd_send_*_failure` audit event for the
operator, never a 500 and never a hung request. The recipient and the code stay out of both.
"""

from __future__ import annotations

import asyncio
import logging

from twofold.core import audit
from twofold.core.deps import Deps
from twofold.core.errors import BadGateway
from twofold.core.limits import SendLimiter
from twofold.core.models import OutboundMessage
from twofold.core.ports import DeliveryError

EVENTS = {
    "sms": (audit.SEND_SMS, audit.SEND_SMS_FAILURE),
    "voice": (audit.SEND_VOICE, audit.SEND_VOICE_FAILURE),
    "email": (audit.SEND_EMAIL, audit.SEND_EMAIL_FAILURE),
    "push": (audit.SEND_PUSH, audit.SEND_PUSH_FAILURE),
}
# Adapters keep their own (shorter) timeouts; this cap holds even if one forgets to.
SEND_TIMEOUT_CAP = 30.0

log = logging.getLogger("twofold.delivery")


async def send(
    deps: Deps,
    message: OutboundMessage,
    *,
    user_id: str,
    client_id: str | None,
    authenticator_id: str,
) -> None:
    """Deliver or raise: 429 too_many_requests (send limit), 502 bad_gateway (delivery)."""
    ok_event, failure_event = EVENTS[message.channel]
    limiter = SendLimiter.of(deps)
    await limiter.take(message.channel, user_id, message.to)
    channel = deps.channels.get(message.channel)
    reason: str | None = None
    outcome = "sent"
    if channel is None:
        reason, outcome = "no delivery channel configured", "unconfigured"
    else:
        try:
            await asyncio.wait_for(channel.send(message), timeout=SEND_TIMEOUT_CAP)
        except DeliveryError as exc:
            reason, outcome = str(exc)[:200] or type(exc).__name__, "failed"
        except TimeoutError:
            reason, outcome = "timed out", "timeout"
        except Exception as exc:  # an adapter bug must still be a 502, not a 500
            reason, outcome = f"unexpected {type(exc).__name__}", "failed"
    deps.metrics.delivery(message.channel, outcome)
    if reason is not None:
        await limiter.refund(message.channel, user_id, message.to)
        log.warning("%s delivery failed: %s", message.channel, reason)
        await audit.record(
            deps,
            failure_event,
            user_id=user_id,
            client_id=client_id,
            authenticator_id=authenticator_id,
            reason=reason,
        )
        raise BadGateway()
    await audit.record(
        deps,
        ok_event,
        user_id=user_id,
        client_id=client_id,
        authenticator_id=authenticator_id,
        purpose=message.purpose,
    )
