"""The preview and patient view of a picked item are made by a job, never in the request (H3):
the request serves what is made, or queues the job once and answers a placeholder."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Q
from django_tasks_db.models import DBTaskResult
from PIL import Image

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.exported_media import exported_media_render, exported_media_store
from echoshare.clinic.models import Appointment, SelectedItem
from echoshare.clinic.selection import selection_items
from echoshare.clinic.staff import item_views
from echoshare.clinic.staff.item_views import PATIENT, PREVIEW, item_source, item_target
from echoshare.clinic.staff.tasks import make_item_view
from echoshare.clinic.staff.thumbnails import thumbnail_dir, thumbnails_remove
from echoshare.imaging.errors import ImageRefused
from tests.publishing.media_files import make_mp4
from tests.staffpages.conftest import exam_instances

# Every way a request could render or encode (DICOM render, exported media re-encode, the
# clip encoder, a preview's frame decode): a call from a request fails the test.
HEAVY = [
    "echoshare.imaging.render.render_frames",
    "echoshare.imaging.render.encode_clip",
    "echoshare.clinic.exported_media.render_upload",
    "echoshare.clinic.exported_media.cached_entry",
    "echoshare.imaging.preview.read_display_frame",
    "echoshare.imaging.preview.first_video_frame",
    "echoshare.imaging.preview.read_upload_image",
]


def _url(exam: Appointment, rest: str = "") -> str:
    return f"/staff/exams/{exam.accession_number}/{rest}"


def _jobs(view: str | None = None) -> list[dict[str, Any]]:
    rows = DBTaskResult.objects.filter(task_path=make_item_view.module_path)
    kwargs = [row.args_kwargs["kwargs"] for row in rows]
    return [k for k in kwargs if view is None or k["view"] == view]


def _run_jobs() -> None:
    """What the worker does: run every queued item-view job (outside any request)."""
    for kwargs in _jobs():
        make_item_view.call(**kwargs)


@pytest.fixture
def no_rendering_in_requests() -> Iterator[pytest.MonkeyPatch]:
    """Its own MonkeyPatch: `.undo()` lets the worker render, and nothing else is undone."""
    with pytest.MonkeyPatch.context() as patch:
        _forbid_rendering(patch)
        yield patch


def _forbid_rendering(patch: pytest.MonkeyPatch) -> None:
    for target in HEAVY:
        patch.setattr(target, _fail_if_called)


def _fail_if_called(*args: Any, **kwargs: Any) -> Any:
    pytest.fail("rendering was called inside a request (H3)")


@pytest.fixture
def queued_previews(monkeypatch: pytest.MonkeyPatch) -> None:
    """Previews of the small test images go to the job too (as large frames do)."""
    monkeypatch.setattr(item_views, "SYNC_PREVIEW_PIXELS", 0)


def _item(exam: Appointment, key: str) -> SelectedItem:
    return SelectedItem.objects.select_related("instance", "media").get(
        Q(instance__key=key) | Q(media__key=key), appointment=exam
    )


@pytest.mark.usefixtures("queued_previews")
def test_it_answers_a_placeholder_and_queues_one_job_then_serves_what_the_job_made(
    client_for: Any,
    exam: Appointment,
    no_rendering_in_requests: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for("sonographer")
    assert client.get(_url(exam)).status_code == 200  # the patient's picks become items
    clip = exam_instances(exam)[1]  # 3 frames: its patient render encodes an MP4
    for view, name in ((PATIENT, "patient.jpg"), (PREVIEW, "preview.jpg")):
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.get(_url(exam, f"images/{clip.key}/{name}"))
        assert time.monotonic() - started < 2
        assert response.status_code == 202
        assert response["Content-Type"].startswith("image/svg+xml")
        assert response["X-Echoshare-Pending"] == view
        assert _jobs(view) == [{"item_id": _item(exam, clip.key).pk, "view": view}]
        with django_capture_on_commit_callbacks(execute=True):  # a reload queues no more
            assert client.get(_url(exam, f"images/{clip.key}/{name}")).status_code == 202
        assert len(_jobs(view)) == 1
    page = client.get(_url(exam)).content.decode()
    assert f'data-pending-view="{clip.key}/patient"' in page
    assert f'data-pending-view="{clip.key}/preview"' in page
    assert client.get(_url(exam, "views.json")).json() == {"ready": [], "refused": []}

    no_rendering_in_requests.undo()  # the worker may render
    _run_jobs()
    ready = client.get(_url(exam, "views.json")).json()["ready"]
    assert {f"{clip.key}/patient", f"{clip.key}/preview"} <= set(ready)
    _forbid_rendering(no_rendering_in_requests)  # and requests still may not
    patient = client.get(_url(exam, f"images/{clip.key}/patient.jpg"))
    assert patient.status_code == 200 and patient.content.startswith(b"\xff\xd8")
    preview = client.get(_url(exam, f"images/{clip.key}/preview.jpg"))
    assert preview.status_code == 200 and preview.content.startswith(b"\xff\xd8")
    assert preview["X-Echoshare-Branch"] == "regions"
    assert f'data-pending-view="{clip.key}/' not in client.get(_url(exam)).content.decode()
    viewed = AuditRecord.objects.filter(event=events.PREVIEW_VIEWED, object_ref__contains=clip.key)
    assert viewed.count() == 2  # each view served, none of the placeholders


def test_the_patient_view_is_the_still_publishing_sends(client_for: Any, exam: Appointment) -> None:
    """The job renders through the publishing render cache, and the request finds that entry
    (the two compute the same cache key)."""
    from echoshare.imaging.cache import render_cached
    from echoshare.imaging.models import DeviceRule

    clip = exam_instances(exam)[1]
    client = client_for("sonographer")
    assert client.get(_url(exam)).status_code == 200
    assert client.get(_url(exam, f"images/{clip.key}/patient.jpg")).status_code == 202
    assert make_item_view.call(item_id=_item(exam, clip.key).pk, view=PATIENT) is True
    file = clip.current_file()
    assert file is not None
    published = render_cached(
        item_views.storage.absolute(file.relative_path),
        file_hash=file.sha256,
        rules=DeviceRule.objects.specs(),
    )
    assert "clip" in published.outputs  # the job rendered the whole item, MP4 included
    served = client.get(_url(exam, f"images/{clip.key}/patient.jpg"))
    assert served.content == published.outputs["still"].read_bytes()


def test_an_uploaded_clip_is_never_encoded_in_the_request(
    client_for: Any, exam: Appointment, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    media, _ = exported_media_store(  # the upload checks the file by decoding a frame
        appointment=exam, path=make_mp4(tmp_path / "clip.mp4"), name="clip.mp4", user=None
    )
    client = client_for("sonographer")
    assert client.post(_url(exam, "selection"), {"keys": [media.key]}).status_code == 303
    crop = {"x0": "10", "y0": "10", "x1": "169", "y1": "129"}
    assert client.post(_url(exam, f"images/{media.key}/crop"), crop).status_code == 303
    with pytest.MonkeyPatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        _forbid_rendering(patch)
        assert client.get(_url(exam)).status_code == 200
        assert client.get(_url(exam, f"images/{media.key}/patient.jpg")).status_code == 202
    assert _jobs(PATIENT) == [{"item_id": _item(exam, media.key).pk, "view": PATIENT}]
    _run_jobs()
    item = _item(exam, media.key)
    rendered = exported_media_render(media=media, crop=item_views.item_crop(item))
    assert "clip" in rendered.outputs  # the MP4 was encoded, by the job
    still = client.get(_url(exam, f"images/{media.key}/patient.jpg"))
    assert still.status_code == 200
    assert still.content == rendered.outputs["still"].read_bytes()
    with Image.open(io.BytesIO(still.content)) as image:
        assert image.size == (160, 120)


def test_a_large_uploaded_photo_is_previewed_by_the_job_a_small_one_in_the_request(
    client_for: Any, exam: Appointment, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    Image.new("RGB", (1024, 768), (90, 90, 90)).save(big)
    Image.new("RGB", (320, 240), (90, 90, 90)).save(small)
    client = client_for("sonographer")
    keys = []
    for path in (big, small):
        media, _ = exported_media_store(appointment=exam, path=path, name=path.name, user=None)
        keys.append(media.key)
    assert client.post(_url(exam, "selection"), {"keys": keys}).status_code == 303
    big_key, small_key = keys
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.get(_url(exam, f"images/{big_key}/preview.jpg"))
        made_now = client.get(_url(exam, f"images/{small_key}/preview.jpg"))
    assert queued.status_code == 202
    assert made_now.status_code == 200 and made_now["X-Echoshare-Branch"] == "needs_review"
    assert _jobs(PREVIEW) == [{"item_id": _item(exam, big_key).pk, "view": PREVIEW}]
    _run_jobs()
    preview = client.get(_url(exam, f"images/{big_key}/preview.jpg"))
    assert preview.status_code == 200 and preview["X-Echoshare-Branch"] == "needs_review"
    with Image.open(io.BytesIO(preview.content)) as image:
        assert image.size == (1024, 768)
    # A crop is a new preview: queued again, the old one is not served for it.
    crop = {"x0": "10", "y0": "10", "x1": "500", "y1": "400"}
    assert client.post(_url(exam, f"images/{big_key}/crop"), crop).status_code == 303
    assert client.get(_url(exam, f"images/{big_key}/preview.jpg")).status_code == 202


@pytest.mark.usefixtures("queued_previews")
def test_an_image_the_job_cannot_render_is_a_422_with_the_reason_not_a_500(
    client_for: Any, exam: Appointment, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ImageRefused("broken pixel data")

    monkeypatch.setattr(item_views, "render_cached", broken)
    monkeypatch.setattr(item_views, "preview_item", broken)
    first = exam_instances(exam)[0]
    client = client_for("sonographer")
    assert client.get(_url(exam)).status_code == 200
    item = _item(exam, first.key)
    for view in (PATIENT, PREVIEW):
        assert make_item_view.call(item_id=item.pk, view=view) is False
    for name in ("patient.jpg", "preview.jpg"):
        response = client.get(_url(exam, f"images/{first.key}/{name}"))
        assert response.status_code == 422 and response.content == b"broken pixel data"
    state = client.get(_url(exam, "views.json")).json()
    assert {f"{first.key}/patient", f"{first.key}/preview"} <= set(state["refused"])
    page = client.get(_url(exam))
    assert page.status_code == 200
    assert f'data-pending-view="{first.key}/' not in page.content.decode()


def test_rendering_that_raises_never_makes_a_request_answer_500(
    client_for: Any, exam: Appointment, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the renderer crashed")

    for target in HEAVY:
        monkeypatch.setattr(target, explode)
    monkeypatch.setattr(item_views, "SYNC_PREVIEW_PIXELS", 0)
    client = client_for("sonographer")
    assert client.get(_url(exam)).status_code == 200
    for instance in exam_instances(exam):
        for name in ("patient.jpg", "preview.jpg"):
            assert client.get(_url(exam, f"images/{instance.key}/{name}")).status_code == 202


def test_a_views_files_go_with_its_source(exam: Appointment) -> None:
    selection_items(appointment=exam)
    first = exam_instances(exam)[0]
    item = _item(exam, first.key)
    assert make_item_view.call(item_id=item.pk, view=PREVIEW) is True
    target = item_target(item_source(item), PREVIEW)
    assert target.preview_file.exists() and target.preview_file.parent.parent == thumbnail_dir()
    file = first.current_file()
    assert file is not None
    thumbnails_remove([file.sha256])  # what the archive's purge and destruction call
    assert not target.preview_file.exists()


def test_a_job_for_an_item_that_is_gone_does_nothing(db: Any) -> None:
    assert make_item_view.call(item_id=999_999, view=PATIENT) is False


def test_the_front_desk_sees_no_views_nor_their_state(client_for: Any, exam: Appointment) -> None:
    selection_items(appointment=exam)
    client = client_for("frontdesk")
    key = exam_instances(exam)[0].key
    for rest in ("views.json", f"images/{key}/preview.jpg", f"images/{key}/patient.jpg"):
        assert client.get(_url(exam, rest)).status_code == 403
    assert _jobs() == []
