"""`twofold check-config`: everything a start would check, and the services it would use.

The settings (every variable, unknown ones and combinations included), the key ring against the
database, the database and Redis (reached), and each delivery provider: SMTP is connected to
and logged in to without sending, Twilio's account resource is fetched (its credentials check).
A webhook is not called (a call would be a delivery). On SQLite the database is prepared as
`twofold serve` would (migrated; a development key file made when there is no data yet).
"""

from __future__ import annotations

import asyncio

import click

from twofold.config import Settings
from twofold.config_loading import ConfigError, load_settings


async def _services_problems(config: Settings, ok: list[str]) -> list[str]:
    from twofold.app import ConfigurationError, create_services
    from twofold.core.ports import DeliveryError
    from twofold.delivery.factory import chosen

    try:
        services = await create_services(config)
    except ConfigurationError as exc:
        return [str(exc)]
    problems: list[str] = []
    try:
        ok.append("encryption keys: they decrypt the current signing key")
        for name, ready in (await services.readiness()).items():
            if ready:
                ok.append(f"{name}: reachable")
            else:
                problems.append(f"{name}: unreachable")
        providers = chosen(config)
        for channel_name, channel in services.deps.channels.items():
            provider = providers.get(channel_name, "")
            check = getattr(channel, "check", None)
            if check is None:
                ok.append(f"{channel_name} delivery: {provider} (not contacted)")
                continue
            try:
                ok.append(f"{channel_name} delivery: {provider} {await check()}")
            except DeliveryError as exc:
                problems.append(f"{channel_name} delivery ({provider}): {exc}")
        for channel_name, provider in providers.items():
            if not provider:
                ok.append(f"{channel_name} delivery: none configured")
    finally:
        await services.close()
    return problems


@click.command("check-config")
def check_config() -> None:
    """Validate the configuration and reach the database, Redis and delivery providers, as a
    start would; exit 1 listing every problem."""
    try:
        config = load_settings()
    except ConfigError as exc:
        problems = str(exc).split("; ")
    else:
        problems = config.problems()
    ok: list[str] = []
    if not problems:
        issuer = (
            f"issuer {config.issuer}"
            if config.domain
            else "TWOFOLD_DOMAIN unset (twofold serve derives the issuer from what it serves)"
        )
        ok.append(f"configuration: {config.environment}, {issuer}")
        problems = asyncio.run(_services_problems(config, ok))
    for line in ok:
        click.echo(f"ok: {line}")
    for line in problems:
        click.echo(f"problem: {line}", err=True)
    if problems:
        raise click.ClickException(
            f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in the configuration"
        )
