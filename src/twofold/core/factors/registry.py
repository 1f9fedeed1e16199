"""Every factor by the authenticator kind it stores, and by the out-of-band channel it answers
on. /mfa/associate, /mfa/challenge and the mfa-oob grant dispatch through these two mappings."""

from __future__ import annotations

from collections.abc import Mapping

from twofold.core.factors import email, phone, push, totp
from twofold.core.factors.base import Factor, OobFactor
from twofold.core.models import AuthenticatorKind

FACTORS: Mapping[AuthenticatorKind, Factor] = {
    "totp": totp,
    "sms": phone,
    "voice": phone,
    "email": email,
    "push": push,
}

# The wire's `oob_channel` names, and the authenticator kind each one enrols and challenges.
OOB_KINDS: Mapping[str, AuthenticatorKind] = {
    "sms": "sms",
    "voice": "voice",
    "email": "email",
    "auth0": "push",
}
OOB_FACTORS: Mapping[str, OobFactor] = {"sms": phone, "voice": phone, "email": email, "auth0": push}
