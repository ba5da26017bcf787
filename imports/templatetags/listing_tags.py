"""The listing's per-row markup, built in Python: the table row, its actions, the health badge.

The listing renders 25 rows of 12 columns; through template machinery every row cost a dozen
`{% url %}` / `{% csrf_token %}` nodes, an `{% include %}` and ~60 variable look-ups, most of
the page's server time. These tags produce the same HTML with one `reverse()` per action per
render (the import's code is substituted into a reversed pattern) and the CSRF token read once.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape as _html_escape
from uuid import UUID

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from imports.models import Import
from imports.templatetags.imports_tags import describe_schedule
from validation.health import Health

register = template.Library()

# Reversed once per render with this code, then the row's code replaces it: the action URLs
# differ only in the code segment (`<uuid:code>/<action>/`).
_SENTINEL = UUID("00000000-0000-4000-8000-000000000000")
_ACTIONS = (
    "imports-pause",
    "imports-resume",
    "imports-stop",
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


def _url_patterns(context: template.Context) -> dict[str, str]:
    cache = context.render_context
    patterns = cache.get("listing_action_urls")
    if patterns is None:
        patterns = {name: reverse(name, args=[_SENTINEL]) for name in _ACTIONS}
        cache["listing_action_urls"] = patterns
    return patterns


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
    `next` (back to this page); Stop and Delete confirm in the browser first."""
    if not context.get("user_can_edit"):
        return mark_safe("")
    request = context.get("request")
    code = str(imp.code)
    sentinel = str(_SENTINEL)
    urls = {name: url.replace(sentinel, code) for name, url in _url_patterns(context).items()}
    hidden = fast_format(
        '{}<input type="hidden" name="next" value="{}">',
        _csrf_input(context),
        request.get_full_path() if request is not None else "",
    )
    status = imp.status
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
                imp.nickname,
                hidden,
            )
        )
    return fast_format(
        '<div class="actions" aria-label="Actions for {}">{}</div>',
        imp.nickname,
        mark_safe("".join(parts)),
    )


@register.simple_tag
def fast_health_badge(health: Health, show_blank_text: bool = True) -> SafeString:
    """`{% health_badge %}` (imports_tags) without the inclusion template: same markup."""
    band = health.band
    if band == "none":
        return fast_format(
            '<span class="badge health-none" title="{}">No indicator</span>', health.description
        )
    if band == "blank":
        return fast_format(
            '<span class="badge health-blank" title="{}">Blank{}</span>',
            health.description,
            " · no data processed" if show_blank_text else "",
        )
    return fast_format(
        '<span class="badge health-{}" title="{}">{} <span class="visually-hidden">({})</span>'
        "</span>",
        band,
        health.description,
        health.label,
        band,
    )


def _progress(imp: Import) -> SafeString:
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


def _last_run_note(imp: Import) -> SafeString:
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
        return fast_format('<div class="help">{}</div>', last.get_state_display())
    return mark_safe("")


def _local_time(value, fmt: str = "%d %b %Y %H:%M") -> SafeString:
    # imports_tags.local_time's markup, through fast_format.
    if value is None:
        return SafeString("—")
    local = timezone.localtime(value)
    return fast_format(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        local.strftime(fmt),
    )


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


def _username(user) -> str:
    return (user.get_username() if user is not None else "") or "—"


@register.simple_tag(takes_context=True)
def import_row(context: template.Context, imp: Import) -> SafeString:
    """One listing row (`<tr>`): the twelve columns and, for editors, the actions."""
    code = str(imp.code)
    overview = _url_patterns(context)["stats-overview"].replace(str(_SENTINEL), code)
    actions = (
        fast_format("<td>{}</td>", row_actions(context, imp))
        if context.get("user_can_edit")
        else ""
    )
    return fast_format(
        '<tr id="import-{}" data-status="{}">'
        '<td class="nickname"><a href="{}">{}</a></td>'
        "<td>{}</td>"
        '<td><span class="status status-{}">{}</span>{}</td>'
        "<td>{}</td>"
        '<td class="frequency">{}</td>'
        '<td class="health">{}</td>'
        '<td class="when">{}{}</td>'
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
        code,
        imp.status,
        overview,
        imp.nickname,
        imp.datasource.get_partner_display(),
        imp.status,
        imp.get_status_display(),
        _progress(imp),
        imp.get_sync_type_display(),
        describe_schedule(imp),
        fast_health_badge(imp.health),
        _local_time(imp.last_run_at),
        _last_run_note(imp),
        imp.datasource.name,
        _local_time(imp.created_at, "%d %b %Y"),
        _username(imp.created_by),
        _local_time(imp.updated_at, "%d %b %Y"),
        _username(imp.updated_by),
        actions,
    )
