"""/metrics: the token gate, and the figures read from the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from api.models import MetricCounter
from imports import runs, tasks
from imports.models import ImportRun
from imports.signals import run_ended
from tests import factories

State = ImportRun.State
TOKEN = "s3cret-metrics-token"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_without_a_token_configured_metrics_is_404(client, settings, db):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_a_missing_or_wrong_token_is_401(client, metrics_on, db, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def _end(run):
    """What the engine does when a run ends: send `run_ended` (here, at once)."""
    run_ended.send(sender=ImportRun, run=run)


def test_ended_runs_count_by_import_state_result_and_code(client, metrics_on, imp, datasource):
    from tests.stats.conftest import error, make_records

    done = factories.make_run(imp, total=5, failed=2)
    make_records(
        done,
        [
            ("a", []),
            ("null", [error("user_id", "invalid_identity")]),
            ("b", [error("mail", "invalid_email"), error("age", "not_numeric")]),
            ("c", []),
            ("d", []),
        ],
    )
    failed = factories.make_run(imp, state=State.FAILED, total=0, error_kind="auth")
    other = factories.make_import(datasource, nickname="other")
    skipped = factories.make_run(other, state=State.SKIPPED, total=0)
    for run in (done, failed, skipped):
        _end(run)
    got = scrape(client)
    code, other_code = str(imp.code), str(other.code)
    assert got[("importcenter_runs_total", (("import_code", code), ("state", "completed")))] == 1
    assert got[("importcenter_runs_total", (("import_code", code), ("state", "failed")))] == 1
    assert (
        got[("importcenter_runs_total", (("import_code", other_code), ("state", "skipped")))] == 1
    )
    assert got[("importcenter_records_total", (("result", "success"),))] == 3
    assert got[("importcenter_records_total", (("result", "failed"),))] == 2
    assert got[("importcenter_record_errors_total", (("code", "invalid_email"),))] == 1
    assert got[("importcenter_record_errors_total", (("code", "invalid_identity"),))] == 1
    assert got[("importcenter_runs_reaped_total", ())] == 0
    # make_run: 30 s from start to end, for the completed and the failed run (skipped: no start)
    assert got[("importcenter_run_duration_seconds_count", ())] == 2
    assert got[("importcenter_run_duration_seconds_sum", ())] == 60
    assert got[("importcenter_run_duration_seconds_bucket", (("le", "15.0"),))] == 0
    assert got[("importcenter_run_duration_seconds_bucket", (("le", "30.0"),))] == 2
    assert got[("importcenter_run_duration_seconds_bucket", (("le", "+Inf"),))] == 2
    info = ("import_code", code), ("nickname", "Nightly profiles"), ("partner", "duckdb")
    assert got[("importcenter_import_info", (*info, ("sync_type", "profile")))] == 1


def test_counters_do_not_go_down_when_old_runs_are_purged(client, metrics_on, imp):
    old = factories.make_run(imp, created_at=timezone.now() - timedelta(days=40))
    _end(old)
    key = ("importcenter_runs_total", (("import_code", str(imp.code)), ("state", "completed")))
    assert scrape(client)[key] == 1
    assert runs.purge_old_runs()[1] == 1
    assert scrape(client)[key] == 1


def test_a_deleted_imports_series_end(client, metrics_on, imp):
    _end(factories.make_run(imp))
    assert MetricCounter.objects.filter(import_code=imp.code).exists()
    imp.delete()
    assert not MetricCounter.objects.filter(import_code=imp.code).exists()
    assert not any(dict(labels).get("import_code") == str(imp.code) for _, labels in scrape(client))


def test_a_reaped_run_counts_as_reaped(
    client, metrics_on, imp, settings, django_capture_on_commit_callbacks
):
    run = factories.make_run(imp, state=State.RUNNING, total=0, update_import=False)
    stale = timezone.now() - timedelta(seconds=settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS + 60)
    ImportRun.objects.filter(pk=run.pk).update(heartbeat_at=stale)
    with django_capture_on_commit_callbacks(execute=True):
        assert runs.reap_lost_runs() == 1
    got = scrape(client)
    assert got[("importcenter_runs_reaped_total", ())] == 1
    assert (
        got[("importcenter_runs_total", (("import_code", str(imp.code)), ("state", "failed")))] == 1
    )


def test_gauges_count_runs_in_progress_queued_and_imports_by_status(
    client, metrics_on, imp, running_import, datasource
):
    queued_import = factories.make_import(datasource, nickname="queued")
    factories.make_run(queued_import, state=State.QUEUED, total=0, update_import=False)
    got = scrape(client)
    assert got[("importcenter_runs_in_progress", ())] == 1
    assert got[("importcenter_queue_depth", ())] == 1
    assert got[("importcenter_imports", (("status", "running"),))] == 1
    assert got[("importcenter_imports", (("status", "scheduled"),))] == 2
    assert got[("importcenter_imports", (("status", "draft"),))] == 0


def test_rows_per_second_of_the_last_run(client, metrics_on, imp):
    factories.make_run(imp, total=600, failed=0)  # 30 s from start to end
    got = scrape(client)
    speed = got[("importcenter_last_run_rows_per_second", (("import_code", str(imp.code)),))]
    assert speed == pytest.approx(20, rel=1e-4)  # SQLite's julianday() keeps milliseconds


def test_webhook_deliveries_count_by_outcome(client, metrics_on, db):
    """What alerts.delivery announces after each attempt; email attempts are not webhooks."""
    from alerts.delivery import delivery_attempted
    from alerts.models import Delivery

    for kind, outcome in [
        ("webhook", "delivered"),
        ("slack", "delivered"),
        ("webhook", "failed"),
        ("email", "delivered"),
    ]:
        delivery_attempted.send(
            sender=Delivery, delivery=Delivery(channel_kind=kind), outcome=outcome
        )
    got = scrape(client)
    assert got[("importcenter_webhook_deliveries_total", (("outcome", "delivered"),))] == 2
    assert got[("importcenter_webhook_deliveries_total", (("outcome", "failed"),))] == 1


def test_the_engine_sends_what_the_counters_count(imp, django_capture_on_commit_callbacks):
    """The receiver is connected: a run stopped through the engine is counted once."""
    run = factories.make_run(imp, state=State.RUNNING, total=0, update_import=False)
    with django_capture_on_commit_callbacks(execute=True):
        runs.stop_active_runs(imp, revoke=tasks.revoke_chunks)
    counter = MetricCounter.objects.get(name="runs", import_code=imp.code)
    assert (counter.labels, counter.value) == (f"import_code={imp.code},state=stopped", 1)
    assert run.code


def test_metrics_is_not_redirected_to_https(client, metrics_on, settings, db):
    # A scraper inside the cluster speaks plain HTTP to the container, with the SSL redirect on.
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert client.get("/api/v1/imports").status_code == 301
