"""What each alert condition observes, and the state machine that turns observations into
notifications. Plain functions of runs and rules, no queries: `alerts.evaluate` feeds them.

An observation says whether a condition holds after a run (`True`/`False`), or that the run says
nothing about it (`None`: a stopped run says nothing about health). Its summary names what
triggered or cleared it in figures, as the notification shows it:
"health 34.98% (Red) on run 10 Nov 15:00, was 96.03%".
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from django.utils import timezone

from alerts.models import Condition, Rules
from validation.health import compute_health

COMPLETED, FAILED, STOPPED, SKIPPED = "completed", "failed", "stopped", "skipped"
# The record-count drop compares with the median of this many completed runs, and needs at
# least MIN_RUNS_FOR_MEDIAN of them (a median of one run is that run).
MEDIAN_RUNS = 7
MIN_RUNS_FOR_MEDIAN = 3


class RunLike(Protocol):
    state: str
    total: int
    successful: int
    expected_total: int | None
    created_at: datetime
    finished_at: datetime | None
    error: str


@dataclass(frozen=True, slots=True)
class History:
    """The runs an observation of `run` compares with, all created before it, newest first:
    `recent` (any state, up to 50) and `completed` (up to MEDIAN_RUNS)."""

    recent: Sequence[RunLike] = ()
    completed: Sequence[RunLike] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    holds: bool | None
    summary: str = ""


UNKNOWN = Observation(None)


# --- The state machine -----------------------------------------------------------------------


class Change(StrEnum):
    TRIGGERED = "triggered"
    RECOVERED = "recovered"


def transition(
    active: bool, holds: bool | None, enabled: bool = True
) -> tuple[bool, Change | None]:
    """A condition's next state and the notification its change calls for: one when it starts,
    none while it persists or when a run says nothing about it, one when it clears. A condition
    switched off is forgotten silently (a recovery nobody asked for would be noise)."""
    if not enabled:
        return False, None
    if holds is None or holds == active:
        return active, None
    return holds, Change.TRIGGERED if holds else Change.RECOVERED


def is_sent(change: Change, muted: bool, start_was_sent: bool) -> bool:
    """Whether a change goes to the channels: never while the import is muted, and a recovery
    only when its start went out (a recovery of something nobody heard of is noise). A start
    held by a mute is sent when the mute ends, if the condition still holds (`alerts.evaluate`)."""
    if muted:
        return False
    return change == Change.TRIGGERED or start_was_sent


# --- Wording ---------------------------------------------------------------------------------


def run_time(value: datetime) -> str:
    """ "10 Nov 15:00", in the server's time zone (TIME_ZONE): a notification has no viewer."""
    local = timezone.localtime(value, timezone.get_default_timezone())
    return f"{local.day} {local:%b %H:%M}"


def _health_words(run: RunLike) -> str:
    health = compute_health(run.total, run.successful)
    return f"{health.label} ({health.band.capitalize()})"


def _hundredths_text(hundredths: int) -> str:
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def _records(n: int) -> str:
    return f"{n:,} record{'' if n == 1 else 's'}"


def _runs(n: int, what: str) -> str:
    return f"{n} {what} run{'' if n == 1 else 's'}"


def duration_text(delta: timedelta) -> str:
    """ "45 min", "2 h 14 min", "3 days 4 h": two units at most, rounded down."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} day{'' if days == 1 else 's'}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"


def _streak(runs: Sequence[RunLike], state: str, ignore: tuple[str, ...] = ()) -> int:
    count = 0
    for run in runs:
        if run.state in ignore:
            continue
        if run.state != state:
            break
        count += 1
    return count


# --- Observations of one run -----------------------------------------------------------------


def observe_run(condition: str, rules: Rules, run: RunLike, history: History) -> Observation:
    return _OBSERVERS[condition](rules, run, history)


def _failed(rules: Rules, run: RunLike, history: History) -> Observation:
    when = run_time(run.created_at)
    if run.state == FAILED:
        return Observation(True, f"run {when} failed: {run.error or 'no reason recorded'}")
    if run.state == COMPLETED:
        before = _streak(history.recent, FAILED, ignore=(STOPPED, SKIPPED))
        after = f", after {_runs(before, 'failed')}" if before else ""
        return Observation(False, f"run {when} completed, health {_health_words(run)}{after}")
    return UNKNOWN


def _health(rules: Rules, run: RunLike, history: History) -> Observation:
    floor = rules.health_floor()
    if floor is None or run.state != COMPLETED or run.total <= 0:
        return UNKNOWN  # a Blank run is the "no records" condition's, a failed run the failure's
    health = compute_health(run.total, run.successful)
    previous = next((r for r in history.completed if r.total > 0), None)
    was = (
        f", was {compute_health(previous.total, previous.successful).label}"
        if previous
        else ", its first completed run"
    )
    summary = f"health {_health_words(run)} on run {run_time(run.created_at)}{was}"
    return Observation(health.hundredths < floor, summary)


def _blank(rules: Rules, run: RunLike, history: History) -> Observation:
    if run.state != COMPLETED:
        return UNKNOWN
    when = run_time(run.created_at)
    if run.total == 0:
        return Observation(True, f"no records processed on run {when}: no source rows qualified")
    return Observation(False, f"{_records(run.total)} processed on run {when}")


def _count(rules: Rules, run: RunLike, history: History) -> Observation:
    if run.state != COMPLETED or (run.total == 0 and rules.alert_on_blank):
        return UNKNOWN  # no records at all is the "no records" condition's
    when = run_time(run.created_at)
    verdicts: list[bool] = []
    off: list[str] = []
    fine: list[str] = []
    if rules.alert_on_count_mismatch and run.expected_total is not None:
        verdicts.append(run.total != run.expected_total)
        (off if verdicts[-1] else fine).append(f"the source counted {run.expected_total:,}")
    totals = [r.total for r in history.completed[:MEDIAN_RUNS]]
    if rules.count_drop_percent and len(totals) >= MIN_RUNS_FOR_MEDIAN:
        median = statistics.median(totals)
        drop = int((median - run.total) * 10000 // median) if median > 0 else 0
        verdicts.append(drop > rules.count_drop_percent * 100)
        of = f"the median of the last {_runs(len(totals), 'completed')} ({median:,.0f})"
        if verdicts[-1]:
            off.append(f"{_hundredths_text(drop)} below {of}")
        else:
            fine.append(f"within {rules.count_drop_percent}% of {of}")
    if not verdicts:
        return UNKNOWN
    holds = any(verdicts)
    return Observation(
        holds, f"{_records(run.total)} on run {when}, " + "; ".join(off if holds else fine)
    )


def _skipped(rules: Rules, run: RunLike, history: History) -> Observation:
    if not rules.skipped_in_a_row:
        return UNKNOWN
    when = run_time(run.created_at)
    before = _streak(history.recent, SKIPPED)
    if run.state == SKIPPED:
        streak = before + 1
        reason = run.error.rstrip(".") if run.error else "skipped"
        return Observation(
            streak >= rules.skipped_in_a_row,
            f"{_runs(streak, 'skipped')} in a row, the latest {when}: {reason}",
        )
    return Observation(False, f"run {when} {run.state} after {_runs(before, 'skipped')}")


def _stale(rules: Rules, run: RunLike, history: History) -> Observation:
    if run.state != COMPLETED:
        return UNKNOWN
    previous = next((r for r in history.completed if r.finished_at), None)
    gap = (
        f", {duration_text(run.finished_at - previous.finished_at)} after the previous one"
        if previous and run.finished_at
        else ""
    )
    return Observation(False, f"run {run_time(run.created_at)} completed{gap}")


_OBSERVERS = {
    Condition.FAILED: _failed,
    Condition.HEALTH: _health,
    Condition.BLANK: _blank,
    Condition.COUNT: _count,
    Condition.SKIPPED: _skipped,
    Condition.STALE: _stale,
}
# The conditions a finished run is observed for, in the order their notifications are made.
RUN_CONDITIONS = tuple(_OBSERVERS)


# --- Freshness (checked by the periodic sweep) -----------------------------------------------


def freshness_window(rules: Rules, interval: timedelta | None) -> tuple[timedelta, str] | None:
    """How long an import may go without a completed run, and those words; None when the rule
    is off or, counted in intervals, the import has none (Manually Trigger)."""
    if not rules.enables(Condition.STALE):
        return None
    n = rules.freshness_value
    if rules.freshness == Rules.Freshness.HOURS:
        return timedelta(hours=n), f"{n} h"
    if interval is None:
        return None
    window = interval * n
    return window, f"{duration_text(window)}: {n}× the interval of {duration_text(interval)}"


def observe_freshness(
    window: tuple[timedelta, str] | None,
    last_completed: datetime | None,
    first_run: datetime | None,
    now: datetime,
) -> Observation:
    """Stale when the last completed run finished longer than the window ago, or, with none
    completed yet, the first run was triggered longer ago. No run at all says nothing."""
    if window is None:
        return UNKNOWN
    span, words = window
    if last_completed is not None:
        age = now - last_completed
        since = f"the last completed run finished {run_time(last_completed)}"
    elif first_run is not None:
        age = now - first_run
        since = f"none completed since the first run {run_time(first_run)}"
    else:
        return UNKNOWN
    if age > span:
        return Observation(
            True, f"no completed run for {duration_text(age)} (window {words}); {since}"
        )
    return Observation(False, f"a completed run {duration_text(age)} ago (window {words})")
