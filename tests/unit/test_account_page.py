"""The account page's built-in client: what makes it unusable anywhere but through Twofold."""

from __future__ import annotations

import re

from twofold.core import account_page
from twofold.core.ids import new_client_id
from twofold.core.models import GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN


def test_no_stored_client_can_have_the_page_clients_id() -> None:
    # Stored clients get random base62 ids; the page's has hyphens.
    assert re.fullmatch(r"[0-9A-Za-z]{32}", new_client_id())
    assert not re.fullmatch(r"[0-9A-Za-z]+", account_page.PAGE_CLIENT_ID)


def test_the_page_client_has_no_secret_and_only_the_sign_in_grants() -> None:
    client = account_page.PAGE_CLIENT
    assert client.secret_hash is None
    assert client.jwks is None
    assert client.api_grants == {}
    assert client.auth_method != "none"  # the webauthn grant's confidential-only rule holds
    assert client.grant_types == frozenset(account_page.GRANT_FIELDS)
    assert GRANT_REFRESH_TOKEN not in client.grant_types
    assert GRANT_CLIENT_CREDENTIALS not in client.grant_types


def test_no_grant_field_can_choose_the_audience_or_scope() -> None:
    chosen = {name for fields in account_page.GRANT_FIELDS.values() for name in fields}
    assert chosen.isdisjoint({"audience", "scope", "realm", "client_id", "client_secret"})
