"""The listing's per-row markup, built in Python: the table row, its actions, the health badge.

The listing renders 25 rows of 12 columns; through template machinery every row cost a dozen
`{% url %}` / `{% csrf_token %}` nodes, an `{% include %}` and ~60 variable look-ups, most of
the page's server time. These tags produce the same HTML with one `reverse()` per action per
render (the import's code is substituted into a reversed pattern) and the CSRF token read once.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape as _html_escape
from typing import TYPE_CHECKING
from urllib.parse import urlencode
from uuid import UUID

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.template.defaulttags import querystring
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from imports.models import Import, ImportRun, Partner
from imports.templatetags.imports_tags import describe_schedule
from validation.health import DESCRIPTIONS, Health

if TYPE_CHECKING:
    from imports.views import ListingRow

register = template.Library()

# Reversed once per render with this code, then the row's code replaces it: the action URLs
# differ only in the code segment (`<uuid:code>/<action>/`).
_SENTINEL = UUID("00000000-0000-4000-8000-000000000000")
_ACTIONS = (
    "imports-pause",
    "imports-resume",
    "imports-stop",
    "imports-cancel-run",
    "imports-run-now",
    "imports-delete",
    "imports-edit",
    "imports-duplicate",
    "stats-overview",
)
_PAUSABLE = (Import.Status.SCHEDULED, Import.Status.RUNNING)
_RESUMABLE = (Import.Status.PAUSED, Import.Status.STOPPED)
_STOPPABLE = (Import.Status.SCHEDULED, Import.Status.RUNNING, Import.Status.PAUSED)
_RUNNABLE = (Import.Status.SCHEDULED, Import.Status.PAUSED)


def fast_format(template_str: str, *args) -> SafeString:
    """`format_html` without its lazy-string machinery: the same escaping (an argument with
    `__html__` is trusted, anything else goes through `html.escape`), at a fraction of the
    cost when called a few hundred times per page."""
    escaped = [
        arg.__html__() if hasattr(arg, "__html__") else _html_escape(str(arg)) for arg in args
    ]
    return SafeString(template_str.format(*escaped))  # mark_safe() is lazy-wrapped too


@lru_cache(maxsize=1)
def _stop_warning() -> str:
    # One wording for the browser's confirm and the no-JavaScript confirmation page.
    return render_to_string("imports/_listing_stop_warning.html").strip()


@lru_cache(maxsize=1)
def _cancel_warning() -> str:
    return render_to_string("imports/_listing_cancel_warning.html").strip()


class _RowKit:
    """What every row of one render shares, worked out once: the action URLs (as the text
    around the import's code), the hidden CSRF/`next` inputs, the viewer's time zone, and each
    status's actions markup as a format string (code, nickname and hidden inputs left out).
    """

    def __init__(self, context: template.Context) -> None:
        sentinel = str(_SENTINEL)
        self.urls = {name: reverse(name, args=[_SENTINEL]).split(sentinel) for name in _ACTIONS}
        self.can_edit = bool(context.get("user_can_edit"))
        self.zone = timezone.get_current_timezone()
        self._context = context
        self._hidden: str | None = None
        self._next_query = ""
        self._actions: dict[str, str] = {}

    def url(self, name: str, code: str) -> str:
        head, tail = self.urls[name]
        return f"{head}{code}{tail}"

    def actions(self, status: str, code: str, nickname: str, run_active: bool = False) -> str:
        """The actions `<div>` of a row (`nickname` already escaped); `run_active` when a run
        of the import is in progress (a paused import's run goes on)."""
        key = (status, run_active)
        fmt = self._actions.get(key)
        if fmt is None:
            fmt = self._actions[key] = _actions_format(self, status, run_active)
        if self._hidden is None:
            request = self._context.get("request")
            here = request.get_full_path() if request is not None else ""
            self._hidden = fast_format(
                '{}<input type="hidden" name="next" value="{}">', _csrf_input(self._context), here
            )
            self._next_query = _html_escape(urlencode({"next": here}))
        return fmt.format(code=code, nickname=nickname, hidden=self._hidden, next=self._next_query)


def _row_kit(context: template.Context) -> _RowKit:
    cache = context.render_context
    kit = cache.get("listing_row_kit")
    if kit is None:
        kit = cache["listing_row_kit"] = _RowKit(context)
    return kit


def _csrf_input(context: template.Context) -> SafeString:
    token = context.get("csrf_token")
    if not token or token == "NOTPROVIDED":
        return mark_safe("")
    return fast_format('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)


def _post_form(action: str, hidden: SafeString, button: SafeString) -> SafeString:
    return fast_format('<form method="post" action="{}">{}{}</form>', action, hidden, button)


@register.simple_tag(takes_context=True)
def row_actions(context: template.Context, imp: Import) -> SafeString:
    """The row's action buttons for editors (nothing for viewers): POST forms with CSRF and
    `next` (back to this page). Stop, Cancel run and a draft's Delete confirm in the browser
    first; a published import's Delete is a link to a page that asks."""
    kit = _row_kit(context)
    if not kit.can_edit:
        return mark_safe("")
    return SafeString(
        kit.actions(imp.status, str(imp.code), _html_escape(imp.nickname), bool(imp.current_run_id))
    )


def _actions_format(kit: _RowKit, status: str, run_active: bool) -> str:
    """A status's actions markup as a `str.format` template with `{code}`, `{nickname}` and
    `{hidden}` fields (and `{next}`, the query string back to this page). Built from markers
    that only this function writes (the markup holds no data yet), so no value can be mistaken
    for one."""
    code, nickname, hidden, back = (SafeString(f"\x00{name}\x00") for name in ("c", "n", "h", "q"))
    urls = {name: SafeString(kit.url(name, code)) for name in _ACTIONS}
    markup = _actions_markup(status, urls, nickname, hidden, back, run_active)
    markup = markup.replace("{", "{{").replace("}", "}}")
    return (
        markup.replace(code, "{code}")
        .replace(nickname, "{nickname}")
        .replace(hidden, "{hidden}")
        .replace(back, "{next}")
    )


def _actions_markup(
    status: str,
    urls: dict[str, SafeString],
    nickname: SafeString,
    hidden: SafeString,
    back: SafeString,
    run_active: bool = False,
) -> str:
    parts: list[SafeString] = []
    if status in _PAUSABLE:
        parts.append(
            _post_form(
                urls["imports-pause"],
                hidden,
                mark_safe(
                    '<button type="submit" class="btn btn-small" title="Pause the schedule: a run'
                    ' in progress finishes, no new runs start.">Pause</button>'
                ),
            )
        )
    if status in _RESUMABLE:
        parts.append(
            _post_form(
                urls["imports-resume"],
                hidden,
                mark_safe(
                    '<button type="submit" class="btn btn-small"'
                    ' title="Schedule the import again from now.">Resume</button>'
                ),
            )
        )
    if status in _STOPPABLE:
        parts.append(
            fast_format(
                '<form method="post" action="{}" data-confirm="{}" onsubmit="if'
                " (!window.confirm(this.dataset.confirm)) {{ return false; }}"
                " this.elements.confirmed.value = '1';\">"
                '{}<input type="hidden" name="confirmed" value="">'
                '<button type="submit" class="btn btn-small btn-danger" title="Stop the import'
                ' (asks first: a run in progress loses its stats).">Stop</button></form>',
                urls["imports-stop"],
                _stop_warning(),
                hidden,
            )
        )
    if status == Import.Status.RUNNING or (run_active and status in _STOPPABLE):
        # Beside Stop: ends this run only; the schedule goes on.
        parts.append(
            fast_format(
                '<form method="post" action="{}" data-confirm="{}" onsubmit="if'
                " (!window.confirm(this.dataset.confirm)) {{ return false; }}"
                " this.elements.confirmed.value = '1';\">"
                '{}<input type="hidden" name="confirmed" value="">'
                '<button type="submit" class="btn btn-small" title="Cancel this run only: it'
                ' ends stopped, the schedule goes on.">Cancel run</button></form>',
                urls["imports-cancel-run"],
                _cancel_warning(),
                hidden,
            )
        )
    if status in _RUNNABLE:
        parts.append(
            _post_form(
                urls["imports-run-now"],
                hidden,
                mark_safe(
                    '<button type="submit" class="btn btn-small"'
                    ' title="Start a run now, outside the schedule.">Run now</button>'
                ),
            )
        )
    parts.append(fast_format('<a class="btn btn-small" href="{}">Edit</a>', urls["imports-edit"]))
    parts.append(
        fast_format(
            '<a class="btn btn-small" href="{}"'
            ' title="Copy this configuration into a new draft.">Duplicate</a>',
            urls["imports-duplicate"],
        )
    )
    if status == Import.Status.DRAFT:
        parts.append(
            fast_format(
                '<form method="post" action="{}" data-confirm="Delete the draft “{}”? This cannot'
                ' be undone." onsubmit="return window.confirm(this.dataset.confirm);">{}'
                '<button type="submit" class="btn btn-small btn-danger">Delete</button></form>',
                urls["imports-delete"],
                nickname,
                hidden,
            )
        )
    else:
        # A published import has runs to name before it goes: a confirmation page.
        parts.append(
            fast_format(
                '<a class="btn btn-small btn-danger" href="{}?{}" title="Delete the import with'
                ' its runs and record details (asks first).">Delete</a>',
                urls["imports-delete"],
                back,
            )
        )
    return fast_format(
        '<div class="actions" aria-label="Actions for {}">{}</div>',
        nickname,
        mark_safe("".join(parts)),
    )


@register.simple_tag
def fast_health_badge(health: Health, show_blank_text: bool = True) -> SafeString:
    """`{% health_badge %}` (imports_tags) without the inclusion template: same markup."""
    return _badge(health.band, health.label, show_blank_text)


@lru_cache(maxsize=2048)
def _badge(band: str, label: str, show_blank_text: bool) -> SafeString:
    # The markup depends on these three only (the tooltip is the band's), and a page shows
    # few distinct ones: built once each.
    description = DESCRIPTIONS[band]
    if band == "none":
        return fast_format(
            '<span class="badge health-none" title="{}">No indicator</span>', description
        )
    if band == "blank":
        return fast_format(
            '<span class="badge health-blank" title="{}">Blank{}</span>',
            description,
            " · no data processed" if show_blank_text else "",
        )
    return fast_format(
        '<span class="badge health-{}" title="{}">{} <span class="visually-hidden">({})</span>'
        "</span>",
        band,
        description,
        label,
        band,
    )


def _progress(imp: ListingRow) -> SafeString:
    run = imp.current_run
    if imp.status != Import.Status.RUNNING or run is None:
        return mark_safe("")
    processed = run.processed
    if run.expected_total:
        inner = fast_format(
            '<progress max="{}" value="{}"></progress> {} / {} records',
            run.expected_total,
            processed,
            intcomma(processed),
            intcomma(run.expected_total),
        )
    else:
        inner = fast_format("{} records so far", intcomma(processed))
    return fast_format('<div class="progress">{}</div>', inner)


def _last_run_note(imp: ListingRow) -> SafeString:
    last = imp.last_run
    if last is None:
        return mark_safe("")
    if last.state == "failed":
        if last.error:
            return fast_format(
                '<div class="help run-failed" title="{}">Failed: {}</div>',
                last.error,
                Truncator(last.error).chars(40),
            )
        return mark_safe('<div class="help run-failed">Failed</div>')
    if last.state in ("skipped", "stopped"):
        return fast_format('<div class="help">{}</div>', _RUN_STATE_LABELS[last.state])
    return mark_safe("")


def local_time_markup(value, zone, fmt: str = "%d %b %Y %H:%M") -> str:
    """imports_tags.local_time's markup for a date in `zone`. Nothing to escape: ISO digits,
    and strftime's fields (digits, month and zone abbreviations)."""
    if value is None:
        return "—"
    local = value.astimezone(zone)  # timezone.localtime() without its per-call zone look-up
    return (
        f'<time datetime="{value.isoformat()}" title="{local.strftime("%Y-%m-%d %H:%M:%S %Z")}">'
        f"{local.strftime(fmt)}</time>"
    )


@register.simple_tag(takes_context=True)
def sort_headers(context: template.Context, columns: list[dict]) -> SafeString:
    """The listing's sortable `<th>` cells (views._sort_columns): the markup of a
    `{% for %}` over the columns with a `{% querystring %}` each, built without a template
    pass per column. Whitespace included, so the page reads exactly as before."""
    path = _html_escape(context.request.path)
    cells = []
    for col in columns:
        sort_qs = _html_escape(querystring(context, o=col["next"], page=None))
        # Every sortable header says so before it is clicked: "none" and ↕ until it sorts.
        aria = col["aria_sort"] or "none"
        label = _html_escape(str(col["label"]))
        cells.append(
            f'\n      <th scope="col" aria-sort="{_html_escape(aria)}"><a href="{sort_qs}"'
            f' hx-get="{path}{sort_qs}" hx-target="#import-table" hx-swap="outerHTML"'
            f' hx-push-url="true" data-sort="{_html_escape(col["key"])}"'
            f' title="{_SORT_TITLES[aria].format(label)}">{label}{_SORT_ARROWS[aria]}'
            "</a></th>\n      "
        )
    return SafeString("".join(cells))


# A no-break space: a header that wraps keeps its sign beside its last word.
_SORT_ARROWS = {
    "none": '\u00a0<span class="sort-sign" aria-hidden="true">↕</span>',
    "ascending": '\u00a0<span class="sort-sign" aria-hidden="true">▲</span>',
    "descending": '\u00a0<span class="sort-sign" aria-hidden="true">▼</span>',
}
_SORT_TITLES = {
    "none": "Sort by {}",
    "ascending": "Sorted by {}, ascending: click to reverse",
    "descending": "Sorted by {}, descending: click to reverse",
}


@register.simple_tag
def filter_select(field, choices) -> SafeString:
    """A filter `<select>` with its options and the current value selected: the markup of
    Django's Select widget, without its template pass per option (a fifth of the page)."""
    current = field.value()
    current = "" if current is None else str(current)
    options = []
    for value, label in choices:
        value = str(value)
        options.append(
            fast_format(
                '<option value="{}"{}>{}</option>',
                value,
                SafeString(" selected") if value == current else "",
                label,
            )
        )
    return fast_format(
        '<select name="{}" id="{}">{}</select>',
        field.html_name,
        field.id_for_label,
        SafeString("".join(options)),
    )


def _username(name: str | None) -> str:
    return _html_escape(name or "—")


# get_FOO_display() without its per-call dict(flatchoices) and make_hashable().
_STATUS_LABELS = dict(Import.Status.choices)
_SYNC_TYPE_LABELS = dict(Import.SyncType.choices)
_PARTNER_LABELS = dict(Partner.choices)
_RUN_STATE_LABELS = dict(ImportRun.State.choices)


@register.simple_tag(takes_context=True)
def import_row(context: template.Context, imp: ListingRow) -> SafeString:
    """One listing row (`<tr>`): the twelve columns and, for editors, the actions."""
    kit = _row_kit(context)
    zone = kit.zone
    code = str(imp.code)
    nickname = _html_escape(imp.nickname)
    status = imp.status
    partner = imp.datasource_partner
    actions = (
        f"<td>{kit.actions(status, code, nickname, bool(imp.current_run_id))}</td>"
        if kit.can_edit
        else ""
    )
    return SafeString(
        f'<tr id="import-{code}" data-status="{_html_escape(status)}">'
        f'<td class="nickname"><a href="{kit.url("stats-overview", code)}">{nickname}</a></td>'
        f"<td>{_html_escape(str(_PARTNER_LABELS.get(partner, partner)))}</td>"
        f'<td><span class="status status-{_html_escape(status)}">'
        f"{_html_escape(str(_STATUS_LABELS.get(status, status)))}</span>{_progress(imp)}</td>"
        f"<td>{_html_escape(str(_SYNC_TYPE_LABELS.get(imp.sync_type, imp.sync_type)))}</td>"
        f'<td class="frequency">{_html_escape(describe_schedule(imp))}</td>'
        f'<td class="health">{fast_health_badge(imp.health)}</td>'
        f'<td class="when">{local_time_markup(imp.last_run_at, zone)}{_last_run_note(imp)}</td>'
        f'<td class="datasource">{_html_escape(imp.datasource_name)}</td>'
        f'<td class="date">{local_time_markup(imp.created_at, zone, "%d %b %Y")}</td>'
        f'<td class="user">{_username(imp.created_by_name)}</td>'
        f'<td class="date">{local_time_markup(imp.updated_at, zone, "%d %b %Y")}</td>'
        f'<td class="user">{_username(imp.updated_by_name)}</td>{actions}</tr>'
    )
