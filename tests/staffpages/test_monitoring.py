"""System status and alert e-mails: each condition simulated bad for real (listener stopped,
disk threshold, a flipped archived byte, backlog without a worker, a message given up, the
portal down); one e-mail when an incident opens, none while it lasts, one when it clears."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import timezone, translation
from django_tasks_db.models import DBTaskResult

from echoshare.archive.fixity import archive_verify
from echoshare.archive.models import InstanceFile
from echoshare.clinic import monitoring
from echoshare.clinic.models import Appointment
from echoshare.clinic.staff.models import Incident
from echoshare.clinic.staff.tasks import make_thumbnail
from echoshare.notify.models import Message

pytestmark = pytest.mark.usefixtures("healthy")


def _by_name() -> dict[str, monitoring.Check]:
    return {check.name: check for check in monitoring.conditions_check()}


def _run_and_mails(django_capture_on_commit_callbacks: Any) -> monitoring.MonitorOutcome:
    with django_capture_on_commit_callbacks(execute=True):
        return monitoring.monitor_run()


def test_with_everything_healthy_no_condition_is_bad_and_nothing_is_mailed(
    personas: Any, django_capture_on_commit_callbacks: Any
) -> None:
    checks = _by_name()
    assert [c.name for c in checks.values() if c.bad] == []
    assert checks[monitoring.DICOM_LISTENER].ok is True
    assert checks[monitoring.PORTAL_REACHABLE].ok is True
    outcome = _run_and_mails(django_capture_on_commit_callbacks)
    assert outcome.opened == [] and mail.outbox == []


def test_a_stopped_listener_mails_the_administrators_once_and_once_more_when_it_is_back(
    personas: Any, dicom_listener: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    personas["administrator"][0].email = "admin@clinic.example.nl"
    personas["administrator"][0].save()
    personas["sonographer"][0].email = "sono@clinic.example.nl"
    personas["sonographer"][0].save()
    port = settings.DICOM_PORT
    dicom_listener.shutdown()  # the listener stops
    outcome = _run_and_mails(django_capture_on_commit_callbacks)
    assert outcome.opened == [monitoring.DICOM_LISTENER]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["admin@clinic.example.nl"]  # administrators only
    assert "DICOM" in mail.outbox[0].subject and f":{port}" in mail.outbox[0].body
    for _ in range(3):  # the monitor runs every minute: no new mail while it lasts
        assert _run_and_mails(django_capture_on_commit_callbacks).opened == []
    assert len(mail.outbox) == 1
    assert Incident.objects.open().get().condition == monitoring.DICOM_LISTENER

    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = AE(ae_title=settings.DICOM_ARCHIVE_AE)
    ae.add_supported_context(Verification)
    restarted = ae.start_server(("127.0.0.1", port), block=False)
    try:
        outcome = _run_and_mails(django_capture_on_commit_callbacks)
    finally:
        restarted.shutdown()
    assert outcome.closed == [monitoring.DICOM_LISTENER]
    assert len(mail.outbox) == 2 and "Resolved" in mail.outbox[1].subject
    assert not Incident.objects.open().exists()


def test_free_disk_space_below_the_threshold_is_an_incident(
    personas: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MONITOR_ALERT_EMAILS = ["it@clinic.example.nl"]
    settings.MONITOR_DISK_FREE_MB = 10**9  # a petabyte: no disk here has that free
    checks = _by_name()
    assert checks[monitoring.DISK_ARCHIVE].bad and checks[monitoring.DISK_DATA].bad
    outcome = _run_and_mails(django_capture_on_commit_callbacks)
    assert sorted(outcome.opened) == [monitoring.DISK_ARCHIVE, monitoring.DISK_DATA]
    assert len(mail.outbox) == 2 and mail.outbox[0].to == ["it@clinic.example.nl"]
    assert "MB free" in mail.outbox[0].body


def test_an_archive_verify_that_found_a_changed_file_is_an_incident(
    exam: Appointment, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MONITOR_ALERT_EMAILS = ["it@clinic.example.nl"]
    archive_verify()
    assert _by_name()[monitoring.ARCHIVE_VERIFY].ok is True
    archived = InstanceFile.objects.first()
    assert archived is not None
    path = Path(settings.ARCHIVE_DIR) / archived.relative_path
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    archive_verify()
    check = _by_name()[monitoring.ARCHIVE_VERIFY]
    assert check.bad and "1 changed" in check.detail
    assert _run_and_mails(django_capture_on_commit_callbacks).opened == [monitoring.ARCHIVE_VERIFY]
    assert "archive verify" in mail.outbox[0].subject.lower()


def test_a_verify_that_stopped_running_is_an_incident_not_an_old_all_clear(
    exam: Appointment, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MONITOR_ALERT_EMAILS = ["it@clinic.example.nl"]
    archive_verify()
    assert _by_name()[monitoring.ARCHIVE_VERIFY].ok is True
    with time_machine.travel(timezone.now() + timedelta(days=9)):
        check = _by_name()[monitoring.ARCHIVE_VERIFY]
        assert check.bad and "more than 8 days old" in check.detail
        assert _run_and_mails(django_capture_on_commit_callbacks).opened == [
            monitoring.ARCHIVE_VERIFY
        ]


def test_a_backlog_with_no_live_worker_and_a_given_up_message_are_incidents(
    exam: Appointment, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MONITOR_ALERT_EMAILS = ["it@clinic.example.nl"]
    make_thumbnail.enqueue(instance_key="x")  # waiting, and no worker heartbeat
    assert DBTaskResult.objects.ready().exists()
    message = Message.objects.first()
    assert message is not None
    Message.objects.filter(pk=message.pk).update(state=Message.State.GAVE_UP)
    checks = _by_name()
    assert (
        checks[monitoring.WORKER_BACKLOG].bad
        and "0 workers alive" in checks[monitoring.WORKER_BACKLOG].detail
    )
    assert checks[monitoring.OUTBOX_GIVE_UPS].bad
    outcome = _run_and_mails(django_capture_on_commit_callbacks)
    assert sorted(outcome.opened) == [monitoring.OUTBOX_GIVE_UPS, monitoring.WORKER_BACKLOG]


def test_an_unreachable_portal_is_an_incident(
    personas: Any, portal_healthz: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MONITOR_ALERT_EMAILS = ["it@clinic.example.nl"]
    portal_healthz.status = 503
    assert _by_name()[monitoring.PORTAL_REACHABLE].bad
    portal_healthz.status = 200
    assert not _by_name()[monitoring.PORTAL_REACHABLE].bad
    settings.PORTAL_API_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    assert _run_and_mails(django_capture_on_commit_callbacks).opened == [
        monitoring.PORTAL_REACHABLE
    ]


def test_an_alert_that_could_not_be_mailed_is_sent_by_the_next_run_once(
    personas: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MONITOR_ALERT_EMAILS = ["it@clinic.example.nl"]
    settings.MONITOR_DISK_FREE_MB = 10**9
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    _run_and_mails(django_capture_on_commit_callbacks)  # the mail server is down
    assert Incident.objects.filter(opened_mailed=False).count() == 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _run_and_mails(django_capture_on_commit_callbacks)
    _run_and_mails(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 2
    assert not Incident.objects.filter(opened_mailed=False).exists()


def test_the_status_page_shows_each_bad_condition(
    client_for: Any, dicom_listener: Any, settings: Any
) -> None:
    dicom_listener.shutdown()
    settings.MONITOR_DISK_FREE_MB = 10**9
    page = client_for("administrator").get("/staff/status/").content.decode()
    assert "Something needs attention" in page
    for name in (monitoring.DICOM_LISTENER, monitoring.DISK_ARCHIVE, monitoring.DISK_DATA):
        assert f'data-condition="{name}" class="bad"' in page, name
    assert f'data-condition="{monitoring.PORTAL_REACHABLE}" class="good"' in page


def test_the_monitor_command_prints_the_conditions_and_exits_1_on_a_problem(
    personas: Any, settings: Any, capsys: Any
) -> None:
    from django.core.management import call_command

    call_command("monitor", "--dry-run")
    assert "dicom_listener     ok" in capsys.readouterr().out
    assert not Incident.objects.exists()
    settings.MONITOR_DISK_FREE_MB = 10**9
    with pytest.raises(SystemExit) as exit_:
        call_command("monitor")
    assert exit_.value.code == 1
    assert "disk_data          PROBLEM" in capsys.readouterr().out
    assert Incident.objects.open().count() == 2


def test_alerts_are_in_the_clinics_language(
    personas: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.LANGUAGE_CODE = "nl"
    settings.MONITOR_ALERT_EMAILS = ["it@clinic.example.nl"]
    settings.MONITOR_DISK_FREE_MB = 10**9
    with translation.override("nl"):
        _run_and_mails(django_capture_on_commit_callbacks)
    subjects = sorted(message.subject for message in mail.outbox)
    assert subjects == [
        "[echoshare] Probleem: Schijfruimte van de datamap",
        "[echoshare] Probleem: Schijfruimte van het archief",
    ]
    assert "MB vrij" in mail.outbox[0].body


def test_a_share_whose_files_the_portal_could_not_remove_is_one_incident_until_removed(
    exam: Appointment, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from echoshare.clinic.models import Publication
    from echoshare.clinic.share_status import share_event_apply

    settings.MONITOR_ALERT_EMAILS = ["it@clinic.example.nl"]
    Publication.objects.create(
        appointment=exam,
        state=Publication.State.REVOKED,
        idempotency_key="purge-test",
        portal_share_id="SHAREPURGE1",
        expires_at=timezone.now() + timedelta(days=60),
    )
    assert _by_name()[monitoring.PORTAL_PURGE].ok is True

    def portal_reports(kind: str) -> None:  # as the status pull applies the portal's feed
        share_event_apply(
            event={"share": "SHAREPURGE1", "kind": kind, "at": "2026-03-02T10:00+00:00"}
        )

    portal_reports("purge_failed")
    check = _by_name()[monitoring.PORTAL_PURGE]
    assert check.bad and "1 ended share whose" in check.detail
    for _ in range(3):
        _run_and_mails(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1 and "Files removed from the portal" in mail.outbox[0].subject
    portal_reports("purged")
    assert _run_and_mails(django_capture_on_commit_callbacks).closed == [monitoring.PORTAL_PURGE]
    assert len(mail.outbox) == 2
