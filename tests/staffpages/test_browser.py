"""The staff pages in a real browser (Debian chromium, headless) under the site's CSP:
log in with TOTP, open the exam from Today, change the selection, preview, send (published
to the portal of the live server); hold blocks sending; a crop unblocks an item that needs
review; the front desk resends a message. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect, sync_playwright

from echoshare.clinic.models import Appointment, Publication, SelectedItem
from echoshare.clinic.publishing import publication_run
from echoshare.notify.models import Message
from tests.clinic.staff import PASSWORD, current_code, make_staff
from tests.publishing.conftest import portal_clinic  # noqa: F401 - fixture
from tests.staffpages.conftest import book, exam_instances, ingest

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
def page(live_server: Any, settings: Any) -> Iterator[Page]:
    settings.SESSION_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.CSRF_COOKIE_SECURE = False
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # ORM calls between browser steps
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(base_url=live_server.url, locale="en-GB")
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        yield page
        context.close()
        browser.close()
        assert not [text for text in console if "Content Security Policy" in text], console
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _assert_accessible(page: Page) -> None:
    """axe-core's WCAG 2.1 A/AA rules find nothing (loaded through DevTools, not the page)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    violations = page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))
            .violations.map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target).join(' ')})`)""",
        WCAG_TAGS,
    )
    assert violations == [], (page.url, violations)


def _log_in(page: Page, user: User, device: TOTPDevice, start: str = "/staff/today/") -> None:
    page.goto(start)
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(current_code(device))
    page.get_by_role("button", name="Log in").click()


def _shot(page: Page, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"staffpages-{name}.png"), full_page=True)


@pytest.mark.usefixtures("portal_clinic")
def test_a_sonographer_changes_the_selection_previews_and_sends(
    page: Page,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    exam = book(days_ahead=0)
    ingest(exam, tmp_path / "in")
    ingest(exam, tmp_path / "in", frames=3)
    ingest(exam, tmp_path / "in", for_patient=False)
    first, _clip, extra = exam_instances(exam)
    _log_in(page, *make_staff("sonja", "sonographer"))
    _assert_accessible(page)  # Today
    _shot(page, artifacts_dir, "today")
    page.get_by_role("link", name="Vandermeulen, Annelies").click()
    expect(page.get_by_role("heading", name="Vandermeulen, Annelies")).to_be_visible()
    expect(page.locator(".tile.picked")).to_have_count(2)
    _assert_accessible(page)
    # Untick the clip, tick the third image and put it first.
    page.get_by_label("Clip 2 (3 frames)").uncheck()
    page.get_by_label("Image 3").check()
    page.locator(f'input[name="order-{extra.key}"]').fill("1")
    page.locator(f'input[name="order-{first.key}"]').fill("2")
    page.get_by_role("button", name="Save selection").click()
    expect(page.get_by_text("Selection saved.")).to_be_visible()
    assert list(
        SelectedItem.objects.filter(appointment=exam)
        .order_by("position")
        .values_list("instance__key", flat=True)
    ) == [extra.key, first.key]
    # The previews (what the patient gets, outlined) load as images.
    previews = page.locator("img.preview")
    expect(previews).to_have_count(2)
    for index in range(2):
        previews.nth(index).scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=previews.nth(index).element_handle()
        )
    _shot(page, artifacts_dir, "exam-selection")
    page.get_by_role("button", name="Send to patient").first.click()
    expect(page.get_by_text("Sending to the patient.")).to_be_visible()
    publication = Publication.objects.get(appointment=exam)
    publication_run(publication_id=publication.pk)  # the worker's job, against the live portal
    page.reload()
    expect(page.locator("#exam-state")).to_have_text("sent")
    expect(page.get_by_role("heading", name="Share of")).to_contain_text("sent")
    _shot(page, artifacts_dir, "exam-sent")
    assert Publication.objects.get(pk=publication.pk).items == 2


def test_an_exam_on_hold_cannot_be_sent(page: Page, tmp_path: Path, artifacts_dir: Path) -> None:
    exam = book(days_ahead=0)
    ingest(exam, tmp_path / "in")
    _log_in(
        page, *make_staff("sonja", "sonographer"), start=f"/staff/exams/{exam.accession_number}/"
    )
    page.get_by_role("button", name="Hold").click()
    expect(page.locator("#blockers")).to_contain_text("on hold")
    send = page.get_by_role("button", name="Send to patient")
    expect(send).to_be_disabled()
    _shot(page, artifacts_dir, "exam-on-hold")
    page.get_by_role("button", name="Release").click()
    expect(page.get_by_role("button", name="Send to patient")).to_be_enabled()
    assert not Publication.objects.filter(appointment=exam).exists()


def test_an_item_needing_review_blocks_sending_until_a_crop_is_set(
    page: Page, tmp_path: Path, artifacts_dir: Path
) -> None:
    exam = book(days_ahead=0)
    unclear = ingest(exam, tmp_path / "in", regions=None)
    _log_in(
        page, *make_staff("sonja", "sonographer"), start=f"/staff/exams/{exam.accession_number}/"
    )
    expect(page.locator("#blockers")).to_contain_text("needs review")
    expect(page.get_by_role("button", name="Send to patient")).to_be_disabled()
    preview = page.locator("img.preview")
    preview.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=preview.element_handle()
    )
    _shot(page, artifacts_dir, "exam-needs-review")
    _assert_accessible(page)
    # Two clicks on the preview set the crop box's corners (scaled to image pixels).
    box = preview.bounding_box()
    assert box is not None
    preview.click(position={"x": box["width"] * 0.15, "y": box["height"] * 0.25})
    preview.click(position={"x": box["width"] * 0.55, "y": box["height"] * 0.75})
    x0 = int(page.locator('input[name="x0"]').input_value())
    x1 = int(page.locator('input[name="x1"]').input_value())
    assert 0 < x0 < x1 < unclear.columns
    page.get_by_role("button", name="Save crop box").click()
    expect(page.get_by_text("Crop box saved.")).to_be_visible()
    expect(page.get_by_role("button", name="Send to patient")).to_be_enabled()
    _shot(page, artifacts_dir, "exam-crop-set")
    page.get_by_role("button", name="Send to patient").click()
    expect(page.get_by_text("Sending to the patient.")).to_be_visible()
    assert Publication.objects.filter(appointment=exam).count() == 1


def test_the_front_desk_resends_a_message_from_the_outbox(page: Page, artifacts_dir: Path) -> None:
    exam: Appointment = book(days_ahead=0)
    message = Message.objects.filter(patient_ref=exam.patient.patient_id).first()
    assert message is not None
    Message.objects.filter(pk=message.pk).update(
        state=Message.State.GAVE_UP, last_error="provider said: number unreachable"
    )
    _log_in(page, *make_staff("fiona", "frontdesk"))
    page.get_by_role("link", name="Outbox").click()
    expect(page.get_by_text("provider said: number unreachable")).to_be_visible()
    _shot(page, artifacts_dir, "outbox")
    _assert_accessible(page)
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_text("The message is queued again.")).to_be_visible()
    message.refresh_from_db()
    assert message.state == Message.State.QUEUED and message.retried_by is not None
    # The front desk sees no images and no selection controls on the exam.
    page.goto(f"/staff/exams/{exam.accession_number}/")
    expect(page.get_by_role("button", name="Save selection")).to_have_count(0)
    expect(page.get_by_role("button", name="Send to patient")).to_have_count(0)


def test_today_and_the_thumbnails_update_without_a_reload(page: Page, tmp_path: Path) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from echoshare.clinic.staff.thumbnails import thumbnail_make

    exam = book(days_ahead=0)
    image = ingest(exam, tmp_path / "in")
    _log_in(page, *make_staff("sonja", "sonographer"))
    state = page.locator("#today-rows [data-state]")
    expect(state).to_have_text("images received")
    Publication.objects.create(
        appointment=exam,
        state=Publication.State.OPENED,
        idempotency_key="browser-refresh",
        expires_at=timezone.now() + timedelta(days=60),
    )
    expect(state).to_have_text("opened", timeout=15_000)  # the 10-second refresh
    page.goto(f"/staff/exams/{exam.accession_number}/")
    expect(page.get_by_text("Thumbnail is being made…")).to_be_visible()
    Publication.objects.filter(appointment=exam).update(state=Publication.State.DELETED)
    expect(page.locator("#exam-state")).to_have_text("deleted by patient", timeout=15_000)
    thumbnail_make(instance=image)  # what the worker's job does
    tile = page.locator(f'.tile[data-key="{image.key}"] img')
    expect(tile).to_be_visible(timeout=10_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=tile.element_handle())


def test_dicom_files_dropped_on_the_upload_page_are_added_to_the_exam(
    page: Page, tmp_path: Path, artifacts_dir: Path
) -> None:
    from echoshare.archive.models import Instance
    from tests.staffpages.test_upload import _dicom

    exam = book(days_ahead=0)
    path = _dicom(tmp_path / "usb")
    _log_in(
        page, *make_staff("sonja", "sonographer"), start=f"/staff/exams/{exam.accession_number}/"
    )
    page.get_by_role("link", name="Upload files").click()
    # A real drop event carrying the file, as when it is dragged from the file manager.
    page.evaluate(
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name));
            const form = document.getElementById("upload-form");
            const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
            form.dispatchEvent(new DragEvent("drop", init));
        }""",
        [path.name, list(path.read_bytes())],
    )
    expect(page.locator("#outcomes")).to_contain_text("archived")
    _shot(page, artifacts_dir, "upload")
    assert Instance.objects.get(study__appointment=exam).study.appointment_id == exam.pk


def test_exported_media_dropped_or_chosen_show_on_the_exam_and_get_a_crop(
    page: Page, tmp_path: Path, artifacts_dir: Path
) -> None:
    from echoshare.clinic.models import ExportedMedia
    from tests.publishing.media_files import make_jpeg, make_png

    exam = book(days_ahead=0)
    jpeg, png = make_jpeg(tmp_path / "IMG_0001.JPG"), make_png(tmp_path / "export.png")
    _log_in(
        page, *make_staff("sonja", "sonographer"), start=f"/staff/exams/{exam.accession_number}/"
    )
    page.get_by_role("link", name="Upload files").click()
    page.evaluate(  # dropped, as from the file manager
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name));
            const form = document.getElementById("upload-form");
            const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
            form.dispatchEvent(new DragEvent("drop", init));
        }""",
        [jpeg.name, list(jpeg.read_bytes())],
    )
    expect(page.locator("#outcomes")).to_contain_text("stored with the exam")
    page.get_by_label("Files").set_input_files(str(png))  # chosen with the plain file input
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#outcomes")).to_contain_text("stored with the exam")
    assert ExportedMedia.objects.filter(appointment=exam).count() == 2

    page.get_by_role("link", name="Back to the exam").click()
    expect(page.locator(".tile.uploaded")).to_have_count(2)
    page.get_by_label("Uploaded photo 1").check()
    page.get_by_role("button", name="Save selection").click()
    item = page.locator("#items .item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("needs review")
    item.get_by_label("x0").fill("40")
    item.get_by_label("y0").fill("60")
    item.get_by_label("x1").fill("279")
    item.get_by_label("y1").fill("219")
    item.get_by_role("button", name="Save crop box").click()
    expect(page.locator("#items .item")).not_to_contain_text("needs review")
    _shot(page, artifacts_dir, "exported-media")
    _assert_accessible(page)


def test_previews_and_patient_views_made_by_the_job_replace_their_placeholders(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from django_tasks_db.models import DBTaskResult

    from echoshare.clinic.staff import item_views
    from echoshare.clinic.staff.tasks import make_item_view

    monkeypatch.setattr(item_views, "SYNC_PREVIEW_PIXELS", 0)  # as for a large frame
    exam = book(days_ahead=0)
    clip = ingest(exam, tmp_path / "in", frames=3)
    _log_in(
        page, *make_staff("sonja", "sonographer"), start=f"/staff/exams/{exam.accession_number}/"
    )
    item = SelectedItem.objects.get(instance=clip)
    jobs = DBTaskResult.objects.filter(task_path=make_item_view.module_path)
    loaded = "([img, width]) => img.complete && img.naturalWidth === width"
    for view, img in (
        ("preview", page.locator("#items img.preview")),
        ("patient", page.locator("#items .patient-view img")),
    ):
        if view == "patient":
            page.get_by_text("Show exactly what the patient gets").click()
        expect(img).to_have_attribute("data-pending-view", f"{clip.key}/{view}")
        img.scroll_into_view_if_needed()
        page.wait_for_function(loaded, arg=[img.element_handle(), 320])  # the placeholder
        deadline = time.monotonic() + 10
        while not jobs.filter(args_kwargs__kwargs__view=view).exists():
            assert time.monotonic() < deadline, "the image request queued no job"
            time.sleep(0.2)
        make_item_view.call(item_id=item.pk, view=view)  # what the worker does
        expect(img).not_to_have_attribute("data-pending-view", f"{clip.key}/{view}", timeout=15_000)
        page.wait_for_function(loaded, arg=[img.element_handle(), clip.columns])
    assert jobs.count() == 2
