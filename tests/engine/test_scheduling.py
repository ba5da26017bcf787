"""`next_run_after`: table-driven over every schedule kind, DST changes and month ends."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from imports.models import Import
from imports.scheduling import next_run_after


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _interval(every, unit, next_run_at=None):
    return Import(
        schedule_kind="interval", interval_every=every, interval_unit=unit, next_run_at=next_run_at
    )


def _custom(mode, days, hhmm, tz="UTC"):
    h, m = hhmm
    return Import(
        schedule_kind="custom",
        custom_mode=mode,
        custom_days=days,
        custom_time=time(h, m),
        schedule_timezone=tz,
    )


CASES = [
    # (description, import, now, expected next run in UTC)
    (
        "interval from nothing",
        _interval(15, "minutes"),
        _utc(2024, 5, 1, 10, 0),
        _utc(2024, 5, 1, 10, 15),
    ),
    (
        "interval keeps future slot",
        _interval(1, "hours", _utc(2024, 5, 1, 10, 30)),
        _utc(2024, 5, 1, 10, 0),
        _utc(2024, 5, 1, 10, 30),
    ),
    (
        "interval due now moves one step",
        _interval(15, "minutes", _utc(2024, 5, 1, 10, 0)),
        _utc(2024, 5, 1, 10, 0),
        _utc(2024, 5, 1, 10, 15),
    ),
    (
        "interval skips missed slots, stays aligned",
        _interval(15, "minutes", _utc(2024, 5, 1, 10, 0)),
        _utc(2024, 5, 1, 10, 31),
        _utc(2024, 5, 1, 10, 45),
    ),
    (
        "interval below minimum is floored",
        _interval(1, "minutes"),
        _utc(2024, 5, 1, 10, 0),
        _utc(2024, 5, 1, 10, 15),
    ),
    ("interval in days", _interval(2, "days"), _utc(2024, 2, 28, 6, 0), _utc(2024, 3, 1, 6, 0)),
    ("interval in weeks", _interval(1, "weeks"), _utc(2024, 12, 30, 0, 0), _utc(2025, 1, 6, 0, 0)),
    (
        "weekdays later today",
        _custom("weekdays", [0, 3], (9, 0)),
        _utc(2024, 5, 6, 8, 0),
        _utc(2024, 5, 6, 9, 0),
    ),
    (
        "weekdays at the exact time moves on",
        _custom("weekdays", [0, 3], (9, 0)),
        _utc(2024, 5, 6, 9, 0),
        _utc(2024, 5, 9, 9, 0),
    ),
    (
        "weekdays in Asia/Kolkata",
        _custom("weekdays", [0], (9, 0), "Asia/Kolkata"),
        _utc(2024, 5, 5, 12, 0),
        _utc(2024, 5, 6, 3, 30),
    ),
    (
        "local day ahead of UTC",
        _custom("weekdays", [1], (1, 0), "Asia/Tokyo"),
        _utc(2024, 5, 6, 15, 0),
        _utc(2024, 5, 6, 16, 0),
    ),
    (
        "New York before spring forward",
        _custom("weekdays", [5, 6], (9, 0), "America/New_York"),
        _utc(2024, 3, 9, 0, 0),
        _utc(2024, 3, 9, 14, 0),
    ),
    (
        "New York after spring forward",
        _custom("weekdays", [6], (9, 0), "America/New_York"),
        _utc(2024, 3, 9, 15, 0),
        _utc(2024, 3, 10, 13, 0),
    ),
    (
        "time in the spring-forward gap",
        _custom("weekdays", [6], (2, 30), "America/New_York"),
        _utc(2024, 3, 9, 12, 0),
        _utc(2024, 3, 10, 7, 30),
    ),
    (
        "ambiguous autumn time runs once, first",
        _custom("weekdays", [6], (1, 30), "America/New_York"),
        _utc(2024, 11, 2, 12, 0),
        _utc(2024, 11, 3, 5, 30),
    ),
    (
        "after the ambiguous time, next week",
        _custom("weekdays", [6], (1, 30), "America/New_York"),
        _utc(2024, 11, 3, 5, 30),
        _utc(2024, 11, 10, 6, 30),
    ),
    (
        "Europe/Berlin autumn back",
        _custom("weekdays", [6], (9, 0), "Europe/Berlin"),
        _utc(2024, 10, 26, 12, 0),
        _utc(2024, 10, 27, 8, 0),
    ),
    (
        "month days",
        _custom("monthdays", [1, 15], (6, 0)),
        _utc(2024, 5, 2, 0, 0),
        _utc(2024, 5, 15, 6, 0),
    ),
    (
        "month days wrap to next month",
        _custom("monthdays", [1, 15], (6, 0)),
        _utc(2024, 5, 15, 6, 1),
        _utc(2024, 6, 1, 6, 0),
    ),
    (
        "31st in February runs on the 29th (leap)",
        _custom("monthdays", [31], (6, 0)),
        _utc(2024, 2, 1, 0, 0),
        _utc(2024, 2, 29, 6, 0),
    ),
    (
        "31st in February runs on the 28th",
        _custom("monthdays", [31], (6, 0)),
        _utc(2025, 2, 1, 0, 0),
        _utc(2025, 2, 28, 6, 0),
    ),
    (
        "30 and 31 in February run once",
        _custom("monthdays", [30, 31], (6, 0)),
        _utc(2025, 2, 28, 6, 0),
        _utc(2025, 3, 30, 6, 0),
    ),
    (
        "31st in April is the 30th",
        _custom("monthdays", [31], (23, 0)),
        _utc(2024, 4, 2, 0, 0),
        _utc(2024, 4, 30, 23, 0),
    ),
    (
        "31st when the month has it",
        _custom("monthdays", [31], (0, 0)),
        _utc(2024, 4, 30, 23, 0),
        _utc(2024, 5, 31, 0, 0),
    ),
    (
        "month end across the year",
        _custom("monthdays", [31], (22, 0), "America/Los_Angeles"),
        _utc(2025, 1, 1, 7, 0),
        _utc(2025, 2, 1, 6, 0),
    ),
]


@pytest.mark.parametrize(
    ("imp", "now", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_next_run_after(imp, now, expected):
    assert next_run_after(imp, now) == expected


def test_manual_trigger_runs_once_in_the_future_and_then_never():
    when = _utc(2024, 5, 1, 12, 0)
    imp = Import(schedule_kind="manual", manual_run_at=when)
    assert next_run_after(imp, _utc(2024, 5, 1, 11, 0)) == when
    assert next_run_after(imp, when) is None
    assert next_run_after(Import(schedule_kind="manual"), when) is None


def test_custom_schedule_without_days_never_runs():
    imp = _custom("weekdays", [], (9, 0))
    assert next_run_after(imp, _utc(2024, 5, 1)) is None
