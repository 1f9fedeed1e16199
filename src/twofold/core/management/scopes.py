"""Auth0's Management API scope names, as the endpoints check them (the full list, which the
built-in API grants, is `models.MANAGEMENT_SCOPES`)."""

from __future__ import annotations

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
