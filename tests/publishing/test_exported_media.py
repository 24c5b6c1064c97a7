"""Exported JPEG/PNG/MP4 uploaded onto an exam (issues 5 and 7): kept as uploaded in the
clinic tier, need review until staff set a crop, then published re-encoded through the
portal's real API, with no EXIF, text chunk, audio or tag reaching the patient."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import translation

from echoshare.audit.models import AuditRecord
from echoshare.clinic.exported_media import (
    MediaRefused,
    exported_media_render,
    exported_media_store,
    media_path,
)
from echoshare.clinic.models import Appointment, ExportedMedia, Publication, SelectedItem
from echoshare.clinic.publishing import PublishBlocked, publication_run, share_publish
from echoshare.clinic.selection import (
    SelectionError,
    selected_item_crop_set,
    selected_item_frame_set,
    selected_item_preview,
    selection_items,
    selection_set,
)
from echoshare.imaging.masking import Rect
from echoshare.portal.models import Share
from tests.clinic.staff import make_staff, verified_client
from tests.publishing.conftest import book, ingest
from tests.publishing.media_files import (
    CANARY,
    CROP,
    HEIGHT,
    WIDTH,
    has_text,
    make_jpeg,
    make_mp4,
    make_png,
    still_metadata,
    video_streams,
)

MAKERS: dict[str, Callable[[Path], Path]] = {
    "jpeg": lambda folder: make_jpeg(folder / "IMG_0001.JPG"),
    "png": lambda folder: make_png(folder / "export.png"),
    "mp4": lambda folder: make_mp4(folder / "clip.mp4"),
}
# Image info Pillow reports for any plain JPEG it wrote itself: not metadata of the upload.
PLAIN_JPEG_INFO = {
    "jfif",
    "jfif_version",
    "jfif_unit",
    "jfif_density",
    "progressive",
    "progression",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _upload(client: Client, appointment: Appointment, path: Path) -> Any:
    with path.open("rb") as f:
        return client.post(f"/staff/exams/{appointment.accession_number}/upload/", {"files": [f]})


def _assert_clean(path: Path) -> None:
    assert not has_text(path), f"{path.name} holds the canary"
    if path.suffix == ".mp4":
        kinds, tags = video_streams(path)
        assert kinds == ["video"], "audio (or another stream) reached the patient"
        assert CANARY not in tags.values() and "title" not in tags and "comment" not in tags
    else:
        exif, info = still_metadata(path)
        assert exif == {}
        assert set(info) <= PLAIN_JPEG_INFO, set(info) - PLAIN_JPEG_INFO


@pytest.mark.parametrize("kind", ["jpeg", "png", "mp4"])
def test_an_upload_is_kept_needs_a_crop_then_reaches_the_portal_without_metadata(
    kind: str, portal_clinic: Any, tmp_path: Path
) -> None:
    appointment = book(days_ahead=0)
    original = MAKERS[kind](tmp_path)
    original_hash = _sha256(original)
    client = verified_client(*make_staff("sonographer-1", "sonographer"))

    response = _upload(client, appointment, original)
    assert response.status_code == 200, response.content.decode()
    media = ExportedMedia.objects.get(appointment=appointment)
    stored = media_path(media)
    assert (media.kind, media.sha256, media.columns, media.rows) == (
        kind,
        original_hash,
        WIDTH,
        HEIGHT,
    )
    assert stored.is_relative_to(Path(django_settings.ARCHIVE_DIR) / "exported")
    assert _sha256(stored) == original_hash  # kept exactly as uploaded
    assert original.name not in stored.name  # the name is made by echoshare
    assert AuditRecord.objects.filter(event="image.uploaded", patient_ref="PUBPID0042").exists()

    accession = appointment.accession_number
    ticked = client.post(f"/staff/exams/{accession}/selection", {"keys": [media.key]})
    assert ticked.status_code == 303
    with translation.override("en"), pytest.raises(PublishBlocked, match="needs review"):
        share_publish(appointment=appointment, user=None)

    x0, y0, x1, y1 = CROP
    cropped = client.post(
        f"/staff/exams/{accession}/images/{media.key}/crop",
        {"x0": x0, "y0": y0, "x1": x1, "y1": y1},
    )
    assert cropped.status_code == 303
    publication = share_publish(appointment=appointment, user=None)
    publication = publication_run(publication_id=publication.pk)
    assert publication.state == Publication.State.SENT, publication.error

    share = Share.objects.get(public_id=publication.portal_share_id)
    [item] = share.items.all()
    assert item.kind == ("clip" if kind == "mp4" else "still")
    paths = item.all_paths()
    assert len(paths) == (3 if kind == "mp4" else 2)
    for path in paths:
        _assert_clean(path)
        assert _sha256(path) != original_hash  # re-encoded, never passed through
    assert _sha256(stored) == original_hash  # the original stays as it was


def test_the_same_file_twice_is_kept_once(db: Any, tmp_path: Path) -> None:
    appointment = book()
    first = make_png(tmp_path / "a.png")
    again = tmp_path / "b.png"
    again.write_bytes(first.read_bytes())
    media, created = exported_media_store(appointment=appointment, path=first, name="a", user=None)
    same, created_again = exported_media_store(
        appointment=appointment, path=again, name="b", user=None
    )
    assert created and not created_again and same == media
    assert ExportedMedia.objects.count() == 1


def test_a_file_that_is_not_jpeg_png_or_mp4_is_refused_with_415(db: Any, tmp_path: Path) -> None:
    gif = tmp_path / "export.jpg"  # the name says JPEG, the content is a GIF
    gif.write_bytes(b"GIF89a" + b"\0" * 64)
    with pytest.raises(MediaRefused) as refused:
        exported_media_store(appointment=book(), path=gif, name="export.jpg", user=None)
    assert refused.value.status == 415
    assert gif.exists() and not ExportedMedia.objects.exists()


def test_a_decompression_bomb_is_refused_and_nothing_is_kept(
    db: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from PIL import Image

    png = make_png(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 320x240 is then a "bomb"
    with pytest.raises(MediaRefused, match="decompression bomb") as refused:
        exported_media_store(appointment=book(), path=png, name="bomb.png", user=None)
    assert refused.value.status == 422
    assert not ExportedMedia.objects.exists()
    assert not (Path(django_settings.ARCHIVE_DIR) / "exported").exists()


def _selected_media(appointment: Appointment, tmp_path: Path, kind: str = "jpeg") -> SelectedItem:
    path = MAKERS[kind](tmp_path)
    media, _ = exported_media_store(appointment=appointment, path=path, name="x", user=None)
    selection_set(appointment=appointment, instance_keys=[media.key], user=None)
    [item] = selection_items(appointment=appointment)
    return item


def test_uploads_and_dicom_images_share_one_ordered_selection(db: Any, tmp_path: Path) -> None:
    appointment = book()
    instance = ingest(appointment, tmp_path / "in")
    media, _ = exported_media_store(
        appointment=appointment, path=make_jpeg(tmp_path / "a.jpg"), name="a", user=None
    )
    items = selection_set(
        appointment=appointment, instance_keys=[media.key, instance.key], user=None
    )
    assert [(item.media, item.instance) for item in items] == [(media, None), (None, instance)]
    items = selection_set(appointment=appointment, instance_keys=[instance.key], user=None)
    assert [item.instance for item in items] == [instance]
    assert not SelectedItem.objects.filter(media=media).exists()


def test_media_of_another_exam_cannot_be_selected(db: Any, tmp_path: Path) -> None:
    other = book(days_ahead=9)
    media, _ = exported_media_store(
        appointment=other, path=make_jpeg(tmp_path / "a.jpg"), name="a", user=None
    )
    with pytest.raises(SelectionError):
        selection_set(appointment=book(), instance_keys=[media.key], user=None)


def test_a_crop_of_an_upload_must_fit_and_cannot_become_a_device_rule(
    db: Any, tmp_path: Path
) -> None:
    item = _selected_media(book(), tmp_path)
    with pytest.raises(SelectionError, match="not inside"):
        selected_item_crop_set(item=item, crop=(0, 0, WIDTH, 10), user=None)
    with pytest.raises(SelectionError, match="rule"):
        selected_item_crop_set(item=item, crop=CROP, user=None, save_as_rule=True)
    with pytest.raises(SelectionError):
        selected_item_frame_set(item=item, frame=0, user=None)
    assert selected_item_crop_set(item=item, crop=CROP, user=None).branch == "staff_crop"


def test_the_staff_preview_of_an_upload_shows_the_crop_once_set(db: Any, tmp_path: Path) -> None:
    item = _selected_media(book(), tmp_path, kind="mp4")
    before = selected_item_preview(item=item)
    assert (before.branch, before.columns, before.rows) == ("needs_review", WIDTH, HEIGHT)
    item = selected_item_crop_set(item=item, crop=CROP, user=None)
    after = selected_item_preview(item=item)
    assert after.branch == "staff_crop" and after.jpeg != before.jpeg


def test_rendering_an_upload_again_gives_the_same_files(db: Any, tmp_path: Path) -> None:
    item = _selected_media(book(), tmp_path)
    assert item.media is not None
    assert not exported_media_render(media=item.media, crop=None).publishable
    first = exported_media_render(media=item.media, crop=Rect(*CROP))
    again = exported_media_render(media=item.media, crop=Rect(*CROP))
    assert first.publishable and first.outputs == again.outputs
    assert (first.width, first.height) == (CROP[2] - CROP[0] + 1, CROP[3] - CROP[1] + 1)


def test_an_item_is_either_an_archived_image_or_an_upload_never_both_or_neither(
    db: Any, tmp_path: Path
) -> None:
    appointment = book()
    instance = ingest(appointment, tmp_path / "in", for_patient=False)
    media, _ = exported_media_store(
        appointment=appointment, path=make_jpeg(tmp_path / "a.jpg"), name="a", user=None
    )
    for fields in ({"instance": instance, "media": media}, {}):
        with pytest.raises(IntegrityError), transaction.atomic():
            SelectedItem.objects.create(appointment=appointment, **fields)
