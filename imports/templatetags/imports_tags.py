"""Template helpers every page shares: health badges, schedule wording, local dates."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

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
