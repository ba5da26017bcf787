"""Retry failed records (issue 17, item 3): a run of its own (trigger "retry", `retry_of` the
run it retries) that reads the source rows the failed records of that run kept
(`imports.failed_values`) instead of the warehouse, and validates them with the import's
current mapping. Those that pass now are imported as any run's: events once (the event key
refuses one already imported, so a retry of a retry never imports a row twice), profiles
upserted. Failed records that kept no source row (larger than 16 KB, or values not kept in
full) are counted as not retried, by reason.

The retry run numbers its rows 1..n in the order of the retried run's row numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, Q

from imports import failed_values
from imports.models import ImportRun, RecordResult

State = ImportRun.State

_KEPT = Q(source_row__startswith="{")
_TOO_LARGE = Q(source_row__isnull=False) & ~_KEPT

NOT_RETRIED_REASONS = {
    "too_large": "the source row was larger than 16 KB, so it was not kept",
    "not_kept": "the source row was not kept (rejected values not kept in full)",
}


@dataclass(frozen=True)
class Retriable:
    """What a retry of a run would do with its failed records."""

    kept: int
    too_large: int
    not_kept: int

    @property
    def not_retried(self) -> dict[str, int]:
        return {k: n for k, n in (("too_large", self.too_large), ("not_kept", self.not_kept)) if n}


def retriable(run_id: int | None) -> Retriable:
    """How many failed records of the run kept their source row, and how many did not, why."""
    if run_id is None:  # the retried run was purged meanwhile
        return Retriable(0, 0, 0)
    counts = RecordResult.objects.filter(run_id=run_id, success=False).aggregate(
        kept=Count("row_number", filter=_KEPT),
        too_large=Count("row_number", filter=_TOO_LARGE),
        not_kept=Count("row_number", filter=Q(source_row__isnull=True)),
    )
    return Retriable(counts["kept"], counts["too_large"], counts["not_kept"])


def refusal(run: ImportRun) -> str:
    """Why the run's failed records cannot be retried (user-facing), or "" when they can."""
    if run.state != State.COMPLETED:
        return "Only a completed run's failed records can be retried."
    if not run.failed:
        return "This run has no failed records to retry."
    return ""


def kept_rows(run_id: int | None, batch_size: int) -> Iterator[list[dict]]:
    """The kept source rows of the run's failed records, in row order, in batches (keyset on
    the row number, one batch in memory)."""
    if run_id is None:
        return
    after = 0
    records = RecordResult.objects.filter(_KEPT, run_id=run_id, success=False)
    while True:
        page = list(
            records.filter(row_number__gt=after)
            .order_by("row_number")
            .values_list("row_number", "source_row")[:batch_size]
        )
        if not page:
            return
        yield [failed_values.decode_row(text) for _n, text in page]
        after = page[-1][0]


def not_retried_notes(counts: dict[str, int] | None) -> list[str]:
    """The retry run's "not retried" counts as sentences: "3 records not retried: …"."""
    notes = []
    for reason, n in (counts or {}).items():
        records = "1 failed record" if n == 1 else f"{n:,} failed records"
        notes.append(f"{records} not retried: {NOT_RETRIED_REASONS.get(reason, reason)}.")
    return notes
