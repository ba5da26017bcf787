"""Evaluation of runs into notifications: once per change, on every configured channel, held
while muted, sent after a mute that ended, each run once, freshness over time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import evaluate
from alerts.models import (
    AlertDefaults,
    Channel,
    Condition,
    ConditionState,
    Delivery,
    EvaluatedRun,
    ImportAlerts,
    Notification,
)
from imports.models import Import, ImportRun
from tests import factories
from tests.alerts.conftest import make_channel

State = ImportRun.State


def run(imp, minutes_ago=0, **kwargs):
    return factories.make_run(
        imp, created_at=timezone.now() - timedelta(minutes=minutes_ago), **kwargs
    )


def notes(imp):
    return list(
        Notification.objects.filter(import_obj=imp)
        .order_by("created_at", "id")
        .values_list("event", "condition")
    )


@pytest.fixture
def channels(db):
    return [
        make_channel(Channel.Kind.EMAIL, "Ops mail", email_to="ops@example.com"),
        make_channel(Channel.Kind.WEBHOOK, "Hook", url="http://127.0.0.1:9/hook"),
        make_channel(Channel.Kind.SLACK, "Slack", url="http://127.0.0.1:9/slack"),
    ]


def test_red_then_green_makes_one_alert_and_one_recovery_on_each_channel(imp, channels):
    run(imp, 3)
    evaluate.evaluate_import(imp.pk)
    assert notes(imp) == []  # a healthy first run: nothing starts
    red = run(imp, 2, total=10000, failed=6502)
    evaluate.evaluate_import(imp.pk)
    run(imp, 1, total=10000, failed=7000)  # still Red: persists, no notification
    evaluate.evaluate_import(imp.pk)
    run(imp, 0)
    evaluate.evaluate_import(imp.pk)
    assert notes(imp) == [("triggered", "health"), ("recovered", "health")]
    alert = Notification.objects.get(import_obj=imp, event="triggered")
    assert alert.run == red
    assert alert.summary.startswith("health 34.98% (Red) on run ")
    assert alert.summary.endswith(", was 100%")
    for note in Notification.objects.filter(import_obj=imp):
        assert sorted(note.deliveries.values_list("channel__name", flat=True)) == [
            "Hook",
            "Ops mail",
            "Slack",
        ]
    data = alert.payload["data"]
    assert alert.payload["type"] == "alert.triggered"
    assert data["run"]["health"] == "34.98%" and data["run"]["health_band"] == "red"
    assert data["run"]["url"] == (
        f"http://testserver/settings/partners/import-center/{imp.code}/stats/runs/{red.code}/"
    )


def test_a_failed_run_and_its_recovery(imp, channels):
    failed = run(
        imp, 10, state=State.FAILED, total=0, error="The warehouse rejected the credentials."
    )
    evaluate.evaluate_import(imp.pk)
    run(imp, 0)
    evaluate.evaluate_import(imp.pk)
    assert notes(imp) == [("triggered", "failed"), ("recovered", "failed")]
    first = Notification.objects.get(event="triggered")
    assert first.run == failed
    assert first.summary.endswith("failed: The warehouse rejected the credentials.")
    assert Delivery.objects.count() == 6


def test_each_run_is_evaluated_once(imp, channels):
    run(imp, 5, total=100, failed=90)
    assert len(evaluate.evaluate_import(imp.pk)) == 1
    assert evaluate.evaluate_import(imp.pk) == []
    assert EvaluatedRun.objects.count() == 1


def test_runs_are_evaluated_in_the_order_they_finished(imp, channels):
    """Two runs whose evaluations were both lost: the sweep replays them in order, so the
    Red one still alerts and the Green one after it recovers."""
    run(imp, 10, total=100, failed=90)
    run(imp, 5)
    assert [n.event for n in evaluate.evaluate_import(imp.pk)] == ["triggered", "recovered"]


def test_history_before_the_import_was_first_evaluated_is_not_replayed(imp, channels):
    old = run(imp, 120, total=100, failed=90)
    ImportRun.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(hours=2))
    run(imp, 0)
    assert evaluate.evaluate_import(imp.pk) == []


def test_muted_notifications_are_listed_not_sent_and_sent_when_the_mute_ends(imp, channels):
    alerts = evaluate.import_alerts(imp)
    alerts.muted_until = timezone.now() + timedelta(hours=1)
    alerts.save()
    run(imp, 5, total=100, failed=90)
    [note] = evaluate.evaluate_import(imp.pk)
    assert note.muted and note.held.startswith("Muted until")
    assert Delivery.objects.count() == 0
    assert evaluate.announce_after_mute() == 0  # still muted
    ImportAlerts.objects.filter(pk=alerts.pk).update(muted_until=timezone.now() - timedelta(1))
    assert evaluate.announce_after_mute() == 1
    late = Notification.objects.filter(muted=False).get()
    assert late.event == "triggered" and late.summary.endswith("while muted)")
    assert Delivery.objects.count() == 3
    assert evaluate.announce_after_mute() == 0  # once
    run(imp, 0)
    evaluate.evaluate_import(imp.pk)
    assert Notification.objects.filter(event="recovered").get().deliveries.count() == 3


def test_a_recovery_while_muted_is_held(imp, channels):
    run(imp, 10, total=100, failed=90)
    evaluate.evaluate_import(imp.pk)
    ImportAlerts.objects.filter(import_obj=imp).update(
        muted_until=timezone.now() + timedelta(hours=1)
    )
    run(imp, 0)
    [recovery] = evaluate.evaluate_import(imp.pk)
    assert recovery.muted and recovery.deliveries.count() == 0


def test_without_channels_notifications_are_listed_and_say_so(imp):
    run(imp, 0, total=100, failed=90)
    [note] = evaluate.evaluate_import(imp.pk)
    assert note.held == "No channel is set for this import."


def test_an_import_with_its_own_rules_and_channels(imp, channels):
    email, hook, slack = channels
    alerts = evaluate.import_alerts(imp)
    alerts.follows_defaults = False
    alerts.health_threshold = "yellow"
    alerts.save()
    alerts.channels.set([hook])
    run(imp, 0, total=100, failed=10)  # 90%: Yellow
    [note] = evaluate.evaluate_import(imp.pk)
    assert note.condition == Condition.HEALTH
    assert list(note.deliveries.values_list("channel", flat=True)) == [hook.pk]


def test_default_rules_apply_to_imports_that_follow_them(imp, channels):
    defaults = AlertDefaults.load()
    defaults.health_threshold = "off"
    defaults.save()
    run(imp, 0, total=100, failed=90)
    assert evaluate.evaluate_import(imp.pk) == []


def test_switching_a_condition_off_clears_it_silently(imp, channels):
    run(imp, 10, total=100, failed=90)
    evaluate.evaluate_import(imp.pk)
    defaults = AlertDefaults.load()
    defaults.health_threshold = "off"
    defaults.save()
    run(imp, 5, total=100, failed=90)
    assert evaluate.evaluate_import(imp.pk) == []
    assert not ConditionState.objects.get(condition="health").active
    defaults.health_threshold = "red"
    defaults.save()
    run(imp, 0, total=100, failed=90)
    assert [n.event for n in evaluate.evaluate_import(imp.pk)] == ["triggered"]


def test_environment_channels_reach_every_import_that_follows_the_defaults(imp, settings):
    settings.ALERT_EMAIL_TO = ["oncall@example.com"]
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/env-hook"
    settings.ALERT_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    run(imp, 0, total=100, failed=90)
    [note] = evaluate.evaluate_import(imp.pk)
    env = Channel.objects.filter(origin="environment").order_by("kind")
    assert [(c.kind, c.enabled) for c in env] == [("email", True), ("webhook", True)]
    assert sorted(note.deliveries.values_list("channel_kind", flat=True)) == ["email", "webhook"]
    assert env.get(kind="webhook").secret_encrypted == ""  # read from the environment when sent
    settings.ALERT_WEBHOOK_URL = None
    evaluate.sweep()
    assert not Channel.objects.get(origin="environment", kind="webhook").enabled


def test_catch_up_evaluates_runs_whose_task_was_lost(imp, channels):
    lost = run(imp, 5, total=100, failed=90)
    ImportRun.objects.filter(pk=lost.pk).update(finished_at=timezone.now() - timedelta(minutes=3))
    assert evaluate.catch_up() == 1
    assert EvaluatedRun.objects.filter(run=lost).exists()
    assert evaluate.catch_up() == 0


def test_freshness_starts_when_no_run_completed_in_the_window_and_clears_with_one(imp, channels):
    # Every 15 minutes: the window is 30 minutes.
    last = run(imp, 40)
    ImportRun.objects.filter(pk=last.pk).update(finished_at=timezone.now() - timedelta(minutes=40))
    evaluate.evaluate_import(imp.pk)
    assert evaluate.check_freshness() == 1
    assert evaluate.check_freshness() == 0  # persists: no second notification
    note = Notification.objects.get(condition=Condition.STALE)
    assert note.summary.startswith("no completed run for 40 min (window 30 min: 2× the interval")
    assert note.run is None
    run(imp, 0)
    [recovery] = evaluate.evaluate_import(imp.pk)
    assert (recovery.condition, recovery.event) == (Condition.STALE, "recovered")


def test_freshness_ignores_paused_and_manual_imports(imp, channels):
    factories.make_run(imp, created_at=timezone.now() - timedelta(days=2))
    manual = factories.make_import(
        factories.make_datasource(), schedule_kind=Import.ScheduleKind.MANUAL
    )
    factories.make_run(manual, created_at=timezone.now() - timedelta(days=2))
    Import.objects.filter(pk=imp.pk).update(status=Import.Status.PAUSED)
    assert evaluate.check_freshness() == 0


def test_skipped_runs_in_a_row(imp, channels):
    for minutes in (3, 2, 1):
        run(
            imp,
            minutes,
            state=State.SKIPPED,
            total=0,
            error="Skipped — the previous run was still running.",
        )
    [note] = evaluate.evaluate_import(imp.pk)
    assert note.condition == Condition.SKIPPED
    assert note.summary.startswith("3 skipped runs in a row")


def test_a_channel_test(channels):
    email = channels[0]
    note = evaluate.send_test(email, None)
    assert note.event == "test" and note.payload["type"] == "alert.test"
    assert list(note.deliveries.values_list("channel", flat=True)) == [email.pk]


def test_a_start_held_by_a_mute_is_tried_once_after_it_even_with_no_channel(imp):
    alerts = evaluate.import_alerts(imp)
    alerts.muted_until = timezone.now() + timedelta(hours=1)
    alerts.save()
    run(imp, 1, total=100, failed=90)
    evaluate.evaluate_import(imp.pk)
    ImportAlerts.objects.filter(pk=alerts.pk).update(muted_until=None)
    assert evaluate.announce_after_mute() == 1
    assert evaluate.announce_after_mute() == 0
    assert Notification.objects.filter(held="No channel is set for this import.").count() == 1


def test_catch_up_leaves_runs_no_evaluation_would_take(imp, channels):
    old = run(imp, 30, total=100, failed=90)
    ImportRun.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(minutes=29))
    assert evaluate.catch_up() == 0
    assert not ImportAlerts.objects.exists()  # not even asked: the sweep stays cheap
