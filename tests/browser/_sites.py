"""Two sites on one machine, for the hosted-login tests: Twofold at https://auth.twofold.test:PORT
and the app at https://app.example.test:PORT, both answered on 127.0.0.1.

`.test` names never resolve (RFC 6761), so each program is told where they are: Chromium with
`--host-resolver-rules`, this pytest process by a wrapper around `socket.getaddrinfo` (the SDKs
driven from Python, and the fixtures' readiness checks), Node.js by a preloaded module
(sdk/hosts.cjs). `example.test` and `twofold.test` are different registrable domains, so the
app and Twofold are different *sites*: Twofold's session cookie is third-party in an iframe the
app embeds, as in production. One certificate, issued by the session's test CA (the one the
browser's NSS database trusts), names both hosts. Twofold's WebAuthn RP ID follows its own
host (TWOFOLD_DOMAIN), so passkeys belong to auth.twofold.test.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Playwright

from e2e._server import Client, Tls, TwofoldServer

AUTH_HOST = "auth.twofold.test"
APP_HOST = "app.example.test"
TEST_HOSTS = (AUTH_HOST, APP_HOST)
LOOPBACK = "127.0.0.1"
HOST_RESOLVER_RULES = "--host-resolver-rules=" + ",".join(
    f"MAP {host} {LOOPBACK}" for host in TEST_HOSTS
)
# What a client of the hosted login needs: the authorization code grant (with refresh tokens),
# and the implicit grant for response_type=id_token (express-openid-connect's default).
BROWSER_GRANTS = "authorization_code implicit refresh_token"
MULTI_FACTOR_ACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


def two_site_tls(tls: Tls, directory: Path) -> Tls:
    """A server certificate for both hosts (and 127.0.0.1), from the session's test CA."""
    leaf = tls.ca.issue_cert(*TEST_HOSTS, LOOPBACK, "localhost")
    cert_file = directory / "sites-chain.pem"
    key_file = directory / "sites-key.pem"
    cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key_file))
    return Tls(ca=tls.ca, ca_file=tls.ca_file, cert_file=cert_file, key_file=key_file)


@contextlib.contextmanager
def hosts_resolved() -> Iterator[None]:
    """socket.getaddrinfo answers 127.0.0.1 for the two test hosts while this is open; every
    other name goes to the real resolver. httpx (sync and async, through asyncio's
    getaddrinfo) and requests all ask socket.getaddrinfo."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        return real(LOOPBACK if name in TEST_HOSTS else host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = real


def node_env(tls: Tls) -> dict[str, str]:
    """Node.js trusting the test CA (added to its built-in roots) and finding the test hosts."""
    hosts = Path(__file__).parent / "sdk" / "hosts.cjs"
    env = dict(os.environ)
    env["NODE_EXTRA_CA_CERTS"] = str(tls.ca_file)
    env["NODE_OPTIONS"] = f"{env.get('NODE_OPTIONS', '')} --require {hosts}".strip()
    env["TWOFOLD_TEST_HOSTS"] = ",".join(TEST_HOSTS)
    return env


class AuthServer(TwofoldServer):
    """Twofold as https://auth.twofold.test:PORT: its issuer, its cookies' host and its
    WebAuthn RP ID."""

    @property
    def domain(self) -> str:
        return f"{AUTH_HOST}:{self.port}"

    def app_client(
        self,
        name: str,
        *,
        callbacks: Sequence[str],
        logout_urls: Sequence[str] = (),
        web_origins: Sequence[str] = (),
        auth_method: str = "client_secret_basic",
    ) -> Client:
        """A confidential client, as a server-side app is: it has a secret (sent with HTTP
        Basic by default, as express-openid-connect and Authlib do)."""
        args = client_args(callbacks, logout_urls, web_origins)
        return self.create_client(name, "--auth-method", auth_method, *args)

    def spa_client(
        self,
        name: str,
        *,
        callbacks: Sequence[str],
        logout_urls: Sequence[str] = (),
        web_origins: Sequence[str] = (),
    ) -> Client:
        """A public client, as a single-page app is: no secret, PKCE."""
        args = client_args(callbacks, logout_urls, web_origins)
        return self.create_client(name, "--auth-method", "none", *args)


def client_args(
    callbacks: Sequence[str], logout_urls: Sequence[str], web_origins: Sequence[str]
) -> list[str]:
    args = ["--grant-types", BROWSER_GRANTS]
    for flag, values in (
        ("--callback", callbacks),
        ("--logout-url", logout_urls),
        ("--web-origin", web_origins),
    ):
        for value in values:
            args += [flag, value]
    return args


def write_profile_preferences(profile: Path, *, block_third_party_cookies: bool) -> None:
    """The profile's preferences before Chromium first opens it. Blocking third-party cookies
    is the setting a person turns on in chrome://settings/cookies ("Block third-party
    cookies"): `profile.cookie_controls_mode` 1 (CookieControlsMode::kBlockThirdParty)."""
    default = profile / "Default"
    default.mkdir(parents=True, exist_ok=True)
    mode = 1 if block_third_party_cookies else 0
    prefs = {"profile": {"cookie_controls_mode": mode, "block_third_party_cookies": mode == 1}}
    (default / "Preferences").write_text(json.dumps(prefs))


def launch(
    playwright: Playwright,
    *,
    chromium: Path,
    args: list[str],
    home: Path,
    profile: Path,
    block_third_party_cookies: bool = False,
) -> BrowserContext:
    """Debian's Chromium on a fresh profile, trusting the test CA through `home`'s NSS
    database and finding both test hosts."""
    write_profile_preferences(profile, block_third_party_cookies=block_third_party_cookies)
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(chromium),
        headless=True,
        args=[*args, HOST_RESOLVER_RULES],
        env={**os.environ, "HOME": str(home)},
        viewport={"width": 1000, "height": 900},
    )
