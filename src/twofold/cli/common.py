"""What every command shares: the configuration, running one action against the services, and
printing a result as text or JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from twofold.config import Settings
from twofold.config_loading import ConfigError, load_settings

if TYPE_CHECKING:
    from twofold.app import Services

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

JSON_HELP = "Print JSON instead of text."


def count_option(flag: str, default: int, low: int, high: int, help: str) -> Callable[[F], F]:
    """A whole-number option within [low, high], its default shown in --help."""
    return click.option(
        flag, type=click.IntRange(low, high), default=default, show_default=True, help=help
    )


def settings() -> Settings:
    """The configuration from the environment (and TWOFOLD_CONFIG_FILE), or one line on stderr
    naming the variable that is wrong and exit status 1."""
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None


def unreachable(exc: BaseException) -> str:
    """One line for a network failure talking to a server (refused, DNS, TLS, timeout)."""
    import ssl

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted: {cause.verify_message or cause.reason}"
        if isinstance(cause, ssl.SSLError):
            hint = " (is it plain HTTP?)" if cause.reason == "WRONG_VERSION_NUMBER" else ""
            return f"TLS failed: {cause.reason or cause}{hint}"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]


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

    from twofold.core.crypto import DecryptionError

    try:
        return asyncio.run(go())
    except (AdminError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    except DecryptionError:
        raise click.ClickException(
            "a secret in the database does not decrypt with TWOFOLD_ENCRYPTION_KEYS (or the "
            "key file under TWOFOLD_DATA_DIR): restore the key it was written with"
        ) from None
    except Conflict as exc:
        raise click.ClickException(f"already exists: {exc}") from None


def emit(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text)


def json_option(command: F) -> F:
    """The `--json` flag most commands take."""
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(command)
