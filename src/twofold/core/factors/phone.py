"""The phone factor: codes by SMS or by voice call to one number.

sms and voice are one phone factor: enrolling either creates `sms|dev_X` and, when the other
channel is enabled too, `voice|dev_X` with the same suffix and a shared link id, listed and
deleted together; either channel can then be challenged.
"""

from __future__ import annotations

from typing import Any

from twofold.core import contact
from twofold.core.deps import Deps
from twofold.core.errors import missing
from twofold.core.factors import base, prompt
from twofold.core.factors.base import Enrolment
from twofold.core.models import AuthenticatorKind

GUESSABLE = prompt.GUESSABLE
challenge = prompt.challenge
verify = prompt.verify
describe = base.describe


async def enrol(deps: Deps, enrolment: Enrolment) -> dict[str, Any]:
    first: AuthenticatorKind = "voice" if enrolment.oob_channel == "voice" else "sms"
    other: AuthenticatorKind = "sms" if first == "voice" else "voice"
    base.require_enabled(enrolment.tenant, first)
    if enrolment.body.get("phone_number") in (None, ""):
        raise missing("phone_number")
    number = contact.normalize_phone(
        enrolment.body.get("phone_number"), deps.policy.phone_countries
    )
    kinds = [first, other] if other in enrolment.tenant.enabled_factors else [first]
    return await prompt.enrol(
        deps,
        enrolment,
        kinds=kinds,
        replaces=["sms", "voice"],
        address=number,
        name=contact.mask_phone(number),
    )
