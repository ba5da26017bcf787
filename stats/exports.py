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

from imports.models import Import, ImportRun
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
]


def _csv_chunks(header: list[str], rows: Iterable[list[list]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    for chunk in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(chunk)
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
    return [
        run.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        run.get_state_display(),
        health.label if health.band != "none" else "",
        run.total if counts else "",
        run.successful if counts else "",
        run.failed if counts else "",
        run.expected_total if run.expected_total is not None else "",
        note,
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
    return _csv_chunks(failed_records_header(run.import_obj), chunks)
