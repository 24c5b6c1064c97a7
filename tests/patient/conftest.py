"""Fixtures of the patient pages' tests: a share with real files and a CSRF-checking client."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

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
