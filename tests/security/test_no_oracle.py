"""No oracle: an unknown user and a wrong password get byte-identical answers after
the same hashing work; another user's authenticator is indistinguishable from none at all.

Timing distributions are reported by bench/password_oracle.py, never asserted here.
"""

from __future__ import annotations

import json

import argon2
import pytest

from web.support import GRANT_PASSWORD_REALM, REALM, assert_error

pytestmark = pytest.mark.anyio

IGNORED_HEADERS = {"date", "content-length"}


def _shape(resp):
    headers = {k: v for k, v in resp.headers.items() if k not in IGNORED_HEADERS}
    return resp.status_code, resp.content, headers


@pytest.fixture
def hashing_log(services, monkeypatch):
    """Every argon2 verification the server runs: the parameters of the hash it checked."""
    hasher = services.deps.hasher
    log: list[argon2.Parameters | str] = []
    real = hasher._verify_sync

    def spy(password_hash, password):
        imported = password_hash.startswith("$import$")
        log.append("imported" if imported else argon2.extract_parameters(password_hash))
        return real(password_hash, password)

    monkeypatch.setattr(hasher, "_verify_sync", spy)
    return log


@pytest.mark.parametrize(
    "variant",
    ["form", "json", "realm", "password-realm", "long password", "username login"],
)
async def test_unknown_user_and_wrong_password_are_indistinguishable(env, hashing_log, variant):
    client = await env.client()
    await env.user("known@example.com", "the right password", username="known")

    def params(username):
        p = {"grant_type": "password", "username": username, "password": "wrong password"}
        if variant == "realm":
            p["realm"] = REALM
        if variant == "password-realm":
            p.update(grant_type=GRANT_PASSWORD_REALM, realm=REALM)
        if variant == "long password":
            p["password"] = "w" * 4000
        return p

    known, unknown = (
        ("known", "unknown")
        if variant == "username login"
        else (
            "known@example.com",
            "unknown@example.com",
        )
    )
    answers = []
    for username in (known, unknown):
        hashing_log.clear()
        resp = await env.token(params(username), client, json=variant == "json")
        assert_error(resp, 403, "invalid_grant", "Wrong email or password.")
        answers.append((_shape(resp), list(hashing_log)))

    (wrong_shape, wrong_work), (unknown_shape, unknown_work) = answers
    assert wrong_shape == unknown_shape
    # One argon2 verification each, with the same cost parameters.
    assert len(wrong_work) == len(unknown_work) == 1, (wrong_work, unknown_work)
    assert wrong_work[0] == unknown_work[0]


async def test_an_imported_hash_answers_like_an_unknown_user_after_a_real_check(
    env, services, hashing_log
):
    """A fast imported hash (md5) is checked, then the time of an argon2 check is spent too: the
    account answers a wrong password exactly as an unknown user is answered."""
    import hashlib

    from twofold.core.management import import_file, imports

    record = {
        "email": "legacy@example.com",
        "custom_password_hash": {
            "algorithm": "md5",
            "hash": {"value": hashlib.md5(b"old password").hexdigest(), "encoding": "hex"},
        },
    }
    entries = import_file.read(json.dumps([record]).encode())
    assert (await imports.run(services.deps, entries, imports.Options(REALM))).inserted == 1
    client = await env.client()

    answers = []
    for username in ("legacy@example.com", "unknown@example.com"):
        hashing_log.clear()
        resp = await env.password(client, username=username, password="wrong password")
        assert_error(resp, 403, "invalid_grant", "Wrong email or password.")
        answers.append((_shape(resp), [w for w in hashing_log if w != "imported"]))

    (legacy_shape, legacy_work), (unknown_shape, unknown_work) = answers
    assert legacy_shape == unknown_shape
    assert len(legacy_work) == len(unknown_work) == 1, (legacy_work, unknown_work)
    assert legacy_work[0] == unknown_work[0]


async def test_the_dummy_hash_follows_the_configured_cost(services):
    hasher = services.deps.hasher
    real = await hasher.hash("anything at all")
    assert argon2.extract_parameters(hasher._dummy_hash) == argon2.extract_parameters(real)


async def test_another_users_authenticator_looks_like_no_authenticator(env):
    client = await env.client()
    alice = await env.enrolled(client, "alice@example.com", "alice password")
    bob = await env.enrolled(client, "bob@example.com", "bob password")
    bob_ids = [
        a["id"]
        for a in (
            await env.list_authenticators(
                await env.mfa_token(client, username=bob.email, password=bob.password)
            )
        ).json()
    ]
    assert bob_ids
    alice_token = await env.mfa_token(client, username=alice.email, password=alice.password)
    api = await env.mfa_api_token(client, alice, "remove:authenticators")

    for bob_id in bob_ids:
        ghost = bob_id[: bob_id.index("|dev_") + 5] + "Z" * 16
        pairs = [
            (
                await env.challenge(client, alice_token, authenticator_id=bob_id),
                await env.challenge(client, alice_token, authenticator_id=ghost),
            ),
            (
                await env.delete_authenticator(api["access_token"], bob_id),
                await env.delete_authenticator(api["access_token"], ghost),
            ),
        ]
        for theirs, nobodys in pairs:
            assert theirs.status_code in (400, 404), theirs.text
            assert _shape(theirs) == _shape(nobodys), (theirs.text, nobodys.text)

    # Bob's authenticators are untouched.
    listed = await env.list_authenticators(
        await env.mfa_token(client, username=bob.email, password=bob.password)
    )
    assert sorted(a["id"] for a in listed.json()) == sorted(bob_ids)
    assert json.loads(listed.content)
