"""The `twofold` command: run the server and administer a tenant."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from twofold.config import Settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable that is wrong
        raise click.ClickException(f"invalid configuration: {exc}") from None


def _run(action: Callable[[Any], Awaitable[T]]) -> T:
    """Open the services, run one admin action, close them."""
    from twofold.app import ConfigurationError, create_services
    from twofold.core.admin import AdminError
    from twofold.core.ports import Conflict

    async def go() -> T:
        services = await create_services(_settings())
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


def _emit(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text)


@click.group()
@click.version_option(package_name="twofold")
def main() -> None:
    """Twofold: a self-hostable server for Auth0's Multi-factor Authentication API."""


@main.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from twofold.storage import migrate as migrations

    migrations.upgrade(_settings().database_url)
    click.echo("database is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--demo", is_flag=True, help="Ensure a demo client and user and print them.")
def serve(
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    workers: int,
    demo: bool,
) -> None:
    """Serve the HTTP API (HTTPS with --tls-cert/--tls-key)."""
    from twofold import serving
    from twofold.observability.logging import configure

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    settings = _settings()
    configure(settings.log_level, settings.log_format)
    if settings.is_sqlite:
        from twofold.storage import migrate as migrations

        migrations.upgrade(settings.database_url)
    if demo:
        _print_demo(settings, host, port, tls=bool(tls_cert))
    else:
        _run(lambda s: s.admin.ensure_signing_key())
    os.environ["TWOFOLD_SERVING_TLS"] = "1" if tls_cert else "0"
    if workers > 1 and "hashing_concurrency" not in settings.model_fields_set:
        # The default is one argon2 thread per core for the process; with several workers that
        # runs cores x workers hashes at once, which thrashes memory (64 MiB each) and lowered
        # login throughput by ~15 % in bench/. Split the cores between the workers instead.
        share = max(1, (os.cpu_count() or 1) // workers)
        os.environ["TWOFOLD_HASHING_CONCURRENCY"] = str(share)
    serving.run(
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        header_read_timeout=settings.header_read_timeout,
        body_read_timeout=settings.body_read_timeout,
    )


def _print_demo(settings: Settings, host: str, port: int, *, tls: bool) -> None:
    from twofold.core.admin import ensure_demo

    client, secret, user, password = _run(lambda s: ensure_demo(s.admin, s.deps))
    base = f"{'https' if tls else 'http'}://{host}:{port}"
    click.echo(
        "\n".join(
            [
                "",
                "Twofold is starting with a demo tenant:",
                f"  base URL       {base}",
                f"  issuer         {settings.issuer}",
                f"  client_id      {client.client_id}",
                f"  client_secret  {secret}",
                f"  user           {user.email}",
                f"  password       {password}",
                "  (secret and password are new on every start; see README.md for the flow)",
                "",
            ]
        ),
        err=True,
    )


@main.group()
def clients() -> None:
    """Applications that call the token endpoint."""


@clients.command("create")
@click.option("--name", required=True)
@click.option("--grant-types", "grant_types", multiple=True, help="Repeat or space-separate.")
@click.option(
    "--auth-method",
    type=click.Choice(["client_secret_post", "client_secret_basic", "private_key_jwt", "none"]),
    default="client_secret_post",
    show_default=True,
)
@click.option("--audience", "audiences", multiple=True, help="API for client_credentials.")
@click.option(
    "--jwks-file", type=click.Path(exists=True, dir_okay=False), help="For private_key_jwt."
)
@click.option("--json", "as_json", is_flag=True)
def clients_create(
    name: str,
    grant_types: tuple[str, ...],
    auth_method: Any,
    audiences: tuple[str, ...],
    jwks_file: str | None,
    as_json: bool,
) -> None:
    grants = [g for chunk in grant_types for g in chunk.split()] or None
    jwks = json.loads(Path(jwks_file).read_text()) if jwks_file else None

    async def action(s: Any) -> tuple[Any, str | None]:
        api_grants = {}
        for audience in audiences:
            api = await s.deps.storage.apis.get(audience)
            api_grants[audience] = api.scopes if api else ()
        return await s.admin.create_client(  # type: ignore[no-any-return]
            name,
            grant_types=grants,
            auth_method=auth_method,
            jwks=jwks,
            api_grants=api_grants or None,
        )

    client, secret = _run(action)
    data = {"client_id": client.client_id, "client_secret": secret}
    _emit(data, as_json, f"client_id={client.client_id}\nclient_secret={secret or ''}")


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
def clients_list(as_json: bool) -> None:
    found = _run(lambda s: s.deps.storage.clients.list())
    rows = [
        {
            "client_id": c.client_id,
            "name": c.name,
            "auth_method": c.auth_method,
            "grant_types": sorted(c.grant_types),
        }
        for c in found
    ]
    _emit(
        rows, as_json, "\n".join(f"{r['client_id']}  {r['name']}  {r['auth_method']}" for r in rows)
    )


@main.group()
def users() -> None:
    """End users of the password grant."""


@users.command("create")
@click.option("--email", required=True)
@click.option(
    "--password",
    required=True,
    help="Prefer TWOFOLD_USER_PASSWORD in scripts.",
    envvar="TWOFOLD_USER_PASSWORD",
)
@click.option("--realm", default="Username-Password-Authentication", show_default=True)
@click.option("--username")
@click.option("--name")
@click.option("--email-verified", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def users_create(
    email: str,
    password: str,
    realm: str,
    username: str | None,
    name: str | None,
    email_verified: bool,
    as_json: bool,
) -> None:
    user = _run(
        lambda s: s.admin.create_user(
            email,
            password,
            realm=realm,
            username=username,
            name=name,
            email_verified=email_verified,
        )
    )
    _emit({"user_id": user.user_id}, as_json, f"user_id={user.user_id}")


@main.group()
def apis() -> None:
    """APIs (audiences) tokens may be issued for."""


@apis.command("create")
@click.option("--identifier", required=True)
@click.option("--scope", "scopes", multiple=True)
@click.option("--name")
@click.option("--token-lifetime", type=click.IntRange(60, 2_592_000), default=86_400)
@click.option("--json", "as_json", is_flag=True)
def apis_create(
    identifier: str, scopes: tuple[str, ...], name: str | None, token_lifetime: int, as_json: bool
) -> None:
    flat = [s for chunk in scopes for s in chunk.split()]
    api = _run(
        lambda s: s.admin.create_api(
            identifier, scopes=flat, name=name, token_lifetime=token_lifetime
        )
    )
    _emit(
        {"identifier": api.identifier, "scopes": list(api.scopes)},
        as_json,
        f"identifier={api.identifier}",
    )


@apis.command("list")
@click.option("--json", "as_json", is_flag=True)
def apis_list(as_json: bool) -> None:
    found = _run(lambda s: s.deps.storage.apis.list())
    rows = [{"identifier": a.identifier, "scopes": list(a.scopes)} for a in found]
    _emit(rows, as_json, "\n".join(f"{r['identifier']}  {' '.join(r['scopes'])}" for r in rows))


@main.group()
def keys() -> None:
    """Token signing keys."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
def keys_list(as_json: bool) -> None:
    found = _run(lambda s: s.admin.signing_keys())
    rows = [
        {"kid": k.kid, "alg": k.alg, "status": k.status, "created_at": k.created_at} for k in found
    ]
    _emit(rows, as_json, "\n".join(f"{r['kid']}  {r['alg']}  {r['status']}" for r in rows))


SIGNING_ALG_CHOICE = click.Choice(["RS256", "ES256", "EdDSA"])
# Printed when a tenant moves off RS256 (see docs/configuration.md#signing-algorithm).
_NON_RSA_NOTE = (
    "note: auth0-python's TokenVerifier and auth0-server-python verify RS256 only, and "
    "auth0-python cannot read a JWKS holding any non-RSA key; apps using them need RS256."
)


@keys.command("rotate")
@click.option(
    "--alg",
    type=SIGNING_ALG_CHOICE,
    help="Sign with a new key of this algorithm and keep it as the tenant's signing_alg "
    "(default: the tenant's signing_alg, RS256 unless set).",
)
def keys_rotate(alg: str | None) -> None:
    """Sign with a new key; the old one stays in the JWKS until the next rotation."""
    key = _run(lambda s: s.admin.rotate_signing_key(alg))
    click.echo(f"new current key: {key.kid} ({key.alg})")
    if key.alg != "RS256":
        click.echo(_NON_RSA_NOTE, err=True)


@keys.command("rotate-encryption")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--dry-run", is_flag=True, help="Only count what is sealed under other keys.")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate_encryption(batch: int, dry_run: bool, as_json: bool) -> None:
    """Re-encrypt every secret at rest under the current encryption key (the first of
    TWOFOLD_ENCRYPTION_KEYS), in batches, while servers keep running. When it reports
    complete, the other keys can be removed."""
    from twofold.core.encryption_rotation import rotate
    from twofold.storage.reencrypt import SqlEncryptedColumns

    report = _run(
        lambda s: rotate(
            SqlEncryptedColumns(s.engine), s.deps.keyring, batch=batch, dry_run=dry_run
        )
    )
    data = {
        "current_kid": report.current,
        "reencrypted": report.reencrypted,
        "already_current": report.already_current,
        "remaining": report.remaining,
        "unreadable": report.unreadable,
        "cells_by_kid_before": report.by_kid,
        "complete": report.complete,
    }
    text = (
        f"current key {report.current}: {report.reencrypted} re-encrypted, "
        f"{report.already_current} already current, {report.remaining} remaining, "
        f"{len(report.unreadable)} unreadable"
    )
    _emit(data, as_json, text)
    if not report.complete:
        raise click.ClickException(
            "not every secret is under the current key yet: keep the old keys"
            + (" (dry run)" if dry_run else "")
        )


@main.group()
def tenant() -> None:
    """Tenant-wide settings."""


def _tenant_dict(t: Any) -> dict[str, Any]:
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
    }


@tenant.command("show")
def tenant_show() -> None:
    click.echo(json.dumps(_tenant_dict(_run(lambda s: s.admin.tenant())), indent=2))


@tenant.command("set")
@click.option("--friendly-name")
@click.option("--mfa-policy", type=click.Choice(["never", "always"]))
@click.option(
    "--factor",
    "factors",
    multiple=True,
    type=click.Choice(["otp", "sms", "voice", "email", "push-notification", "recovery-code"]),
)
@click.option("--recovery-codes/--no-recovery-codes", default=None)
@click.option("--default-audience")
@click.option(
    "--signing-alg",
    type=SIGNING_ALG_CHOICE,
    help="Algorithm of the next signing key; takes effect at the next `twofold keys rotate` "
    "(or use `twofold keys rotate --alg` to set and rotate in one step).",
)
def tenant_set(
    friendly_name: str | None,
    mfa_policy: str | None,
    factors: tuple[str, ...],
    recovery_codes: bool | None,
    default_audience: str | None,
    signing_alg: str | None,
) -> None:
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
    if not changes:
        raise click.UsageError("nothing to set")

    async def action(s: Any) -> tuple[Any, str | None]:
        updated = await s.admin.update_tenant(**changes)
        current = next((k.alg for k in await s.admin.signing_keys() if k.status == "current"), None)
        return updated, current

    updated, current_alg = _run(action)
    click.echo(json.dumps(_tenant_dict(updated), indent=2))
    if signing_alg is not None and current_alg not in (None, signing_alg):
        click.echo(
            f"the current key still signs with {current_alg}; run `twofold keys rotate` "
            f"to sign with {signing_alg} from now on",
            err=True,
        )
    if signing_alg is not None and signing_alg != "RS256":
        click.echo(_NON_RSA_NOTE, err=True)


@main.group("audit")
def audit_group() -> None:
    """The audit trail of MFA events (Auth0 log event type names)."""


@audit_group.command("list")
@click.option("--user", "user_id", help="Only this user's events.")
@click.option("--type", "types", multiple=True, help="Event type, e.g. gd_auth_failed.")
@click.option("--since", type=float, help="Epoch seconds.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def audit_list(
    user_id: str | None, types: tuple[str, ...], since: float | None, limit: int, as_json: bool
) -> None:
    from datetime import UTC, datetime

    events = _run(
        lambda s: s.deps.storage.audit.query(user_id=user_id, types=types, since=since, limit=limit)
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
    _emit(rows, as_json, text)


from twofold.seeding import seed_group  # noqa: E402 - load-test data, kept in its own module

main.add_command(seed_group)


DEFAULT_AUTHENTICATOR_STATE = Path("~/.config/twofold/authenticator.json")


@main.group("authenticator")
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


def _device(action: Callable[[Any], Awaitable[T]]) -> T:
    from twofold.authenticator import AuthenticatorError

    device = click.get_current_context().obj
    try:
        return asyncio.run(action(device))
    except AuthenticatorError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach the server: {exc}") from None


@authenticator_group.command("enroll")
@click.argument("uri")
@click.option(
    "--name", default="Twofold CLI", show_default=True, help="Device name shown to users."
)
@click.option("--notify", "notification_target", help="Notification target for the push relay.")
@click.option("--json", "as_json", is_flag=True)
def authenticator_enroll(
    uri: str, name: str, notification_target: str | None, as_json: bool
) -> None:
    """Enrol this authenticator from a push barcode_uri (otpauth://totp/…?enrollment_tx_id=…)."""
    account = _device(lambda d: d.enroll(uri, name=name, notification_target=notification_target))
    data = {"device_id": account.device_id, "issuer": account.issuer, "account": account.account}
    _emit(data, as_json, f"enrolled {account.device_id} for {account.account} ({account.issuer})")


@authenticator_group.command("code")
@click.option("--account", "device_id", help="Device id or account name (default: the latest).")
def authenticator_code(device_id: str | None) -> None:
    """Print the current TOTP code of the companion authenticator."""
    from twofold.authenticator import AuthenticatorError

    try:
        click.echo(click.get_current_context().obj.code(device_id))
    except AuthenticatorError as exc:
        raise click.ClickException(str(exc)) from None


@authenticator_group.command("pending")
@click.option("--account", "device_id", help="Only this device id or account.")
@click.option("--json", "as_json", is_flag=True)
def authenticator_pending(device_id: str | None, as_json: bool) -> None:
    """List push transactions waiting for an answer."""
    pending = _device(lambda d: d.pending(device_id))
    text = "\n".join(
        f"{t['transaction_id']}  {t.get('client_name') or '-'}  {t['account']}" for t in pending
    )
    _emit(pending, as_json, text or "nothing pending")


def _decide(transaction_id: str, device_id: str | None, approve: bool) -> None:
    _device(lambda d: d.decide(transaction_id, approve, device_id))
    click.echo(("approved " if approve else "rejected ") + transaction_id)


@authenticator_group.command("approve")
@click.argument("transaction_id")
@click.option("--account", "device_id")
def authenticator_approve(transaction_id: str, device_id: str | None) -> None:
    """Approve a pending push transaction."""
    _decide(transaction_id, device_id, approve=True)


@authenticator_group.command("reject")
@click.argument("transaction_id")
@click.option("--account", "device_id")
def authenticator_reject(transaction_id: str, device_id: str | None) -> None:
    """Reject a pending push transaction."""
    _decide(transaction_id, device_id, approve=False)


@authenticator_group.command("qr")
@click.argument("uri")
def authenticator_qr(uri: str) -> None:
    """Show an otpauth:// URI (a barcode_uri from /mfa/associate) as a QR code in the terminal."""
    import segno

    segno.make(uri, error="m").terminal(compact=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
