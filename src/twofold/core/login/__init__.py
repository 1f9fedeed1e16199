"""The hosted login: `/authorize`'s request, its login transaction and steps, the SSO session
and remembered browsers. Nothing here knows HTTP; `web/pages/login.py` renders what these
modules decide. The authorization codes it issues (`core/authorization_codes.py`) and the facts
of a sign-in (`core/signin.py`) live beside the grants and issuance that also use them."""
