"""Template helpers of the Stats pages: the Error Reference's resolution for an error code,
run-state wording shared with the CSV export, a running run's progress, and the Stats table's
run rows."""

from __future__ import annotations

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import dateformat, timezone
from django.utils.safestring import SafeString, mark_safe

from imports.models import ImportRun
from imports.templatetags.imports_tags import local_time
from imports.templatetags.listing_tags import fast_format, fast_health_badge
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
def skipped_note() -> str:
    return queries.SKIPPED_NOTE


@register.simple_tag
def stopped_note() -> str:
    return queries.STOPPED_NOTE


@register.filter
def partial_note(run: ImportRun) -> str:
    return queries.partial_note(run)


@register.filter
def failure_advice(run: ImportRun) -> str:
    return queries.failure_advice(run)


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


_MISMATCH_TITLE = (
    "Compare the Total Records count to what you expect from your source query: a mismatch may"
    " mean the source table was not up to date when it was fetched."
)


def _when_cell(run: ImportRun) -> SafeString:
    when = local_time(run.created_at)
    if run.state not in ("skipped", "queued"):
        label = dateformat.format(timezone.localtime(run.created_at), "j M Y H:i")
        when = fast_format(
            '<a href="{}" hx-get="{}" hx-target="#run-pane" hx-push-url="true"'
            ' aria-label="Records of the run of {}">{}</a>',
            run.detail_url,
            run.detail_url,
            label,
            when,
        )
    manual = mark_safe(' <span class="help">manual</span>') if run.trigger == "manual" else ""
    return fast_format('<td class="when">{}{}</td>', when, manual)


def _progress_cells(run: ImportRun) -> SafeString:
    if run.state == "queued":
        return mark_safe('<td colspan="4" class="progress-cell">Queued — waiting for a worker</td>')
    pct = progress_percent(run)
    bar = (
        fast_format(
            '<progress max="100" value="{}" aria-label="Progress">{}%</progress> {}% · ',
            pct,
            pct,
            pct,
        )
        if pct is not None
        else ""
    )
    expected = fast_format(" of {}", intcomma(run.expected_total)) if run.expected_total else ""
    return fast_format(
        '<td colspan="4" class="progress-cell"><span class="status status-running">Running</span>'
        ' {}<span class="progress">{}{} records processed ({} successful, {} failed)</span></td>',
        bar,
        intcomma(run.processed),
        expected,
        intcomma(run.successful),
        intcomma(run.failed),
    )


def _result_cells(run: ImportRun) -> SafeString:
    mismatch = (
        fast_format(
            '<div class="mismatch" title="{}">Expected {}</div>',
            _MISMATCH_TITLE,
            intcomma(run.expected_total),
        )
        if queries.count_mismatch(run)
        else ""
    )
    failed = (
        fast_format(
            '<a href="{}?result=failed" hx-get="{}?result=failed" hx-target="#run-pane"'
            ' hx-push-url="true">{}</a>',
            run.detail_url,
            run.detail_url,
            intcomma(run.failed),
        )
        if run.failed
        else "0"
    )
    return fast_format(
        '<td>{}</td><td class="num">{}{}</td><td class="num">{}</td><td class="num">{}</td>',
        fast_health_badge(run.health),
        intcomma(run.total),
        mismatch,
        intcomma(run.successful),
        failed,
    )


@register.simple_tag
def run_row(run: ImportRun) -> SafeString:
    """One run of the Stats table (a `<tbody>`: its row and, for a failed run, the error row),
    built in Python: the table shows 100 of them and templates made it the page's main cost.
    Expects `detail_url` and `row_url` on the run (stats.views attaches them)."""
    state = run.state
    in_progress = state in ("running", "queued")
    poll = (
        fast_format(' hx-get="{}" hx-trigger="every 2s" hx-swap="outerHTML"', run.row_url)
        if in_progress
        else ""
    )
    if state == "skipped":
        cells = fast_format('<td colspan="4">{}</td>', queries.SKIPPED_NOTE)
    elif state == "stopped":
        note = queries.partial_note(run)
        cells = fast_format(
            '<td colspan="4" class="stopped">{}{}</td>',
            queries.STOPPED_NOTE,
            fast_format(' <span class="help">· {}</span>', note) if note else "",
        )
    elif in_progress:
        cells = _progress_cells(run)
    else:
        cells = _result_cells(run)
    error = (
        fast_format(
            '<tr class="run-error"><td></td><td colspan="4"><strong class="error">Run failed: {}'
            '</strong><div class="help">What to do: {}</div></td></tr>',
            run.error or "the run did not finish",
            queries.failure_advice(run),
        )
        if state == "failed"
        else ""
    )
    return fast_format(
        '<tbody id="run-{}" class="run run-{}"{}><tr{}>{}{}</tr>{}</tbody>',
        run.code,
        state,
        poll,
        mark_safe(' class="muted"') if state == "skipped" else "",
        _when_cell(run),
        cells,
        error,
    )
