"""The hosted login: `/authorize`, its pages' steps, the SSO session, remembered browsers and
authorization codes. Nothing here knows HTTP; `web/endpoints/authorize.py` and
`web/pages/login.py` render what these modules decide."""
