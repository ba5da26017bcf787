"""Runs through real `celery worker` subprocesses on the test database: end to end, kill -9
mid-run with recovery, and Stop mid-run."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from imports import pipeline, runs, services
from imports.models import Event, Import, ImportRun, Profile, RecordResult
from tests.engine.conftest import (
    expected_bad_events,
    expected_bad_profiles,
    make_event_import,
    make_profile_import,
    profile_rows,
    wait_for,
)
from tests.records import recorded_rows

State = ImportRun.State
pytestmark = pytest.mark.slow


def _finished(run):
    def check():
        run.refresh_from_db()
        return run.state in ImportRun.FINISHED_STATES

    return check


@pytest.fixture
def small_chunks(settings):
    settings.IMPORT_CHUNK_SIZE = 1000
    settings.IMPORT_BATCH_SIZE = 250


def test_worker_runs_profile_and_event_imports_with_exact_totals(
    start_worker, wh_datasource, warehouse, small_chunks
):
    warehouse.add_profiles(2500)
    warehouse.add_events(3000)
    profiles = make_profile_import(wh_datasource)
    events = make_event_import(wh_datasource)
    start_worker(concurrency=2)
    p_run = services.run_now(profiles)
    e_run = services.run_now(events)
    wait_for(_finished(p_run), 120, what="profile run")
    wait_for(_finished(e_run), 120, what="event run")

    bad_p, bad_e = expected_bad_profiles(2500), expected_bad_events(3000)
    assert (p_run.state, p_run.total, p_run.failed, p_run.chunks_total) == (
        State.COMPLETED,
        2500,
        bad_p,
        pipeline.planned_chunks(2500, 1000, 250),
    )
    assert (e_run.state, e_run.total, e_run.failed) == (State.COMPLETED, 3000, bad_e)
    assert RecordResult.objects.filter(run=p_run).count() == 2500
    assert Profile.objects.count() == len(
        {r[1] for r in profile_rows(2500) if r[0] % 10 not in (3, 7)}
    )
    assert Event.objects.filter(run_code=e_run.code).count() == 3000 - bad_e
    profiles.refresh_from_db()
    events.refresh_from_db()
    assert (profiles.health_band, profiles.health_hundredths) == ("yellow", 8000)
    assert (events.health_band, events.health_hundredths) == ("yellow", 9500)
    assert profiles.status == events.status == Import.Status.SCHEDULED


def _wait_mid_run(run, at_least: int):
    def check():
        run.refresh_from_db()
        assert run.state in (State.QUEUED, State.RUNNING), f"run ended early: {run.state}"
        return run.total >= at_least

    wait_for(check, 120, interval=0.05, what="run to be under way")


def test_kill_9_mid_run_is_reaped_and_a_rerun_writes_no_duplicates(
    start_worker, wh_datasource, warehouse, small_chunks, settings
):
    settings.IMPORT_BATCH_SIZE = 100
    warehouse.add_events(20_000)
    imp = make_event_import(wh_datasource)
    worker = start_worker(concurrency=1)
    lost = services.run_now(imp)
    _wait_mid_run(lost, 300)
    worker.kill_hard()

    later = timezone.now() + timedelta(seconds=settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS + 1)
    assert runs.reap_lost_runs(now=later) == 1
    lost.refresh_from_db()
    assert lost.state == State.FAILED and lost.error.startswith(runs.WORKER_LOST)
    assert (lost.total, lost.health.label) == (0, "Blank")  # its events were withdrawn
    imp.refresh_from_db()
    assert imp.status == Import.Status.SCHEDULED and imp.current_run is None

    worker = start_worker(concurrency=2)
    rerun = services.run_now(imp)
    finished = _finished(rerun)

    def rerun_finished():
        worker.assert_alive()  # a worker that died makes the re-run wait forever: say so now
        return finished()

    wait_for(rerun_finished, 180, what="re-run")
    assert (rerun.state, rerun.total) == (State.COMPLETED, 20_000)
    good = 20_000 - expected_bad_events(20_000)
    assert Event.objects.count() == good  # the lost run's partial events were withdrawn
    assert recorded_rows(rerun) == list(range(1, 20_001))
    lost.refresh_from_db()
    assert lost.state == State.FAILED  # late chunks of the lost run changed nothing


def test_stop_mid_run_ends_stopped_without_health(
    start_worker, wh_datasource, warehouse, small_chunks, settings
):
    settings.IMPORT_BATCH_SIZE = 100
    warehouse.add_events(20_000)
    imp = make_event_import(wh_datasource)
    start_worker(concurrency=2)
    run = services.run_now(imp)
    _wait_mid_run(run, 300)
    assert services.stop_import(imp) is True
    run.refresh_from_db()
    assert run.state == State.STOPPED and run.partial
    time.sleep(2)  # let chunks in flight see the state
    run.refresh_from_db()
    total = run.total
    assert 0 < total < 20_000
    assert len(recorded_rows(run)) == total
    imp.refresh_from_db()
    assert (imp.status, imp.health_band, imp.current_run) == (Import.Status.STOPPED, "none", None)
