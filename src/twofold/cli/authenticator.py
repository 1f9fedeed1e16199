"""`twofold authenticator`: the device side of push and TOTP, for a terminal and for tests.

A thin wrapper over `twofold.authenticator.DeviceClient`, which speaks the push device protocol
(docs/push-protocol.md) to a server over HTTPS and keeps its keys in a local state file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from twofold.cli.common import emit, json_option, unreachable

if TYPE_CHECKING:
    from twofold.authenticator import DeviceClient

T = TypeVar("T")

DEFAULT_AUTHENTICATOR_STATE = Path("~/.config/twofold/authenticator.json")
ACCOUNT_HELP = "Device id or account name (default: the latest enrolled)."


@click.group("authenticator")
@click.option(
    "--state",
    "state_path",
    envvar="TWOFOLD_AUTHENTICATOR_STATE",
    default=str(DEFAULT_AUTHENTICATOR_STATE),
    show_default=True,
    help="The file holding this authenticator's keys and secrets (created owner-only).",
)
@click.pass_context
def authenticator_group(ctx: click.Context, state_path: str) -> None:
    """A reference push authenticator and TOTP app (docs/push-protocol.md)."""
    from twofold.authenticator import DeviceClient, StateFile

    ctx.obj = DeviceClient(StateFile(Path(state_path).expanduser()))


def _client() -> DeviceClient:
    client: DeviceClient = click.get_current_context().obj
    return client


def _device(action: Callable[[DeviceClient], Coroutine[Any, Any, T]]) -> T:
    """Run one exchange with the server; its refusals and network errors exit with status 1."""
    import httpx

    from twofold.authenticator import AuthenticatorError

    try:
        return asyncio.run(action(_client()))
    except AuthenticatorError as exc:
        raise click.ClickException(str(exc)) from None
    except (httpx.TransportError, OSError) as exc:
        raise click.ClickException(
            f"cannot reach the server{_where(exc)}: {unreachable(exc)}"
        ) from None


def _where(exc: BaseException) -> str:
    import httpx

    try:
        url = exc.request.url if isinstance(exc, httpx.TransportError) else None
    except RuntimeError:  # httpx raises it when no request was attached
        url = None
    return f" at {url.scheme}://{url.netloc.decode()}" if url is not None else ""


@authenticator_group.command("enroll")
@click.argument("uri")
@click.option(
    "--name", default="Twofold CLI", show_default=True, help="Device name shown to users."
)
@click.option("--notify", "notification_target", help="Notification target for the push relay.")
@json_option
def authenticator_enroll(
    uri: str, name: str, notification_target: str | None, as_json: bool
) -> None:
    """Enrol this authenticator from a push barcode_uri (otpauth://totp/…?enrollment_tx_id=…)."""
    account = _device(lambda d: d.enroll(uri, name=name, notification_target=notification_target))
    data = {"device_id": account.device_id, "issuer": account.issuer, "account": account.account}
    emit(data, as_json, f"enrolled {account.device_id} for {account.account} ({account.issuer})")


@authenticator_group.command("code")
@click.option("--account", "device_id", help=ACCOUNT_HELP)
def authenticator_code(device_id: str | None) -> None:
    """Print the current TOTP code of the companion authenticator."""
    from twofold.authenticator import AuthenticatorError

    try:
        click.echo(_client().code(device_id))
    except AuthenticatorError as exc:
        raise click.ClickException(str(exc)) from None


@authenticator_group.command("pending")
@click.option("--account", "device_id", help="Only this device id or account (default: all).")
@json_option
def authenticator_pending(device_id: str | None, as_json: bool) -> None:
    """List push transactions waiting for an answer."""
    pending = _device(lambda d: d.pending(device_id))
    text = "\n".join(
        f"{t['transaction_id']}  {t.get('client_name') or '-'}  {t['account']}" for t in pending
    )
    emit(pending, as_json, text or "nothing pending")


def _decide(transaction_id: str, device_id: str | None, approve: bool) -> None:
    _device(lambda d: d.decide(transaction_id, approve, device_id))
    click.echo(("approved " if approve else "rejected ") + transaction_id)


DECIDE_ACCOUNT_HELP = "The device the transaction was sent to (default: found by asking each)."


@authenticator_group.command("approve")
@click.argument("transaction_id")
@click.option("--account", "device_id", help=DECIDE_ACCOUNT_HELP)
def authenticator_approve(transaction_id: str, device_id: str | None) -> None:
    """Approve a pending push transaction."""
    _decide(transaction_id, device_id, approve=True)


@authenticator_group.command("reject")
@click.argument("transaction_id")
@click.option("--account", "device_id", help=DECIDE_ACCOUNT_HELP)
def authenticator_reject(transaction_id: str, device_id: str | None) -> None:
    """Reject a pending push transaction."""
    _decide(transaction_id, device_id, approve=False)


@authenticator_group.command("qr")
@click.argument("uri")
def authenticator_qr(uri: str) -> None:
    """Show an otpauth:// URI (a barcode_uri from /mfa/associate) as a QR code in the terminal."""
    import segno

    segno.make(uri, error="m").terminal(compact=True)
