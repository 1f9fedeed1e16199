"""Auth0's bulk user file split into records, each with the line it starts on; the records read
into candidate users or refused with Auth0-style errors; secrets masked in reports."""

from __future__ import annotations

import json
from typing import Any

import pytest

from twofold.core.management import import_file, import_records
from twofold.core.management.import_file import Entry, FileRejected
from twofold.core.management.import_records import RecordError


def test_a_json_array_gives_each_record_its_first_line() -> None:
    data = b'[\n  {"email": "a@x.io"},\n\n  {"email":\n "b@x.io"}, {"email": "c@x.io"}\n]\n'
    entries = import_file.read(data)
    assert [(e.line, e.record["email"]) for e in entries] == [
        (2, "a@x.io"),
        (4, "b@x.io"),
        (5, "c@x.io"),
    ]


def test_ndjson_as_auth0_exports_it_with_a_bad_line_kept_as_a_bad_record() -> None:
    data = b'\xef\xbb\xbf{"email": "a@x.io"}\n\n{not json\n{"email": "c@x.io"}\n'
    entries = import_file.read(data)
    assert [e.line for e in entries] == [1, 3, 4]
    assert entries[1].record is None
    assert entries[1].error is not None
    assert entries[1].error.startswith("not valid JSON")


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"", 1),
        (b"   \n", 1),
        (b'[{"email": "a@x.io"},\n{"email": ]', 2),
        (b'[{"email": "a@x.io"}\n{"email": "b@x.io"}]', 2),
        (b'[{"email": "a@x.io"}] trailing', 1),
        (b'[{"email": "a@x.io"}\n', 2),
        (b'{"email": "a@x.io"}\n\xff\n', 2),
    ],
)
def test_a_file_that_cannot_be_read_says_where(data: bytes, line: int) -> None:
    with pytest.raises(FileRejected) as refused:
        import_file.read(data)
    assert refused.value.line == line, refused.value


def entry(record: Any) -> Entry:
    return Entry(7, record)


def test_a_record_is_read_with_auth0s_user_id_forms() -> None:
    exported = import_records.read(entry({"email": " A@X.io ", "user_id": "auth0|abc"}))
    assert (exported.email, exported.user_id) == ("a@x.io", "auth0|abc")
    imported = import_records.read(entry({"email": "a@x.io", "user_id": "abc"}))
    assert imported.user_id == "auth0|abc"
    fields_ignored = import_records.read(
        entry({"email": "a@x.io", "identities": [], "logins_count": 3, "given_name": "A"})
    )
    assert fields_ignored.email_verified is None
    assert fields_ignored.factors == ()


def test_mfa_factors_become_management_api_bodies() -> None:
    candidate = import_records.read(
        entry(
            {
                "email": "a@x.io",
                "mfa_factors": [
                    {"totp": {"secret": "JBSWY3DPEHPK3PNP"}},
                    {"phone": {"value": "+14155550100"}},
                    {"email": {"value": "a@x.io"}},
                ],
            }
        )
    )
    assert candidate.factors == (
        {"type": "totp", "totp_secret": "JBSWY3DPEHPK3PNP"},
        {"type": "phone", "phone_number": "+14155550100"},
        {"type": "email", "email": "a@x.io"},
    )


@pytest.mark.parametrize(
    ("record", "code", "path"),
    [
        ([], "INVALID_TYPE", ""),
        ({}, "OBJECT_MISSING_REQUIRED_PROPERTY", "email"),
        ({"email": "nope"}, "FORMAT", "email"),
        (
            {"email": "a@x.io", "favourite_color": "red"},
            "OBJECT_ADDITIONAL_PROPERTIES",
            "favourite_color",
        ),
        ({"email": "a@x.io", "user_id": "google-oauth2|1"}, "INVALID_FORMAT", "user_id"),
        ({"email": "a@x.io", "user_id": "a b"}, "PATTERN", "user_id"),
        ({"email": "a@x.io", "blocked": "yes"}, "INVALID_TYPE", "blocked"),
        ({"email": "a@x.io", "user_metadata": [1]}, "INVALID_TYPE", "user_metadata"),
        ({"email": "a@x.io", "password_hash": "$1$abc"}, "INVALID_PASSWORD_HASH", "password_hash"),
        (
            {
                "email": "a@x.io",
                "custom_password_hash": {"algorithm": "md5", "hash": {"value": "zz"}},
            },
            "INVALID_PASSWORD_HASH",
            "custom_password_hash.hash.encoding",
        ),
        ({"email": "a@x.io", "mfa_factors": []}, "MFA_FACTORS_FAILED", "mfa_factors"),
        (
            {"email": "a@x.io", "mfa_factors": [{"totp": {"secret": "lowercase"}}]},
            "MFA_FACTORS_FAILED",
            "mfa_factors[0]",
        ),
        (
            {
                "email": "a@x.io",
                "mfa_factors": [{"totp": {"secret": "AB"}, "phone": {"value": "+1"}}],
            },
            "MFA_FACTORS_FAILED",
            "mfa_factors[0]",
        ),
        (
            {"email": "a@x.io", "mfa_factors": [{"phone": {"value": "0044 20"}}]},
            "MFA_FACTORS_FAILED",
            "mfa_factors[0]",
        ),
    ],
)
def test_a_refused_record_names_the_code_and_the_field(record: Any, code: str, path: str) -> None:
    with pytest.raises(RecordError) as refused:
        import_records.read(entry(record))
    assert (refused.value.code, refused.value.path) == (code, path), refused.value.message


def test_a_report_masks_every_secret_of_the_record() -> None:
    record = {
        "email": "a@x.io",
        "password_hash": "$2b$10$secret",
        "custom_password_hash": {
            "algorithm": "hmac",
            "hash": {"value": "SECRET1", "key": {"value": "SECRET2"}},
            "salt": {"value": "SECRET3"},
        },
        "mfa_factors": [{"totp": {"secret": "SECRET4"}}, {"phone": {"value": "+14155550100"}}],
    }
    shown = json.dumps(import_records.masked(record))
    assert "SECRET" not in shown
    assert "$2b$10$secret" not in shown
    assert "+14155550100" in shown
    assert record["mfa_factors"][0]["totp"]["secret"] == "SECRET4"  # the input is left alone
