"""The served OpenAPI document matches the API's routes, both ways."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern

from echoshare.portal import api_urls
from tests.portal.conftest import Api

pytestmark = pytest.mark.django_db


def _routes() -> dict[str, set[str]]:
    """OpenAPI-style path -> methods, read from api_urls and the views' api_view methods."""
    routes: dict[str, set[str]] = {}
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if route.startswith("^"):
            continue  # the JSON 404 catch-all
        path = "/" + re.sub(r"<str:(\w+)>", r"{\1}", route)
        methods = getattr(pattern.callback, "api_methods", ("GET",))
        routes[path] = {m.lower() for m in methods}
    return routes


def test_every_documented_route_exists_and_every_route_is_documented(client: Client) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    documented = {path: set(ops) for path, ops in document["paths"].items()}
    assert documented == _routes()


def test_documented_operations_answer_with_documented_statuses(api: Api) -> None:
    document = api.client.get("/api/v1/openapi.json").json()
    body = api.create(["still"]).json()
    for path, operations in document["paths"].items():
        url = "/api/v1" + path.replace("{share_id}", body["id"])
        for method, operation in operations.items():
            if path == "/shares":
                continue  # multipart: covered by test_api_create
            call = getattr(api.client, method)
            if method == "post":
                response = call(url, "{}", content_type="application/json", headers=api.headers())
            else:
                response = call(url, headers=api.headers())
            assert str(response.status_code) in operation["responses"], (method, path)


def test_schema_refs_resolve(client: Client) -> None:
    document = client.get("/api/v1/openapi.json").json()
    text = str(document)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in document["components"]["schemas"]
