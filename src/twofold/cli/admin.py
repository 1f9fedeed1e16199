"""`twofold clients`, `users`, `apis` and `audit`: the tenant's records, through the core's
admin use cases."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from twofold.cli.common import emit, json_option, run
from twofold.core.models import AUTH_METHODS, DEFAULT_REALM, AuthMethod

if TYPE_CHECKING:
    from twofold.app import Services
    from twofold.core.models import Client

T = TypeVar("T")


@click.group()
def clients() -> None:
    """Applications that call the token endpoint."""


@clients.command("create")
@click.option("--name", required=True, help="The application's name.")
@click.option(
    "--grant-types",
    "grant_types",
    multiple=True,
    help="Grant types the client may use; repeat or space-separate "
    "(default: password, password-realm, refresh_token and the MFA grants).",
)
@click.option(
    "--auth-method",
    type=click.Choice(AUTH_METHODS),
    default="client_secret_post",
    show_default=True,
    help="How the client authenticates at the token endpoint.",
)
@click.option(
    "--audience",
    "audiences",
    multiple=True,
    help="API for client_credentials, granted with all its scopes (or those of --scope); "
    "repeatable. The Management API is https://{domain}/api/v2/.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="Grant only these scopes of the --audience APIs; repeat or space-separate.",
)
@click.option(
    "--jwks-file",
    type=click.Path(exists=True, dir_okay=False),
    help="The client's public keys (a JWKS), for private_key_jwt.",
)
@json_option
def clients_create(
    name: str,
    grant_types: tuple[str, ...],
    auth_method: AuthMethod,
    audiences: tuple[str, ...],
    scopes: tuple[str, ...],
    jwks_file: str | None,
    as_json: bool,
) -> None:
    """Register a client and print its id and secret (shown only now)."""
    grants = [g for chunk in grant_types for g in chunk.split()] or None
    wanted = [scope for chunk in scopes for scope in chunk.split()]
    jwks = json.loads(Path(jwks_file).read_text()) if jwks_file else None

    async def action(s: Services) -> tuple[Client, str | None]:
        api_grants = await s.admin.all_scopes_of(audiences)
        if wanted:
            api_grants = await s.admin.narrow_scopes(api_grants, wanted)
        return await s.admin.create_client(
            name,
            grant_types=grants,
            auth_method=auth_method,
            jwks=jwks,
            api_grants=api_grants or None,
        )

    client, secret = run(action)
    data = {"client_id": client.client_id, "client_secret": secret}
    emit(data, as_json, f"client_id={client.client_id}\nclient_secret={secret or ''}")


@clients.command("list")
@json_option
def clients_list(as_json: bool) -> None:
    """List the clients (never their secrets)."""
    found = run(lambda s: s.admin.list_clients())
    rows = [
        {
            "client_id": c.client_id,
            "name": c.name,
            "auth_method": c.auth_method,
            "grant_types": sorted(c.grant_types),
        }
        for c in found
    ]
    emit(
        rows, as_json, "\n".join(f"{r['client_id']}  {r['name']}  {r['auth_method']}" for r in rows)
    )


@click.group()
def users() -> None:
    """End users of the password grant."""


@users.command("create")
@click.option("--email", required=True, help="The user's login (stored lower-case).")
@click.option(
    "--password",
    required=True,
    help="At least 8 characters. Prefer TWOFOLD_USER_PASSWORD in scripts.",
    envvar="TWOFOLD_USER_PASSWORD",
)
@click.option(
    "--realm", default=DEFAULT_REALM, show_default=True, help="The connection the user is in."
)
@click.option("--username", help="An optional second login name.")
@click.option("--name", help="Display name (the ID token's name claim).")
@click.option("--email-verified", is_flag=True, help="Mark the email address as verified.")
@json_option
def users_create(
    email: str,
    password: str,
    realm: str,
    username: str | None,
    name: str | None,
    email_verified: bool,
    as_json: bool,
) -> None:
    """Create a user and print their user_id."""
    user = run(
        lambda s: s.admin.create_user(
            email,
            password,
            realm=realm,
            username=username,
            name=name,
            email_verified=email_verified,
        )
    )
    emit({"user_id": user.user_id}, as_json, f"user_id={user.user_id}")


@click.group()
def apis() -> None:
    """APIs (audiences) tokens may be issued for."""


@apis.command("create")
@click.option("--identifier", required=True, help="The audience, usually a URL.")
@click.option(
    "--scope", "scopes", multiple=True, help="Scopes it defines; repeat or space-separate."
)
@click.option("--name", help="Display name (default: the identifier).")
@click.option(
    "--token-lifetime",
    type=click.IntRange(60, 2_592_000),
    default=86_400,
    help="Lifetime of its access tokens, in seconds.",
)
@json_option
def apis_create(
    identifier: str, scopes: tuple[str, ...], name: str | None, token_lifetime: int, as_json: bool
) -> None:
    """Register an API that clients may get access tokens for."""
    flat = [s for chunk in scopes for s in chunk.split()]
    api = run(
        lambda s: s.admin.create_api(
            identifier, scopes=flat, name=name, token_lifetime=token_lifetime
        )
    )
    emit(
        {"identifier": api.identifier, "scopes": list(api.scopes)},
        as_json,
        f"identifier={api.identifier}",
    )


@apis.command("list")
@json_option
def apis_list(as_json: bool) -> None:
    """List the APIs and their scopes."""
    found = run(lambda s: s.admin.list_apis())
    rows = [{"identifier": a.identifier, "scopes": list(a.scopes)} for a in found]
    emit(rows, as_json, "\n".join(f"{r['identifier']}  {' '.join(r['scopes'])}" for r in rows))


@click.group("audit")
def audit_group() -> None:
    """The audit trail of MFA events (Auth0 log event type names)."""


@audit_group.command("list")
@click.option("--user", "user_id", help="Only this user's events.")
@click.option("--type", "types", multiple=True, help="Event type, e.g. gd_auth_failed; repeatable.")
@click.option("--since", type=float, help="Only events from this time on, in epoch seconds.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="At most this many events.",
)
@json_option
def audit_list(
    user_id: str | None, types: tuple[str, ...], since: float | None, limit: int, as_json: bool
) -> None:
    """List audit events, newest first."""
    from datetime import UTC, datetime

    events = run(
        lambda s: s.admin.audit.query(user_id=user_id, types=types, since=since, limit=limit)
    )
    rows = [
        {
            "type": e.type,
            "date": datetime.fromtimestamp(e.at, UTC).isoformat(),
            "description": e.description,
            "user_id": e.user_id,
            "client_id": e.client_id,
            "ip": e.ip,
            "details": e.details,
        }
        for e in events
    ]
    text = "\n".join(
        f"{r['date']}  {r['type']:<24} {r['user_id'] or '-':<32} {r['ip'] or '-'}" for r in rows
    )
    emit(rows, as_json, text)


# ----- users and clients through the Management API's use cases


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
@click.option(
    "--page", type=click.IntRange(0, 999), default=0, show_default=True, help="Page number, from 0."
)
@click.option(
    "--per-page",
    type=click.IntRange(1, 100),
    default=50,
    show_default=True,
    help="Users per page.",
)
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
@click.argument("user_id")
@json_option
def users_show(user_id: str, as_json: bool) -> None:
    """A user and their authentication methods."""
    from twofold.core.management import methods
    from twofold.core.management import users as uc

    async def action(s: Services) -> dict[str, Any]:
        user = await _managed(uc.get_user(s.deps, user_id))
        user["authentication_methods"] = await _managed(
            methods.list_methods(s.deps, user_id, {"per_page": "100"})
        )
        return user

    user = run(action)
    lines = [_user_line(user)]
    lines += [
        f"  {m['type']:<16} {m['id']}  {'confirmed' if m['confirmed'] else 'pending'}"
        for m in user["authentication_methods"]
    ]
    emit(user, as_json, "\n".join(lines))


@users.command("block")
@click.argument("user_id")
def users_block(user_id: str) -> None:
    """Refuse the user's logins (every grant) and end their sessions."""
    from twofold.core.management import users as uc

    run(lambda s: _managed(uc.set_blocked(s.deps, user_id, True)))
    click.echo(f"blocked {user_id}")


@users.command("unblock")
@click.argument("user_id")
def users_unblock(user_id: str) -> None:
    """Let a blocked user log in again."""
    from twofold.core.management import users as uc

    run(lambda s: _managed(uc.set_blocked(s.deps, user_id, False)))
    click.echo(f"unblocked {user_id}")


@users.command("delete")
@click.argument("user_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def users_delete(user_id: str, yes: bool) -> None:
    """Delete a user with their authenticators; their refresh tokens are revoked."""
    from twofold.core.management import users as uc

    if not yes:
        click.confirm(f"Delete {user_id}?", abort=True)
    run(lambda s: _managed(uc.delete_user(s.deps, user_id)))
    click.echo(f"deleted {user_id}")


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


@users.command("reset-mfa")
@click.argument("user_id")
def users_reset_mfa(user_id: str) -> None:
    """Remove every authenticator and the recovery code: the user enrols again at next login."""
    from twofold.core.management import methods

    run(lambda s: _managed(methods.delete_all(s.deps, user_id, None)))
    click.echo(f"MFA reset for {user_id}")


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
