"""Alerts end to end through a real `celery worker`, real runs on a real PostgreSQL warehouse,
and real servers on loopback: a run that goes Red, a run that fails on bad credentials, and the
recovery after each make exactly one notification apiece on each channel (email over SMTP, a
signed webhook, Slack). A webhook that answers 500 then 200 is retried on the alerts queue."""

from __future__ import annotations

import os
import secrets

import psycopg
import pytest
from standardwebhooks import Webhook

from alerts import evaluate
from alerts.models import Channel, Delivery, EvaluatedRun, Notification
from imports.models import Datasource, ImportRun
from tests import factories
from tests.alerts.conftest import SECRET, make_channel, wait_until
from tests.alerts.conftest import run_and_settle as settle
from tests.engine.conftest import (  # noqa: F401 (fixtures)
    PROFILE_MAPPING,
    isolated_broker,
    pg_datasource,
    start_worker,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TIMEOUT = 120


class Warehouse:
    """A PostgreSQL table of ten profiles whose identities the test breaks and mends."""

    def __init__(self):
        self.table = f"alert_profiles_{secrets.token_hex(4)}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {self.table} (user_id text, email text, age text)")
        self.fill(bad=0)

    def fill(self, bad: int) -> None:
        """Ten rows, the first `bad` of them with the reserved identity "null"."""
        rows = [("null" if i < bad else f"u{i}", f"u{i}@example.com", "30") for i in range(10)]
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"TRUNCATE {self.table}")
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {self.table} VALUES (%s, %s, %s)", rows)

    def drop(self) -> None:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {self.table}")


@pytest.fixture
def pg_warehouse():
    warehouse = Warehouse()
    yield warehouse
    warehouse.drop()


def _worker_env(smtp_port: int) -> dict:
    return {
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "SITE_URL": "http://ic.example",
        "ALERT_RETRY_SECONDS": "1,1",
        "ALERT_EMAIL_TO": "",
        "ALERT_WEBHOOK_URL": "",
        "ALERT_SLACK_WEBHOOK_URL": "",
    }


def run_and_settle(imp, user) -> ImportRun:
    """Trigger a run, wait until it is finished, evaluated and every delivery is over."""
    return settle(
        imp,
        user,
        lambda run: EvaluatedRun.objects.filter(run=run).exists(),
        "to be evaluated and delivered",
        TIMEOUT,
    )


def test_red_failure_and_recoveries_reach_each_channel_exactly_once(
    role_groups_survive_flush,
    start_worker,  # noqa: F811
    smtp_server,
    http_receiver,
    pg_warehouse,
    editor,
):
    mailbox, smtp_port = smtp_server
    hook, slack = http_receiver("/hook"), http_receiver("/services/T1/B1/token")
    make_channel(Channel.Kind.EMAIL, "Ops mail", email_to="ops@example.com")
    make_channel(Channel.Kind.WEBHOOK, "Ops hook", url=hook.url)
    make_channel(Channel.Kind.SLACK, "Ops Slack", url=slack.url)
    ds = pg_datasource()
    imp = factories.make_import(
        ds, "Profiles from PostgreSQL", source=pg_warehouse.table, mapping=PROFILE_MAPPING
    )
    start_worker(extra_env=_worker_env(smtp_port))

    green = run_and_settle(imp, editor)
    assert (green.state, green.health.label) == ("completed", "100%")
    assert Notification.objects.count() == 0

    pg_warehouse.fill(bad=7)
    red = run_and_settle(imp, editor)
    assert red.health.label == "30.00%"
    pg_warehouse.fill(bad=0)
    run_and_settle(imp, editor)

    Datasource.objects.filter(pk=ds.pk).update(
        settings={**ds.settings, "user": f"no_such_role_{secrets.token_hex(3)}"}
    )
    failed = run_and_settle(imp, editor)
    assert (failed.state, failed.error_kind) == ("failed", "auth")
    Datasource.objects.filter(pk=ds.pk).update(settings=ds.settings)
    run_and_settle(imp, editor)

    notes = list(Notification.objects.order_by("created_at", "id"))
    assert [(n.event, n.condition, n.run_id) for n in notes] == [
        ("triggered", "health", red.pk),
        ("recovered", "health", notes[1].run_id),
        ("triggered", "failed", failed.pk),
        ("recovered", "failed", notes[3].run_id),
    ]
    assert notes[0].summary.startswith("health 30.00% (Red) on run ")
    assert notes[0].summary.endswith(", was 100%")
    assert "failed: The warehouse rejected the credentials" in notes[2].summary
    # Each channel: one delivery per notification, each delivered at its first attempt.
    for channel in Channel.objects.all():
        deliveries = Delivery.objects.filter(channel=channel).order_by("created_at")
        assert [d.notification_id for d in deliveries] == [n.pk for n in notes], channel.name
        assert {(d.state, d.attempts) for d in deliveries} == {("delivered", 1)}

    # What the real servers received: four of each, in order.
    assert [m["Subject"].strip() for m in mailbox.messages] == [
        "[Import Center] Alert: Health below threshold — Profiles from PostgreSQL",
        "[Import Center] Recovered: Health below threshold — Profiles from PostgreSQL",
        "[Import Center] Alert: Run failed — Profiles from PostgreSQL",
        "[Import Center] Recovered: Run failed — Profiles from PostgreSQL",
    ]
    verified = [Webhook(SECRET).verify(r.body, r.headers) for r in hook.requests]
    assert [b["type"] for b in verified] == [
        "alert.triggered",
        "alert.recovered",
        "alert.triggered",
        "alert.recovered",
    ]
    assert verified[0]["data"]["run"]["url"] == (
        f"http://ic.example/settings/partners/import-center/{imp.code}/stats/runs/{red.code}/"
    )
    assert len(slack.requests) == 4
    assert (
        f"/stats/runs/{failed.code}/|View the run>"
        in (slack.requests[2].json()["blocks"][1]["elements"][0]["text"])
    )


def test_a_webhook_answering_500_then_200_is_retried_on_the_queue(
    role_groups_survive_flush,
    start_worker,  # noqa: F811
    smtp_server,
    http_receiver,
    editor,
):
    receiver = http_receiver(statuses=[500])
    channel = make_channel(Channel.Kind.WEBHOOK, "Flaky hook", url=receiver.url)
    start_worker(extra_env=_worker_env(smtp_server[1]))
    note = evaluate.send_test(channel, editor)
    item = note.deliveries.get()

    def delivered():
        item.refresh_from_db()
        return item.state == "delivered"

    wait_until(delivered, TIMEOUT, 0.1, what="the retried delivery")
    attempts = list(item.attempts_made.all())
    assert [(a.ok, a.status_code) for a in attempts] == [(False, 500), (True, 200)]
    # The retry waited the backoff (ALERT_RETRY_SECONDS=1 for this worker).
    assert (attempts[1].started_at - attempts[0].started_at).total_seconds() >= 1
    assert [r.headers["webhook-id"] for r in receiver.requests] == [item.message_id] * 2
    for request in receiver.requests:  # each attempt signed afresh, each valid
        Webhook(SECRET).verify(request.body, request.headers)
