"""The condition state machine, table-tested (start, persist, clear, flap, mute), and what each
condition observes of a run, in figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from alerts.conditions import (
    Change,
    History,
    duration_text,
    freshness_window,
    is_sent,
    observe_freshness,
    observe_run,
    transition,
)
from alerts.models import AlertDefaults, Condition

T, R = Change.TRIGGERED, Change.RECOVERED
AT = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)


# --- The state machine -----------------------------------------------------------------------


def play(observations, enabled=None):
    """Run a sequence of observations through the machine from "not active"; the changes."""
    active, changes = False, []
    for i, holds in enumerate(observations):
        active, change = transition(active, holds, True if enabled is None else enabled[i])
        changes.append(change)
    return changes


@pytest.mark.parametrize(
    "name, observations, expected",
    [
        ("start", [True], [T]),
        ("persist", [True, True, True], [T, None, None]),
        ("clear", [True, False], [T, R]),
        ("stays clear", [False, False], [None, None]),
        ("flap", [True, False, True, False], [T, R, T, R]),
        ("a run that says nothing keeps the state", [True, None, None, False], [T, None, None, R]),
        ("nothing said before a start", [None, True, True], [None, T, None]),
    ],
)
def test_one_notification_per_change_never_while_it_persists(name, observations, expected):
    assert play(observations) == expected


def test_a_condition_switched_off_is_forgotten_without_a_recovery():
    assert play([True, True, True], enabled=[True, False, True]) == [T, None, T]
    assert transition(True, True, enabled=False) == (False, None)


@pytest.mark.parametrize(
    "change, muted, start_was_sent, sent",
    [
        (T, False, False, True),  # a start goes out
        (T, True, False, False),  # muted: listed, not sent
        (R, False, True, True),  # recovery of a start that went out
        (R, False, False, False),  # recovery of a start nobody heard of
        (R, True, True, False),  # muted
    ],
)
def test_mute_holds_notifications_and_a_recovery_follows_its_start(
    change, muted, start_was_sent, sent
):
    assert is_sent(change, muted, start_was_sent) is sent


# --- Observations ----------------------------------------------------------------------------


@dataclass
class Run:
    state: str = "completed"
    total: int = 100
    successful: int = 100
    expected_total: int | None = None
    created_at: datetime = AT
    finished_at: datetime | None = AT + timedelta(minutes=1)
    error: str = ""


def rules(**fields):
    r = AlertDefaults()
    for name, value in fields.items():
        setattr(r, name, value)
    return r


@pytest.fixture(autouse=True)
def utc(settings):
    settings.TIME_ZONE = "UTC"


def test_health_names_the_run_and_the_health_before_it_in_figures():
    was = Run(total=10000, successful=9603, created_at=AT - timedelta(hours=1))
    seen = observe_run(
        Condition.HEALTH, rules(), Run(total=10000, successful=3498), History([was], [was])
    )
    assert seen.holds is True
    assert seen.summary == "health 34.98% (Red) on run 10 Nov 15:00, was 96.03%"


@pytest.mark.parametrize(
    "threshold, percent, successful, holds",
    [
        ("red", None, 5000, False),  # 50.00% is Yellow
        ("red", None, 4999, True),
        ("yellow", None, 9999, True),
        ("yellow", None, 10000, False),
        ("percent", 90, 8999, True),
        ("percent", 90, 9000, False),
    ],
)
def test_health_threshold(threshold, percent, successful, holds):
    r = rules(health_threshold=threshold, health_below_percent=percent)
    run = Run(total=10000, successful=successful)
    assert observe_run(Condition.HEALTH, r, run, History()).holds is holds


@pytest.mark.parametrize(
    "run",
    [Run(state="failed", total=0, successful=0), Run(total=0, successful=0), Run(state="stopped")],
)
def test_health_says_nothing_of_failed_blank_or_stopped_runs(run):
    assert observe_run(Condition.HEALTH, rules(), run, History()).holds is None


def test_a_failed_run_names_its_reason_and_only_the_failure_condition_holds():
    run = Run(
        state="failed", total=0, successful=0, error="The warehouse rejected the credentials."
    )
    seen = {c: observe_run(c, rules(), run, History()) for c in Condition if c != Condition.STALE}
    assert seen[Condition.FAILED].holds is True
    assert seen[Condition.FAILED].summary == (
        "run 10 Nov 15:00 failed: The warehouse rejected the credentials."
    )
    assert [c for c, s in seen.items() if s.holds] == [Condition.FAILED]


def test_recovery_from_failures_counts_them():
    failed = [Run(state="failed"), Run(state="skipped"), Run(state="failed"), Run()]
    seen = observe_run(Condition.FAILED, rules(), Run(), History(failed))
    assert seen.holds is False
    assert seen.summary == "run 10 Nov 15:00 completed, health 100% (Green), after 2 failed runs"


def test_blank_only_for_a_completed_run_with_no_records():
    assert observe_run(Condition.BLANK, rules(), Run(total=0, successful=0), History()).holds
    assert observe_run(Condition.BLANK, rules(), Run(total=5), History()).holds is False
    failed = Run(state="failed", total=0, successful=0)
    assert observe_run(Condition.BLANK, rules(), failed, History()).holds is None


def test_count_against_the_source_count():
    r = rules(alert_on_count_mismatch=True)
    seen = observe_run(Condition.COUNT, r, Run(total=2000, expected_total=2400), History())
    assert (seen.holds, seen.summary) == (
        True,
        "2,000 records on run 10 Nov 15:00, the source counted 2,400",
    )
    assert observe_run(Condition.COUNT, r, Run(total=5, expected_total=5), History()).holds is False


def test_count_drop_from_the_median_of_the_last_seven_completed_runs():
    r = rules(count_drop_percent=40)
    before = [Run(total=t) for t in (2300, 2310, 2400, 2200, 2350, 2290, 2310, 10)]  # 8th ignored
    seen = observe_run(Condition.COUNT, r, Run(total=1200), History(completed=before))
    assert seen.holds is True
    assert seen.summary == (
        "1,200 records on run 10 Nov 15:00, 48.05% below the median of the last 7 completed "
        "runs (2,310)"
    )
    assert not observe_run(Condition.COUNT, r, Run(total=1400), History(completed=before)).holds
    # Two runs are too few for a median: nothing is said.
    assert (
        observe_run(Condition.COUNT, r, Run(total=1), History(completed=before[:2])).holds is None
    )


def test_count_checks_are_off_by_default():
    assert (
        observe_run(Condition.COUNT, rules(), Run(total=1, expected_total=9), History()).holds
        is None
    )


def test_skipped_in_a_row():
    skipped = Run(state="skipped", error="Skipped — the previous run was still running.")
    r = rules(skipped_in_a_row=3)
    assert observe_run(Condition.SKIPPED, r, skipped, History([skipped])).holds is False
    seen = observe_run(Condition.SKIPPED, r, skipped, History([skipped, skipped, Run()]))
    assert seen.holds is True
    assert seen.summary == (
        "3 skipped runs in a row, the latest 10 Nov 15:00: "
        "Skipped — the previous run was still running"
    )
    cleared = observe_run(Condition.SKIPPED, r, Run(), History([skipped] * 3))
    assert (cleared.holds, cleared.summary) == (
        False,
        "run 10 Nov 15:00 completed after 3 skipped runs",
    )


def test_freshness_window_is_a_multiple_of_the_interval_or_hours():
    assert freshness_window(rules(), timedelta(minutes=15)) == (
        timedelta(minutes=30),
        "30 min: 2× the interval of 15 min",
    )
    assert freshness_window(rules(), None) is None  # Manually Trigger has no interval
    assert freshness_window(rules(freshness="hours", freshness_value=6), None) == (
        timedelta(hours=6),
        "6 h",
    )
    assert freshness_window(rules(freshness="off"), timedelta(hours=1)) is None


def test_freshness_observation():
    window = (timedelta(minutes=30), "30 min: 2× the interval of 15 min")
    now = AT + timedelta(hours=2, minutes=14)
    stale = observe_freshness(window, AT, None, now)
    assert stale.holds is True
    assert stale.summary == (
        "no completed run for 2 h 14 min (window 30 min: 2× the interval of 15 min); "
        "the last completed run finished 10 Nov 15:00"
    )
    assert observe_freshness(window, now - timedelta(minutes=29), None, now).holds is False
    never = observe_freshness(window, None, AT, now)
    assert (
        never.holds is True and "none completed since the first run 10 Nov 15:00" in never.summary
    )
    assert observe_freshness(window, None, None, now).holds is None


@pytest.mark.parametrize(
    "delta, text",
    [
        (timedelta(seconds=59), "0 min"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=2, minutes=14), "2 h 14 min"),
        (timedelta(days=3, hours=4, minutes=5), "3 days 4 h"),
        (timedelta(days=1), "1 day"),
    ],
)
def test_duration_text(delta, text):
    assert duration_text(delta) == text
