"""CSV exports: the Stats table (for tracking beyond the retention window, as the reference
suggests) and a run's failed records with their errors.

Both stream: rows are read in keyset chunks and written a chunk at a time, so a 1M-record
export holds one chunk in memory, never the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC

from django.db import connection

from imports.models import Import, ImportRun, RecordResult
from stats import queries
from validation.errors import ERROR_REFERENCE

STATS_HEADER = [
    "Date and Time (UTC)",
    "State",
    "Health",
    "Total Records",
    "Successful Syncs",
    "Failed Syncs",
    "Expected Records",
    "Note",
    # Appended, not inserted, so spreadsheets built on the earlier columns keep working.
    "Duration (seconds)",
    "Triggered By",
]


# A spreadsheet runs a cell that starts with one of these as a formula (DDE, =HYPERLINK(...)).
# OWASP's rule: prefix such a text cell with a quote, which the spreadsheet shows as text.
# Warehouse values, identities, event names and column names all reach these exports.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value):
    """A CSV cell that no spreadsheet evaluates: text starting with a formula character gets a
    leading `'`. Numbers are left alone (a negative count is still a number)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_chunks(header: list[str], rows: Iterable[list[list]]) -> Iterator[str]:
    buffer = io.StringIO()
    # \n, not \r\n: PostgreSQL's COPY writes \n, and both paths give the same bytes.
    # The writer's terminator is \r\n so that it quotes a cell holding a carriage return, as
    # COPY does (with \n it leaves a bare \r, which readers take for a line break); each row's
    # \r\n is then replaced by the \n that COPY writes.
    writer = csv.writer(buffer, lineterminator="\r\n")

    def write(row) -> None:
        writer.writerow(row)
        buffer.seek(buffer.tell() - 2)
        buffer.truncate()
        buffer.write("\n")

    write(header)
    yield buffer.getvalue()
    for chunk in rows:
        buffer.seek(0)
        buffer.truncate()
        for row in chunk:
            write([neutralize(cell) for cell in row])
        yield buffer.getvalue()


def stats_row(run: ImportRun) -> list:
    State = ImportRun.State
    counts = run.state in (State.COMPLETED, State.FAILED)
    if run.state == State.SKIPPED:
        note = run.error or queries.SKIPPED_NOTE
    elif run.state == State.STOPPED:
        note = "; ".join(filter(None, [queries.STOPPED_NOTE, queries.partial_note(run)]))
    elif run.state == State.FAILED:
        note = run.error
    elif run.state in (State.RUNNING, State.QUEUED):
        note = run.get_state_display()
    else:
        note = "Total differs from the source count" if queries.count_mismatch(run) else ""
    health = run.health
    span = queries.duration(run) if run.is_finished else None  # a file is a finished record
    return [
        run.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        run.get_state_display(),
        health.label if health.band != "none" else "",
        run.total if counts else "",
        run.successful if counts else "",
        run.failed if counts else "",
        run.expected_total if run.expected_total is not None else "",
        note,
        int(span.total_seconds()) if span is not None else "",
        queries.trigger_label(run),
    ]


def stats_csv(imp: Import) -> Iterator[str]:
    """The Stats table of the retention window, newest first."""
    chunks = ([stats_row(run) for run in runs] for runs in queries.iter_window_runs(imp))
    return _csv_chunks(STATS_HEADER, chunks)


def failed_records_header(imp: Import) -> list[str]:
    identity = imp.get_identity_kind_display()
    header = ["Row", identity]
    if imp.sync_type == Import.SyncType.EVENT:
        header.append("Event Name")
    return header + ["Field", "Error Code", "Error", "Resolution"]


def failed_records_csv(run: ImportRun) -> Iterator[str]:
    """One line per error of every failed record of the run, in row order."""
    header = failed_records_header(run.import_obj)
    if connection.vendor == "postgresql":
        return _failed_records_copy(run, header)
    with_event = run.import_obj.sync_type == Import.SyncType.EVENT
    resolutions = {code: info.resolution for code, info in ERROR_REFERENCE.items()}

    def lines(chunk):
        out = []
        for row_number, identity, event_name, errors in chunk:
            head = [row_number, identity, event_name] if with_event else [row_number, identity]
            for err in errors or [{}]:
                code = err.get("code", "")
                out.append(
                    head
                    + [
                        err.get("field", ""),
                        code,
                        err.get("message", ""),
                        resolutions.get(code, ""),
                    ]
                )
        return out

    chunks = (lines(chunk) for chunk in queries.iter_failed_records(run))
    return _csv_chunks(header, chunks)


# Records per COPY on PostgreSQL: each chunk is read whole (a few MB), so memory stays flat
# and no COPY is left half-read if the client goes away between chunks.
COPY_CHUNK = 10_000


def _neutralized_sql(expression: str):
    """`neutralize()` in SQL, so the COPY path writes the same cells as the Python path."""
    from psycopg import sql

    starts = sql.SQL(", ").join(sql.Literal(c) for c in FORMULA_STARTS)
    return sql.SQL("CASE WHEN left({e}, 1) IN ({starts}) THEN '''' || {e} ELSE {e} END").format(
        e=sql.SQL(f"({expression})"), starts=starts
    )


def _failed_records_copy(run: ImportRun, header: list[str]) -> Iterator[str]:
    """PostgreSQL: the database unnests the errors and writes the CSV (COPY ... TO STDOUT), so
    Python only relays bytes; the same lines as the portable path, several times faster."""
    from psycopg import sql

    table = sql.Identifier(RecordResult._meta.db_table)
    with_event = run.import_obj.sync_type == Import.SyncType.EVENT
    texts = ["NULLIF(r.identity, '')"]
    if with_event:
        texts.append("NULLIF(r.event_name, '')")
    texts += ["e.err->>'field'", "e.err->>'code'", "e.err->>'message'", "ref.resolution"]
    columns = [sql.SQL("r.row_number")] + [_neutralized_sql(text) for text in texts]
    reference = sql.SQL(", ").join(
        sql.SQL("({}, {})").format(sql.Literal(code), sql.Literal(info.resolution))
        for code, info in ERROR_REFERENCE.items()
    )

    def copy_statement(after: int, upto: int | None):
        bound = sql.SQL("AND r.row_number <= {}").format(upto) if upto else sql.SQL("")
        return sql.SQL(
            "COPY (SELECT {columns} FROM {table} r "
            "CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_array_length(r.errors) > 0 "
            "THEN r.errors ELSE '[{{}}]'::jsonb END) WITH ORDINALITY AS e(err, n) "
            "LEFT JOIN (VALUES {reference}) AS ref(code, resolution) ON ref.code = e.err->>'code' "
            "WHERE r.run_id = {run} AND NOT r.success AND r.row_number > {after} {bound} "
            "ORDER BY r.row_number, e.n) TO STDOUT WITH (FORMAT csv)"
        ).format(
            columns=sql.SQL(", ").join(columns),
            table=table,
            reference=reference,
            run=sql.Literal(run.pk),
            after=sql.Literal(after),
            bound=bound,
        )

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(header)
        yield buffer.getvalue()
        after = 0
        while True:
            # The row number that closes this chunk: an index-only seek, not a count.
            upto = (
                RecordResult.objects.filter(run=run, success=False, row_number__gt=after)
                .order_by("row_number")
                .values_list("row_number", flat=True)[COPY_CHUNK - 1 : COPY_CHUNK]
                .first()
            )
            with connection.cursor() as cursor:
                raw = cursor.cursor  # the psycopg cursor under Django's wrapper
                with raw.copy(copy_statement(after, sql.Literal(upto) if upto else None)) as copy:
                    data = b"".join(bytes(block) for block in copy)
            if data:
                yield data
            if upto is None:
                return
            after = upto

    return generate()
