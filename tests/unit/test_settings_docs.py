"""Every setting is in a table of the documentation (configuration.md, deploy.md, delivery.md),
named in full, with the default it really has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from twofold.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
ROW = re.compile(r"^\| (`TWOFOLD_[^|]*) \| ([^|]*) \|", re.MULTILINE)
# Defaults the tables describe in words, because they follow from other settings.
DESCRIBED = {
    "hashing_concurrency": "CPU count, divided between `serve --workers`",
    "webauthn_rp_id": "the host of `TWOFOLD_DOMAIN`",
    "webauthn_origins": 'the issuer\'s origin, `["https://{domain}"]`',
    "push_webhook_url": "`TWOFOLD_WEBHOOK_URL`",
    "email_channel": "inferred",
    "sms_channel": "inferred",
    "voice_channel": "inferred",
    "push_channel": "inferred",
}


def rows() -> list[tuple[str, str, str]]:
    """(doc, setting, documented default) for each setting a table row names."""
    found = []
    for doc in ("configuration.md", "deploy.md", "delivery.md"):
        for names_cell, default_cell in ROW.findall((DOCS / doc).read_text()):
            names = re.findall(r"`TWOFOLD_([A-Z0-9_]+)`", names_cell)
            defaults = re.split(r",\s+|\s+/\s+", default_cell.strip())
            if len(defaults) != len(names):
                defaults = [default_cell.strip()] * len(names)
            found += [(doc, n.lower(), d) for n, d in zip(names, defaults, strict=True)]
    return found


def actual_default(name: str) -> Any:
    field = Settings.model_fields[name]
    if field.default is PydanticUndefined:
        return field.default_factory() if field.default_factory else None
    return field.default


def parse(text: str) -> tuple[bool, Any]:
    """(True, value) for a default written as a value; (False, text) for one in words."""
    text = re.sub(r"\s*\([^)]*\)$", "", text.strip())  # "65536 (KiB)"
    if text == "empty":
        return True, ""
    if text == "unset":
        return True, None
    if re.fullmatch(r"`[^`]*`", text) and not text.startswith("`TWOFOLD_"):
        return True, text.strip("`")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return True, float(text)
    return False, text


def test_every_setting_is_documented_in_full() -> None:
    documented = {name for _, name, _ in rows()}
    assert documented <= set(Settings.model_fields), documented - set(Settings.model_fields)
    assert set(Settings.model_fields) <= documented, set(Settings.model_fields) - documented


def test_every_documented_default_is_the_real_one() -> None:
    for doc, name, text in rows():
        is_value, value = parse(text)
        if not is_value:
            assert DESCRIBED.get(name) == value, (doc, name, text)
            continue
        actual = actual_default(name)
        if isinstance(actual, bool):
            # A switch is documented as TOML and the environment spell it: `true`, `false`.
            assert str(actual).lower() == value, (doc, name, text, actual)
        elif isinstance(value, float):
            assert actual == value, (doc, name, text, actual)
        elif value == "":
            assert actual in ("", []), (doc, name, text, actual)
        else:
            assert (None if actual is None else str(actual)) == value, (doc, name, text, actual)
