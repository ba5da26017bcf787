"""The change history as a person reads it: each audit log entry (django-auditlog's LogEntry)
as who, when, from where, and what changed field by field (before → after), with a mapping's
change listed per source column and a secret only as set, changed or removed.

Plain functions over the entries' stored JSON: no query here but `entries_for`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.utils import timezone

from api.models import ApiToken
from imports import audit
from imports.models import Datasource, Import
from imports.scheduling import SCHEDULE_FIELDS

# What the history records of an import: what a person changes. Run bookkeeping (next run,
# health, watermark, the run in progress) moves on its own and would bury the changes.
TRACKED_IMPORT_FIELDS = ["nickname", *Import.CONFIG_FIELDS, *SCHEDULE_FIELDS, "status"]

Action = LogEntry.Action
EMPTY = "—"

LABELS: dict[type, dict[str, str]] = {
    Import: {
        "nickname": "Nickname",
        "datasource": "Datasource",
        "sync_type": "Sync type",
        "source_kind": "Source type",
        "source": "Source",
        "mapping": "Mapping",
        "identity_column": "Identity column",
        "identity_kind": "Identity kind",
        "event_name_column": "Event name column",
        "timestamp_column": "Created On column",
        "incremental_column": "Incremental column",
        "schedule_kind": "Schedule",
        "interval_every": "Repeat every",
        "interval_unit": "Interval unit",
        "custom_mode": "Custom schedule",
        "custom_days": "Days",
        "custom_time": "Time",
        "schedule_timezone": "Time zone",
        "manual_run_at": "Run once at",
        "status": "Status",
    },
    Datasource: {
        "name": "Name",
        "partner": "Partner",
        "settings": "Connection settings",
        "secret_encrypted": "Credentials",
    },
    ApiToken: {
        "name": "Name",
        "user": "User",
        "access": "Access",
        "expires_at": "Expires",
        "revoked_at": "Revoked",
    },
}
FIELD_ORDER = {
    Import: TRACKED_IMPORT_FIELDS,
    Datasource: list(LABELS[Datasource]),
    ApiToken: list(LABELS[ApiToken]),
}
SUBJECTS = {Import: "Import", Datasource: "Datasource", ApiToken: "API token"}

# What a change means to the runs that follow it (the Stats marks and the trend's markers).
MAPPING, SOURCE, DATASOURCE, CREDENTIALS, CONNECTION = (
    "mapping",
    "source",
    "datasource",
    "credentials",
    "connection",
)
RUN_KINDS = {
    Import: {
        "mapping": MAPPING,
        "identity_column": MAPPING,
        "identity_kind": MAPPING,
        "event_name_column": MAPPING,
        "timestamp_column": MAPPING,
        "source": SOURCE,
        "source_kind": SOURCE,
        "sync_type": SOURCE,
        "incremental_column": SOURCE,
        "datasource": DATASOURCE,
    },
    Datasource: {
        "secret_encrypted": CREDENTIALS,
        "settings": CONNECTION,
        "partner": CONNECTION,
    },
}
PHRASES = {
    MAPPING: "the mapping was edited",
    SOURCE: "the source was changed",
    DATASOURCE: "the import was moved to another datasource",
    CREDENTIALS: "the datasource's credentials were changed",
    CONNECTION: "the datasource's connection settings were changed",
}
ORIGINS = {
    audit.PAGE: "in Import Center",
    audit.ADMIN: "in the admin",
    audit.API: "through the API",
    audit.COMMAND: "with a command",
}


@dataclass
class FieldChange:
    label: str
    before: str
    after: str
    lines: list[str] = field(default_factory=list)  # a mapping's change, one line per column
    secret: bool = False  # before/after are "set"/"" only: show "changed", never a value


@dataclass
class Change:
    id: int
    at: datetime
    action: str  # "Created", "Changed", "Deleted"
    subject: str  # "Import", "Datasource", "API token"
    name: str  # the object's name when the entry was written
    who: str
    origin: str
    fields: list[FieldChange]
    kinds: tuple[str, ...]  # what the change means to runs (RUN_KINDS), in PHRASES order
    url: str = ""  # set where the change is linked to (history.marks)

    @property
    def phrase(self) -> str:
        """ "the mapping was edited and the source was changed": for "the first run after …"."""
        return _and([PHRASES[kind] for kind in self.kinds])


def _and(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _model_of(entry: LogEntry) -> type | None:
    for model in SUBJECTS:
        if entry.content_type_id == ContentType.objects.get_for_model(model).pk:
            return model
    return None


def _shown(value: Any, choices: dict | None = None) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if choices and value in choices:
        return str(choices[value])
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    text = str(value)
    # A time as auditlog writes it (naive UTC, "2026-11-16 14:52:03.123456"): to the minute.
    if len(text) >= 16 and text[4] == "-" and text[10] in " T" and text[13] == ":":
        return text[:16].replace("T", " ") + " UTC"
    return text


def _choices(model: type, name: str) -> dict | None:
    try:
        flat = model._meta.get_field(name).flatchoices
    except Exception:  # a field since removed from the model: show its raw value
        return None
    return dict(flat) if flat else None


def _mapping_fields(spec: Any) -> dict[str, dict]:
    fields = spec.get("fields") if isinstance(spec, dict) else None
    return {f.get("column", ""): f for f in fields or () if isinstance(f, dict) and f.get("column")}


def _field_text(f: dict) -> str:
    text = f"target {f.get('target') or EMPTY}, type {f.get('type') or EMPTY}"
    return text + (f", date format {f['date_format']}" if f.get("date_format") else "")


def mapping_lines(before: Any, after: Any) -> list[str]:
    """A mapping's change per source column, in the new mapping's order, removed columns last:
    "email: target Email → Email 2; type String → Integer", "ltv: added (target ltv, type
    Float)", "age: no longer mapped (was target age, type Integer)"."""
    old, new = _mapping_fields(before), _mapping_fields(after)
    lines = []
    for column, f in new.items():
        if column not in old:
            lines.append(f"{column}: added ({_field_text(f)})")
            continue
        parts = [
            f"{label} {_shown(old[column].get(key))} → {_shown(f.get(key))}"
            for key, label in (
                ("target", "target"),
                ("type", "type"),
                ("date_format", "date format"),
            )
            if (old[column].get(key) or None) != (f.get(key) or None)
        ]
        if parts:
            lines.append(f"{column}: " + "; ".join(parts))
    lines += [
        f"{c}: no longer mapped (was {_field_text(f)})" for c, f in old.items() if c not in new
    ]
    before_format = before.get("timestamp_format") if isinstance(before, dict) else None
    after_format = after.get("timestamp_format") if isinstance(after, dict) else None
    if (before_format or None) != (after_format or None):
        lines.append(f"timestamp format: {_shown(before_format)} → {_shown(after_format)}")
    return lines


def settings_lines(before: Any, after: Any) -> list[str]:
    """A datasource's connection settings per key (they hold no secret)."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    keys = list(dict.fromkeys([*new, *old]))
    return [
        f"{key}: {_shown(old.get(key))} → {_shown(new.get(key))}"
        for key in keys
        if old.get(key) != new.get(key)
    ]


def _secret_after(before: Any, after: Any) -> str:
    if before and after:
        return "changed"
    return "set" if after else "removed"


def field_changes(model: type, changes: dict[str, Any]) -> list[FieldChange]:
    labels = LABELS.get(model, {})
    out = []
    for name in FIELD_ORDER.get(model, list(changes)):
        if name not in changes:
            continue
        pair = changes[name]
        before, after = (pair[0], pair[1]) if isinstance(pair, list | tuple) else (None, pair)
        label = labels.get(name, name)
        if name == "secret_encrypted":
            if before or after:  # none before and none after: a datasource without a secret
                out.append(FieldChange(label, "", _secret_after(before, after), secret=True))
        elif name == "mapping":
            out.append(FieldChange(label, "", "", lines=mapping_lines(before, after)))
        elif name == "settings":
            out.append(FieldChange(label, "", "", lines=settings_lines(before, after)))
        else:
            choices = _choices(model, name)
            out.append(FieldChange(label, _shown(before, choices), _shown(after, choices)))
    return out


def _who(entry: LogEntry) -> str:
    if entry.actor_id and entry.actor is not None:
        return entry.actor.get_username()
    return entry.actor_email or "System"


def _origin(entry: LogEntry) -> str:
    data = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    origin = data.get("origin", "")
    if origin == audit.API and data.get("token"):
        return f"through the API (token {data['token']})"
    if origin == audit.COMMAND and data.get("command"):
        return f"with the {data['command']} command"
    return ORIGINS.get(origin, "")


def describe(entry: LogEntry) -> Change:
    model = _model_of(entry)
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    action = {Action.CREATE: "Created", Action.DELETE: "Deleted"}.get(entry.action, "Changed")
    kinds: tuple[str, ...] = ()
    if entry.action == Action.UPDATE:
        found = {RUN_KINDS.get(model, {}).get(name) for name in changes} - {None}
        kinds = tuple(kind for kind in PHRASES if kind in found)
    fields = [] if entry.action == Action.DELETE else field_changes(model, changes)
    if entry.action == Action.CREATE:  # what it was created with, not every empty field
        fields = [f for f in fields if f.lines or f.after not in ("", EMPTY)]
    return Change(
        id=entry.pk,
        at=entry.timestamp,
        action=action,
        subject=SUBJECTS[model] if model else str(entry.content_type),
        name=entry.object_repr,
        who=_who(entry),
        origin=_origin(entry),
        fields=fields,
        kinds=kinds,
    )


def when(at: datetime) -> str:
    """ "16 Nov 14:52" in the viewer's zone, as the trend says times."""
    local = timezone.localtime(at)
    return f"{local.day} {local:%b %H:%M}"


# --- Queries ---------------------------------------------------------------------------------


def _objects(imp: Import) -> Q:
    """The entries of an import and of its datasource."""
    return Q(content_type=ContentType.objects.get_for_model(Import), object_id=imp.pk) | Q(
        content_type=ContentType.objects.get_for_model(Datasource), object_id=imp.datasource_id
    )


def entries_for(query: Q) -> QuerySet[LogEntry]:
    return LogEntry.objects.filter(query).select_related("actor").order_by("-pk")


def import_entries(imp: Import) -> QuerySet[LogEntry]:
    """The import's History: its own entries and its datasource's."""
    return entries_for(_objects(imp))


def datasource_entries(ds: Datasource) -> QuerySet[LogEntry]:
    return entries_for(
        Q(content_type=ContentType.objects.get_for_model(Datasource), object_id=ds.pk)
    )


def run_changes_between(imp: Import, spans: Iterable[tuple[int | None, int]]) -> list[list[Change]]:
    """For each (previous run's version, this run's version), the recorded changes of what runs
    read in between (oldest first): one query for every span."""
    spans = list(spans)
    if not spans:
        return []
    low = min(lo or 0 for lo, _ in spans)
    high = max(hi for _, hi in spans)
    run_fields = Q(
        content_type=ContentType.objects.get_for_model(Import),
        object_id=imp.pk,
        changes__has_any_keys=audit.IMPORT_RUN_FIELDS,
    ) | Q(
        content_type=ContentType.objects.get_for_model(Datasource),
        object_id=imp.datasource_id,
        changes__has_any_keys=audit.DATASOURCE_RUN_FIELDS,
    )
    changes = [
        describe(entry)
        for entry in entries_for(run_fields).filter(pk__gt=low, pk__lte=high).reverse()
    ]
    return [[c for c in changes if (lo or 0) < c.id <= hi and c.kinds] for lo, hi in spans]
