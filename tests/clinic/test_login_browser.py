"""The staff login in a real browser (Debian chromium, headless): password and TOTP code in
one form, under the site's Content-Security-Policy, then the staff start page and logout."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.clinic.staff import PASSWORD, current_code, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page(live_server, settings) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    settings.SESSION_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.CSRF_COOKIE_SECURE = False
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # ORM calls between browser steps
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(base_url=live_server.url, locale="en-GB")
        yield context.new_page()
        context.close()
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_a_sonographer_logs_in_with_password_and_code_and_out_again(page: Page):
    _, device = make_staff("anna", "sonographer")
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto("/staff/")
    assert page.url.endswith("/staff/login/?next=/staff/")
    page.get_by_label("User name").fill("anna")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_label("Code from your authenticator app").fill(current_code(device))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("User name, password or code is not correct")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(current_code(device))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Logged in as anna.")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    assert not [text for text in console if "Content Security Policy" in text]
