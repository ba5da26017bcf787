"""Run-lifecycle webhooks: real runs (DuckDB warehouse, the engine's own code paths) announce
run.started, run.completed, run.failed, run.stopped and run.skipped to the webhook channels
that subscribe; a loopback HTTP server receives each delivery and verifies its Standard Webhooks
signature. Deliveries are alerts' own (same table, signing, retries, metrics), listed on the
Run events page. The end-to-end test with a real Celery worker is test_run_events_worker.py."""

from __future__ import annotations

import logging
import re

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError
from standardwebhooks import Webhook

from alerts import delivery, runevents
from alerts.channels import sync_environment_channels
from alerts.models import Channel, Delivery, ImportAlerts
from imports import pipeline, runs
from imports.models import ImportRun
from tests import factories
from tests.alerts.conftest import SECRET, make_channel
from tests.engine.conftest import expected_bad_profiles, make_profile_import

State = ImportRun.State
Events = Channel.RunEvents


def no_queue(run_id: int) -> None:
    """Runs are executed here, by `pipeline.execute_run`, not by a worker."""


@pytest.fixture
def no_broker(monkeypatch):
    """Deliveries are attempted here (`delivery.deliver`), not by a worker."""
    monkeypatch.setattr(delivery, "enqueue", lambda *args, **kwargs: None)


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run the block's on-commit callbacks (the run signals) at its end, as a commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def hook(url: str, events: str = Events.ALL, imports=Channel.RunEventImports.ALL, **kwargs):
    return make_channel(
        Channel.Kind.WEBHOOK,
        kwargs.pop("name", "Orchestrator"),
        url=url,
        run_events=events,
        run_event_imports=imports,
        **kwargs,
    )


def deliver_all() -> None:
    for pk in Delivery.objects.filter(state="pending").order_by("pk").values_list("pk", flat=True):
        delivery.deliver(pk)


def verified(receiver) -> list[dict]:
    """Each request's body, once the receiver's Standard Webhooks library accepted it."""
    return [Webhook(SECRET).verify(r.body, r.headers) for r in receiver.requests]


def completed_run(imp, on_commit) -> ImportRun:
    with on_commit():
        run = runs.trigger_run(imp, enqueue=no_queue)
    with on_commit():
        pipeline.execute_run(run.pk)
    run.refresh_from_db()
    return run


def test_every_event_type_arrives_signed_with_the_runs_figures(
    http_receiver, no_broker, on_commit, wh_datasource, warehouse, editor
):
    receiver = http_receiver()
    hook(receiver.url)
    warehouse.add_profiles(40)
    imp = make_profile_import(wh_datasource, nickname="Profiles “100%” \t café")
    done = completed_run(imp, on_commit)
    with on_commit():  # a second run while one is in progress is skipped, then both stop
        running = runs.trigger_run(imp, enqueue=no_queue)
        skipped = runs.trigger_run(imp, now=timezone.now(), enqueue=no_queue)
        runs.claim_run(running.pk)
    with on_commit():
        runs.stop_active_runs(imp, revoke=lambda run: None)
    broken = factories.make_datasource(partner="duckdb", settings={"path": "/nonexistent/x.duckdb"})
    failing = make_profile_import(broken, nickname="Broken source")
    with on_commit():
        failed = runs.trigger_run(failing, enqueue=no_queue)
    with on_commit():
        pipeline.execute_run(failed.pk)
    deliver_all()

    bodies = verified(receiver)
    assert [(b["type"], b["data"]["run"]["code"]) for b in bodies] == [
        ("run.started", str(done.code)),
        ("run.completed", str(done.code)),
        ("run.skipped", str(skipped.code)),
        ("run.started", str(running.code)),
        ("run.stopped", str(running.code)),
        ("run.started", str(failed.code)),
        ("run.failed", str(failed.code)),
    ]
    # The same webhook-id on a delivery's every attempt; one per delivery.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 7
    assert {d.state for d in Delivery.objects.all()} == {"delivered"}

    completed = bodies[1]
    assert completed["timestamp"].endswith("Z")
    data, run = completed["data"], completed["data"]["run"]
    bad = expected_bad_profiles(40)
    assert data["event"] == "completed"
    assert data["title"] == "Run completed — Profiles “100%” \t café"
    assert data["import"] == {
        "code": str(imp.code),
        "nickname": "Profiles “100%” \t café",
        "url": f"http://testserver/settings/partners/import-center/{imp.code}/",
        "api_url": f"http://testserver/api/v1/imports/{imp.code}",
    }
    health = done.health
    assert {k: run[k] for k in ("state", "trigger", "total", "successful", "failed")} == {
        "state": "completed",
        "trigger": "manual",
        "total": 40,
        "successful": 40 - bad,
        "failed": bad,
    }
    assert (run["already_imported"], run["error"], run["error_kind"]) == (0, None, None)
    assert (run["health"], run["health_band"]) == (health.label, "red" if bad > 20 else "yellow")
    assert run["health_percent"] == health.percent
    assert run["duration_seconds"] == (done.finished_at - done.started_at).total_seconds()
    assert run["started_at"] and run["finished_at"]
    assert (
        run["url"]
        == data["url"]
        == (f"http://testserver/settings/partners/import-center/{imp.code}/stats/runs/{done.code}/")
    )
    assert run["api_url"] == f"http://testserver/api/v1/runs/{done.code}"
    assert data["summary"].endswith(
        f": 40 records, {40 - bad} successful, {bad} failed; health {health.label} "
        f"({health.band.capitalize()})"
    )

    started = bodies[0]["data"]["run"]
    assert (started["state"], started["finished_at"], started["health"]) == ("running", None, None)
    skipped_data = bodies[2]["data"]
    assert skipped_data["run"]["error"] == runs.SKIP_REASON
    assert skipped_data["run"]["started_at"] is None
    assert bodies[4]["data"]["run"]["partial"] is True
    assert bodies[4]["data"]["run"]["health"] is None  # a stopped run carries no health
    failure = bodies[6]["data"]
    failed.refresh_from_db()
    assert failure["run"]["error"] == failed.error and failed.error
    assert failure["run"]["error_kind"] == failed.error_kind
    assert failure["summary"] == bodies[6]["data"]["summary"]
    assert failure["summary"].endswith(f"failed: {failed.error}")
    assert failure["title"] == "Run failed — Broken source"


def test_channels_receive_only_the_events_they_chose(
    http_receiver, no_broker, on_commit, wh_datasource, warehouse
):
    warehouse.add_profiles(10)
    every, ended, failures = http_receiver(), http_receiver(), http_receiver()
    hook(every.url, Events.ALL, name="every")
    hook(ended.url, Events.ENDED, name="ended")
    hook(failures.url, Events.FAILED, name="failures")
    # Existing channels and other kinds receive none: off by default, webhooks only.
    make_channel(Channel.Kind.WEBHOOK, "alerts only", url=every.url)
    make_channel(Channel.Kind.SLACK, "slack", url=every.url, run_events=Events.ALL)
    hook(every.url, Events.ALL, name="disabled", enabled=False)
    completed_run(make_profile_import(wh_datasource), on_commit)
    deliver_all()
    assert [b["type"] for b in verified(every)] == ["run.started", "run.completed"]
    assert [b["type"] for b in verified(ended)] == ["run.completed"]
    assert failures.requests == []
    assert Channel.objects.get(name="alerts only").run_events == Events.NONE


def test_by_default_a_channel_hears_the_imports_it_alerts_for(
    http_receiver, no_broker, on_commit, wh_datasource, warehouse
):
    warehouse.add_profiles(10)
    default_hook, chosen_hook = http_receiver(), http_receiver()
    on_defaults = hook(default_hook.url, Events.ENDED, Channel.RunEventImports.ALERTING)
    chosen = hook(
        chosen_hook.url, Events.ENDED, Channel.RunEventImports.ALERTING, use_by_default=False
    )
    follows = make_profile_import(wh_datasource, nickname="follows the defaults")
    own = make_profile_import(wh_datasource, nickname="own channels")
    alerts = ImportAlerts.objects.create(
        import_obj=own, follows_defaults=False, evaluated_since=timezone.now()
    )
    alerts.channels.set([chosen])
    completed_run(follows, on_commit)
    completed_run(own, on_commit)
    deliver_all()
    nicknames = lambda receiver: [b["data"]["import"]["nickname"] for b in verified(receiver)]  # noqa: E731
    assert nicknames(default_hook) == ["follows the defaults"]
    assert nicknames(chosen_hook) == ["own channels"]
    # Every import, when the channel asks for it.
    Channel.objects.filter(pk=on_defaults.pk).update(run_event_imports="all")
    completed_run(own, on_commit)
    deliver_all()
    assert nicknames(default_hook) == ["follows the defaults", "own channels"]


def test_a_run_starts_once_however_often_it_is_claimed_or_announced(
    http_receiver, no_broker, on_commit, wh_datasource
):
    hook(http_receiver().url)
    imp = make_profile_import(wh_datasource)
    with on_commit():
        run = runs.trigger_run(imp, enqueue=no_queue)
    with on_commit():
        assert runs.claim_run(run.pk) is not None
        assert runs.claim_run(run.pk) is None  # a redelivered task finds it running
    run.refresh_from_db()
    runevents.on_run_started(ImportRun, run)  # and a duplicated signal
    assert list(Delivery.objects.values_list("event_type", flat=True)) == ["run.started"]
    with on_commit():
        runs.stop_active_runs(imp, revoke=lambda run: None)
        runs.stop_active_runs(imp, revoke=lambda run: None)
    run.refresh_from_db()
    runevents.on_run_ended(ImportRun, run)
    assert sorted(Delivery.objects.values_list("event_type", flat=True)) == [
        "run.started",
        "run.stopped",
    ]


def test_a_500_is_retried_with_the_same_id_then_delivered_and_counted(
    http_receiver, no_broker, on_commit, wh_datasource, warehouse, settings, client
):
    settings.METRICS_TOKEN = "scrape-me"
    warehouse.add_profiles(10)
    receiver = http_receiver(statuses=[500])
    hook(receiver.url, Events.FAILED)
    imp = make_profile_import(wh_datasource)
    with on_commit():
        run = runs.trigger_run(imp, enqueue=no_queue)
    with on_commit():
        runs.fail_run(run.pk, "The warehouse rejected the credentials.", "auth")
    item = Delivery.objects.get()
    with on_commit():
        assert delivery.deliver(item.pk) is False
    item.refresh_from_db()
    assert (item.state, item.last_error) == ("pending", "HTTP 500: endpoint says no")
    Delivery.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())
    with on_commit():
        assert delivery.deliver(item.pk) is True
    assert [r.headers["webhook-id"] for r in receiver.requests] == [item.message_id] * 2
    for body in verified(receiver):
        assert body["data"]["run"]["error"] == "The warehouse rejected the credentials."
        assert body["data"]["run"]["error_kind"] == "auth"
    # /metrics counts run-event deliveries as it counts alerts' (delivery_attempted).
    text = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).content.decode()
    assert 'importcenter_webhook_deliveries_total{outcome="delivered"} 1.0' in text
    assert 'importcenter_webhook_deliveries_total{outcome="retrying"} 1.0' in text


def test_a_broker_outage_or_a_broken_store_never_touches_the_run(
    http_receiver, on_commit, wh_datasource, warehouse, monkeypatch, caplog
):
    """The broker refuses every task: the run completes, its deliveries wait (pending) for the
    sweep, and the outage is logged. A receiver that raises is logged, the run unaffected."""
    from celery import current_app

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(current_app, "send_task", refuse)
    warehouse.add_profiles(10)
    hook(http_receiver().url)
    with caplog.at_level(logging.WARNING, logger="alerts.delivery"):
        run = completed_run(make_profile_import(wh_datasource), on_commit)
    assert run.state == State.COMPLETED
    assert sorted(Delivery.objects.values_list("event_type", "state")) == [
        ("run.completed", "pending"),
        ("run.started", "pending"),
    ]
    assert sum("could not enqueue delivery" in r.getMessage() for r in caplog.records) == 2

    def broken(*args, **kwargs):
        raise RuntimeError("store went away")

    monkeypatch.setattr(runevents, "subscribers", broken)
    with caplog.at_level(logging.ERROR, logger="alerts.runevents"):
        second = completed_run(make_profile_import(wh_datasource), on_commit)
    assert second.state == State.COMPLETED
    assert any("run.completed webhooks of run" in r.getMessage() for r in caplog.records)


def test_the_environment_webhook_takes_RUN_WEBHOOK_EVENTS(settings, db):
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    settings.ALERT_WEBHOOK_SECRET = SECRET
    sync_environment_channels()
    env = Channel.objects.get(origin="environment")
    assert env.run_events == "none"  # off unless asked for
    settings.RUN_WEBHOOK_EVENTS = "failed"
    sync_environment_channels()
    env.refresh_from_db()
    assert (env.run_events, env.run_event_imports) == ("failed", "all")


# --- Pages -----------------------------------------------------------------------------------


def test_the_run_events_page_lists_each_delivery_with_its_outcome(
    http_receiver, no_broker, on_commit, wh_datasource, warehouse, viewer_client
):
    warehouse.add_profiles(10)
    receiver = http_receiver(statuses=[503])
    hook(receiver.url, Events.ENDED, name="Airflow <hook>")
    imp = make_profile_import(wh_datasource, nickname="<b>Profiles</b> 100%")
    run = completed_run(imp, on_commit)
    deliver_all()
    page = viewer_client.get("/alerts/run-events/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'event-completed">run.completed</span>' in html
    assert "&lt;b&gt;Profiles&lt;/b&gt; 100%" in html and "<b>Profiles</b>" not in html
    assert "Airflow &lt;hook&gt;" in html
    assert f"/stats/runs/{run.code}/" in html
    assert "HTTP 503" in html and "1 attempt" in html
    assert 'class="delivery delivery-pending"' in html
    only_failed = viewer_client.get("/alerts/run-events/?state=failed").content.decode()
    assert "event-completed" not in only_failed and "No run events match" in only_failed
    assert viewer_client.get("/alerts/run-events/?type=run.completed").status_code == 200
    assert viewer_client.get("/alerts/run-events/?type=alert.triggered").status_code == 400
    assert viewer_client.get("/alerts/run-events/?page=0").status_code == 400


def test_an_editor_subscribes_a_webhook_on_its_form(editor_client, viewer):
    form = editor_client.get("/alerts/channels/new/webhook/").content.decode()
    assert 'name="run_events"' in form and 'name="run_event_imports"' in form
    slack_form = editor_client.get("/alerts/channels/new/slack/").content.decode()
    assert 'name="run_events"' not in slack_form
    response = editor_client.post(
        "/alerts/channels/new/webhook/",
        {
            "name": "Dagster",
            "url": "https://hooks.example.com/import-center",
            "enabled": "on",
            "run_events": "failed",
            "run_event_imports": "all",
        },
    )
    assert response.status_code == 302
    channel = Channel.objects.get(name="Dagster")
    assert (channel.run_events, channel.run_event_imports) == ("failed", "all")
    [created] = LogEntry.objects.get_for_object(channel)  # the History records the choice
    assert created.changes_dict["run_events"] == [None, "failed"]
    edit = editor_client.get(f"/alerts/channels/{channel.code}/edit/")
    # The edit page shows what is stored (it showed an empty name and "disabled" before).
    form = edit.context["form"]
    assert (form["name"].value(), form["enabled"].value()) == ("Dagster", True)
    assert form["run_events"].value() == "failed"
    assert re.search(r'value="failed"[^>]*checked', edit.content.decode())
    settings_page = editor_client.get("/alerts/settings/").content.decode()
    assert 'Failed runs only <span class="help">· every import</span>' in settings_page

    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert "Failed runs only" in viewer_client.get("/alerts/settings/").content.decode()
    refused = viewer_client.post(
        f"/alerts/channels/{channel.code}/edit/", {"name": "x", "run_events": "all"}
    )
    assert refused.status_code == 403
    channel.refresh_from_db()
    assert channel.run_events == "failed"


def test_the_run_events_page_costs_the_same_for_3_or_25_deliveries(viewer_client, imp):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    channel = hook("http://127.0.0.1:9/hook")

    def queries_for(n: int) -> int:
        Delivery.objects.all().delete()
        for _ in range(n):
            run = factories.make_run(imp, total=10, failed=1)
            payload = delivery.envelope(
                "run.completed", runevents.run_event_data(run, imp, "completed")
            )
            delivery.queue(channel, payload, run=run)
        with CaptureQueriesContext(connection) as captured:
            assert viewer_client.get("/alerts/run-events/").status_code == 200
        return len(captured)

    assert queries_for(3) == queries_for(25)
