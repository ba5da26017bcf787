"""Fixtures of the change-history tests: the setup pages' DuckDB warehouse and imports."""

from __future__ import annotations

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from history.changes import Change, describe
from tests.setup.conftest import (  # noqa: F401
    DRAFT,
    draft,
    duck,
    event_import_of,
    event_mapping,
    mapped,
    warehouse_path,
)


def changes_of(obj) -> list[Change]:
    """The entries recorded for `obj`, oldest first, as the History tab describes them."""
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(type(obj)), object_pk=str(obj.pk)
    ).order_by("pk")
    return [describe(entry) for entry in entries]


def fields_of(change: Change) -> dict:
    """{label: (before, after)} or {label: lines} of a change."""
    return {f.label: f.lines if f.lines else (f.before, f.after) for f in change.fields}
