"""Alerts: the rules (defaults for every import, or an import's own), the channels they reach,
each condition's state per import, and every notification with its deliveries and their attempts.

A condition notifies when it starts and when it clears, never while it persists
(`alerts.conditions.transition`). Deliveries (`alerts.delivery`) are generic: a signed webhook,
an email or a Slack message of one JSON payload, retried with backoff on the `alerts` queue.
Webhook channels may also subscribe to run-lifecycle events (`alerts.runevents`): those
deliveries belong to a run, not to a notification.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from imports.fields import decrypt_json, encrypt_json

USER_MODEL = settings.AUTH_USER_MODEL


class Condition(models.TextChoices):
    FAILED = "failed", "Run failed"
    HEALTH = "health", "Health below threshold"
    BLANK = "blank", "No records processed"
    COUNT = "count", "Record count off the expected"
    SKIPPED = "skipped", "Runs skipped in a row"
    STALE = "stale", "No completed run in time"


class Rules(models.Model):
    """The conditions an import is watched for. Defaults favour few, meaningful alerts: a failed
    run, health into Red, no records, three skipped runs in a row, and no completed run for
    twice the interval; the record-count checks are opt-in (a growing table differs from its
    COUNT on every run)."""

    class HealthThreshold(models.TextChoices):
        OFF = "off", "Off"
        YELLOW = "yellow", "Into Yellow (below 100%)"
        RED = "red", "Into Red (below 50%)"
        PERCENT = "percent", "Below a percentage"

    class Freshness(models.TextChoices):
        OFF = "off", "Off"
        INTERVALS = "intervals", "A number of schedule intervals"
        HOURS = "hours", "A number of hours"

    alert_on_failure = models.BooleanField(
        default=True,
        help_text="A run failed (credentials, warehouse, worker lost), with its reason.",
    )
    health_threshold = models.CharField(
        max_length=10, choices=HealthThreshold.choices, default=HealthThreshold.RED
    )
    health_below_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="With “Below a percentage”: alert when a run's health is below this.",
    )
    alert_on_blank = models.BooleanField(
        default=True, help_text="A run completed with no records processed (Blank)."
    )
    alert_on_count_mismatch = models.BooleanField(
        default=False, help_text="A run's total differs from the source's COUNT."
    )
    count_drop_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Alert when a run's total is more than this % below the median of the last 7 "
        "completed runs. Empty: off.",
    )
    skipped_in_a_row = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=3,
        help_text="Alert when this many runs in a row were skipped. Empty: off.",
    )
    freshness = models.CharField(
        max_length=10, choices=Freshness.choices, default=Freshness.INTERVALS
    )
    freshness_value = models.PositiveIntegerField(
        default=2, help_text="No completed run for this many intervals (or hours)."
    )

    RULE_FIELDS = (
        "alert_on_failure",
        "health_threshold",
        "health_below_percent",
        "alert_on_blank",
        "alert_on_count_mismatch",
        "count_drop_percent",
        "skipped_in_a_row",
        "freshness",
        "freshness_value",
    )

    class Meta:
        abstract = True

    def enables(self, condition: str) -> bool:
        return {
            Condition.FAILED: self.alert_on_failure,
            Condition.HEALTH: self.health_threshold != self.HealthThreshold.OFF,
            Condition.BLANK: self.alert_on_blank,
            Condition.COUNT: self.alert_on_count_mismatch or bool(self.count_drop_percent),
            Condition.SKIPPED: bool(self.skipped_in_a_row),
            Condition.STALE: self.freshness != self.Freshness.OFF and self.freshness_value > 0,
        }[condition]

    def health_floor(self) -> int | None:
        """Health in hundredths of a percent below which a run alerts; None when off."""
        if self.health_threshold == self.HealthThreshold.YELLOW:
            return 10000
        if self.health_threshold == self.HealthThreshold.RED:
            return 5000
        if self.health_threshold == self.HealthThreshold.PERCENT and self.health_below_percent:
            return int(self.health_below_percent * 100)
        return None

    def copy_rules_from(self, other: Rules) -> None:
        for name in self.RULE_FIELDS:
            setattr(self, name, getattr(other, name))


class AlertDefaults(Rules):
    """The one row of rules for every import that does not set its own."""

    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "alert defaults"

    def __str__(self) -> str:
        return "Alert defaults"

    @classmethod
    def load(cls) -> AlertDefaults:
        return cls.objects.get_or_create(pk=1)[0]


class Channel(models.Model):
    """Where notifications go. URLs and signing secrets are encrypted (as datasource secrets
    are) and never rendered back; `target_hint` is what pages show instead."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"
        SLACK = "slack", "Slack"

    class Origin(models.TextChoices):
        SETTINGS = "settings", "Settings page"
        ENVIRONMENT = "environment", "Environment"

    class RunEvents(models.TextChoices):
        NONE = "none", "None"
        ALL = "all", "Every run event: started, completed, failed, stopped, skipped"
        ENDED = "ended", "Runs that end: completed, failed, stopped, skipped"
        FAILED = "failed", "Failed runs only"

    class RunEventImports(models.TextChoices):
        ALERTING = "alerting", "The imports this channel alerts for"
        ALL = "all", "Every import"

    # The run events (`run.<state>`) each choice sends.
    RUN_EVENT_STATES = {
        RunEvents.NONE: (),
        RunEvents.ALL: ("started", "completed", "failed", "stopped", "skipped"),
        RunEvents.ENDED: ("completed", "failed", "stopped", "skipped"),
        RunEvents.FAILED: ("failed",),
    }

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    origin = models.CharField(
        max_length=12,
        choices=Origin.choices,
        default=Origin.SETTINGS,
        help_text="Environment channels come from ALERT_* variables; they are read-only here.",
    )
    email_to = models.TextField(blank=True, help_text="Email: comma-separated addresses.")
    target_hint = models.CharField(
        max_length=200, blank=True, help_text="The URL's host, shown instead of the secret URL."
    )
    secret_encrypted = models.TextField(
        blank=True, default="", help_text='Fernet token of {"url", "signing_secret"}; never shown.'
    )
    enabled = models.BooleanField(default=True)
    use_by_default = models.BooleanField(
        default=True, help_text="Imports that follow the defaults notify this channel."
    )
    run_events = models.CharField(
        max_length=10,
        choices=RunEvents.choices,
        default=RunEvents.NONE,
        help_text="Webhooks only: run-lifecycle events (run.started, run.completed…) it receives.",
    )
    run_event_imports = models.CharField(
        max_length=10,
        choices=RunEventImports.choices,
        default=RunEventImports.ALERTING,
        help_text="Whose runs: the imports whose alerts reach this channel, or every import.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["origin", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(origin="environment"),
                name="alert_channel_one_env_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def from_environment(self) -> bool:
        return self.origin == self.Origin.ENVIRONMENT

    def wants_run_event(self, event: str) -> bool:
        return event in self.RUN_EVENT_STATES[self.run_events]

    def set_secret(self, secret: dict | None) -> None:
        self.secret_encrypted = encrypt_json(secret) if secret else ""

    def get_secret(self) -> dict:
        return decrypt_json(self.secret_encrypted) if self.secret_encrypted else {}

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in self.email_to.split(",") if a.strip()]


class ImportAlerts(Rules):
    """One import's alert settings and the lock its evaluations take. Created on the first
    evaluation or edit; `follows_defaults` keeps the import on AlertDefaults and the default
    channels (the rule fields here then wait unused, prefilled for when it stops following)."""

    import_obj = models.OneToOneField(
        "imports.Import", on_delete=models.CASCADE, related_name="alerts", db_column="import_id"
    )
    follows_defaults = models.BooleanField(default=True)
    channels = models.ManyToManyField(Channel, blank=True, related_name="+")
    muted_until = models.DateTimeField(null=True, blank=True)
    muted_by = models.ForeignKey(
        USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    evaluated_since = models.DateTimeField(
        help_text="Runs that finished before this are never evaluated (no replay of history)."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Runs that ended this shortly before the row was made are still evaluated: their
    # evaluation may be waiting in the queue while a user's first edit creates the row.
    GRACE = timedelta(minutes=10)

    class Meta:
        verbose_name_plural = "import alerts"

    def __str__(self) -> str:
        return f"alerts of import {self.import_obj_id}"

    def is_muted(self, now: datetime | None = None) -> bool:
        return self.muted_until is not None and self.muted_until > (now or timezone.now())


class Notification(models.Model):
    """One change of one condition of one import (or a channel test), delivered or not."""

    class Event(models.TextChoices):
        TRIGGERED = "triggered", "Alert"
        RECOVERED = "recovered", "Recovered"
        TEST = "test", "Test"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    import_obj = models.ForeignKey(
        "imports.Import",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_column="import_id",
    )
    import_nickname = models.CharField(max_length=100, blank=True, help_text="Kept on deletion.")
    condition = models.CharField(max_length=10, choices=Condition.choices, blank=True)
    event = models.CharField(max_length=10, choices=Event.choices)
    summary = models.TextField(help_text="What triggered or cleared it, in figures.")
    run = models.ForeignKey(
        "imports.ImportRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    muted = models.BooleanField(default=False)
    held = models.CharField(
        max_length=200, blank=True, help_text="Why it went to no channel (muted, none set…)."
    )
    payload = models.JSONField(help_text="The JSON body webhooks receive (README: Alerts).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Alerts page: newest first; an import's notifications (its page and filter).
            models.Index(fields=["-created_at", "-id"], name="alert_note_created_idx"),
            models.Index(fields=["import_obj", "-created_at"], name="alert_note_import_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()}: {self.summary}"

    @property
    def title(self) -> str:
        return self.payload.get("data", {}).get("title", self.summary)


class ConditionState(models.Model):
    """Whether a condition holds for an import now. Absent means it does not."""

    import_obj = models.ForeignKey(
        "imports.Import", on_delete=models.CASCADE, related_name="+", db_column="import_id"
    )
    condition = models.CharField(max_length=10, choices=Condition.choices)
    active = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True, help_text="When it last started.")
    summary = models.TextField(blank=True, help_text="Figures of its start.")
    started = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    announced = models.BooleanField(
        default=False, help_text="Its start went to at least one channel: its recovery will too."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["import_obj", "condition"], name="alert_state_unique"),
        ]
        indexes = [
            # Alerts page "Active now"; the sweep's announcements after a mute.
            models.Index(fields=["active", "-since"], name="alert_state_active_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.import_obj_id} {self.condition}: {'on' if self.active else 'off'}"


class EvaluatedRun(models.Model):
    """A finished run whose conditions were evaluated: makes evaluation idempotent, and lets the
    sweep find runs whose evaluation task was lost."""

    run = models.OneToOneField(
        "imports.ImportRun", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    evaluated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"run {self.run_id} evaluated"


class Delivery(models.Model):
    """One payload to one channel, tried until it is delivered or the retries run out: an alert
    notification's, or a run-lifecycle event's (`run` set, no notification).

    `message_id` is the Standard Webhooks `webhook-id`: the same on every attempt, so a receiver
    that saw an attempt whose answer was lost can tell the retry is a duplicate."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    message_id = models.CharField(max_length=64, unique=True)
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    run = models.ForeignKey(
        "imports.ImportRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="A run event's run (null for alerts).",
    )
    channel_name = models.CharField(max_length=100, help_text="Kept when the channel is deleted.")
    channel_kind = models.CharField(max_length=10, choices=Channel.Kind.choices)
    event_type = models.CharField(max_length=64, help_text='The payload\'s "type".')
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When an attempt began.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The sweep: deliveries pending past their time or stuck sending.
            models.Index(fields=["state", "next_attempt_at"], name="alert_delivery_due_idx"),
            # Settings page: each channel's latest delivery.
            models.Index(fields=["channel", "-created_at"], name="alert_delivery_channel_idx"),
            # Run events page: run-event deliveries (no notification), newest first.
            models.Index(
                fields=["-created_at", "-id"],
                condition=models.Q(notification__isnull=True),
                name="alert_delivery_run_event_idx",
            ),
        ]
        constraints = [
            # Each event of a run reaches a channel once, however often it is announced.
            models.UniqueConstraint(
                fields=["run", "channel", "event_type"],
                condition=models.Q(run__isnull=False, channel__isnull=False),
                name="alert_delivery_run_event_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.channel_name}: {self.state}"


class DeliveryAttempt(models.Model):
    """One try of a delivery: what the channel answered, or why it could not be reached."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts_made")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="The failure, first line, secrets removed.")

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="alert_attempt_unique"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number}: {'ok' if self.ok else self.error}"
