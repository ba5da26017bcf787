"""The "Retry failed records" action of the run detail pane: who may, how, and what it says."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from imports.models import Import, ImportRun, RecordResult
from tests import factories
from tests.stats.conftest import error, make_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_run(imp):
    """A completed run with 3 failed records: 2 kept their source row, 1 was too large."""
    Import.objects.filter(pk=imp.pk).update(status=Import.Status.SCHEDULED)
    run = factories.make_run(imp, total=5, failed=3)
    make_records(run, [(f"u{i}", [error("email", "invalid_email")]) for i in range(3)])
    rows = ['{"email":"a@"}', '{"email":"b@"}', "20000"]
    for n, row in enumerate(rows, start=1):
        RecordResult.objects.filter(run=run, row_number=n).update(source_row=row)
    return run


def urls(run):
    args = [run.import_obj.code, run.code]
    return reverse("stats-run-detail", args=args), reverse("stats-run-retry", args=args)


def test_an_editor_sees_the_button_with_what_a_retry_would_do(editor_client, failed_run):
    body = editor_client.get(urls(failed_run)[0]).content.decode()
    assert "3 failed records kept their source row" not in body
    assert "2 failed records kept their source row; 1 did not and cannot be retried." in body
    assert ">Retry failed records</button>" in body and "csrfmiddlewaretoken" in body


def test_a_viewer_sees_no_button_and_may_not_post(viewer_client, failed_run):
    detail, retry_url = urls(failed_run)
    assert "Retry failed records</button>" not in viewer_client.get(detail).content.decode()
    assert viewer_client.post(retry_url).status_code == 403
    assert Client().post(retry_url).status_code == 302  # to sign in
    assert ImportRun.objects.count() == 1


def test_the_retry_is_a_post_with_csrf_that_starts_a_retry_run(editor, failed_run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    detail, retry_url = urls(failed_run)
    assert client.get(retry_url).status_code == 405
    assert client.post(retry_url).status_code == 403  # no CSRF token
    token = client.get(detail).cookies["csrftoken"].value
    response = client.post(retry_url, {"csrfmiddlewaretoken": token}, follow=True)
    new = ImportRun.objects.get(trigger="retry")
    assert (new.retry_of, new.triggered_by, new.state) == (failed_run, editor, "queued")
    body = response.content.decode()
    assert "Retrying 2 failed records of the run of" in body
    assert "Retry of failed records by editor" in body  # its row in the Stats table


def test_a_retry_while_a_run_is_in_progress_is_refused_with_the_reason(editor_client, failed_run):
    busy = factories.make_run(failed_run.import_obj, state="running")
    Import.objects.filter(pk=busy.import_obj_id).update(current_run=busy)
    response = editor_client.post(urls(failed_run)[1], follow=True)
    assert "A run of this import is already in progress." in response.content.decode()
    assert not ImportRun.objects.filter(trigger="retry").exists()


def test_a_retry_run_is_named_in_the_stats_table_and_marked_on_the_trend(viewer_client, failed_run):
    imp = failed_run.import_obj
    retried = factories.make_run(imp, total=2, trigger="retry", retry_of=failed_run)
    body = viewer_client.get(reverse("stats-stats", args=[imp.code])).content.decode()
    assert "Retry of failed records" in body
    assert 'data-marker="retry"' in body and "a retry of failed records (health over" in body
    assert "◆</span> retry of failed records</span>" in body  # the legend
    pane = viewer_client.get(urls(retried)[0]).content.decode()
    assert "Retry of the failed records of the" in pane
