"""Trigger a run, pause, resume, stop, cancel the current run; and the trigger rate limit."""

from __future__ import annotations

import pytest

from api import ratelimit
from imports import tasks
from imports.models import Import, ImportRun
from tests import factories
from tests.api.conftest import ApiClient, assert_problem, token_for

State = ImportRun.State
Status = Import.Status


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    """The run is created and claimed as for real; no worker is asked to run it here
    (tests/api/test_worker_api.py runs one)."""
    monkeypatch.setattr(tasks, "enqueue_run", lambda run_id: None)


@pytest.fixture(autouse=True)
def fresh_rate_limit(settings):
    """No count left in Redis by an earlier run of the suite. (With the embedded broker the
    counts live in this process's cache, keyed by token codes no other test has.)"""
    if settings.CELERY_BROKER_URL.startswith("redis"):
        redis = ratelimit._redis(settings.CELERY_BROKER_URL)
        for key in redis.scan_iter(ratelimit.KEY_PREFIX + "*"):
            redis.delete(key)


def test_trigger_answers_202_with_the_runs_url(editor_api, imp, editor):
    response = editor_api.post(f"/api/v1/imports/{imp.code}/runs")
    assert response.status_code == 202, response.content
    body = response.json()
    run = ImportRun.objects.get(import_obj=imp)
    assert body["url"] == f"/api/v1/runs/{run.code}" == response["Location"]
    assert body["run"]["state"] == "queued" and body["run"]["trigger"] == "api"
    assert body["run"]["trigger_label"] == "API by editor"
    assert (run.trigger, run.triggered_by) == (ImportRun.Trigger.API, editor)
    imp.refresh_from_db()
    assert imp.current_run_id == run.pk and imp.status == Status.RUNNING
    assert editor_api.get(body["url"]).json()["state"] == "queued"


@pytest.mark.parametrize(
    "status, words",
    [(Status.DRAFT, "Publish the import"), (Status.STOPPED, "stopped. Resume it")],
)
def test_trigger_is_409_for_a_draft_or_stopped_import(editor_api, datasource, status, words):
    imp = factories.make_import(datasource, status=status)
    body = assert_problem(editor_api.post(f"/api/v1/imports/{imp.code}/runs"), 409, words)
    assert body["import_status"] == status and body["type"].endswith("/run-refused")
    assert not ImportRun.objects.exists()


def test_trigger_is_409_while_a_run_is_in_progress(editor_api, running_import):
    body = assert_problem(
        editor_api.post(f"/api/v1/imports/{running_import.code}/runs"), 409, "already in progress"
    )
    assert body["current_run"] == f"/api/v1/runs/{running_import.current_run.code}"
    assert ImportRun.objects.filter(import_obj=running_import).count() == 1


def test_a_paused_import_can_still_be_triggered(editor_api, datasource):
    imp = factories.make_import(datasource, status=Status.PAUSED)
    assert editor_api.post(f"/api/v1/imports/{imp.code}/runs").status_code == 202


def test_trigger_is_rate_limited_per_token_with_retry_after(settings, editor, imp, datasource):
    settings.API_TRIGGER_RATE_LIMIT = 2
    other = factories.make_import(datasource, nickname="other")
    api = ApiClient(token_for(editor))
    assert api.post(f"/api/v1/imports/{imp.code}/runs").status_code == 202
    assert api.post(f"/api/v1/imports/{imp.code}/runs").status_code == 409  # counts too
    response = api.post(f"/api/v1/imports/{other.code}/runs")
    body = assert_problem(response, 429, "At most 2 trigger requests a minute")
    assert 1 <= int(response["Retry-After"]) <= 60 == ratelimit.WINDOW_SECONDS
    assert body["retry_after"] == int(response["Retry-After"])
    assert not ImportRun.objects.filter(import_obj=other).exists()
    # Another token of the same user has its own budget.
    assert (
        ApiClient(token_for(editor)).post(f"/api/v1/imports/{other.code}/runs").status_code == 202
    )


def test_the_embedded_set_up_limits_through_the_cache(settings, editor, imp, datasource):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.API_TRIGGER_RATE_LIMIT = 1
    api = ApiClient(token_for(editor))
    assert api.post(f"/api/v1/imports/{imp.code}/runs").status_code == 202
    response = api.post(f"/api/v1/imports/{imp.code}/runs")
    assert_problem(response, 429)
    assert int(response["Retry-After"]) >= 1


def test_the_viewer_cannot_trigger_pause_resume_stop_or_cancel(viewer_api, imp, running_import):
    paths = [
        f"/api/v1/imports/{imp.code}/{action}" for action in ("runs", "pause", "resume", "stop")
    ]
    paths.append(f"/api/v1/runs/{running_import.current_run.code}/cancel")
    for path in paths:
        assert_problem(viewer_api.post(path), 403, "Editor role")
    imp.refresh_from_db()
    assert imp.status == Status.SCHEDULED
    assert ImportRun.objects.filter(state=State.RUNNING).count() == 1


# --- Pause, resume, stop ---------------------------------------------------------------------


def test_pause_then_pause_again_is_idempotent(editor_api, imp):
    first = editor_api.post(f"/api/v1/imports/{imp.code}/pause").json()
    assert first["changed"] and first["import"]["status"] == "paused"
    again = editor_api.post(f"/api/v1/imports/{imp.code}/pause").json()
    assert not again["changed"] and again["import"]["status"] == "paused"
    assert "already is paused" in again["detail"]


def test_resume_a_paused_import(editor_api, datasource):
    imp = factories.make_import(datasource, status=Status.PAUSED)
    body = editor_api.post(f"/api/v1/imports/{imp.code}/resume").json()
    assert body["changed"] and body["import"]["status"] == "scheduled"
    assert body["import"]["next_run_at"] is not None


def test_stop_ends_the_run_in_progress(editor_api, running_import):
    run = running_import.current_run
    body = editor_api.post(f"/api/v1/imports/{running_import.code}/stop").json()
    assert body["changed"] and body["import"]["status"] == "stopped"
    run.refresh_from_db()
    assert run.state == State.STOPPED and run.partial


@pytest.mark.parametrize("action", ["pause", "resume", "stop"])
def test_an_action_that_does_not_apply_to_a_draft_is_409(editor_api, datasource, action):
    imp = factories.make_import(datasource, status=Status.DRAFT)
    body = assert_problem(editor_api.post(f"/api/v1/imports/{imp.code}/{action}"), 409, "draft")
    assert body["import_status"] == "draft"


def test_an_action_on_an_unknown_import_is_404(editor_api, db):
    assert_problem(
        editor_api.post("/api/v1/imports/00000000-0000-4000-8000-000000000000/pause"), 404
    )


def test_get_is_not_an_action(editor_api, imp):
    response = editor_api.get(f"/api/v1/imports/{imp.code}/pause")
    assert_problem(response, 405, "GET is not allowed", "POST")
    assert response["Allow"] == "POST"


# --- Cancel the current run ------------------------------------------------------------------


def test_cancel_the_current_run_keeps_the_schedule(editor_api, running_import):
    run = running_import.current_run
    body = editor_api.post(f"/api/v1/runs/{run.code}/cancel").json()
    assert body["changed"] and body["run"]["state"] == "stopped" and body["run"]["partial"]
    running_import.refresh_from_db()
    assert running_import.status == Status.SCHEDULED and running_import.current_run_id is None


def test_cancel_a_finished_run_is_409(editor_api, run_with_records):
    body = assert_problem(
        editor_api.post(f"/api/v1/runs/{run_with_records.code}/cancel"), 409, "already ended"
    )
    assert body["run_state"] == "completed"


def test_cancel_a_stopped_run_again_is_idempotent(editor_api, running_import):
    run = running_import.current_run
    editor_api.post(f"/api/v1/runs/{run.code}/cancel")
    again = editor_api.post(f"/api/v1/runs/{run.code}/cancel")
    assert again.status_code == 200 and not again.json()["changed"]
