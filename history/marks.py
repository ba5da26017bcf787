"""Where changes meet runs: the Stats table's notes under the first run after a change, and the
health trend's markers.

A run records the configuration version it started with (`ImportRun.config_change`) and the
source's columns it read (`ImportRun.schema_change` is their difference from the previous
run's). A run is "the first run after a change" when its version differs from that of the run
before it; skipped runs read nothing and are passed over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import (
    BooleanField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.urls import reverse

from history.changes import Change, run_changes_between, when
from imports.models import Import, ImportRun
from imports.schema import SchemaChange
from stats import charts, queries

SKIPPED = ImportRun.State.SKIPPED
CONFIG, SCHEMA, RETRY = "config", "schema", "retry"
RETRY_PHRASE = "failed records of an earlier run were retried"


@dataclass
class Note:
    """One mark under a Stats row, or part of a trend marker."""

    kind: str  # CONFIG, SCHEMA or RETRY (the trend only: the run is a retry of failed records)
    changes: list[Change] = field(default_factory=list)  # CONFIG: the changes, oldest first
    phrases: list[str] = field(default_factory=list)  # SCHEMA: what changed in the source
    items: list[str] = field(default_factory=list)  # SCHEMA: the same, short (the Stats note)
    # SCHEMA: whether the run before this one read the source (so the change came after it).
    exact: bool = True


@dataclass
class Marker:
    """A run on the trend where something changed."""

    at: datetime
    notes: list[Note]

    @property
    def kinds(self) -> list[str]:
        """CSS classes: mapping, source, datasource, credentials, connection, schema."""
        kinds = [kind for note in self.notes for c in note.changes for kind in c.kinds]
        kinds += [note.kind for note in self.notes if note.kind in (SCHEMA, RETRY)]
        return list(dict.fromkeys(kinds))

    def cause(self) -> str:
        """ "the mapping was edited and the source column `signup_date` changed type from DATE
        to VARCHAR": what happened before this run."""
        parts = []
        for note in self.notes:
            parts += [c.phrase for c in note.changes] + note.phrases
        parts = list(dict.fromkeys(parts))
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    @property
    def exact(self) -> bool:
        return all(note.exact for note in self.notes)

    def tooltip(self) -> str:
        lines = []
        if any(note.kind == RETRY for note in self.notes):
            lines.append(f"{when(self.at)}: a retry of failed records (health over those rows)")
        if any(note.kind != RETRY for note in self.notes):
            lines.append(f"{when(self.at)}: the first run after")
        for note in self.notes:
            if note.kind == RETRY:
                continue
            lines += [f"· {c.phrase} by {c.who} on {when(c.at)}" for c in note.changes]
            lines += [f"· {phrase}" for phrase in note.phrases]
        return "\n".join(lines)


def history_url(imp: Import, change: Change) -> str:
    """The import's History tab, opened at `change`."""
    base = reverse("history-import", args=[imp.code])
    return f"{base}?upto={change.id}#change-{change.id}"


def _notes(imp: Import, runs: Sequence, previous: dict[int, int | None]) -> dict[int, list[Note]]:
    """Notes per run id: `previous` maps a run id to the version of the run before it, for the
    runs whose predecessor is known."""
    spans = [
        (run.id, previous[run.id], run.config_change_id)
        for run in runs
        if run.id in previous
        and run.config_change_id is not None
        and run.config_change_id != previous[run.id]
    ]
    found = run_changes_between(imp, [(lo, hi) for _, lo, hi in spans])
    notes: dict[int, list[Note]] = {}
    for (run_id, _, _), changes in zip(spans, found, strict=True):
        if changes:
            for change in changes:
                change.url = history_url(imp, change)
            notes.setdefault(run_id, []).append(Note(CONFIG, changes=changes))
    for run in runs:
        change = SchemaChange.from_json(run.schema_change)
        if change:
            note = Note(SCHEMA, phrases=change.phrases(), items=change.items())
            notes.setdefault(run.id, []).append(note)
    return notes


def with_previous_version(runs: QuerySet) -> QuerySet:
    """`runs` with, in the same query, the configuration version of the run before each one
    (skipped runs left out): 0 when that run has none, NULL when there is no run before. One
    index seek a row (`run_import_created_idx`, as the condition is a plain `<=`): the page
    marks the first run after a change however it cuts the runs."""
    before = (
        ImportRun.objects.filter(import_obj=OuterRef("import_obj"))
        .filter(created_at__lte=OuterRef("created_at"))
        .exclude(pk=OuterRef("pk"))
        .exclude(state=SKIPPED)
        .order_by("-created_at", "-id")
        .annotate(version=Coalesce("config_change_id", 0))
        .values("version")[:1]
    )
    return runs.annotate(previous_version=Subquery(before))


def annotate_stats_rows(imp: Import, runs: list) -> None:
    """Set `notes` on each run of a Stats page read through `with_previous_version`."""
    ran = [run for run in runs if run.state != SKIPPED]
    previous = {
        run.id: run.previous_version or None for run in ran if run.previous_version is not None
    }
    notes = _notes(imp, ran, previous)
    for run in runs:
        run.notes = notes.get(run.id, [])


def trend_runs(imp: Import) -> tuple[list[tuple[datetime, int, int]], list[Marker]]:
    """The health trend's (created_at, total, successful) rows, as `queries.trend_rows` gives
    them, and its markers (the window's runs where the configuration or the source's columns
    changed), oldest first: one query for the runs, and one for the changes when there are
    some."""
    rows = list(
        ImportRun.objects.filter(import_obj=imp, created_at__gte=queries.window_start())
        .exclude(state=SKIPPED)
        .order_by("created_at", "id")
        .annotate(
            # Health is over the records not already imported (`ImportRun.new_total`).
            new_total=F("total") - F("already_imported"),
            read_source=ExpressionWrapper(
                Q(source_columns__isnull=False), output_field=BooleanField()
            ),
        )
        .values_list(
            "id",
            "created_at",
            "config_change_id",
            "schema_change",
            "read_source",
            "state",
            "new_total",
            "successful",
            "trigger",
        )
    )
    runs = [_TrendRun(*row) for row in rows]
    previous = {
        newer.id: older.config_change_id for older, newer in zip(runs, runs[1:], strict=False)
    }
    notes = _notes(imp, runs, previous)
    read_before = {
        newer.id: older.read_source for older, newer in zip(runs, runs[1:], strict=False)
    }
    for run_id, run_notes in notes.items():
        for note in run_notes:
            if note.kind == SCHEMA:
                note.exact = read_before.get(run_id, False)
    for run in runs:
        if run.trigger == ImportRun.Trigger.RETRY:
            notes.setdefault(run.id, []).append(Note(RETRY, phrases=[RETRY_PHRASE]))
    health = [
        (run.created_at, run.new_total, run.successful)
        for run in runs
        if run.state in ImportRun.HEALTH_STATES
    ]
    return health, [Marker(run.created_at, notes[run.id]) for run in runs if run.id in notes]


@dataclass
class _TrendRun:
    id: int
    created_at: datetime
    config_change_id: int | None
    schema_change: dict | None
    read_source: bool
    state: str
    new_total: int
    successful: int
    trigger: str


def chart_changes(markers: list[Marker]) -> list[charts.Change]:
    """The markers as the chart and its headline take them."""
    return [charts.Change(m.at, m.cause(), m.tooltip(), tuple(m.kinds), m.exact) for m in markers]


def trend_with_changes(imp: Import, days: int) -> charts.Trend:
    """The Stats tab's health trend, with its change markers."""
    rows, markers = trend_runs(imp)
    return charts.build_trend(rows, days, chart_changes(markers))
