"""Creating shares through the API: stored files, idempotency, refused uploads (F4)."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from echoshare.portal.models import Share, ShareItem
from echoshare.portal.services import share_find
from tests.portal.conftest import Api, default_upload
from tests.portal.factories import jpeg_bytes, mp4_bytes

pytestmark = pytest.mark.django_db


def _token(url: str) -> str:
    return url.rsplit("/s/", 1)[1]


def test_it_creates_a_share_with_its_files(api: Api, settings) -> None:
    response = api.create(["still", "clip", "still"])
    assert response.status_code == 201
    body = response.json()
    assert body["url"].startswith(f"{settings.PORTAL_URL}/s/")
    share = share_find(token=_token(body["url"]))
    assert share is not None and share.public_id == body["id"]
    names = [item["file_name"] for item in body["items"]]
    assert names == ["echo-01.jpg", "echo-clip-01.mp4", "echo-02.jpg"]
    for item in ShareItem.objects.filter(share=share):
        content = item.path().read_bytes()
        assert hashlib.sha256(content).hexdigest() == item.sha256
        assert item.size == len(content)
        assert item.thumbnail_path() is not None and item.thumbnail_path().is_file()
        assert (item.poster_path() is not None) == (item.kind == "clip")
        assert item.path().parent == settings.PORTAL_MEDIA_DIR / share.storage_dir


def test_the_expiry_defaults_to_the_clinics_calendar_months(api: Api) -> None:
    body = api.create(["still"]).json()
    expires = Share.objects.get(public_id=body["id"]).expires_at
    expected = timezone.localtime() + timedelta(days=59)
    assert expected - timedelta(days=4) < expires < expected + timedelta(days=4)
    local_now, local_expiry = timezone.localtime(), timezone.localtime(expires)
    assert (local_expiry.month - local_now.month) % 12 == 2


def test_language_and_expiry_can_be_given(api: Api) -> None:
    expires_at = (timezone.now() + timedelta(days=10)).replace(microsecond=0)
    body = api.create(["still"], language="en", expires_at=expires_at.isoformat()).json()
    share = Share.objects.get(public_id=body["id"])
    assert share.language == "en" and share.expires_at == expires_at


def test_a_replay_returns_the_same_share_and_url(api: Api) -> None:
    manifest, files = default_upload(["still", "clip"], *api.hashes())
    first = api.create(manifest=manifest, files=files, key="replay-key-0000000001")
    again = api.create(manifest=manifest, files=files, key="replay-key-0000000001")
    assert first.status_code == 201 and again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["url"] == first.json()["url"]
    assert again.json()["id"] == first.json()["id"]
    assert Share.objects.count() == 1 and ShareItem.objects.count() == 2


def test_the_url_is_never_returned_except_on_create_and_replay(api: Api) -> None:
    body = api.create(["still"]).json()
    token = _token(body["url"])
    for path in (f"shares/{body['id']}", f"shares/{body['id']}/events", "events"):
        assert token not in api.get(path).content.decode()
    for action in ("extend", "revoke"):
        payload = {"months": 1} if action == "extend" else {}
        assert token not in api.post(f"shares/{body['id']}/{action}", payload).content.decode()


def test_a_reused_key_with_a_different_request_is_refused(api: Api) -> None:
    manifest, files = default_upload(["still"], *api.hashes())
    assert (
        api.create(manifest=manifest, files=files, key="conflict-key-00000001").status_code == 201
    )
    changed = manifest | {"language": "en"}
    response = api.create(manifest=changed, files=files, key="conflict-key-00000001")
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert "url" not in response.json()
    assert Share.objects.count() == 1


def test_it_requires_an_idempotency_key(api: Api) -> None:
    manifest, files = default_upload(["still"], *api.hashes())
    data = {"manifest": json.dumps(manifest)} | {k: io.BytesIO(v) for k, v in files.items()}
    for key in (None, "short"):
        headers = api.headers() | ({"Idempotency-Key": key} if key else {})
        response = api.client.post("/api/v1/shares", data, headers=headers)
        assert response.status_code == 400
        assert response.json()["error"] == "idempotency_key_required"


def _refused(api: Api, files_override: dict[str, bytes], kinds=("still",)) -> tuple[int, str]:
    manifest, files = default_upload(kinds, *api.hashes())
    response = api.create(manifest=manifest, files=files | files_override)
    assert Share.objects.count() == 0
    return response.status_code, response.json()["error"]


def _bomb_jpeg(width: int, height: int) -> bytes:
    data = bytearray(jpeg_bytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("override", "kinds", "status", "error"),
    [
        ({"f1": _png()}, ("still",), 415, "unsupported_type"),
        ({"f1": b"%PDF-1.7 not an image"}, ("still",), 415, "unsupported_type"),
        ({"f1": mp4_bytes()}, ("still",), 415, "unsupported_type"),
        ({"f1": jpeg_bytes()}, ("clip",), 415, "unsupported_type"),
        ({"t1": mp4_bytes()}, ("clip",), 415, "unsupported_type"),
        ({"f1": jpeg_bytes(640, 480)[:900]}, ("still",), 422, "corrupt_file"),
        ({"f1": mp4_bytes(frames=30)[:-400]}, ("clip",), 422, "corrupt_file"),
        ({"f1": mp4_bytes(frames=30)[:700]}, ("clip",), 422, "corrupt_file"),
        ({"f1": mp4_bytes(audio=True)}, ("clip",), 422, "audio_not_allowed"),
        ({"f1": b""}, ("still",), 422, "empty_file"),
        ({"f1": _bomb_jpeg(60000, 60000)}, ("still",), 413, "image_too_large"),
        ({"f1": _bomb_jpeg(10000, 9000)}, ("still",), 413, "image_too_large"),
    ],
    ids=[
        "png",
        "pdf",
        "mp4-as-still",
        "jpeg-as-clip",
        "mp4-as-thumbnail",
        "truncated-jpeg",
        "truncated-mp4-tail",
        "truncated-mp4-head",
        "audio",
        "empty",
        "bomb",
        "bomb-between-one-and-two-limits",
    ],
)
def test_bad_uploads_are_refused_with_a_clear_4xx(api, override, kinds, status, error) -> None:
    assert _refused(api, override, kinds) == (status, error)


def test_a_file_over_the_size_limit_is_refused_with_413(api: Api, settings) -> None:
    settings.PORTAL_MAX_ITEM_MB = 1
    big = jpeg_bytes() + b"\0" * (1024 * 1024)
    assert _refused(api, {"f1": big}) == (413, "file_too_large")


def test_a_refused_upload_leaves_no_file_behind(api: Api, settings) -> None:
    _refused(api, {"f1": b"not an image at all"}, kinds=("clip", "still"))
    assert [p for p in settings.PORTAL_MEDIA_DIR.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    ("manifest_change", "error"),
    [
        ({"password_hash": "Kx7mPq4R"}, "invalid_hash"),
        ({"delete_code_hash": "AB7K"}, "invalid_hash"),
        ({"items": []}, "invalid_manifest"),
        ({"items": [{"kind": "photo", "file": "f1", "thumbnail": "t1"}]}, "invalid_manifest"),
        ({"items": [{"kind": "still", "file": "nope", "thumbnail": "t1"}]}, "missing_part"),
        ({"patient_name": "x"}, "invalid_manifest"),
        ({"language": "de"}, "invalid_manifest"),
        ({"expires_at": "tomorrow"}, "invalid_field"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "invalid_expiry"),
    ],
)
def test_bad_manifests_are_refused_with_400(api: Api, manifest_change, error) -> None:
    manifest, files = default_upload(["still"], *api.hashes())
    response = api.create(manifest=manifest | manifest_change, files=files)
    assert (response.status_code, response.json()["error"]) == (400, error)
    assert Share.objects.count() == 0


def test_an_unnamed_part_and_a_missing_manifest_are_refused(api: Api) -> None:
    manifest, files = default_upload(["still"], *api.hashes())
    response = api.create(manifest=manifest, files=files | {"extra": jpeg_bytes()})
    assert (response.status_code, response.json()["error"]) == (400, "unexpected_part")
    headers = api.headers(**{"Idempotency-Key": "no-manifest-000000001"})
    response = api.client.post("/api/v1/shares", {"f1": io.BytesIO(jpeg_bytes())}, headers=headers)
    assert (response.status_code, response.json()["error"]) == (400, "manifest_missing")
    response = api.client.post(
        "/api/v1/shares", "{}", content_type="application/json", headers=headers
    )
    assert response.status_code == 415


def test_a_storage_failure_half_way_answers_503_and_keeps_nothing(
    api: Api, monkeypatch, settings
) -> None:
    from echoshare.portal import media

    real_store = media.store_file
    calls = 0

    def full_disk(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 4:
            raise OSError(28, "No space left on device")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(media, "store_file", full_disk)
    response = api.create(["still", "clip"])
    assert (response.status_code, response.json()["error"]) == (503, "storage_unavailable")
    assert Share.objects.count() == 0
    assert [p for p in settings.PORTAL_MEDIA_DIR.rglob("*") if p.is_file()] == []
    monkeypatch.setattr(media, "store_file", real_store)
    assert api.create(["still", "clip"]).status_code == 201


def test_metadata_in_uploads_is_refused(api: Api) -> None:
    image = Image.new("RGB", (16, 16))
    exif = image.getexif()
    exif[0x010E] = "someone's name"
    with_exif = io.BytesIO()
    image.save(with_exif, "JPEG", exif=exif)
    assert _refused(api, {"f1": with_exif.getvalue()}) == (422, "metadata_not_allowed")
    commented = io.BytesIO()
    image.save(commented, "JPEG", comment=b"someone's name")
    assert _refused(api, {"t1": commented.getvalue()}) == (422, "metadata_not_allowed")
    titled = mp4_bytes(title="someone's name")
    assert _refused(api, {"f1": titled}, kinds=("clip",)) == (422, "metadata_not_allowed")


def test_uploaded_files_stream_to_temporary_files_on_disk(settings) -> None:
    from django.core.files.uploadedfile import TemporaryUploadedFile
    from django.test import RequestFactory

    from echoshare.portal.api_support import use_streaming_upload_handlers

    settings.PORTAL_MAX_ITEM_MB = 1
    data = {"small": io.BytesIO(b"x" * 10), "large": io.BytesIO(b"y" * (3 * 1024 * 1024))}
    request = RequestFactory().post("/api/v1/shares", data)
    limit = use_streaming_upload_handlers(request)
    assert isinstance(request.FILES["small"], TemporaryUploadedFile)
    assert "large" not in request.FILES  # skipped while streaming, not kept
    assert limit.too_large == ["large"]
