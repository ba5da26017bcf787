"""Read-side queries of the Stats tab and the detail pane.

Every function here is one query (or one query per chunk for streaming; the Stats table adds
its paginator's count), shaped so the page cost stays flat however many runs or records an
import has:

- the Stats table is an offset page of one import's runs in the retention window, and their
  count (index `run_import_created_idx`);
- the health trend is one `values_list()` over the window (same index);
- errors across runs are two: the runs with a health percentage in the window joined to
  their `RunErrorCount` rows (the per-run summary written as the run goes, never the
  records), then the few runs the table names;
- the detail pane is keyset-paginated by row number (the unique (run, row_number) index;
  failed rows by the partial `record_run_failed_idx`), so page 500 of a 1M-record run
  costs what page 1 costs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import orjson
from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import (
    BigIntegerField,
    CharField,
    DateTimeField,
    F,
    Q,
    TextField,
    UUIDField,
    Value,
)
from django.db.models.functions import Cast
from django.utils import timezone

from imports.models import Event, Import, ImportRun, RecordResult, RunErrorCount
from validation.errors import error_summary_key

STATS_PAGE_SIZE = 50
RECORDS_PAGE_SIZE = 50


def retention_days() -> int:
    return settings.IMPORT_STATS_RETENTION_DAYS


def window_start(now: datetime | None = None) -> datetime:
    """Oldest trigger time still inside the retention window."""
    return (now or timezone.now()) - timedelta(days=retention_days())


def is_within_window(run: ImportRun, now: datetime | None = None) -> bool:
    return run.created_at >= window_start(now)


# What a Stats row reads of a run, and the name of the user who triggered it (a nullable
# foreign key: a LEFT JOIN in the same query).
_ROW_FIELDS = (
    "code",
    "trigger",
    "state",
    "created_at",
    "expected_total",
    "total",
    "successful",
    "failed",
    "already_imported",
    "partial",
    "error",
    "error_kind",
    "chunks_total",
    "chunks_done",
    "started_at",
    "finished_at",
    "triggered_by__username",
    "config_change",  # history.marks: the first run after a change
    "schema_change",
)


def runs_page(imp: Import, number: str | int | None, annotate=None) -> Page:
    """One page of the Stats table, newest first, as Django's `Paginator.get_page()` reads
    `?page=`: anything that is not a number shows the first page, a number past the end the
    last. Unlike get_page(), a number below 1 also shows the first page (not the last).
    `annotate`, given the runs' QuerySet, adds what the caller reads with them.

    The page's ids are picked in a subquery (`id IN (... LIMIT 50 OFFSET n)`), the rows read by
    them: with OFFSET on the rows themselves, PostgreSQL computed `annotate`'s columns (the
    previous run's version, a subquery) for every row it skipped as well, 1,000 index seeks on
    page 20 (10.9 ms of SQL against 3.3 ms by ids; bench/pages_stats.py data). Same query count.
    """
    ordered = ImportRun.objects.filter(import_obj=imp, created_at__gte=window_start()).order_by(
        "-created_at", "-id"
    )
    try:
        number = max(int(number), 1)
    except (TypeError, ValueError):
        number = 1
    page = Paginator(ordered.values("pk"), STATS_PAGE_SIZE).get_page(number)
    runs = (
        ImportRun.objects.filter(pk__in=page.object_list)
        .order_by("-created_at", "-id")
        .select_related("triggered_by")
        .only(*_ROW_FIELDS)
    )
    if annotate is not None:
        runs = annotate(runs)
    page.object_list = list(runs)
    return page


def trend_rows(imp: Import) -> list[tuple[datetime, int, int]]:
    """(created_at, total, successful) of the runs that carry health, oldest first."""
    return list(
        ImportRun.objects.filter(
            import_obj=imp,
            created_at__gte=window_start(),
            state__in=list(ImportRun.HEALTH_STATES),
        )
        .order_by("created_at", "id")
        # Health is over the records not already imported (`ImportRun.new_total`).
        .annotate(new_total=F("total") - F("already_imported"))
        .values_list("created_at", "new_total", "successful")
    )


def error_summary(run: ImportRun) -> list[RunErrorCount]:
    """The run's (field, code) counts: identity errors first ("prioritize identity errors"),
    then the most frequent."""
    rows = list(RunErrorCount.objects.filter(run=run))
    rows.sort(key=lambda r: error_summary_key(r.code, r.count, r.field))
    return rows


# --- Errors across runs --------------------------------------------------------------------

# A pair is marked when it failed more than this many times as many records in the latest run
# as in the run before it (exactly this many times is not marked).
GROWTH_FACTOR = 10
# The sparkline has at most this many points: past that, each point is the largest count of a
# slice of consecutive runs (a spike is never averaged away).
SPARK_POINTS = 60
SPARK_WIDTH, SPARK_HEIGHT = 120, 24


@dataclass(frozen=True)
class RunRef:
    """A run as the errors-across-runs table shows it: its time, and the code for its link."""

    code: UUID
    created_at: datetime


@dataclass
class ErrorPair:
    """One (field, code) over the runs of the window; plain values only (the page caches it)."""

    field: str
    code: str
    first: RunRef  # the first and last run that failed records on the pair
    last: RunRef
    latest: int  # records failed on the pair in the latest run
    previous: int  # … and in the run before it (0 when there is none)
    peak: int  # the most in one run
    mark: str = ""  # "new", "grew" or ""
    points: str = ""  # the sparkline's polyline, "x,y x,y …"
    dot: tuple[float, float] = (0.0, 0.0)  # the latest run's point
    slice_runs: int = 1  # runs per sparkline point
    url: str = ""


@dataclass
class ErrorsAcrossRuns:
    run_count: int  # the runs with a health percentage in the window
    latest: RunRef | None
    previous: RunRef | None
    pairs: list[ErrorPair]


def _mark(latest: int, previous: int, run_count: int) -> str:
    """ "new": failed records in the latest run and none in the run before it; "grew": more
    than GROWTH_FACTOR times as many. Nothing to compare (one run) marks nothing."""
    if run_count < 2 or not latest:
        return ""
    if not previous:
        return "new"
    return "grew" if latest > GROWTH_FACTOR * previous else ""


def _sparkline(by_run: dict[int, int], run_count: int) -> tuple[str, tuple[float, float], int]:
    """The polyline's points, the latest point and the runs per point, from the counts by run
    position (only the runs that failed records on the pair)."""
    size = -(-run_count // SPARK_POINTS)  # ceil: runs per point
    values = [0] * -(-run_count // size)
    for i, n in by_run.items():
        if n > values[i // size]:
            values[i // size] = n
    top = max(values)
    step = SPARK_WIDTH / (len(values) - 1) if len(values) > 1 else 0
    xy = [
        (round(i * step, 1), round(SPARK_HEIGHT - 2 - v * (SPARK_HEIGHT - 4) / top, 1))
        for i, v in enumerate(values)
    ]
    if len(xy) == 1:  # one run: a flat line at its height
        xy = [(0.0, xy[0][1]), (float(SPARK_WIDTH), xy[0][1])]
    return " ".join(f"{x:g},{y:g}" for x, y in xy), xy[-1], size


def errors_across_runs(imp: Import) -> ErrorsAcrossRuns:
    """Every (field, code) that failed records in the window's runs with a health percentage
    (completed or failed runs that checked records: a Blank run checked none, so it neither
    hides nor resets a pair), with its count per run, its first and last run, and its mark.

    One query, whatever the size of the runs, reading the per-run `RunErrorCount` summary,
    never the records.
    Sorted by `error_summary_key` on the latest run's count: identity errors first.
    """
    runs = ImportRun.objects.filter(
        import_obj=imp,
        created_at__gte=window_start(),
        state__in=list(ImportRun.HEALTH_STATES),
        total__gt=F("already_imported"),
    )
    # One statement, two kinds of rows: each run once with its time and code (a run row has no
    # field), then each (run, field, code) count without them — decoding a time and a code on
    # every joined row cost more than the rest together.
    run_rows = (
        runs.annotate(
            f=Value(None, CharField()), c=Value(None, CharField()), n=Value(None, BigIntegerField())
        )
        .values_list("id", "code", "created_at", "f", "c", "n")
        .order_by()
    )
    count_rows = (
        RunErrorCount.objects.filter(run__in=runs.values("id"), count__gt=0)
        .annotate(no_code=Value(None, UUIDField()), no_time=Value(None, DateTimeField()))
        .values_list("run_id", "no_code", "no_time", "field", "code", "count")
        .order_by()  # a part of a UNION may not be ordered (SQLite refuses it)
    )
    refs: dict[int, RunRef] = {}
    counts: list[tuple[int, str, str, int]] = []
    for run_id, run_code, at, field, code, n in run_rows.union(count_rows, all=True):
        if field is None:
            refs[run_id] = RunRef(run_code, at)
        else:
            counts.append((run_id, field, code, n))
    order = sorted(refs, key=lambda run_id: (refs[run_id].created_at, run_id))  # oldest first
    position = {run_id: i for i, run_id in enumerate(order)}
    by_pair: dict[tuple[str, str], dict[int, int]] = {}
    for run_id, field, code, n in counts:
        if run_id in position:
            by_pair.setdefault((field, code), {})[position[run_id]] = n
    count = len(order)

    def ref(i: int) -> RunRef | None:
        return refs.get(order[i]) if 0 <= i < count else None

    pairs = []
    for (field, code), by_run in by_pair.items():
        first, last = ref(min(by_run)), ref(max(by_run))
        latest = by_run.get(count - 1, 0)
        previous = by_run.get(count - 2, 0) if count > 1 else 0
        points, dot, size = _sparkline(by_run, count)
        pairs.append(
            ErrorPair(
                field,
                code,
                first,
                last,
                latest,
                previous,
                max(by_run.values()),
                _mark(latest, previous, count),
                points,
                dot,
                size,
            )
        )
    pairs.sort(key=lambda p: error_summary_key(p.code, p.latest, p.field))
    return ErrorsAcrossRuns(count, ref(count - 1), ref(count - 2), pairs)


@dataclass(frozen=True)
class RecordFilters:
    result: str  # "all", "success" or "failed"
    code: str = ""
    field: str = ""
    q: str = ""
    after: int = 0


def _records_queryset(run: ImportRun, f: RecordFilters):
    qs = RecordResult.objects.filter(run=run)
    if f.result == "success":
        qs = qs.filter(success=True)
    elif f.result == "failed":
        qs = qs.filter(success=False)
    if f.field and f.code:
        qs = qs.filter(error_keys__contains=f"|{f.field}:{f.code}|")
    elif f.code:
        qs = qs.filter(error_keys__contains=f":{f.code}|")
    elif f.field:
        qs = qs.filter(error_keys__contains=f"|{f.field}:")
    if f.q:
        qs = qs.with_identity(f.q)
    return qs


def records_page(
    run: ImportRun, f: RecordFilters, size: int = RECORDS_PAGE_SIZE
) -> tuple[list[RecordResult], int | None]:
    """Records after the cursor, in row order, and the cursor of the next page (or None).

    Keyset: `row_number > after ORDER BY row_number LIMIT size+1`, so the database seeks
    straight to the cursor through (run, success, row_number) instead of counting past
    `OFFSET` rows.
    """
    rows = list(
        _records_queryset(run, f)
        .filter(row_number__gt=f.after)
        .order_by("row_number")
        .only("row_number", "success", "already_imported", "identity", "event_name", "errors")[
            : size + 1
        ]
    )
    if run.successes_in_events and f.result != "failed" and not (f.code or f.field):
        rows = _with_imported_events(run, f, rows, size)
    next_after = rows[size - 1].row_number if len(rows) > size else None
    return rows[:size], next_after


def _with_imported_events(
    run: ImportRun, f: RecordFilters, records: list[RecordResult], size: int
) -> list[RecordResult]:
    """`records` merged, in row order, with the run's imported events after the cursor (a run
    with `successes_in_events` keeps no record of those): the first `size + 1` rows of both.
    A batch's first row can be in both; its record is kept."""
    events = Event.objects.filter(run_code=run.code, row_number__gt=f.after)
    if f.q:
        events = events.with_identity(f.q)
    imported = [
        RecordResult(run=run, row_number=n, success=True, identity=identity, event_name=name)
        for n, identity, name in events.order_by("row_number").values_list(
            "row_number", "identity", "event_name"
        )[: size + 1]
    ]
    by_number = {e.row_number: e for e in imported}
    by_number.update((r.row_number, r) for r in records)
    return [by_number[n] for n in sorted(by_number)[: size + 1]]


def iter_failed_records(
    run: ImportRun, chunk: int = 5000
) -> Iterator[list[tuple[int, str, str, list]]]:
    """Every failed record of a run as (row_number, identity, event_name, errors), in chunks.

    Keyset chunks rather than `.iterator()`: constant memory on every backend, and no
    server-side cursor held open for the length of a download. The errors are read as text and
    decoded by orjson: the JSON field's own decoding took a third of a 1M-record export's CPU.
    """
    after = 0
    while True:
        rows = list(
            RecordResult.objects.filter(run=run, success=False, row_number__gt=after)
            .order_by("row_number")
            .values_list("row_number", "identity", "event_name", Cast("errors", TextField()))[
                :chunk
            ]
        )
        if not rows:
            return
        yield [(n, identity, name, orjson.loads(errors)) for n, identity, name, errors in rows]
        if len(rows) < chunk:
            return
        after = rows[-1][0]


def iter_window_runs(imp: Import, chunk: int = 2000) -> Iterator[list[ImportRun]]:
    """All runs of the import in the window, newest first, in keyset chunks (the Stats CSV)."""
    qs = (
        ImportRun.objects.filter(import_obj=imp, created_at__gte=window_start())
        .order_by("-created_at", "-id")
        .defer("spec_snapshot", "error_detail", "watermark", "since")
        .select_related("triggered_by")
    )
    last: tuple[datetime, int] | None = None
    while True:
        page = qs
        if last is not None:
            page = qs.filter(Q(created_at__lt=last[0]) | Q(created_at=last[0], id__lt=last[1]))
        rows = list(page[:chunk])
        if not rows:
            return
        yield rows
        if len(rows) < chunk:
            return
        last = (rows[-1].created_at, rows[-1].id)


# --- Wording shared by the Stats table and its CSV ------------------------------------------

SKIPPED_NOTE = "Skipped — the previous run was still running"
STOPPED_NOTE = "Stopped — stats not available"

# What to do about a failed run, by the connector's error kind. "auth" is the reference's own
# best practice ("Confirm that your data warehouse credentials are valid ...").
FAILURE_ADVICE = {
    "auth": (
        "Confirm that your data warehouse credentials are valid and have not been rotated or "
        "updated since the import was last configured, then update the datasource."
    ),
    "permission": (
        "Grant the datasource's warehouse user read access to the source, then run the "
        "import again."
    ),
    "network": "Check that the warehouse is reachable from Import Center, then run the import again.",
    "not_found": (
        "Check that the source table or query still exists in the warehouse; edit the import "
        "if it moved."
    ),
    "query": "Run the source query in the warehouse to see the error, then edit the import.",
    "timeout": (
        "Check what holds the source's tables in the warehouse (a lock, a long transaction), "
        "then run the import again; IMPORT_WAREHOUSE_TIMEOUT_SECONDS sets how long a run waits."
    ),
    "config": "Review the datasource settings, then test the connection again.",
    "schema": (
        "Edit the import's mapping to use the source's columns as they are now (the run's "
        "Stats row lists what changed), or restore the column in the warehouse, then run the "
        "import again."
    ),
}
DEFAULT_FAILURE_ADVICE = "Run the import again; if it keeps failing, check the worker logs."


# Who or what started a run, as the Stats table, the pane and the CSV say it.
TRIGGER_WORDS = {
    ImportRun.Trigger.SCHEDULE: "Schedule",
    ImportRun.Trigger.MANUAL: "Run now",
    ImportRun.Trigger.API: "API",
    ImportRun.Trigger.RETRY: "Retry of failed records",
}


def trigger_label(run: ImportRun) -> str:
    """ "Schedule", "Run now by alice", "API by ci-bot"; without the name when the user is
    unknown or has been deleted (the foreign key is SET_NULL)."""
    word = TRIGGER_WORDS.get(run.trigger, run.trigger)
    name = run.triggered_by.get_username() if run.triggered_by_id else ""
    return f"{word} by {name}" if name else word


def duration(run: ImportRun, now: datetime | None = None) -> timedelta | None:
    """Finished − started for a run that ended; time so far for a running one; else None
    (queued, skipped, or a run that never started)."""
    if run.started_at is None:
        return None
    if run.state in ImportRun.FINISHED_STATES:
        return run.finished_at - run.started_at if run.finished_at else None
    if run.state == ImportRun.State.RUNNING:
        return (now or timezone.now()) - run.started_at
    return None


def duration_label(span: timedelta | None) -> str:
    """ "—", "under 1 s", "11 s", "4 min 05 s", "2 h 03 min": truncated, never rounded up."""
    if span is None:
        return "—"
    seconds = int(span.total_seconds())
    if seconds < 1:
        return "under 1 s"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def duration_text(run: ImportRun) -> str:
    """The Duration cell: a running run's time so far says so (its row polls)."""
    label = duration_label(duration(run))
    return f"{label} so far" if run.state == ImportRun.State.RUNNING and label != "—" else label


def counted(n: int, noun: str) -> str:
    """ "1 run", "2 runs", "1,024 records": every count the Stats pages put in a sentence."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def failure_advice(run: ImportRun) -> str:
    return FAILURE_ADVICE.get(run.error_kind, DEFAULT_FAILURE_ADVICE)


# Failures whose error_detail is the warehouse driver's own text (secrets already scrubbed by the
# connector). Not "config" (Import Center's refusal) nor broker/store/internal, whose detail is a
# Python traceback for the run log only.
_DRIVER_KINDS = frozenset({"auth", "network", "not_found", "permission", "query"})
_REASON_MAX = 300


def warehouse_reason(run: ImportRun) -> str:
    """The driver's own reason for a run that failed on the warehouse side, readable: its first
    line without the exception class, cut to 300 characters; "" when there is none to show.

    Reads error_detail, which Stats pages defer: one query, and only for a failed run."""
    if run.state != ImportRun.State.FAILED or run.error_kind not in _DRIVER_KINDS:
        return ""
    lines = [line.strip() for line in (run.error_detail or "").splitlines() if line.strip()]
    if not lines:
        return ""
    first = lines[0]
    name, sep, rest = first.partition(": ")
    if sep and name.isidentifier() and rest:  # "UndefinedTable: relation ..." -> "relation ..."
        first = rest
    if len(first) > _REASON_MAX:
        first = first[: _REASON_MAX - 1] + "…"
    return "" if first == run.error else first


def partial_note(run: ImportRun) -> str:
    """ "1,234 records ingested before the stop (partial)" when a stopped run kept its count."""
    if run.partial and run.processed:
        return f"{counted(run.processed, 'record')} ingested before the stop (partial)"
    return ""


def count_mismatch(run: ImportRun) -> bool:
    """The reference's "validate record counts": the source reported a different count."""
    return (
        run.state == ImportRun.State.COMPLETED
        and run.expected_total is not None
        and run.expected_total != run.total
    )
