"""Evaluation: the conditions of an import after each finished run, and freshness over time,
turned into notifications through the state machine (`alerts.conditions.transition`).

Every evaluation of an import holds a lock on its `ImportAlerts` row, so two runs ending
together are evaluated one after the other, in the order they finished. Each finished run is
evaluated once (`EvaluatedRun`), whichever of its task or the periodic sweep gets there first.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Min, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from alerts import conditions, delivery
from alerts.channels import channels_for, rules_for, sync_environment_channels
from alerts.conditions import Change, History, Observation
from alerts.models import (
    Channel,
    Condition,
    ConditionState,
    EvaluatedRun,
    ImportAlerts,
    Notification,
    Rules,
)
from imports.models import Import, ImportRun
from imports.scheduling import SCHEDULE_FIELDS, interval_step, next_run_after

log = logging.getLogger(__name__)

RunState = ImportRun.State
FINISHED = list(ImportRun.FINISHED_STATES)
# The sweep looks for runs that lost their evaluation among those triggered this recently
# (the run table's created_at index serves it; older runs had their chance).
CATCH_UP_WINDOW = timedelta(hours=2)
# Runs evaluated per import per call: a backlog is worked off over several sweeps.
CATCH_UP_LIMIT = 50
_RUN_FIELDS = (
    "id",
    "code",
    "import_obj_id",
    "state",
    "trigger",
    "created_at",
    "started_at",
    "finished_at",
    "total",
    "successful",
    "failed",
    "expected_total",
    "error",
)


def site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


# --- Locking an import for evaluation --------------------------------------------------------


def import_alerts(imp: Import, now: datetime | None = None) -> ImportAlerts:
    """The import's alert settings row, made on first use (following the defaults)."""
    row = ImportAlerts.objects.filter(import_obj=imp).first()
    if row is not None:
        return row
    defaults = rules_for(None)
    row = ImportAlerts(import_obj=imp, evaluated_since=(now or timezone.now()) - ImportAlerts.GRACE)
    row.copy_rules_from(defaults)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:  # made meanwhile by another evaluation or an edit
        row = ImportAlerts.objects.get(import_obj=imp)
    return row


def _locked(imp: Import) -> ImportAlerts:
    """Within a transaction: the import's row, locked until it commits."""
    import_alerts(imp)
    return ImportAlerts.objects.select_for_update().get(import_obj=imp)


# --- After runs ------------------------------------------------------------------------------


def evaluate_import(import_id: int) -> list[Notification]:
    """Evaluate the import's finished runs not yet evaluated, oldest finish first."""
    imp = Import.objects.filter(pk=import_id).first()
    if imp is None:
        return []
    made: list[Notification] = []
    with transaction.atomic():
        alerts = _locked(imp)
        pending = list(
            ImportRun.objects.filter(
                import_obj=imp,
                state__in=FINISHED,
                finished_at__gte=alerts.evaluated_since,
            )
            .exclude(Exists(EvaluatedRun.objects.filter(run=OuterRef("pk"))))
            .only(*_RUN_FIELDS)
            .order_by("finished_at", "pk")[:CATCH_UP_LIMIT]
        )
        if not pending:
            return []
        rules = rules_for(alerts)
        states = _states(imp)
        for run in pending:
            made += _evaluate_run(imp, alerts, rules, states, run)
            EvaluatedRun.objects.create(run=run)
    return made


def _history(run: ImportRun) -> History:
    before = ImportRun.objects.filter(
        import_obj_id=run.import_obj_id, created_at__lt=run.created_at
    ).only(*_RUN_FIELDS)
    return History(
        recent=list(before.order_by("-created_at")[:50]),
        completed=list(
            before.filter(state=RunState.COMPLETED).order_by("-created_at")[
                : conditions.MEDIAN_RUNS
            ]
        ),
    )


def _evaluate_run(
    imp: Import, alerts: ImportAlerts, rules: Rules, states: dict, run: ImportRun
) -> list[Notification]:
    history = _history(run)
    made = []
    for condition in conditions.RUN_CONDITIONS:
        seen = conditions.observe_run(condition, rules, run, history)
        note = _apply(imp, alerts, rules, states, condition, seen, run)
        if note is not None:
            made.append(note)
    return made


def _states(imp: Import) -> dict[str, ConditionState]:
    return {s.condition: s for s in ConditionState.objects.filter(import_obj=imp)}


def _apply(
    imp: Import,
    alerts: ImportAlerts,
    rules: Rules,
    states: dict[str, ConditionState],
    condition: str,
    seen: Observation,
    run: ImportRun | None,
) -> Notification | None:
    """One step of the state machine for one condition; the notification it made, if any."""
    state = states.get(condition) or ConditionState(import_obj=imp, condition=condition)
    active, change = conditions.transition(state.active, seen.holds, rules.enables(condition))
    if active == state.active:
        return None
    now = timezone.now()
    note = None
    if change is not None:
        note = notify(imp, alerts, condition, change, seen.summary, run, state.announced, now)
    if active:
        state.since, state.summary, state.started = now, seen.summary, note
        state.announced = note is not None and not note.held
    else:
        state.announced = False
    state.active = active
    if state.pk is None:
        state.save()
    else:
        # Idempotent: it changes only from the state this evaluation read (under the lock).
        ConditionState.objects.filter(pk=state.pk, active=not active).update(
            active=active,
            since=state.since,
            summary=state.summary,
            started=state.started,
            announced=state.announced,
        )
    states[condition] = state
    return note


# --- Notifications ---------------------------------------------------------------------------


def notify(
    imp: Import,
    alerts: ImportAlerts,
    condition: str,
    change: Change,
    summary: str,
    run: ImportRun | None,
    start_was_sent: bool,
    now: datetime,
) -> Notification:
    """Record the change and queue its deliveries, unless it is held (muted, no channel, a
    recovery of a start nobody heard of)."""
    muted = alerts.is_muted(now)
    sync_environment_channels()
    channels = channels_for(alerts)
    held = ""
    if muted:
        held = f"Muted until {conditions.run_time(alerts.muted_until)}."
    elif not conditions.is_sent(change, muted, start_was_sent):
        held = "Not sent: the start of this condition was not sent either."
    elif not channels:
        held = "No channel is set for this import."
    label = Condition(condition).label
    title = f"{'Alert' if change == Change.TRIGGERED else 'Recovered'}: {label} — {imp.nickname}"
    note = Notification.objects.create(
        import_obj=imp,
        import_nickname=imp.nickname,
        condition=condition,
        event=change.value,
        summary=summary,
        run=run,
        muted=muted,
        held=held,
        created_at=now,
        payload={},
    )
    note.payload = delivery.envelope(
        f"alert.{change.value}",
        notification_data(note, imp, title, label, run),
        now,
    )
    note.save(update_fields=["payload"])
    if not held:
        for channel in channels:
            delivery.queue(channel, note.payload, note)
    return note


def notification_data(
    note: Notification, imp: Import | None, title: str, label: str, run: ImportRun | None
) -> dict:
    """The `data` of a notification's payload (README "Alerts" documents every field)."""
    data = {
        "id": str(note.code),
        "event": note.event,
        "condition": note.condition or None,
        "condition_label": label,
        "title": title,
        "summary": note.summary,
        "muted": note.muted,
        "url": site_url(reverse("alerts-list")),
        "import": None,
        "run": None,
    }
    if imp is not None:
        data["url"] = site_url(reverse("alerts-import", args=[imp.code]))
        data["import"] = {
            "code": str(imp.code),
            "nickname": imp.nickname,
            "url": site_url(reverse("stats-overview", args=[imp.code])),
        }
    if run is not None and imp is not None:
        health = run.health
        data["run"] = {
            "code": str(run.code),
            "state": run.state,
            "trigger": run.trigger,
            "created_at": _iso(run.created_at),
            "finished_at": _iso(run.finished_at),
            "total": run.total,
            "successful": run.successful,
            "failed": run.failed,
            "expected_total": run.expected_total,
            "health": health.label if health.band != "none" else None,
            "health_band": health.band if health.band != "none" else None,
            "error": run.error or None,
            "url": site_url(reverse("stats-run-detail", args=[imp.code, run.code])),
        }
    return data


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def send_test(channel: Channel, user) -> Notification:
    """A test notification to one channel, through the same queue and retries as alerts."""
    now = timezone.now()
    who = user.get_username() if user is not None else "someone"
    note = Notification.objects.create(
        event=Notification.Event.TEST,
        summary=f"Test notification to “{channel.name}”, sent by {who}. "
        "Alerts of your imports will arrive like this.",
        created_at=now,
        payload={},
    )
    title = f"Test notification — {channel.name}"
    note.payload = delivery.envelope(
        "alert.test", notification_data(note, None, title, "Test", None), now
    )
    note.save(update_fields=["payload"])
    delivery.queue(channel, note.payload, note)
    return note


# --- The periodic sweep ----------------------------------------------------------------------


def catch_up(now: datetime | None = None) -> int:
    """Evaluate imports whose recent runs ended without an evaluation (its task was lost with
    the broker or a worker). Returns how many notifications that made."""
    now = now or timezone.now()
    lagging = (
        ImportRun.objects.filter(
            created_at__gte=now - CATCH_UP_WINDOW,
            state__in=FINISHED,
            # A minute for the run's own task to arrive first.
            finished_at__lte=now - timedelta(minutes=1),
        )
        # Only runs an evaluation would take (see ImportAlerts.evaluated_since), or the sweep
        # would call on the same imports every minute for nothing.
        .filter(
            Q(import_obj__alerts__isnull=True, finished_at__gte=now - ImportAlerts.GRACE)
            | Q(finished_at__gte=F("import_obj__alerts__evaluated_since"))
        )
        .exclude(Exists(EvaluatedRun.objects.filter(run=OuterRef("pk"))))
        .order_by()
        .values_list("import_obj_id", flat=True)
        .distinct()
    )
    return sum(len(evaluate_import(pk)) for pk in list(lagging))


def schedule_interval(imp: Import, now: datetime) -> timedelta | None:
    """The time between an import's runs: its Repeat Interval, or for a Custom Schedule the
    longest gap among its next eight times (Mondays and Thursdays: three and four days)."""
    if imp.schedule_kind == Import.ScheduleKind.INTERVAL:
        return interval_step(imp)
    if imp.schedule_kind != Import.ScheduleKind.CUSTOM:
        return None
    times = []
    at = now
    for _ in range(9):
        at = next_run_after(imp, at)
        if at is None:
            break
        times.append(at)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return max(gaps) if gaps else None


# What freshness reads of each import and its alert settings: loading whole rows (mapping,
# snapshot-sized JSON) took most of a 10,000-import sweep.
_FRESHNESS_FIELDS = (
    "id",
    "code",
    "nickname",
    "status",
    *SCHEDULE_FIELDS,
    "next_run_at",
)
_ALERTS_FIELDS = ("follows_defaults", *Rules.RULE_FIELDS)


def check_freshness(now: datetime | None = None) -> int:
    """Start or clear "no completed run in time" for every scheduled import. Returns how
    many notifications that made."""
    now = now or timezone.now()
    runs = ImportRun.objects.filter(import_obj=OuterRef("pk"))
    imports = (
        Import.objects.filter(status__in=[Import.Status.SCHEDULED, Import.Status.RUNNING])
        .annotate(
            last_completed=Subquery(
                runs.filter(state=RunState.COMPLETED)
                .order_by("-created_at")
                .values("finished_at")[:1]
            ),
            first_run=Subquery(
                runs.order_by()
                .values("import_obj")
                .annotate(first=Min("created_at"))
                .values("first")
            ),
        )
        .select_related("alerts")
        .only(*_FRESHNESS_FIELDS, *(f"alerts__{name}" for name in _ALERTS_FIELDS))
    )
    default_rules = rules_for(None)
    active = set(
        ConditionState.objects.filter(condition=Condition.STALE, active=True).values_list(
            "import_obj_id", flat=True
        )
    )
    made = 0
    for imp in imports:
        alerts = getattr(imp, "alerts", None)
        rules = default_rules if alerts is None or alerts.follows_defaults else alerts
        window = conditions.freshness_window(rules, schedule_interval(imp, now))
        seen = conditions.observe_freshness(window, imp.last_completed, imp.first_run, now)
        was_active = imp.pk in active
        enabled = rules.enables(Condition.STALE)
        if conditions.transition(was_active, seen.holds, enabled)[0] == was_active:
            continue  # the common case: nothing changes, nothing is locked
        with transaction.atomic():
            locked = _locked(imp)
            note = _apply(imp, locked, rules_for(locked), _states(imp), Condition.STALE, seen, None)
            made += note is not None
    return made


def announce_after_mute(now: datetime | None = None) -> int:
    """Send the starts a mute held back, for conditions that still hold once it has ended:
    a mute must not turn into an alert that never came."""
    now = now or timezone.now()
    held = ConditionState.objects.filter(active=True, announced=False, started__muted=True).filter(
        Q(import_obj__alerts__muted_until__isnull=True)
        | Q(import_obj__alerts__muted_until__lte=now)
    )
    made = 0
    for state in held.select_related("import_obj", "started__run"):
        imp = state.import_obj
        with transaction.atomic():
            alerts = _locked(imp)
            fresh = ConditionState.objects.filter(pk=state.pk, active=True, announced=False).first()
            if fresh is None or alerts.is_muted(now):
                continue
            summary = f"{fresh.summary} (began {conditions.run_time(fresh.since)}, while muted)"
            note = notify(
                imp,
                alerts,
                fresh.condition,
                Change.TRIGGERED,
                summary,
                state.started.run,
                False,
                now,
            )
            # The new start replaces the muted one, so the sweep tries once even when it was
            # held again (no channel set): the next recovery follows whatever it did.
            ConditionState.objects.filter(pk=state.pk, announced=False).update(
                announced=not note.held, started=note
            )
            made += 1
    return made


def sweep(now: datetime | None = None) -> dict[str, int]:
    """The minute's safety net and clock: lost evaluations, freshness, mutes that ended, and
    deliveries whose task was lost."""
    now = now or timezone.now()
    sync_environment_channels()
    return {
        "caught_up": catch_up(now),
        "freshness": check_freshness(now),
        "after_mute": announce_after_mute(now),
        "deliveries": delivery.rescue(now),
    }
