"""What a person does on Twofold's hosted login pages, in Playwright's words, by the pages'
contract: /u/login (`#login-form`, `#username`, `#password`, `#login-submit`, and
`#passkey-button`), /u/mfa (`#mfa-form`, `#code`, `#remember`, `#mfa-submit`,
`a.factor[data-type=…]`, `#passkey-button`), /u/mfa-enroll (`#totp-qr`, `#totp-secret`,
`#code`, `#enroll-submit`), a new recovery code in `#recovery-code` with `#continue`, errors in
`#error`. Each step that lands on a page takes its screenshot."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, Request, Response, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from e2e._otp import MAX_STEP_WAIT, PERIOD, code_for_step, current_step
from e2e._server import User

from ._sites import APP_HOST, AUTH_HOST

LOGIN = "/u/login"
MFA = "/u/mfa"
ENROLL = "/u/mfa-enroll"
RECOVERY_CODE = re.compile(r"^[0-9A-Z]{24}$")
TOTP_SECRET = re.compile(r"^[A-Z2-7]{16,}$")
# A TOTP code is entered within a second or two; a step with less left than this is skipped.
TOTP_MARGIN = 3.0


class Shots(Protocol):
    def __call__(self, step: str, target: Page | None = None) -> Path: ...


def hosted_page(path: str) -> re.Pattern[str]:
    """The URL of one of Twofold's pages, with its transaction (?state=…)."""
    return re.compile(rf"^https://{re.escape(AUTH_HOST)}:\d+{re.escape(path)}\?(.*&)?state=")


def app_page(path: str = "/") -> re.Pattern[str]:
    return re.compile(rf"^https://{re.escape(APP_HOST)}:\d+{re.escape(path)}")


def arrive(page: Page, url: re.Pattern[str], what: str, timeout: float = 15_000) -> None:
    """Wait until the page is at `url`; else fail saying where the browser is and what it
    shows."""
    try:
        page.wait_for_url(url, timeout=timeout)
    except PlaywrightTimeout:
        shown = page.locator("body").inner_text(timeout=2_000)[:500] if page.url else ""
        raise AssertionError(f"expected {what}; the browser is at {page.url}:\n{shown}") from None


def transaction(page: Page) -> str:
    """The hosted page's `state` (its transaction)."""
    values = parse_qs(urlsplit(page.url).query).get("state", [])
    assert len(values) == 1, page.url
    return values[0]


def login_page(page: Page, shots: Shots, name: str = "login") -> str:
    arrive(page, hosted_page(LOGIN), f"the login page ({LOGIN})")
    expect(page.locator("#login-form")).to_be_visible()
    shots(name, page)
    return transaction(page)


def sign_in(page: Page, user: User, shots: Shots, name: str = "login") -> None:
    """On /u/login: the email address and password, then submit."""
    login_page(page, shots, name)
    page.fill("#username", user.email)
    page.fill("#password", user.password)
    page.click("#login-submit")


def mfa_page(page: Page, shots: Shots, name: str = "mfa") -> str:
    """On /u/mfa, with the current factor's form: a code (`#mfa-form`), a passkey
    (`#passkey-form`) or a push notification (`#push-form`)."""
    arrive(page, hosted_page(MFA), f"the MFA page ({MFA})")
    expect(page.locator("#mfa-form, #passkey-form, #push-form").first).to_be_visible()
    shots(name, page)
    return transaction(page)


def give_code(page: Page, code: str, *, remember: bool = False) -> None:
    """On /u/mfa: a one-time or recovery code, "remember this browser" as asked, submit."""
    page.fill("#code", code)
    if remember:
        page.check("#remember")
    elif page.locator("#remember").count():
        page.uncheck("#remember")
    page.click("#mfa-submit")


def choose_factor(page: Page, kind: str, shots: Shots) -> None:
    """On /u/mfa: switch to another factor (otp, recovery-code, email, passkey, push)."""
    page.click(f'a.factor[data-type="{kind}"]')
    arrive(page, hosted_page(MFA), f"the MFA page ({MFA})")
    shots(f"mfa-{kind}", page)


def use_passkey(page: Page, shots: Shots) -> None:
    """On /u/mfa: the passkey, switching to it first when another factor is shown (the CDP
    virtual authenticator answers)."""
    if not page.locator("#passkey-button").is_visible():
        choose_factor(page, "passkey", shots)
    page.click("#passkey-button")


def enroll_totp(page: Page, shots: Shots) -> Totp:
    """On /u/mfa-enroll: read the shown secret (the QR code must be an image), confirm it with a
    code; the authenticator app it made."""
    arrive(page, hosted_page(ENROLL), f"the MFA enrolment page ({ENROLL})")
    expect(page.locator("#totp-qr")).to_be_visible()
    shots("enroll-totp", page)
    # The image decodes (an SVG has no natural width of its own) and is drawn large enough.
    drawn = page.eval_on_selector("#totp-qr", "i => i.decode().then(() => true, () => false)")
    assert drawn is True, "the QR code is not an image the browser can draw"
    box = page.locator("#totp-qr").bounding_box()
    assert box is not None
    assert box["width"] >= 100, box
    secret = page.locator("#totp-secret").inner_text().replace(" ", "").strip()
    assert TOTP_SECRET.fullmatch(secret), secret
    device = Totp(secret)
    page.fill("#code", device.code())
    page.click("#enroll-submit")
    return device


def new_recovery_code(page: Page, shots: Shots, name: str = "recovery-code") -> str:
    """The recovery code shown once (after an enrolment, or after signing in with the old one);
    `#continue` goes on."""
    expect(page.locator("#recovery-code")).to_have_text(RECOVERY_CODE)
    code = page.locator("#recovery-code").inner_text().strip()
    shots(name, page)
    page.click("#continue")
    return code


def refused(response: Response | None, page: Page, shots: Shots, name: str) -> str:
    """A request Twofold refuses: an HTML page with status 400 on Twofold's host, the reason in
    `#error`, and no redirect anywhere; the reason."""
    assert response is not None
    assert response.status == 400, (response.status, response.url)
    assert response.request.redirected_from is None, response.request.redirected_from.url
    assert urlsplit(page.url).hostname == AUTH_HOST, page.url
    error = page.locator("#error")
    expect(error).to_be_visible()
    assert error.get_attribute("role") == "alert"
    shots(name, page)
    return error.inner_text()


@dataclass
class Totp:
    """An authenticator app: the next code the server will take (each step only once, the
    current and the previous step accepted)."""

    secret: str
    last_step: int = -1

    def code(self) -> str:
        deadline = time.monotonic() + MAX_STEP_WAIT
        while True:
            now = time.time()
            step = current_step(now)
            left = PERIOD - now % PERIOD
            for candidate in (step - 1, step) if left > TOTP_MARGIN else (step,):
                if candidate > self.last_step:
                    self.last_step = candidate
                    return code_for_step(self.secret, candidate)
            assert time.monotonic() < deadline, "no TOTP step came free"
            time.sleep(min(left + 0.05, 1.0))


def record_requests(page: Page) -> list[Request]:
    """Every request any tab or frame of the page's browser sends to Twofold, from now on."""
    seen: list[Request] = []

    def record(request: Request) -> None:
        if urlsplit(request.url).hostname == AUTH_HOST:
            seen.append(request)

    page.context.on("request", record)
    return seen


def query(request: Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(request.url).query).items()}


def sent_to(requests: list[Request], path: str) -> list[dict[str, str]]:
    """The query parameters of the requests to `path`, in order."""
    return [query(r) for r in requests if urlsplit(r.url).path == path]
