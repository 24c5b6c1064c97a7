"""Incidents of the system status: one row per time a condition went bad, until it clears."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class IncidentQuerySet(models.QuerySet["Incident"]):
    def open(self) -> IncidentQuerySet:
        return self.filter(closed_at__isnull=True)


class Incident(models.Model):
    """A bad condition from its first sighting until it is seen good again.

    The administrators get one e-mail when it opens and one when it closes, however often
    the monitor runs in between. At most one incident per condition is open at a time.
    """

    condition = models.CharField(max_length=32)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)  # never personal data
    opened_mailed = models.BooleanField(default=False)
    closed_mailed = models.BooleanField(default=False)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["condition"],
                condition=Q(closed_at__isnull=True),
                name="staffpages_one_open_incident_per_condition",
            )
        ]

    def __str__(self) -> str:
        state = "open" if self.closed_at is None else "closed"
        return f"{self.condition} ({state} since {self.opened_at:%Y-%m-%d %H:%M})"
