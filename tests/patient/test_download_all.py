"""Download all: one stored zip, streamed, with an exact Content-Length."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.http import StreamingHttpResponse
from django.test import Client

from echoshare.portal.models import ShareEvent
from tests.patient.conftest import open_share

pytestmark = pytest.mark.django_db


def test_the_zip_holds_every_item_stored_under_generic_names(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    response = client.get(f"/s/{token}/zip")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)  # written while it is sent
    data = b"".join(response.streaming_content)
    assert response["Content-Length"] == str(len(data))
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="echo.zip"')
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        items = list(share.items.order_by("position"))
        assert archive.namelist() == [item.file_name for item in items]
        for item in items:
            assert archive.getinfo(item.file_name).compress_type == zipfile.ZIP_STORED
            assert archive.read(item.file_name) == item.path().read_bytes()
    assert ShareEvent.objects.filter(share=share, kind="zip_downloaded").count() == 1


def test_the_zip_needs_the_password_in_this_session(client: Client, shared) -> None:
    _share, token = shared
    assert client.get(f"/s/{token}/zip").status_code == 403


def test_a_head_request_gets_the_size_without_the_body(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    length = int(client.get(f"/s/{token}/zip")["Content-Length"])
    head = client.head(f"/s/{token}/zip")
    assert head.status_code == 200
    assert int(head["Content-Length"]) == length
    assert ShareEvent.objects.filter(share=share, kind="zip_downloaded").count() == 1


def test_a_missing_file_gives_404_not_a_broken_zip(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    share.items.first().path().unlink()
    assert client.get(f"/s/{token}/zip").status_code == 404
