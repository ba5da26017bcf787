"""CSV exports: the Stats table (for tracking beyond the retention window, as the reference
suggests) and a run's failed records with their errors and rejected values.

Both stream: rows are read in keyset chunks and written a chunk at a time, so a 1M-record
export holds one chunk in memory, never the file. One path on every database: Python's csv
writer, lines ending in LF.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC

from imports.failed_values import VALUE_LIMIT
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
    "Already Imported",
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


class _RowTexts(list):
    """A `csv.writer` target that keeps each row's text apart: the writer calls `write` once
    per row."""

    write = list.append


def _csv_texts(rows: Iterable[list]) -> list[str]:
    """Each row as CSV text without its line end. The writer's line end is CR LF so that it
    quotes a cell holding a carriage return (with LF alone, Python 3.11 leaves a bare CR, which
    readers take for a line break); the callers end each line with LF."""
    texts = _RowTexts()
    csv.writer(texts, lineterminator="\r\n").writerows(rows)
    return [text[:-2] for text in texts]


def _csv_chunks(header: list[str], rows: Iterable[list[list]]) -> Iterator[str]:
    yield _csv_texts([header])[0] + "\n"
    for chunk in rows:
        yield "".join([f"{text}\n" for text in _csv_texts([map(neutralize, row) for row in chunk])])


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
        mismatch = "Total differs from the source count" if queries.count_mismatch(run) else ""
        note = "; ".join(filter(None, [run.health_note.capitalize(), mismatch]))
    health = run.health
    span = queries.duration(run) if run.is_finished else None  # a file is a finished record
    return [
        run.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        run.get_state_display(),
        health.label if health.band != "none" else "",
        run.total if counts else "",
        run.successful if counts else "",
        run.failed if counts else "",
        run.already_imported if counts else "",
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
    # The value columns come last, so spreadsheets built on the earlier columns keep working.
    return header + ["Field", "Error Code", "Error", "Resolution", "Rejected Value", "Value Note"]


def value_cells(error: dict) -> list[str]:
    """The rejected value of an error and what a cell cannot show of it: NULL and blank both
    leave the cell empty, so the note tells them apart (as the detail pane does)."""
    if "value" not in error:
        return ["", "not kept"]
    value = error["value"]
    if value is None:
        return ["", "NULL"]
    if value == "":
        return ["", "blank"]
    if not value.strip():
        return [value, "white space only"]
    return [value, f"cut at {VALUE_LIMIT} characters" if error.get("cut") else ""]


def failed_records_csv(run: ImportRun, chunk: int = 5000) -> Iterator[str]:
    """One line per error of every failed record of the run, in row order.

    A line is the record's cells and then its error's; an error's cells (field, code, message,
    resolution) repeat from record to record, so each distinct one is written once per chunk
    and joined to the record's. The csv writer then scans a few short cells per line instead
    of the long messages and resolutions too: half the time (bench/exports.py, 433k lines:
    6.1 s of CPU and 20 s in all before, 3.2 s and 10.5 s after), and as quick as the
    PostgreSQL `COPY ... CSV` path that this one replaced."""
    imp = run.import_obj
    with_event = imp.sync_type == Import.SyncType.EVENT
    yield _csv_texts([failed_records_header(imp)])[0] + "\n"
    for records in queries.iter_failed_records(run, chunk):
        heads, ends, values = [], [], []
        error_texts: dict[tuple, str] = {}
        for row_number, identity, event_name, errors in records:
            head = [row_number, neutralize(identity)]
            if with_event:
                head.append(neutralize(event_name))
            for error in errors or [{}]:
                heads.append(head)
                ends.append(_error_text(error, error_texts))
                text, note = value_cells(error)
                values.append([neutralize(text), note])
        lines = zip(_csv_texts(heads), ends, _csv_texts(values), strict=True)
        yield "".join([f"{h},{e},{v}\n" for h, e, v in lines])


_RESOLUTIONS = {code: info.resolution for code, info in ERROR_REFERENCE.items()}


def _error_text(error: dict, seen: dict[tuple, str]) -> str:
    """The CSV cells of one error (field, code, message, resolution), written once per distinct
    error into `seen`."""
    key = (error.get("field", ""), error.get("code", ""), error.get("message", ""))
    text = seen.get(key)
    if text is None:
        cells = [*key, _RESOLUTIONS.get(key[1], "")]
        text = seen[key] = _csv_texts([map(neutralize, cells)])[0]
    return text
