"""Forms for setting imports up: datasources (one per partner) and the four wizard steps.

Every form validates on the server and reports problems on the field; none of them lets an
input (huge, unicode, SQL-looking, unknown column) reach the database or a warehouse unchecked.
Secrets are write-only: their widgets never render a value, bound or not.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections import Counter
from functools import cache

from django import forms
from django.conf import settings
from django.utils import timezone

from imports.fields import SecretUnreadable
from imports.models import Datasource, Import, Partner
from imports.scheduling import LATEST_SCHEDULE_YEAR, UNIT_MINUTES, next_run_after
from imports.wizard import build_mapping
from validation import MappingError

MAX_SOURCE_CHARS = 100_000
MAX_KEY_FILE_BYTES = 64 * 1024
MAX_SAMPLE_ROWS = 10_000
DEFAULT_SAMPLE_ROWS = 1_000
# Beyond a year the schedule is no longer "repeating" in any useful sense, and bounding it keeps
# timedelta arithmetic far from overflow whatever number is typed.
MAX_INTERVAL_MINUTES = 366 * 24 * 60


class SecretInput(forms.PasswordInput):
    """A password box that never renders a value, even when the form is redisplayed."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})})

    def format_value(self, value):
        return None


class SecretTextarea(forms.Textarea):
    """A textarea for multi-line secrets (private keys) that never renders its value."""

    def format_value(self, value):
        return None


# --- Datasources ------------------------------------------------------------------------------


class DatasourceForm(forms.ModelForm):
    """Common part of every datasource form; subclasses declare their settings and secrets.

    `SETTINGS` and `SECRETS` name exactly the connector's keys: what the form stores in
    `Datasource.settings` and in the encrypted secret.
    """

    partner: str = ""
    SETTINGS: tuple[str, ...] = ()
    SECRETS: tuple[str, ...] = ()

    class Meta:
        model = Datasource
        fields = ["name"]
        help_texts = {"name": "How imports will refer to this warehouse."}

    def __init__(self, *args, instance: Datasource | None = None, **kwargs):
        if instance is None:
            instance = Datasource(partner=self.partner)
        else:
            kwargs["initial"] = {**instance.settings, **(kwargs.get("initial") or {})}
        super().__init__(*args, instance=instance, **kwargs)
        stored = self._stored_secret()
        for key in self.SECRETS:
            field = self.fields[key]
            field.required = False
            if key in stored:
                field.help_text = "Set — leave blank to keep."
                field.widget.attrs["placeholder"] = "set — leave blank to keep"

    def _stored_secret(self) -> dict:
        try:
            return self.instance.get_secret() or {}
        except SecretUnreadable:
            # Encrypted with a key no longer configured: "not set", so a new one can be typed.
            return {}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter a name.")
        others = Datasource.objects.filter(name__iexact=name).exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("A datasource with this name already exists.")
        return name

    def clean(self):
        cleaned = super().clean()
        self.secret = self._merge_secret(cleaned)
        return cleaned

    def _new_secret_values(self, cleaned) -> dict:
        return {key: cleaned[key] for key in self.SECRETS if cleaned.get(key)}

    def _merge_secret(self, cleaned) -> dict:
        # Blank means "keep": the stored values stay unless a new one is typed.
        return {**self._stored_secret(), **self._new_secret_values(cleaned)}

    def unsaved(self) -> Datasource:
        """The datasource with the form's settings and secret, not saved: what "Test
        connection" connects with, and what `save` writes."""
        ds = self.instance
        ds.settings = {
            key: self.cleaned_data[key]
            for key in self.SETTINGS
            if self.cleaned_data.get(key) not in (None, "")
        }
        ds.set_secret(self.secret or None)
        return ds

    def save(self, commit: bool = True) -> Datasource:
        self.unsaved()
        return super().save(commit)


def _text(label: str, required: bool = True, max_length: int = 255, **kwargs) -> forms.CharField:
    return forms.CharField(label=label, required=required, max_length=max_length, **kwargs)


_IDENT_RE = re.compile(r"^[A-Za-z0-9_$\-.]+$")


def _identifier(value: str, what: str) -> str:
    value = value.strip()
    if value and not _IDENT_RE.match(value):
        raise forms.ValidationError(
            f"{what} may contain only letters, digits, underscores, dashes, dots and $."
        )
    return value


class SnowflakeForm(DatasourceForm):
    partner = Partner.SNOWFLAKE
    SETTINGS = ("account", "user", "warehouse", "database", "schema", "role")
    SECRETS = ("password", "private_key")

    account = _text("Account", help_text="Account identifier, e.g. xy12345.eu-west-1.")
    user = _text("User")
    password = forms.CharField(label="Password", widget=SecretInput, max_length=1024)
    private_key = forms.CharField(
        label="Private key (PEM)",
        widget=SecretTextarea(attrs={"rows": 4}),
        max_length=16_384,
        help_text="Key-pair authentication instead of a password.",
    )
    warehouse = _text("Warehouse")
    database = _text("Database")
    schema = _text("Schema", required=False)
    role = _text("Role", required=False)

    def clean_account(self):
        return _identifier(self.cleaned_data["account"], "The account")

    def clean_warehouse(self):
        return _identifier(self.cleaned_data["warehouse"], "The warehouse")

    def clean_private_key(self):
        key = self.cleaned_data.get("private_key", "").strip()
        if key and "PRIVATE KEY" not in key:
            raise forms.ValidationError("Paste a PEM private key (-----BEGIN PRIVATE KEY-----).")
        return key

    def _merge_secret(self, cleaned) -> dict:
        new = self._new_secret_values(cleaned)
        if "password" in new and "private_key" in new:
            self.add_error("private_key", "Give a password or a private key, not both.")
            return {}
        if new:
            # Password and key pair are alternatives: a new one replaces the other.
            return new
        stored = self._stored_secret()
        if not stored:
            self.add_error("password", "Enter a password or a private key.")
        return stored


class BigQueryForm(DatasourceForm):
    partner = Partner.BIGQUERY
    SETTINGS = ("project", "dataset")
    SECRETS = ("service_account_json",)

    project = _text("Project")
    dataset = _text("Dataset")
    service_account_json = forms.FileField(
        label="Service-account JSON key file",
        help_text="The key file downloaded from Google Cloud (JSON).",
    )

    def clean_project(self):
        return _identifier(self.cleaned_data["project"], "The project")

    def clean_dataset(self):
        return _identifier(self.cleaned_data["dataset"], "The dataset")

    def clean_service_account_json(self):
        upload = self.cleaned_data.get("service_account_json")
        if not upload:
            return ""
        if upload.size > MAX_KEY_FILE_BYTES:
            raise forms.ValidationError("The key file is too large to be a service-account key.")
        try:
            data = json.loads(upload.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise forms.ValidationError("The key file is not valid JSON.") from None
        missing = [
            k
            for k in ("client_email", "private_key")
            if not isinstance(data, dict) or k not in data
        ]
        if missing or data.get("type", "service_account") != "service_account":
            raise forms.ValidationError(
                "This is not a service-account key (it needs type, client_email and private_key)."
            )
        return json.dumps(data)

    def _merge_secret(self, cleaned) -> dict:
        secret = super()._merge_secret(cleaned)
        if "service_account_json" not in secret and "service_account_json" not in self.errors:
            self.add_error("service_account_json", "Upload the service-account JSON key file.")
        return secret


class PostgresForm(DatasourceForm):
    partner = Partner.POSTGRESQL
    SETTINGS = ("host", "port", "database", "user", "sslmode")
    SECRETS = ("password",)
    SSLMODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

    host = _text("Host")
    port = forms.IntegerField(
        label="Port",
        min_value=1,
        max_value=65535,
        initial=5432,
        error_messages={
            key: "Enter a port number from 1 to 65535."
            for key in ("invalid", "min_value", "max_value")
        },
    )
    database = _text("Database")
    user = _text("User")
    password = forms.CharField(label="Password", widget=SecretInput, max_length=1024)
    sslmode = forms.ChoiceField(
        label="SSL mode", choices=[(m, m) for m in SSLMODES], initial="prefer"
    )

    def clean_host(self):
        host = self.cleaned_data["host"].strip()
        if not re.match(r"^[A-Za-z0-9.\-:\[\]_]+$", host):
            raise forms.ValidationError("Enter a host name or IP address.")
        return host


class DuckDBForm(DatasourceForm):
    partner = Partner.DUCKDB
    SETTINGS = ("path",)
    SECRETS = ()

    path = _text(
        "File path or glob",
        max_length=1024,
        help_text="A .duckdb file, or Parquet/CSV files by path or glob (e.g. /data/*.parquet); "
        "only the file name may hold a wildcard.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        roots = ", ".join(settings.DUCKDB_ALLOWED_ROOTS)
        self.fields["path"].help_text += f" The files must lie under: {roots}."

    def clean_path(self):
        from connectors import ConnectorError
        from imports.connections import check_duckdb_path

        path = self.cleaned_data["path"].strip()
        if not path:
            raise forms.ValidationError("Enter a path.")
        try:
            check_duckdb_path(path)
        except ConnectorError as exc:
            raise forms.ValidationError(exc.message) from None
        return path


DATASOURCE_FORMS: dict[str, type[DatasourceForm]] = {
    Partner.SNOWFLAKE: SnowflakeForm,
    Partner.BIGQUERY: BigQueryForm,
    Partner.POSTGRESQL: PostgresForm,
    Partner.DUCKDB: DuckDBForm,
}


class PartnerChoiceForm(forms.Form):
    """The query string of "new datasource": which partner's form to show."""

    partner = forms.ChoiceField(choices=Partner.choices, required=False)


class ConnectionTestQuery(forms.Form):
    """The query string of "Test connection" in the datasource form: the partner whose form
    was posted and, when editing, the saved datasource whose blank secrets stand."""

    partner = forms.ChoiceField(choices=Partner.choices)
    datasource = forms.ModelChoiceField(
        queryset=Datasource.objects.all(), to_field_name="code", required=False
    )


# --- The import, part by part -----------------------------------------------------------------


class ImportPartForm(forms.ModelForm):
    """A form over one part of an import's configuration (a wizard step, or the copy's name).

    Saving an import that exists writes only that part (`update_fields`): the run engine may
    change its status meanwhile, and that change must not be overwritten.
    """

    def config_fields(self) -> list[str]:
        """The model fields `save` writes: the form's own, and those derived from them."""
        return list(self._meta.fields)

    def save(self, commit: bool = True) -> Import:
        imp = super().save(commit=False)
        if commit and imp.pk is None:
            imp.save()
        elif commit:
            imp.save(update_fields=[*self.config_fields(), "updated_by", "updated_at"])
        return imp


class NamedImportForm(ImportPartForm):
    """A form that names the import: nicknames are unique, case-insensitively."""

    def clean_nickname(self) -> str:
        nickname = self.cleaned_data["nickname"]
        # Checked here to name the field; the unique constraint stays the guard against a race.
        others = Import.objects.filter(nickname__iexact=nickname).exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("An import with this nickname already exists.")
        return nickname


# --- Wizard step 1: source --------------------------------------------------------------------


class SourceForm(NamedImportForm):
    datasource = forms.ModelChoiceField(
        queryset=Datasource.objects.all(),
        to_field_name="code",
        empty_label="Choose…",
        error_messages={"required": "Choose a datasource."},
    )
    source = forms.CharField(
        max_length=MAX_SOURCE_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        label="Table or SQL query",
        help_text="A table name (schema.table) or a single SELECT statement.",
        error_messages={"required": "Enter a table name or a SELECT query."},
    )

    class Meta:
        model = Import
        fields = ["nickname", "datasource", "source_kind", "source"]
        labels = {"source_kind": "Read from"}
        help_texts = {"nickname": "Unique name for this import."}
        widgets = {"source_kind": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.datasource_id is not None and "datasource" in self.fields:
            # The choices are keyed by code, not by the primary key the model holds.
            self.initial["datasource"] = self.instance.datasource


class PreviewForm(SourceForm):
    """What "Preview results" needs, checked as step 1 checks it; posted before the draft exists."""

    class Meta(SourceForm.Meta):
        fields = ["datasource", "source_kind", "source"]


class DuplicateForm(NamedImportForm):
    class Meta:
        model = Import
        fields = ["nickname"]
        labels = {"nickname": "New nickname"}


# --- Wizard step 2: mapping -------------------------------------------------------------------

DATA_TYPES = [
    ("string", "String"),
    ("integer", "Integer"),
    ("float", "Float"),
    ("boolean", "Boolean"),
    ("date", "Date"),
]


class MappingForm(ImportPartForm):
    """Step 2's header: sync type and the special columns. Rows come in `ColumnMappingForm`s;
    `set_mapping` turns them into the mapping spec saved with the header."""

    sync_type = forms.ChoiceField(
        choices=Import.SyncType.choices, widget=forms.RadioSelect, label="Sync type"
    )
    identity_column = forms.ChoiceField(label="Identity column")
    event_name_column = forms.ChoiceField(label="Event name column", required=False)
    timestamp_column = forms.ChoiceField(label='Timestamp column ("Created On")', required=False)
    incremental_column = forms.ChoiceField(
        label="Incremental column",
        required=False,
        help_text="Optional. The first run imports everything; later runs only newer rows.",
    )
    # Kept in the mapping spec, not a column of the import.
    event_key_column = forms.ChoiceField(
        label="Event key column",
        required=False,
        help_text=(
            "Optional. A column unique per event: each value is imported once, however often "
            "the table is read. Blank: a hash of identity, event name, timestamp and properties."
        ),
    )

    class Meta:
        model = Import
        fields = [
            "sync_type",
            "identity_column",
            "identity_kind",
            "event_name_column",
            "timestamp_column",
            "incremental_column",
        ]
        widgets = {"identity_kind": forms.RadioSelect}

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(c, c) for c in columns]
        self.fields["identity_column"].choices = [("", "Choose…"), *choices]
        for name in (
            "event_name_column",
            "timestamp_column",
            "incremental_column",
            "event_key_column",
        ):
            self.fields[name].choices = [("", "—"), *choices]
        self.initial.setdefault(
            "event_key_column", (self.instance.mapping or {}).get("event_key_column") or ""
        )

    def config_fields(self) -> list[str]:
        return [*super().config_fields(), "mapping"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("sync_type") != Import.SyncType.EVENT:
            # Saved as blank: event name and timestamp mean nothing to a profile import.
            cleaned["event_name_column"] = cleaned["timestamp_column"] = ""
        elif not cleaned.get("event_name_column"):
            self.add_error("event_name_column", "An event import needs an event name column.")
        return cleaned

    def set_mapping(self, formset: BaseColumnMappingFormSet) -> bool:
        """Put the mapping spec of the valid rows on the import (not saved). When validation
        refuses it, its reason goes on the row or field it names, and this returns False."""
        try:
            self.instance.mapping = build_mapping(
                self.instance,
                formset.included_rows(),
                self.cleaned_data.get("event_key_column") or "",
            )
        except MappingError as exc:
            row = formset.row_of(exc.field)
            if row is not None:
                row.add_error("target", str(exc))
            else:
                self.add_error(exc.field if exc.field in self.fields else None, str(exc))
            return False
        return True


class ColumnMappingForm(forms.Form):
    """One source column → target property and data type."""

    column = forms.CharField(widget=forms.HiddenInput, max_length=255)
    include = forms.BooleanField(required=False, initial=True)
    target = forms.CharField(max_length=255, required=False)
    data_type = forms.ChoiceField(choices=DATA_TYPES, initial="string")
    date_format = forms.CharField(
        max_length=64, required=False, help_text="Optional, e.g. MM/dd/yyyy."
    )

    def __init__(self, *args, columns: frozenset[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = columns

    def clean(self):
        cleaned = super().clean()
        column = cleaned.get("column")
        if column is not None and column not in self.columns:
            self.add_error(None, f"Unknown column “{column}”.")
        if cleaned.get("include") and not (cleaned.get("target") or "").strip():
            self.add_error("target", "Name the target property.")
        if cleaned.get("date_format") and cleaned.get("data_type") != "date":
            self.add_error("date_format", "A date format applies to Date fields only.")
        return cleaned


class BaseColumnMappingFormSet(forms.BaseFormSet):
    """The mapping rows of one source. Pass `form_kwargs={"columns": ...}`: the source's
    column names, the only ones a row may name."""

    def clean(self) -> None:
        targets = [(row, row.cleaned_data.get("target", "").strip().lower()) for row in self.forms]
        included = [(row, target) for row, target in targets if row.cleaned_data.get("include")]
        counts = Counter(target for _, target in included)
        for row, target in included:
            if target and counts[target] > 1:
                row.add_error("target", "Two columns map to this property.")

    def included_rows(self) -> list[dict]:
        """The ticked rows, as `imports.wizard.build_mapping` takes them."""
        return [
            {
                "column": row.cleaned_data["column"],
                "target": row.cleaned_data["target"].strip(),
                "data_type": row.cleaned_data["data_type"],
                "date_format": row.cleaned_data.get("date_format", "").strip(),
            }
            for row in self.forms
            if row.cleaned_data.get("include")
        ]

    def row_of(self, column: str | None) -> ColumnMappingForm | None:
        return next((row for row in self.forms if row.cleaned_data.get("column") == column), None)


def column_mapping_formset(column_count: int) -> type[BaseColumnMappingFormSet]:
    """A formset sized to the source: a posted form count above it is refused, never built."""
    limit = max(column_count, 1)
    return forms.formset_factory(
        ColumnMappingForm,
        formset=BaseColumnMappingFormSet,
        extra=0,
        max_num=limit,
        validate_max=True,
        absolute_max=limit,
    )


# --- Wizard step 3: dry run -------------------------------------------------------------------


_SAMPLE_RANGE = f"Enter a whole number of rows from 1 to {MAX_SAMPLE_ROWS:,}."


class DryRunForm(forms.Form):
    sample_size = forms.IntegerField(
        min_value=1,
        max_value=MAX_SAMPLE_ROWS,
        initial=DEFAULT_SAMPLE_ROWS,
        label="Sample size (rows)",
        help_text=f"From 1 to {MAX_SAMPLE_ROWS:,} rows, read from the start of the source.",
        # One message for every way of missing the range: it says what is allowed.
        error_messages={
            key: _SAMPLE_RANGE for key in ("required", "invalid", "min_value", "max_value")
        },
    )


# --- Wizard step 4: schedule ------------------------------------------------------------------


@cache
def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


WEEKDAY_CHOICES = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]
MONTHDAY_CHOICES = [(d, str(d)) for d in range(1, 32)]


def _days_field(choices: list[tuple[int, str]], label: str) -> forms.TypedMultipleChoiceField:
    """Days of a custom schedule, as ticked boxes; saved in `custom_days`."""
    return forms.TypedMultipleChoiceField(
        choices=choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=label,
    )


class ScheduleForm(ImportPartForm):
    schedule_kind = forms.ChoiceField(
        choices=Import.ScheduleKind.choices, widget=forms.RadioSelect, label="Frequency"
    )
    interval_every = forms.IntegerField(required=False, min_value=1, label="Every")
    interval_unit = forms.ChoiceField(
        choices=Import.IntervalUnit.choices, required=False, label="Unit"
    )
    custom_mode = forms.ChoiceField(
        choices=Import.CustomMode.choices, required=False, label="On", widget=forms.RadioSelect
    )
    weekdays = _days_field(WEEKDAY_CHOICES, "Days of the week")
    monthdays = _days_field(MONTHDAY_CHOICES, "Days of the month")
    custom_time = forms.TimeField(
        required=False, label="At", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    schedule_timezone = forms.ChoiceField(label="Time zone")
    manual_run_at = forms.DateTimeField(
        required=False,
        label="Run once at (optional)",
        help_text=(
            f"Any time from now to 31 Dec {LATEST_SCHEDULE_YEAR} 23:59, in the time zone below. "
            "Leave blank to run only when someone clicks Run now."
        ),
        error_messages={
            "invalid": (
                f"Enter a date and time from now to 31 Dec {LATEST_SCHEDULE_YEAR} 23:59, "
                "as YYYY-MM-DD HH:MM."
            )
        },
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )

    class Meta:
        model = Import
        fields = [
            "schedule_kind",
            "interval_every",
            "interval_unit",
            "custom_mode",
            "custom_time",
            "schedule_timezone",
            "manual_run_at",
        ]

    def __init__(self, *args, instance: Import, **kwargs):
        kwargs.setdefault("initial", schedule_initial(instance))
        super().__init__(*args, instance=instance, **kwargs)
        self.fields["schedule_timezone"].choices = timezone_choices()
        self.min_interval_message = (
            f"The shortest interval is {settings.IMPORT_MIN_INTERVAL_MINUTES} minutes."
        )
        self.fields[
            "interval_every"
        ].help_text = f"At least {settings.IMPORT_MIN_INTERVAL_MINUTES} minutes in all."
        # Set by clean(): the live preview repeats the minimum when the chosen interval is below.
        self.interval_too_short = False

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("schedule_kind")
        if kind == Import.ScheduleKind.INTERVAL:
            every, unit = cleaned.get("interval_every"), cleaned.get("interval_unit")
            if not every:
                self.add_error("interval_every", "Enter how often the import repeats.")
            elif not unit:
                self.add_error("interval_unit", "Choose a unit.")
            else:
                minutes = every * UNIT_MINUTES[unit]
                floor = settings.IMPORT_MIN_INTERVAL_MINUTES
                if minutes < floor:
                    self.interval_too_short = True
                    self.add_error("interval_every", self.min_interval_message)
                elif minutes > MAX_INTERVAL_MINUTES:
                    self.add_error("interval_every", "The longest interval is one year.")
        elif kind == Import.ScheduleKind.CUSTOM:
            mode = cleaned.get("custom_mode")
            if not mode:
                self.add_error("custom_mode", "Choose days of the week or days of the month.")
            elif mode == Import.CustomMode.WEEKDAYS and not cleaned.get("weekdays"):
                self.add_error("weekdays", "Choose at least one day of the week.")
            elif mode == Import.CustomMode.MONTHDAYS and not cleaned.get("monthdays"):
                self.add_error("monthdays", "Choose at least one day of the month.")
            if not cleaned.get("custom_time"):
                self.add_error("custom_time", "Enter the time of day.")
        elif kind == Import.ScheduleKind.MANUAL:
            at = cleaned.get("manual_run_at")
            tz_name = cleaned.get("schedule_timezone")
            if at is not None and at.year > LATEST_SCHEDULE_YEAR:
                # Checked on the wall time, before any zone conversion could overflow.
                self.add_error(
                    "manual_run_at",
                    f"Choose a time up to 31 Dec {LATEST_SCHEDULE_YEAR} 23:59; later times "
                    "cannot be scheduled.",
                )
            elif at is not None and tz_name:
                # The picker shows wall time in the chosen zone, not the server's.
                at = timezone.make_aware(at.replace(tzinfo=None), zoneinfo.ZoneInfo(tz_name))
                if at <= timezone.now():
                    self.add_error("manual_run_at", "Choose a time in the future.")
                cleaned["manual_run_at"] = at
        self._clear_other_kinds(cleaned)
        return cleaned

    def _clear_other_kinds(self, cleaned: dict) -> None:
        """Blank the fields of the kinds not chosen, and turn the chosen days into
        `custom_days`: the saved schedule holds one kind's settings only."""
        kind = cleaned.get("schedule_kind")
        if kind != Import.ScheduleKind.INTERVAL:
            cleaned["interval_every"], cleaned["interval_unit"] = None, ""
        if kind == Import.ScheduleKind.CUSTOM:
            weekly = cleaned.get("custom_mode") == Import.CustomMode.WEEKDAYS
            days = cleaned.get("weekdays" if weekly else "monthdays") or []
        else:
            cleaned["custom_mode"], cleaned["custom_time"], days = "", None, []
        self.custom_days = sorted(set(days))
        if kind != Import.ScheduleKind.MANUAL:
            cleaned["manual_run_at"] = None

    def config_fields(self) -> list[str]:
        fields = [*super().config_fields(), "custom_days"]
        if self.instance.status == Import.Status.SCHEDULED:
            fields.append("next_run_at")
        return fields

    def save(self, commit: bool = True) -> Import:
        imp = self.instance
        imp.custom_days = self.custom_days
        if commit and imp.status == Import.Status.SCHEDULED:
            # The new schedule applies from now; runs in progress keep theirs.
            imp.next_run_at = next_run_after(imp, timezone.now())
        return super().save(commit)


def schedule_initial(imp: Import) -> dict:
    initial = {
        "schedule_kind": imp.schedule_kind,
        "interval_every": imp.interval_every,
        "interval_unit": imp.interval_unit or "minutes",
        "custom_mode": imp.custom_mode or "weekdays",
        "custom_time": imp.custom_time,
        "schedule_timezone": imp.schedule_timezone or "UTC",
    }
    if imp.custom_mode == Import.CustomMode.MONTHDAYS:
        initial["monthdays"] = imp.custom_days
    else:
        initial["weekdays"] = imp.custom_days
    if imp.manual_run_at:
        tz = zoneinfo.ZoneInfo(imp.schedule_timezone or "UTC")
        initial["manual_run_at"] = imp.manual_run_at.astimezone(tz).replace(tzinfo=None)
    return initial
