"""System status: the conditions administrators watch, and alert e-mails when one goes bad.

`conditions_check()` evaluates every condition now (the status page shows them);
`monitor_run()` (a periodic job, and `echoshare monitor` for cron) records an `Incident`
when a condition turns bad and e-mails the administrators once when it opens and once when
it clears, never once per run. Details name counts, paths of our own folders and times,
never a patient.
"""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import get_connection, send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from echoshare.clinic.roles import ADMINISTRATOR
from echoshare.clinic.staff.models import Incident

log = logging.getLogger(__name__)

# Condition names: stable keys of Incident rows.
DICOM_LISTENER = "dicom_listener"
LAST_IMAGE = "last_image"
WORKER_BACKLOG = "worker_backlog"
DISK_ARCHIVE = "disk_archive"
DISK_DATA = "disk_data"
ARCHIVE_VERIFY = "archive_verify"
OUTBOX_GIVE_UPS = "outbox_give_ups"
PORTAL_REACHABLE = "portal_reachable"
PORTAL_PURGE = "portal_purge"


@dataclass(frozen=True)
class Check:
    """One condition as seen now. `ok` None: nothing to judge yet (never ran, no images)."""

    name: str
    ok: bool | None
    detail: str
    alerts: bool = True  # False: shown on the page only (the last image is information)

    @property
    def bad(self) -> bool:
        return self.alerts and self.ok is False

    @property
    def label(self) -> str:
        return condition_label(self.name)


def condition_label(name: str) -> str:
    labels = {
        DICOM_LISTENER: _("DICOM listener"),
        LAST_IMAGE: _("Last image received"),
        WORKER_BACKLOG: _("Worker backlog"),
        DISK_ARCHIVE: _("Disk space of the archive"),
        DISK_DATA: _("Disk space of the data folder"),
        ARCHIVE_VERIFY: _("Last archive verify"),
        OUTBOX_GIVE_UPS: _("Messages given up"),
        PORTAL_REACHABLE: _("Portal reachable"),
        PORTAL_PURGE: _("Files removed from the portal"),
    }
    return labels.get(name, name)


# --- The conditions --------------------------------------------------------------------------


def dicom_listener_check() -> Check:
    """A C-ECHO to our own listener: up when it answers, or when it refuses our AE title."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    bound = settings.DICOM_BIND_ADDRESS
    every_address = bound in ("", "0.0.0.0", "::")  # noqa: S104 - compared, not bound
    host = settings.MONITOR_DICOM_HOST or ("127.0.0.1" if every_address else bound)
    port = settings.DICOM_PORT
    timeout = settings.MONITOR_TIMEOUT_SECONDS
    try:
        # A plain connect first: pynetdicom logs a refused connection as an ERROR, and a
        # stopped listener would fill the log once a minute.
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return Check(DICOM_LISTENER, False, _("not reachable on %(where)s") % _where(host, port))
    ae = AE(ae_title="ECHOSHARE_MON")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.connection_timeout = timeout
    assoc = ae.associate(host, port, ae_title=settings.DICOM_ARCHIVE_AE)
    if assoc.is_established:
        status = assoc.send_c_echo()
        assoc.release()
        if status and status.Status == 0:
            return Check(
                DICOM_LISTENER, True, _("answers C-ECHO on %(where)s") % _where(host, port)
            )
        return Check(DICOM_LISTENER, False, _("no C-ECHO answer on %(where)s") % _where(host, port))
    if assoc.is_rejected:
        return Check(
            DICOM_LISTENER,
            True,
            _("listening on %(where)s (refused the monitor's AE title)") % _where(host, port),
        )
    return Check(DICOM_LISTENER, False, _("not reachable on %(where)s") % _where(host, port))


def _where(host: str, port: int) -> dict[str, str]:
    return {"where": f"{host}:{port}"}


def last_image_check() -> Check:
    from echoshare.archive.models import InstanceFile

    last = InstanceFile.objects.order_by("-received_at").values_list("received_at", flat=True)
    when = last.first()
    if when is None:
        return Check(LAST_IMAGE, None, _("no image received yet"), alerts=False)
    local = timezone.localtime(when)
    return Check(LAST_IMAGE, True, f"{local:%Y-%m-%d %H:%M}", alerts=False)


def worker_backlog_check(now: datetime) -> Check:
    from django_tasks_db.models import DBTaskResult

    from echoshare.jobs.models import WorkerHeartbeat

    waiting = DBTaskResult.objects.ready().count()
    since = now - timedelta(seconds=settings.JOB_STALE_SECONDS)
    workers = WorkerHeartbeat.objects.filter(last_seen__gte=since).count()
    # Two plurals, each agreeing with its own count ("1 taak wachtend, 2 verwerkers actief").
    detail = ", ".join(
        [
            ngettext("%(count)d job waiting", "%(count)d jobs waiting", waiting)
            % {"count": waiting},
            ngettext("%(count)d worker alive", "%(count)d workers alive", workers)
            % {"count": workers},
        ]
    )
    ok = waiting <= settings.MONITOR_BACKLOG_MAX and (waiting == 0 or workers > 0)
    return Check(WORKER_BACKLOG, ok, detail)


def disk_check(name: str, folder: Path) -> Check:
    threshold = settings.MONITOR_DISK_FREE_MB
    try:
        free_mb = shutil.disk_usage(folder).free // (1024 * 1024)
    except OSError as exc:
        return Check(name, False, _("cannot be read: %(error)s") % {"error": exc.strerror})
    detail = _("%(free)s MB free (alert below %(threshold)s MB)") % {
        "free": _grouped(free_mb),
        "threshold": _grouped(threshold),
    }
    return Check(name, free_mb >= threshold, detail)


def _grouped(number: int) -> str:
    """The number with the active language's thousands separator: "45.343" in Dutch, where
    a comma would read as a decimal comma ("45,343 MB" is 45 MB there), "45,343" in English."""
    return number_format(number, force_grouping=True)


# Weekly, plus a day for a run that takes long or a scheduler restarted late.
VERIFY_OVERDUE = timedelta(days=8)


def archive_verify_check() -> Check:
    from echoshare.archive.models import FixityRun

    run = FixityRun.objects.filter(finished_at__isnull=False).order_by("-started_at").first()
    if run is None:
        return Check(ARCHIVE_VERIFY, None, _("never ran"))
    when = f"{timezone.localtime(run.started_at):%Y-%m-%d %H:%M}"
    if timezone.now() - run.started_at > VERIFY_OVERDUE:
        # The scheduler runs it weekly: an old "all intact" says nothing about today.
        return Check(
            ARCHIVE_VERIFY,
            False,
            _("%(when)s: the last verify is more than 8 days old (is the scheduler running?)")
            % {"when": when},
        )
    if run.ok:
        return Check(
            ARCHIVE_VERIFY,
            True,
            ngettext(
                "%(when)s: %(checked)d file, intact",
                "%(when)s: %(checked)d files, all intact",
                run.checked,
            )
            % {"when": when, "checked": run.checked},
        )
    detail = _(
        "%(when)s: %(changed)d changed, %(missing)d missing, %(unindexed)d unindexed of %(checked)d"
    ) % {
        "when": when,
        "changed": run.changed,
        "missing": run.missing,
        "unindexed": run.unindexed,
        "checked": run.checked,
    }
    return Check(ARCHIVE_VERIFY, False, detail)


def outbox_check() -> Check:
    from echoshare.notify.models import Message

    count = Message.objects.needing_staff().count()
    return Check(
        OUTBOX_GIVE_UPS,
        count == 0,
        ngettext("%(count)d message needs staff", "%(count)d messages need staff", count)
        % {"count": count},
    )


def portal_check() -> Check:
    import requests

    url = f"{settings.PORTAL_API_URL}/healthz"
    try:
        response = requests.get(url, timeout=settings.MONITOR_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return Check(
            PORTAL_REACHABLE,
            False,
            _("%(url)s: %(error)s") % {"url": url, "error": type(exc).__name__},
        )
    if response.status_code != 200:
        return Check(
            PORTAL_REACHABLE,
            False,
            _("%(url)s answered %(status)d") % {"url": url, "status": response.status_code},
        )
    return Check(PORTAL_REACHABLE, True, _("%(url)s answered 200") % {"url": url})


def portal_purge_check() -> Check:
    """D3: the portal reported that it could not remove an ended share's files (it retries;
    the incident lasts until its `purged` event arrives with the status pull)."""
    from echoshare.clinic.share_status import publications_purge_failed

    failed = publications_purge_failed()
    count = failed.count()
    if count == 0:
        return Check(PORTAL_PURGE, True, _("no failed removal reported"))
    since = failed.order_by("last_status_at").values_list("last_status_at", flat=True).first()
    detail = ngettext(
        "%(count)d ended share whose files the portal could not remove (first: %(when)s); "
        "the portal keeps trying: check its storage",
        "%(count)d ended shares whose files the portal could not remove (first: %(when)s); "
        "the portal keeps trying: check its storage",
        count,
    ) % {"count": count, "when": f"{timezone.localtime(since):%Y-%m-%d %H:%M}" if since else "?"}
    return Check(PORTAL_PURGE, False, detail)


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    # One broken probe must not hide the others (nor fail the status page).
    try:
        return check()
    except Exception as exc:
        log.warning("monitor: check %s failed: %s", name, type(exc).__name__)
        return Check(
            name, False, _("the check itself failed: %(error)s") % {"error": type(exc).__name__}
        )


def conditions_check(*, now: datetime | None = None) -> list[Check]:
    """Every condition, evaluated now, in the order the status page shows them."""
    now = now or timezone.now()
    probes: list[tuple[str, Callable[[], Check]]] = [
        (DICOM_LISTENER, dicom_listener_check),
        (LAST_IMAGE, last_image_check),
        (WORKER_BACKLOG, lambda: worker_backlog_check(now)),
        (DISK_ARCHIVE, lambda: disk_check(DISK_ARCHIVE, Path(settings.ARCHIVE_DIR))),
        (DISK_DATA, lambda: disk_check(DISK_DATA, Path(settings.DATA_DIR))),
        (ARCHIVE_VERIFY, archive_verify_check),
        (OUTBOX_GIVE_UPS, outbox_check),
        (PORTAL_REACHABLE, portal_check),
        (PORTAL_PURGE, portal_purge_check),
    ]
    return [_guarded(name, probe) for name, probe in probes]


# --- Incidents and alert e-mails -------------------------------------------------------------


@dataclass(frozen=True)
class MonitorOutcome:
    opened: list[str]
    closed: list[str]


def monitor_run(
    *, now: datetime | None = None, checks: list[Check] | None = None
) -> MonitorOutcome:
    """Open an incident for each newly bad condition, close those seen good again; mail both."""
    now = now or timezone.now()
    checks = conditions_check(now=now) if checks is None else checks
    opened: list[str] = []
    closed: list[str] = []
    for check in checks:
        if not check.alerts:
            continue
        if check.bad and _incident_open(check, now):
            opened.append(check.name)
        elif check.ok is not False and _incident_close(check, now):
            closed.append(check.name)
    # After commit: a mail never announces an incident that was rolled back. Unsent alerts
    # (mail server down) are retried by the next run.
    transaction.on_commit(_mail_pending)
    return MonitorOutcome(opened=opened, closed=closed)


def _incident_open(check: Check, now: datetime) -> bool:
    if Incident.objects.open().filter(condition=check.name).exists():
        return False
    try:
        with transaction.atomic():
            Incident.objects.create(condition=check.name, opened_at=now, detail=check.detail[:500])
    except IntegrityError:  # another monitor opened it at the same moment
        return False
    return True


def _incident_close(check: Check, now: datetime) -> bool:
    with transaction.atomic():
        incident = Incident.objects.select_for_update().open().filter(condition=check.name).first()
        if incident is None:
            return False
        incident.closed_at = now
        incident.detail = check.detail[:500]  # what "good again" looks like, for the mail
        incident.save(update_fields=["closed_at", "detail"])
    return True


def alert_recipients() -> list[str]:
    if settings.MONITOR_ALERT_EMAILS:
        return list(settings.MONITOR_ALERT_EMAILS)
    admins = get_user_model().objects.filter(is_active=True).exclude(email="")
    admins = admins.filter(groups__name=ADMINISTRATOR) | admins.filter(is_superuser=True)
    return sorted(set(admins.values_list("email", flat=True)))


def _mail(incident_id: int, *, opening: bool) -> None:
    incident = Incident.objects.get(pk=incident_id)
    recipients = alert_recipients()
    if not recipients:
        log.warning("monitor: no administrator e-mail address for incident %s", incident.condition)
        return
    with translation.override(settings.LANGUAGE_CODE):
        label = condition_label(incident.condition)
        if opening:
            subject = _("[echoshare] Problem: %(label)s") % {"label": label}
            body = _("%(label)s is not right since %(when)s:\n%(detail)s\n") % {
                "label": label,
                "when": f"{timezone.localtime(incident.opened_at):%Y-%m-%d %H:%M}",
                "detail": incident.detail,
            }
        else:
            subject = _("[echoshare] Resolved: %(label)s") % {"label": label}
            body = _("%(label)s is right again since %(when)s:\n%(detail)s\n") % {
                "label": label,
                "when": f"{timezone.localtime(incident.closed_at):%Y-%m-%d %H:%M}",
                "detail": incident.detail,
            }
        body += _("\nSee the system status page of echoshare for all conditions.\n")
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, connection=_connection())
    except Exception as exc:  # a mail server that is down is itself no reason to fail the job
        log.warning("monitor: alert e-mail failed: %s", type(exc).__name__)
        return
    field = "opened_mailed" if opening else "closed_mailed"
    Incident.objects.filter(pk=incident_id).update(**{field: True})


def _connection() -> Any:
    # The notify app's mail settings; its file outbox folder when the file backend is used.
    if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
        from echoshare.notify.email import email_outbox_dir

        return get_connection(fail_silently=False, file_path=str(email_outbox_dir()))
    return get_connection(fail_silently=False)


def _mail_pending() -> None:
    """Send the alerts whose first try failed (mail server down): still once per incident."""
    for pk in Incident.objects.open().filter(opened_mailed=False).values_list("pk", flat=True):
        _mail(pk, opening=True)
    pending = Incident.objects.filter(closed_at__isnull=False, closed_mailed=False)
    for pk in pending.values_list("pk", flat=True):
        _mail(pk, opening=False)
