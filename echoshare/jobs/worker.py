"""The worker loop: django-tasks-db's Worker with a heartbeat, a reaper, retries and a clean
stop.

- A thread writes this worker's WorkerHeartbeat row every JOB_HEARTBEAT_SECONDS and, every
  few beats, reaps the running jobs of workers that stopped reporting (services).
- A run is settled with a conditional UPDATE (services): a failure goes through the retry
  path; a result that arrives after the job was reaped is dropped, not double-counted.
- SIGTERM/SIGINT: take no new job; the current one may finish within
  JOB_SHUTDOWN_GRACE_SECONDS, after that (or on a second signal) it is interrupted and given
  back to the queue untouched.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks.base import TaskContext
from django_tasks.signals import task_finished, task_started
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from echoshare.jobs.models import WorkerHeartbeat
from echoshare.jobs.services import job_fail, job_give_back, job_succeed, jobs_reap_stale

logger = logging.getLogger(__name__)

# Reap every this many heartbeats (with the defaults: every 30 seconds).
REAP_EVERY_BEATS = 6


class WorkerStopping(BaseException):
    """Raised inside a running job to interrupt it when the worker must stop now."""


def new_worker_id() -> str:
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{get_random_string(8)}"


class Heartbeat(threading.Thread):
    """Writes the worker's heartbeat and runs the reaper, on its own DB connection."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(name="echoshare-heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stopping = threading.Event()
        self.started_at = timezone.now()

    def beat(self) -> None:
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "pid": os.getpid(),
                "host": socket.gethostname()[:255],
                "started_at": self.started_at,
                "last_seen": timezone.now(),
            },
        )

    def run(self) -> None:
        beats = 0
        try:
            while not self.stopping.is_set():
                close_old_connections()
                try:
                    self.beat()
                    if beats % REAP_EVERY_BEATS == 0:
                        reaped = jobs_reap_stale()
                        if reaped:
                            logger.warning("took back %d job(s) of lost workers", reaped)
                except Exception:
                    # A locked or briefly unreachable database: try again next beat.
                    logger.exception("heartbeat failed")
                beats += 1
                self.stopping.wait(settings.JOB_HEARTBEAT_SECONDS)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=settings.JOB_HEARTBEAT_SECONDS + 5)
        try:
            WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()
        except Exception:
            logger.exception("could not remove the heartbeat of %s", self.worker_id)


class JobWorker(Worker):
    def __init__(self, *, worker_id: str, queue_names: list[str], interval: float = 1.0) -> None:
        super().__init__(
            queue_names=queue_names,
            interval=interval,
            batch=False,
            backend_name="default",
            startup_delay=True,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        self.in_job_code = False

    def configure_signals(self) -> None:
        super().configure_signals()
        signal.signal(signal.SIGALRM, self._grace_over)

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        if not self.running:
            logger.warning("second %s: stopping now", signal.strsignal(signum))
            if self.in_job_code:
                raise WorkerStopping
            if not self.running_task:
                sys.exit(1)
            return  # settling a finished job takes a moment; the loop ends after it
        logger.warning("%s: stopping after the current job", signal.strsignal(signum))
        self.running = False
        if self.in_job_code and settings.JOB_SHUTDOWN_GRACE_SECONDS:
            signal.alarm(settings.JOB_SHUTDOWN_GRACE_SECONDS)
        elif self.in_job_code:
            raise WorkerStopping
        # Idle: the loop sees `running` is off within one interval and returns.

    def _grace_over(self, signum: int, frame: FrameType | None) -> None:
        if self.in_job_code:
            logger.warning("job still running after the shutdown grace period: giving it back")
            raise WorkerStopping

    def run_task(self, db_task_result: DBTaskResult) -> None:
        self.running_task = True
        try:
            if not self.running:  # claimed just as a stop was requested
                job_give_back(result=db_task_result)
                return
            self._run(db_task_result)
        except WorkerStopping:
            job_give_back(result=db_task_result)
        finally:
            signal.alarm(0)
            self.running_task = False
            self._run_tasks += 1

    def _run(self, db_task_result: DBTaskResult) -> None:
        try:
            task = db_task_result.task
            task_result = db_task_result.task_result
            backend = type(task.get_backend())
            task_started.send(sender=backend, task_result=task_result)
            args, kwargs = task_result.args, task_result.kwargs
            if task.takes_context:
                args = [TaskContext(task_result=task_result), *args]  # type: ignore[arg-type]
            # Only the job's own code may be interrupted by a stop: never the settling below.
            self.in_job_code = True
            try:
                if not self.running:  # a stop came in while the job was being set up
                    raise WorkerStopping
                value = task.call(*args, **kwargs)
            finally:
                self.in_job_code = False
                signal.alarm(0)
            settled = job_succeed(result=db_task_result, return_value=value)
        except (WorkerStopping, KeyboardInterrupt):
            raise
        except BaseException as exc:  # a job's sys.exit() is a failed job, not our exit
            settled = job_fail(result=db_task_result, error=exc) is not None
        if settled:
            self._send_finished(db_task_result)

    def _send_finished(self, db_task_result: DBTaskResult) -> None:
        try:
            db_task_result.refresh_from_db()
            task_result = db_task_result.task_result
            task_finished.send(sender=type(task_result.task.get_backend()), task_result=task_result)
        except Exception:
            logger.exception("task_finished for job %s failed", db_task_result.id)


def run_worker(*, queue_names: list[str], worker_id: str | None = None) -> None:
    """Run a worker until SIGTERM/SIGINT (the `echoshare worker` command)."""
    worker_id = worker_id or new_worker_id()
    heartbeat = Heartbeat(worker_id)
    heartbeat.beat()  # registered before the first claim, so its jobs are never "stale"
    heartbeat.start()
    worker = JobWorker(worker_id=worker_id, queue_names=queue_names)
    worker.configure_signals()
    try:
        worker.run()
    finally:
        worker.reset_signals()
        heartbeat.stop()
        connection.close()
        logger.info("worker %s stopped", worker_id)
