"""The operator's side of the signing algorithm: `twofold keys rotate --alg`, `twofold tenant set
--signing-alg`, `twofold tenant show` and `twofold keys list`, on a fresh SQLite database."""

from __future__ import annotations

import json
from typing import Any


def keys(cli: Any) -> list[tuple[str, str]]:
    rows = json.loads(cli("keys", "list", "--json").stdout)
    return [(r["alg"], r["status"]) for r in rows]


def test_rotate_with_an_algorithm_sets_it_and_rotates(cli):
    assert keys(cli) == [("RS256", "current")]
    assert json.loads(cli("tenant", "show").stdout)["signing_alg"] == "RS256"

    result = cli("keys", "rotate", "--alg", "EdDSA")

    assert result.stdout.startswith("new current key: ")
    assert result.stdout.rstrip().endswith("(EdDSA)")
    assert "RS256 only" in result.stderr  # the Auth0 SDK caveat
    assert keys(cli) == [("EdDSA", "current"), ("RS256", "previous")]
    assert json.loads(cli("tenant", "show").stdout)["signing_alg"] == "EdDSA"
    # A plain rotation keeps the tenant's algorithm and retires the RS256 key.
    cli("keys", "rotate")
    assert keys(cli) == [("EdDSA", "current"), ("EdDSA", "previous"), ("RS256", "retired")]


def test_tenant_set_says_when_the_change_takes_effect(cli):
    result = cli("tenant", "set", "--signing-alg", "ES256")

    assert json.loads(result.stdout)["signing_alg"] == "ES256"
    assert "still signs with RS256" in result.stderr
    assert "twofold keys rotate" in result.stderr
    assert keys(cli) == [("RS256", "current")]
    cli("keys", "rotate")
    assert keys(cli) == [("ES256", "current"), ("RS256", "previous")]
    # Back to RS256: no caveat, and the note about the current key names ES256.
    back = cli("tenant", "set", "--signing-alg", "RS256")
    assert "still signs with ES256" in back.stderr
    assert "RS256 only" not in back.stderr


def test_unknown_algorithms_are_usage_errors(cli):
    for args in (
        ("keys", "rotate", "--alg", "HS256"),
        ("keys", "rotate", "--alg", "Ed25519"),
        ("tenant", "set", "--signing-alg", "none"),
    ):
        result = cli(*args, ok=False)
        assert result.exit_code == 2, result.output
        assert "Invalid value" in result.stderr
    assert keys(cli) == [("RS256", "current")]
