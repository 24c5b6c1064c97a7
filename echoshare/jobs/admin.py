"""Read-only views of the queue for staff (clinic tier, where the admin is installed)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from echoshare.jobs.models import JobAttempt, PeriodicSchedule, SchedulerLease, WorkerHeartbeat


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JobAttempt)
class JobAttemptAdmin(ReadOnlyAdmin):
    list_display = ("original_id", "attempt", "outcome", "result_id", "retried_as", "created_at")
    list_filter = ("outcome",)
    search_fields = ("=original_id", "=result_id")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("worker_id", "host", "pid", "started_at", "last_seen")


@admin.register(PeriodicSchedule)
class PeriodicScheduleAdmin(ReadOnlyAdmin):
    list_display = ("name", "next_run_at", "last_enqueued_at", "last_result_id")


@admin.register(SchedulerLease)
class SchedulerLeaseAdmin(ReadOnlyAdmin):
    list_display = ("name", "holder", "expires_at")
