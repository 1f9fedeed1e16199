"""Every command and option of `twofold` says what it is for, and the choices it offers are the
ones the core defines (not a copy that could drift).

The commands are found by walking the click tree the way click resolves them, so a command added
later without help text fails here without anyone listing it."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from twofold.cli import main
from twofold.core.models import AUTH_METHODS, FACTORS, MFA_POLICIES, TENANT_SIGNING_ALGS


def walk(command: click.Command, path: str = "twofold") -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path.rsplit(" ", 1)[-1])
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"`{path} {name}` is listed but cannot be loaded"
            yield from walk(sub, f"{path} {name}")


def missing_help(root: click.Command, name: str = "twofold") -> list[str]:
    """What in the tree under `root` has no help text: commands and options (click's own
    --help included), shown and hidden alike."""
    missing = []
    for path, command in walk(root, name):
        if not (command.help or "").strip():
            missing.append(f"`{path}`")
        ctx = click.Context(command, info_name=path)
        for param in command.get_params(ctx):
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"`{path}` {param.opts[0]}")
    return missing


COMMANDS = dict(walk(main))


def test_the_tree_is_walked_whole() -> None:
    nested = {"twofold serve", "twofold users show", "twofold authenticator approve"}
    assert nested <= set(COMMANDS)


def test_every_command_and_option_has_help() -> None:
    assert missing_help(main) == []


def test_a_command_or_option_without_help_is_found() -> None:
    @click.group()
    def root() -> None:
        """A group with help."""

    @root.group()
    def inner() -> None:
        """A nested group with help."""

    @inner.command()
    @click.option("--quiet", is_flag=True)
    def bare() -> None:
        pass

    @root.command()
    @click.option("--loud", is_flag=True, help="Shout.")
    def fine() -> None:
        """A command with help."""

    assert missing_help(root, "root") == ["`root inner bare`", "`root inner bare` --quiet"]


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_help_page_renders(path: str) -> None:
    result = CliRunner().invoke(main, [*path.split()[1:], "--help"])
    assert result.exit_code == 0, result.output
    first_line = (COMMANDS[path].help or "").strip().splitlines()[0]
    assert " ".join(first_line.split()[:4]) in " ".join(result.output.split())


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
