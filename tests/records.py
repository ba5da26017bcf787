"""What a run recorded, wherever it keeps it: an event run claimed with `successes_in_events`
keeps its imported rows in Event, and RecordResults for the rest (and each batch's first row)."""

from __future__ import annotations

from imports.models import Event, ImportRun, RecordResult


def recorded_rows(run: ImportRun) -> list[int]:
    """Every row number the run recorded, in order; a row in both tables counts once."""
    rows = set(RecordResult.objects.filter(run=run).values_list("row_number", flat=True))
    if run.successes_in_events:
        rows.update(Event.objects.filter(run_code=run.code).values_list("row_number", flat=True))
    return sorted(rows)


def recorded_identities(run: ImportRun) -> dict[int, str]:
    """Row number → identity of every row the run recorded."""
    found = dict(Event.objects.filter(run_code=run.code).values_list("row_number", "identity"))
    found.update(RecordResult.objects.filter(run=run).values_list("row_number", "identity"))
    return found
