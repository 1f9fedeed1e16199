"""Every command and option of `twofold` says what it is for, and the choices it offers are the
ones the core defines (not a copy that could drift)."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from twofold.cli import main
from twofold.core.models import AUTH_METHODS, FACTORS, MFA_POLICIES, TENANT_SIGNING_ALGS


def walk(command: click.Command, path: str = "twofold") -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, f"{path} {name}")


COMMANDS = dict(walk(main))


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_and_option_has_help(path: str) -> None:
    command = COMMANDS[path]
    assert (command.help or "").strip(), f"`{path}` has no help text"
    for param in command.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"`{path}` {param.opts[0]} has no help text"


def choices(path: str, option: str) -> tuple[str, ...]:
    (param,) = [p for p in COMMANDS[path].params if option in p.opts]
    assert isinstance(param.type, click.Choice)
    return tuple(param.type.choices)


def test_choices_are_the_cores_constants() -> None:
    assert choices("twofold clients create", "--auth-method") == AUTH_METHODS
    assert choices("twofold tenant set", "--mfa-policy") == MFA_POLICIES
    assert choices("twofold tenant set", "--factor") == FACTORS
    assert choices("twofold tenant set", "--signing-alg") == TENANT_SIGNING_ALGS
    assert choices("twofold keys rotate", "--alg") == TENANT_SIGNING_ALGS


def test_load_test_seeding_is_not_a_server_command() -> None:
    assert "seed" not in main.commands
