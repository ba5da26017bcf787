"""Run-lifecycle webhooks end to end: a real `celery worker` runs the imports and delivers their
events on the alerts queue to a loopback HTTP server, which verifies every signature with the
Standard Webhooks library. A completed run is heard started then completed with its figures
(the started event retried after a 500), and a run of a broken source is heard failing with
its reason."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from alerts.models import Channel, Delivery
from imports.models import ImportRun
from tests import factories
from tests.alerts.conftest import SECRET, make_channel, wait_until
from tests.alerts.conftest import run_and_settle as settle
from tests.engine.conftest import expected_bad_profiles, make_profile_import

pytestmark = [pytest.mark.slow, pytest.mark.redis]

TIMEOUT = 120


def run_and_settle(imp, user) -> ImportRun:
    """Trigger a run and wait until it is finished and every delivery is over."""
    return settle(
        imp,
        user,
        lambda run: Delivery.objects.filter(run=run).exists(),
        "and its webhooks",
        TIMEOUT,
    )


def test_runs_are_heard_started_completed_and_failed_through_the_worker(
    role_groups_survive_flush, start_worker, http_receiver, wh_datasource, warehouse, editor
):
    receiver = http_receiver(statuses=[500])  # the first request fails, its retry succeeds
    make_channel(
        Channel.Kind.WEBHOOK,
        "Orchestrator",
        url=receiver.url,
        run_events=Channel.RunEvents.ALL,
        run_event_imports=Channel.RunEventImports.ALL,
    )
    warehouse.add_profiles(300)
    imp = make_profile_import(wh_datasource, nickname="Profiles")
    start_worker(
        extra_env={
            "SITE_URL": "http://ic.example",
            "ALERT_RETRY_SECONDS": "1,1",
            "ALERT_EMAIL_TO": "",
            "ALERT_WEBHOOK_URL": "",
            "ALERT_SLACK_WEBHOOK_URL": "",
        }
    )

    run = run_and_settle(imp, editor)
    assert run.state == "completed"
    started = Delivery.objects.get(run=run, event_type="run.started")
    attempts = list(started.attempts_made.all())
    assert [(a.ok, a.status_code) for a in attempts] == [(False, 500), (True, 200)]
    assert (attempts[1].started_at - attempts[0].started_at).total_seconds() >= 1
    bodies = [Webhook(SECRET).verify(r.body, r.headers) for r in receiver.requests]
    # The started event twice (its retry, with the same webhook-id), and the completion, which
    # need not wait for the retry: receivers order a run's events by their `timestamp`.
    assert sorted(b["type"] for b in bodies) == ["run.completed", "run.started", "run.started"]
    assert bodies[0]["type"] == "run.started"
    by_type = {b["type"]: b for b in bodies}
    assert by_type["run.started"]["timestamp"] <= by_type["run.completed"]["timestamp"]
    ids = [
        r.headers["webhook-id"]
        for r, b in zip(receiver.requests, bodies, strict=True)
        if b["type"] == "run.started"
    ]
    assert ids == [started.message_id] * 2
    figures = by_type["run.completed"]["data"]["run"]
    bad = expected_bad_profiles(300)
    assert {k: figures[k] for k in ("code", "state", "total", "successful", "failed")} == {
        "code": str(run.code),
        "state": "completed",
        "total": 300,
        "successful": 300 - bad,
        "failed": bad,
    }
    assert (figures["health"], figures["health_band"]) == (run.health.label, run.health.band)
    assert figures["duration_seconds"] == (run.finished_at - run.started_at).total_seconds()
    assert figures["url"] == (
        f"http://ic.example/settings/partners/import-center/{imp.code}/stats/runs/{run.code}/"
    )
    assert figures["api_url"] == f"http://ic.example/api/v1/runs/{run.code}"
    assert bodies[0]["data"]["run"]["state"] == "running"

    broken = factories.make_datasource(partner="duckdb", settings={"path": "/nonexistent/x.duckdb"})
    failing = make_profile_import(broken, nickname="Broken source")
    failed = run_and_settle(failing, editor)
    assert failed.state == "failed" and failed.error
    # The channel also alerts for the import (its default): the failure alert comes too, from
    # the run's evaluation, which may finish after the run's own events are delivered.
    wait_until(lambda: len(receiver.requests) >= 6, TIMEOUT, 0.1, what="the failure alert")
    bodies = [Webhook(SECRET).verify(r.body, r.headers) for r in receiver.requests[3:]]
    assert sorted(b["type"] for b in bodies) == ["alert.triggered", "run.failed", "run.started"]
    bodies = [b for b in bodies if b["type"].startswith("run.")]
    reason = bodies[1]["data"]
    assert (reason["run"]["error"], reason["run"]["error_kind"]) == (
        failed.error,
        failed.error_kind or None,
    )
    assert reason["summary"].endswith(f"failed: {failed.error}")
    assert reason["title"] == "Run failed — Broken source"
