"""C2: the delete code works only with its link; five wrong codes disable it."""

from __future__ import annotations

import pytest
from django.db import connection

from echoshare.portal.models import Share, ShareEvent
from echoshare.portal.services import DeleteResult, share_delete_by_patient, share_find
from tests.portal.factories import DELETE_CODE, make_share

pytestmark = pytest.mark.django_db


def test_it_deletes_with_token_and_code_and_access_ends_at_once(
    django_capture_on_commit_callbacks,
) -> None:
    share, token = make_share(items=("still",))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert share_delete_by_patient(token=token, code=DELETE_CODE) is DeleteResult.DELETED
    assert share_find(token=token) is None
    share.refresh_from_db()
    assert share.state == Share.State.DELETED_BY_PATIENT
    assert ShareEvent.objects.filter(share=share, kind="deleted_by_patient").count() == 1
    assert len(callbacks) == 1  # the file removal is queued after the commit


def test_lowercase_and_spaced_codes_are_accepted() -> None:
    _, token = make_share(items=("still",), delete_code="AB7K")
    assert share_delete_by_patient(token=token, code=" ab 7k ") is DeleteResult.DELETED


def test_the_code_of_one_share_does_not_delete_another() -> None:
    _, token = make_share(items=("still",), delete_code="AB7K")
    _, other_token = make_share(items=("still",), delete_code="ZZ99")
    assert share_delete_by_patient(token=other_token, code="AB7K") is DeleteResult.WRONG_CODE
    assert (
        share_delete_by_patient(token="not-a-token-at-all-xx", code="AB7K")
        is DeleteResult.NOT_FOUND
    )
    assert share_find(token=token) is not None and share_find(token=other_token) is not None


def test_wrong_code_five_times_disables_delete() -> None:
    share, token = make_share(items=("still",))
    results = [share_delete_by_patient(token=token, code="XXXX") for _ in range(5)]
    assert results == [DeleteResult.WRONG_CODE] * 4 + [DeleteResult.DISABLED]
    # The sixth attempt is refused even with the right code.
    assert share_delete_by_patient(token=token, code=DELETE_CODE) is DeleteResult.DISABLED
    share.refresh_from_db()
    assert share.state == Share.State.ACTIVE and share.delete_code_failures == 5
    assert share_find(token=token) is not None


def test_a_deleted_share_cannot_be_deleted_again() -> None:
    _, token = make_share(items=("still",))
    assert share_delete_by_patient(token=token, code=DELETE_CODE) is DeleteResult.DELETED
    assert share_delete_by_patient(token=token, code=DELETE_CODE) is DeleteResult.NOT_FOUND


def test_only_hashes_of_the_code_and_token_are_stored() -> None:
    share, token = make_share(items=("still",), delete_code="Q7RT")
    row = Share.objects.filter(pk=share.pk).values().get()
    stored = " ".join(str(value) for value in row.values())
    assert "Q7RT" not in stored.upper() and token not in stored
    assert row["delete_code_hash"].startswith("$argon2id$")
    with connection.cursor() as cursor:
        cursor.execute("SELECT token_hash FROM portal_share WHERE id = %s", [share.pk])
        assert len(cursor.fetchone()[0]) == 64
