"""The Exam page: thumbnails made by a job, the selection, poster frame, crop, preview,
hold and send, and the share's history."""

from __future__ import annotations

import io
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Q
from django.utils import timezone
from PIL import Image

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.exported_media import exported_media_store
from echoshare.clinic.models import Appointment, ExportedMedia, Publication, SelectedItem
from echoshare.clinic.staff.tasks import make_item_view, make_thumbnail
from echoshare.clinic.staff.thumbnails import media_thumbnail_path, thumbnail_make
from echoshare.notify.models import Message
from tests.publishing.media_files import CANARY, CROP, make_jpeg, make_mp4
from tests.staffpages.conftest import book, exam_instances, ingest


def _url(exam: Appointment, rest: str = "") -> str:
    return f"/staff/exams/{exam.accession_number}/{rest}"


def _run_view_job(exam: Appointment, key: str, view: str) -> None:
    """What the worker does with the job the image request queued."""
    item = SelectedItem.objects.get(Q(instance__key=key) | Q(media__key=key), appointment=exam)
    assert make_item_view.call(item_id=item.pk, view=view) is True


def test_it_shows_placeholders_until_the_thumbnail_job_ran_then_the_images(
    client_for: Any, exam: Appointment, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for("sonographer")
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(_url(exam)).content.decode()
    assert page.count("data-thumbnail-url") == 2
    from django_tasks_db.models import DBTaskResult

    queued = DBTaskResult.objects.filter(task_path=make_thumbnail.module_path)
    assert queued.count() == 2  # the job was enqueued, not run in the request (H3)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(_url(exam))
    assert queued.count() == 2  # a second look within minutes queues no more
    assert client.get(_url(exam, "thumbnails.json")).json()["ready"] == []
    first, clip = exam_instances(exam)
    assert thumbnail_make(instance=first) is not None
    assert make_thumbnail.call(instance_key=clip.key) is True  # the job itself
    ready = client.get(_url(exam, "thumbnails.json")).json()["ready"]
    assert sorted(ready) == sorted(i.key for i in exam_instances(exam))
    page = client.get(_url(exam)).content.decode()
    assert "data-thumbnail-url" not in page
    image = client.get(_url(exam, f"images/{ready[0]}/thumbnail.jpg"))
    assert image.status_code == 200
    assert image.content.startswith(b"\xff\xd8")


def test_the_patients_picks_are_marked_and_staff_can_untick_and_reorder(
    client_for: Any, exam: Appointment, tmp_path: Any
) -> None:
    extra = ingest(exam, tmp_path / "more", for_patient=False)
    first, _clip, _ = exam_instances(exam)
    client = client_for("sonographer")
    page = client.get(_url(exam)).content.decode()
    assert page.count('class="tile picked"') == 2  # the two sent to the patient AE
    response = client.post(
        _url(exam, "selection"),
        {"keys": [first.key, extra.key], f"order-{first.key}": "2", f"order-{extra.key}": "1"},
    )
    assert response.status_code == 303
    chosen = list(
        SelectedItem.objects.filter(appointment=exam)
        .order_by("position")
        .values_list("instance__key", flat=True)
    )
    assert chosen == [extra.key, first.key]  # clip unticked, order as given
    assert AuditRecord.objects.filter(event=events.SELECTION_CHANGED).count() == 1


def test_a_clips_poster_frame_is_saved_and_a_frame_outside_it_refused(
    client_for: Any, exam: Appointment
) -> None:
    clip = exam_instances(exam)[1]
    client = client_for("sonographer")
    client.get(_url(exam))  # reading the page brings the picks into the selection
    assert client.post(_url(exam, f"images/{clip.key}/frame"), {"frame": "2"}).status_code == 303
    assert SelectedItem.objects.get(instance=clip).frame == 2
    refused = client.post(_url(exam, f"images/{clip.key}/frame"), {"frame": "3"})
    assert refused.status_code == 409
    assert "does not exist" in refused.content.decode()
    bad = client.post(_url(exam, f"images/{clip.key}/frame"), {"frame": "x"})
    assert bad.status_code == 400


def test_an_item_needing_review_blocks_sending_until_a_crop_is_set(
    client_for: Any, tmp_path: Any, db: Any
) -> None:
    from tests.staffpages.conftest import book

    exam = book(days_ahead=0)
    unclear = ingest(exam, tmp_path / "in", regions=None)  # no regions, no device rule
    client = client_for("sonographer")
    page = client.get(_url(exam)).content.decode()
    assert "needs review" in page
    assert client.post(_url(exam, "send")).status_code == 409
    assert not Publication.objects.filter(appointment=exam).exists()
    preview = client.get(_url(exam, f"images/{unclear.key}/preview.jpg"))
    assert preview.status_code == 200 and preview["X-Echoshare-Branch"] == "needs_review"
    crop = {"x0": "20", "y0": "24", "x1": "99", "y1": "83"}
    assert client.post(_url(exam, f"images/{unclear.key}/crop"), crop).status_code == 303
    preview = client.get(_url(exam, f"images/{unclear.key}/preview.jpg"))
    assert preview["X-Echoshare-Branch"] == "staff_crop"
    assert client.post(_url(exam, "send")).status_code == 303
    assert Publication.objects.get(appointment=exam).state == Publication.State.QUEUED


def test_a_crop_box_outside_the_image_or_upside_down_is_refused(
    client_for: Any, exam: Appointment
) -> None:
    key = exam_instances(exam)[0].key
    client = client_for("sonographer")
    client.get(_url(exam))
    outside = {"x0": "0", "y0": "0", "x1": "5000", "y1": "10"}
    assert client.post(_url(exam, f"images/{key}/crop"), outside).status_code == 409
    upside_down = {"x0": "50", "y0": "50", "x1": "10", "y1": "10"}
    assert client.post(_url(exam, f"images/{key}/crop"), upside_down).status_code == 400
    assert SelectedItem.objects.get(instance__key=key).crop is None


def test_an_exam_on_hold_cannot_be_sent_until_released(client_for: Any, exam: Appointment) -> None:
    client = client_for("sonographer")
    assert client.post(_url(exam, "hold"), {"on_hold": "on"}).status_code == 303
    exam.refresh_from_db()
    assert exam.on_hold
    refused = client.post(_url(exam, "send"))
    assert refused.status_code == 409
    assert "on hold" in refused.content.decode()
    assert not Publication.objects.filter(appointment=exam).exists()
    assert client.post(_url(exam, "hold"), {}).status_code == 303
    exam.refresh_from_db()
    assert not exam.on_hold
    assert client.post(_url(exam, "send")).status_code == 303
    assert Publication.objects.filter(appointment=exam).count() == 1


def test_the_share_history_shows_the_publication_and_its_messages(
    client_for: Any, exam: Appointment
) -> None:
    publication = Publication.objects.create(
        appointment=exam,
        state=Publication.State.OPENED,
        idempotency_key="history-test",
        expires_at=timezone.now() + timedelta(days=60),
        sent_at=timezone.now(),
        opened_at=timezone.now(),
    )
    Message.objects.create(
        kind=Message.Kind.SHARE_LINK,
        channel=Message.Channel.SMS,
        recipient="+31612345678",
        language="nl",
        idempotency_key=f"publication:{publication.key}:link:sms",
        patient_ref=exam.patient.patient_id,
        state=Message.State.SENT,
    )
    page = client_for("frontdesk").get(_url(exam)).content.decode()
    assert "Share of" in page and "Opened" in page
    assert "link to the images (SMS): sent" in page
    assert "Resend link" in page and "Revoke" not in page  # front desk: resend, not revoke
    assert "Save selection" not in page  # nor see or change the images


def test_viewing_the_exam_is_audited_for_the_patient(client_for: Any, exam: Appointment) -> None:
    client_for("sonographer").get(_url(exam))
    client_for("frontdesk").get(_url(exam))
    viewed = AuditRecord.objects.filter(patient_ref=exam.patient.patient_id)
    assert viewed.filter(event=events.STUDY_VIEWED, username="sonographer-1").count() == 1
    assert viewed.filter(event=events.APPOINTMENT_VIEWED, username="frontdesk-1").count() == 1


def test_an_unknown_exam_is_a_404(client_for: Any, db: Any) -> None:
    assert client_for("sonographer").get("/staff/exams/NOPE/").status_code == 404


def test_the_patient_view_is_the_masked_still_and_waits_for_a_crop_when_unclear(
    client_for: Any, tmp_path: Any, db: Any
) -> None:
    import io

    import numpy as np
    from PIL import Image

    from echoshare.imaging.stills import jpeg_segments
    from tests.imaging.conftest import REGIONS
    from tests.staffpages.conftest import book

    exam = book(days_ahead=0)
    clear = ingest(exam, tmp_path / "in")
    unclear = ingest(exam, tmp_path / "in", regions=None)
    client = client_for("sonographer")
    client.get(_url(exam))
    placeholder = client.get(_url(exam, f"images/{clear.key}/patient.jpg"))
    assert placeholder.status_code == 202  # rendered by the job, not in the request (H3)
    _run_view_job(exam, clear.key, "patient")
    response = client.get(_url(exam, f"images/{clear.key}/patient.jpg"))
    assert response.status_code == 200
    assert set(jpeg_segments(response.content)) <= {
        "SOI",
        "APP0",
        "DQT",
        "SOF",
        "DHT",
        "SOS",
        "EOI",
    }
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("L"))
    assert image.shape == (clear.rows, clear.columns)
    outside = np.ones(image.shape, dtype=bool)
    for rect in REGIONS:
        outside[rect.y0 : rect.y1 + 1, rect.x0 : rect.x1 + 1] = False
    assert image[outside].max() < 40  # blanked outside the regions (JPEG noise aside)
    waiting = client.get(_url(exam, f"images/{unclear.key}/patient.jpg"))
    assert waiting.status_code == 409
    crop = {"x0": "20", "y0": "24", "x1": "99", "y1": "83"}
    client.post(_url(exam, f"images/{unclear.key}/crop"), crop)
    assert client.get(_url(exam, f"images/{unclear.key}/patient.jpg")).status_code == 202
    _run_view_job(exam, unclear.key, "patient")
    cropped = client.get(_url(exam, f"images/{unclear.key}/patient.jpg"))
    assert cropped.status_code == 200
    assert Image.open(io.BytesIO(cropped.content)).size == (80, 60)


def test_bad_values_get_a_4xx_and_change_nothing(client_for: Any, exam: Appointment) -> None:
    publication = Publication.objects.create(
        appointment=exam,
        state=Publication.State.SENT,
        idempotency_key="bad-values",
        expires_at=timezone.now() + timedelta(days=30),
    )
    client = client_for("administrator")
    share = _url(exam, f"shares/{publication.key}/")
    assert client.post(share + "extend", {"until": "31-31-2026"}).status_code == 400
    assert client.post(share + "extend", {}).status_code == 400
    assert client.post(_url(exam, "shares/unknown/revoke")).status_code == 404
    order = {"keys": [exam_instances(exam)[0].key], f"order-{exam_instances(exam)[0].key}": "x"}
    assert client.post(_url(exam, "selection"), order).status_code == 400
    assert client.get(_url(exam, "images/nope/preview.jpg")).status_code == 404
    assert client.get(_url(exam, "images/nope/patient.jpg")).status_code == 404
    assert client.get(_url(exam, "send")).status_code == 405  # a GET never changes state
    publication.refresh_from_db()
    assert publication.state == Publication.State.SENT


def test_an_uploaded_clip_is_shown_ticked_cropped_and_previewed_like_an_image(
    client_for: Any, exam: Appointment, tmp_path: Path
) -> None:
    client = client_for("sonographer")
    with make_mp4(tmp_path / "clip.mp4").open("rb") as f:
        assert client.post(_url(exam, "upload/"), {"files": [f]}).status_code == 200
    media = ExportedMedia.objects.get(appointment=exam)
    page = client.get(_url(exam)).content.decode()
    assert "Uploaded clip 3" in page and f'value="{media.key}"' in page
    thumbnail = client.get(_url(exam, f"images/{media.key}/thumbnail.jpg"))
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"

    keys = [i.key for i in exam_instances(exam)] + [media.key]
    assert client.post(_url(exam, "selection"), {"keys": keys}).status_code == 303
    page = client.get(_url(exam)).content.decode()
    assert "exported media carry no image regions" in page  # needs review: fails closed
    preview = client.get(_url(exam, f"images/{media.key}/preview.jpg"))
    assert preview["X-Echoshare-Branch"] == "needs_review"
    assert client.get(_url(exam, f"images/{media.key}/patient.jpg")).status_code == 409

    x0, y0, x1, y1 = CROP
    crop = {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
    assert client.post(_url(exam, f"images/{media.key}/crop"), crop).status_code == 303
    preview = client.get(_url(exam, f"images/{media.key}/preview.jpg"))
    assert preview["X-Echoshare-Branch"] == "staff_crop"
    # The clip is re-encoded by the job (H3), never in the request.
    assert client.get(_url(exam, f"images/{media.key}/patient.jpg")).status_code == 202
    _run_view_job(exam, media.key, "patient")
    still = client.get(_url(exam, f"images/{media.key}/patient.jpg"))
    assert still.status_code == 200 and CANARY.encode() not in still.content
    with Image.open(io.BytesIO(still.content)) as image:
        assert image.size == (x1 - x0 + 1, y1 - y0 + 1) and not image.getexif()
    assert AuditRecord.objects.filter(
        event=events.CROP_SET, object_ref=f"exported media {media.key}"
    ).exists()


def test_an_upload_of_another_exam_is_a_404(
    client_for: Any, exam: Appointment, tmp_path: Path
) -> None:
    other = book(days_ahead=5)
    media, _ = exported_media_store(
        appointment=other, path=make_jpeg(tmp_path / "a.jpg"), name="a.jpg", user=None
    )
    client = client_for("sonographer")
    assert client.get(_url(exam, f"images/{media.key}/thumbnail.jpg")).status_code == 404
    assert client.get(_url(exam, f"images/{media.key}/preview.jpg")).status_code == 404
    refused = client.post(_url(exam, "selection"), {"keys": [media.key]})
    assert refused.status_code == 409


def _thumbnail_jobs() -> list[dict[str, Any]]:
    from django_tasks_db.models import DBTaskResult

    rows = DBTaskResult.objects.filter(task_path=make_thumbnail.module_path)
    return [row.args_kwargs["kwargs"] for row in rows]


def _fail_if_called(*args: Any, **kwargs: Any) -> Any:
    pytest.fail("an upload was decoded inside a request (H3)")


def test_an_uploads_lost_thumbnail_is_made_again_by_the_job_not_in_the_request(
    client_for: Any,
    exam: Appointment,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    media, _ = exported_media_store(
        appointment=exam, path=make_jpeg(tmp_path / "a.jpg"), name="a.jpg", user=None
    )
    assert not media_thumbnail_path(media).exists()  # the service alone makes none: "lost"
    client = client_for("sonographer")
    url = _url(exam, f"images/{media.key}/thumbnail.jpg")
    with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        for decode in ("preview_upload", "read_upload_image", "first_video_frame"):
            patch.setattr(f"echoshare.imaging.preview.{decode}", _fail_if_called)
        patch.setattr("echoshare.clinic.staff.thumbnails.preview_upload", _fail_if_called)
        waiting = [client.get(url), client.get(url)]  # a reload within minutes
    for response in waiting:
        assert response.status_code == 202
        assert response["Content-Type"].startswith("image/svg+xml")
        assert response["X-Echoshare-Pending"] == "thumbnail"
    assert _thumbnail_jobs() == [{"instance_key": media.key}]  # one job for both looks
    assert not media_thumbnail_path(media).exists()
    assert make_thumbnail.call(instance_key=media.key) is True  # what the worker does
    response = client.get(url)
    assert response.status_code == 200
    assert response.content == media_thumbnail_path(media).read_bytes()
    with Image.open(io.BytesIO(response.content)) as image:
        assert max(image.size) <= 240 and not image.getexif()
    assert not media_thumbnail_path(media).with_suffix(".pending").exists()


def test_an_upload_whose_file_is_gone_gets_no_thumbnail_and_no_endless_jobs(
    client_for: Any, exam: Appointment, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    from echoshare.clinic.exported_media import media_path

    media, _ = exported_media_store(
        appointment=exam, path=make_jpeg(tmp_path / "a.jpg"), name="a.jpg", user=None
    )
    media_path(media).unlink()
    client = client_for("sonographer")
    url = _url(exam, f"images/{media.key}/thumbnail.jpg")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(url).status_code == 202
    assert make_thumbnail.call(instance_key=media.key) is False  # refused, not raised
    # An hour later: only the refusal keeps the request from queueing the job again.
    long_ago = time.time() - 3600
    os.utime(media_thumbnail_path(media).with_suffix(".pending"), (long_ago, long_ago))
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(url).status_code == 404  # undecodable, as an archived image
    assert len(_thumbnail_jobs()) == 1


def test_the_front_desk_prints_a_password_slip_holding_the_password(
    client_for: Any, exam: Appointment
) -> None:
    from echoshare.clinic.passwords import password_reveal

    response = client_for("frontdesk").post(_url(exam, "password-slip"))

    assert response.status_code == 200
    assert password_reveal(appointment=exam) in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert (
        AuditRecord.objects.filter(
            event=events.PASSWORD_SLIP_PRINTED, patient_ref=exam.patient.patient_id
        ).count()
        == 1
    )


def test_contact_details_are_confirmed_at_arrival_and_a_bad_number_is_refused(
    client_for: Any, exam: Appointment
) -> None:
    client = client_for("frontdesk")
    done = client.post(_url(exam, "contact"), {"phone": "06 1234 5678", "email": "a@b.nl"})
    assert done.status_code == 303
    exam.patient.refresh_from_db()
    assert (exam.patient.phone, exam.patient.email) == ("+31612345678", "a@b.nl")

    refused = client.post(_url(exam, "contact"), {"phone": "12", "email": "a@b.nl"})
    assert refused.status_code == 409
    exam.patient.refresh_from_db()
    assert exam.patient.phone == "+31612345678"
