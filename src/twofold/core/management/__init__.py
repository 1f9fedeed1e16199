"""Auth0's Management API v2 (users and their MFA): the use cases behind /api/v2/.

Only machine tokens reach it (client_credentials for `https://{domain}/api/v2/`); each call
checks one of Auth0's scopes. It works on the same repositories and factor rules as the MFA API,
so an id or a change seen through one API holds in the other.
"""
