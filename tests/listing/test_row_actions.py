"""Row actions: pause, resume, stop, run now, delete draft — by role, through the services."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from imports.models import Import, ImportRun
from tests import factories
from tests.listing.conftest import make_running

ACTIONS = ["imports-pause", "imports-resume", "imports-stop", "imports-run-now", "imports-delete"]


@pytest.fixture
def scheduled(datasource):
    return factories.make_import(datasource, "Nightly users")


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.mark.parametrize("name", ACTIONS)
def test_anonymous_post_is_sent_to_sign_in(client, scheduled, name):
    response = client.post(reverse(name, args=[scheduled.code]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("name", ACTIONS)
def test_viewer_gets_403_and_nothing_changes(viewer_client, scheduled, name):
    response = viewer_client.post(reverse(name, args=[scheduled.code]), {"confirmed": "1"})
    assert response.status_code == 403
    scheduled.refresh_from_db()
    assert scheduled.status == Import.Status.SCHEDULED
    assert not ImportRun.objects.exists()


@pytest.mark.parametrize("name", ACTIONS)
def test_outsider_gets_403(outsider_client, scheduled, name):
    assert outsider_client.post(reverse(name, args=[scheduled.code])).status_code == 403


@pytest.mark.parametrize("name", ACTIONS)
def test_unknown_code_is_404(editor_client, db, name):
    assert editor_client.post(reverse(name, args=[uuid.uuid4()])).status_code == 404


@pytest.mark.parametrize("action", ["pause", "resume", "stop", "run-now", "delete"])
def test_malformed_code_is_404(editor_client, db, action):
    url = f"/settings/partners/import-center/not-a-uuid/{action}/"
    assert editor_client.post(url).status_code == 404


@pytest.mark.parametrize(
    "name", ["imports-pause", "imports-resume", "imports-run-now", "imports-delete"]
)
def test_actions_refuse_get(editor_client, scheduled, name):
    assert editor_client.get(reverse(name, args=[scheduled.code])).status_code == 405
    scheduled.refresh_from_db()
    assert scheduled.status == Import.Status.SCHEDULED


def test_editor_pauses_and_resumes(editor_client, editor, scheduled):
    listing = reverse("imports-listing") + "?partner=duckdb"
    response = editor_client.post(
        reverse("imports-pause", args=[scheduled.code]), {"next": listing}, follow=True
    )
    assert response.redirect_chain[-1][0] == listing
    scheduled.refresh_from_db()
    assert scheduled.status == Import.Status.PAUSED and scheduled.updated_by == editor
    assert any("Paused “Nightly users”" in m for m in _messages(response))
    assert ">Resume<" in response.content.decode()

    response = editor_client.post(reverse("imports-resume", args=[scheduled.code]), follow=True)
    scheduled.refresh_from_db()
    assert scheduled.status == Import.Status.SCHEDULED
    assert scheduled.next_run_at is not None
    assert any("Resumed" in m for m in _messages(response))


def test_pausing_twice_changes_once_and_says_so(editor_client, scheduled):
    url = reverse("imports-pause", args=[scheduled.code])
    editor_client.post(url)
    response = editor_client.post(url, follow=True)
    assert any("nothing to pause" in m for m in _messages(response))
    scheduled.refresh_from_db()
    assert scheduled.status == Import.Status.PAUSED


def test_stop_without_confirmation_asks_first(editor_client, scheduled):
    response = editor_client.post(reverse("imports-stop", args=[scheduled.code]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "its stats will not be available" in html
    assert 'name="confirmed" value="1"' in html
    scheduled.refresh_from_db()
    assert scheduled.status == Import.Status.SCHEDULED
    # The same question on GET (a link, or a browser without JavaScript).
    assert editor_client.get(reverse("imports-stop", args=[scheduled.code])).status_code == 200


def test_confirmed_stop_stops_the_import_and_its_run(editor_client, scheduled):
    run = make_running(scheduled)
    response = editor_client.post(
        reverse("imports-stop", args=[scheduled.code]), {"confirmed": "1"}, follow=True
    )
    scheduled.refresh_from_db()
    run.refresh_from_db()
    assert scheduled.status == Import.Status.STOPPED
    assert run.state == ImportRun.State.STOPPED
    assert any("Stopped “Nightly users”" in m for m in _messages(response))


def test_run_now_starts_a_manual_run(editor_client, editor, scheduled):
    response = editor_client.post(reverse("imports-run-now", args=[scheduled.code]), follow=True)
    run = ImportRun.objects.get(import_obj=scheduled)
    assert run.trigger == ImportRun.Trigger.MANUAL and run.triggered_by == editor
    assert any("Started a run" in m for m in _messages(response))


def test_run_now_on_a_draft_is_refused_with_the_reason(editor_client, datasource):
    draft = factories.make_import(datasource, "Half done", status=Import.Status.DRAFT)
    response = editor_client.post(reverse("imports-run-now", args=[draft.code]), follow=True)
    assert response.status_code == 200
    assert not ImportRun.objects.exists()
    assert any("Publish the import before running it." in m for m in _messages(response))


def test_delete_removes_a_draft(editor_client, datasource):
    draft = factories.make_import(datasource, "Half done", status=Import.Status.DRAFT)
    response = editor_client.post(reverse("imports-delete", args=[draft.code]), follow=True)
    assert not Import.objects.filter(pk=draft.pk).exists()
    assert any("Deleted the draft" in m for m in _messages(response))


def test_delete_keeps_a_published_import(editor_client, scheduled):
    response = editor_client.post(reverse("imports-delete", args=[scheduled.code]), follow=True)
    assert Import.objects.filter(pk=scheduled.pk).exists()
    assert any("only drafts can be deleted" in m for m in _messages(response))


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]
)
def test_next_never_leaves_the_site(editor_client, scheduled, target):
    response = editor_client.post(reverse("imports-pause", args=[scheduled.code]), {"next": target})
    assert response.status_code == 302
    assert response.url == reverse("imports-listing")


def test_row_actions_partial_stands_alone(rf, editor, scheduled):
    """The detail page includes the partial with only `imp`: it brings its own forms and CSRF."""
    from django.template.loader import render_to_string

    request = rf.get("/somewhere/")
    request.user = editor
    html = render_to_string("imports/_row_actions.html", {"imp": scheduled}, request=request)
    assert reverse("imports-pause", args=[scheduled.code]) in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="next" value="/somewhere/"' in html
    assert "its stats will not be available" in html


def test_row_actions_partial_is_empty_for_viewers(rf, viewer, scheduled):
    from django.template.loader import render_to_string

    request = rf.get("/somewhere/")
    request.user = viewer
    html = render_to_string("imports/_row_actions.html", {"imp": scheduled}, request=request)
    assert "<form" not in html and "Edit" not in html
