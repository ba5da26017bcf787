"""What the import wizard does, apart from its pages: warehouse calls that answer with a
user-facing error, the checks a source passes before it is mapped, the mapping's pre-fill and
the spec it is saved as, the dry run, and what publishing needs.

The views in `imports.setup_views` parse the request, call these and render the answer; the
forms in `imports.forms` check the input. Nothing here reads a request or renders a page.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser

from connectors import Column, Connector, ConnectorError
from imports import failed_values
from imports.connections import connector_for
from imports.fields import SecretUnreadable
from imports.models import Datasource, Import
from imports.scheduling import SCHEDULE_FIELDS, next_run_after
from validation import FieldMapping, MappingError, MappingSpec, validate_batch
from validation.errors import error_summary_key
from validation.health import compute_health

PREVIEW_ROWS = 20

# --- warehouse calls --------------------------------------------------------------------------


@dataclass
class WarehouseAnswer:
    value: Any = None
    error: str = ""
    kind: str = ""
    # The warehouse itself answered with the error (not a refusal by Import Center).
    from_warehouse: bool = False


def ask_warehouse(ds: Datasource, call: Callable[[Connector], Any]) -> WarehouseAnswer:
    """`call(connector)` against the datasource; its failure comes back as the error to show.

    The failures expected here are the connector's (`ConnectorError`: every driver failure,
    mapped to a kind and a message without secrets) and a secret the configured key cannot
    decrypt. Anything else is a bug in Import Center and is not hidden behind a vague message.
    """
    try:
        with connector_for(ds) as connector:
            return WarehouseAnswer(value=call(connector))
    except ConnectorError as exc:
        return WarehouseAnswer(error=exc.message, kind=exc.kind, from_warehouse=exc.from_warehouse)
    except SecretUnreadable as exc:
        return WarehouseAnswer(error=str(exc), kind="config")


def connection_warnings(connector: Connector) -> list[str]:
    """Test connection: connect, then say whether the user may do more than read."""
    connector.test_connection()
    return connector.privilege_warnings()


def source_columns(ds: Datasource, source: str) -> WarehouseAnswer:
    """The source's columns (`connectors.Column`), or why the warehouse could not say."""
    return ask_warehouse(ds, lambda connector: connector.columns(source))


def preview(ds: Datasource, source: str) -> WarehouseAnswer:
    """The first rows of the source: `(columns, rows)`, each row a list in column order."""

    def first_rows(connector: Connector) -> tuple[list[Column], list[list]]:
        columns, rows = connector.preview(source, PREVIEW_ROWS)
        return columns, [[row.get(col.name) for col in columns] for row in rows]

    return ask_warehouse(ds, first_rows)


# --- sources that cannot be mapped ------------------------------------------------------------


def too_many_columns(count: int) -> str:
    """The refusal of a source wider than the Mapping step shows; "" when it fits."""
    if count <= settings.IMPORT_MAX_MAPPING_COLUMNS:
        return ""
    return (
        f"The source has {count:,} columns; Import Center maps at most "
        f"{settings.IMPORT_MAX_MAPPING_COLUMNS:,}. Read from a query that lists only the "
        "columns to import."
    )


def duplicate_column(names: list[str]) -> str:
    """The refusal of a source with two columns of one name (``SELECT a.id, b.id``): each row
    arrives as a dict, where the later column would silently replace the earlier. "" if none."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return (
                f"The source has more than one column named “{name}”. Give each column its own "
                "name (for example with AS in a query)."
            )
        seen.add(name)
    return ""


def unmappable(answer: WarehouseAnswer) -> str:
    """Why the Mapping step could not map the source whose columns `answer` holds; "" if it can."""
    if answer.error:
        return f"The warehouse could not read this source: {answer.error}"
    if not answer.value:
        return "The source has no columns to map."
    return too_many_columns(len(answer.value)) or duplicate_column(
        [col.name for col in answer.value]
    )


# --- mapping: pre-fill ------------------------------------------------------------------------

_IDENTITY_GUESSES = ("identity", "user_id", "customer_id", "clevertap_id", "email", "id")
_EVENT_NAME_GUESSES = ("event_name", "event", "name")
_TIMESTAMP_GUESSES = ("created_on", "timestamp", "event_time", "occurred_at", "ts", "created_at")

# The data type a column is pre-filled with, from its type family (`Column.kind`, the
# connectors' one rule for warehouse types). A time of day is not a Date, which validation
# would refuse in every record: it maps as a String, as do text and unknown types.
_DATA_TYPE_BY_KIND = {
    "integer": "integer",
    "float": "float",
    "decimal": "float",
    "boolean": "boolean",
    "date": "date",
    "datetime": "date",
}

# Standard targets: name → (target, data type). Anything else keeps its column name.
_STANDARD_TARGETS = {
    "email": ("Email", "string"),
    "email_address": ("Email", "string"),
    "phone": ("Phone", "string"),
    "mobile": ("Phone", "string"),
    "phone_number": ("Phone", "string"),
    "mobile_number": ("Phone", "string"),
    "name": ("Name", "string"),
    "full_name": ("Name", "string"),
    "gender": ("Gender", "string"),
    "dob": ("DOB", "date"),
    "date_of_birth": ("DOB", "date"),
    "birthday": ("DOB", "date"),
    "msg_email": ("MSG-email", "boolean"),
    "msg_push": ("MSG-push", "boolean"),
    "msg_sms": ("MSG-sms", "boolean"),
    "msg_whatsapp": ("MSG-whatsapp", "boolean"),
    "msg_dndphone": ("MSG-dndPhone", "boolean"),
    "msg_dnd_phone": ("MSG-dndPhone", "boolean"),
}


def suggest_target(column: Column) -> tuple[str, str]:
    """Pre-fill of one mapping row: (target property, data type)."""
    key = re.sub(r"[^a-z0-9]+", "_", column.name.strip().lower()).strip("_")
    if key in _STANDARD_TARGETS:
        return _STANDARD_TARGETS[key]
    return column.name, _DATA_TYPE_BY_KIND.get(column.kind, "string")


def _guess(names: list[str], candidates: tuple[str, ...]) -> str:
    lowered = {name.lower(): name for name in names}
    return next((lowered[c] for c in candidates if c in lowered), "")


def special_columns(imp: Import, names: list[str]) -> dict[str, str]:
    """The saved identity, event-name and timestamp columns, else guesses from their names."""
    is_event = imp.sync_type == Import.SyncType.EVENT
    return {
        "identity_column": imp.identity_column or _guess(names, _IDENTITY_GUESSES),
        "event_name_column": imp.event_name_column
        or (_guess(names, _EVENT_NAME_GUESSES) if is_event else ""),
        "timestamp_column": imp.timestamp_column
        or (_guess(names, _TIMESTAMP_GUESSES) if is_event else ""),
    }


def initial_rows(imp: Import, columns: list[Column], specials: set[str]) -> list[dict]:
    """One mapping row per source column: its saved mapping, else a suggestion. A first
    mapping includes every column but the special ones; a saved one only the saved columns."""
    saved = {row["column"]: row for row in imp.mapping_rows()}
    rows = []
    for column in columns:
        if column.name in saved:
            row = saved[column.name]
            target, data_type = row["target"], (row["type"] or "String").lower()
            date_format, include = row["date_format"], True
        else:
            (target, data_type), date_format = suggest_target(column), ""
            include = not saved and column.name not in specials
        rows.append(
            {
                "column": column.name,
                "include": include,
                "target": target,
                "data_type": data_type,
                "date_format": date_format,
            }
        )
    return rows


def saved_columns(imp: Import) -> list[Column]:
    """The columns of the saved mapping, for reviewing it while the warehouse is unreachable."""
    return [Column(row["column"], "") for row in imp.mapping_rows()]


# --- mapping: saving --------------------------------------------------------------------------


def build_mapping(imp: Import, rows: list[dict], event_key_column: str = "") -> dict:
    """The mapping as stored on the import: `validation.MappingSpec.to_dict()`.

    Raises `validation.MappingError`, naming the field at fault, when validation refuses it.
    """
    spec = MappingSpec(
        sync_type=imp.sync_type,
        identity_column=imp.identity_column,
        identity_kind=imp.identity_kind,
        event_name_column=imp.event_name_column or None,
        timestamp_column=imp.timestamp_column or None,
        event_key_column=(event_key_column or None) if imp.sync_type == "event" else None,
        fields=[
            FieldMapping(
                column=row["column"],
                target=row["target"],
                type=row["data_type"],
                date_format=row["date_format"] or None,
            )
            for row in rows
        ],
    )
    return spec.to_dict()


# What a change of sync type clears: a profile mapping means nothing to an event import.
_MAPPING_FIELDS = [
    "sync_type",
    "mapping",
    "identity_column",
    "event_name_column",
    "timestamp_column",
    "incremental_column",
]


def clear_mapping(imp: Import, sync_type: str, user: AbstractBaseUser) -> None:
    """Switch the import to `sync_type` with an empty mapping, saved."""
    imp.sync_type = sync_type
    imp.mapping = {}
    imp.identity_column = imp.event_name_column = imp.timestamp_column = ""
    imp.incremental_column = ""
    imp.updated_by = user
    # update_fields: a concurrent status change by the engine must not be overwritten.
    imp.save(update_fields=[*_MAPPING_FIELDS, "updated_by", "updated_at"])


# --- dry run ----------------------------------------------------------------------------------

_MAX_ERROR_GROUPS = 10
_MAX_EXAMPLES = 3
_MAX_FAILED_ROWS = 20


@dataclass
class DryRunResult:
    total: int = 0
    successful: int = 0
    health: Any = None
    error_groups: list = field(default_factory=list)
    failed_rows: list = field(default_factory=list)
    error: str = ""

    @property
    def failed_count(self) -> int:
        return self.total - self.successful


def _shown(value: Any) -> dict:
    """A rejected value as the pages keep it ({"value", "cut"}, `failed_values.kept_value`),
    which `{% rejected_value %}` renders as the detail pane does. Nothing of a dry run is kept,
    so only `masked` changes what it shows: the value's shape."""
    how = (
        failed_values.MASKED if failed_values.mode() == failed_values.MASKED else failed_values.FULL
    )
    text, cut = failed_values.kept_value(value, how)
    return {"value": text, "cut": cut}


def _read_sample(source: str, sample_size: int) -> Callable[[Connector], list[dict]]:
    def read(connector: Connector) -> list[dict]:
        rows: list[dict] = []
        for batch in connector.iter_batches(source, batch_size=min(sample_size, 10_000)):
            rows.extend(batch[: sample_size - len(rows)])
            if len(rows) >= sample_size:
                break
        return rows

    return read


def dry_run(imp: Import, sample_size: int) -> DryRunResult:
    """Validate up to `sample_size` source rows through the real validation engine.

    Nothing is written: no run, no records, no profiles or events.
    """
    try:
        spec = MappingSpec.from_dict(imp.mapping)
    except MappingError:
        return DryRunResult(error="The mapping is incomplete: save the Mapping step first.")
    answer = ask_warehouse(imp.datasource, _read_sample(imp.source, sample_size))
    if answer.error:
        return DryRunResult(error=answer.error)
    rows = answer.value
    result = DryRunResult(total=len(rows))
    groups: dict[tuple[str, str], dict] = {}
    examples: dict[tuple[str, str], list] = defaultdict(list)
    outcomes = validate_batch(rows, spec)
    for number, (row, outcome) in enumerate(zip(rows, outcomes, strict=True), start=1):
        if outcome.ok:
            result.successful += 1
            continue
        for err in outcome.errors:
            key = (err.field, err.code)
            group = groups.setdefault(
                key, {"field": err.field, "code": err.code, "message": err.message, "count": 0}
            )
            group["count"] += 1
            value = _shown(row.get(err.field))
            if len(examples[key]) < _MAX_EXAMPLES and value not in examples[key]:
                examples[key].append(value)
        if len(result.failed_rows) < _MAX_FAILED_ROWS:
            errors = [
                {"field": e.field, "message": e.message, **_shown(row.get(e.field))}
                for e in outcome.errors
            ]
            result.failed_rows.append(
                {
                    "row_number": number,
                    "identity": outcome.identity,
                    "event_name": outcome.event_name,
                    "errors": errors,
                }
            )
    for key, group in groups.items():
        group["examples"] = examples[key]
    result.error_groups = sorted(
        groups.values(), key=lambda g: error_summary_key(g["code"], g["count"], g["field"])
    )[:_MAX_ERROR_GROUPS]
    result.health = compute_health(result.total, result.successful)
    return result


# --- schedule and publish ---------------------------------------------------------------------


def next_run_times(imp: Import, now: datetime, count: int = 5) -> list[datetime]:
    """The next `count` run times, from the run engine's one scheduling function.

    Raises OverflowError for an interval too long to add to a date (only an import saved
    outside the Schedule form, which allows a year at most, can have one).
    """
    times: list[datetime] = []
    cursor = now
    for _ in range(count):
        nxt = next_run_after(imp, cursor)
        if nxt is None or (times and nxt <= times[-1]):
            break
        times.append(nxt)
        cursor = nxt
    return times


def missing_for_publish(imp: Import) -> list[str]:
    """What the import still lacks before it may be published, as the user names the steps."""
    missing = []
    if not imp.source:
        missing.append("a source (step 1)")
    if not imp.identity_column or not imp.mapping:
        missing.append("a mapping with an identity column (step 2)")
    if imp.sync_type == Import.SyncType.EVENT and not imp.event_name_column:
        missing.append("an event name column (step 2)")
    return missing


# --- duplicate --------------------------------------------------------------------------------

# What a copy takes from its original: the configuration, never the name, status or runs.
_COPY_FIELDS = [*Import.CONFIG_FIELDS, *SCHEDULE_FIELDS]


def draft_copy(original: Import, user: AbstractBaseUser) -> Import:
    """An unsaved Draft with the original's configuration; the caller names it."""
    return Import(
        status=Import.Status.DRAFT,
        created_by=user,
        updated_by=user,
        **{name: getattr(original, name) for name in _COPY_FIELDS},
    )


def copy_nickname(nickname: str) -> str:
    """The nickname suggested for a copy: the original's, marked, within the length allowed."""
    suffix = " (copy)"
    limit = Import._meta.get_field("nickname").max_length
    return nickname[: limit - len(suffix)] + suffix
