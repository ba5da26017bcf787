"""Cancel this run only, through a real `celery worker`: the run ends stopped (Stop's engine
path), the import keeps its schedule and runs again; Stop still stops both."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from imports import services
from imports.models import Import, ImportRun
from tests.engine.conftest import make_event_import, wait_for
from tests.records import recorded_rows

State = ImportRun.State
pytestmark = pytest.mark.slow


@pytest.fixture
def small_chunks(settings):
    settings.IMPORT_CHUNK_SIZE = 1000
    settings.IMPORT_BATCH_SIZE = 100


def _under_way(run, at_least: int):
    def check():
        run.refresh_from_db()
        assert run.state in (State.QUEUED, State.RUNNING), f"run ended early: {run.state}"
        return run.total >= at_least

    return check


def _settled(run):
    """The run's counters stop moving once the chunks in flight have seen the stopped state:
    two reads a second apart agree and match the records written."""
    seen = []

    def check():
        run.refresh_from_db()
        seen.append(run.total)
        return len(seen) > 5 and seen[-1] == seen[-6] == len(recorded_rows(run))

    return check


def test_cancel_run_stops_the_run_and_the_schedule_goes_on(
    start_worker, wh_datasource, warehouse, small_chunks
):
    warehouse.add_events(20_000)
    next_at = timezone.now() + timedelta(hours=1)  # the schedule's next slot, not due yet
    imp = make_event_import(wh_datasource, next_run_at=next_at)
    start_worker(concurrency=2)
    run = services.run_now(imp)
    wait_for(_under_way(run, 300), 120, interval=0.05, what="run to be under way")

    assert services.cancel_run(imp) is True
    run.refresh_from_db()
    assert (run.state, run.partial) == (State.STOPPED, True)
    imp.refresh_from_db()
    assert (imp.status, imp.current_run, imp.health_band) == (Import.Status.SCHEDULED, None, "none")
    assert imp.next_run_at == next_at

    wait_for(_settled(run), 60, interval=0.2, what="stopped run's counters to settle")
    assert run.state == State.STOPPED and 0 < run.total < 20_000

    # The schedule goes on: the import runs again, to completion.
    again = services.run_now(imp)
    wait_for(lambda: again.refresh_from_db() or again.state in ImportRun.FINISHED_STATES, 180)
    assert (again.state, again.total) == (State.COMPLETED, 20_000)
    imp.refresh_from_db()
    assert imp.status == Import.Status.SCHEDULED and imp.health_band != "none"
    assert imp.next_run_at == next_at  # a manual run does not move the schedule either


def test_stop_still_stops_the_run_and_the_import(
    start_worker, wh_datasource, warehouse, small_chunks
):
    warehouse.add_events(20_000)
    imp = make_event_import(wh_datasource)
    start_worker(concurrency=2)
    run = services.run_now(imp)
    wait_for(_under_way(run, 300), 120, interval=0.05, what="run to be under way")

    assert services.stop_import(imp) is True
    run.refresh_from_db()
    assert run.state == State.STOPPED
    imp.refresh_from_db()
    assert imp.status == Import.Status.STOPPED
    with pytest.raises(services.ActionRefused, match="stopped"):
        services.run_now(imp)
