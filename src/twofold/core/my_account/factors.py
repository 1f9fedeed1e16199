"""GET /me/v1/factors: the methods a user may enrol, from the tenant's enabled factors.

Passkeys are always offered (as POST /passkey/register is): they sign the user in (`primary`).
Every other factor is offered while the tenant has it on, as a second factor (`secondary`):
`otp` is the `totp` type, `sms` or `voice` the `phone` type.
"""

from __future__ import annotations

from typing import Any

from twofold.core.deps import Deps
from twofold.core.models import Tenant

PRIMARY = ["primary"]
SECONDARY = ["secondary"]


def offered(tenant: Tenant) -> list[str]:
    """The method types the tenant lets users enrol, in the order they are listed."""
    enabled = tenant.enabled_factors
    types = ["passkey"]
    if "otp" in enabled:
        types.append("totp")
    if "sms" in enabled or "voice" in enabled:
        types.append("phone")
    if "email" in enabled:
        types.append("email")
    if "push-notification" in enabled:
        types.append("push-notification")
    if "recovery-code" in enabled and tenant.recovery_codes_enabled:
        types.append("recovery-code")
    return types


async def list_factors(deps: Deps) -> list[dict[str, Any]]:
    tenant = await deps.tenant()
    return [{"type": t, "usage": PRIMARY if t == "passkey" else SECONDARY} for t in offered(tenant)]
