"""Delete from the menu, with or without the password (C2), and the receipt."""

from __future__ import annotations

import pytest
from django.test import Client

from echoshare.portal.models import Share
from tests.patient.conftest import open_share, post_form
from tests.portal.factories import DELETE_CODE

pytestmark = pytest.mark.django_db


def _delete(client: Client, token: str, code: str, confirm: bool = True):  # type: ignore[no-untyped-def]
    data = {"code": code, **({"confirm": "yes"} if confirm else {})}
    return post_form(client, f"/s/{token}/delete", data)


def test_the_form_asks_for_the_code_and_a_confirmation(client: Client, shared) -> None:
    _share, token = shared
    body = client.get(f"/s/{token}/delete").content.decode()
    assert '<label for="code">Verwijdercode</label>' in body
    assert 'name="confirm" type="checkbox" value="yes" required' in body


def test_the_right_code_deletes_without_the_password(client: Client, shared) -> None:
    share, token = shared
    response = _delete(client, token, DELETE_CODE.lower())  # case-insensitive
    assert response.status_code == 200
    body = response.content.decode()
    assert "Uw foto's en filmpjes zijn verwijderd" in body
    assert "bewaart een eigen kopie van het onderzoek in het archief" in body
    share.refresh_from_db()
    assert share.state == Share.State.DELETED_BY_PATIENT
    assert client.get(f"/s/{token}").status_code == 404


def test_after_deleting_the_session_reaches_nothing(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    clip = share.items.get(kind="clip")
    assert client.get(f"/s/{token}/m/{clip.public_id}/full").status_code == 200
    assert _delete(client, token, DELETE_CODE).status_code == 200
    assert client.get(f"/s/{token}/m/{clip.public_id}/full").status_code == 404
    assert client.get(f"/s/{token}/gallery").status_code == 404
    assert client.get(f"/s/{token}/zip").status_code == 404


def test_a_wrong_code_is_refused_and_counted(client: Client, shared) -> None:
    share, token = shared
    response = _delete(client, token, "ZZZZ")
    assert response.status_code == 403
    assert "Deze code klopt niet" in response.content.decode()
    share.refresh_from_db()
    assert share.state == Share.State.ACTIVE
    assert share.delete_code_failures == 1


def test_a_code_of_the_wrong_length_or_no_confirmation_is_not_counted(
    client: Client, shared
) -> None:
    share, token = shared
    assert _delete(client, token, "ABC").status_code == 400
    response = _delete(client, token, DELETE_CODE, confirm=False)
    assert response.status_code == 400
    assert "Vink het vakje aan" in response.content.decode()
    share.refresh_from_db()
    assert share.delete_code_failures == 0
    assert share.state == Share.State.ACTIVE


def test_wrong_code_five_times_disables_delete_even_for_the_right_code(
    client: Client, shared
) -> None:
    share, token = shared
    Share.objects.filter(pk=share.pk).update(delete_code_failures=4)
    response = _delete(client, token, "ZZZZ")
    assert response.status_code == 403
    assert f"Bel {share.clinic.name}" in response.content.decode()
    response = _delete(client, token, DELETE_CODE)  # the sixth attempt, correct
    assert response.status_code == 403
    share.refresh_from_db()
    assert share.state == Share.State.ACTIVE
    assert "Bel" in client.get(f"/s/{token}/delete").content.decode()


def test_delete_without_csrf_token_is_refused(client: Client, shared) -> None:
    share, token = shared
    response = client.post(f"/s/{token}/delete", {"code": DELETE_CODE, "confirm": "yes"})
    assert response.status_code == 403
    share.refresh_from_db()
    assert share.state == Share.State.ACTIVE


def test_get_never_deletes(client: Client, shared) -> None:
    share, token = shared
    client.get(f"/s/{token}/delete?code={DELETE_CODE}&confirm=yes")
    share.refresh_from_db()
    assert share.state == Share.State.ACTIVE
    assert share.delete_code_failures == 0


def test_a_burst_of_codes_from_one_address_gets_429(client: Client, shared, settings) -> None:
    share, token = shared
    settings.PORTAL_BURST_LIMIT = 1
    assert _delete(client, token, "ZZZZ").status_code == 403
    response = _delete(client, token, DELETE_CODE)
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    share.refresh_from_db()
    assert share.state == Share.State.ACTIVE
    assert share.delete_code_failures == 1
