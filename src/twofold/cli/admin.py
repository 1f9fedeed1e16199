"""`twofold clients`, `users`, `apis` and `audit`: the tenant's records, through the core's
admin use cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from twofold.cli.common import F, count_option, emit, json_option, run
from twofold.core.models import AUTH_METHODS, DEFAULT_REALM, AuthMethod

if TYPE_CHECKING:
    from collections.abc import Sequence

    from twofold.app import Services
    from twofold.core.models import AuditEvent, Client


clients = click.Group("clients", help="Applications that call the token endpoint.")

_URL_HELP = (
    "; repeatable. An absolute https URL (http only on localhost or 127.0.0.1), matched "
    "exactly; no wildcards, no fragment."
)


def url_options(command: F) -> F:
    """--callback, --logout-url and --web-origin, shared by create and update."""
    options = (
        click.option(
            "--web-origin",
            "web_origins",
            multiple=True,
            help="An origin (https://app.example.com) whose scripts may call /oauth/token, "
            "/oauth/revoke and /userinfo" + _URL_HELP,
        ),
        click.option(
            "--logout-url",
            "logout_urls",
            multiple=True,
            help="A URL /v2/logout and /oidc/logout may send the browser back to" + _URL_HELP,
        ),
        click.option(
            "--callback",
            "callbacks",
            multiple=True,
            help="A redirect URI the hosted login may send the browser back to" + _URL_HELP,
        ),
    )
    for option in options:
        command = option(command)
    return command


def client_row(c: Client) -> dict[str, object]:
    """What `clients list` and `show` print (never a secret)."""
    return {
        "client_id": c.client_id,
        "name": c.name,
        "auth_method": c.auth_method,
        "grant_types": sorted(c.grant_types),
        "callbacks": list(c.callbacks),
        "allowed_logout_urls": list(c.allowed_logout_urls),
        "web_origins": list(c.web_origins),
    }


@clients.command("create")
@click.option("--name", required=True, help="The application's name.")
@click.option(
    "--grant-types",
    "grant_types",
    multiple=True,
    help="Grant types the client may use; repeat or space-separate "
    "(default: password, password-realm, refresh_token and the MFA grants). The hosted "
    "login's are authorization_code and implicit (for response_type=id_token).",
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
@url_options
@json_option
def clients_create(
    name: str,
    grant_types: tuple[str, ...],
    auth_method: AuthMethod,
    audiences: tuple[str, ...],
    scopes: tuple[str, ...],
    jwks_file: str | None,
    callbacks: tuple[str, ...],
    logout_urls: tuple[str, ...],
    web_origins: tuple[str, ...],
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
            callbacks=callbacks,
            logout_urls=logout_urls,
            web_origins=web_origins,
        )

    client, secret = run(action)
    data = {"client_id": client.client_id, "client_secret": secret}
    emit(data, as_json, f"client_id={client.client_id}\nclient_secret={secret or ''}")


@clients.command("list")
@json_option
def clients_list(as_json: bool) -> None:
    """List the clients (never their secrets)."""
    found = run(lambda s: s.admin.list_clients())
    rows = [client_row(c) for c in found]
    emit(
        rows, as_json, "\n".join(f"{r['client_id']}  {r['name']}  {r['auth_method']}" for r in rows)
    )


def _show(client: Client, as_json: bool) -> None:
    row = client_row(client)
    text = "\n".join(
        f"{key}={' '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in row.items()
    )
    emit(row, as_json, text)


@clients.command("show")
@click.argument("client_id")
@json_option
def clients_show(client_id: str, as_json: bool) -> None:
    """Show one client (never its secret)."""
    _show(run(lambda s: s.admin.get_client(client_id)), as_json)


@clients.command("update")
@click.argument("client_id")
@click.option("--name", help="A new name.")
@click.option(
    "--grant-types",
    "grant_types",
    multiple=True,
    help="Replace the grant types the client may use; repeat or space-separate.",
)
@url_options
@click.option(
    "--clear",
    "cleared",
    multiple=True,
    type=click.Choice(["callbacks", "logout-urls", "web-origins"]),
    help="Empty this list; repeatable.",
)
@json_option
def clients_update(
    client_id: str,
    name: str | None,
    grant_types: tuple[str, ...],
    callbacks: tuple[str, ...],
    logout_urls: tuple[str, ...],
    web_origins: tuple[str, ...],
    cleared: tuple[str, ...],
    as_json: bool,
) -> None:
    """Change a client: --grant-types and each URL option given replace that whole list."""

    def given(values: tuple[str, ...], flag: str) -> tuple[str, ...] | None:
        if values and flag in cleared:
            raise click.UsageError(f"--clear {flag} and a value for it contradict each other")
        return () if flag in cleared else (values or None)

    lists = {
        "callbacks": given(callbacks, "callbacks"),
        "logout_urls": given(logout_urls, "logout-urls"),
        "web_origins": given(web_origins, "web-origins"),
    }
    grants = [g for chunk in grant_types for g in chunk.split()] or None
    _show(
        run(lambda s: s.admin.update_client(client_id, name=name, grant_types=grants, **lists)),
        as_json,
    )


users = click.Group(
    "users", help="End users (logging in with a password or a passkey) and their authenticators."
)


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
@click.option("--user", "user_ref", help="Only this user's events: a user id or an email.")
@click.option("--type", "types", multiple=True, help="Event type, e.g. gd_auth_failed; repeatable.")
@click.option("--since", type=float, help="Only events from this time on, in epoch seconds.")
@count_option("--limit", 100, 1, 10_000, "At most this many events.")
@json_option
def audit_list(
    user_ref: str | None, types: tuple[str, ...], since: float | None, limit: int, as_json: bool
) -> None:
    """List audit events, newest first."""
    from datetime import UTC, datetime

    async def action(s: Services) -> Sequence[AuditEvent]:
        user_id = user_ref
        if user_ref is not None and "@" in user_ref:
            user_id = (await s.admin.find_user(user_ref)).user_id
        return await s.admin.audit.query(user_id=user_id, types=types, since=since, limit=limit)

    events = run(action)
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
