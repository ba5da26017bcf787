"""The write side of Import Center: datasources, imports, runs, per-record results, and the
destination store (profiles and events) that good records land in.

`stats/` reads these models; nothing here imports from `stats/`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import connections, models
from django.db.models.functions import MD5, Lower

from imports.fields import SecretUnreadable, decrypt_json, encrypt_json
from validation.health import NO_INDICATOR, Health, compute_health

# Bound once: Datasource has a field called `settings` that would shadow the module.
USER_MODEL = settings.AUTH_USER_MODEL


class Partner(models.TextChoices):
    SNOWFLAKE = "snowflake", "Snowflake"
    BIGQUERY = "bigquery", "BigQuery"
    POSTGRESQL = "postgresql", "PostgreSQL"
    DUCKDB = "duckdb", "DuckDB"


class Datasource(models.Model):
    """A named connection to one warehouse. The secret is encrypted and never rendered back."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    partner = models.CharField(max_length=20, choices=Partner.choices)
    settings = models.JSONField(
        default=dict, blank=True, help_text="Connection settings (no secrets), per partner."
    )
    secret_encrypted = models.TextField(
        blank=True, default="", help_text="Fernet token of the JSON secret; never shown."
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
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_secret(self, secret: dict | None) -> None:
        # The same secret keeps its token: Fernet makes a new token on every encryption, and
        # the change history would show a credential change that never happened.
        try:
            if (secret or None) == self.get_secret():
                return
        except SecretUnreadable:
            pass
        self.secret_encrypted = encrypt_json(secret) if secret else ""

    def get_secret(self) -> dict | None:
        return decrypt_json(self.secret_encrypted) if self.secret_encrypted else None

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)


def health_rank():
    """Sort key of the listing's Health column: "No indicator" < "Blank" < 0% … 100%, with
    `health_hundredths` breaking ties (NULL for both none and blank). One expression, shared
    by the listing's ordering and the index that serves it, so PostgreSQL can match them."""
    return models.Case(
        models.When(health_band="none", then=models.Value(0)),
        models.When(health_band="blank", then=models.Value(1)),
        default=models.Value(2),
        output_field=models.IntegerField(),
    )


class Import(models.Model):
    """One configured import: where rows come from, how they map, and when it runs."""

    # What a run reads of its import besides the schedule: what a copy takes, and what gives
    # the next run a new configuration version (imports.audit).
    CONFIG_FIELDS = (
        "datasource",
        "sync_type",
        "source_kind",
        "source",
        "mapping",
        "identity_column",
        "identity_kind",
        "event_name_column",
        "timestamp_column",
        "incremental_column",
    )

    class SyncType(models.TextChoices):
        PROFILE = "profile", "User profile"
        EVENT = "event", "Event"

    class SourceKind(models.TextChoices):
        TABLE = "table", "Table"
        QUERY = "query", "SQL query"

    class IdentityKind(models.TextChoices):
        IDENTITY = "identity", "Identity"
        CLEVERTAP_ID = "clevertap_id", "CleverTap ID"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"

    class ScheduleKind(models.TextChoices):
        INTERVAL = "interval", "Repeat Intervals"
        CUSTOM = "custom", "Custom Schedule"
        MANUAL = "manual", "Manually Trigger"

    class IntervalUnit(models.TextChoices):
        MINUTES = "minutes", "minutes"
        HOURS = "hours", "hours"
        DAYS = "days", "days"
        WEEKS = "weeks", "weeks"

    class CustomMode(models.TextChoices):
        WEEKDAYS = "weekdays", "Days of the week"
        MONTHDAYS = "monthdays", "Days of the month"

    class HealthBand(models.TextChoices):
        GREEN = "green", "Green"
        YELLOW = "yellow", "Yellow"
        RED = "red", "Red"
        BLANK = "blank", "Blank"
        NONE = "none", "No indicator"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    nickname = models.CharField(max_length=100, help_text="Unique, case-insensitively.")
    datasource = models.ForeignKey(Datasource, on_delete=models.PROTECT, related_name="imports")
    sync_type = models.CharField(max_length=10, choices=SyncType.choices)
    source_kind = models.CharField(
        max_length=10, choices=SourceKind.choices, default=SourceKind.TABLE
    )
    source = models.TextField(blank=True, help_text="A table reference or a SELECT statement.")
    mapping = models.JSONField(
        default=dict, blank=True, help_text="validation.MappingSpec.to_dict() of the mapping."
    )
    identity_column = models.CharField(max_length=255, blank=True)
    identity_kind = models.CharField(
        max_length=20, choices=IdentityKind.choices, default=IdentityKind.IDENTITY
    )
    event_name_column = models.CharField(max_length=255, blank=True)
    timestamp_column = models.CharField(max_length=255, blank=True, help_text='"Created On".')
    incremental_column = models.CharField(
        max_length=255, blank=True, help_text="First run imports everything, later runs newer rows."
    )
    watermark = models.JSONField(
        null=True, blank=True, help_text="Largest incremental value of the last completed run."
    )

    schedule_kind = models.CharField(
        max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.MANUAL
    )
    interval_every = models.PositiveIntegerField(null=True, blank=True)
    interval_unit = models.CharField(max_length=10, choices=IntervalUnit.choices, blank=True)
    custom_mode = models.CharField(max_length=10, choices=CustomMode.choices, blank=True)
    custom_days = models.JSONField(
        default=list, blank=True, help_text="Weekdays 0=Mon..6=Sun, or days of the month 1..31."
    )
    custom_time = models.TimeField(null=True, blank=True)
    schedule_timezone = models.CharField(max_length=64, default="UTC")
    manual_run_at = models.DateTimeField(
        null=True, blank=True, help_text="Manually Trigger: run once at this time."
    )
    next_run_at = models.DateTimeField(null=True, blank=True, help_text="When the beat runs it.")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    current_run = models.ForeignKey(
        "ImportRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The run in progress, if any (progress in the listing).",
    )
    last_run = models.ForeignKey(
        "ImportRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The most recently triggered run (Last Run column).",
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    # Health of the latest completed/failed run, denormalised so the listing can filter and
    # sort 10k imports by it without touching runs.
    health_band = models.CharField(
        max_length=10, choices=HealthBand.choices, default=HealthBand.NONE
    )
    health_hundredths = models.PositiveIntegerField(null=True, blank=True)
    health_run = models.ForeignKey(
        "ImportRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(Lower("nickname"), name="import_nickname_ci_unique"),
        ]
        indexes = [
            # Beat dispatch: "imports due now" = status scheduled AND next_run_at <= now.
            models.Index(fields=["status", "next_run_at"], name="import_due_idx"),
            # Listing default order (newest first) and "Created On" sort.
            models.Index(fields=["-created_at"], name="import_created_idx"),
            # Listing partner/datasource filter + sort by health / last run.
            models.Index(fields=["datasource", "-created_at"], name="import_ds_created_idx"),
            models.Index(fields=["health_band", "health_hundredths"], name="import_health_idx"),
            # Listing sorted by Health: `import_health_rank_idx`, PostgreSQL only (migration
            # 0003; SQLite has no NULLS FIRST in indexes).
            models.Index(fields=["-last_run_at"], name="import_last_run_idx"),
            models.Index(fields=["-updated_at"], name="import_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.nickname

    def mapping_rows(self) -> list[dict]:
        """The saved per-column mapping (`MappingSpec.to_dict()["fields"]`), in stored order:
        column, target, type and date format of each; anything malformed is left out."""
        fields = self.mapping.get("fields") if isinstance(self.mapping, dict) else None
        if not isinstance(fields, list):
            return []
        return [
            {
                "column": f.get("column", ""),
                "target": f.get("target", ""),
                "type": f.get("type", ""),
                "date_format": f.get("date_format") or "",
            }
            for f in fields
            if isinstance(f, dict)
        ]

    @property
    def health(self) -> Health:
        if self.health_band == self.HealthBand.NONE:
            return NO_INDICATOR
        run = self.health_run
        if run is not None:
            return run.health
        # The run was purged by retention; the denormalised figure still stands.
        if self.health_band == self.HealthBand.BLANK:
            return compute_health(0, 0)
        return compute_health(10000, self.health_hundredths or 0)


class ImportRun(models.Model):
    """One execution of an import, with its counters and outcome."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped"
        SKIPPED = "skipped", "Skipped"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"
        API = "api", "API"  # the HTTP API's run endpoint (to come); the label exists now
        RETRY = "retry", "Retry"  # "Retry failed records" of `retry_of` (imports.retry)

    FINISHED_STATES = (State.COMPLETED, State.FAILED, State.STOPPED, State.SKIPPED)
    # Only these carry health (DESIGN.md: stopped and skipped runs carry none).
    HEALTH_STATES = (State.COMPLETED, State.FAILED)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    import_obj = models.ForeignKey(
        Import, on_delete=models.CASCADE, related_name="runs", db_column="import_id"
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    created_at = models.DateTimeField(
        help_text="When the run was triggered (the Stats table's Date and Time)."
    )
    started_at = models.DateTimeField(null=True, blank=True, help_text="When a worker began it.")
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from a worker; the reaper reads it."
    )
    triggered_by = models.ForeignKey(
        USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expected_total = models.BigIntegerField(
        null=True, blank=True, help_text="Rows the source reported before reading (COUNT)."
    )
    total = models.BigIntegerField(default=0, help_text="Records the run attempted.")
    successful = models.BigIntegerField(default=0, help_text="Records imported without errors.")
    failed = models.BigIntegerField(default=0, help_text="Records rejected by validation.")
    already_imported = models.BigIntegerField(
        default=0,
        help_text="Valid event records whose event key an earlier run (or row) already imported.",
    )
    partial = models.BooleanField(
        default=False, help_text="Stopped run: the counters are what was ingested before stopping."
    )
    error = models.TextField(blank=True, help_text="User-facing reason for a failed/skipped run.")
    error_kind = models.CharField(
        max_length=20, blank=True, help_text="auth, network, not_found, query, permission, config."
    )
    error_detail = models.TextField(blank=True, help_text="Driver text for the run log.")
    watermark = models.JSONField(
        null=True, blank=True, help_text="Largest incremental value this run read."
    )
    since = models.JSONField(
        null=True, blank=True, help_text="Incremental lower bound this run read from."
    )
    spec_snapshot = models.JSONField(
        default=dict, blank=True, help_text="Source, mapping and columns the run started with."
    )
    # Not indexed: nothing looks runs up by it (deleting a log entry, which only an admin does,
    # scans for its runs once).
    config_change = models.ForeignKey(
        "auditlog.LogEntry",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        help_text="The configuration version the run started with: the newest recorded change "
        "of its import's run settings or its datasource's connection (imports.audit).",
    )
    source_columns = models.JSONField(
        null=True, blank=True, help_text="[[name, warehouse type], …] of the source as read."
    )
    schema_change = models.JSONField(
        null=True,
        blank=True,
        help_text="How source_columns differ from the previous run's (imports.schema).",
    )
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    # A chunk with rows is counted done by its last batch, which a redelivery finds recorded;
    # a chunk whose slice of the source came back empty has no row to show it was counted, so
    # its first row number is kept here instead, and a redelivery counts it no second time
    # (which would let the run finish while another chunk is still writing).
    empty_chunks = models.JSONField(
        default=list, blank=True, help_text="First row numbers of the chunks counted done empty."
    )
    # Set when a worker claims an event run. Such a run keeps a RecordResult only for
    # each batch's first row (the marker that makes a batch's write idempotent) and for its
    # failed and already-imported rows; its imported rows are read from Event (run_code,
    # row_number), which holds the same identity and name. Recording each imported event a
    # second time cost PostgreSQL 0.7-2.2 us a row; without it, two workers import 5-16% more
    # rows a second in 11 of 12 runs, 1% fewer in the twelfth (bench/import_e2e.py, six pairs
    # of runs of two tables each). Runs claimed before this field existed keep every record.
    successes_in_events = models.BooleanField(default=False)
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        help_text="A retry run: the run whose failed records it validated again.",
    )
    not_retried = models.JSONField(
        null=True,
        blank=True,
        help_text='A retry run: failed records it could not retry, by reason ({"too_large": n, '
        '"not_kept": n}); their source row was not kept.',
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Stats tab: runs of one import in the window, newest first.
            models.Index(fields=["import_obj", "-created_at"], name="run_import_created_idx"),
            # Reaper: running runs whose heartbeat is stale; skip check: running run of import.
            models.Index(fields=["state", "heartbeat_at"], name="run_state_heartbeat_idx"),
            # Retention purge: runs older than the window.
            models.Index(fields=["created_at"], name="run_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.import_obj_id}:{self.code}"

    @property
    def health(self) -> Health:
        if self.state not in self.HEALTH_STATES:
            return NO_INDICATOR
        return compute_health(self.new_total, self.successful)

    @property
    def new_total(self) -> int:
        """The records health is computed over: those not already imported (DESIGN.md "Event
        keys")."""
        return self.total - self.already_imported

    @property
    def health_note(self) -> str:
        """Why a finished run that read rows has Blank health: they were all imported before."""
        if self.total and self.already_imported == self.total:
            rows = "the 1 row was" if self.total == 1 else f"all {self.total:,} rows were"
            return f"{rows} already imported"
        return ""

    @property
    def gives_import_health(self) -> bool:
        """Whether the import shows this run's health: a completed run's, or Blank from a failed
        run that kept nothing (the reference's "No data was processed … credentials are invalid").
        A failed run that kept rows never gives the import a percentage."""
        return self.state == self.State.COMPLETED or (
            self.state == self.State.FAILED and self.total == 0
        )

    @property
    def processed(self) -> int:
        return self.successful + self.failed + self.already_imported

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES


class IdentityHash(models.Func):
    """A 64-bit hash of an identity: PostgreSQL's index on (run, identity) holds this, not the
    identity itself, which may be longer than a btree entry allows (migration 0003)."""

    function = "hashtextextended"
    template = "%(function)s(%(expressions)s, 0)"
    output_field = models.BigIntegerField()


class IdentityQuerySet(models.QuerySet):
    def with_identity(self, identity: str) -> IdentityQuerySet:
        """Rows whose identity is exactly `identity`; with a run filter, an index lookup
        (`record_run_identity_hash_idx`, `event_run_identity_hash_idx`)."""
        matching = self.filter(identity=identity)
        if connections[self.db].vendor != "postgresql":
            return matching  # SQLite indexes (run, identity) itself
        return matching.alias(identity_hash=IdentityHash("identity")).filter(
            identity_hash=IdentityHash(models.Value(identity))
        )


class RecordResult(models.Model):
    """The verdict on one source row of a run (the detail pane reads these)."""

    # The natural key, and what makes writes idempotent: a retried chunk cannot record a row
    # twice. No surrogate id: its column, sequence and index cost ~5% of a million-row run.
    pk = models.CompositePrimaryKey("run_id", "row_number")

    # No database-level constraint: on PostgreSQL its deferred per-row check cost more than the
    # COPY of the rows itself (bench/import_e2e.py). Runs are only deleted by the retention purge,
    # which deletes their records first, and by Django, which cascades in Python.
    run = models.ForeignKey(
        ImportRun,
        on_delete=models.CASCADE,
        related_name="records",
        db_constraint=False,
        db_index=False,  # the primary key (run, row_number) serves every lookup by run
    )
    row_number = models.PositiveIntegerField(help_text="1-based position in the source stream.")
    success = models.BooleanField()
    # A valid event whose key was imported before (success stays True: it is no failure), which
    # the run counts apart from its successes.
    already_imported = models.BooleanField(default=False, db_default=False)  # COPY omits it
    identity = models.CharField(max_length=1100, blank=True, default="")
    # Text, like Event.event_name: validation sets no length for event names.
    event_name = models.TextField(blank=True, default="")
    errors = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"field", "code", "message", "value", "cut"}], one per field; "value" (the '
        'rejected source value as text) and "cut" (true when cut at 200 characters) as kept.',
    )
    error_keys = models.TextField(
        blank=True,
        default="",
        help_text='"|field:code|field:code|" so the detail pane can filter by code or field.',
    )
    # Text, not jsonb: a JSON object that keeps NUL characters as `\u0000` escapes (jsonb
    # refuses them) so a retry validates the row exactly as the warehouse gave it. NULL, not
    # "", for nothing kept: most records succeed, and a NULL takes no byte of their row.
    source_row = models.TextField(  # noqa: DJ001
        null=True,
        blank=True,
        help_text="Failed records: the mapped columns of the source row (imports.failed_values); "
        "a number (its size in bytes) when it was larger than 16 KB; NULL when not kept.",
    )

    objects = IdentityQuerySet.as_manager()

    class Meta:
        indexes = [
            # Detail pane: the "Failed" filter (its default) with keyset pagination by row number.
            # Partial: most records succeed, and they need no entry here — "Success" and "All"
            # page through the primary key (run, row_number) instead.
            models.Index(
                fields=["run", "row_number"],
                condition=models.Q(success=False),
                name="record_run_failed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"row {self.row_number}: {'Success' if self.success else 'Failed'}"


class RunErrorCount(models.Model):
    """Per-run error summary: how many records failed on (field, code). Written at run end."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="error_counts")
    field = models.CharField(max_length=255)
    code = models.CharField(max_length=40)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "field", "code"], name="error_count_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.field}: {self.code} x{self.count}"


class Profile(models.Model):
    """Destination store: one user profile, upserted by identity, properties merged."""

    identity_kind = models.CharField(max_length=20, choices=Import.IdentityKind.choices)
    identity = models.CharField(max_length=1100)
    properties = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # The upsert key (INSERT ... ON CONFLICT), on the MD5 of the identity: an identity
            # may be 1,024 characters of any script (4 KB), more than a btree entry holds
            # (2,704 bytes), and such a valid identity failed its whole batch. Two identities
            # with the same MD5 by accident would take some 10^19 profiles to be likely.
            models.UniqueConstraint(
                models.F("identity_kind"), MD5("identity"), name="profile_identity"
            ),
        ]

    def __str__(self) -> str:
        return self.identity


class Event(models.Model):
    """Destination store: one event, appended. Its key (run_code, row_number) makes writes
    idempotent without a foreign key, so purging old runs never deletes imported events.

    `event_key` is the event's identity within its import (16 bytes in a uuid column: the
    chosen key column's value hashed, or by default the source time and a hash of identity,
    event name, source timestamp and properties; `imports.pipeline.default_keys`). The store
    refuses a key its import already holds, so a re-run never appends an event
    twice. `import_id` is a plain integer for the same reason as `run_code`."""

    pk = models.CompositePrimaryKey("run_code", "row_number")

    identity_kind = models.CharField(max_length=20, choices=Import.IdentityKind.choices)
    identity = models.CharField(max_length=1100)
    # Text: validation sets no length for event names, so the store must hold any it accepts
    # (a 513-character name once failed a whole run on a 512-character column).
    event_name = models.TextField()
    occurred_at = models.DateTimeField(help_text='"Created On", or processing time when blank.')
    properties = models.JSONField(default=dict)
    run_code = models.UUIDField()
    row_number = models.PositiveIntegerField()
    import_id = models.BigIntegerField(null=True, blank=True)
    # uuid: 16 bytes of fixed width, so the unique index compares and stores it cheaper than
    # bytea (a variable-length value with a header).
    event_key = models.UUIDField(null=True, blank=True)

    objects = IdentityQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["import_id", "event_key"], name="event_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.identity}: {self.event_name}"
