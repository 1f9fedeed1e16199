"""The built-in Management API: its audience's record and Auth0's scope names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from twofold.core.models import Api

if TYPE_CHECKING:
    from twofold.core.deps import Deps

NAME = "Auth0 Management API"

READ_USERS = "read:users"
CREATE_USERS = "create:users"
UPDATE_USERS = "update:users"
DELETE_USERS = "delete:users"
UPDATE_USERS_APP_METADATA = "update:users_app_metadata"
READ_METHODS = "read:authentication_methods"
CREATE_METHODS = "create:authentication_methods"
UPDATE_METHODS = "update:authentication_methods"
DELETE_METHODS = "delete:authentication_methods"
READ_ENROLLMENTS = "read:guardian_enrollments"
DELETE_ENROLLMENTS = "delete:guardian_enrollments"
READ_FACTORS = "read:guardian_factors"
UPDATE_FACTORS = "update:guardian_factors"
READ_LOGS = "read:logs"
READ_LOGS_USERS = "read:logs_users"

SCOPES = (
    READ_USERS,
    CREATE_USERS,
    UPDATE_USERS,
    DELETE_USERS,
    UPDATE_USERS_APP_METADATA,
    READ_METHODS,
    CREATE_METHODS,
    UPDATE_METHODS,
    DELETE_METHODS,
    READ_ENROLLMENTS,
    DELETE_ENROLLMENTS,
    READ_FACTORS,
    UPDATE_FACTORS,
    READ_LOGS,
    READ_LOGS_USERS,
)

# Machine tokens for the Management API live a day, as Auth0's do.
TOKEN_LIFETIME = 86_400


def management_api(deps: Deps) -> Api:
    return Api(
        identifier=deps.management_audience, name=NAME, scopes=SCOPES, token_lifetime=TOKEN_LIFETIME
    )
