"""Template helpers of the Stats pages: the Error Reference's resolution for an error code,
run-state wording shared with the CSV export, a running run's progress, and the Stats table's
run rows."""

from __future__ import annotations

from collections.abc import Callable
from html import escape as _html_escape

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.formats import get_format, localize
from django.utils.safestring import SafeString

from imports.models import ImportRun
from imports.templatetags.listing_tags import fast_health_badge, local_time_markup
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


_MISMATCH_TITLE = (
    "Compare the Total Records count to what you expect from your source query: a mismatch may"
    " mean the source table was not up to date when it was fetched."
)
_MISMATCH_TITLE_ATTR = _html_escape(_MISMATCH_TITLE)


def _thousands() -> Callable[[int], str]:
    """humanize's `intcomma` for the active locale. Its general path (number_format, with a
    format look-up per call) was a third of a Stats row; where the locale groups by three
    with commas, as English does, that is Python's own `,` format for an integer."""
    if get_format("THOUSAND_SEPARATOR") == "," and get_format("NUMBER_GROUPING") == 3:
        return lambda value: f"{value:,}" if type(value) is int else intcomma(value)
    return intcomma


class _RowKit:
    """What every run row of one render shares: the viewer's zone, month names, and the
    number format."""

    def __init__(self) -> None:
        self.zone = timezone.get_current_timezone()
        # dateformat's "M": the active language's three-letter month, title-cased.
        self.months = ("", *(str(MONTHS_3[m]).title() for m in range(1, 13)))
        self.number = _thousands()

    def label(self, local) -> str:
        """`dateformat.format(local, "j M Y H:i")` for a datetime already in the zone."""
        return f"{local.day} {self.months[local.month]} {local.year:04d} {local:%H:%M}"


def _row_kit(context: template.Context | None) -> _RowKit:
    if context is None:
        return _RowKit()
    cache = context.render_context
    kit = cache.get("stats_row_kit")
    if kit is None:
        kit = cache["stats_row_kit"] = _RowKit()
    return kit


def _when_cell(run: ImportRun, kit: _RowKit) -> str:
    when = local_time_markup(run.created_at, kit.zone)
    if run.state not in ("skipped", "queued"):
        url = _html_escape(run.detail_url)
        label = kit.label(run.created_at.astimezone(kit.zone))
        when = (
            f'<a href="{url}" hx-get="{url}" hx-target="#run-pane" hx-push-url="true"'
            f' aria-label="Records of the run of {_html_escape(label)}">{when}</a>'
        )
    return f'<td class="when">{when}</td>'


def _run_cells(run: ImportRun) -> str:
    """Duration and trigger: every state has them (a skipped run was still triggered)."""
    return (
        f'<td class="num duration">{_html_escape(queries.duration_text(run))}'
        f'</td><td class="trigger">{_html_escape(queries.trigger_label(run))}</td>'
    )


def _progress_cells(run: ImportRun, kit: _RowKit) -> str:
    if run.state == "queued":
        return '<td colspan="4" class="progress-cell">Queued — waiting for a worker</td>'
    number = kit.number
    pct = progress_percent(run)
    bar = (
        f'<progress max="100" value="{pct}" aria-label="Progress">{pct}%</progress> {pct}% · '
        if pct is not None
        else ""
    )
    expected = f" of {_html_escape(number(run.expected_total))}" if run.expected_total else ""
    # "1 record processed", "0 of 1 record processed": the noun agrees with the last number.
    noun = "record" if (run.expected_total or run.processed) == 1 else "records"
    return (
        '<td colspan="4" class="progress-cell"><span class="status status-running">Running'
        f'</span> {bar}<span class="progress">{_html_escape(number(run.processed))}{expected}'
        f" {noun} processed"
        f" ({_html_escape(number(run.successful))} successful,"
        f" {_html_escape(number(run.failed))} failed)</span></td>"
    )


def _result_cells(run: ImportRun, kit: _RowKit) -> str:
    number = kit.number
    mismatch = (
        f'<div class="mismatch" title="{_MISMATCH_TITLE_ATTR}">'
        f"Expected {_html_escape(number(run.expected_total))}</div>"
        if queries.count_mismatch(run)
        else ""
    )
    if run.failed:
        url = _html_escape(run.detail_url)
        failed = (
            f'<a href="{url}?result=failed" hx-get="{url}?result=failed" hx-target="#run-pane"'
            f' hx-push-url="true">{_html_escape(number(run.failed))}</a>'
        )
    else:
        failed = "0"
    return (
        f"<td>{fast_health_badge(run.health)}</td>"
        f'<td class="num">{_html_escape(number(run.total))}{mismatch}</td>'
        f'<td class="num">{_html_escape(number(run.successful))}</td>'
        f'<td class="num">{failed}</td>'
    )


@register.simple_tag(takes_context=True)
def run_row(context: template.Context, run: ImportRun) -> SafeString:
    """One run of the Stats table (a `<tbody>`: its row and, for a failed run, the error row),
    built in Python: the table shows 50 of them and templates made it the page's main cost.
    Expects `detail_url` and `row_url` on the run (stats.views attaches them)."""
    kit = _row_kit(context)
    state = run.state
    in_progress = state in ("running", "queued")
    poll = (
        f' hx-get="{_html_escape(run.row_url)}" hx-trigger="every 2s" hx-swap="outerHTML"'
        if in_progress
        else ""
    )
    if state == "skipped":
        cells = f'<td colspan="4">{_html_escape(queries.SKIPPED_NOTE)}</td>'
    elif state == "stopped":
        note = queries.partial_note(run)
        note = f' <span class="help">· {_html_escape(note)}</span>' if note else ""
        cells = f'<td colspan="4" class="stopped">{_html_escape(queries.STOPPED_NOTE)}{note}</td>'
    elif in_progress:
        cells = _progress_cells(run, kit)
    else:
        cells = _result_cells(run, kit)
    error = (
        '<tr class="run-error"><td></td><td colspan="6"><strong class="error">Run failed: '
        f"{_html_escape(run.error or 'the run did not finish')}</strong>"
        f'<div class="help">What to do: {_html_escape(queries.failure_advice(run))}</div>'
        "</td></tr>"
        if state == "failed"
        else ""
    )
    muted = ' class="muted"' if state == "skipped" else ""
    return SafeString(
        f'<tbody id="run-{run.code}" class="run run-{_html_escape(state)}"{poll}><tr{muted}>'
        f"{_when_cell(run, kit)}{cells}{_run_cells(run)}</tr>{error}</tbody>"
    )


_SUCCESS_BADGE = {
    True: '<span class="badge health-green">Success</span>',
    False: '<span class="badge health-red">Failed</span>',
}


def _text(value) -> str:
    """A record's value as `{{ value }}` shows it (escaped; None reads "None")."""
    return _html_escape(str(value))


def _record_errors(errors) -> str:
    if not errors:
        return "—"
    items = "".join(
        f"<li><code>{_text(err.get('field', ''))}</code>: "
        f'<span class="error-message">{_text(err.get("message", ""))}</span>'
        f'<div class="help">{_text(resolution(err.get("code", "")))}</div></li>'
        for err in errors
    )
    return f'<ul class="record-errors">{items}</ul>'


@register.simple_tag
def record_rows(records, show_event: bool) -> SafeString:
    """The detail pane's record rows: the markup (and white space) of the template loop they
    replace, which cost a third of the pane's CPU time for 50 records and their errors."""
    number = str if not settings.USE_THOUSAND_SEPARATOR else localize
    rows = []
    for rec in records:
        event = f"<td>{_text(rec.event_name or '—')}</td>" if show_event else ""
        rows.append(
            f'\n      <tr>\n        <td class="num">{_text(number(rec.row_number))}</td>'
            f"\n        <td>{_SUCCESS_BADGE[bool(rec.success)]}</td>"
            f'\n        <td class="identity">{_text(rec.identity or "(blank)")}</td>'
            f"\n        {event}\n        <td>{_record_errors(rec.errors)}</td>\n      </tr>\n    "
        )
    return SafeString("".join(rows))
