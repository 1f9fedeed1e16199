"""The My Account API's errors: RFC 7807 problem details
`{type, status, title, detail, validation_errors}`, served as application/problem+json.

`type` is an Auth0 error URI (`https://auth0.com/api-errors/A0E-<status>-<nnnn>`): the status and
a number within it, as Auth0's My Account API sends them and its SDKs match on the status.
`validation_errors` lists what was wrong with which field (`pointer` is a JSON pointer into the
body, or the query parameter's name); it is empty when no field is at fault. Errors the shared
core raises (an OAuthError: a send limit, a backend outage, a factor's own refusal) are shown in
this shape too (`from_oauth`), keeping their status and headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from twofold.core.errors import InsufficientScope, InvalidToken, OAuthError
from twofold.core.mfa.enrolment_limits import NoRoom

TYPE_PREFIX = "https://auth0.com/api-errors/A0E-"
INVALID_TOKEN = "Invalid Token"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    detail: str
    source: str = "body"

    def body(self) -> dict[str, str]:
        pointer = f"/{self.field}" if self.source == "body" else self.field
        return {
            "detail": self.detail,
            "field": self.field,
            "pointer": pointer,
            "source": self.source,
        }


class Problem(Exception):
    """One problem: `number` tells problems of one status apart in `type`."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        number: int = 1,
        title: str | None = None,
        errors: tuple[FieldError, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors
        self.type = f"{TYPE_PREFIX}{status}-{number:04d}"
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
            "validation_errors": [e.body() for e in self.errors],
        }


def invalid(field: str, detail: str, *, source: str = "body") -> Problem:
    """400: one field of the request is missing or wrong."""
    return Problem(400, detail, number=3, errors=(FieldError(field, detail, source),))


def not_found() -> Problem:
    return Problem(404, "The authentication method does not exist")


def unauthorized(detail: str) -> Problem:
    return Problem(401, detail, number=3, title=INVALID_TOKEN)


def insufficient_scope(scope: str) -> Problem:
    return Problem(403, f"Insufficient scope, expected: {scope}", number=2)


def from_oauth(exc: OAuthError) -> Problem:
    if isinstance(exc, InvalidToken):
        return unauthorized(exc.description)
    if isinstance(exc, InsufficientScope):
        return Problem(403, exc.description, number=2, headers=exc.headers)
    if isinstance(exc, NoRoom):
        return Problem(409, exc.description)
    return Problem(exc.status, exc.description, headers=exc.headers)
