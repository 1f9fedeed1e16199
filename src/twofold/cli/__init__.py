"""The `twofold` command: run the server, administer a tenant, and a reference authenticator.

One module per job: `serve` (serve, migrate), `check` (check-config), `admin` (clients,
users, APIs, the audit trail), `keys` (signing and encryption keys), `tenant` (tenant-wide
settings), `imports` (users from Auth0), `authenticator` (the device side of push and TOTP).
Administration goes through the core's use cases (`twofold.core.admin`), the same ones the
server's own code uses; nothing here touches a repository. Heavy imports stay inside the
commands so that `twofold --help` stays quick.
"""

from __future__ import annotations

import click

# Registers the Management API's user and client commands on cli/admin.py's groups.
import twofold.cli.users  # noqa: F401
from twofold.cli.admin import apis, audit_group, clients, users
from twofold.cli.authenticator import authenticator_group
from twofold.cli.check import check_config
from twofold.cli.imports import import_group
from twofold.cli.keys import keys
from twofold.cli.serve import migrate, serve
from twofold.cli.tenant import tenant

__all__ = ["main"]


@click.group()
@click.version_option(package_name="twofold")
def main() -> None:
    """Twofold: a self-hostable server for Auth0's Multi-factor Authentication API."""


for command in (migrate, serve, check_config, clients, users, apis, keys, tenant, audit_group):
    main.add_command(command)
main.add_command(import_group)
main.add_command(authenticator_group)
