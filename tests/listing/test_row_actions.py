"""Row actions: pause, resume, stop, cancel run, run now, delete — by role, through the
services."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from imports.models import Import, ImportRun
from tests import factories
from tests.listing.conftest import make_running

ACTIONS = [
    "imports-pause",
    "imports-resume",
    "imports-stop",
    "imports-cancel-run",
    "imports-run-now",
    "imports-delete",
]


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


@pytest.mark.parametrize("action", ["pause", "resume", "stop", "cancel-run", "run-now", "delete"])
def test_malformed_code_is_404(editor_client, db, action):
    url = f"/settings/partners/import-center/not-a-uuid/{action}/"
    assert editor_client.post(url).status_code == 404


@pytest.mark.parametrize("name", ["imports-pause", "imports-resume", "imports-run-now"])
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


def test_delete_of_a_published_import_asks_first_naming_what_goes(editor_client, scheduled):
    factories.make_run(scheduled, total=1200, failed=3)
    factories.make_run(scheduled, total=800, failed=0)
    url = reverse("imports-delete", args=[scheduled.code])
    for response in (editor_client.get(url), editor_client.post(url)):  # no `confirmed`
        assert response.status_code == 200
        html = response.content.decode()
        assert "Delete “Nightly users”?" in html
        assert "Its 2 runs, with their stats and the details of their 2,000 records." in html
        assert "The events and user profiles it already imported." in html
        assert 'name="confirmed" value="1"' in html and 'name="csrfmiddlewaretoken"' in html
        assert '<nav class="mainnav"' in html
    assert Import.objects.filter(pk=scheduled.pk).exists()


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


@pytest.mark.parametrize(
    ("name", "path"),
    [
        *((name, name.removeprefix("imports-") + "/") for name in ACTIONS),
        ("imports-edit", "edit/"),
        ("imports-duplicate", "duplicate/"),
    ],
)
def test_row_action_urls_are_paths_under_the_imports_own_url(scheduled, name, path):
    """The listing's row builds its actions' URLs on the import's URL, one reverse() a row
    (templates/imports/listing.html#row-actions): moving an action's URL must break here."""
    assert reverse(name, args=[scheduled.code]) == (
        reverse("stats-overview", args=[scheduled.code]) + path
    )


def test_row_actions_partial_is_empty_for_viewers(rf, viewer, scheduled):
    from django.template.loader import render_to_string

    request = rf.get("/somewhere/")
    request.user = viewer
    html = render_to_string("imports/_row_actions.html", {"imp": scheduled}, request=request)
    assert "<form" not in html and "Edit" not in html


# --- delete a published import ----------------------------------------------------------------


def test_confirmed_delete_removes_the_import_runs_and_records_and_keeps_imported_data(
    editor_client, editor, scheduled, caplog
):
    from django.contrib.admin.models import DELETION, LogEntry

    from imports.models import Event, Profile, RecordResult

    run = factories.make_run(scheduled, total=2, failed=1)
    RecordResult.objects.create(run=run, row_number=1, success=True, identity="u1")
    RecordResult.objects.create(run=run, row_number=2, success=False, identity="null")
    Profile.objects.create(identity_kind="identity", identity="u1", properties={"a": 1})
    Event.objects.create(
        identity_kind="identity",
        identity="u1",
        event_name="Charged",
        occurred_at=run.created_at,
        run_code=run.code,
        row_number=1,
    )
    caplog.set_level("INFO", logger="imports.services")
    response = editor_client.post(
        reverse("imports-delete", args=[scheduled.code]),
        {"confirmed": "1", "next": reverse("stats-overview", args=[scheduled.code])},
    )
    # Back to the listing: the page it came from was the deleted import's own.
    assert response.status_code == 302 and response.url == reverse("imports-listing")
    assert not Import.objects.filter(pk=scheduled.pk).exists()
    assert not ImportRun.objects.filter(pk=run.pk).exists()
    assert not RecordResult.objects.filter(run_id=run.pk).exists()
    assert Profile.objects.count() == 1 and Event.objects.count() == 1
    entry = LogEntry.objects.get()
    assert (entry.user, entry.action_flag, entry.object_repr, entry.object_id) == (
        editor,
        DELETION,
        "Nightly users",
        str(scheduled.pk),
    )
    assert "1 run(s)" in entry.change_message
    assert any(
        r.levelname == "INFO" and "deleted by editor" in r.getMessage() for r in caplog.records
    )
    listing = editor_client.get(reverse("imports-listing"))
    assert any("Deleted “Nightly users” with its 1 run" in m for m in _messages(listing))


def test_delete_is_refused_while_a_run_is_in_progress(editor_client, scheduled):
    from django.contrib.admin.models import LogEntry

    make_running(scheduled)
    url = reverse("imports-delete", args=[scheduled.code])
    page = editor_client.get(url).content.decode()
    assert "A run of this import is in progress" in page and 'value="1"' not in page
    response = editor_client.post(url, {"confirmed": "1"}, follow=True)
    assert Import.objects.filter(pk=scheduled.pk).exists()
    assert any("is in progress. Stop it or cancel the run" in m for m in _messages(response))
    assert not LogEntry.objects.exists()


def test_delete_needs_csrf(client, editor, scheduled):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(editor)
    url = reverse("imports-delete", args=[scheduled.code])
    assert csrf_client.post(url, {"confirmed": "1"}).status_code == 403
    assert Import.objects.filter(pk=scheduled.pk).exists()


def test_datasource_refuses_deletion_until_its_last_import_is_deleted(editor_client, scheduled):
    from imports.models import Datasource

    ds = scheduled.datasource
    other = factories.make_import(ds, "Second one")
    editor_client.post(reverse("imports-delete", args=[other.code]), {"confirmed": "1"})
    response = editor_client.post(reverse("datasources-delete", args=[ds.code]))
    assert response.status_code == 409
    assert response.context["imports"] == ["Nightly users"]
    assert Datasource.objects.filter(pk=ds.pk).exists()

    editor_client.post(reverse("imports-delete", args=[scheduled.code]), {"confirmed": "1"})
    editor_client.post(reverse("datasources-delete", args=[ds.code]))
    assert not Datasource.objects.filter(pk=ds.pk).exists()


# --- cancel this run only -------------------------------------------------------------------


def test_cancel_run_asks_first(editor_client, scheduled):
    make_running(scheduled)
    url = reverse("imports-cancel-run", args=[scheduled.code])
    for response in (editor_client.get(url), editor_client.post(url)):
        assert response.status_code == 200
        html = response.content.decode()
        assert "The schedule goes on" in html and 'name="confirmed" value="1"' in html
    scheduled.refresh_from_db()
    assert scheduled.status == Import.Status.RUNNING


def test_confirmed_cancel_stops_the_run_and_keeps_the_schedule(editor_client, scheduled):
    run = make_running(scheduled)
    next_at = scheduled.next_run_at
    response = editor_client.post(
        reverse("imports-cancel-run", args=[scheduled.code]), {"confirmed": "1"}, follow=True
    )
    run.refresh_from_db()
    scheduled.refresh_from_db()
    assert (run.state, run.partial) == (ImportRun.State.STOPPED, True)
    assert scheduled.status == Import.Status.SCHEDULED and scheduled.current_run is None
    assert scheduled.next_run_at == next_at
    assert scheduled.health_band == "none"  # a stopped run carries no health
    assert any("Cancelled the run of “Nightly users”" in m for m in _messages(response))


def test_cancel_without_a_run_changes_nothing_and_says_so(editor_client, scheduled):
    response = editor_client.post(
        reverse("imports-cancel-run", args=[scheduled.code]), {"confirmed": "1"}, follow=True
    )
    scheduled.refresh_from_db()
    assert scheduled.status == Import.Status.SCHEDULED
    assert any("nothing to cancel" in m for m in _messages(response))


def test_cancel_keeps_a_paused_import_paused(editor_client, scheduled):
    run = make_running(scheduled)
    Import.objects.filter(pk=scheduled.pk).update(status=Import.Status.PAUSED)
    editor_client.post(reverse("imports-cancel-run", args=[scheduled.code]), {"confirmed": "1"})
    run.refresh_from_db()
    scheduled.refresh_from_db()
    assert run.state == ImportRun.State.STOPPED
    assert scheduled.status == Import.Status.PAUSED


def test_cancel_needs_csrf(editor, scheduled):
    from django.test import Client

    run = make_running(scheduled)
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(editor)
    url = reverse("imports-cancel-run", args=[scheduled.code])
    assert csrf_client.post(url, {"confirmed": "1"}).status_code == 403
    run.refresh_from_db()
    assert run.state == ImportRun.State.RUNNING
