"""The terminal examples of the documentation are what this revision prints.

Every ```console block of docs/*.md follows a `<!-- example: NAME -->` line; NAME is a
situation below (the settings and the state the example assumes). Each `$ twofold …` line of the
block runs in that situation (its `VAR=value` prefixes included) and must print exactly the lines
that follow it. A new example without a situation fails here, and so does a message or a
migration that changes what an example shows.
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from contract._backends import REDIS_URL, postgres_schema
from twofold import serving
from twofold.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[^>]+?) -->\n```console\n(?P<body>.*?)```", re.S)
CONSOLE = re.compile(r"^```console$", re.M)
# The production node of docs/deploy.md ("Settings shared by every node").
PRODUCTION = {"TWOFOLD_ENVIRONMENT": "production", "TWOFOLD_DOMAIN": "auth.example.com"}


@dataclass(frozen=True)
class Step:
    command: str
    expected: list[str]


@dataclass(frozen=True)
class Example:
    doc: str
    name: str
    steps: list[Step]

    @property
    def id(self) -> str:
        return f"{self.doc}: {self.name}"


def examples() -> Iterator[Example]:
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text()
        found = list(EXAMPLE.finditer(text))
        assert len(found) == len(CONSOLE.findall(text)), (
            f"{path.name}: every ```console block follows an `<!-- example: NAME -->` line"
        )
        for match in found:
            steps: list[Step] = []
            for line in match["body"].splitlines():
                if line.startswith("$ "):
                    steps.append(Step(line[2:], []))
                else:
                    assert steps, f"{path.name}, {match['name']}: output before a command"
                    steps[-1].expected.append(line)
            yield Example(path.name, match["name"], steps)


def new_key() -> str:
    return "k1:" + base64.b64encode(os.urandom(32)).decode()


def invoke(command: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    words = shlex.split(command)
    with monkeypatch.context() as scoped:
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            scoped.setenv(name, value)
        assert words[0] == "twofold", command
        result = CliRunner().invoke(main, words[1:], catch_exceptions=False)
    return result.output.splitlines()


# ------------------------------------------------------------------------------ situations


def new_postgres_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with postgres_schema("docs") as url:
        monkeypatch.setenv("TWOFOLD_DATABASE_URL", url)
        monkeypatch.setenv("TWOFOLD_REDIS_URL", REDIS_URL)
        monkeypatch.setenv("TWOFOLD_ENCRYPTION_KEYS", new_key())
        yield


def development(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TWOFOLD_ENVIRONMENT")
    yield


def another_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TWOFOLD_ENCRYPTION_KEYS", new_key())
    assert invoke("twofold keys list", monkeypatch)  # the database, sealed under that key
    monkeypatch.setenv("TWOFOLD_ENCRYPTION_KEYS", new_key())
    yield


def lost_key_file(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TWOFOLD_ENVIRONMENT")
    assert invoke("twofold keys list", monkeypatch)  # makes var/encryption.keys
    Path("var/encryption.keys").unlink()
    yield


SITUATIONS: dict[str, Callable[[pytest.MonkeyPatch], Iterator[None]]] = {
    "a new PostgreSQL database": new_postgres_database,
    "configuration mistakes": development,
    "a key that does not open the database": another_key,
    "a lost key file": lost_key_file,
}


@pytest.fixture
def operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_serve_env: None
) -> pytest.MonkeyPatch:
    """A shell in an empty directory with the production settings of docs/deploy.md on SQLite
    (the defaults: `var/twofold.db`); `twofold serve` stops before serving."""
    for name in list(os.environ):
        if name.startswith("TWOFOLD_") and not name.startswith("TWOFOLD_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    # Which port is free on this machine is not what the examples show.
    serve_module = importlib.import_module("twofold.cli.serve")  # the package names the command
    monkeypatch.setattr(serve_module, "check_port", lambda host, port: None)
    monkeypatch.setattr(serving, "run", lambda **kwargs: pytest.fail("the example served"))
    return monkeypatch


@pytest.mark.parametrize("example", list(examples()), ids=lambda e: e.id)
def test_the_example_prints_what_the_docs_show(
    example: Example, operator: pytest.MonkeyPatch
) -> None:
    assert example.name in SITUATIONS, f"no situation for the example {example.id!r}: add one"
    situation = SITUATIONS[example.name](operator)
    next(situation)
    try:
        for step in example.steps:
            assert invoke(step.command, operator) == step.expected, (example.id, step.command)
    finally:
        next(situation, None)


def test_every_situation_has_its_example() -> None:
    assert {e.name for e in examples()} == set(SITUATIONS)
