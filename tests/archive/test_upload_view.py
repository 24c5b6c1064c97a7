"""Staff upload of DICOM files at /staff/archive/upload/: the same ingest, staff only,
a size limit and a clear 4xx for anything refused (F4)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from echoshare.archive.models import InstanceFile
from echoshare.archive.services import archive_tmp_dir
from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from tests.clinic.staff import make_staff, verified_client

pytestmark = pytest.mark.django_db

URL = "/staff/archive/upload/"


@pytest.fixture
def sonographer() -> Client:
    return verified_client(*make_staff("sonja", "sonographer"))


def _post(client: Client, *paths, name: str = "files"):
    handles = [path.open("rb") for path in paths]
    try:
        return client.post(URL, {name: handles}, HTTP_ACCEPT_LANGUAGE="en")
    finally:
        for handle in handles:
            handle.close()


def test_the_url_is_the_documented_one():
    assert reverse("archive:upload") == URL


def test_a_sonographer_sees_the_form(sonographer):
    response = sonographer.get(URL)
    assert response.status_code == 200
    assert b'type="file"' in response.content


def test_uploaded_files_go_through_the_ingest_with_the_user_as_origin(
    sonographer, make_dicom, archive_files
):
    response = _post(sonographer, make_dicom(), make_dicom("examples_ybr_color.dcm"))

    assert response.status_code == 200
    assert response.content.count(b"<td>archived</td>") == 2
    stored = list(InstanceFile.objects.all())
    assert len(stored) == 2 == len(archive_files())
    assert {f.source for f in stored} == {"web"}
    assert {f.user.username for f in stored} == {"sonja"}
    assert AuditRecord.objects.filter(event=events.IMAGE_UPLOADED, username="sonja").count() == 2
    assert list(archive_tmp_dir().iterdir()) == []


def test_a_resent_file_is_reported_as_already_archived(sonographer, make_dicom):
    source = make_dicom()
    _post(sonographer, source)
    response = _post(sonographer, source)
    assert response.status_code == 200
    assert b"already archived" in response.content
    assert InstanceFile.objects.count() == 1


def test_a_file_that_is_not_dicom_gets_415_and_nothing_is_kept(
    sonographer, tmp_path, archive_files
):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 1000)

    response = _post(sonographer, photo)

    assert response.status_code == 415
    assert b"not a DICOM file" in response.content
    assert archive_files() == []
    assert list(archive_tmp_dir().iterdir()) == []


def test_a_dicom_file_with_absurd_dimensions_gets_422(sonographer, make_dicom):
    response = _post(sonographer, make_dicom(Rows=65535, Columns=65535, NumberOfFrames=1000))
    assert response.status_code == 422
    assert not InstanceFile.objects.exists()


def test_an_upload_over_the_limit_gets_413_before_it_is_read(sonographer, tmp_path, settings):
    settings.ARCHIVE_UPLOAD_MAX_MB = 1
    big = tmp_path / "big.dcm"
    big.write_bytes(b"\0" * (1024 * 1024 + 1))

    response = _post(sonographer, big)

    assert response.status_code == 413
    assert list(archive_tmp_dir().iterdir()) == []


def test_no_files_gets_400(sonographer):
    assert sonographer.post(URL, {}).status_code == 400


def test_front_desk_may_not_upload(make_dicom):
    client = verified_client(*make_staff("fred", "frontdesk"))
    assert _post(client, make_dicom()).status_code == 403
    assert not InstanceFile.objects.exists()


def test_without_login_it_redirects_to_the_staff_login(make_dicom):
    response = _post(Client(), make_dicom())
    assert response.status_code == 302
    assert response["Location"].startswith("/staff/login/")
    assert not InstanceFile.objects.exists()


def test_a_post_without_csrf_token_is_refused(make_dicom):
    user, device = make_staff("sonja", "sonographer")
    logged_in = verified_client(user, device)
    client = Client(enforce_csrf_checks=True)
    client.cookies = logged_in.cookies

    assert _post(client, make_dicom()).status_code == 403
    assert not InstanceFile.objects.exists()
    assert list(archive_tmp_dir().iterdir()) == []


def test_the_page_speaks_dutch_by_default(sonographer):
    response = sonographer.get(URL)
    assert "DICOM-bestanden uploaden" in response.content.decode()
