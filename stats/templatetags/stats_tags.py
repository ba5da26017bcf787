"""Template filters of the Stats pages: the Error Reference's message and resolution for an
error code, run-state wording shared with the CSV export, and a running run's progress. The
rows themselves are template partials (templates/stats/stats.html#row, run_detail.html#records)."""

from __future__ import annotations

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

from imports.models import ImportRun
from stats import queries
from validation.errors import ERROR_REFERENCE

register = template.Library()


@register.filter
def resolution(code: str) -> str:
    info = ERROR_REFERENCE.get(code)
    return info.resolution if info else ""


@register.filter
def error_message(code: str) -> str:
    info = ERROR_REFERENCE.get(code)
    return info.message if info else code


@register.simple_tag
def stopped_note() -> str:
    return queries.STOPPED_NOTE


@register.simple_tag
def skipped_note() -> str:
    return queries.SKIPPED_NOTE


@register.filter
def partial_note(run: ImportRun) -> str:
    return queries.partial_note(run)


@register.filter
def trigger_label(run: ImportRun) -> str:
    return queries.trigger_label(run)


@register.filter
def duration_label(run: ImportRun) -> str:
    return queries.duration_text(run)


@register.filter
def failure_advice(run: ImportRun) -> str:
    return queries.failure_advice(run)


@register.filter
def warehouse_reason(run: ImportRun) -> str:
    return queries.warehouse_reason(run)


@register.filter
def count_mismatch(run: ImportRun) -> bool:
    return queries.count_mismatch(run)


@register.filter
def progress_percent(run: ImportRun) -> int | None:
    """Share of the source read so far, when the source count is known."""
    if run.expected_total:
        return min(100, run.processed * 100 // run.expected_total)
    if run.chunks_total:
        return min(100, run.chunks_done * 100 // run.chunks_total)
    return None


@register.filter(is_safe=True)
def thousands(value) -> str:
    """`intcomma` for the Stats rows' counts: "10,000". The pages speak English only, so an int
    needs no locale lookup; humanize's went through Django's format machinery four times a row,
    ~18% of the Stats table's rendering (50 rows, page 20). Anything else goes to `intcomma`."""
    if type(value) is int:
        return f"{value:,}"
    return intcomma(value)
