"""Auth0's My Account API (https://{domain}/me/v1/): a signed-in user manages their own factors.

It works on the same authenticators, through the same factor modules and MFA use cases, as the
MFA API and the Management API: one store and one set of rules (enrolment caps and allowances,
attempt buckets, single-use codes, encryption at rest). `caller` decides who is calling,
`problems` shapes every error as RFC 7807 problem details.
"""
