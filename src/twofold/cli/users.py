"""`twofold users list|show|block|unblock|delete|set-password|reset-mfa|recovery-code` and
`twofold clients delete|rotate-secret`: the operator's side of the Management API, through the
same use cases (`twofold.core.management`) as its HTTP endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from twofold.cli.admin import clients, users
from twofold.cli.common import count_option, emit, json_option, run
from twofold.core.models import DEFAULT_REALM

if TYPE_CHECKING:
    from twofold.app import Services
    from twofold.core.deps import Deps

T = TypeVar("T")


async def _managed(call: Awaitable[T]) -> T:
    """A Management API refusal (unknown user, bad value) as an operator error message."""
    from twofold.core.admin import AdminError
    from twofold.core.management.errors import ManagementError

    try:
        return await call
    except ManagementError as exc:
        raise AdminError(exc.message) from None


def _user_line(user: dict[str, Any]) -> str:
    blocked = "  blocked" if user["blocked"] else ""
    return f"{user['user_id']}  {user['email']}  {user['created_at']}{blocked}"


@users.command("list")
@click.option("--email", help="Only the user with this email address.")
@count_option("--page", 0, 0, 999, "Page number, from 0.")
@count_option("--per-page", 50, 1, 100, "Users per page.")
@json_option
def users_list(email: str | None, page: int, per_page: int, as_json: bool) -> None:
    """List users, oldest first (the Management API's GET /users)."""
    from twofold.core.management import users as uc

    query = {"page": str(page), "per_page": str(per_page), "include_totals": "true"}
    if email:
        query["q"] = f'email:"{email}"'
    found = run(lambda s: _managed(uc.list_users(s.deps, query)))
    text = "\n".join(_user_line(u) for u in found["users"])
    emit(found, as_json, text + f"\n({found['length']} of {found['total']})")


@users.command("show")
@click.argument("user")
@click.option(
    "--realm", default=DEFAULT_REALM, show_default=True, help="The realm an email is looked up in."
)
@json_option
def users_show(user: str, realm: str, as_json: bool) -> None:
    """A user, by id or email, and their authentication methods (never a secret)."""
    from twofold.core.management import methods
    from twofold.core.management import users as uc

    async def action(s: Services) -> dict[str, Any]:
        user_id = (await s.admin.find_user(user, realm=realm)).user_id
        shown = await _managed(uc.get_user(s.deps, user_id))
        shown["authentication_methods"] = await _managed(
            methods.list_methods(s.deps, user_id, {"per_page": "100"})
        )
        return shown

    shown = run(action)
    lines = [_user_line(shown)]
    lines += [
        f"  {m['type']:<16} {m['id']}  {'confirmed' if m['confirmed'] else 'pending'}"
        for m in shown["authentication_methods"]
    ]
    emit(shown, as_json, "\n".join(lines))


def _user_command(
    name: str,
    summary: str,
    done: str,
    use: Callable[[Deps, str], Awaitable[object]],
    *,
    confirm: bool = False,
) -> None:
    """`twofold users NAME USER_ID`: one use case on one user, then one line saying so; with
    `confirm`, asked first unless --yes."""

    def command(user_id: str, yes: bool = True) -> None:
        if not yes:
            click.confirm(f"{name.capitalize()} {user_id}?", abort=True)
        run(lambda s: _managed(use(s.deps, user_id)))
        click.echo(f"{done} {user_id}")

    command.__doc__ = summary
    if confirm:
        command = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")(command)
    users.command(name)(click.argument("user_id")(command))


async def _block(deps: Deps, user_id: str, blocked: bool = True) -> None:
    from twofold.core.management import users as uc

    await uc.set_blocked(deps, user_id, blocked)


async def _reset_mfa(deps: Deps, user_id: str) -> None:
    from twofold.core.management import methods

    await methods.delete_all(deps, user_id, None)


_user_command(
    "block", "Refuse the user's logins (every grant) and end their sessions.", "blocked", _block
)
_user_command(
    "unblock",
    "Let a blocked user log in again.",
    "unblocked",
    lambda deps, user_id: _block(deps, user_id, blocked=False),
)


async def _delete(deps: Deps, user_id: str) -> None:
    from twofold.core.management import users as uc

    await uc.delete_user(deps, user_id)


_user_command(
    "delete",
    "Delete a user with their authenticators; their refresh tokens are revoked.",
    "deleted",
    _delete,
    confirm=True,
)
_user_command(
    "reset-mfa",
    "Remove every authenticator and the recovery code: the user enrols again at next login.",
    "MFA reset for",
    _reset_mfa,
)


@users.command("set-password")
@click.argument("user_id")
@click.option(
    "--password",
    required=True,
    help="At least 8 characters. Prefer TWOFOLD_USER_PASSWORD in scripts.",
    envvar="TWOFOLD_USER_PASSWORD",
)
def users_set_password(user_id: str, password: str) -> None:
    """Set a user's password; their refresh tokens are revoked."""
    from twofold.core.management import users as uc

    run(lambda s: _managed(uc.set_password(s.deps, user_id, password)))
    click.echo(f"password set for {user_id}")


@users.command("recovery-code")
@click.argument("user_id")
@json_option
def users_recovery_code(user_id: str, as_json: bool) -> None:
    """Issue a new recovery code (shown only now); the old one stops working."""
    from twofold.core.management import enrollments

    result = run(lambda s: _managed(enrollments.regenerate_recovery_code(s.deps, user_id)))
    emit(result, as_json, f"recovery_code={result['recovery_code']}")


@clients.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clients_delete(client_id: str, yes: bool) -> None:
    """Delete a client: its credentials and its Management API tokens stop working."""
    if not yes:
        click.confirm(f"Delete client {client_id}?", abort=True)
    run(lambda s: s.admin.delete_client(client_id))
    click.echo(f"deleted {client_id}")


@clients.command("rotate-secret")
@click.argument("client_id")
@json_option
def clients_rotate_secret(client_id: str, as_json: bool) -> None:
    """Give a client a new secret (shown only now); the old one stops working."""
    secret = run(lambda s: s.admin.rotate_client_secret(client_id))
    emit(
        {"client_id": client_id, "client_secret": secret},
        as_json,
        f"client_id={client_id}\nclient_secret={secret}",
    )
