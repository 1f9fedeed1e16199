"""Reading the settings with one line per mistake: `load_settings` is `Settings()` made strict
(a TWOFOLD_* variable that names no setting, or a TWOFOLD_CONFIG_FILE that does not exist, is an
error), and every error names the TWOFOLD_ variable, what it expects and, for a typo, the name
most likely meant. Secret values are never repeated.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from twofold.config import Settings

# TWOFOLD_* variables that are not settings: read by one command, by the test harness, or
# written by `twofold serve` for its worker processes.
OTHER_VARIABLES = frozenset(
    {
        "TWOFOLD_CONFIG_FILE",
        "TWOFOLD_SERVING_TLS",
        "TWOFOLD_USER_PASSWORD",
        "TWOFOLD_AUTHENTICATOR_STATE",
        "TWOFOLD_SEED_PASSWORD",
    }
)
OTHER_PREFIXES = ("TWOFOLD_TEST_", "TWOFOLD_E2E_", "TWOFOLD_BENCH_")
# Settings whose values are never repeated in a message.
SECRET_FIELDS = frozenset(
    {
        "encryption_keys",
        "database_url",
        "redis_url",
        "smtp_url",
        "twilio_auth_token",
        "webhook_secret",
        "webhook_url",
        "push_webhook_url",
    }
)


class ConfigError(ValueError):
    """The configuration cannot be used; the message is one line naming the variable."""


def _variable(field: str) -> str:
    return f"TWOFOLD_{field.upper()}"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One message per TWOFOLD_* variable that names no setting, with the likely one meant."""
    known = {_variable(name) for name in Settings.model_fields}
    messages = []
    for name in sorted(environ):
        if not name.startswith("TWOFOLD_") or name in known or name in OTHER_VARIABLES:
            continue
        if name.startswith(OTHER_PREFIXES):
            continue
        close = difflib.get_close_matches(name, sorted(known | OTHER_VARIABLES), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        messages.append(f"{name}: not a Twofold setting{hint}")
    return messages


def _describe(error: Mapping[str, Any]) -> str:
    loc = error.get("loc") or ("?",)
    field = str(loc[0])
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    value = error.get("input")
    shown = ""
    if field not in SECRET_FIELDS and isinstance(value, str | int | float) and value != "":
        shown = f" (got {str(value)[:64]!r})"
    if error.get("type") == "extra_forbidden":
        close = difflib.get_close_matches(field, list(Settings.model_fields), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"{field} in TWOFOLD_CONFIG_FILE: not a Twofold setting{hint}"
    return f"{_variable(field)}: {message}{shown}"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """The settings, or ConfigError with one line naming every variable that is wrong.

    Stricter than `Settings()`: a TWOFOLD_* variable that is no setting (a typo is ignored by
    pydantic) and a TWOFOLD_CONFIG_FILE that does not exist are errors too. They are reported
    with the values that are wrong, not instead of them."""
    env = os.environ if environ is None else environ
    problems = unknown_variables(env)
    config_file = env.get("TWOFOLD_CONFIG_FILE")
    if config_file and not Path(config_file).is_file():
        problems.append(f"TWOFOLD_CONFIG_FILE: no such file {config_file[:200]!r}")
    settings = None
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems += [_describe(e) for e in exc.errors()]
    except SettingsError as exc:
        # Raised before validation, e.g. a list that is not JSON; the message names the field.
        match = re.search(r'field "(\w+)"', str(exc))
        name = _variable(match.group(1)) if match else "TWOFOLD_CONFIG_FILE"
        problems.append(f"{name}: cannot be parsed ({str(exc).splitlines()[0][:200]})")
    except (OSError, ValueError) as exc:  # an unreadable or malformed TOML file
        problems.append(f"TWOFOLD_CONFIG_FILE: cannot be read: {str(exc)[:200]}")
    if problems or settings is None:
        raise ConfigError("; ".join(problems))
    return settings
