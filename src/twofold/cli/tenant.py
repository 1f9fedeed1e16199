"""`twofold tenant`: tenant-wide settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from twofold.cli.common import run
from twofold.cli.keys import NON_RSA_NOTE, SIGNING_ALG_CHOICE
from twofold.core.models import FACTORS, MFA_POLICIES

if TYPE_CHECKING:
    from twofold.app import Services
    from twofold.core.models import Tenant


F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def tenant() -> None:
    """Tenant-wide settings."""


def _tenant_dict(t: Tenant) -> dict[str, Any]:
    return {
        "friendly_name": t.friendly_name,
        "mfa_policy": t.mfa_policy,
        "enabled_factors": sorted(t.enabled_factors),
        "recovery_codes_enabled": t.recovery_codes_enabled,
        "default_audience": t.default_audience,
        "access_token_lifetime": t.access_token_lifetime,
        "id_token_lifetime": t.id_token_lifetime,
        "refresh_token_lifetime": t.refresh_token_lifetime,
        "signing_alg": t.signing_alg,
        "email_counts_as_factor": t.email_counts_as_factor,
    }


def _factor_list(*decls: str, help: str) -> Callable[[F], F]:
    """A repeatable option naming factors."""
    return click.option(
        *decls, multiple=True, type=click.Choice(FACTORS), help=f"{help} Repeatable."
    )


@tenant.command("show")
def tenant_show() -> None:
    """Print the tenant's settings as JSON."""
    click.echo(json.dumps(_tenant_dict(run(lambda s: s.admin.tenant())), indent=2))


@tenant.command("set")
@click.option(
    "--friendly-name", help="The tenant's name, shown in authenticator apps and messages."
)
@click.option(
    "--mfa-policy",
    type=click.Choice(MFA_POLICIES),
    help="Whether the password grant asks for a second factor.",
)
@_factor_list("--factor", "factors", help="Replace the enabled factors with these (see --enable).")
@_factor_list("--enable", help="Enable this factor, keeping the others.")
@_factor_list("--disable", help="Disable this factor, keeping the others.")
@click.option(
    "--recovery-codes/--no-recovery-codes",
    default=None,
    help="Whether users get a recovery code at enrolment and may log in with it.",
)
@click.option(
    "--default-audience",
    help="API a token is for when a request names none (an empty value clears it).",
)
@click.option(
    "--signing-alg",
    type=SIGNING_ALG_CHOICE,
    help="Algorithm of the next signing key; takes effect at the next `twofold keys rotate` "
    "(or use `twofold keys rotate --alg` to set and rotate in one step).",
)
@click.option(
    "--email-counts-as-factor/--no-email-counts-as-factor",
    default=None,
    help="Whether email (enrolled, or a verified address) counts as a factor. Off restores "
    "Auth0's behaviour: anyone with an email-only user's password can add a factor of their own.",
)
def tenant_set(
    friendly_name: str | None,
    mfa_policy: str | None,
    factors: tuple[str, ...],
    enable: tuple[str, ...],
    disable: tuple[str, ...],
    recovery_codes: bool | None,
    default_audience: str | None,
    signing_alg: str | None,
    email_counts_as_factor: bool | None,
) -> None:
    """Change tenant settings and print them all as JSON."""
    if both := set(enable) & set(disable):
        raise click.UsageError(f"both --enable and --disable {', '.join(sorted(both))}")
    changes: dict[str, Any] = {}
    if friendly_name is not None:
        changes["friendly_name"] = friendly_name
    if mfa_policy is not None:
        changes["mfa_policy"] = mfa_policy
    if factors:
        changes["enabled_factors"] = frozenset(factors)
    if recovery_codes is not None:
        changes["recovery_codes_enabled"] = recovery_codes
    if default_audience is not None:
        changes["default_audience"] = default_audience or None
    if signing_alg is not None:
        changes["signing_alg"] = signing_alg
    if email_counts_as_factor is not None:
        changes["email_counts_as_factor"] = email_counts_as_factor
    if not changes and not enable and not disable:
        raise click.UsageError("nothing to set")

    async def action(s: Services) -> tuple[Tenant, str | None]:
        if enable or disable:
            base = changes.get("enabled_factors") or (await s.admin.tenant()).enabled_factors
            changes["enabled_factors"] = (frozenset(base) | set(enable)) - set(disable)
        updated = await s.admin.update_tenant(**changes)
        current = next((k.alg for k in await s.admin.signing_keys() if k.status == "current"), None)
        return updated, current

    updated, current_alg = run(action)
    click.echo(json.dumps(_tenant_dict(updated), indent=2))
    if "enabled_factors" in changes:
        listed = ", ".join(f for f in FACTORS if f in updated.enabled_factors) or "none"
        click.echo(f"enabled factors: {listed}", err=True)
    if signing_alg is not None and current_alg not in (None, signing_alg):
        click.echo(
            f"the current key still signs with {current_alg}; run `twofold keys rotate` "
            f"to sign with {signing_alg} from now on",
            err=True,
        )
    if signing_alg is not None and signing_alg != "RS256":
        click.echo(NON_RSA_NOTE, err=True)
