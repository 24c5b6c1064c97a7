"""The jobs that send messages, and the system checks for the messages setup."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from echoshare.jobs.periodic import registered
from echoshare.notify.checks import check_real_delivery, check_sms_provider, check_sms_templates
from echoshare.notify.models import Message
from echoshare.notify.services import message_queue
from echoshare.notify.tasks import retry_due, send_message
from tests.notify.conftest import link_context


def queue() -> Message:
    return message_queue(
        kind="share_link",
        channel="sms",
        recipient="+31612345678",
        language="nl",
        context=link_context(),
        patient_ref="PAT-001",
        idempotency_key="share:1:sms",
    )


@pytest.mark.django_db
def test_queueing_enqueues_one_send_job_after_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = queue()
    assert not DBTaskResult.objects.exists()  # nothing before the commit
    for callback in callbacks:
        callback()
    [job] = DBTaskResult.objects.all()
    assert job.task_path == "echoshare.notify.tasks.send_message"
    assert job.args_kwargs["kwargs"] == {"message_id": message.pk}
    assert send_message.call(message_id=message.pk) == Message.State.SENT
    assert send_message.call(message_id=message.pk) == Message.State.SENT  # no second send
    assert send_message.call(message_id=999999) == "missing"


@pytest.mark.django_db
def test_the_periodic_sweep_sends_what_is_due() -> None:
    message = queue()
    assert retry_due.call() == 1
    message.refresh_from_db()
    assert message.state == Message.State.SENT


def test_the_sweep_and_the_text_purge_are_periodic_jobs() -> None:
    jobs = registered()
    assert jobs["notify.retry_due"].every == timedelta(minutes=1)
    assert jobs["notify.drop_texts"].task.name == "drop_texts"


def test_a_provider_without_credentials_is_a_configuration_error(settings: Any) -> None:
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = "x"
    assert [p.id for p in check_sms_provider(None)] == ["notify.E001"]
    settings.SMS_BACKEND = "file"
    settings.SMS_FROM = "Echopraktijk Utrecht"  # longer than 11 characters
    assert [p.id for p in check_sms_provider(None)] == ["notify.E002"]
    settings.SMS_FROM = "+31201234567"
    assert check_sms_provider(None) == []


def test_the_shipped_sms_texts_pass_and_a_long_override_warns(
    settings: Any, tmp_path: Path
) -> None:
    settings.PORTAL_URL = "https://portal.example.nl"
    assert check_sms_templates(None) == []
    (tmp_path / "notify").mkdir()
    (tmp_path / "notify" / "expiry_reminder.en.sms.txt").write_text("{{ link }} " + "x" * 120)
    settings.MESSAGE_TEMPLATES_DIR = str(tmp_path)
    [warning] = check_sms_templates(None)
    assert warning.id == "notify.W001" and "expiry_reminder.en takes 2 gsm7" in warning.msg


def test_the_deploy_check_warns_while_messages_only_go_to_files(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.SMS_BACKEND = "file"
    assert [p.id for p in check_real_delivery(None)] == ["notify.W002", "notify.W003"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.SMS_BACKEND = "messagebird"
    assert check_real_delivery(None) == []


@pytest.mark.django_db
def test_the_send_due_command_reports_what_needs_staff() -> None:
    queue()
    Message.objects.create(
        kind="share_link",
        channel="sms",
        recipient="+31612345679",
        language="nl",
        idempotency_key="other",
        state=Message.State.UNKNOWN,
    )
    out = StringIO()
    call_command("notify_send_due", stdout=out)
    assert out.getvalue().strip() == "sent 1, newly unknown 0, needing staff 1"
    assert Message.objects.needing_staff().count() == 1


@pytest.mark.django_db
def test_the_drop_texts_command_counts_in_a_dry_run() -> None:
    out = StringIO()
    call_command("notify_drop_texts", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "would drop 0 message text(s)"


def test_the_sms_length_command_shows_each_text_and_its_segments() -> None:
    out = StringIO()
    call_command("notify_sms_length", "--clinic-name", "Echo Zoë", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 8  # four texts, each with its length line
    assert all("gsm7, 1 segment(s)" in line for line in lines[::2])
    assert lines[1].strip().startswith("Echo Zoe: ")
