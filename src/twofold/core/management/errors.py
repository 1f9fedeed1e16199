"""The Management API's error body: `{statusCode, error, message, errorCode}`.

`error` is the HTTP reason phrase, `errorCode` a stable machine-readable code (Auth0's where it
has one). Errors the shared core raises (an OAuthError: a bad phone number, a backend outage)
are shown in this shape too (`from_oauth`), keeping their status and headers.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from twofold.core.errors import OAuthError


class ManagementError(Exception):
    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "error": HTTPStatus(self.status).phrase,
            "message": self.message,
            "errorCode": self.error_code,
        }


def from_oauth(exc: OAuthError) -> ManagementError:
    return ManagementError(exc.status, exc.error, exc.description, headers=exc.headers)


def bad_body(message: str) -> ManagementError:
    return ManagementError(400, "invalid_body", f"Payload validation error: {message}")


def bad_query(message: str) -> ManagementError:
    return ManagementError(400, "invalid_query_string", f"Query validation error: {message}")


def no_user() -> ManagementError:
    return ManagementError(404, "inexistent_user", "The user does not exist.")


def no_method() -> ManagementError:
    return ManagementError(
        404, "inexistent_authentication_method", "Authentication method not found"
    )


def unauthorized(message: str = "Invalid token") -> ManagementError:
    return ManagementError(401, "invalid_token", message)
