"""The import detail page: Overview and Stats tabs, every run state, live rows, access."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.humanize.templatetags.humanize import intcomma
from django.urls import reverse
from django.utils import timezone

from imports.models import Import, ImportRun
from stats.templatetags.stats_tags import thousands
from tests import factories

pytestmark = pytest.mark.django_db


def stats_url(imp: Import) -> str:
    return reverse("stats-stats", args=[imp.code])


def overview_url(imp: Import) -> str:
    return reverse("stats-overview", args=[imp.code])


def row_url(run: ImportRun) -> str:
    return reverse("stats-run-row", args=[run.import_obj.code, run.code])


def ago(**kw):
    return timezone.now() - timedelta(**kw)


# --- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["stats-overview", "stats-stats", "stats-export"])
def test_anonymous_is_sent_to_login(client, imp, name):
    response = client.get(reverse(name, args=[imp.code]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ["stats-overview", "stats-stats", "stats-export"])
def test_outsider_is_refused(outsider_client, imp, name):
    assert outsider_client.get(reverse(name, args=[imp.code])).status_code == 403


@pytest.mark.parametrize("name", ["stats-overview", "stats-stats", "stats-export"])
def test_unknown_import_code_is_404(viewer_client, imp, name):
    assert viewer_client.get(reverse(name, args=[uuid.uuid4()])).status_code == 404


def test_malformed_code_is_404(viewer_client):
    assert (
        viewer_client.get("/settings/partners/import-center/not-a-uuid/stats/").status_code == 404
    )


@pytest.mark.parametrize("name", ["stats-overview", "stats-stats"])
def test_viewer_sees_the_pages(viewer_client, imp, name):
    response = viewer_client.get(reverse(name, args=[imp.code]))
    assert response.status_code == 200
    assert b"Nightly profiles" in response.content


@pytest.mark.parametrize("name", ["stats-run-detail", "stats-run-row", "stats-run-failed-export"])
def test_run_urls_check_access_and_ownership(
    client, outsider, viewer, imp, yellow_run, datasource, name
):
    url = reverse(name, args=[imp.code, yellow_run.code])
    assert client.get(url).status_code == 302
    client.force_login(outsider)
    assert client.get(url).status_code == 403
    client.force_login(viewer)
    assert client.get(url).status_code in (200, 286)
    other = factories.make_import(datasource, nickname="Someone else's")
    # A run is only reachable under its own import.
    assert client.get(reverse(name, args=[other.code, yellow_run.code])).status_code == 404
    assert client.get(reverse(name, args=[imp.code, uuid.uuid4()])).status_code == 404


# --- Overview ---------------------------------------------------------------------------------


def test_overview_shows_configuration_read_only(viewer_client, datasource):
    imp = factories.make_import(
        datasource,
        nickname="Events hourly",
        sync_type=Import.SyncType.EVENT,
        source_kind=Import.SourceKind.QUERY,
        source="SELECT * FROM app_events",
        event_name_column="event",
        timestamp_column="ts",
        interval_every=15,
        next_run_at=timezone.now() + timedelta(minutes=5),
        mapping={"fields": [{"column": "plan", "target": "Plan", "type": "string"}]},
    )
    body = viewer_client.get(overview_url(imp)).content.decode()
    assert datasource.name in body
    assert "SELECT * FROM app_events" in body
    assert "Every 15 minutes" in body
    assert "Scheduled" in body
    assert "<code>plan</code>" in body and "Plan" in body
    assert 'aria-current="page">Overview' in body
    assert "<form" not in body.split("</header>")[1]  # read-only for a viewer: no forms


def test_overview_of_paused_import_has_no_next_run(viewer_client, datasource):
    imp = factories.make_import(datasource, status=Import.Status.PAUSED)
    body = viewer_client.get(overview_url(imp)).content.decode()
    assert "(paused)" in body


# --- Stats table, one test per state --------------------------------------------------------


def test_no_runs_yet(viewer_client, imp):
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert "No runs in the last 30 days yet." in body
    assert "No run with a health percentage in the last 30 days." in body
    for column in ("Date and Time", "Health", "Total Records", "Successful Syncs", "Failed Syncs"):
        assert f">{column}</th>" in body


@pytest.mark.parametrize(
    ("total", "failed", "badge", "label"),
    [
        (200, 0, "health-green", "100%"),
        (200, 50, "health-yellow", "75.00%"),
        (200, 150, "health-red", "25.00%"),
        (0, 0, "health-blank", "Blank"),
    ],
)
def test_completed_run_shows_health_and_counts(viewer_client, imp, total, failed, badge, label):
    factories.make_run(imp, total=total, failed=failed, created_at=ago(minutes=5))
    body = viewer_client.get(stats_url(imp)).content.decode()
    row = body.split('class="run run-completed"')[1].split("</tbody>")[0]
    assert badge in row and label in row
    assert f'<td class="num">{total}</td>' in row
    assert f'<td class="num">{total - failed}</td>' in row
    assert "mismatch" not in row
    # The date opens the run's records, and says so to a screen reader.
    assert '<span class="visually-hidden">Records of the run of </span><time' in row


def test_count_mismatch_is_flagged(viewer_client, imp):
    factories.make_run(imp, total=900, failed=0, expected_total=1000)
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert '<div class="mismatch"' in body
    assert "Expected 1,000" in body


def test_failed_run_shows_credentials_error_and_what_to_do(viewer_client, imp):
    factories.make_run(
        imp,
        state=ImportRun.State.FAILED,
        total=0,
        error="The warehouse rejected the credentials.",
        error_kind="auth",
    )
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert "Run failed: The warehouse rejected the credentials." in body
    assert "Confirm that your data warehouse credentials are valid" in body
    assert "health-blank" in body


def test_stopped_run_has_no_stats_but_keeps_partial_count(viewer_client, imp):
    factories.make_run(imp, state=ImportRun.State.STOPPED, total=0, failed=0, partial=True)
    ImportRun.objects.update(successful=1200, failed=34)
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert "Stopped — stats not available" in body
    assert "1,234 records ingested before the stop (partial)" in body
    row = body.split('class="run run-stopped"')[1].split("</tbody>")[0]
    assert "badge" not in row


def test_skipped_run_is_a_muted_explained_row(viewer_client, imp):
    factories.make_run(imp, state=ImportRun.State.SKIPPED, total=0, update_import=False)
    body = viewer_client.get(stats_url(imp)).content.decode()
    row = body.split('class="run run-skipped"')[1].split("</tbody>")[0]
    assert '<tr class="muted">' in row
    assert "Skipped — the previous run was still running" in row
    assert "<a " not in row  # nothing to drill into


def test_runs_older_than_the_window_are_not_listed(viewer_client, imp):
    factories.make_run(imp, total=77, created_at=ago(days=31))
    factories.make_run(imp, total=55, created_at=ago(days=29))
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert '<td class="num">55</td>' in body
    assert '<td class="num">77</td>' not in body


def test_runs_are_newest_first(viewer_client, imp):
    older = factories.make_run(imp, total=11, created_at=ago(hours=2))
    newer = factories.make_run(imp, total=22, created_at=ago(hours=1))
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert body.index(str(newer.code)) < body.index(str(older.code))


def test_running_run_polls_and_shows_progress(viewer_client, imp):
    run = factories.make_run(
        imp, state=ImportRun.State.RUNNING, total=0, expected_total=1000, update_import=False
    )
    ImportRun.objects.filter(pk=run.pk).update(successful=240, failed=10)
    body = viewer_client.get(stats_url(imp)).content.decode()
    row = body.split('class="run run-running"')[1].split("</tbody>")[0]
    assert f'hx-get="{row_url(run)}"' in body
    assert 'hx-trigger="every 2s"' in body
    assert 'value="25"' in row
    assert "250 of 1,000 records processed" in row


def test_queued_run_is_waiting(viewer_client, imp):
    factories.make_run(imp, state=ImportRun.State.QUEUED, total=0, update_import=False)
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert "Queued — waiting for a worker" in body


def test_row_poller_keeps_polling_while_running_then_stops(viewer_client, imp):
    run = factories.make_run(imp, state=ImportRun.State.RUNNING, total=0, update_import=False)
    response = viewer_client.get(row_url(run), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith("<tbody")
    assert 'hx-trigger="every 2s"' in response.content.decode()

    ImportRun.objects.filter(pk=run.pk).update(
        state=ImportRun.State.COMPLETED, total=10, successful=10, finished_at=timezone.now()
    )
    response = viewer_client.get(row_url(run), headers={"HX-Request": "true"})
    assert response.status_code == 286  # htmx stops polling
    body = response.content.decode()
    assert "hx-trigger" not in body
    assert "100%" in body
    assert "<html" not in body


def test_htmx_page_request_returns_only_the_table(viewer_client, imp):
    factories.make_run(imp, total=10)
    response = viewer_client.get(
        stats_url(imp), headers={"HX-Request": "true", "HX-Target": "stats-table"}
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="stats-table">')
    assert "<html" not in body and "Health trend" not in body


def test_stats_table_is_paged(viewer_client, imp):
    for i in range(55):
        factories.make_run(imp, total=1000 + i, created_at=ago(minutes=15 * (i + 1)))
    first = viewer_client.get(stats_url(imp)).content.decode()
    assert first.count('class="run run-completed"') == 50
    assert "Older runs →" in first
    second = viewer_client.get(stats_url(imp) + "?page=2").content.decode()
    assert second.count('class="run run-completed"') == 5
    assert "← Newer runs" in second and "Older runs →" not in second
    # The five oldest runs (largest totals) are on page 2.
    assert '<td class="num">1,054</td>' in second
    assert '<td class="num">1,054</td>' not in first


def test_a_later_page_keeps_the_table_order(viewer_client, imp):
    # The page's runs are picked by id, then read: newest first, and the newer id first
    # between runs triggered at the same moment, as on page 1.
    for i in range(52):
        factories.make_run(imp, total=1000 + i, created_at=ago(minutes=15 * (i + 1)))
    same = ago(minutes=15 * 60)
    older, newer = (factories.make_run(imp, total=t, created_at=same) for t in (2001, 2002))
    second = viewer_client.get(stats_url(imp) + "?page=2").content.decode()
    rows = [f"run-{older.code}", f"run-{newer.code}"] + [f">{1050 + i:,}<" for i in range(2)]
    at = [second.index(row) for row in rows]
    assert at[3] > at[2] < at[1] < at[0]  # 1,050 then 1,051, then the newer id, then the older


@pytest.mark.parametrize(
    ("page", "shown"),
    [
        ("0", 1),
        ("-1", 1),
        ("abc", 1),
        ("", 1),
        ("2.5", 1),
        ("3", 2),
        ("9999999", 2),
        ("9" * 100, 2),
    ],
)
def test_a_page_out_of_range_or_not_a_number_shows_the_nearest_page(
    viewer_client, imp, page, shown
):
    # What Django's Paginator.get_page() users expect (not a bare 400): the first page for
    # anything that is not a page number, the last one past the end.
    for i in range(55):
        factories.make_run(imp, total=1000 + i, created_at=ago(minutes=15 * (i + 1)))
    for headers in ({}, {"HX-Request": "true", "HX-Target": "stats-table"}):
        response = viewer_client.get(stats_url(imp), {"page": page}, headers=headers)
        assert response.status_code == 200
        body = response.content.decode()
        assert f"Page {shown} of 2" in body
        assert body.count('class="run run-completed"') == (50 if shown == 1 else 5)


def test_health_trend_marks_a_drop(viewer_client, imp):
    for i in range(6):
        factories.make_run(imp, total=1000, failed=8, created_at=ago(hours=10 - i))
    factories.make_run(imp, total=1000, failed=390, created_at=ago(hours=2))
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert "Health fell by more than 10 points once in the last 30 days: 99.20% on " in body
    assert " to 61.00% on " in body
    assert 'data-drop="1"' in body
    assert 'role="img"' in body


def test_stats_query_count_is_flat(viewer_client, imp, django_assert_max_num_queries):
    def count_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(stats_url(imp)).status_code == 200
        return len(ctx.captured_queries)

    factories.make_run(imp, total=10, failed=2)
    few = count_queries()
    states = [ImportRun.State.COMPLETED, ImportRun.State.FAILED, ImportRun.State.SKIPPED]
    for i in range(60):
        factories.make_run(
            imp, state=states[i % 3], total=10, failed=i % 5, created_at=ago(hours=i)
        )
    assert count_queries() == few


def test_trend_is_recomputed_when_a_run_finishes(viewer_client, imp):
    for i in range(5):
        factories.make_run(imp, total=100, failed=0, created_at=ago(hours=9 - i))
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert "No fall of more than 10 points from one run to the next" in body
    factories.make_run(imp, total=100, failed=60, created_at=ago(hours=1))
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert "Health fell by more than 10 points once" in body and " to 40.00% on " in body


def test_overview_offers_the_listing_actions_to_an_editor(editor_client, imp):
    body = editor_client.get(overview_url(imp)).content.decode()
    assert reverse("imports-pause", args=[imp.code]) in body


def test_trend_cache_holds_only_the_rendered_strings(viewer_client, imp, monkeypatch):
    from django.core.cache import cache

    cache.clear()
    stored = {}
    real_set = cache.set

    def recording_set(key, value, *args, **kwargs):
        stored[key] = value
        return real_set(key, value, *args, **kwargs)

    monkeypatch.setattr(cache, "set", recording_set)
    for i in range(6):
        factories.make_run(imp, total=1000, failed=8, created_at=ago(hours=10 - i))
    factories.make_run(imp, total=1000, failed=390, created_at=ago(hours=2))
    first = viewer_client.get(stats_url(imp)).content.decode()
    trends = [value for key, value in stored.items() if key.startswith("stats-trend:")]
    assert len(trends) == 1
    summary, svg, marker_kinds = trends[0]
    assert type(summary) is str and type(svg) is str and summary.startswith("Health fell")
    assert marker_kinds == []  # plain strings too (no change recorded between these runs)
    # A cache hit (nothing stored again) renders the same trend: the SVG as markup.
    second = viewer_client.get(stats_url(imp)).content.decode()
    assert len([key for key in stored if key.startswith("stats-trend:")]) == 1
    assert 'data-drop="1"' in second and 'role="img"' in second
    assert second.count(" to 61.00% on ") == first.count(" to 61.00% on ") > 0


# --- duration and trigger ----------------------------------------------------------------------


def run_tbody(body: str, run: ImportRun) -> str:
    return body.split(f'id="run-{run.code}"')[1].split("</tbody>")[0]


def test_rows_show_duration_and_who_or_what_triggered_them(viewer_client, imp, editor):
    scheduled = factories.make_run(imp, total=10, created_at=ago(hours=4))
    by_user = factories.make_run(
        imp,
        total=10,
        created_at=ago(hours=3),
        trigger=ImportRun.Trigger.MANUAL,
        triggered_by=editor,
    )
    by_api = factories.make_run(
        imp, total=10, created_at=ago(hours=2), trigger=ImportRun.Trigger.API, triggered_by=editor
    )
    skipped = factories.make_run(
        imp, state=ImportRun.State.SKIPPED, total=0, created_at=ago(hours=1)
    )
    ImportRun.objects.filter(pk=by_user.pk).update(
        finished_at=by_user.started_at + timedelta(seconds=11)
    )
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert '<th scope="col" class="num">Duration</th><th scope="col">Triggered by</th>' in body
    assert '<td class="num duration">30 s</td><td class="trigger">Schedule</td>' in run_tbody(
        body, scheduled
    )
    name = editor.get_username()
    assert f'<td class="num duration">11 s</td><td class="trigger">Run now by {name}</td>' in (
        run_tbody(body, by_user)
    )
    assert f'<td class="trigger">API by {name}</td>' in run_tbody(body, by_api)
    assert '<td class="num duration">—</td><td class="trigger">Schedule</td>' in run_tbody(
        body, skipped
    )


def test_trigger_of_a_deleted_user_and_a_hostile_username(viewer_client, imp, editor):
    from django.contrib.auth import get_user_model

    hostile = get_user_model().objects.create_user('<b>"=HYPERLINK(1)"</b>', password="x")
    ran = factories.make_run(
        imp,
        total=1,
        trigger=ImportRun.Trigger.MANUAL,
        triggered_by=hostile,
        created_at=ago(hours=1),
    )
    gone = factories.make_run(imp, total=1, trigger=ImportRun.Trigger.MANUAL, triggered_by=editor)
    editor.delete()
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert "Run now by &lt;b&gt;&quot;=HYPERLINK(1)&quot;&lt;/b&gt;" in run_tbody(body, ran)
    assert '<td class="trigger">Run now</td>' in run_tbody(body, gone)


def test_hostile_values_in_the_stats_table_are_escaped(viewer_client, datasource):
    from django.contrib.auth import get_user_model

    imp = factories.make_import(datasource, nickname='"><script>alert(1)</script>')
    who = get_user_model().objects.create_user("<img src=x onerror=alert(2)>", password="x")
    factories.make_run(
        imp,
        state=ImportRun.State.FAILED,
        total=0,
        error='<script>alert(3)</script> it\'s "bad"',
        trigger=ImportRun.Trigger.MANUAL,
        triggered_by=who,
    )
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "<h1>&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in body
    assert (
        "Run failed: &lt;script&gt;alert(3)&lt;/script&gt; it&#x27;s &quot;bad&quot;</strong>"
    ) in body
    assert '<td class="trigger">Run now by &lt;img src=x onerror=alert(2)&gt;</td>' in body


def test_running_row_shows_time_so_far(viewer_client, imp):
    run = factories.make_run(imp, state=ImportRun.State.RUNNING, total=0, update_import=False)
    ImportRun.objects.filter(pk=run.pk).update(started_at=ago(minutes=4, seconds=5))
    response = viewer_client.get(row_url(run), headers={"HX-Request": "true"})
    assert response.status_code == 200
    cell = response.content.decode().split('class="num duration">')[1].split("</td>")[0]
    assert cell.startswith("4 min ") and cell.endswith(" s so far")


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (None, "—"),
        (0.4, "under 1 s"),
        (1, "1 s"),
        (59.9, "59 s"),
        (60, "1 min 00 s"),
        (245, "4 min 05 s"),
        (3599, "59 min 59 s"),
        (3600, "1 h 00 min"),
        (7380, "2 h 03 min"),
        (90000, "25 h 00 min"),
    ],
)
def test_duration_label(seconds, label):
    from stats.queries import duration_label

    assert duration_label(None if seconds is None else timedelta(seconds=seconds)) == label


# --- the Overview follows a run -----------------------------------------------------------------

LIVE = {"HX-Request": "true", "HX-Target": "overview-live"}


def start_run(imp: Import, editor, state=ImportRun.State.RUNNING) -> ImportRun:
    run = factories.make_run(
        imp,
        state=state,
        total=0,
        update_import=False,
        trigger=ImportRun.Trigger.MANUAL,
        triggered_by=editor,
    )
    ImportRun.objects.filter(pk=run.pk).update(successful=1200, failed=34)
    Import.objects.filter(pk=imp.pk).update(
        current_run=run, last_run=run, last_run_at=run.created_at, status=Import.Status.RUNNING
    )
    return run


def test_overview_polls_while_a_run_is_in_progress(viewer_client, imp, editor):
    start_run(imp, editor)
    body = viewer_client.get(overview_url(imp)).content.decode()
    assert f'hx-get="{overview_url(imp)}" hx-trigger="every 2s"' in body
    assert (
        "Running · 1,234 records processed"
        f' <span class="help">(Run now by {editor.get_username()})</span>'
    ) in body

    response = viewer_client.get(overview_url(imp), headers=LIVE)
    assert response.status_code == 200
    part = response.content.decode()
    assert part.lstrip().startswith('<div id="overview-live"')
    assert 'hx-trigger="every 2s"' in part and "<html" not in part and "Mapping" not in part


def test_overview_poll_stops_with_the_final_state_when_the_run_ends(viewer_client, imp, editor):
    run = start_run(imp, editor)
    assert viewer_client.get(overview_url(imp), headers=LIVE).status_code == 200
    ImportRun.objects.filter(pk=run.pk).update(
        state=ImportRun.State.COMPLETED, total=1234, successful=1200, finished_at=timezone.now()
    )
    Import.objects.filter(pk=imp.pk).update(
        current_run=None,
        status=Import.Status.SCHEDULED,
        health_run=run,
        health_band="yellow",
        health_hundredths=9724,
    )
    response = viewer_client.get(overview_url(imp), headers=LIVE)
    assert response.status_code == 286  # htmx stops polling
    part = response.content.decode()
    assert "hx-trigger" not in part
    assert "97.24%" in part and "Scheduled" in part
    assert "Running" not in part and "Run in progress" not in part


def test_overview_of_a_queued_run_polls(viewer_client, imp, editor):
    start_run(imp, editor, state=ImportRun.State.QUEUED)
    Import.objects.filter(pk=imp.pk).update(status=Import.Status.SCHEDULED)
    body = viewer_client.get(overview_url(imp)).content.decode()
    assert 'hx-trigger="every 2s"' in body and "Queued — waiting for a worker" in body


def test_overview_without_a_run_does_not_poll(viewer_client, imp):
    factories.make_run(imp, total=10)
    assert "hx-trigger" not in viewer_client.get(overview_url(imp)).content.decode()
    response = viewer_client.get(overview_url(imp), headers=LIVE)
    assert response.status_code == 286


def test_overview_poll_checks_access(client, outsider_client, imp, editor):
    from django.test import Client

    start_run(imp, editor)
    assert Client().get(overview_url(imp), headers=LIVE).status_code == 302
    assert outsider_client.get(overview_url(imp), headers=LIVE).status_code == 403


@pytest.mark.parametrize(
    ("expected_total", "done", "text"),
    [
        (None, 1, "1 record processed"),
        (None, 2, "2 records processed"),
        (1, 0, "0 of 1 record processed"),
        (1000, 1, "1 of 1,000 records processed"),
    ],
)
def test_running_row_counts_agree_in_number(viewer_client, imp, expected_total, done, text):
    run = factories.make_run(
        imp,
        state=ImportRun.State.RUNNING,
        total=0,
        expected_total=expected_total,
        update_import=False,
    )
    ImportRun.objects.filter(pk=run.pk).update(successful=done)
    body = viewer_client.get(row_url(run), headers={"HX-Request": "true"}).content.decode()
    assert f"{text} ({done} successful, 0 failed)" in body


def test_a_run_with_rows_already_imported_shows_them_and_blank_health_with_the_reason(
    viewer_client, imp
):
    factories.make_run(imp, total=1200, already_imported=1200)
    body = viewer_client.get(stats_url(imp)).content.decode()
    assert "Already Imported</th>" in body
    assert '<td class="num already">1,200</td>' in body
    assert "All 1,200 rows were already imported" in body
    assert "health-blank" in body


@pytest.mark.parametrize("value", [0, 7, 999, 1000, -1234567, 10**12, True, None, "12345", 1234.5])
def test_the_rows_thousands_filter_writes_what_intcomma_writes(value):
    assert thousands(value) == intcomma(value)
