"""`twofold keys`: the token signing keys and the encryption of secrets at rest."""

from __future__ import annotations

import click

from twofold.cli.common import count_option, emit, json_option, run
from twofold.core.models import TENANT_SIGNING_ALGS

SIGNING_ALG_CHOICE = click.Choice(TENANT_SIGNING_ALGS)
# Printed when a tenant moves off RS256 (see docs/configuration.md#signing-algorithm).
NON_RSA_NOTE = (
    "note: auth0-python's TokenVerifier and auth0-server-python verify RS256 only, and "
    "auth0-python cannot read a JWKS holding any non-RSA key; apps using them need RS256."
)


@click.group()
def keys() -> None:
    """Token signing keys, and the keys that encrypt secrets at rest."""


@keys.command("list")
@json_option
def keys_list(as_json: bool) -> None:
    """List the signing keys: the current one, the previous one and retired ones."""
    found = run(lambda s: s.admin.signing_keys())
    rows = [
        {"kid": k.kid, "alg": k.alg, "status": k.status, "created_at": k.created_at} for k in found
    ]
    emit(rows, as_json, "\n".join(f"{r['kid']}  {r['alg']}  {r['status']}" for r in rows))


@keys.command("rotate")
@click.option(
    "--alg",
    type=SIGNING_ALG_CHOICE,
    help="Sign with a new key of this algorithm and keep it as the tenant's signing_alg "
    "(default: the tenant's signing_alg, RS256 unless set).",
)
def keys_rotate(alg: str | None) -> None:
    """Sign with a new key; the old one stays in the JWKS until the next rotation."""
    key = run(lambda s: s.admin.rotate_signing_key(alg))
    click.echo(f"new current key: {key.kid} ({key.alg})")
    if key.alg != "RS256":
        click.echo(NON_RSA_NOTE, err=True)


@keys.command("rotate-encryption")
@count_option("--batch", 500, 1, 100_000, "Secrets re-encrypted per write transaction.")
@click.option("--dry-run", is_flag=True, help="Only count what is sealed under other keys.")
@json_option
def keys_rotate_encryption(batch: int, dry_run: bool, as_json: bool) -> None:
    """Re-encrypt every secret at rest under the current encryption key (the first of
    TWOFOLD_ENCRYPTION_KEYS), in batches, while servers keep running. When it reports
    complete, the other keys can be removed."""
    report = run(lambda s: s.admin.rotate_encryption(batch=batch, dry_run=dry_run))
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
    emit(data, as_json, text)
    if not report.complete:
        raise click.ClickException(
            "not every secret is under the current key yet: keep the old keys"
            + (" (dry run)" if dry_run else "")
        )
