"""The built-in client the hosted login's second-factor step acts as.

The MFA page proves the second factor by running the MFA API's own grants (mfa-otp, mfa-oob,
mfa-recovery-code, webauthn), so their rules hold unchanged on the page: the user's failure
bucket, one use of every code, the mfa_token's lifetime and binding. They run as `LOGIN_CLIENT`,
which exists in code only, like the account page's client: nobody can present it at
/oauth/token (it has no secret, and a stored client cannot take its id, which has hyphens), and
an mfa_token issued to it is refused to every other client and the other way round. What those
grants mint for it is discarded: the app's tokens come from the authorization code.
"""

from __future__ import annotations

from twofold.core.models import (
    GRANT_MFA_OOB,
    GRANT_MFA_OTP,
    GRANT_MFA_RECOVERY_CODE,
    GRANT_WEBAUTHN,
    Client,
)

LOGIN_CLIENT_ID = "twofold-hosted-login"

LOGIN_CLIENT = Client(
    client_id=LOGIN_CLIENT_ID,
    name="Hosted login",
    auth_method="client_secret_post",
    grant_types=frozenset({GRANT_MFA_OTP, GRANT_MFA_OOB, GRANT_MFA_RECOVERY_CODE, GRANT_WEBAUTHN}),
)
