"""API tokens and the stored counters behind `/metrics`."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A personal token: it acts as its user, with that user's role, never more. Only the
    SHA-256 of the token is stored; the token itself is shown once, when it is created."""

    class Access(models.TextChoices):
        READ_ONLY = "read", "Read-only"
        READ_WRITE = "write", "Read-write"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for (an Airflow DAG).")
    prefix = models.CharField(
        max_length=16, help_text="The token's first characters, to tell tokens apart."
    )
    key_hash = models.CharField(
        max_length=64, unique=True, help_text="SHA-256 (hex) of the token; never the token."
    )
    access = models.CharField(max_length=5, choices=Access.choices, default=Access.READ_ONLY)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="None: never expires.")
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="Last authenticated request, to the minute."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The token page: one user's tokens, newest first.
            models.Index(fields=["user", "-created_at"], name="apitoken_user_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def read_only(self) -> bool:
        return self.access == self.Access.READ_ONLY

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def state_label(self) -> str:
        if self.revoked_at is not None:
            return "Revoked"
        return "Expired" if self.is_expired else "Active"


class MetricCounter(models.Model):
    """One monotonic counter of `/metrics` (a metric name and one set of label values).

    Stored rather than counted from runs at scrape time: the retention purge deletes runs,
    and a counter that goes down reads as a reset to Prometheus (a false spike in `rate()`).
    Stored in the database, it is the same for every web and worker process on any machine.
    """

    name = models.CharField(max_length=64)
    labels = models.CharField(
        max_length=300, help_text='Label values as sorted "key=value" pairs joined by ",".'
    )
    import_code = models.UUIDField(
        null=True, blank=True, help_text="The import the series is about (dropped with it)."
    )
    value = models.FloatField(default=0)

    class Meta:
        constraints = [
            # The upsert's conflict target (metrics.add_to_counters).
            models.UniqueConstraint(fields=["name", "labels"], name="metric_counter_unique"),
        ]
        indexes = [
            # Deleting an import drops its series.
            models.Index(fields=["import_code"], name="metric_counter_import_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name}{{{self.labels}}} {self.value}"
