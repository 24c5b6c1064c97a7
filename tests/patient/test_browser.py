"""The patient's pages in a real browser: Debian chromium through Playwright, headless, at a
phone and a desktop viewport, against the app under Django's live server.

Screenshots go to test-artifacts/patient/. Each page is also checked with axe-core (WCAG 2.1
A and AA rules) and for Content-Security-Policy violations in the console.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from echoshare.portal.models import Clinic, Share
from echoshare.portal.services import clinic_create
from tests.patient.sample_media import clip_mp4, photo_jpeg, ultrasound_share

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS: dict[str, dict[str, object]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
PASSWORD = "Kx7mPq4R"
DELETE_CODE = "AB7K"
PHOTOS = 3
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make
    # between browser steps are ordinary synchronous ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def context(browser: Browser, live_server, settings, viewport: str) -> Iterator[BrowserContext]:  # type: ignore[no-untyped-def]
    # The live server speaks plain HTTP; production cookies are Secure-only.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    ctx = browser.new_context(
        base_url=live_server.url, accept_downloads=True, **VIEWPORTS[viewport]
    )
    yield ctx
    ctx.close()


@pytest.fixture
def clinic(transactional_db: None) -> Clinic:
    return clinic_create(name="Echopraktijk De Linde")


@pytest.fixture
def shared(clinic: Clinic) -> tuple[Share, str]:
    return ultrasound_share(
        clinic=clinic, password=PASSWORD, delete_code=DELETE_CODE, photos=PHOTOS
    )


@pytest.fixture
def shots(artifacts_dir: Path, viewport: str):  # type: ignore[no-untyped-def]
    folder = artifacts_dir / "patient"
    folder.mkdir(exist_ok=True)

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(folder / f"{viewport}-{name}.png"), full_page=True)

    return shot


class Console:
    """Errors the page logged: a CSP violation shows up here."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def assert_no_csp_violation(self) -> None:
        assert not [e for e in self.errors if "Content Security Policy" in e], self.errors


def assert_accessible(page: Page) -> None:
    """axe-core's WCAG 2.1 A/AA rules find nothing. Loaded through the DevTools protocol,
    which the page's CSP does not govern (the page itself loads no third-party script)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    violations = page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))
            .violations.map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target).join(' ')})`)""",
        WCAG_TAGS,
    )
    assert violations == [], page.url


def open_with_password(page: Page, token: str) -> None:
    page.goto(f"/s/{token}")
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Wachtwoord controleren").click()
    expect(page).to_have_url(re.compile(rf"/s/{re.escape(token)}/gallery$"))
    # Taps land where they aim only once the images and the clip's metadata are in.
    page.wait_for_function(
        """() => [...document.images].every(i => i.complete)
            && [...document.querySelectorAll('video')].every(v => v.readyState >= 1)"""
    )


def test_wrong_then_right_password_shows_every_photo(context, shared, shots) -> None:  # type: ignore[no-untyped-def]
    _share, token = shared
    page = context.new_page()
    console = Console(page)
    page.goto(f"/s/{token}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Echopraktijk De Linde")
    assert_accessible(page)
    shots(page, "link")
    page.get_by_label("Wachtwoord").fill("wrong-password")
    page.get_by_role("button", name="Wachtwoord controleren").click()
    expect(page.get_by_role("alert")).to_contain_text("Dit wachtwoord klopt niet")
    assert_accessible(page)
    shots(page, "wrong-password")
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Wachtwoord controleren").click()
    expect(page).to_have_url(re.compile(r"/gallery$"))
    thumbs = page.locator(".thumbs img")
    expect(thumbs).to_have_count(PHOTOS)
    for index in range(PHOTOS):
        thumbs.nth(index).scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=thumbs.nth(index).element_handle()
        )
    expect(page.get_by_text("Beschikbaar tot en met")).to_be_visible()
    expect(page.get_by_text("download ze via wifi of op een computer")).to_be_visible()
    page.evaluate("() => window.scrollTo(0, 0)")
    assert_accessible(page)
    shots(page, "gallery")
    console.assert_no_csp_violation()


def swipe_left(page: Page, viewport: str) -> None:
    """Right to left across the photo: a finger on the phone, the mouse on the desktop."""
    box = page.locator("figure.full").bounding_box()
    assert box is not None
    y, start, end = box["y"] + box["height"] / 2, box["x"] + box["width"] * 0.8, box["x"] + 20
    if viewport != "phone":
        page.mouse.move(start, y)
        page.mouse.down()
        page.mouse.move(end, y, steps=5)
        page.mouse.up()
        return
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start, "y": y}]}
    )
    for step in range(1, 6):
        x = start + (end - start) * step / 5
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_tap_for_full_view_and_swipe_between_photos(context, shared, shots, viewport) -> None:  # type: ignore[no-untyped-def]
    share, token = shared
    stills = list(share.items.filter(kind="still").order_by("position"))
    page = context.new_page()
    open_with_password(page, token)
    page.get_by_role("link", name="Echofoto 1", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/photo/{stills[0].public_id}$"))
    full = page.locator("figure.full img")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 640", arg=full.element_handle()
    )
    assert_accessible(page)
    shots(page, "photo")
    swipe_left(page, viewport)
    expect(page).to_have_url(re.compile(rf"/photo/{stills[1].public_id}$"))
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(re.compile(rf"/photo/{stills[0].public_id}$"))
    page.get_by_role("link", name="Volgende").click()  # without the script: a plain link
    expect(page).to_have_url(re.compile(rf"/photo/{stills[1].public_id}$"))


def test_the_clip_plays_through_range_requests(context, shared) -> None:  # type: ignore[no-untyped-def]
    share, token = shared
    clip = share.items.get(kind="clip")
    page = context.new_page()
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if f"/m/{clip.public_id}/full" in r.url else None,
    )
    open_with_password(page, token)
    video = page.locator("video")
    assert video.get_attribute("playsinline") is not None
    assert video.get_attribute("poster") == f"/s/{token}/m/{clip.public_id}/poster"
    video.scroll_into_view_if_needed()
    page.evaluate("() => document.querySelector('video').play()")
    page.wait_for_function("() => document.querySelector('video').currentTime > 0.3", timeout=15000)
    assert page.evaluate("() => document.querySelector('video').videoWidth") == 320
    assert 206 in statuses  # the player asked for byte ranges and got them


def test_one_download_and_download_all(context, shared) -> None:  # type: ignore[no-untyped-def]
    _share, token = shared
    page = context.new_page()
    open_with_password(page, token)
    with page.expect_download() as single:
        page.locator(".thumbs .download-link").first.click()
    assert single.value.suggested_filename == "echo-01.jpg"
    assert Path(single.value.path()).read_bytes() == photo_jpeg(0)
    with page.expect_download() as everything:
        page.get_by_role("link", name=re.compile("Alles downloaden")).click()
    assert everything.value.suggested_filename == "echo.zip"
    data = Path(everything.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        expected = [f"echo-{n:02d}.jpg" for n in range(1, PHOTOS + 1)] + ["echo-clip-01.mp4"]
        assert archive.namelist() == expected
        for number in range(PHOTOS):
            assert archive.read(f"echo-{number + 1:02d}.jpg") == photo_jpeg(number)
        assert archive.read("echo-clip-01.mp4") == clip_mp4()


def test_save_to_photos_hands_every_file_to_the_share_sheet(context, shared) -> None:  # type: ignore[no-untyped-def]
    share, token = shared
    # Headless chromium on Linux has no share sheet: stand in for the phone's Web Share API.
    # The first call fails as Safari does when fetching outlasted the tap's permission.
    context.add_init_script(
        """navigator.canShare = (data) => !!(data && data.files);
        window.shareCalls = 0;
        navigator.share = async (data) => {
          window.shareCalls += 1;
          if (window.shareCalls === 1) { throw new DOMException("too late", "NotAllowedError"); }
          window.sharedFiles = data.files.map(f => ({name: f.name, type: f.type, size: f.size}));
        };"""
    )
    page = context.new_page()
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if r.resource_type == "fetch" else None)
    open_with_password(page, token)
    button = page.get_by_role("button", name="Bewaren in Foto's")
    expect(button).to_be_visible()
    button.click()
    expect(page.locator("#save-status")).to_contain_text("tik nog een keer")
    button.click()
    page.wait_for_function("() => window.sharedFiles !== undefined")
    shared_files = page.evaluate("() => window.sharedFiles")
    items = list(share.items.order_by("position"))
    expected = [{"name": i.file_name, "type": i.content_type, "size": i.size} for i in items]
    assert shared_files == expected
    assert len(fetched) == len(items)  # each file fetched once, kept for the second tap


def test_save_to_photos_stays_hidden_without_web_share(context, shared) -> None:  # type: ignore[no-untyped-def]
    _share, token = shared
    context.add_init_script(
        "delete Navigator.prototype.canShare; delete Navigator.prototype.share;"
    )
    page = context.new_page()
    open_with_password(page, token)
    expect(page.get_by_role("link", name=re.compile("Alles downloaden"))).to_be_visible()
    expect(page.locator("#save-to-photos")).to_be_hidden()


def test_delete_from_the_menu_without_the_password(context, shared, shots) -> None:  # type: ignore[no-untyped-def]
    share, token = shared
    page = context.new_page()
    console = Console(page)
    page.goto(f"/s/{token}")
    page.get_by_text("Menu", exact=True).click()
    page.get_by_role("link", name="Verwijderen").click()
    expect(page).to_have_url(re.compile(r"/delete$"))
    assert_accessible(page)
    page.get_by_label("Verwijdercode").fill("ZZZZ")
    page.get_by_label("Ja, verwijder nu alle foto's en filmpjes").check()
    page.get_by_role("button", name="Verwijderen").click()
    expect(page.get_by_role("alert")).to_contain_text("Deze code klopt niet")
    assert_accessible(page)
    shots(page, "delete-wrong-code")
    page.get_by_label("Verwijdercode").fill(DELETE_CODE.lower())
    page.get_by_label("Ja, verwijder nu alle foto's en filmpjes").check()
    page.get_by_role("button", name="Verwijderen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Uw foto's en filmpjes zijn verwijderd"
    )
    expect(page.get_by_text("zoals de wet voorschrijft")).to_be_visible()
    assert_accessible(page)
    shots(page, "deleted")
    share.refresh_from_db()
    assert share.state == Share.State.DELETED_BY_PATIENT
    page.goto(f"/s/{token}")
    expect(page.get_by_text("Deze link is verlopen of verwijderd")).to_be_visible()
    expect(page.get_by_text("This link has expired or was removed")).to_be_visible()
    assert_accessible(page)
    shots(page, "gone")
    console.assert_no_csp_violation()


def test_the_pages_in_english(context, shared, shots) -> None:  # type: ignore[no-untyped-def]
    _share, token = shared
    page = context.new_page()
    page.goto(f"/s/{token}")
    page.get_by_text("Menu", exact=True).click()
    page.get_by_role("link", name="English").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Verify password").click()
    expect(page).to_have_url(re.compile(r"/gallery$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your ultrasound photos and clips")
    expect(page.get_by_text("Available until")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert_accessible(page)
    shots(page, "gallery-en")
    page.get_by_text("Menu", exact=True).click()
    page.get_by_role("link", name="Nederlands").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Uw echofoto's en -filmpjes")


def test_the_menu_works_from_the_keyboard(context, shared) -> None:  # type: ignore[no-untyped-def]
    _share, token = shared
    page = context.new_page()
    page.goto(f"/s/{token}")
    page.locator("summary").focus()
    page.keyboard.press("Enter")
    delete_link = page.get_by_role("link", name="Verwijderen")
    expect(delete_link).to_be_visible()
    delete_link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/delete$"))
