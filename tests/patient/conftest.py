"""Fixtures of the patient pages' tests: a share with real files and a CSRF-checking client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from echoshare.portal.media_shortcut import shortcut_answer
from echoshare.portal.models import Share
from tests.portal.factories import PASSWORD, make_share


@pytest.fixture
def client() -> Client:
    """Every POST in these tests must carry a CSRF token (B4)."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def shared(db: None) -> tuple[Share, str]:
    """A Dutch share with one photo and one clip, and its link token."""
    return make_share(items=("still", "still", "clip"))


def csrf_token(client: Client, url: str) -> str:
    """GET the form page as a browser would, and take the CSRF token from its cookie."""
    response = client.get(url)
    assert response.status_code in (200, 302), response.status_code
    return client.cookies["csrftoken"].value


def post_form(client: Client, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(url, {**data, "csrfmiddlewaretoken": csrf_token(client, url)})


def open_share(client: Client, token: str, password: str = PASSWORD) -> None:
    """Give the password on the link page, as the patient does."""
    response = post_form(client, reverse("patient:link", args=[token]), {"password": password})
    assert response.status_code == 302, response.status_code
    assert response["Location"] == reverse("patient:gallery", args=[token])


@contextmanager
def connections_kept() -> Iterator[None]:
    """As Django's test client does around a request: closing the database connection at
    the start or end of a request would end the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


class ShortcutClient(Client):
    """A test client whose requests go first to the media shortcut in front of Django
    (echoshare.portal.media_shortcut), as under gunicorn; what it declines goes to Django.
    `response.answered_by` tells which of the two answered."""

    def request(self, **request):  # type: ignore[no-untyped-def]
        environ = self._base_environ(**request)
        with connections_kept():
            answer = shortcut_answer(environ)
        if answer is None:
            response = super().request(**request)
            response.answered_by = "django"
            return response
        body = answer.body.read() if answer.body is not None else b""
        if answer.body is not None:
            answer.body.close()
        response = HttpResponse(body, status=answer.status)
        for name, value in answer.headers.items():
            response[name] = value
        response.answered_by = "shortcut"
        response.request = request
        return response


@pytest.fixture(params=["django", "shortcut"])
def media_client(request: pytest.FixtureRequest) -> Client:
    """The media tests run twice: through Django's view and through the shortcut."""
    if request.param == "django":
        return Client(enforce_csrf_checks=True)
    return ShortcutClient(enforce_csrf_checks=True)
