"""`twofold import auth0 FILE`: users from Auth0's bulk import file or user export (a JSON
array, or one user per line), with their password hashes and MFA enrolments, through the same
use case as the Management API's users-imports job (`twofold.core.management.imports`)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import IO, TYPE_CHECKING, Any

import click

from twofold.cli.common import emit, json_option, run
from twofold.core.models import DEFAULT_REALM

if TYPE_CHECKING:
    from twofold.app import Services
    from twofold.core.management.imports import Summary
    from twofold.core.models import ImportFailure


@click.group("import")
def import_group() -> None:
    """Bring users in from another identity provider."""


def _failure_line(failure: ImportFailure) -> str:
    return "; ".join(
        f"line {failure.line}: {e['code']} {e['path'] or '-'}: {e['message']}"
        for e in failure.errors
    )


@import_group.command("auth0")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--connection",
    default=DEFAULT_REALM,
    show_default=True,
    help="The realm (Auth0 database connection) the users join.",
)
@click.option(
    "--upsert",
    is_flag=True,
    help="Update users already there (metadata, email_verified, name, factors they lack, and "
    "an imported password hash no login has replaced) instead of skipping them.",
)
@json_option
def import_auth0(file: IO[bytes], connection: str, upsert: bool, as_json: bool) -> None:
    """Import users from FILE ("-" for standard input): Auth0's bulk-import JSON array or its
    user export (NDJSON). Password hashes (bcrypt, argon2, pbkdf2, ldap, hmac, md4/md5/sha*) are
    verified on each user's next login, then replaced by argon2id; TOTP secrets, phones and
    emails in mfa_factors become confirmed factors. Running it again skips the users already
    there. Each refused record is reported with its line and reason, and nothing of it is
    written; the exit status is 1 if any was refused."""
    from twofold.core.management import import_file, imports

    try:
        entries = import_file.read(file.read())
    except import_file.FileRejected as exc:
        raise click.ClickException(f"{file.name}: {exc}") from None
    failures: list[ImportFailure] = []
    options = imports.Options(connection, upsert=upsert)
    with click.progressbar(
        length=len(entries), label="Importing users", file=sys.stderr, show_pos=True
    ) as bar:

        async def on_batch(summary: Summary, refused: Any) -> None:
            bar.update(summary.processed - bar.pos)
            failures.extend(refused)

        async def action(s: Services) -> Summary:
            return await imports.run(s.deps, entries, options, on_batch)

        summary = run(action)
    for failure in failures:
        click.echo(_failure_line(failure), err=True)
    result = {**asdict(summary), "failures": [asdict(f) for f in failures]}
    emit(
        result,
        as_json,
        f"{summary.total} users: {summary.inserted} imported, {summary.updated} updated, "
        f"{summary.skipped} already there, {summary.failed} refused",
    )
    if summary.failed:
        sys.exit(1)
