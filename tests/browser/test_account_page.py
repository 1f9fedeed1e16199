"""The account page in headless Chromium against a real server over HTTPS: a person signs in
with the password and TOTP, adds a passkey (a CDP virtual authenticator), signs out and back in
with the passkey, adds an authenticator app by its shown key, renames and deletes a method and
makes a new recovery code. Also: the page's policy and markup as served, the page switched off,
the sign-in done with the keyboard alone, and the page on a phone's screen. Screenshots of each
step go to test-output/browser/<test>/."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e._otp import code_for_step, current_step
from e2e._server import Tls

from . import _account as person
from .conftest import Site, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
Shots = Callable[[str], Path]
RECOVERY_CODE = re.compile(r"^[0-9A-Z]{24}$")


def test_a_person_manages_their_factors(site: Site, page: Page, shots: Shots) -> None:
    alice = site.users["alice"]
    secret = person.give_totp(site, alice)
    authenticator = person.virtual_authenticator(page)

    page.goto(site.page_url)
    shots("sign-in")
    person.sign_in_with_password(page, alice)
    expect(page.locator("#factor")).to_be_visible()
    expect(page.locator("#factor-select")).to_contain_text("Authenticator app")
    shots("second-step")
    page.click("#factor-choice button[type=submit]")
    person.give_code(page, person.totp_now(secret))
    person.signed_in(page)
    expect(page.locator("#methods > li")).to_have_count(1)
    shots("signed-in-with-password-and-totp")

    person.add(page, "Passkey")
    expect(person.method(page, "Passkey")).to_be_visible()
    assert len(person.credentials(authenticator)) == 1
    shots("passkey-added")

    page.click("#sign-out")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#methods > li")).to_have_count(0)
    shots("signed-out")

    page.click("#passkey-sign-in")
    person.signed_in(page)
    expect(page.locator("#methods > li")).to_have_count(2)
    shots("signed-in-with-passkey")

    person.add(page, "Authenticator app")
    expect(page.locator("#enrol-qr")).to_be_visible()
    expect(page.locator("#enrol-key")).to_have_text(re.compile(r"^[A-Z2-7]{32}$"))
    key = page.locator("#enrol-key").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", key), key
    qr_width = page.eval_on_selector("#enrol-qr", "img => img.complete && img.naturalWidth")
    assert isinstance(qr_width, int)
    assert qr_width > 100
    shots("authenticator-app-shown")
    page.fill("#enrol-code-input", code_for_step(key, current_step()))
    page.click("#enrol-code button[type=submit]")
    expect(page.locator("#status")).to_have_text("Authenticator app added.")
    expect(page.locator("#methods > li")).to_have_count(3)
    shots("authenticator-app-added")

    newest = page.locator("#methods > li").last
    newest.get_by_role("button", name="Rename").click()
    newest.get_by_label("New name").fill("Backup phone")
    newest.get_by_role("button", name="Save").click()
    expect(person.method(page, "Authenticator app: Backup phone")).to_be_visible()
    shots("renamed")

    renamed = person.method(page, "Backup phone")
    renamed.get_by_role("button", name="Delete").click()
    shots("delete-asked")
    renamed.get_by_role("button", name="Yes, delete").click()
    expect(person.method(page, "Backup phone")).to_have_count(0)
    expect(page.locator("#methods > li")).to_have_count(2)
    shots("deleted")

    person.add(page, "New recovery code")
    expect(page.locator("#enrol-recovery-code")).to_have_text(RECOVERY_CODE)
    code = page.locator("#enrol-recovery-code").inner_text().strip()
    assert RECOVERY_CODE.fullmatch(code), code
    shots("recovery-code-shown")
    page.click("#enrol-confirm button[type=submit]")
    expect(page.locator("#status")).to_have_text("Recovery code added.")
    expect(person.method(page, "Recovery code")).to_be_visible()
    expect(page.locator("#enrol-recovery-code")).to_be_empty()
    shots("recovery-code-made")

    # The code shown once is the one that now signs alice in.
    page.click("#sign-out")
    person.sign_in_with_password(page, alice)
    page.select_option("#factor-select", label="Recovery code")
    page.click("#factor-choice button[type=submit]")
    person.give_code(page, code)
    person.signed_in(page)
    expect(page.locator("#recovery-shown-code")).to_have_text(RECOVERY_CODE)
    shots("signed-in-with-recovery-code")


def test_the_page_is_served_under_its_policy_with_no_inline_script(site: Site, page: Page) -> None:
    response = page.goto(site.page_url)
    assert response is not None
    assert response.status == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    html = response.text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=|\sstyle=|<style", html)
    # The script did run under that policy: the page's handlers are attached.
    page.fill("#username", "nobody@browser.twofold.test")
    page.fill("#password", "wrong password")
    page.click("#password-form button[type=submit]")
    expect(page.locator("#error")).to_have_text("Wrong email or password.")
    assert page.url == site.page_url


def test_the_sign_in_form_works_with_the_keyboard_alone(
    site: Site, page: Page, shots: Shots
) -> None:
    bob = site.users["bob"]
    page.goto(site.page_url)
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "username":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type(bob.email)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(bob.password)
    shots("typed")
    page.keyboard.press("Enter")
    expect(page.locator("#account")).to_be_visible()
    # Focus follows to the new section's heading, so the next Tab starts there.
    assert page.evaluate("document.activeElement.id") == "account-title"
    expect(page.locator("#no-methods")).to_be_visible()
    shots("signed-in")


def test_the_page_fits_a_phone_screen(site: Site, page: Page, shots: Shots) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(site.page_url)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    box = page.locator("#password").bounding_box()
    assert box is not None
    assert box["width"] > 250
    shots("phone")


def test_switched_off_the_page_is_not_found(
    tmp_path_factory: pytest.TempPathFactory, tls: Tls, pycache_dir: Path, page: Page
) -> None:
    off = start_server(
        tmp_path_factory.mktemp("off"), tls, pycache_dir, (), TWOFOLD_ACCOUNT_PAGE="false"
    )
    try:
        response = page.goto(off.page_url)
        assert response is not None
        assert response.status == 404
        with off.http() as http:
            assert http.get("/account/static/account.js").status_code == 404
            assert http.post("/account/api/token", json={}).status_code == 404
    finally:
        off.server.stop()
