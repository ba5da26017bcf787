"""Template helpers every page shares: health badges, schedule wording, local dates, rejected
values."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from imports.failed_values import VALUE_LIMIT
from imports.models import Import
from imports.scheduling import is_schedulable
from validation.health import Health

register = template.Library()

_WEEKDAYS = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"]


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def describe_schedule(imp: Import) -> str:
    """ "Every 15 minutes", "Mondays and Thursdays at 09:00 (Asia/Kolkata)", "Manually Trigger"."""
    kind = imp.schedule_kind
    if kind == Import.ScheduleKind.INTERVAL and imp.interval_every:
        unit = imp.interval_unit or "minutes"
        if imp.interval_every == 1:
            return f"Every {unit.rstrip('s')}"
        return f"Every {imp.interval_every} {unit}"
    if kind == Import.ScheduleKind.CUSTOM and imp.custom_days and imp.custom_time:
        days = sorted(int(d) for d in imp.custom_days)
        if imp.custom_mode == Import.CustomMode.MONTHDAYS:
            when = "On the " + _join([_ordinal(d) for d in days]) + " of each month"
        elif days == list(range(7)):
            when = "Every day"
        else:
            when = _join([_WEEKDAYS[d] for d in days if 0 <= d < 7])
        return f"{when} at {imp.custom_time:%H:%M} ({imp.schedule_timezone})"
    if not is_schedulable(imp.manual_run_at):
        return "Manually Trigger (stored run-once time out of range)"
    return "Manually Trigger"


@register.filter
def frequency(imp: Import) -> str:
    return describe_schedule(imp)


@register.simple_tag
def health_badge(health: Health, show_blank_text: bool = True):
    """The health indicator: its label in text (colour is never the only cue) and the
    reference's description on hover. A `format_html` tag, not an inclusion template: a Stats
    or listing page shows 25–50 badges, and the inclusion tag's context and template machinery
    were ~22% of a row's rendering (stats helper's profile, 50 rows)."""
    if health.band == "none":
        return format_html(
            '<span class="badge health-none" title="{}">No indicator</span>', health.description
        )
    if health.band == "blank":
        return format_html(
            '<span class="badge health-blank" title="{}">Blank{}</span>',
            health.description,
            " · no data processed" if show_blank_text else "",
        )
    return format_html(
        '<span class="badge health-{}" title="{}">{} <span class="visually-hidden">({})</span>'
        "</span>",
        health.band,
        health.description,
        health.label,
        health.band,
    )


@register.simple_tag
def local_time(value: datetime | None, fmt: str = "%d %b %Y %H:%M", empty: str = "—"):
    """A date in the viewer's time zone; the exact time (with seconds and zone) on hover."""
    if value is None:
        return empty
    if not is_schedulable(value):
        # A time stored before forms bounded it (see imports.dbtypes): say so, show no date.
        return "out of range"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        local.strftime(fmt),
    )


# --- Rejected values (issue 17) --------------------------------------------------------------

# Characters a reader could not tell apart or would not see: each is shown as a marked symbol
# with its name on hover. NUL arrives as U+2400 from the store (jsonb holds no NUL) and raw from
# the dry run; other control, format (zero-width) and separator characters show their code.
_NAMED_CHARS = {
    "\x00": ("\u2400", "NUL"),
    "\u2400": ("\u2400", "NUL"),
    "\t": ("\u21e5", "tab"),
    "\n": ("\u21b5", "line feed"),
    "\r": ("\u240d", "carriage return"),
    "\u00a0": ("\u237d", "no-break space"),
    "\u2007": ("\u237d", "figure space (no-break)"),
    "\u202f": ("\u237d", "narrow no-break space"),
}
_HIDDEN = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u00a0\u2007\u202f\u2400\u200b-\u200f\u2028-\u202e\u2060\ufeff]"
)
_EDGE_SPACES = re.compile(r"^ +| +$")


def _visible_char(char: str) -> str:
    symbol, name = _NAMED_CHARS.get(char) or (f"\\u{ord(char):04x}", f"U+{ord(char):04X}")
    return format_html('<span class="ws" title="{}">{}</span>', name, symbol)


def visible_text(text: str) -> str:
    """`text` escaped, with the characters of `_HIDDEN` and leading or trailing spaces shown as
    marked symbols (a space as `·`)."""
    out, at = [], 0
    marks = sorted(
        [(m.start(), m.end(), None) for m in _EDGE_SPACES.finditer(text)]
        + [(m.start(), m.end(), m.group()) for m in _HIDDEN.finditer(text)]
    )
    for start, end, char in marks:
        if start < at:
            continue
        out.append(escape(text[at:start]))
        if char is None:
            space = format_html('<span class="ws" title="space">{}</span>', "\u00b7")
            out.append(space * (end - start))
        else:
            out.append(_visible_char(char))
        at = end
    out.append(escape(text[at:]))
    return "".join(out)


@register.simple_tag
def rejected_value(error):
    """The value an error rejected, as the detail pane, the dry run and every other page show
    it: NULL, blank, white space only and cut values each say so in words (not by colour
    alone), and every character is escaped or made visible (`visible_text`). `error` is a
    record's error dict; one without a "value" key kept none (IMPORT_KEEP_FAILED_VALUES=off,
    or written before values were kept)."""
    if not isinstance(error, dict) or "value" not in error:
        return format_html('<span class="value value-none">{}</span>', "value not kept")
    value = error["value"]
    if value is None:
        return format_html('<span class="value value-null">{}</span>', "NULL")
    if value == "":
        return format_html('<span class="value value-blank">{}</span>', "(blank)")
    text = mark_safe(visible_text(value))  # noqa: S308 - every part escaped by visible_text
    if not value.strip(" \t\n\r\x0b\x0c\u00a0\u2007\u202f\u200b\ufeff"):
        return format_html(
            '<code class="value value-space">{}</code> <span class="value-note">{}</span>',
            text,
            "white space only",
        )
    cut = error.get("cut")
    return format_html(
        '<code class="value">{}</code>{}',
        text,
        format_html(' <span class="value-note">{}</span>', f"cut at {VALUE_LIMIT} characters")
        if cut
        else "",
    )
