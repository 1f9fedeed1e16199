"""Reading a user's authenticators: the list view, requirements, and which are usable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from twofold.core.deps import Deps
from twofold.core.models import Authenticator


def usable(authenticators: Sequence[Authenticator]) -> list[Authenticator]:
    """Active authenticators that can answer a challenge (recovery codes are not challenged)."""
    return [a for a in authenticators if a.active and a.kind != "recovery-code"]


def has_active_factor(authenticators: Sequence[Authenticator]) -> bool:
    return bool(usable(authenticators))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def view(a: Authenticator) -> dict[str, Any]:
    """One entry of GET /mfa/authenticators (decision 11)."""
    out: dict[str, Any] = {
        "id": a.id,
        "authenticator_type": a.authenticator_type,
        "active": a.active,
    }
    if a.oob_channel is not None:
        out["oob_channel"] = a.oob_channel
    if a.name is not None:
        out["name"] = a.name
    out["type"] = a.factor_type
    out["created_at"] = _iso(a.created_at)
    if a.last_used_at is not None:
        out["last_auth"] = _iso(a.last_used_at)
    return out


async def list_view(deps: Deps, user_id: str) -> list[dict[str, Any]]:
    return [view(a) for a in await deps.storage.authenticators.list_for_user(user_id)]


async def requirements(deps: Deps, user_id: str) -> dict[str, list[dict[str, str]]]:
    """mfa_requirements for an mfa_required answer (decision 1)."""
    authenticators = await deps.storage.authenticators.list_for_user(user_id)
    active = [a for a in authenticators if a.active]
    if has_active_factor(active):
        types: list[str] = []
        for a in sorted(active, key=lambda a: a.kind == "recovery-code"):
            if a.factor_type not in types:
                types.append(a.factor_type)
        return {"challenge": [{"type": t} for t in types]}
    tenant = await deps.tenant()
    enrollable = [f for f in ("otp",) if f in tenant.enabled_factors]
    return {"enroll": [{"type": t} for t in enrollable]}
