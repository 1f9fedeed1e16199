"""`twofold tenant set --email-counts-as-factor/--no-email-counts-as-factor` and `tenant show`."""

from __future__ import annotations

import json


def test_email_counts_as_factor_by_default_and_can_be_turned_off_and_on(cli):
    assert json.loads(cli("tenant", "show").stdout)["email_counts_as_factor"] is True

    shown = json.loads(cli("tenant", "set", "--no-email-counts-as-factor").stdout)
    assert shown["email_counts_as_factor"] is False
    assert json.loads(cli("tenant", "show").stdout)["email_counts_as_factor"] is False

    cli("tenant", "set", "--email-counts-as-factor")
    assert json.loads(cli("tenant", "show").stdout)["email_counts_as_factor"] is True
