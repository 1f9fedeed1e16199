"""`twofold migrate` says what it did: from which revision to which, or that nothing was due."""

from __future__ import annotations

from collections.abc import Callable

from click.testing import Result

from twofold.storage import migrate as migrations


def test_migrate_names_the_revisions_it_moved_between(cli: Callable[..., Result]) -> None:
    head = migrations.head_revision()

    first = cli("migrate")
    assert first.output.strip() == f"database migrated from an empty schema to revision {head}"

    again = cli("migrate")
    assert again.output.strip() == f"database is up to date (revision {head})"


def test_migrate_from_an_older_revision(cli: Callable[..., Result], cli_env: object) -> None:
    from twofold.config_loading import load_settings

    url = load_settings().database_url
    migrations.upgrade(url, "0007")
    moved = cli("migrate")
    assert moved.output.strip() == (
        f"database migrated from revision 0007 to revision {migrations.head_revision()}"
    )
