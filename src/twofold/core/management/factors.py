"""/api/v2/guardian/factors: which factors the tenant offers, by Guardian's names.

Guardian's `sms` is Twofold's sms channel (voice stays a separate tenant setting, changed with
`twofold tenant set`); `otp`, `email`, `push-notification` and `recovery-code` map one to one.
Twofold has no Duo nor WebAuthn factor: they are listed as disabled and cannot be enabled.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from twofold.core.deps import Deps
from twofold.core.management import params
from twofold.core.management.errors import ManagementError, bad_body

NAMES = (
    "sms",
    "push-notification",
    "email",
    "duo",
    "otp",
    "webauthn-roaming",
    "webauthn-platform",
    "recovery-code",
)
UNSUPPORTED = frozenset({"duo", "webauthn-roaming", "webauthn-platform"})


async def list_factors(deps: Deps) -> list[dict[str, Any]]:
    tenant = await deps.tenant()
    out = []
    for name in NAMES:
        enabled = name in tenant.enabled_factors
        if name == "recovery-code":
            enabled = enabled and tenant.recovery_codes_enabled
        out.append({"name": name, "enabled": enabled, "trial_expired": False})
    return out


async def set_factor(deps: Deps, name: str, raw: Any) -> dict[str, bool]:
    if name not in NAMES:
        raise ManagementError(404, "inexistent_factor", "Factor not found")
    body = params.body_object(raw)
    params.allowed(body, frozenset({"enabled"}))
    enabled = params.typed(body, "enabled", bool, required=True)
    if name in UNSUPPORTED:
        if enabled:
            raise bad_body(f"'Twofold does not offer the {name} factor' on property enabled")
        return {"enabled": False}
    tenant = await deps.tenant()
    factors = set(tenant.enabled_factors)
    if enabled:
        factors.add(name)
    else:
        factors.discard(name)
    changes: dict[str, Any] = {"enabled_factors": frozenset(factors)}
    if name == "recovery-code":
        changes["recovery_codes_enabled"] = bool(enabled)
    await deps.storage.tenant.save(replace(tenant, **changes))
    deps.forget_tenant()
    return {"enabled": bool(enabled)}
