"""What every command shares: the configuration, running one action against the services, and
printing a result as text or JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from twofold.config import Settings

if TYPE_CHECKING:
    from twofold.app import Services

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

JSON_HELP = "Print JSON instead of text."


def settings() -> Settings:
    """The configuration from the environment (and TWOFOLD_CONFIG_FILE), or a usage error."""
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable that is wrong
        raise click.ClickException(f"invalid configuration: {exc}") from None


def run(action: Callable[[Services], Awaitable[T]]) -> T:
    """Open the services, run one admin action, close them. A refused action is an error
    message and exit status 1."""
    from twofold.app import ConfigurationError, create_services
    from twofold.core.admin import AdminError
    from twofold.core.ports import Conflict

    async def go() -> T:
        services = await create_services(settings())
        try:
            return await action(services)
        finally:
            await services.close()

    try:
        return asyncio.run(go())
    except (AdminError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    except Conflict as exc:
        raise click.ClickException(f"already exists: {exc}") from None


def emit(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text)


def json_option(command: F) -> F:
    """The `--json` flag most commands take."""
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(command)
