"""Every factor by the authenticator kind it stores, and by the out-of-band channel it answers
on. /mfa/associate, /mfa/challenge and the mfa-oob grant dispatch through these two mappings."""

from __future__ import annotations

from collections.abc import Mapping

from twofold.core.factors import email, passkey, phone, push, totp
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

# First factors: a passkey signs a user in on its own (native passkey login, grant
# urn:okta:params:oauth:grant-type:webauthn). Auth0's MFA API neither lists nor challenges them,
# so they are kept out of FACTORS; the webauthn grant and /passkey/* reach the module directly.
FIRST_FACTORS = {"passkey": passkey}
