"""Run lifecycle signals: each state change a receiver can act on is sent once, after commit."""

from __future__ import annotations

import pytest
from django.utils import timezone

from imports import pipeline, runs
from imports.models import ImportRun
from imports.signals import run_ended, run_started
from tests import factories
from tests.engine.conftest import make_profile_import

State = ImportRun.State


@pytest.fixture
def heard():
    """(signal name, run state) for every signal sent while the test runs."""
    events: list[tuple[str, str]] = []

    def on_started(run, **kwargs):
        events.append(("started", run.state))

    def on_ended(run, **kwargs):
        events.append(("ended", run.state))

    run_started.connect(on_started, dispatch_uid="test-started")
    run_ended.connect(on_ended, dispatch_uid="test-ended")
    yield events
    run_started.disconnect(dispatch_uid="test-started")
    run_ended.disconnect(dispatch_uid="test-ended")


def no_queue(run_id: int) -> None:
    """Runs are executed here, not by a worker."""


def test_a_completed_run_is_heard_started_then_ended(
    heard, wh_datasource, warehouse, django_capture_on_commit_callbacks
):
    warehouse.add_profiles(20)
    imp = make_profile_import(wh_datasource)
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.trigger_run(imp, enqueue=no_queue)
    assert heard == []  # queued is not a state receivers act on
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.execute_run(run.pk)
    assert heard == [("started", State.RUNNING), ("ended", State.COMPLETED)]


def test_a_failed_run_and_a_skipped_run_are_each_heard_once(
    heard, editor, django_capture_on_commit_callbacks
):
    ds = factories.make_datasource(partner="duckdb", settings={"path": "/nonexistent/x.duckdb"})
    imp = make_profile_import(ds)
    with django_capture_on_commit_callbacks(execute=True):
        first = runs.trigger_run(imp, enqueue=no_queue)
        skipped = runs.trigger_run(imp, now=timezone.now(), enqueue=no_queue)
    assert skipped.state == State.SKIPPED
    assert heard == [("ended", State.SKIPPED)]
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.execute_run(first.pk)
    assert heard[1:] == [("started", State.RUNNING), ("ended", State.FAILED)]


def test_a_receiver_that_raises_does_not_break_the_run(
    wh_datasource, warehouse, django_capture_on_commit_callbacks
):
    def broken(run, **kwargs):
        raise RuntimeError("receiver bug")

    run_ended.connect(broken, dispatch_uid="test-broken")
    try:
        warehouse.add_profiles(5)
        imp = make_profile_import(wh_datasource)
        with django_capture_on_commit_callbacks(execute=True):
            run = runs.trigger_run(imp, enqueue=no_queue)
        with django_capture_on_commit_callbacks(execute=True):
            pipeline.execute_run(run.pk)
    finally:
        run_ended.disconnect(dispatch_uid="test-broken")
    run.refresh_from_db()
    assert run.state == State.COMPLETED
