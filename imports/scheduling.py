"""When an import runs next: one function, `next_run_after`, for every schedule kind.

- Repeat Intervals: every N minutes/hours/days/weeks (never less than
  `IMPORT_MIN_INTERVAL_MINUTES`). Slots stay aligned to the previous due time, so a slot missed
  because a run was still going (a skipped run) resumes "from the one after", not from now.
- Custom Schedule: days of the week (0=Mon..6=Sun) or days of the month (1..31) at HH:MM in
  the import's time zone. Wall-clock times are resolved with `zoneinfo`: a time that does not
  exist on a spring-forward day runs at the same instant shifted by the gap (02:30 → 03:30), an
  ambiguous autumn time runs once, at its first occurrence. A day of the month past the month's
  end (the 31st in February) runs on the month's last day, so "the 31st" means "month end".
  (croniter would silently skip such months, which no one scheduling a monthly export wants.)
- Manually Trigger: once at `manual_run_at` when that is still in the future, otherwise never.

Every time a user schedules lies before `SCHEDULE_LIMIT` (31 Dec 2999 in every time zone): far
enough for any real plan, and far from Python's year-9999 limit, so adding an interval or
converting to any zone cannot overflow. Forms refuse later times; a later value already stored
(see `imports.dbtypes`) is never scheduled and `stored_schedule_problem` says so.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from imports.models import Import

# The Import fields that make up its schedule: what a copy takes and what a listing row reads
# to describe it (`describe_schedule`).
SCHEDULE_FIELDS = (
    "schedule_kind",
    "interval_every",
    "interval_unit",
    "custom_mode",
    "custom_days",
    "custom_time",
    "schedule_timezone",
    "manual_run_at",
)

# Minutes in one interval unit: the one table the scheduler, the schedule form and the
# listing's Frequency sort all read.
UNIT_MINUTES: dict[str, int] = {
    Import.IntervalUnit.MINUTES: 1,
    Import.IntervalUnit.HOURS: 60,
    Import.IntervalUnit.DAYS: 1440,
    Import.IntervalUnit.WEEKS: 10080,
}
_UNIT = {unit: timedelta(minutes=n) for unit, n in UNIT_MINUTES.items()}
LATEST_SCHEDULE_YEAR = 2999
# 2 January 3000 UTC: 31 Dec 2999 23:59 wall time in the westernmost zone (UTC-12) is before it.
SCHEDULE_LIMIT = datetime(LATEST_SCHEDULE_YEAR + 1, 1, 2, tzinfo=UTC)
# A custom schedule matches at least once a month; look one leap year ahead at most.
_HORIZON_DAYS = 367


def interval_step(imp: Import) -> timedelta | None:
    """The interval of a Repeat Intervals import, floored at the configured minimum."""
    unit = _UNIT.get(imp.interval_unit)
    if unit is None or not imp.interval_every:
        return None
    minimum = timedelta(minutes=settings.IMPORT_MIN_INTERVAL_MINUTES)
    return max(unit * imp.interval_every, minimum)


def is_schedulable(value: datetime | None) -> bool:
    """False for a stored time past what the product schedules (saved before forms bounded it)."""
    return value is None or value < SCHEDULE_LIMIT


def stored_schedule_problem(imp: Import) -> str:
    """What is wrong with the stored schedule times, for the pages that show them; "" if fine."""
    if imp.schedule_kind == Import.ScheduleKind.MANUAL and not is_schedulable(imp.manual_run_at):
        return (
            f"The stored “run once at” time is after the year {LATEST_SCHEDULE_YEAR}, out of the "
            "range Import Center can schedule: it will not run at that time. Choose a new time "
            "on the Schedule step."
        )
    if not is_schedulable(imp.next_run_at):
        return (
            f"The stored next run time is after the year {LATEST_SCHEDULE_YEAR}, out of the range "
            "Import Center can schedule. Save the Schedule step again to recompute it."
        )
    return ""


def next_run_after(imp: Import, now: datetime) -> datetime | None:
    """The first time strictly after `now` at which `imp` is due, in UTC; None for never."""
    kind = imp.schedule_kind
    if kind == Import.ScheduleKind.INTERVAL:
        return _next_interval(imp, now)
    if kind == Import.ScheduleKind.CUSTOM:
        return _next_custom(imp, now)
    if kind == Import.ScheduleKind.MANUAL:
        at = imp.manual_run_at
        return at if at and at > now and is_schedulable(at) else None
    return None


def _next_interval(imp: Import, now: datetime) -> datetime | None:
    step = interval_step(imp)
    if step is None:
        return None
    anchor = imp.next_run_at
    if anchor is None or anchor > now + step:
        # No slot yet (just published or resumed), or the schedule was shortened: start afresh.
        return now + step
    if anchor > now:
        return anchor
    missed = (now - anchor) // step + 1
    return anchor + step * missed


def _zone(imp: Import) -> ZoneInfo:
    try:
        return ZoneInfo(imp.schedule_timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _matches(imp: Import, day: date) -> bool:
    days = {int(d) for d in imp.custom_days or []}
    if imp.custom_mode == Import.CustomMode.WEEKDAYS:
        return day.weekday() in days
    last = calendar.monthrange(day.year, day.month)[1]
    if day.day == last:
        return any(d >= last for d in days)
    return day.day in days


def _next_custom(imp: Import, now: datetime) -> datetime | None:
    if not imp.custom_days or imp.custom_time is None:
        return None
    zone = _zone(imp)
    at = time(imp.custom_time.hour, imp.custom_time.minute)
    # Start a day early: `now` in UTC may still be "yesterday" in the import's zone.
    day = now.astimezone(zone).date() - timedelta(days=1)
    for _ in range(_HORIZON_DAYS + 2):
        if _matches(imp, day):
            # fold=0: the first of two ambiguous times; a time in a spring-forward gap maps,
            # through the pre-transition offset, to the instant the gap's length later.
            when = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
            if when > now:
                return when
        day += timedelta(days=1)
    return None
