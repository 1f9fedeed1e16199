"""`twofold import auth0 FILE`: Auth0's export (NDJSON) or import file (JSON array) in, a
summary out, each refused record on stderr with its line and reason, exit status 1 when any
was refused; running it again skips the users already there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from web.import_support import bcrypt_user

EXPORT = [
    bcrypt_user("ann@example.com", "ann's password", user_id="auth0|ann"),
    bcrypt_user("bob@example.com", "bob's password", totp_secret=False, blocked=True),
    {"email": "not an email", "user_id": "auth0|bad"},
    {"email": "cid@example.com", "logins_count": 4, "identities": [{"provider": "auth0"}]},
]


def export_file(tmp_path: Path) -> Path:
    path = tmp_path / "export.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in EXPORT) + "\n")
    return path


def test_import_reports_each_refused_record_and_is_idempotent(cli: Any, tmp_path: Path) -> None:
    path = export_file(tmp_path)

    first = cli("import", "auth0", str(path), "--json", ok=False)

    assert first.exit_code == 1, first.output
    summary = json.loads(first.stdout)
    assert {k: summary[k] for k in ("total", "inserted", "updated", "skipped", "failed")} == {
        "total": 4,
        "inserted": 3,
        "updated": 0,
        "skipped": 0,
        "failed": 1,
    }
    assert summary["failures"] == [
        {
            "line": 3,
            "user": EXPORT[2],
            "errors": [
                {
                    "code": "FORMAT",
                    "message": "Object didn't pass validation for format email",
                    "path": "email",
                }
            ],
        }
    ]
    assert "line 3: FORMAT email: Object didn't pass validation for format email" in first.stderr
    ann = json.loads(cli("users", "show", "auth0|ann", "--json").stdout)
    assert [(m["type"], m["confirmed"]) for m in ann["authentication_methods"]] == [("totp", True)]
    bob = json.loads(cli("users", "show", "bob@example.com", "--json").stdout)
    assert bob["blocked"] is True

    again = cli("import", "auth0", str(path), ok=False)
    assert "4 users: 0 imported, 0 updated, 3 already there, 1 refused" in again.stdout
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert listed["total"] == 3
    ann = json.loads(cli("users", "show", "auth0|ann", "--json").stdout)
    assert len(ann["authentication_methods"]) == 1


def test_a_json_array_from_stdin_with_upsert(cli: Any) -> None:
    users = json.dumps([bcrypt_user("dee@example.com", "pw", user_metadata={"a": 1})])
    assert "1 imported" in cli("import", "auth0", "-", input=users).stdout
    users = json.dumps([bcrypt_user("dee@example.com", "pw", user_metadata={"b": 2})])
    assert "1 updated" in cli("import", "auth0", "-", "--upsert", input=users).stdout
    dee = json.loads(cli("users", "show", "dee@example.com", "--json").stdout)
    assert dee["user_metadata"] == {"a": 1, "b": 2}


def test_a_file_that_is_not_json_is_one_line_and_nothing_written(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"email": "eve@example.com"},\n{"email": ')
    result = cli("import", "auth0", str(path), ok=False)
    assert result.exit_code == 1
    assert (
        result.stderr.strip().splitlines()[-1].startswith(f"Error: {path}: line 2: not valid JSON")
    )
    assert json.loads(cli("users", "list", "--json").stdout)["total"] == 0
