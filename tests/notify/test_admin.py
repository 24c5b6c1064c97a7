"""Staff see the outbox and can send a failed message again."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from echoshare.notify.admin import MessageAdmin
from echoshare.notify.models import Message
from echoshare.notify.services import message_queue
from tests.notify.conftest import LINK, link_context

pytestmark = pytest.mark.django_db
State = Message.State


def make_staff(*codenames: str) -> Any:
    user = get_user_model().objects.create_user("assistent", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


def request_for(user: Any) -> Any:
    request = RequestFactory().post("/staff/admin/notify/message/")
    request.user = user
    request.session = {}  # type: ignore[assignment]
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    return request


def failed_messages() -> list[Message]:
    messages = []
    for number, state in enumerate((State.GAVE_UP, State.SENT)):
        message = message_queue(
            kind="expiry_reminder",
            channel="email",
            recipient=f"p{number}@example.nl",
            language="nl",
            context=link_context(),
            patient_ref=f"PAT-{number}",
            idempotency_key=f"k{number}",
        )
        Message.objects.filter(pk=message.pk).update(state=state, last_error="SMTP 550: no")
        messages.append(message)
    return messages


def test_staff_with_the_permission_can_retry_and_get_told_what_was_skipped() -> None:
    gave_up, sent = failed_messages()
    admin = MessageAdmin(Message, site)
    request = request_for(make_staff("view_message", "retry_message"))
    assert "retry" in admin.get_actions(request)
    admin.retry(request, Message.objects.all())
    gave_up.refresh_from_db()
    sent.refresh_from_db()
    assert gave_up.state == State.QUEUED and gave_up.retried_by is not None
    assert sent.state == State.SENT
    notes = [str(m) for m in request._messages]
    assert "1 message(s) queued again." in notes
    assert any("sent message cannot be retried" in note for note in notes)


def test_the_outbox_is_read_only_and_retry_needs_its_permission() -> None:
    admin = MessageAdmin(Message, site)
    request = request_for(make_staff("view_message"))
    assert "retry" not in admin.get_actions(request)
    assert not admin.has_add_permission(request)
    assert not admin.has_change_permission(request)
    assert not admin.has_delete_permission(request)
    assert "sealed_text" not in admin.get_fields(request)


def test_the_outbox_page_lists_messages_without_their_texts(client: Any) -> None:
    failed_messages()
    admin_user = get_user_model().objects.create_superuser("chef", email="chef@example.nl")
    client.force_login(admin_user)
    # The admin needs a second factor (django-otp): mark the session as verified.
    device = TOTPDevice.objects.create(user=admin_user, name="app", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    page = client.get("/staff/admin/notify/message/?state__exact=gave_up")
    assert page.status_code == 200
    content = page.content.decode()
    assert "p0@example.nl" in content and "SMTP 550: no" in content
    assert "p1@example.nl" not in content  # filtered out: sent
    detail = client.get(f"/staff/admin/notify/message/{Message.objects.first().pk}/change/")
    assert detail.status_code == 200 and LINK not in detail.content.decode()
